package media

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// The timer heap hands legs back in the order of their deadlines, keeps
// one entry a leg (an earlier deadline moves it, a later one does not),
// and forgets an unscheduled or closed leg.
func TestTimerHeapOrder(t *testing.T) {
	tm := newTimers(&Engine{})
	r := rand.New(rand.NewPCG(1, 2))
	legs := make([]*Leg, 300)
	want := map[*Leg]time.Duration{}
	for i := range legs {
		l := &Leg{timerIdx: -1}
		legs[i] = l
		at := time.Duration(r.IntN(1000)+1) * time.Millisecond
		tm.schedule(l, at)
		tm.schedule(l, at+time.Second) // later: no change
		want[l] = at
	}
	for i, l := range legs {
		switch i % 5 {
		case 0: // earlier: moves
			want[l] /= 2
			tm.schedule(l, want[l])
		case 1:
			tm.unschedule(l)
			delete(want, l)
		case 2:
			l.closed.Store(true) // a closed leg is not scheduled again
			tm.unschedule(l)
			tm.schedule(l, time.Millisecond)
			delete(want, l)
		}
	}
	if len(tm.heap) != len(want) {
		t.Fatalf("%d entries, want one for each of %d legs", len(tm.heap), len(want))
	}
	var got []time.Duration
	for len(tm.heap) > 0 {
		l := tm.pop()
		if l.timerIdx != -1 {
			t.Fatal("a popped leg still has its place")
		}
		if l.timerAt != want[l] {
			t.Fatalf("leg fired at %v, want %v", l.timerAt, want[l])
		}
		got = append(got, l.timerAt)
	}
	if !slices.IsSorted(got) {
		t.Fatalf("not in order of deadlines: %v", got)
	}
}
