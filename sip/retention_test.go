package sip

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
	"weak"

	"github.com/emiago/sipgo/sip"

	"github.com/phonediversions/phonediversions/audio"
	"github.com/phonediversions/phonediversions/routing"
)

// TestFinishedCallsAreFreed ends calls and checks that each call, and
// with it its media, and the SIP messages of its dialogs (the INVITE as
// received, our 200, the far leg's INVITE and its 200) are garbage at
// once. The SIP stack kept an ended INVITE transaction for its Timer L
// (64·T1: 32 s, 6.4 s with the tests' T1), and its client twin for Timer
// M, and through them the messages and the whole call; at 400 calls/s
// that held 12,800 finished calls (third_party/sipgo/FORK.md). The fork
// stops those timers: nothing of a call outlives it, which this test
// keeps so.
func TestFinishedCallsAreFreed(t *testing.T) {
	for _, connect := range []bool{false, true} {
		name := "announced"
		if connect {
			name = "connected"
		}
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, nil)
			if !connect {
				announceOnly(f)
			}
			from := "2001" // direct access: the far leg at once
			if !connect {
				from = "0791234567"
			}
			caller := newPhone(t, from, audio.PCMU, 0x11)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			dlg, err := caller.invite(ctx, f.srv.UDPPort(), "5000", caller.sdp(), diversion("1001"))
			if err != nil {
				t.Fatal(err)
			}
			if connect {
				f.far.answer(ctx, f.far.nextInvite(5*time.Second))
			}
			answered(t, dlg, nil)
			c := oneCall(t, f.srv)
			// The BYE after the ACK is taken (TestByeBeforeAckFreesTheCall
			// has the BYE first).
			acked := c.Value().caller.acked
			eventually(t, 5*time.Second, "the ACK taken", func() bool {
				select {
				case <-acked:
					return true
				default:
					return false
				}
			})
			acked = nil
			if err := dlg.Bye(ctx); err != nil {
				t.Fatal(err)
			}
			eventually(t, 5*time.Second, "the call ended", func() bool { return f.srv.ActiveCalls() == 0 })
			// The call's goroutine is done (ActiveCalls counts it out last):
			// its fields may be read.
			var msgs []weak.Pointer[sip.Request]
			var answers []weak.Pointer[sip.Response]
			if p := c.Value(); p != nil {
				msgs = append(msgs, weak.Make(p.caller.req), weak.Make(p.caller.dlg.InviteRequest))
				answers = append(answers, weak.Make(p.caller.dlg.InviteResponse))
				if connect {
					msgs = append(msgs, weak.Make(p.far.dlg.InviteRequest))
					answers = append(answers, weak.Make(p.far.dlg.InviteResponse))
				}
			}
			// Freed at once — its report entry is committed by then — and
			// well before the 6.4 s the stack's Timer L held it with the
			// tests' T1: the bound leaves room for a machine busy with
			// other tests.
			start := time.Now()
			eventually(t, 4*time.Second, "the ended call and its messages freed", func() bool {
				runtime.GC()
				if c.Value() != nil {
					return false
				}
				for _, m := range msgs {
					if m.Value() != nil {
						return false
					}
				}
				for _, m := range answers {
					if m.Value() != nil {
						return false
					}
				}
				return true
			})
			if len(msgs) == 0 {
				t.Fatal("the call was freed before its messages could be looked at")
			}
			t.Logf("freed %v after the call ended", time.Since(start).Round(time.Millisecond))
		})
	}
}

// TestByeBeforeAckFreesTheCall: the caller's BYE can overtake its ACK
// (UDP, or each request handled on its own goroutine). The call ends at
// the BYE, and is freed at once. When the BYE's terminating the INVITE
// transaction crossed our 200 going out, the stack started Timer L
// after the terminate and held the call 64·T1 (6.4 s with the tests' T1,
// 32 s in production): found under load (2 runs in 30 with both cores
// busy), fixed in the fork (third_party/sipgo/FORK.md, fourth change).
func TestByeBeforeAckFreesTheCall(t *testing.T) {
	f := newFixture(t, nil)
	announceOnly(f)
	r := dialRaw(t, f, "udp")
	r.send(r.request("INVITE", 1, "", "inv1", []string{"Diversion: <sip:1001@127.0.0.1>;reason=unconditional"}, r.sdp("")))
	ok := r.response("INVITE", 5*time.Second)
	if ok.StatusCode != 200 {
		t.Fatalf("INVITE answered %d", ok.StatusCode)
	}
	c := oneCall(t, f.srv)
	toTag, _ := ok.To().Params.Get("tag")
	r.send(r.request("BYE", 2, toTag, "bye1", nil, ""))
	if res := r.response("BYE", 5*time.Second); res.StatusCode != 200 {
		t.Fatalf("BYE answered %d", res.StatusCode)
	}
	r.send(r.request("ACK", 1, toTag, "ack1", nil, "")) // late
	eventually(t, 5*time.Second, "the call ended", func() bool { return f.srv.ActiveCalls() == 0 })
	eventually(t, 4*time.Second, "the ended call freed", func() bool {
		runtime.GC()
		return c.Value() == nil
	})
	f.report()
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

// TestAnnouncementPlaysWithoutAGoroutine: once the caller is answered,
// the INVITE's handler goroutine returns while the announcement plays;
// the call goes on from the announcement's end (its report and BYE are
// TestAnnounceThenHangUp's). A goroutine parked per call for the
// announcement's length was 8 KiB of stack per call in progress.
func TestAnnouncementPlaysWithoutAGoroutine(t *testing.T) {
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
	// While the call is in progress (its announcement plays), no goroutine
	// is in the INVITE's handler.
	eventually(t, 5*time.Second, "the call in progress without a handler goroutine", func() bool {
		return handlers(f.srv) == 0 && f.srv.ActiveCalls() == 1
	})
	caller.waitBye(10 * time.Second)
	eventually(t, 5*time.Second, "the call over", func() bool { return f.srv.ActiveCalls() == 0 })
	if e := f.report(); e.Status != routing.StatusTerminated {
		t.Fatalf("report %+v", e)
	}
}

// handlers counts the goroutines in the INVITE handler of s (a test's
// leftovers of other servers do not count).
func handlers(s *Server) int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	return strings.Count(string(buf), fmt.Sprintf("sip.(*Server).onInvite(%p", s))
}

// TestCallInProgressLetsItsSetUpGo: once the caller's ACK is taken and
// its announcement plays (no goroutine left in the INVITE's handler), a
// call in progress keeps the dialog's copy of the INVITE (our To tag on
// the same headers) and nothing more of its set-up: the INVITE as
// received, its transaction and the ACK are garbage while the call goes
// on. Kept for the call's life, they were a large part of the heap of
// the calls in progress (docs/benchmarks.md, seventh round).
func TestCallInProgressLetsItsSetUpGo(t *testing.T) {
	type kept struct {
		what  string
		alive func() bool
	}
	seen := make(chan kept, 3)
	f := newFixtureWith(t, nil, func(s *Server) {
		s.srv.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
			r, x := weak.Make(req), weak.Make(tx.(*sip.ServerTx))
			select {
			case seen <- kept{"the INVITE as received", func() bool { return r.Value() != nil }}:
				seen <- kept{"the INVITE's transaction", func() bool { return x.Value() != nil }}
			default: // a re-INVITE; none is sent
			}
			s.onInvite(req, tx)
		})
		s.srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) {
			a := weak.Make(req)
			select {
			case seen <- kept{"the ACK", func() bool { return a.Value() != nil }}:
			default:
			}
			s.onAck(req, tx)
		})
	})
	announceOnly(f)
	f.longAnnouncement(time.Minute)
	caller := newPhone(t, "0791234567", audio.PCMU, 0x11)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dlg, err := caller.invite(ctx, f.srv.UDPPort(), "5000", caller.sdp(), diversion("1001"))
	if err != nil {
		t.Fatal(err)
	}
	answered(t, dlg, nil)
	var set []kept
	for len(set) < 3 {
		select {
		case k := <-seen:
			set = append(set, k)
		case <-ctx.Done():
			t.Fatalf("the stack handed over %d of the INVITE, its transaction and the ACK", len(set))
		}
	}
	eventually(t, 10*time.Second, "the announcement playing without a handler goroutine", func() bool {
		return handlers(f.srv) == 0 && f.srv.ActiveCalls() == 1
	})
	c := oneCall(t, f.srv)
	var held []string
	for deadline := time.Now().Add(10 * time.Second); ; {
		runtime.GC()
		held = held[:0]
		for _, k := range set {
			if k.alive() {
				held = append(held, k.what)
			}
		}
		if len(held) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("held while the call is in progress: %s", strings.Join(held, ", "))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if c.Value() == nil || f.srv.ActiveCalls() != 1 {
		t.Fatal("the call ended before its set-up could be seen freed")
	}
	// The call goes on with what it kept: the caller hangs up during the
	// announcement, the dialog takes the BYE and the call ends.
	if err := dlg.Bye(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the call over", func() bool { return f.srv.ActiveCalls() == 0 })
	f.report()
}
