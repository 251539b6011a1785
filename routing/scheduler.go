package routing

import (
	"context"
	"time"
)

// The scheduler switches groups at the moments their plans change. It
// keeps one timer, for the earliest next change of any group, and
// recomputes it when a plan or a manual switch changes. Each change is
// one transaction with its report entry; the group records the moment of
// the last change applied to it, so applying a change again (a second
// node on the same database, a restart) changes nothing.

// replan wakes the scheduler to recompute its next moment.
func (s *Service) replan() {
	select {
	case s.replanned <- struct{}{}:
	default:
	}
}

// due returns the moment of the scheduled change a group is waiting to
// have applied at now, and whether there is one: the plan's last change
// (or the end of a manual switch that has run out, when later), if the
// group has not had it applied. A manual switch that still holds defers
// every change until it runs out.
func due(g Group, p Plan, now time.Time) (time.Time, bool) {
	if p.Empty() || g.OverrideUntil.After(now) {
		return time.Time{}, false
	}
	moment := p.Last(now)
	if g.OverrideUntil.After(moment) {
		moment = g.OverrideUntil
	}
	if moment.IsZero() {
		moment = time.Unix(0, 1) // a plan that never changes: applied once
	}
	return moment, g.ScheduleApplied.Before(moment)
}

// NextChange is what a group's plan does next: at At the group becomes
// On; Manual tells that the group's present state is a manual switch
// that holds until then.
type NextChange struct {
	At     time.Time
	On     bool
	Manual bool
}

// nextChange returns a group's next change at now; ok is false when the
// group follows no plan, or its plan never changes again.
func nextChange(g Group, p Plan, now time.Time) (NextChange, bool) {
	if p.Empty() {
		return NextChange{}, false
	}
	if g.OverrideUntil.After(now) {
		on, _ := p.Want(g.OverrideUntil)
		return NextChange{At: g.OverrideUntil, On: on, Manual: true}, true
	}
	on, next := p.Want(now)
	if next.IsZero() {
		return NextChange{}, false
	}
	return NextChange{At: next, On: !on}, true
}

// Now returns the service's clock reading (the moment next changes are
// shown from).
func (s *Service) Now() time.Time { return s.now() }

// NextChanges returns, for every group that follows a plan which changes
// again, its next change at now.
func (s *Service) NextChanges(ctx context.Context, now time.Time) (map[int64]NextChange, error) {
	out := map[int64]NextChange{}
	err := s.view(ctx, func(tx Tx) error {
		groups, plans, err := s.groupsAndPlans(tx)
		if err != nil {
			return err
		}
		for _, g := range groups {
			if nc, ok := nextChange(g, plans[g.ID], now); ok {
				out[g.ID] = nc
			}
		}
		return nil
	})
	return out, err
}

// groupsAndPlans reads every group and the plans of those that have one;
// with no schedule and no holiday at all (the common case, on every
// listGroups) it reads no group.
func (s *Service) groupsAndPlans(tx Tx) ([]Group, map[int64]Plan, error) {
	all, err := tx.Schedules()
	if err != nil {
		return nil, nil, err
	}
	hols, err := tx.Holidays()
	if err != nil {
		return nil, nil, err
	}
	plans := map[int64]Plan{}
	if len(all) == 0 && len(hols) == 0 {
		return nil, plans, nil
	}
	groups, err := tx.Groups(GroupFilter{})
	if err != nil {
		return nil, nil, err
	}
	for _, g := range groups {
		if p := s.plan(g.ID, all[g.ID], hols); !p.Empty() {
			plans[g.ID] = p
		}
	}
	return groups, plans, nil
}

// Tick applies every scheduled change due at now and returns the next
// moment one is due (zero: none). The scheduler calls it at its timer's
// moments; tests call it with the moments they simulate.
func (s *Service) Tick(ctx context.Context, now time.Time) (time.Time, error) {
	var groups []Group
	var plans map[int64]Plan
	err := s.view(ctx, func(tx Tx) error {
		var err error
		groups, plans, err = s.groupsAndPlans(tx)
		return err
	})
	if err != nil {
		return time.Time{}, err
	}
	var next time.Time
	for _, g := range groups {
		p := plans[g.ID]
		if _, ok := due(g, p, now); ok {
			if err := s.applyPlan(ctx, g.ID, now); err != nil {
				return time.Time{}, err
			}
		}
		if nc, ok := nextChange(g, p, now); ok && (next.IsZero() || nc.At.Before(next)) {
			next = nc.At
		}
	}
	return next, nil
}

// applyPlan switches a group to the state its plan wants at now, in one
// transaction that reads the group again: the change is applied once,
// whoever else applies it.
func (s *Service) applyPlan(ctx context.Context, groupID int64, now time.Time) error {
	return s.update(ctx, func(tx Tx) error {
		g, err := tx.Group(groupID)
		if err != nil {
			return err
		}
		p, err := s.planIn(tx, groupID)
		if err != nil {
			return err
		}
		moment, ok := due(g, p, now)
		if !ok {
			return nil // applied meanwhile, or no longer due
		}
		on, _ := p.Want(now)
		changed := g.On != on
		g.On, g.ScheduleApplied, g.OverrideUntil = on, moment, time.Time{}
		if err := tx.UpdateGroup(&g); err != nil {
			return err
		}
		if !changed {
			return nil
		}
		st := StatusDeactivated
		if on {
			st = StatusActivated
		}
		return s.report(tx, ReportEntry{Time: now, Action: ActionDiversion, Status: st, Username: ScheduleActor,
			Receiver: g.Destination, Group: g.Name, GroupID: g.ID, Channel: ChannelSchedule})
	})
}

// RunScheduler applies the plans until ctx ends: at start the state each
// plan wants now (once), then each change at its moment. A failed change
// is retried a minute later; errors go to onError.
func (s *Service) RunScheduler(ctx context.Context, onError func(error)) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-s.replanned:
		}
		next, err := s.Tick(ctx, s.now())
		wait := time.Hour // look again now and then: the zone's rules, a clock set
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			onError(err)
			wait = time.Minute
		case !next.IsZero():
			wait = min(wait, max(next.Sub(s.now()), 0))
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(wait)
	}
}
