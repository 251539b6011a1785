package routing

import (
	"context"
	"sync/atomic"
	"time"
)

// callView is what the decisions of calls read: the settings and every
// line with its group, as the store held them at one moment. Only its
// groups' states change once it is read: a switch stores a group's new
// state in the group's cell (patchView); any other change makes a new
// view.
type callView struct {
	// gen is the count of changes (Service.gen) the view shows.
	gen      atomic.Uint64
	settings Settings
	// lines holds every line by its number, with its group's cell.
	lines map[string]viewLine
	// groups holds every group's cell by its id.
	groups map[int64]*atomic.Pointer[Group]
}

// viewLine is a line of the view and the cell of its group.
type viewLine struct {
	line  Line
	group *atomic.Pointer[Group]
}

// facts returns what Decide needs about call.
func (v *callView) facts(call Call) Facts {
	return Facts{Settings: v.settings, CalledLine: v.line(call.Called), InitialLine: v.line(call.Initial)}
}

func (v *callView) line(number string) *LineGroup {
	key := numberKey(number)
	if key == "" {
		return nil
	}
	vl, ok := v.lines[key]
	if !ok {
		return nil
	}
	return &LineGroup{Line: vl.line, Group: *vl.group.Load()}
}

// readCallView reads the view of the store at change count gen.
func readCallView(tx Tx, gen uint64) (*callView, error) {
	v := &callView{}
	v.gen.Store(gen)
	var err error
	if v.settings, err = tx.Settings(); err != nil {
		return nil, err
	}
	groups, err := tx.Groups(GroupFilter{})
	if err != nil {
		return nil, err
	}
	v.groups = make(map[int64]*atomic.Pointer[Group], len(groups))
	for i := range groups {
		cell := &atomic.Pointer[Group]{}
		cell.Store(&groups[i])
		v.groups[groups[i].ID] = cell
	}
	lines, err := tx.AllLines()
	if err != nil {
		return nil, err
	}
	v.lines = make(map[string]viewLine, len(lines))
	for _, l := range lines {
		if cell, ok := v.groups[l.GroupID]; ok {
			v.lines[l.Number] = viewLine{line: l, group: cell}
		}
	}
	return v, nil
}

// changed records that changes committed, whose report entries are es:
// the list of groups is dropped, and the calls' view follows them. When
// every change is a switch, the switched groups are read and stored in
// the view, which then shows the changes; otherwise the next call reads
// a new view. Call it after the commit, holding s.changing.
func (s *Service) changed(ctx context.Context, es []ReportEntry) {
	ctx = context.WithoutCancel(ctx) // committed: the view must follow
	var switched map[int64]Group
	if s.lastView.Load() != nil && onlySwitches(es) {
		switched = map[int64]Group{}
		err := s.view(ctx, func(tx Tx) error {
			for _, e := range es {
				if _, ok := switched[e.GroupID]; ok {
					continue
				}
				g, err := tx.Group(e.GroupID)
				if err != nil {
					return err
				}
				switched[e.GroupID] = g
			}
			return nil
		})
		if err != nil {
			switched = nil
		}
	}
	s.cacheMu.Lock()
	defer s.cacheMu.Unlock()
	s.gen++
	s.groups = nil
	if v := s.lastView.Load(); switched != nil && v != nil && v.gen.Load() == s.gen-1 {
		for id := range switched {
			if v.groups[id] == nil {
				return // a group the view does not know: it is read anew
			}
		}
		for id, g := range switched {
			v.groups[id].Store(&g)
		}
		v.gen.Store(s.gen)
	}
}

// onlySwitches reports whether es are switches of groups and nothing else.
func onlySwitches(es []ReportEntry) bool {
	for _, e := range es {
		if e.Action != ActionDiversion || e.GroupID == 0 {
			return false
		}
	}
	return len(es) > 0
}

// Bounds of the reads made for a call when a view to fall back on
// exists: a store that does not answer in this time is taken as
// unreachable for that call. Reading a whole view of 100,000 lines takes
// about 0.2 s on the benchmark's machine: its bound leaves room for a
// busy one.
const (
	callReadTimeout = time.Second
	viewReadTimeout = 5 * time.Second
)

// DecideCall returns Decide's answer for call, from the facts of the
// store. The calls read a view of the settings, lines and groups kept in
// memory, read again after every change this process makes or hears of
// (a shared store's changes are heard through FollowStore; while this
// process does not hear them, each call reads the store). When the store
// cannot be reached, calls are decided from the last view read — what the
// node last knew — and counted (CallsFromCache); the error is returned
// only when there is none.
func (s *Service) DecideCall(ctx context.Context, call Call) (Decision, error) {
	facts, err := s.callFacts(ctx, call)
	if err != nil {
		return Decision{}, err
	}
	return Decide(call, facts), nil
}

func (s *Service) callFacts(ctx context.Context, call Call) (Facts, error) {
	last := s.lastView.Load()
	if last != nil && s.StoreHealth() != nil {
		s.fromCache.Add(1)
		return last.facts(call), nil
	}
	if !s.shared || s.hearing.Load() || last == nil {
		// (A node that does not hear the others yet reads a whole view
		// once, to have something to fall back on.)
		v, err := s.currentCallView(ctx, last)
		if err == nil {
			return v.facts(call), nil
		}
		if last == nil {
			return Facts{}, err
		}
		s.fromCache.Add(1)
		return last.facts(call), nil
	}
	// Changes of other nodes may go unheard: read this call's facts.
	rctx, cancel := fallbackBound(ctx, last, callReadTimeout)
	defer cancel()
	var facts Facts
	err := s.view(rctx, func(tx Tx) error {
		var err error
		if facts.Settings, err = tx.Settings(); err != nil {
			return err
		}
		if facts.CalledLine, err = lineGroup(tx, call.Called); err != nil {
			return err
		}
		facts.InitialLine, err = lineGroup(tx, call.Initial)
		return err
	})
	if err != nil && last != nil && ctx.Err() == nil {
		s.fromCache.Add(1)
		return last.facts(call), nil
	}
	return facts, err
}

// currentCallView returns the view of the latest change this process
// knows of, reading it when last is older; one caller reads, the others
// wait for its view.
func (s *Service) currentCallView(ctx context.Context, last *callView) (*callView, error) {
	gen := s.generation()
	if last != nil && last.gen.Load() == gen {
		return last, nil
	}
	s.viewMu.Lock()
	defer s.viewMu.Unlock()
	if v := s.lastView.Load(); v != nil && v.gen.Load() == s.generation() {
		return v, nil
	}
	rctx, cancel := fallbackBound(ctx, last, viewReadTimeout)
	defer cancel()
	gen = s.generation()
	var v *callView
	err := s.view(rctx, func(tx Tx) error {
		var err error
		v, err = readCallView(tx, gen)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.viewReads.Add(1)
	s.lastView.Store(v)
	return v, nil
}

// fallbackBound bounds a read by d when there is a view to fall back on
// (last); without one the read may take as long as ctx allows.
func fallbackBound(ctx context.Context, last *callView, d time.Duration) (context.Context, context.CancelFunc) {
	if last == nil {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d)
}

// generation returns the count of changes this process made or heard of.
func (s *Service) generation() uint64 {
	s.cacheMu.Lock()
	defer s.cacheMu.Unlock()
	return s.gen
}

// CallsFromCache returns how many calls were decided from the last view
// of the store because the store could not be reached.
func (s *Service) CallsFromCache() uint64 { return s.fromCache.Load() }
