package admin

import (
	"context"
	"strings"

	"github.com/phonediversions/phonediversions/routing"
)

// The schedule functions of the REST API: a group's weekly ranges and the
// holiday calendar. Ranges are written "Mon 12:00-13:00", several
// separated by commas, a day span allowed ("Mon-Fri 17:30-08:00").

// scheduleNode is one group's schedule.
func scheduleNode(groupID int64, ranges []routing.Range) node {
	items := make([]node, len(ranges))
	for i, r := range ranges {
		items[i] = elem("Range",
			leaf("Day", r.Day.String()[:3]),
			leaf("Start", routing.Clock(r.Start)),
			leaf("End", routing.Clock(r.End)))
	}
	return elem("Schedule", numLeaf("GroupID", groupID), list("Ranges", items))
}

// listSchedules answers the schedules of every group that has one, or of
// the group groupId names.
func (s *Server) listSchedules(ctx context.Context, _ principal, in params) (answer, error) {
	if v, ok := in.get("groupId"); ok && v != "" {
		id, err := parseID("groupId", v)
		if err != nil {
			return answer{}, err
		}
		ranges, err := s.svc.Schedule(ctx, id)
		if err != nil {
			return answer{}, err
		}
		if len(ranges) == 0 {
			return answer{word: notFoundAnswer}, nil
		}
		return dataAnswer(list("Schedules", []node{scheduleNode(id, ranges)})), nil
	}
	plans, err := s.svc.Plans(ctx)
	if err != nil {
		return answer{}, err
	}
	groups, err := s.svc.Groups(ctx, routing.GroupFilter{})
	if err != nil {
		return answer{}, err
	}
	var items []node
	for _, g := range groups { // in the groups' order: by name
		if p, ok := plans[g.ID]; ok && len(p.Ranges) > 0 {
			items = append(items, scheduleNode(g.ID, p.Ranges))
		}
	}
	if len(items) == 0 {
		return answer{word: notFoundAnswer}, nil
	}
	return dataAnswer(list("Schedules", items)), nil
}

// setSchedule replaces a group's weekly ranges: groupId, ranges.
func (s *Server) setSchedule(ctx context.Context, p principal, in params) (answer, error) {
	id, err := in.requiredID("groupId")
	if err != nil {
		return answer{}, err
	}
	text, err := in.required("ranges")
	if err != nil {
		return answer{}, err
	}
	ranges, err := routing.ParseRanges(text, "ranges")
	if err != nil {
		return answer{}, err
	}
	if len(ranges) == 0 {
		return answer{}, routing.FieldErrorf(routing.EINVALID, "ranges", "names no range; clearSchedule removes a schedule")
	}
	if ranges, err = s.svc.SetSchedule(ctx, p.actor(), routing.ChannelREST, id, ranges); err != nil {
		return answer{}, err
	}
	return dataAnswer(list("Schedules", []node{scheduleNode(id, ranges)})), nil
}

// clearSchedule removes a group's weekly ranges: groupId.
func (s *Server) clearSchedule(ctx context.Context, p principal, in params) (answer, error) {
	id, err := in.requiredID("groupId")
	if err != nil {
		return answer{}, err
	}
	if _, err := s.svc.SetSchedule(ctx, p.actor(), routing.ChannelREST, id, nil); err != nil {
		return answer{}, err
	}
	return answer{word: okAnswer}, nil
}

func holidayNode(h routing.Holiday) node {
	ids := make([]node, len(h.GroupIDs))
	for i, id := range h.GroupIDs {
		ids[i] = numLeaf("GroupID", id)
	}
	return elem("Holiday",
		numLeaf("HolidayID", h.ID),
		leaf("Name", h.Name),
		leaf("First", h.First.String()),
		leaf("Last", h.Last.String()),
		list("Groups", ids))
}

// listHolidays answers the holiday calendar.
func (s *Server) listHolidays(ctx context.Context, _ principal, _ params) (answer, error) {
	hols, err := s.svc.Holidays(ctx)
	if err != nil {
		return answer{}, err
	}
	if len(hols) == 0 {
		return answer{word: notFoundAnswer}, nil
	}
	items := make([]node, len(hols))
	for i, h := range hols {
		items[i] = holidayNode(h)
	}
	return dataAnswer(list("Holidays", items)), nil
}

// addHoliday adds a holiday: name, first (YYYY-MM-DD), last (default:
// first), groupIds (comma-separated).
func (s *Server) addHoliday(ctx context.Context, p principal, in params) (answer, error) {
	name, err := in.required("name")
	if err != nil {
		return answer{}, err
	}
	v, err := in.required("first")
	if err != nil {
		return answer{}, err
	}
	last, _ := in.get("last")
	ids, _ := in.get("groupIds")
	h, err := holidayFrom(name, v, last, strings.Split(ids, ","))
	if err != nil {
		return answer{}, err
	}
	if h, err = s.svc.AddHoliday(ctx, p.actor(), routing.ChannelREST, h); err != nil {
		return answer{}, err
	}
	return dataAnswer(list("Holidays", []node{holidayNode(h)})), nil
}

// deleteHoliday removes a holiday: holidayId.
func (s *Server) deleteHoliday(ctx context.Context, p principal, in params) (answer, error) {
	id, err := in.requiredID("holidayId")
	if err != nil {
		return answer{}, err
	}
	if err := s.svc.DeleteHoliday(ctx, p.actor(), routing.ChannelREST, id); err != nil {
		return answer{}, err
	}
	return answer{word: okAnswer}, nil
}
