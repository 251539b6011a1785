package routing

import (
	"sync"
	"sync/atomic"
)

// Event is one committed change — a switch, or a group, line, user,
// setting or announcement created, changed or deleted — as its report
// entry records it. Handled calls are not changes and are not announced.
type Event struct {
	// Seq numbers the events of this process in commit order, from 1.
	Seq uint64
	ReportEntry
}

// Feed announces committed changes to in-process subscribers. Publishing
// never waits for a subscriber: one whose buffer is full loses the event,
// its channel is closed and Lost tells it to resynchronize (read the
// current state again and subscribe anew).
type Feed struct {
	mu   sync.Mutex
	seq  uint64
	subs map[*Subscription]struct{}
}

// Subscription receives the events published after it was made.
type Subscription struct {
	c    chan Event
	feed *Feed
	lost atomic.Bool
}

// Subscribe returns a subscription whose channel holds up to buffer events
// not yet read (at least 1).
func (f *Feed) Subscribe(buffer int) *Subscription {
	sub := &Subscription{c: make(chan Event, max(buffer, 1)), feed: f}
	f.mu.Lock()
	if f.subs == nil {
		f.subs = map[*Subscription]struct{}{}
	}
	f.subs[sub] = struct{}{}
	f.mu.Unlock()
	return sub
}

// Seq returns the number of the last event published.
func (f *Feed) Seq() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.seq
}

// Subscribers returns how many subscriptions are open.
func (f *Feed) Subscribers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}

// publish numbers the entries and hands them to every subscriber that has
// room; a subscriber that has none is dropped and told so.
func (f *Feed) publish(entries []ReportEntry) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range entries {
		f.seq++
		ev := Event{Seq: f.seq, ReportEntry: e}
		for sub := range f.subs {
			select {
			case sub.c <- ev:
			default:
				sub.lost.Store(true)
				delete(f.subs, sub)
				close(sub.c)
			}
		}
	}
}

// C is the channel of events. It is closed when the subscriber fell
// behind (Lost reports true) or after Close.
func (s *Subscription) C() <-chan Event { return s.c }

// Lost reports whether events were lost because the subscriber did not
// read them in time; its channel is then closed.
func (s *Subscription) Lost() bool { return s.lost.Load() }

// Close ends the subscription and closes its channel; closing twice, or
// after the subscription was dropped, does nothing.
func (s *Subscription) Close() {
	f := s.feed
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.subs[s]; ok {
		delete(f.subs, s)
		close(s.c)
	}
}
