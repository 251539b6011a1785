package syscalltrace

import (
	"syscall"
	"testing"
)

func blockingPath() { syscall.Close(-1) }

func rawPath() { syscall.RawSyscall(syscall.SYS_CLOSE, ^uintptr(0), 0, 0) }

// The trace sees a call made through the syscall package's Syscall and
// none made raw, and says who made it.
func TestBlockingSeesOnlyTheBlockingPath(t *testing.T) {
	calls := Blocking(t, func() {
		for range 3 {
			blockingPath()
			rawPath()
		}
	})
	if got := len(With(calls, "blockingPath")); got != 3 {
		t.Errorf("%d calls seen from blockingPath, want 3", got)
	}
	if got := With(calls, "rawPath"); len(got) != 0 {
		t.Errorf("raw calls seen: %v", got)
	}
	for _, s := range With(calls, "blockingPath") {
		if c := Caller(s); c != "github.com/phonediversions/phonediversions/internal/syscalltrace.blockingPath" {
			t.Errorf("caller %q of %v", c, s)
		}
	}
}
