// Package syscalltrace tells, for tests, which system calls a piece of
// code makes through the runtime's path for calls that may block (the
// syscall package's Syscall, net's reads and writes), read from an
// execution trace: each such call is a goroutine entering the syscall
// state. Raw calls (RawSyscall) leave no such event.
package syscalltrace

import (
	"bytes"
	"errors"
	"io"
	"runtime/trace"
	"strings"
	"sync"
	"testing"

	xtrace "golang.org/x/exp/trace"
)

// traceMu keeps one trace at a time: the runtime allows no more.
var traceMu sync.Mutex

// Stack is the functions of one call's stack, innermost first.
type Stack []string

// Has reports whether a function whose name contains part is on the
// stack.
func (s Stack) Has(part string) bool {
	for _, f := range s {
		if strings.Contains(f, part) {
			return true
		}
	}
	return false
}

// String lists the functions, innermost first.
func (s Stack) String() string { return strings.Join(s, " < ") }

// Blocking runs fn while the program is traced and returns the stack of
// every system call made through the blocking path while it ran, by any
// goroutine. Keep to the stacks with a frame of the code under test.
func Blocking(t testing.TB, fn func()) []Stack {
	t.Helper()
	traceMu.Lock()
	defer traceMu.Unlock()
	var buf bytes.Buffer
	if err := trace.Start(&buf); err != nil {
		t.Skipf("no execution trace: %v", err)
	}
	fn()
	trace.Stop()
	r, err := xtrace.NewReader(&buf)
	if err != nil {
		t.Fatalf("reading the trace: %v", err)
	}
	var calls []Stack
	for {
		ev, err := r.ReadEvent()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("reading the trace: %v", err)
		}
		if ev.Kind() != xtrace.EventStateTransition {
			continue
		}
		st := ev.StateTransition()
		if st.Resource.Kind != xtrace.ResourceGoroutine {
			continue
		}
		if _, to := st.Goroutine(); to != xtrace.GoSyscall {
			continue
		}
		var s Stack
		for f := range ev.Stack().Frames() {
			s = append(s, f.Func)
		}
		calls = append(calls, s)
	}
	return calls
}

// With returns the stacks that have a frame whose function name contains
// part.
func With(calls []Stack, part string) []Stack {
	var out []Stack
	for _, s := range calls {
		if s.Has(part) {
			out = append(out, s)
		}
	}
	return out
}

// Caller returns the innermost function of the stack outside the
// runtime, the syscall packages and the standard library's internal
// ones: the code that made the call.
func Caller(s Stack) string {
	for _, f := range s {
		switch {
		case strings.HasPrefix(f, "runtime."), strings.HasPrefix(f, "syscall."),
			strings.HasPrefix(f, "internal/"), strings.HasPrefix(f, "golang.org/x/sys/"):
			continue
		}
		return f
	}
	return ""
}
