package sip

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/phonediversions/phonediversions/audio"
)

// TestOverloadDecision drives the decision with made-up looks on a clock
// of its own: which looks make the node saturated, what it then refuses,
// how it recovers and what limit it learns.
func TestOverloadDecision(t *testing.T) {
	calm := Load{OldestSetup: 2 * time.Millisecond, LongestSetup: 3 * time.Millisecond, WakeLate: time.Millisecond, Paced: 5000, PacedLate: 10}
	slowSetup := Load{OldestSetup: 80 * time.Millisecond}
	slowFinished := Load{LongestSetup: 60 * time.Millisecond}
	wokeLate := Load{WakeLate: 30 * time.Millisecond}
	lateMedia := Load{Paced: 5000, PacedLate: 60}      // 1.2 % late
	fewLate := Load{Paced: 150, PacedLate: 20}         // 13 %, but too few late packets to judge
	lateUnderBound := Load{Paced: 5000, PacedLate: 40} // 0.8 % late
	burst := Load{Paced: 5000, PacedLate: 250}         // 5 % late
	type step struct {
		load   Load
		active int
		after  time.Duration // since the previous look
		// what follows the look
		saturated bool
		limit     int // 0: not checked
		refuse    int // a new call with this many in progress: refused?
		refused   bool
		quiet     bool // no look: the node went idle
	}
	const hard, floor = 5000, 100
	// n looks with l and active calls in progress, nothing checked
	looks := func(n int, l Load, active int) []step {
		steps := make([]step, n)
		for i := range steps {
			steps[i] = step{load: l, active: active}
		}
		return steps
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"calm looks change nothing", []step{
			{load: calm, active: 3000, limit: hard, refuse: 4999},
			{load: calm, active: 4000, limit: hard, refuse: hard - 1},
			{load: calm, active: 4000, refuse: hard, refused: true}, // max_calls still holds
		}},
		{"two looks over a bound are a stall, not overload", []step{
			{load: slowSetup, active: 2000, limit: hard, refuse: 2001},
			{load: slowSetup, active: 2000, limit: hard, refuse: 2001},
			{load: calm, active: 2000, limit: hard, refuse: 2001},
			{load: wokeLate, active: 2000},
			{load: lateMedia, active: 2000, limit: hard, refuse: 2001},
		}},
		{"a setup that waits, three looks in a row", []step{
			{load: slowSetup, active: 2000},
			{load: slowSetup, active: 2000},
			{load: slowSetup, active: 2000, saturated: true, limit: 1800, refuse: 10, refused: true},
		}},
		{"slow setups finished", []step{
			{load: slowFinished, active: 1000},
			{load: slowFinished, active: 1000},
			{load: slowFinished, active: 1000, saturated: true, limit: 900, refuse: 899, refused: true},
		}},
		{"waking late", []step{
			{load: wokeLate, active: 1000},
			{load: wokeLate, active: 1000},
			{load: wokeLate, active: 1000, saturated: true, limit: 900},
		}},
		{"announcement packets late: three looks are a burst, half a second is overload", func() []step {
			var steps []step
			for i := 1; i < overInWindow; i++ {
				steps = append(steps, step{load: lateMedia, active: 1000, limit: hard, refuse: 1000})
			}
			return append(steps, step{load: lateMedia, active: 1000, saturated: true, limit: 900, refuse: 899, refused: true})
		}()},
		{"any acute measures in a row", []step{
			{load: slowFinished, active: 1000},
			{load: wokeLate, active: 1000},
			{load: slowSetup, active: 1000, saturated: true, limit: 900},
		}},
		{"late packets break a row of acute measures", []step{
			{load: wokeLate, active: 1000},
			{load: slowSetup, active: 1000},
			{load: lateMedia, active: 1000, limit: hard, refuse: 1000},
			{load: slowSetup, active: 1000, limit: hard, refuse: 1000},
			{load: wokeLate, active: 1000, limit: hard, refuse: 1000},
			{load: slowFinished, active: 1000, saturated: true, limit: 900},
		}},
		{"late packets judged only when enough are late, and under 1 % is no overload", []step{
			{load: fewLate, active: 1000},
			{load: fewLate, active: 1000},
			{load: fewLate, active: 1000, limit: hard, refuse: 1000},
			{load: lateUnderBound, active: 1000},
			{load: lateUnderBound, active: 1000},
			{load: lateUnderBound, active: 1000, limit: hard, refuse: 1000},
		}},
		{"below the floor measures refuse nothing", []step{
			{load: slowSetup, active: floor - 1},
			{load: slowSetup, active: floor - 1},
			{load: slowSetup, active: floor - 1, limit: hard, refuse: floor},
			{load: slowSetup, active: floor, saturated: true, limit: floor},
		}},
		{"the limit is cut at most once a second", []step{
			{load: slowSetup, active: 2000},
			{load: slowSetup, active: 2000},
			{load: slowSetup, active: 2000, saturated: true, limit: 1800},
			{load: slowSetup, active: 1500, after: 500 * time.Millisecond, saturated: true, limit: 1800},
			{load: slowSetup, active: 1500, after: 500 * time.Millisecond, saturated: true, limit: 1350},
		}},
		{"recovery: calls taken again up to the limit, which grows while it holds calls back", []step{
			{load: slowSetup, active: 2000},
			{load: slowSetup, active: 2000},
			{load: slowSetup, active: 2000, saturated: true, limit: 1800},
			{load: calm, active: 1500, limit: 1800, refuse: 1799},                // not holding back: stays
			{load: calm, active: 1700, limit: 1818, refuse: 1818, refused: true}, // within a tenth: grows by a hundredth
			{load: calm, active: 1810, limit: 1836, refuse: 1835},
		}},
		{"late over a second below any limit learned refuses nothing", func() []step {
			// Four looks with 5 % late among calm ones: 1.16 % of the
			// second's packets, over the bound, in four looks.
			steps := append(looks(window, calm, 1000), looks(4, burst, 1000)...)
			return append(steps, step{load: calm, active: 1000, limit: hard, refuse: 1000})
		}()},
		{"at the limit it learned and late over a second, the limit comes down, and grows back once the second is on time", func() []step {
			steps := looks(3, slowSetup, 2000)
			steps[2].saturated, steps[2].limit = true, 1800
			// Calm, holding calls back: the limit grows to where 1700
			// calls are no longer within a tenth of it.
			steps = append(steps, looks(window-1, calm, 1700)...)
			// A second late: three of four looks are not enough, with the
			// fourth the limit is cut to 9/10 of the calls in progress
			// (the last cut was more than a second ago).
			steps = append(steps, looks(4, burst, 1900)...)
			steps[len(steps)-1].limit, steps[len(steps)-1].refuse, steps[len(steps)-1].refused = 1710, 1710, true
			// While the second is late the limit stays; once the first
			// of the four late looks has left it, it grows by 1 %.
			calmAtLimit := looks(window-4, calm, 1710)
			for i := range calmAtLimit {
				calmAtLimit[i].limit = 1710
			}
			steps = append(steps, calmAtLimit...)
			return append(steps, step{load: calm, active: 1710, limit: 1727})
		}()},
		{"an idle node forgets its late packets", func() []step {
			steps := looks(3, slowSetup, 2000)
			steps[2].saturated, steps[2].limit = true, 1800
			steps = append(steps, looks(window-1, calm, 1700)...)
			steps = append(steps, looks(3, burst, 1900)...) // three late looks: 0.92 %
			steps = append(steps, step{quiet: true})
			// With the three before, a fourth late look would make the
			// second late and cut the limit to 1710; the new second has
			// only this one.
			steps = append(steps, step{load: burst, active: 1900, refuse: 1880})
			steps = append(steps, looks(window-5, calm, 1700)...)
			steps = append(steps, looks(3, burst, 1900)...)
			// Its twentieth look, the fourth late one: 1.16 %.
			return append(steps, step{load: burst, active: 1900, limit: 1710})
		}()},
		{"an idle node forgets the looks over a bound", func() []step {
			// Nine late looks, then idle: a tenth late look after it is
			// the first of the new calls' second, not half of a second.
			steps := looks(overInWindow-1, lateMedia, 1000)
			steps = append(steps, step{quiet: true}, step{load: lateMedia, active: 1000, limit: hard, refuse: 1000})
			// Two acute looks, then idle: a third after it starts a row.
			steps = append(steps, looks(2, slowSetup, 1000)...)
			steps = append(steps, step{quiet: true}, step{load: wokeLate, active: 1000, limit: hard, refuse: 1000})
			return append(steps, step{load: wokeLate, active: 1000},
				step{load: wokeLate, active: 1000, saturated: true, limit: 900})
		}()},
		{"half the looks of a second over a bound, not in a row", func() []step {
			var steps []step
			for i := 0; i < 9; i++ {
				steps = append(steps, step{load: lateMedia, active: 1000}, step{load: calm, active: 1000, limit: hard, refuse: 1000})
			}
			return append(steps, step{load: lateMedia, active: 1000, saturated: true, limit: 900})
		}()},
		{"fewer than half over a bound in the last second", func() []step {
			var steps []step
			for i := 0; i < 9; i++ {
				steps = append(steps, step{load: lateMedia, active: 1000}, step{load: calm, active: 1000})
			}
			// Two calm looks more, and the first of the nine has left the
			// second: with this one, nine again.
			steps = append(steps, step{load: calm, active: 1000}, step{load: calm, active: 1000},
				step{load: lateMedia, active: 1000, limit: hard, refuse: 1000})
			return steps
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newOverload(hard, floor)
			now := time.Unix(1000, 0)
			for i, s := range tt.steps {
				if s.quiet {
					o.quiet()
					continue
				}
				now = now.Add(max(s.after, lookEvery))
				o.look(s.load, s.active, now)
				st := o.stats()
				if st.Saturated != s.saturated {
					t.Fatalf("step %d: saturated %v, want %v", i, st.Saturated, s.saturated)
				}
				if s.limit != 0 && st.Limit != s.limit {
					t.Fatalf("step %d: limit %d, want %d", i, st.Limit, s.limit)
				}
				if s.refuse != 0 {
					if got := o.verdict(s.refuse) != ""; got != s.refused {
						t.Fatalf("step %d: a call with %d in progress refused: %v, want %v", i, s.refuse, got, s.refused)
					}
				}
			}
		})
	}
}

// TestSetupMeasures: the oldest setup still waiting and the longest one
// finished since the last look, whatever order setups finish in.
func TestSetupMeasures(t *testing.T) {
	o := newOverload(100, 0)
	t0 := time.Unix(1000, 0)
	a := o.begin(t0)
	b := o.begin(t0.Add(10 * time.Millisecond))
	c := o.begin(t0.Add(20 * time.Millisecond))
	b(t0.Add(40 * time.Millisecond)) // 30 ms
	c(t0.Add(25 * time.Millisecond)) // 5 ms
	var l Load
	o.measure(&l, t0.Add(50*time.Millisecond))
	if l.OldestSetup != 50*time.Millisecond || l.LongestSetup != 30*time.Millisecond {
		t.Fatalf("first look: oldest %v (want 50ms), longest %v (want 30ms)", l.OldestSetup, l.LongestSetup)
	}
	a(t0.Add(60 * time.Millisecond))
	a(t0.Add(900 * time.Millisecond)) // a second report changes nothing
	l = Load{}
	o.measure(&l, t0.Add(100*time.Millisecond))
	if l.OldestSetup != 0 || l.LongestSetup != 60*time.Millisecond {
		t.Fatalf("second look: oldest %v (want 0), longest %v (want 60ms)", l.OldestSetup, l.LongestSetup)
	}
	l = Load{}
	o.measure(&l, t0.Add(150*time.Millisecond))
	if l != (Load{}) {
		t.Fatalf("a look with nothing new: %+v", l)
	}
}

// TestOverloadRefusesWith503: with measures that say the node does not
// keep up, a new INVITE is answered 503 with Retry-After and OPTIONS 503,
// the call in progress goes on, the refusal is counted and logged; once
// the measures are calm again the node takes calls and answers OPTIONS
// 200.
func TestOverloadRefusesWith503(t *testing.T) {
	var behind atomic.Bool
	f := newFixture(t, func(c *Config) {
		c.Trusted = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")} // 127.0.0.2 is a stranger
		c.OverloadFloor = -1
		c.adjustLoad = func(l Load) Load {
			if behind.Load() {
				l.OldestSetup = time.Second // as a call stuck in its setup would
			}
			return l
		}
	})
	// A call in progress: the far party answered.
	_, held, ctx := f.call("2001", "5000", diversion("1001"))
	in := f.far.nextInvite(5 * time.Second)
	f.far.answer(ctx, in)
	answered(t, held, nil)

	options := func() *sip.Response { return f.options(f.far) }
	if res := options(); res.StatusCode != 200 {
		t.Fatalf("before: OPTIONS %d", res.StatusCode)
	}

	behind.Store(true)
	eventually(t, 5*time.Second, "saturated", func() bool { return f.srv.Overload().Saturated })
	// Over UDP the 503 goes out before the stack makes a transaction: a
	// retransmission gets the same answer, To tag included.
	udp := dialRaw(t, f, "udp")
	invite := udp.request("INVITE", 1, "", "shed1", []string{"Diversion: <sip:1002@127.0.0.1>;reason=unconditional"}, udp.sdp(""))
	udp.send(invite)
	first := udp.response("INVITE", 5*time.Second)
	udp.send(invite)
	again := udp.response("INVITE", 5*time.Second)
	for _, res := range []*sip.Response{first, again} {
		if res.StatusCode != 503 || res.GetHeader("Retry-After") == nil || res.GetHeader("Retry-After").Value() != "2" {
			t.Fatalf("a new call over UDP while overloaded: %v, want 503 with Retry-After: 2", res)
		}
	}
	tag1, _ := first.To().Params.Get("tag")
	tag2, _ := again.To().Params.Get("tag")
	if tag1 == "" || tag1 != tag2 {
		t.Fatalf("To tags of the 503 and of its retransmission: %q, %q", tag1, tag2)
	}
	udp.send(udp.request("ACK", 1, tag1, "shed1", nil, ""))
	// A stranger is refused as a stranger (403), overloaded or not: the
	// early 503 is for the trunk's peers only.
	stranger := dialRawFrom(t, f, "udp", "127.0.0.2")
	stranger.send(stranger.request("INVITE", 1, "", "shed3", []string{"Diversion: <sip:1002@127.0.0.1>;reason=unconditional"}, stranger.sdp("")))
	if res := stranger.response("INVITE", 5*time.Second); res.StatusCode != 403 {
		t.Fatalf("an INVITE from an untrusted address while overloaded: %d, want 403", res.StatusCode)
	}
	// Over TCP the admission refuses it the same way.
	tcp := dialRaw(t, f, "tcp")
	tcp.send(tcp.request("INVITE", 1, "", "shed2", []string{"Diversion: <sip:1002@127.0.0.1>;reason=unconditional"}, tcp.sdp("")))
	if res := tcp.response("INVITE", 5*time.Second); res.StatusCode != 503 || res.GetHeader("Retry-After") == nil ||
		res.GetHeader("Retry-After").Value() != "2" {
		t.Fatalf("a new call over TCP while overloaded: %v, want 503 with Retry-After: 2", res)
	}
	if res := options(); res.StatusCode != 503 || res.GetHeader("Retry-After") == nil {
		t.Fatalf("OPTIONS while overloaded: %v, want 503 with Retry-After", res)
	}
	if st := f.srv.Overload(); st.Shed != 3 {
		t.Fatalf("shed %d, want 3 (two over UDP, one over TCP)", st.Shed)
	}
	// One line a second at most: the first refusal's, with its cause.
	if lines := f.logs.lines("overloaded: calls refused with 503"); len(lines) != 1 || !strings.Contains(lines[0], `"cause":"a call waits to be set up"`) {
		t.Fatalf("log lines of the refusal: %q", lines)
	}
	if len(f.logs.lines("overloaded: new calls are refused with 503 until the node keeps up")) != 1 {
		t.Fatal("no log line when the node became saturated")
	}
	if held.Context().Err() != nil {
		t.Fatal("the call in progress ended")
	}

	behind.Store(false)
	// The limit learned was cut to 9/10 of one call: it grows back one
	// call a look while it holds calls back.
	eventually(t, 5*time.Second, "taking calls", func() bool {
		st := f.srv.Overload()
		return !st.Saturated && st.Limit > f.srv.ActiveCalls()
	})
	if res := options(); res.StatusCode != 200 {
		t.Fatalf("after: OPTIONS %d", res.StatusCode)
	}
	p := newPhone(t, "0791234567", audio.PCMU, 0x33)
	d, err := p.invite(ctx, f.srv.UDPPort(), "5000", p.sdp(), diversion("1002"))
	if err != nil {
		t.Fatal(err)
	}
	answered(t, d, nil) // for its announcement
	hangUp(t, ctx, d)
	hangUp(t, ctx, held)
	eventually(t, 5*time.Second, "calls ended", func() bool { return f.srv.ActiveCalls() == 0 })
}

// TestOverloadForgetsAnIdleSpell: looks over a bound while earlier calls
// were in progress do not count against the calls that come after an
// idle spell. A running server's load watcher is given nine late looks
// (one short of half a second) during one call; once that call has ended
// and the watcher has gone idle, one more late look during the next call
// must not make the node refuse calls.
func TestOverloadForgetsAnIdleSpell(t *testing.T) {
	late := Load{Paced: 100, PacedLate: 100} // every packet late; not acute
	const (
		calm = iota
		lateLooks
		baseline // the idle watcher's first read when a call starts
		oneLate
		judge
	)
	var step, lateLeft atomic.Int32
	lateLeft.Store(overInWindow - 1)
	paused, resume := make(chan struct{}), make(chan struct{})
	judged, checked := make(chan struct{}), make(chan struct{})
	idle := make(chan struct{}, 1)
	f := newFixture(t, func(c *Config) {
		c.OverloadFloor = -1
		// The test gives every measure: the machine's own cannot add to
		// them.
		c.adjustLoad = func(Load) Load {
			switch step.Load() {
			case lateLooks:
				if lateLeft.Add(-1) >= 0 {
					return late
				}
				step.Store(calm)
				close(paused)
				<-resume
			case baseline:
				step.Store(oneLate)
			case oneLate:
				step.Store(judge)
				return late
			case judge:
				step.Store(calm)
				close(judged)
				<-checked // a calm look would end a saturation
			}
			return Load{}
		}
		c.idle = func() {
			select {
			case idle <- struct{}{}:
			default:
			}
		}
	})
	bridged := func() (*sipgo.DialogClientSession, context.Context) {
		_, dlg, ctx := f.call("2001", "5000", diversion("1001"))
		f.far.answer(ctx, f.far.nextInvite(5*time.Second))
		answered(t, dlg, nil)
		return dlg, ctx
	}
	first, ctx := bridged()
	step.Store(lateLooks)
	<-paused // nine late looks taken; the watcher waits in its tenth
	if st := f.srv.Overload(); st.Saturated {
		t.Fatal("saturated by nine late looks of twenty")
	}
	hangUp(t, ctx, first)
	eventually(t, 5*time.Second, "the first call ended", func() bool { return f.srv.ActiveCalls() == 0 })
	select {
	case <-idle: // the watcher's idle spell before the first call
	default:
	}
	close(resume)
	<-idle
	step.Store(baseline)
	second, ctx := bridged()
	// The late look is taken with the second call in progress; the
	// watcher waits in the next one while a third call comes.
	<-judged
	release := sync.OnceFunc(func() { close(checked) })
	defer release()
	if st := f.srv.Overload(); st.Saturated {
		t.Error("saturated by one late look after an idle spell: the looks before it were not forgotten")
	}
	p := newPhone(t, "0791234567", audio.PCMU, 0x33)
	d, err := p.invite(ctx, f.srv.UDPPort(), "5000", p.sdp(), diversion("1002"))
	if err != nil {
		t.Fatal(err)
	}
	answered(t, d, nil) // not refused with 503
	release()
	hangUp(t, ctx, d)
	hangUp(t, ctx, second)
	eventually(t, 5*time.Second, "calls ended", func() bool { return f.srv.ActiveCalls() == 0 })
	if st := f.srv.Overload(); st.Shed != 0 {
		t.Fatalf("%d calls refused for overload, want none", st.Shed)
	}
}
