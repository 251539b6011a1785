package routing

import (
	"context"
	"fmt"
)

// LineInfo is a line with the label of the user who owns its number.
type LineInfo struct {
	Line
	// Username is the owner rendered "Display Name, Department"; "" when
	// nobody owns the number.
	Username string
}

// Lines returns the lines of a group with their owners. Errors: ENOTFOUND
// when the group does not exist.
func (s *Service) Lines(ctx context.Context, groupID int64) ([]LineInfo, error) {
	var out []LineInfo
	err := s.view(ctx, func(tx Tx) error {
		if _, err := tx.Group(groupID); err != nil {
			return err
		}
		lines, err := tx.Lines(groupID)
		if err != nil {
			return err
		}
		out = make([]LineInfo, len(lines))
		for i, l := range lines {
			out[i].Line = l
			if out[i].Username, err = usernameOf(tx, l.Number); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// AddLine adds a line to a group and reports it. A number already in a group
// (this one or another) is an ECONFLICT error that names the group which has
// it. Errors: ENOTFOUND (group), EINVALID, ECONFLICT.
func (s *Service) AddLine(ctx context.Context, actor Actor, ch Channel, groupID int64, number, description string) (Line, error) {
	n, desc, err := lineInput(number, description)
	if err != nil {
		return Line{}, err
	}
	l := Line{Number: n, Description: desc, GroupID: groupID}
	err = s.update(ctx, func(tx Tx) error {
		g, err := tx.Group(groupID)
		if err != nil {
			return err
		}
		if have, err := tx.Line(n); err == nil {
			other, err := tx.Group(have.GroupID)
			if err != nil {
				return err
			}
			return FieldErrorf(ECONFLICT, "lineNumber", "line %s already belongs to group %q", n, other.Name)
		} else if ErrorCode(err) != ENOTFOUND {
			return err
		}
		if err := tx.InsertLine(l); err != nil {
			return err
		}
		return s.report(tx, ReportEntry{Action: ActionLine, Status: StatusCreated, Username: actor.Name,
			Receiver: n, Group: g.Name, GroupID: g.ID, Channel: ch})
	})
	if err != nil {
		return Line{}, err
	}
	return l, nil
}

// lineInput checks and normalizes the user-given fields of a line.
func lineInput(number, description string) (string, string, error) {
	n, err := NormalizeNumber("lineNumber", number)
	if err != nil {
		return "", "", err
	}
	desc, err := cleanText("description", description, maxDescriptionLen, false)
	return n, desc, err
}

// lineOfGroup returns the line with the number when it belongs to the group.
func lineOfGroup(tx Tx, groupID int64, number string) (Group, Line, error) {
	g, err := tx.Group(groupID)
	if err != nil {
		return Group{}, Line{}, err
	}
	l, err := tx.Line(number)
	if err == nil && l.GroupID != groupID {
		err = FieldErrorf(ENOTFOUND, "lineNumber", "line %s is not in group %q", number, g.Name)
	}
	return g, l, err
}

// UpdateLine changes the description of a line of a group (the number of a
// line is its identity and does not change). Errors: ENOTFOUND, EINVALID.
func (s *Service) UpdateLine(ctx context.Context, actor Actor, ch Channel, groupID int64, number, description string) (Line, error) {
	n, desc, err := lineInput(number, description)
	if err != nil {
		return Line{}, err
	}
	var l Line
	err = s.update(ctx, func(tx Tx) error {
		var g Group
		var err error
		if g, l, err = lineOfGroup(tx, groupID, n); err != nil {
			return err
		}
		old := l.Description
		l.Description = desc
		if err := tx.UpdateLine(l); err != nil {
			return err
		}
		return s.report(tx, ReportEntry{Action: ActionLine, Status: StatusChanged, Username: actor.Name,
			Receiver: n, Group: g.Name, GroupID: g.ID, Channel: ch, Detail: fmt.Sprintf("description was %q", old)})
	})
	if err != nil {
		return Line{}, err
	}
	return l, nil
}

// DeleteLine removes a line from its group and reports it. Errors:
// ENOTFOUND, EINVALID.
func (s *Service) DeleteLine(ctx context.Context, actor Actor, ch Channel, groupID int64, number string) error {
	n, err := NormalizeNumber("lineNumber", number)
	if err != nil {
		return err
	}
	return s.update(ctx, func(tx Tx) error {
		g, _, err := lineOfGroup(tx, groupID, n)
		if err != nil {
			return err
		}
		if err := tx.DeleteLine(n); err != nil {
			return err
		}
		return s.report(tx, ReportEntry{Action: ActionLine, Status: StatusDeleted, Username: actor.Name,
			Receiver: n, Group: g.Name, GroupID: g.ID, Channel: ch})
	})
}
