package routing

import (
	"fmt"
	"slices"
	"time"
)

// A group may follow a plan: weekly ranges when its diversion is ON, in
// the configured time zone, and the holidays that include it, when it is
// ON all day. Plan computes, for a moment, the state the plan wants and
// when that next changes; the scheduler applies the changes.

// MinutesPerDay bounds a Range's times.
const MinutesPerDay = 24 * 60

// Range is a weekly time range when a diversion is ON: from Start on Day
// until End, the same day when End is after Start, else the next day
// (17:30–08:00 runs over midnight). Times are minutes after local
// midnight; End may be MinutesPerDay (midnight at the end of Day).
type Range struct {
	Day        time.Weekday
	Start, End int
}

// Validate reports a range whose times are out of bounds, or that is
// empty (Start equal to End would mean a whole day and a night; write
// 00:00–24:00 for a whole day).
func (r Range) Validate() error {
	switch {
	case r.Day < time.Sunday || r.Day > time.Saturday:
		return FieldErrorf(EINVALID, "day", "names no day of the week (%d)", int(r.Day))
	case r.Start < 0 || r.Start >= MinutesPerDay:
		return FieldErrorf(EINVALID, "start", "starts outside 00:00 to 23:59")
	case r.End < 0 || r.End > MinutesPerDay:
		return FieldErrorf(EINVALID, "end", "ends outside 00:00 to 24:00")
	case r.End == r.Start:
		return FieldErrorf(EINVALID, "end", "ends when it starts: a range needs a length")
	}
	return nil
}

// String writes the range as people read it: "Mon 17:30–08:00".
func (r Range) String() string {
	return fmt.Sprintf("%s %s–%s", r.Day.String()[:3], Clock(r.Start), Clock(r.End))
}

// Clock writes minutes after midnight as HH:MM (1440 is 24:00).
func Clock(m int) string { return fmt.Sprintf("%02d:%02d", m/60, m%60) }

// Date is a calendar date, without a time or a zone.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// DateOf returns the date of t in t's location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{y, m, d}
}

// ParseDate reads a date written YYYY-MM-DD.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("not a date (YYYY-MM-DD): %q", s)
	}
	return DateOf(t), nil
}

// String writes the date YYYY-MM-DD.
func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day) }

// next returns the following day.
func (d Date) next() Date {
	return DateOf(time.Date(d.Year, d.Month, d.Day+1, 0, 0, 0, 0, time.UTC))
}

// Before reports whether d is earlier than e.
func (d Date) Before(e Date) bool {
	return d.Year < e.Year || d.Year == e.Year && (d.Month < e.Month || d.Month == e.Month && d.Day < e.Day)
}

// Holiday is a named date or range of dates (First to Last, inclusive)
// when the groups it names are ON all day.
type Holiday struct {
	ID          int64
	Name        string
	First, Last Date
	GroupIDs    []int64
}

// Plan is what one group follows: its weekly ranges and the holidays
// that name it, in a time zone.
type Plan struct {
	Ranges   []Range
	Holidays []Holiday
	Loc      *time.Location
}

// Empty reports whether the plan never wants a group ON.
func (p Plan) Empty() bool { return len(p.Ranges) == 0 && len(p.Holidays) == 0 }

// span is an interval [from, to) when the plan wants ON.
type span struct{ from, to time.Time }

// searchWeeks bounds how far Want looks for the next change: beyond two
// years a plan that wants the same state throughout never changes.
const searchWeeks = 105

// Want returns the state the plan wants at t and the next moment after t
// when the wanted state changes; next is zero when it never does (an
// empty plan, or ranges covering the whole week).
func (p Plan) Want(t time.Time) (on bool, next time.Time) {
	on = p.on(t, p.spans(t.AddDate(0, 0, -2), t.AddDate(0, 0, 2)))
	for w := 0; w < searchWeeks; w++ {
		from, to := t.AddDate(0, 0, 7*w), t.AddDate(0, 0, 7*(w+1))
		spans := p.spans(from.AddDate(0, 0, -2), to.AddDate(0, 0, 2))
		for _, b := range boundaries(spans) {
			if b.After(t) && !b.Before(from) && b.Before(to) && p.on(b, spans) != on {
				return on, b
			}
		}
	}
	return on, time.Time{}
}

// Last returns the latest moment at or before t when the wanted state
// changed (to the state it wants at t); zero when it did not within two
// years.
func (p Plan) Last(t time.Time) time.Time {
	for w := 0; w < searchWeeks; w++ {
		from, to := t.AddDate(0, 0, -7*(w+1)), t.AddDate(0, 0, -7*w)
		spans := p.spans(from.AddDate(0, 0, -2), to.AddDate(0, 0, 2))
		bs := boundaries(spans)
		for i := len(bs) - 1; i >= 0; i-- {
			b := bs[i]
			if b.After(t) || b.After(to) || !b.After(from) {
				continue
			}
			if p.on(b, spans) != p.on(b.Add(-time.Nanosecond), spans) {
				return b
			}
		}
	}
	return time.Time{}
}

// on reports whether t falls in one of the spans.
func (p Plan) on(t time.Time, spans []span) bool {
	for _, s := range spans {
		if !t.Before(s.from) && t.Before(s.to) {
			return true
		}
	}
	return false
}

// spans returns the ON intervals of the plan that start between from and
// to (and those that started before from and are still running).
func (p Plan) spans(from, to time.Time) []span {
	loc := p.Loc
	if loc == nil {
		loc = time.UTC
	}
	var out []span
	first := DateOf(from.In(loc).AddDate(0, 0, -1))
	last := DateOf(to.In(loc))
	for d := first; !last.Before(d); d = d.next() {
		wd := time.Date(d.Year, d.Month, d.Day, 12, 0, 0, 0, time.UTC).Weekday()
		for _, r := range p.Ranges {
			if r.Day != wd {
				continue
			}
			end := d
			if r.End <= r.Start {
				end = d.next()
			}
			out = append(out, span{wallTime(d, r.Start, loc), wallTime(end, r.End, loc)})
		}
	}
	for _, h := range p.Holidays {
		s := span{wallTime(h.First, 0, loc), wallTime(h.Last.next(), 0, loc)}
		if s.to.After(from) && s.from.Before(to) {
			out = append(out, s)
		}
	}
	return out
}

// boundaries returns the starts and ends of the spans, in time order.
func boundaries(spans []span) []time.Time {
	out := make([]time.Time, 0, 2*len(spans))
	for _, s := range spans {
		out = append(out, s.from, s.to)
	}
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return slices.CompactFunc(out, func(a, b time.Time) bool { return a.Equal(b) })
}

// wallTime returns the moment the clocks of loc show minute m of date d.
// Daylight saving makes some wall times happen twice and others never:
// a time that happens twice is its first occurrence, so a range in the
// repeated hour runs once; a time that never happens is moved forward by
// the clocks' jump (02:30 on the spring-forward night in New York is
// 03:30), so a range in or over the skipped hour keeps its length on the
// clock rather than vanishing.
func wallTime(d Date, m int, loc *time.Location) time.Time {
	w := time.Date(d.Year, d.Month, d.Day, 0, m, 0, 0, time.UTC) // the wall reading, as if in UTC
	_, before := w.Add(-48 * time.Hour).In(loc).Zone()
	_, after := w.Add(48 * time.Hour).In(loc).Zone()
	shows := func(t time.Time) bool {
		l := t.In(loc)
		return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), 0, time.UTC).Equal(w)
	}
	a := w.Add(-time.Duration(before) * time.Second)
	b := w.Add(-time.Duration(after) * time.Second)
	switch {
	case shows(a) && shows(b):
		if b.Before(a) {
			return b
		}
		return a
	case shows(a):
		return a
	case shows(b):
		return b
	default:
		return a // skipped: the earlier offset puts it after the jump
	}
}
