package routing

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Groups returns the groups matching f, ordered by name. The list of
// every group is kept between changes.
func (s *Service) Groups(ctx context.Context, f GroupFilter) ([]Group, error) {
	all := f == GroupFilter{} && !s.shared
	s.cacheMu.Lock()
	gen, cached := s.gen, s.groups
	s.cacheMu.Unlock()
	if all && cached != nil {
		if len(cached) == 0 {
			return nil, nil // as the store answers: no groups is nil
		}
		return slices.Clone(cached), nil
	}
	var out []Group
	err := s.view(ctx, func(tx Tx) error {
		var err error
		out, err = tx.Groups(f)
		return err
	})
	if err == nil && all {
		s.cacheMu.Lock()
		if s.gen == gen {
			s.groups = slices.Clip(slices.Clone(out))
			if s.groups == nil {
				s.groups = []Group{}
			}
		}
		s.cacheMu.Unlock()
	}
	return out, err
}

// Group returns one group, or ENOTFOUND on the field "groupId".
func (s *Service) Group(ctx context.Context, id int64) (Group, error) {
	var g Group
	err := s.view(ctx, func(tx Tx) error {
		var err error
		g, err = tx.Group(id)
		return err
	})
	return g, err
}

// validateGroup checks and normalizes the user-given fields of g.
func validateGroup(g *Group) error {
	var err error
	if g.Name, err = cleanText("groupName", g.Name, maxNameLen, true); err != nil {
		return err
	}
	if g.Description, err = cleanText("description", g.Description, maxDescriptionLen, false); err != nil {
		return err
	}
	if g.Destination, err = NormalizeNumber("destination", g.Destination); err != nil {
		return err
	}
	if g.AnnouncementID < 0 {
		return FieldErrorf(EINVALID, "announcementId", "must not be negative")
	}
	return nil
}

// checkGroupRefs checks that a group's name is free (for another group than
// its own) and that its announcement exists.
func checkGroupRefs(tx Tx, g *Group) error {
	same, err := tx.Groups(GroupFilter{Name: g.Name})
	if err != nil {
		return err
	}
	for _, o := range same {
		if o.ID != g.ID {
			return FieldErrorf(ECONFLICT, "groupName", "a group named %q already exists", g.Name)
		}
	}
	if g.AnnouncementID != 0 {
		if _, err := tx.Announcement(g.AnnouncementID); ErrorCode(err) == ENOTFOUND {
			return FieldErrorf(EINVALID, "announcementId", "announcement %d does not exist", g.AnnouncementID)
		} else if err != nil {
			return err
		}
	}
	return nil
}

// CreateGroup validates and stores a new group (its state starts as given,
// normally OFF) and reports it. Errors: EINVALID for a bad field, ECONFLICT
// for a name in use.
func (s *Service) CreateGroup(ctx context.Context, actor Actor, ch Channel, g Group) (Group, error) {
	g.ID = 0
	if err := validateGroup(&g); err != nil {
		return Group{}, err
	}
	err := s.update(ctx, func(tx Tx) error {
		if err := checkGroupRefs(tx, &g); err != nil {
			return err
		}
		if err := tx.InsertGroup(&g); err != nil {
			return err
		}
		return s.report(tx, ReportEntry{Action: ActionGroup, Status: StatusCreated, Username: actor.Name,
			Receiver: g.Destination, Group: g.Name, GroupID: g.ID, Channel: ch})
	})
	if err != nil {
		return Group{}, err
	}
	return g, nil
}

// UpdateGroup changes the given fields of a group and reports it. Errors:
// ENOTFOUND, EINVALID, ECONFLICT.
func (s *Service) UpdateGroup(ctx context.Context, actor Actor, ch Channel, id int64, up GroupUpdate) (Group, error) {
	var g Group
	err := s.update(ctx, func(tx Tx) error {
		var err error
		if g, err = tx.Group(id); err != nil {
			return err
		}
		old := g
		if up.Name != nil {
			g.Name = *up.Name
		}
		if up.Description != nil {
			g.Description = *up.Description
		}
		if up.Destination != nil {
			g.Destination = *up.Destination
		}
		if up.AnnouncementID != nil {
			g.AnnouncementID = *up.AnnouncementID
		}
		if err := validateGroup(&g); err != nil {
			return err
		}
		if err := checkGroupRefs(tx, &g); err != nil {
			return err
		}
		if err := tx.UpdateGroup(&g); err != nil {
			return err
		}
		detail := ""
		if old.Name != g.Name {
			detail = fmt.Sprintf("renamed from %q", old.Name)
		}
		return s.report(tx, ReportEntry{Action: ActionGroup, Status: StatusChanged, Username: actor.Name,
			Receiver: g.Destination, Group: g.Name, GroupID: g.ID, Channel: ch, Detail: detail})
	})
	if err != nil {
		return Group{}, err
	}
	return g, nil
}

// DeleteGroup removes a group with its lines and reports it, the lines
// included. Errors: ENOTFOUND.
func (s *Service) DeleteGroup(ctx context.Context, actor Actor, ch Channel, id int64) error {
	return s.update(ctx, func(tx Tx) error {
		g, err := tx.Group(id)
		if err != nil {
			return err
		}
		lines, err := tx.Lines(id)
		if err != nil {
			return err
		}
		if err := tx.DeleteGroup(id); err != nil {
			return err
		}
		detail := ""
		if len(lines) > 0 {
			detail = fmt.Sprintf("with %d line(s)", len(lines))
		}
		if err := s.report(tx, ReportEntry{Action: ActionGroup, Status: StatusDeleted, Username: actor.Name,
			Receiver: g.Destination, Group: g.Name, GroupID: g.ID, Channel: ch, Detail: detail}); err != nil {
			return err
		}
		for _, l := range lines {
			if err := s.report(tx, ReportEntry{Action: ActionLine, Status: StatusDeleted, Username: actor.Name,
				Receiver: l.Number, Group: g.Name, GroupID: g.ID, Channel: ch, Detail: "with its group"}); err != nil {
				return err
			}
		}
		return nil
	})
}

// SetState switches a group ON or OFF and reports the switch, in one
// transaction. Switching to the state the group already has is still
// reported: both people who pressed the button see their action. The answer
// is the group as it is after the switch. Errors: ENOTFOUND.
//
// A group that follows a plan keeps the manual state until the plan's
// next change; SetStateUntil chooses another end.
func (s *Service) SetState(ctx context.Context, groupID int64, on bool, actor Actor, ch Channel) (Group, error) {
	return s.switchState(ctx, groupID, func(bool) bool { return on }, time.Time{}, actor, ch)
}

// SetStateUntil is SetState with the manual state held until the time
// until, after which the group's plan takes over again. Errors: EINVALID
// (until not in the future, or more than a year ahead, or a group that
// follows no plan), ENOTFOUND.
func (s *Service) SetStateUntil(ctx context.Context, groupID int64, on bool, until time.Time, actor Actor, ch Channel) (Group, error) {
	now := s.now()
	if !until.After(now) || until.After(now.AddDate(1, 0, 0)) {
		return Group{}, FieldErrorf(EINVALID, "until", "is not within the coming year")
	}
	return s.switchState(ctx, groupID, func(bool) bool { return on }, until, actor, ch)
}

// Toggle switches a group to the opposite of its current state, reading and
// writing it in one transaction so that concurrent toggles never lose one.
// The answer is the group as it is after the switch. Errors: ENOTFOUND.
func (s *Service) Toggle(ctx context.Context, groupID int64, actor Actor, ch Channel) (Group, error) {
	return s.switchState(ctx, groupID, func(cur bool) bool { return !cur }, time.Time{}, actor, ch)
}

func (s *Service) switchState(ctx context.Context, groupID int64, next func(bool) bool, until time.Time, actor Actor, ch Channel) (Group, error) {
	var g Group
	err := s.update(ctx, func(tx Tx) error {
		var err error
		if g, err = tx.Group(groupID); err != nil {
			return err
		}
		g.On = next(g.On)
		if err := s.holdManual(tx, &g, until); err != nil {
			return err
		}
		if err := tx.UpdateGroup(&g); err != nil {
			return err
		}
		st := StatusDeactivated
		if g.On {
			st = StatusActivated
		}
		return s.report(tx, ReportEntry{Action: ActionDiversion, Status: st, Username: actor.Name,
			Receiver: g.Destination, Group: g.Name, GroupID: g.ID, Channel: ch})
	})
	if err != nil {
		return Group{}, err
	}
	s.replan()
	return g, nil
}

// holdManual records, on a group that follows a plan, how long its manual
// switch holds: until the chosen time, else until the plan's next change
// when the switch goes against the plan, else not at all. The plan's
// last change counts as applied, so that the scheduler does not undo the
// switch. A group without a plan takes no chosen time.
func (s *Service) holdManual(tx Tx, g *Group, until time.Time) error {
	p, err := s.planIn(tx, g.ID)
	if err != nil {
		return err
	}
	if p.Empty() {
		if !until.IsZero() {
			return FieldErrorf(EINVALID, "until", "applies to a group that follows a schedule")
		}
		g.OverrideUntil = time.Time{}
		return nil
	}
	now := s.now()
	want, next := p.Want(now)
	switch {
	case !until.IsZero():
		g.OverrideUntil = until
	case g.On != want:
		g.OverrideUntil = next // zero when the plan never changes: it holds
	default:
		g.OverrideUntil = time.Time{}
	}
	last := p.Last(now)
	if last.IsZero() {
		last = time.Unix(0, 1)
	}
	if g.ScheduleApplied.Before(last) {
		g.ScheduleApplied = last
	}
	return nil
}
