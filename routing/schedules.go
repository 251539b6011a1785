package routing

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ScheduleActor is the name scheduled switches are reported under.
const ScheduleActor = "Schedule"

// WithLocation sets the time zone plans are read in (the configured
// time_zone); the default is the machine's.
func WithLocation(loc *time.Location) Option { return func(s *Service) { s.loc = loc } }

// Location returns the time zone plans are read in.
func (s *Service) Location() *time.Location {
	if s.loc == nil {
		return time.Local
	}
	return s.loc
}

// planIn reads a group's plan inside a transaction.
func (s *Service) planIn(tx Tx, groupID int64) (Plan, error) {
	ranges, err := tx.Schedule(groupID)
	if err != nil {
		return Plan{}, err
	}
	hols, err := tx.Holidays()
	if err != nil {
		return Plan{}, err
	}
	return s.plan(groupID, ranges, hols), nil
}

// plan is a group's plan from its ranges and the calendar: the holidays
// that name the group, in the service's time zone.
func (s *Service) plan(groupID int64, ranges []Range, calendar []Holiday) Plan {
	var hols []Holiday
	for _, h := range calendar {
		if slices.Contains(h.GroupIDs, groupID) {
			hols = append(hols, h)
		}
	}
	return Plan{Ranges: ranges, Holidays: hols, Loc: s.Location()}
}

// Plans returns the plan of every group that follows one.
func (s *Service) Plans(ctx context.Context) (map[int64]Plan, error) {
	var plans map[int64]Plan
	err := s.view(ctx, func(tx Tx) error {
		var err error
		_, plans, err = s.groupsAndPlans(tx)
		return err
	})
	return plans, err
}

// Schedule returns a group's weekly ranges. Errors: ENOTFOUND.
func (s *Service) Schedule(ctx context.Context, groupID int64) ([]Range, error) {
	var out []Range
	err := s.view(ctx, func(tx Tx) error {
		if _, err := tx.Group(groupID); err != nil {
			return err
		}
		var err error
		out, err = tx.Schedule(groupID)
		return err
	})
	return out, err
}

// SetSchedule replaces a group's weekly ranges (none: the group no longer
// follows a schedule) and reports it. The scheduler applies the new plan
// at once: a group whose plan now wants the other state switches. Errors:
// EINVALID (a range out of bounds, two ranges starting together),
// ENOTFOUND.
func (s *Service) SetSchedule(ctx context.Context, actor Actor, ch Channel, groupID int64, ranges []Range) ([]Range, error) {
	ranges = slices.Clone(ranges)
	for _, r := range ranges {
		if err := r.Validate(); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(ranges, func(a, b Range) int {
		if a.Day != b.Day {
			return int(a.Day) - int(b.Day)
		}
		return a.Start - b.Start
	})
	for i := 1; i < len(ranges); i++ {
		if ranges[i].Day == ranges[i-1].Day && ranges[i].Start == ranges[i-1].Start {
			return nil, FieldErrorf(EINVALID, "ranges", "two ranges start on %s %s", ranges[i].Day, Clock(ranges[i].Start))
		}
	}
	err := s.update(ctx, func(tx Tx) error {
		g, err := tx.Group(groupID)
		if err != nil {
			return err
		}
		if err := tx.SetSchedule(groupID, ranges); err != nil {
			return err
		}
		if err := replanGroup(tx, g); err != nil {
			return err
		}
		detail := "schedule cleared"
		if len(ranges) > 0 {
			detail = "schedule " + FormatRanges(ranges)
		}
		return s.report(tx, ReportEntry{Action: ActionGroup, Status: StatusChanged, Username: actor.Name,
			Receiver: g.Destination, Group: g.Name, GroupID: g.ID, Channel: ch, Detail: detail})
	})
	if err != nil {
		return nil, err
	}
	s.replan()
	return ranges, nil
}

// Holidays returns the holiday calendar.
func (s *Service) Holidays(ctx context.Context) ([]Holiday, error) {
	var out []Holiday
	err := s.view(ctx, func(tx Tx) error {
		var err error
		out, err = tx.Holidays()
		return err
	})
	return out, err
}

// AddHoliday adds a holiday to the calendar and reports it. Errors:
// EINVALID (no name, the last day before the first, more than a year
// long), ENOTFOUND (a group that does not exist).
func (s *Service) AddHoliday(ctx context.Context, actor Actor, ch Channel, h Holiday) (Holiday, error) {
	name, err := cleanText("name", h.Name, maxNameLen, true)
	if err != nil {
		return Holiday{}, err
	}
	h.Name = name
	if h.Last.Before(h.First) {
		return Holiday{}, FieldErrorf(EINVALID, "last", "is before the first day")
	}
	first := time.Date(h.First.Year, h.First.Month, h.First.Day, 0, 0, 0, 0, time.UTC)
	if time.Date(h.Last.Year, h.Last.Month, h.Last.Day, 0, 0, 0, 0, time.UTC).Sub(first) > 366*24*time.Hour {
		return Holiday{}, FieldErrorf(EINVALID, "last", "is more than a year after the first day")
	}
	h.GroupIDs = slices.Compact(slices.Sorted(slices.Values(h.GroupIDs)))
	err = s.update(ctx, func(tx Tx) error {
		for _, id := range h.GroupIDs {
			if _, err := tx.Group(id); err != nil {
				return err
			}
		}
		if err := tx.InsertHoliday(&h); err != nil {
			return err
		}
		if err := replanGroups(tx, h.GroupIDs); err != nil {
			return err
		}
		return s.report(tx, ReportEntry{Action: ActionSettings, Status: StatusCreated, Username: actor.Name, Channel: ch,
			Detail: "holiday " + h.String()})
	})
	if err != nil {
		return Holiday{}, err
	}
	s.replan()
	return h, nil
}

// DeleteHoliday removes a holiday and reports it. Errors: ENOTFOUND.
func (s *Service) DeleteHoliday(ctx context.Context, actor Actor, ch Channel, id int64) error {
	err := s.update(ctx, func(tx Tx) error {
		hols, err := tx.Holidays()
		if err != nil {
			return err
		}
		i := slices.IndexFunc(hols, func(h Holiday) bool { return h.ID == id })
		if i < 0 {
			return FieldErrorf(ENOTFOUND, "holidayId", "holiday %d does not exist", id)
		}
		if err := tx.DeleteHoliday(id); err != nil {
			return err
		}
		if err := replanGroups(tx, hols[i].GroupIDs); err != nil {
			return err
		}
		return s.report(tx, ReportEntry{Action: ActionSettings, Status: StatusDeleted, Username: actor.Name, Channel: ch,
			Detail: "holiday " + hols[i].String()})
	})
	if err != nil {
		return err
	}
	s.replan()
	return nil
}

// replanGroup makes the scheduler apply a group's changed plan at once:
// no change of the new plan counts as applied yet. A manual switch still
// holds until its time.
func replanGroup(tx Tx, g Group) error {
	if g.ScheduleApplied.IsZero() {
		return nil
	}
	g.ScheduleApplied = time.Time{}
	return tx.UpdateGroup(&g)
}

// replanGroups is replanGroup for the groups a holiday names.
func replanGroups(tx Tx, ids []int64) error {
	for _, id := range ids {
		g, err := tx.Group(id)
		if err != nil {
			return err
		}
		if err := replanGroup(tx, g); err != nil {
			return err
		}
	}
	return nil
}

// String writes the holiday as its report entry names it.
func (h Holiday) String() string {
	if h.First == h.Last {
		return fmt.Sprintf("%q %s", h.Name, h.First)
	}
	return fmt.Sprintf("%q %s–%s", h.Name, h.First, h.Last)
}

// FormatRanges writes ranges as ParseRanges reads them, days with the
// same times joined, Monday first: "Mon-Fri 12:00-13:00, Sat 08:00-12:00".
func FormatRanges(ranges []Range) string {
	type times struct{ start, end int }
	days := map[times][7]bool{} // by Monday-first day
	var order []times
	for _, r := range ranges {
		k := times{r.Start, r.End}
		d, seen := days[k]
		if !seen {
			order = append(order, k)
		}
		d[(int(r.Day)+6)%7] = true
		days[k] = d
	}
	type part struct {
		first int
		text  string
		start int
	}
	var parts []part
	for _, k := range order {
		d := days[k]
		for i := 0; i < 7; i++ {
			if !d[i] {
				continue
			}
			j := i
			for j+1 < 7 && d[j+1] {
				j++
			}
			name := func(x int) string { return time.Weekday((x + 1) % 7).String()[:3] }
			span := name(i)
			if j > i {
				span += "-" + name(j)
			}
			parts = append(parts, part{i, fmt.Sprintf("%s %s-%s", span, Clock(k.start), Clock(k.end)), k.start})
			i = j
		}
	}
	slices.SortStableFunc(parts, func(a, b part) int {
		if a.first != b.first {
			return a.first - b.first
		}
		return a.start - b.start
	})
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = p.text
	}
	return strings.Join(out, ", ")
}

// ParseRanges reads weekly ranges written "Mon 12:00-13:00", separated by
// commas or semicolons; a day may be a span ("Mon-Fri 17:30-08:00") and
// the end may be 24:00. Errors: EINVALID naming field.
func ParseRanges(s, field string) ([]Range, error) {
	var out []Range
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || r == '\n' }) {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		days, times, ok := strings.Cut(part, " ")
		if !ok {
			return nil, FieldErrorf(EINVALID, field, "%q is not a day and times (Mon 12:00-13:00)", part)
		}
		from, to, ok := strings.Cut(days, "-")
		if !ok {
			to = from
		}
		d0, ok0 := parseDay(from)
		d1, ok1 := parseDay(to)
		if !ok0 || !ok1 {
			return nil, FieldErrorf(EINVALID, field, "%q does not start with a day (Mon, Tue, … Sun)", part)
		}
		start, end, ok := strings.Cut(strings.TrimSpace(times), "-")
		if !ok {
			return nil, FieldErrorf(EINVALID, field, "%q has no end time (12:00-13:00)", part)
		}
		a, okA := parseClock(start)
		b, okB := parseClock(end)
		if !okA || !okB || a == MinutesPerDay {
			return nil, FieldErrorf(EINVALID, field, "%q has a time that is not HH:MM", part)
		}
		for d := d0; ; d = (d + 1) % 7 {
			r := Range{Day: d, Start: a, End: b}
			if err := r.Validate(); err != nil {
				return nil, FieldErrorf(EINVALID, field, "%q %s", part, err.(*Error).Message)
			}
			out = append(out, r)
			if d == d1 {
				break
			}
		}
	}
	return out, nil
}

// parseDay reads a weekday's English name or its first three letters.
func parseDay(s string) (time.Weekday, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	for d := time.Sunday; d <= time.Saturday; d++ {
		name := strings.ToLower(d.String())
		if s == name || s == name[:3] {
			return d, true
		}
	}
	return 0, false
}

// parseClock reads HH:MM (00:00 to 24:00) as minutes after midnight.
func parseClock(s string) (int, bool) {
	var h, m int
	if n, err := fmt.Sscanf(strings.TrimSpace(s), "%d:%d", &h, &m); err != nil || n != 2 || len(strings.TrimSpace(s)) != 5 {
		return 0, false
	}
	if h < 0 || m < 0 || m > 59 || h > 24 || h == 24 && m != 0 {
		return 0, false
	}
	return h*60 + m, true
}
