package media

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/phonediversions/phonediversions/audio"
)

// Pacing: every stream sends one frame per 20 ms. A shard has 20 slots of
// a millisecond; each stream lives in the slot of its phase, and the shard
// wakes at the deadline of each slot that holds a stream. New streams
// join a slot that already has company while it holds few, then spread
// to the least busy slots: few wake-ups at low load, sends spread evenly
// over time at high load.
const (
	framePeriod = 20 * time.Millisecond
	tick        = time.Millisecond
	slots       = int(framePeriod / tick)
	// maxBehind is how far a stream may fall behind before it skips frames
	// rather than sending a burst.
	maxBehind = 3 * framePeriod
	// placeWithin is how many slots ahead a new stream may be placed: a
	// whole period, so that a new stream can join any slot (its first
	// packet leaves within 20 ms) and streams started at any moment
	// gather in the same slot.
	placeWithin = slots
	// groupUpTo is how many streams a slot takes before new streams go to
	// the least busy slot instead. A slot's packets leave in one io_uring
	// batch, so a large slot costs one wake-up and one system call where
	// four slots of sixteen cost four of each; 64 packets take well under
	// a millisecond to build and send (BenchmarkBatchSend).
	groupUpTo = 64
)

// Stream plays frames on a leg at 50 packets per second.
type Stream struct {
	leg    *Leg
	frames [][]byte
	pt     uint8
	loop   bool
	idx    int
	sh     *shard
	stop   atomic.Bool
	due    int64 // its next deadline, in ticks; owned by the shard goroutine
	done   chan struct{}
	ended  bool // played to its end (not stopped)

	afterMu sync.Mutex
	closed  bool   // done is closed
	after   func() // run once done is closed (AfterDone)
}

// AfterDone runs f in a goroutine of its own once the stream has ended
// (at once when it has), so that what follows a stream needs no
// goroutine waiting for it meanwhile. One f per stream: a second call
// replaces the first if it has not run yet.
func (s *Stream) AfterDone(f func()) {
	s.afterMu.Lock()
	if !s.closed {
		s.after = f
		s.afterMu.Unlock()
		return
	}
	s.afterMu.Unlock()
	go f()
}

// finish closes done and starts what waits for it.
func (s *Stream) finish() {
	s.afterMu.Lock()
	s.closed = true
	f := s.after
	s.after = nil
	s.afterMu.Unlock()
	close(s.done)
	if f != nil {
		go f()
	}
}

// Done is closed when the stream has ended: played to its end or stopped.
// After Done, the stream writes nothing more to its leg.
func (s *Stream) Done() <-chan struct{} { return s.done }

// Finished reports, once Done is closed, whether the stream played to its
// end rather than being stopped.
func (s *Stream) Finished() bool {
	<-s.done
	return s.ended
}

// Stop ends the stream and waits until it has written its last packet.
func (s *Stream) Stop() {
	s.stop.Store(true)
	if s.sh != nil {
		s.sh.wake()
	}
	<-s.done
}

// shard serves a share of the streams from one goroutine.
type shard struct {
	e        *Engine
	mu       sync.Mutex
	adds     []*Stream
	kick     chan struct{}
	slots    [slots][]*Stream
	active   int          // streams in slots; owned by the shard goroutine
	load     atomic.Int32 // streams given to the shard and not ended
	lateAt   time.Duration
	lateness histogram
	batch    *batch        // the slot's packets in one system call; nil: a sendto each
	batchDue time.Duration // the deadline of the slot whose packets the batch holds
}

// fillShard is how many streams a shard takes before new streams go to
// the least loaded one: a few calls keep one goroutine and its timer
// busy instead of waking every shard for a stream or two.
const fillShard = 128

// pickShard returns the first shard holding fewer than fillShard
// streams, else the least loaded.
func (e *Engine) pickShard() *shard {
	best := e.shards[0]
	for _, sh := range e.shards {
		n := sh.load.Load()
		if n < fillShard {
			return sh
		}
		if n < best.load.Load() {
			best = sh
		}
	}
	return best
}

// ended counts a stream of the shard as ended.
func (sh *shard) ended() {
	sh.load.Add(-1)
	sh.e.stats.streams.Add(-1)
}

func (sh *shard) wake() {
	select {
	case sh.kick <- struct{}{}:
	default:
	}
}

// Play starts playing frames on leg with the leg's codec payload type. With
// loop the frames repeat until Stop; otherwise Done closes after the last
// frame. frames are shared, not copied: they must not change.
func (e *Engine) Play(leg *Leg, frames [][]byte, loop bool) *Stream {
	s := &Stream{leg: leg, frames: frames, pt: uint8(leg.Format().Codec), loop: loop, done: make(chan struct{})}
	select {
	case <-e.stop:
		s.finish()
		return s
	default:
	}
	if len(frames) == 0 {
		s.ended = true
		s.finish()
		return s
	}
	leg.startBurst()
	sh := e.pickShard()
	s.sh = sh
	sh.load.Add(1)
	e.stats.streams.Add(1)
	sh.mu.Lock()
	sh.adds = append(sh.adds, s)
	sh.mu.Unlock()
	sh.wake()
	return s
}

// run serves the shard until the engine closes. It sleeps until the
// deadline of the next slot that holds a stream, so a shard with a few
// streams wakes a few times per frame period, not every millisecond.
func (sh *shard) run(stop <-chan struct{}) {
	e := sh.e
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	next := int64(e.now()/tick) + 1 // the first slot deadline not yet served
	for {
		if sh.idle() {
			// Nothing to play: sleep until a stream arrives.
			select {
			case <-stop:
				sh.closeAll()
				return
			case <-sh.kick:
			}
			next = int64(e.now()/tick) + 1
		}
		sh.place(int64(e.now() / tick))
		due, ok := sh.earliest(next)
		if !ok {
			continue // the streams placed were stopped already
		}
		if wait := time.Duration(due)*tick - e.now(); wait > 0 {
			timer.Reset(wait)
			select {
			case <-stop:
				sh.closeAll()
				return
			case <-sh.kick:
				sh.reap()
				continue
			case <-timer.C:
			}
		} else {
			// Behind: no wait, but the engine's close must still be seen.
			select {
			case <-stop:
				sh.closeAll()
				return
			default:
			}
		}
		e.stats.wakeups.Add(1)
		target := int64(e.now() / tick)
		if target-next >= int64(slots) {
			// Woken a whole period late: serve each slot once, at its
			// latest deadline; each stream skips the frames of the
			// deadlines it missed (Stream.due).
			next = target - int64(slots) + 1
		}
		for ; next <= target; next++ {
			if slot := int(next % int64(slots)); len(sh.slots[slot]) > 0 {
				sh.serve(slot, next)
			}
		}
	}
}

// earliest returns the first slot deadline from next on whose slot holds a
// stream; ok is false when no slot does.
func (sh *shard) earliest(next int64) (due int64, ok bool) {
	if sh.active == 0 {
		return 0, false
	}
	for i := next; i < next+int64(slots); i++ {
		if len(sh.slots[i%int64(slots)]) > 0 {
			return i, true
		}
	}
	return 0, false
}

// idle reports whether the shard has no stream, playing or waiting.
func (sh *shard) idle() bool {
	if sh.active > 0 {
		return false
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return len(sh.adds) == 0
}

// place moves new streams into one of the next slots: the fullest that
// holds fewer than groupUpTo streams, so that at low load a shard wakes
// for a few slots rather than for one stream at a time; when every slot
// holds that many, the least busy one, spreading the sends over time.
func (sh *shard) place(now int64) {
	sh.mu.Lock()
	adds := sh.adds
	sh.adds = nil
	sh.mu.Unlock()
	// best and group below are deadlines (ticks, not negative) of the
	// coming period; the slot of a deadline is its remainder.
	slotOf := func(d int64) []*Stream { return sh.slots[d%int64(slots)] }
	for _, s := range adds {
		best, group := int64(-1), int64(-1)
		for d := now + 1; d <= now+int64(placeWithin); d++ {
			n := len(slotOf(d))
			if best < 0 || n < len(slotOf(best)) {
				best = d
			}
			if n < groupUpTo && (group < 0 || n > len(slotOf(group))) {
				group = d
			}
		}
		if group >= 0 {
			best = group
		}
		s.due = best
		sh.slots[best%int64(slots)] = append(slotOf(best), s)
		sh.active++
	}
}

// serve sends the frame of deadline d (in ticks) of every stream in the
// slot: in io_uring batches when the slot holds enough streams for them
// to cost less than a sendto each. A stream's frames and timestamp keep
// to its deadlines: the frames of deadlines it missed (the shard woke a
// period late or more) or can no longer send on time are skipped, and a
// deadline it skipped past sends nothing. (The pacer used to lose the
// frames of missed deadlines without moving the timestamp on, or send
// one frame too many after a skip: a far end then saw every later
// packet off its timestamp by a frame or most of one: 14 ms in
// TestStalledShardKeepsTimestamps.)
func (sh *shard) serve(slot int, d int64) {
	e := sh.e
	at := time.Duration(d) * tick
	list := sh.slots[slot]
	b := sh.batch
	if b != nil && len(list) >= batchFrom {
		e.sendMu.RLock()
		sh.batchDue = at
		defer sh.flush(true)
	} else {
		b = nil
	}
	for i := 0; i < len(list); {
		s := list[i]
		if s.stop.Load() {
			list = sh.remove(slot, i, false)
			continue
		}
		if d < s.due {
			i++ // a deadline it skipped past
			continue
		}
		now := e.now()
		late := now - at
		advance := uint32(audio.FrameSamples)
		skip := int((d - s.due) / int64(slots)) // its deadlines missed
		ahead := 0
		if late > maxBehind {
			// Skip what can no longer be on time rather than burst.
			ahead = int(late / framePeriod)
			skip += ahead
		}
		s.due = d + int64(slots)*int64(1+ahead)
		if skip > 0 {
			s.idx += skip
			advance += uint32(skip) * audio.FrameSamples
			e.stats.skipped.Add(uint64(skip))
			if !s.loop && s.idx >= len(s.frames) {
				list = sh.remove(slot, i, true)
				continue
			}
			s.idx %= len(s.frames)
		}
		if b != nil && b.full() {
			sh.flush(false)
			b = sh.batch
		}
		if !s.leg.send(s.pt, advance, false, s.frames[s.idx], nil, now, b) {
			sh.observe(late, 1)
		} // else counted when the batch goes out
		s.idx++
		if s.idx == len(s.frames) {
			if !s.loop {
				list = sh.remove(slot, i, true)
				continue
			}
			s.idx = 0
		}
		i++
	}
}

// flush sends the packets the shard's batch holds; last ends the
// batch's hold on the legs' sockets. A ring that failed is not used
// again: the shard goes on with a sendto each.
func (sh *shard) flush(last bool) {
	if b := sh.batch; b != nil {
		n := b.n
		if !b.flush() {
			sh.batch = nil
		}
		// The batch's packets leave now: their lateness is now's.
		sh.observe(sh.e.now()-sh.batchDue, uint64(n))
	}
	if last {
		sh.e.sendMu.RUnlock()
	}
}

// observe counts the lateness of n packets sent together.
func (sh *shard) observe(late time.Duration, n uint64) {
	sh.lateness.observeN(late, n)
	if late > sh.lateAt {
		sh.e.stats.late.Add(n)
	}
}

// remove takes stream i out of its slot (swapping the last one in) and
// ends it; it returns the slot's new list.
func (sh *shard) remove(slot, i int, ended bool) []*Stream {
	list := sh.slots[slot]
	s := list[i]
	last := len(list) - 1
	list[i] = list[last]
	list[last] = nil
	list = list[:last]
	sh.slots[slot] = list
	sh.active--
	s.ended = ended
	sh.ended()
	s.finish()
	return list
}

// reap ends the streams that were asked to stop, without waiting for their
// slot to come round.
func (sh *shard) reap() {
	for slot := range sh.slots {
		list := sh.slots[slot]
		for i := 0; i < len(list); {
			if list[i].stop.Load() {
				list = sh.remove(slot, i, false)
				continue
			}
			i++
		}
	}
	sh.mu.Lock()
	kept := sh.adds[:0]
	for _, s := range sh.adds {
		if s.stop.Load() {
			sh.ended()
			s.finish()
			continue
		}
		kept = append(kept, s)
	}
	clear(sh.adds[len(kept):]) // the ended streams must not stay reachable
	sh.adds = kept
	sh.mu.Unlock()
}

// closeAll ends every stream when the engine closes.
func (sh *shard) closeAll() {
	if sh.batch != nil {
		sh.batch.close()
	}
	for slot := range sh.slots {
		for len(sh.slots[slot]) > 0 {
			sh.remove(slot, 0, false)
		}
	}
	sh.mu.Lock()
	for _, s := range sh.adds {
		sh.ended()
		s.finish()
	}
	sh.adds = nil
	sh.mu.Unlock()
}
