package routing

import (
	"context"
	"fmt"
	"slices"
)

// Groups returns the groups matching f, ordered by name. The list of
// every group is kept between changes.
func (s *Service) Groups(ctx context.Context, f GroupFilter) ([]Group, error) {
	all := f == GroupFilter{}
	s.cacheMu.Lock()
	gen, cached := s.gen, s.groups
	s.cacheMu.Unlock()
	if all && cached != nil {
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
func (s *Service) SetState(ctx context.Context, groupID int64, on bool, actor Actor, ch Channel) (Group, error) {
	return s.switchState(ctx, groupID, func(bool) bool { return on }, actor, ch)
}

// Toggle switches a group to the opposite of its current state, reading and
// writing it in one transaction so that concurrent toggles never lose one.
// The answer is the group as it is after the switch. Errors: ENOTFOUND.
func (s *Service) Toggle(ctx context.Context, groupID int64, actor Actor, ch Channel) (Group, error) {
	return s.switchState(ctx, groupID, func(cur bool) bool { return !cur }, actor, ch)
}

func (s *Service) switchState(ctx context.Context, groupID int64, next func(bool) bool, actor Actor, ch Channel) (Group, error) {
	var g Group
	err := s.update(ctx, func(tx Tx) error {
		var err error
		if g, err = tx.Group(groupID); err != nil {
			return err
		}
		g.On = next(g.On)
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
	return g, nil
}
