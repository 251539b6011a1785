package routing

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Service enforces the rules of the domain on top of a Store. Every change
// it makes is written together with its report entry in one transaction.
type Service struct {
	store    Store
	now      func() time.Time
	hashCost int
	calls    groupCommit

	// changing is held from the start of a change's transaction until its
	// events are published, so that events go out in commit order.
	changing sync.Mutex
	feed     Feed
	switches [len(channels)]atomic.Uint64
	// following is set while FollowStore runs: the feed then publishes
	// the store's changes in their commit order, this process's and the
	// others' alike, from lastChange (the id of the last one published).
	following  atomic.Bool
	lastChange int64
	// hearing is set while FollowStore hears every change of the others:
	// it listens, and it caught up since it last started to.
	hearing atomic.Bool
	// storeErr is the outcome of WatchStore's last check.
	storeErr atomic.Pointer[storeState]

	// lastView is the last view the calls read (callview.go); viewMu lets
	// one call at a time read a new one; fromCache counts the calls
	// decided from lastView because the store could not be reached.
	lastView  atomic.Pointer[callView]
	viewMu    sync.Mutex
	fromCache atomic.Uint64
	viewReads atomic.Uint64 // views read whole, for the tests

	// groups caches the list of every group, which the REST API and the
	// web page read far more often than it changes. Every committed change
	// drops it; gen counts the changes, so that a list read while a change
	// committed is not kept.
	cacheMu sync.Mutex
	gen     uint64
	groups  []Group
	// shared is set when other processes change the store too: this one
	// keeps no list of groups, and trusts the calls' view only while it
	// hears their changes (FollowStore).
	shared bool

	dummyOnce sync.Once
	dummy     []byte

	// loc is the time zone plans are read in; replanned wakes the
	// scheduler when a plan or an override changed.
	loc       *time.Location
	replanned chan struct{}
}

// Option configures a Service.
type Option func(*Service)

// WithClock sets the clock used for report entries (tests use a fixed one).
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithPasswordCost sets the bcrypt cost of password hashes. Tests lower it;
// production keeps the default.
func WithPasswordCost(cost int) Option { return func(s *Service) { s.hashCost = cost } }

// WithSharedStore tells the service that other processes (other nodes)
// change the store too: it keeps no list of groups, and decides calls
// from its view of the lines only while FollowStore hears every change
// of the others (each call reads the store otherwise).
func WithSharedStore() Option { return func(s *Service) { s.shared = true } }

// NewService returns a Service over store.
func NewService(store Store, opts ...Option) *Service {
	s := &Service{store: store, now: time.Now, hashCost: defaultHashCost, replanned: make(chan struct{}, 1)}
	s.calls.limit = DefaultReportQueue
	s.calls.commit = s.commitCalls
	s.calls.full = make(chan struct{}, 1)
	for _, o := range opts {
		o(s)
	}
	return s
}

// update runs fn in a write transaction and, once it is committed,
// publishes the report entries fn appended as events.
func (s *Service) update(ctx context.Context, fn func(Tx) error) error {
	s.changing.Lock()
	defer s.changing.Unlock()
	rt := reportingTx{}
	err := s.store.Update(ctx, func(tx Tx) error {
		rt.Tx, rt.entries = tx, rt.entries[:0]
		return fn(&rt)
	})
	if err != nil {
		return err
	}
	s.changed(ctx, rt.entries)
	for _, e := range rt.entries {
		if e.Action == ActionDiversion {
			s.switches[channelIndex(e.Channel)].Add(1)
		}
	}
	if s.following.Load() {
		// Another process's change may have committed just before this
		// one: publish both in their order. Should the read fail, the
		// store's notice of this commit tries again.
		_ = s.catchUp(context.WithoutCancel(ctx))
		return nil
	}
	s.feed.publish(rt.entries)
	return nil
}

// reportingTx remembers the report entries appended through it.
type reportingTx struct {
	Tx
	entries []ReportEntry
}

func (t *reportingTx) AppendReport(e *ReportEntry) error {
	if err := t.Tx.AppendReport(e); err != nil {
		return err
	}
	t.entries = append(t.entries, *e)
	return nil
}

// Events is the feed of committed changes.
func (s *Service) Events() *Feed { return &s.feed }

// channels are the channels switches are counted by.
var channels = [...]Channel{ChannelWeb, ChannelPhone, ChannelREST, ChannelSIP, ChannelSchedule, ChannelSystem}

func channelIndex(ch Channel) int {
	for i, c := range channels {
		if c == ch {
			return i
		}
	}
	return len(channels) - 1
}

// SwitchCounts returns how many switches each channel made since the
// service started.
func (s *Service) SwitchCounts() map[Channel]uint64 {
	out := make(map[Channel]uint64, len(channels))
	for i, c := range channels {
		out[c] = s.switches[i].Load()
	}
	return out
}

// view runs fn in a read transaction.
func (s *Service) view(ctx context.Context, fn func(Tx) error) error {
	return s.store.View(ctx, fn)
}

// report appends an entry stamped with the service clock.
func (s *Service) report(tx Tx, e ReportEntry) error {
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	return tx.AppendReport(&e)
}

// RecordCall appends the report entry of a handled call and returns once
// it is committed. Its action is forced to "Call Handler" and its channel
// to "sip"; an empty username is filled in with the owner of the receiver
// number. Entries recorded at the same moment share one transaction (group
// commit): at hundreds of calls per second a transaction each would spend
// most of the program's time committing. While the store cannot be
// reached, entries are kept in memory, up to WithReportQueue's bound, and
// written when it answers again: RecordCall then returns an error that
// is ErrReportKept, or ErrReportDropped when the queue is full.
func (s *Service) RecordCall(ctx context.Context, e ReportEntry) error {
	e.Action, e.Channel = ActionCallHandler, ChannelSIP
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	return s.calls.record(ctx, e)
}

// ReportQueue tells how many call entries wait in memory for the store
// to answer, and how many were dropped because the queue was full.
func (s *Service) ReportQueue() (kept int, dropped uint64) {
	s.calls.mu.Lock()
	defer s.calls.mu.Unlock()
	return len(s.calls.kept) + s.calls.retrying, s.calls.dropped
}

// FlushReports tries once to write the call entries kept while the store
// could not be reached, and returns how many are still kept (the program
// stops: they are lost, and it says so).
func (s *Service) FlushReports(ctx context.Context) int {
	s.calls.mu.Lock()
	kept := s.calls.kept
	s.calls.kept = nil
	s.calls.mu.Unlock()
	if len(kept) == 0 {
		return 0
	}
	if err := s.commitCalls(ctx, kept); err != nil {
		return len(kept)
	}
	return 0
}

// commitCalls writes a batch of call entries in one transaction. Calls
// are not changes: their entries go straight to the store, without the
// change lock and the feed. The owner of each receiver is looked up once
// a batch: the calls of a batch often went to the same few lines.
func (s *Service) commitCalls(ctx context.Context, batch []ReportEntry) error {
	return s.store.Update(ctx, func(tx Tx) error {
		owners := make(map[string]string)
		for _, e := range batch {
			if e.Username == "" {
				name, ok := owners[e.Receiver]
				if !ok {
					var err error
					if name, err = usernameOf(tx, e.Receiver); err != nil {
						return err
					}
					owners[e.Receiver] = name
				}
				e.Username = name
			}
			if err := s.report(tx, e); err != nil {
				return err
			}
		}
		return nil
	})
}

// Errors of RecordCall while the store cannot be reached.
var (
	// ErrReportKept: the entry is kept in memory and will be written when
	// the store answers.
	ErrReportKept = errors.New("the report entry is kept in memory until the store answers")
	// ErrReportDropped: the queue of kept entries is full; the entry is
	// lost.
	ErrReportDropped = errors.New("the report entry is lost: the queue of entries waiting for the store is full")
)

// Group commit timing.
const (
	// groupWindow is how long a group commit waits for company: the
	// entries recorded meanwhile share its transaction. A call's entry is
	// recorded once the call is over, so nobody on the line waits for it;
	// a commit costs nearly as much for one entry as for several (its
	// sync to disk, and the pages of the table and its four indexes), and
	// at 20 calls a second a commit each was a fifth of the program's CPU.
	// At that rate it now gathers four.
	groupWindow = 200 * time.Millisecond
	// groupSize starts the commit without waiting out the window once
	// this many entries wait: at 400 calls a second, every 40 ms. Each
	// waiting entry keeps its call in memory; 64 kept the peak at 400
	// calls a second 2 MB higher.
	groupSize = 16
	// keptRetry is how long it waits before it tries a store that could
	// not be reached again; commitTimeout bounds one commit.
	keptRetry     = time.Second
	commitTimeout = 10 * time.Second
	// DefaultReportQueue is how many call entries are kept in memory while
	// the store cannot be reached: at 20 calls a second, eight minutes.
	DefaultReportQueue = 10000
)

// WithReportQueue sets how many call entries are kept in memory while the
// store cannot be reached (default DefaultReportQueue).
func WithReportQueue(n int) Option { return func(s *Service) { s.calls.limit = n } }

// groupCommit gathers the entries recorded while a commit is in progress
// and commits them together in the next one. A committer goroutine of its
// own runs while entries keep coming and stops when none is left; whoever
// records waits for the commit of its entry, and nobody is answered
// before it. (The recorder itself used to commit for everyone and kept
// doing so while entries kept coming: its call never ended.) Entries
// whose commit found the store unreachable are kept, oldest first, and
// go first into the next commit; while some are kept, recorders do not
// wait.
type groupCommit struct {
	commit  func(context.Context, []ReportEntry) error
	limit   int
	mu      sync.Mutex
	pending []pendingEntry
	kept    []ReportEntry
	// retrying counts the kept entries of the commit in progress.
	retrying int
	dropped  uint64
	running  bool
	// full tells the committer that groupSize entries wait.
	full chan struct{}
}

type pendingEntry struct {
	e    ReportEntry
	done chan error
}

func (g *groupCommit) record(ctx context.Context, e ReportEntry) error {
	g.mu.Lock()
	if len(g.kept) > 0 || g.retrying > 0 {
		// The store did not answer the last commit: no waiting.
		err := g.keep([]ReportEntry{e})
		g.mu.Unlock()
		return err
	}
	done := make(chan error, 1)
	g.pending = append(g.pending, pendingEntry{e: e, done: done})
	if len(g.pending) == groupSize {
		g.signalFull()
	}
	start := !g.running
	g.running = true
	g.mu.Unlock()
	if start {
		go g.run()
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// signalFull tells the committer that groupSize entries wait.
func (g *groupCommit) signalFull() {
	select {
	case g.full <- struct{}{}:
	default:
	}
}

// keep adds entries to the kept ones, as many as the limit allows, and
// says what became of them. Call it holding g.mu.
func (g *groupCommit) keep(es []ReportEntry) error {
	room := max(g.limit-len(g.kept)-g.retrying, 0)
	if len(es) <= room {
		g.kept = append(g.kept, es...)
		return ErrReportKept
	}
	g.kept = append(g.kept, es[:room]...)
	g.dropped += uint64(len(es) - room)
	return ErrReportDropped
}

// run commits batches until none is pending.
func (g *groupCommit) run() {
	wait := time.NewTimer(groupWindow)
	defer wait.Stop()
	for {
		// Let the entries of the coming moments join this commit, up to
		// groupSize of them.
		select {
		case <-wait.C:
		case <-g.full:
		}
		g.mu.Lock()
		batch, kept := g.pending, g.kept
		if len(batch) > groupSize {
			// More came while the committer was being woken: the
			// rest go in the next commit.
			batch = batch[:groupSize]
		}
		g.pending = slices.Clone(g.pending[len(batch):])
		g.kept, g.retrying = nil, len(g.kept)
		select {
		case <-g.full: // told of the entries just taken
		default:
		}
		if len(batch) == 0 && len(kept) == 0 {
			g.running = false
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		entries := append(make([]ReportEntry, 0, len(kept)+len(batch)), kept...)
		for _, p := range batch {
			entries = append(entries, p.e)
		}
		ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
		err := g.commit(ctx, entries)
		cancel()
		if ErrorCode(err) == EUNAVAILABLE {
			// Keep them all, the older first; each recorder hears
			// whether its entry was kept.
			wait.Reset(keptRetry)
			g.mu.Lock()
			g.kept, g.retrying = append(kept, g.kept...), 0
			for _, p := range batch {
				p.done <- fmt.Errorf("%w: %w", g.keep([]ReportEntry{p.e}), err)
			}
			g.mu.Unlock()
			continue
		}
		g.mu.Lock()
		if len(g.pending) >= groupSize {
			g.signalFull()
		}
		wait.Reset(groupWindow)
		g.retrying = 0
		if err != nil {
			g.dropped += uint64(len(kept))
		}
		g.mu.Unlock()
		for _, p := range batch {
			p.done <- err
		}
	}
}

// lineGroup returns the line and group of a network number, nil when it is
// none of ours.
func lineGroup(tx Tx, number string) (*LineGroup, error) {
	key := numberKey(number)
	if key == "" {
		return nil, nil
	}
	l, err := tx.Line(key)
	if ErrorCode(err) == ENOTFOUND {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	g, err := tx.Group(l.GroupID)
	if err != nil {
		return nil, err
	}
	return &LineGroup{Line: l, Group: g}, nil
}

// GroupOfLine returns the line and the group a line number belongs to, or
// ENOTFOUND. It is the lookup every call makes.
func (s *Service) GroupOfLine(ctx context.Context, number string) (LineGroup, error) {
	var lg *LineGroup
	err := s.view(ctx, func(tx Tx) error {
		var err error
		lg, err = lineGroup(tx, number)
		return err
	})
	if err != nil {
		return LineGroup{}, err
	}
	if lg == nil {
		return LineGroup{}, FieldErrorf(ENOTFOUND, "lineNumber", "line %q is in no group", number)
	}
	return *lg, nil
}
