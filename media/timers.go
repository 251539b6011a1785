package media

import (
	"sync"
	"time"
)

// timerSlack is how early a leg's timer may fire: deadlines that fall
// within it of each other are served by one wake-up. Reports are due
// every few seconds and silence is counted in seconds, so a check made
// up to this much early changes nothing a peer can notice.
const timerSlack = 10 * time.Millisecond

// timers runs every leg's RTCP reports and silence checks on one
// goroutine of the engine: a heap of each leg's next deadline (at most
// one entry a leg), a timer for the earliest.
type timers struct {
	e     *Engine
	mu    sync.Mutex
	heap  []*Leg        // ordered by timerAt
	armed time.Duration // the deadline the goroutine waits for; -1 none
	kick  chan struct{} // an earlier deadline than armed was set
}

func newTimers(e *Engine) *timers {
	return &timers{e: e, armed: -1, kick: make(chan struct{}, 1)}
}

// schedule makes l's timer fire at at, unless it fires earlier already.
// A closed leg is not scheduled.
func (t *timers) schedule(l *Leg, at time.Duration) {
	t.mu.Lock()
	switch {
	case l.closed.Load():
		t.mu.Unlock()
		return
	case l.timerIdx < 0:
		l.timerAt = at
		l.timerIdx = len(t.heap)
		t.heap = append(t.heap, l)
		t.up(l.timerIdx)
	case at < l.timerAt:
		l.timerAt = at
		t.up(l.timerIdx)
	default:
		t.mu.Unlock()
		return
	}
	kick := t.armed < 0 || at < t.armed
	t.mu.Unlock()
	if kick {
		select {
		case t.kick <- struct{}{}:
		default:
		}
	}
}

// unschedule removes l's timer.
func (t *timers) unschedule(l *Leg) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if i := l.timerIdx; i >= 0 {
		last := len(t.heap) - 1
		t.swap(i, last)
		t.heap[last] = nil
		t.heap = t.heap[:last]
		l.timerIdx = -1
		if i < last {
			t.down(i)
			t.up(i)
		}
	}
}

// run fires the timers until stop is closed. buf is room for an RTCP
// packet, for the reports.
func (t *timers) run(stop <-chan struct{}) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	buf := make([]byte, maxPacket)
	var due []*Leg
	for {
		now := t.e.now()
		t.mu.Lock()
		for len(t.heap) > 0 && t.heap[0].timerAt <= now+timerSlack {
			due = append(due, t.pop())
		}
		t.armed = -1
		if len(due) == 0 && len(t.heap) > 0 {
			t.armed = t.heap[0].timerAt
		}
		armed := t.armed
		t.mu.Unlock()
		if len(due) > 0 {
			for _, l := range due {
				if at, ok := l.tick(now, buf); ok {
					t.schedule(l, at)
				}
			}
			clear(due)
			due = due[:0]
			continue
		}
		if armed >= 0 {
			timer.Reset(armed - now)
		}
		select {
		case <-timer.C:
		case <-t.kick:
		case <-stop:
			timer.Stop()
			return
		}
	}
}

// pop removes the earliest timer's leg.
func (t *timers) pop() *Leg {
	l := t.heap[0]
	last := len(t.heap) - 1
	t.swap(0, last)
	t.heap[last] = nil
	t.heap = t.heap[:last]
	t.down(0)
	l.timerIdx = -1
	return l
}

func (t *timers) swap(i, j int) {
	t.heap[i], t.heap[j] = t.heap[j], t.heap[i]
	t.heap[i].timerIdx = i
	t.heap[j].timerIdx = j
}

func (t *timers) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if t.heap[p].timerAt <= t.heap[i].timerAt {
			return
		}
		t.swap(i, p)
		i = p
	}
}

func (t *timers) down(i int) {
	for {
		c := 2*i + 1
		if c >= len(t.heap) {
			return
		}
		if c+1 < len(t.heap) && t.heap[c+1].timerAt < t.heap[c].timerAt {
			c++
		}
		if t.heap[i].timerAt <= t.heap[c].timerAt {
			return
		}
		t.swap(i, c)
		i = c
	}
}
