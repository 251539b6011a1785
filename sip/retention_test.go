package sip

import (
	"context"
	"runtime"
	"testing"
	"time"
	"weak"

	"github.com/phonediversions/phonediversions/audio"
)

// TestFinishedCallsAreFreed ends a call right after its ACK and checks
// that the call (and with it its media) is garbage at once. The SIP stack kept
// an ended INVITE transaction for its Timer L (64·T1: 32 s, 6.4 s with
// the tests' T1) and through it the whole call; at 400 calls/s that held
// 12,800 finished calls (third_party/sipgo/FORK.md).
func TestFinishedCallsAreFreed(t *testing.T) {
	f := newFixture(t, nil)
	announceOnly(f)
	caller := newPhone(t, "0791234567", audio.PCMU, 0x11)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dlg, err := caller.invite(ctx, f.srv.UDPPort(), "5000", caller.sdp(), diversion("1001"))
	if err != nil {
		t.Fatal(err)
	}
	answered(t, dlg, nil)
	c := oneCall(t, f.srv)
	if err := dlg.Bye(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the call ended", func() bool { return f.srv.ActiveCalls() == 0 })
	// Freed at once — its report entry is committed by then — and well
	// before the 6.4 s the stack's Timer L held it with the tests' T1:
	// the bound leaves room for a machine busy with other tests.
	start := time.Now()
	eventually(t, 4*time.Second, "the ended call freed", func() bool {
		runtime.GC()
		return c.Value() == nil
	})
	t.Logf("freed %v after the call ended", time.Since(start).Round(time.Millisecond))
}

// oneCall returns a weak pointer to the only call in progress.
func oneCall(t *testing.T, s *Server) weak.Pointer[call] {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.calls) != 1 {
		t.Fatalf("%d calls in progress, want 1", len(s.calls))
	}
	for c := range s.calls {
		return weak.Make(c)
	}
	panic("unreachable")
}
