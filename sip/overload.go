package sip

import (
	"sync"
	"time"
)

// The overload control: the node measures how well it keeps up and,
// once it does not, refuses new calls at once with 503 rather than take
// calls it would then fail (and slow down the ones it has). It needs no
// configuration: the number of calls the node carries well is learned
// from the measures below, under Config.MaxCalls as a hard ceiling.
//
// What is measured, at each look (every lookEvery while calls are in
// progress):
//   - the age of the oldest call still being set up (INVITE taken to
//     routed and its media bound), and the longest setup finished since
//     the last look: a node that keeps up sets up a call in a few
//     milliseconds;
//   - how late the look itself woke: a node short of CPU wakes its
//     goroutines late, the SIP stack's as well as this one;
//   - the share of announcement packets the pacer sent lateBy or more
//     after their deadline since the last look.
//
// A look over a bound makes the node saturated when half the looks of
// the last second were over a bound too (a node that falls behind now
// and then, not once), or, when a setup or the look itself is slow
// (acute), when the two looks before it were acute too. Late
// announcement packets count only towards the half second: three late
// looks in a row are a stall of the machine (another process, a
// collection) as often as an overload, and as a rule of their own they
// refused calls at half to two thirds of the node's clean rate
// (docs/benchmarks.md, "Eighth round"). Saturated, it
// refuses every new call, and the learned limit becomes nine tenths of
// the calls then in progress (at most once per cutEvery, since the calls
// in progress take a while to end). A look under every bound ends
// saturation; from then calls are taken up to the limit, which grows by
// a hundredth (at least one call) at each look where it holds calls
// back, and so finds the node's capacity again when the load changes.
// While it holds calls back, the share of announcement packets sent late
// over the last second (window looks) decides too: past lateBound, in
// three of its looks or more, it cuts the limit as a saturation does,
// and the limit grows only while the second is under it. What a caller
// hears is that second's p99; without this rule the limit grew back
// into lateness at the first calm look, and callers' lateness p99 was
// 12.8-24.8 ms at 1.5 and 2 times the node's clean rate, against
// 8.2-16.9 ms with it (docs/benchmarks.md, "Eighth round").
// Below floor calls in progress nothing is refused on measures alone: a
// short stall of a lightly loaded node (another process, a collection)
// is no overload. A node with no call in progress forgets its looks
// (quiet): the looks of calls that ended long ago say nothing of the
// next ones.

// Bounds of the measures; each is well under what a caller notices.
const (
	lookEvery         = 50 * time.Millisecond
	setupBound        = 50 * time.Millisecond
	wakeBound         = 20 * time.Millisecond
	lateBy            = 10 * time.Millisecond
	lateBound         = 0.01 // share of announcement packets sent lateBy late
	strikesToSaturate = 3
	window            = 20 // looks: a second
	overInWindow      = window / 2
	// lateAtLeast is how many late packets a look needs before their
	// share counts: a few late packets of a lightly loaded node (a
	// stall of the machine, not of the node's own making) are no
	// overload.
	lateAtLeast = 25
	cutEvery    = time.Second
	// shedRetryAfter is the Retry-After of a call refused for overload:
	// short, since the node takes calls again as soon as it keeps up.
	shedRetryAfter = 2 * time.Second
	// defaultOverloadFloor is Config.OverloadFloor's default.
	defaultOverloadFloor = 100
)

// Load is one look's measures.
type Load struct {
	// OldestSetup is the age of the oldest call still being set up.
	OldestSetup time.Duration
	// LongestSetup is the longest setup finished since the last look.
	LongestSetup time.Duration
	// WakeLate is how much later than planned the look woke.
	WakeLate time.Duration
	// Paced and PacedLate are the announcement packets sent since the
	// last look and how many of them late.
	Paced, PacedLate uint64
}

// over returns which measure is past its bound, or "" when none is;
// acute is true when a setup or the look itself is slow, false for late
// packets alone.
func (l Load) over() (why string, acute bool) {
	switch {
	case l.OldestSetup > setupBound:
		return "a call waits to be set up", true
	case l.LongestSetup > setupBound:
		return "calls are set up slowly", true
	case l.WakeLate > wakeBound:
		return "the node wakes late (short of CPU)", true
	case l.PacedLate >= lateAtLeast && float64(l.PacedLate) > lateBound*float64(l.Paced):
		return "announcement packets are sent late", false
	}
	return "", false
}

// overload is the decision: whether a new call may be taken.
type overload struct {
	hard, floor int

	mu        sync.Mutex
	limit     int // the learned limit of calls in progress
	strikes   int // acute looks in a row
	recent    [window]bool
	next      int // of recent
	overCount int // looks of recent over a bound
	// The announcement packets of the last window looks, how many of
	// them late, and which looks had a share of late ones past lateBound;
	// looks counts the looks taken, up to window.
	paced, late       [window]uint64
	lateLook          [window]bool
	sumPaced, sumLate uint64
	lateLooks, looks  int
	saturated         string // why the node is saturated, "" when it is not
	cut               time.Time

	setups  []setup // calls being set up, oldest first
	longest time.Duration

	shed     uint64 // calls refused for overload
	logged   time.Time
	unlogged uint64 // calls refused since the last log line
}

// setup is one call being set up.
type setup struct {
	start time.Time
	done  *bool // under overload.mu
}

func newOverload(hard, floor int) *overload {
	return &overload{hard: hard, floor: floor, limit: hard}
}

// verdict says why a new call must be refused, or "" when it may be
// taken, with active calls in progress.
func (o *overload) verdict(active int) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case o.saturated != "":
		return o.saturated
	case active >= o.limit:
		return "the calls in progress reached the limit the node learned"
	}
	return ""
}

// refused counts a call refused for overload and reports whether a log
// line is due (at most one a second), with the calls refused since the
// last one.
func (o *overload) refused(now time.Time) (log bool, since uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.shed++
	o.unlogged++
	if now.Sub(o.logged) < time.Second {
		return false, 0
	}
	o.logged, since, o.unlogged = now, o.unlogged, 0
	return true, since
}

// begin records a call whose setup starts at now; the function returned
// records that it is done (routed and its media bound, or refused) and
// is safe to call more than once.
func (o *overload) begin(now time.Time) func(time.Time) {
	done := new(bool)
	o.mu.Lock()
	o.setups = append(o.setups, setup{start: now, done: done})
	o.mu.Unlock()
	return func(at time.Time) {
		o.mu.Lock()
		defer o.mu.Unlock()
		if *done {
			return
		}
		*done = true
		o.longest = max(o.longest, at.Sub(now))
	}
}

// measure fills in the setup measures of a look at now and starts the
// next look's.
func (o *overload) measure(l *Load, now time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	i := 0
	for i < len(o.setups) && *o.setups[i].done {
		i++
	}
	o.setups = append(o.setups[:0], o.setups[i:]...)
	if len(o.setups) > 0 {
		l.OldestSetup = now.Sub(o.setups[0].start)
	}
	l.LongestSetup, o.longest = o.longest, 0
}

// look takes one look's measures, with active calls in progress, and
// updates the decision. It returns the cause when the node has just
// become saturated, "" otherwise.
func (o *overload) look(l Load, active int, now time.Time) (became string) {
	why, acute := l.over()
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.recent[o.next] {
		o.overCount--
	}
	o.recent[o.next] = why != ""
	lateSecond := o.record(l)
	o.next = (o.next + 1) % window
	// At a limit it learned, the node holds calls back; while the last
	// second's packets are late there, the limit is too high.
	holding := active >= o.limit-o.limit/10 && o.limit < o.hard
	if holding && lateSecond && active >= o.floor && now.Sub(o.cut) >= cutEvery {
		o.cutTo(active, now)
	}
	if why == "" {
		o.strikes = 0
		o.saturated = ""
		if holding && !lateSecond {
			o.limit = min(o.hard, o.limit+max(1, o.limit/100))
		}
		return ""
	}
	o.overCount++
	if acute {
		o.strikes++
	} else {
		o.strikes = 0
	}
	if (o.strikes < strikesToSaturate && o.overCount < overInWindow) || active < o.floor {
		return ""
	}
	if o.saturated == "" || now.Sub(o.cut) >= cutEvery {
		o.cutTo(active, now)
	}
	if o.saturated == "" {
		became = why
	}
	o.saturated = why
	return became
}

// record adds a look's packets to the last second's, in the slot of
// recent the look fills, and reports whether their share late is past
// lateBound over the second, in strikesToSaturate of its looks or more;
// o.mu is held. Only a whole second is judged.
func (o *overload) record(l Load) bool {
	i := o.next
	o.sumPaced += l.Paced - o.paced[i]
	o.sumLate += l.PacedLate - o.late[i]
	o.paced[i], o.late[i] = l.Paced, l.PacedLate
	if o.lateLook[i] {
		o.lateLooks--
	}
	o.lateLook[i] = l.PacedLate > 0 && float64(l.PacedLate) > lateBound*float64(l.Paced)
	if o.lateLook[i] {
		o.lateLooks++
	}
	o.looks = min(o.looks+1, window)
	return o.looks == window && o.lateLooks >= strikesToSaturate &&
		o.sumLate >= lateAtLeast && float64(o.sumLate) > lateBound*float64(o.sumPaced)
}

// cutTo cuts the limit learned to nine tenths of the calls in progress
// at now; o.mu is held.
func (o *overload) cutTo(active int, now time.Time) {
	o.limit = max(o.floor, active*9/10, 1)
	o.cut = now
}

// quiet forgets the looks so far, their packets and which of them were
// over a bound: the node has no call in progress, and the next calls are
// judged on their own. The learned limit stays.
func (o *overload) quiet() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.recent, o.overCount, o.strikes = [window]bool{}, 0, 0
	o.paced, o.late, o.lateLook = [window]uint64{}, [window]uint64{}, [window]bool{}
	o.sumPaced, o.sumLate, o.lateLooks, o.looks = 0, 0, 0, 0
}

// OverloadStats are the overload control's figures for the metrics.
type OverloadStats struct {
	Shed      uint64 // calls refused for overload
	Limit     int    // the learned limit of calls in progress
	Saturated bool   // refusing every new call now
}

func (o *overload) stats() OverloadStats {
	o.mu.Lock()
	defer o.mu.Unlock()
	return OverloadStats{Shed: o.shed, Limit: o.limit, Saturated: o.saturated != ""}
}

// watchLoad looks at the node's load every lookEvery while calls are in
// progress or it is saturated, and sleeps otherwise until a call starts.
func (s *Server) watchLoad() {
	timer := time.NewTimer(lookEvery)
	defer timer.Stop()
	planned := time.Now().Add(lookEvery)
	for {
		if int(s.active.Load()) == 0 && !s.overload.stats().Saturated {
			timer.Stop()
			if s.cfg.idle != nil {
				s.cfg.idle()
			}
			select {
			case <-s.stop:
				return
			case <-s.loadKick:
			}
			s.readLoad(time.Now()) // a new baseline: the idle time is no look
			s.overload.quiet()
			planned = time.Now().Add(lookEvery)
			timer.Reset(lookEvery)
		}
		select {
		case <-s.stop:
			return
		case <-timer.C:
		}
		now := time.Now()
		l := s.readLoad(now)
		l.WakeLate = max(l.WakeLate, now.Sub(planned))
		if why := s.overload.look(l, int(s.active.Load()), now); why != "" {
			st := s.overload.stats()
			s.log.Warn().Str("cause", why).Int("calls", int(s.active.Load())).Int("limit", st.Limit).
				Dur("oldest_setup", l.OldestSetup).Dur("longest_setup", l.LongestSetup).Dur("wake_late", l.WakeLate).
				Uint64("paced", l.Paced).Uint64("paced_late", l.PacedLate).
				Msg("overloaded: new calls are refused with 503 until the node keeps up")
		}
		planned = time.Now().Add(lookEvery)
		timer.Reset(lookEvery)
	}
}

// readLoad takes the measures of a look at now: the setups, and the
// pacer's packets since the previous look.
func (s *Server) readLoad(now time.Time) Load {
	var l Load
	s.overload.measure(&l, now)
	sent, late := s.media.Pacing(lateBy)
	l.Paced, l.PacedLate = sent-s.paced[0], late-s.paced[1]
	s.paced = [2]uint64{sent, late}
	if s.cfg.adjustLoad != nil {
		l = s.cfg.adjustLoad(l)
	}
	return l
}

// Overload returns the overload control's figures.
func (s *Server) Overload() OverloadStats { return s.overload.stats() }
