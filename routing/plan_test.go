package routing

import (
	"testing"
	"time"
)

// weekdays returns the range on Monday to Friday.
func weekdays(start, end int) []Range {
	var out []Range
	for d := time.Monday; d <= time.Friday; d++ {
		out = append(out, Range{Day: d, Start: start, End: end})
	}
	return out
}

func hm(h, m int) int { return h*60 + m }

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// frontDesk is the front desk's plan: diverted at lunch and at night on
// weekdays.
func frontDesk(loc *time.Location, extra ...Range) Plan {
	ranges := append(weekdays(hm(12, 0), hm(13, 0)), weekdays(hm(17, 30), hm(8, 0))...)
	return Plan{Ranges: append(ranges, extra...), Loc: loc}
}

func TestPlanWant(t *testing.T) {
	zurich := mustZone(t, "Europe/Zurich")
	newYork := mustZone(t, "America/New_York")
	at := func(loc *time.Location, y int, m time.Month, d, h, min int) time.Time {
		return time.Date(y, m, d, h, min, 0, 0, loc)
	}
	utc := func(y int, m time.Month, d, h, min int) time.Time { return time.Date(y, m, d, h, min, 0, 0, time.UTC) }
	christmas := Holiday{Name: "Christmas", First: Date{2026, 12, 24}, Last: Date{2026, 12, 26}}
	cases := []struct {
		name string
		plan Plan
		t    time.Time
		on   bool
		next time.Time // zero: never
	}{
		{"before lunch", frontDesk(zurich), at(zurich, 2026, 1, 14, 10, 0), false, at(zurich, 2026, 1, 14, 12, 0)},
		{"at lunch", frontDesk(zurich), at(zurich, 2026, 1, 14, 12, 30), true, at(zurich, 2026, 1, 14, 13, 0)},
		{"a range's end is not in it", frontDesk(zurich), at(zurich, 2026, 1, 14, 13, 0), false, at(zurich, 2026, 1, 14, 17, 30)},
		{"a range's start is in it", frontDesk(zurich), at(zurich, 2026, 1, 14, 17, 30), true, at(zurich, 2026, 1, 15, 8, 0)},
		{"over midnight", frontDesk(zurich), at(zurich, 2026, 1, 14, 23, 59), true, at(zurich, 2026, 1, 15, 8, 0)},
		{"friday night ends saturday", frontDesk(zurich), at(zurich, 2026, 1, 16, 20, 0), true, at(zurich, 2026, 1, 17, 8, 0)},
		{"the weekend waits for monday", frontDesk(zurich), at(zurich, 2026, 1, 17, 10, 0), false, at(zurich, 2026, 1, 19, 12, 0)},
		{"adjacent ranges are one", frontDesk(zurich, Range{Day: time.Thursday, Start: hm(8, 0), End: hm(12, 0)}),
			at(zurich, 2026, 1, 15, 7, 0), true, at(zurich, 2026, 1, 15, 13, 0)},
		{"empty plan", Plan{Loc: zurich}, at(zurich, 2026, 1, 14, 10, 0), false, time.Time{}},
		{"the whole week", Plan{Ranges: []Range{{time.Sunday, 0, MinutesPerDay}, {time.Monday, 0, MinutesPerDay},
			{time.Tuesday, 0, MinutesPerDay}, {time.Wednesday, 0, MinutesPerDay}, {time.Thursday, 0, MinutesPerDay},
			{time.Friday, 0, MinutesPerDay}, {time.Saturday, 0, MinutesPerDay}}, Loc: zurich},
			at(zurich, 2026, 1, 14, 10, 0), true, time.Time{}},

		// Zurich springs forward on 2026-03-29 at 02:00 (to 03:00) and
		// falls back on 2026-10-25 at 03:00 (to 02:00).
		{"night over the spring-forward hour", frontDesk(zurich, Range{Day: time.Saturday, Start: hm(22, 0), End: hm(6, 0)}),
			at(zurich, 2026, 3, 28, 23, 0), true, utc(2026, 3, 29, 4, 0)}, // 06:00 CEST: 7 hours, not 8
		{"range over the skipped hour", Plan{Ranges: []Range{{time.Sunday, hm(1, 30), hm(3, 30)}}, Loc: zurich},
			utc(2026, 3, 29, 0, 45), true, utc(2026, 3, 29, 1, 30)}, // 01:30 CET to 03:30 CEST
		{"range in the skipped hour, before it", Plan{Ranges: []Range{{time.Sunday, hm(2, 15), hm(2, 45)}}, Loc: zurich},
			utc(2026, 3, 29, 1, 0), false, utc(2026, 3, 29, 1, 15)}, // moved to 03:15 CEST
		{"range in the skipped hour, in it", Plan{Ranges: []Range{{time.Sunday, hm(2, 15), hm(2, 45)}}, Loc: zurich},
			utc(2026, 3, 29, 1, 20), true, utc(2026, 3, 29, 1, 45)}, // and keeps its 30 minutes
		{"range in the repeated hour, first time", Plan{Ranges: []Range{{time.Sunday, hm(2, 15), hm(2, 45)}}, Loc: zurich},
			utc(2026, 10, 25, 0, 30), true, utc(2026, 10, 25, 0, 45)}, // 02:15–02:45 CEST
		{"range in the repeated hour, second time", Plan{Ranges: []Range{{time.Sunday, hm(2, 15), hm(2, 45)}}, Loc: zurich},
			utc(2026, 10, 25, 1, 30), false, utc(2026, 11, 1, 1, 15)}, // not again at 02:30 CET; next Sunday 02:15 CET

		// New York springs forward on 2026-03-08 at 02:00 and falls back
		// on 2026-11-01 at 02:00 (to 01:00).
		{"NY night over the fall-back hour", Plan{Ranges: []Range{{time.Saturday, hm(22, 0), hm(6, 0)}}, Loc: newYork},
			at(newYork, 2026, 10, 31, 23, 0), true, utc(2026, 11, 1, 11, 0)}, // 06:00 EST: 9 hours
		{"NY night over the spring-forward hour", Plan{Ranges: []Range{{time.Saturday, hm(22, 0), hm(6, 0)}}, Loc: newYork},
			at(newYork, 2026, 3, 7, 23, 0), true, utc(2026, 3, 8, 10, 0)}, // 06:00 EDT: 7 hours
		{"NY range ending in the skipped hour", Plan{Ranges: []Range{{time.Sunday, hm(1, 0), hm(2, 30)}}, Loc: newYork},
			utc(2026, 3, 8, 6, 30), true, utc(2026, 3, 8, 7, 30)}, // 01:00 EST to 03:30 EDT: its 90 minutes
		{"NY range in the repeated hour runs once", Plan{Ranges: []Range{{time.Sunday, hm(1, 0), hm(1, 30)}}, Loc: newYork},
			utc(2026, 11, 1, 6, 10), false, utc(2026, 11, 8, 6, 0)}, // 01:10 EST, the second 01:10

		// Holidays: ON all day, over and between ranges.
		{"on a holiday", frontDesk(zurich), at(zurich, 2026, 12, 24, 10, 0), false, at(zurich, 2026, 12, 24, 12, 0)},
		{"a holiday joins the night before it", Plan{Ranges: frontDesk(zurich).Ranges, Holidays: []Holiday{christmas}, Loc: zurich},
			at(zurich, 2026, 12, 23, 20, 0), true, at(zurich, 2026, 12, 27, 0, 0)},
		{"a holiday morning", Plan{Ranges: frontDesk(zurich).Ranges, Holidays: []Holiday{christmas}, Loc: zurich},
			at(zurich, 2026, 12, 25, 10, 0), true, at(zurich, 2026, 12, 27, 0, 0)},
		{"a holiday alone", Plan{Holidays: []Holiday{christmas}, Loc: zurich},
			at(zurich, 2026, 12, 1, 10, 0), false, at(zurich, 2026, 12, 24, 0, 0)},
		{"after the last holiday", Plan{Holidays: []Holiday{christmas}, Loc: zurich},
			at(zurich, 2026, 12, 27, 10, 0), false, time.Time{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			on, next := c.plan.Want(c.t)
			if on != c.on || !next.Equal(c.next) {
				t.Errorf("Want(%v) = %v, next %v; want %v, next %v", c.t.In(c.plan.Loc), StateName(on), next.In(c.plan.Loc),
					StateName(c.on), c.next.In(c.plan.Loc))
			}
		})
	}
}

func TestPlanLast(t *testing.T) {
	zurich := mustZone(t, "Europe/Zurich")
	at := func(y int, m time.Month, d, h, min int) time.Time { return time.Date(y, m, d, h, min, 0, 0, zurich) }
	christmas := Holiday{Name: "Christmas", First: Date{2026, 12, 24}, Last: Date{2026, 12, 26}}
	plan := Plan{Ranges: frontDesk(zurich).Ranges, Holidays: []Holiday{christmas}, Loc: zurich}
	cases := []struct {
		t, last time.Time
	}{
		{at(2026, 1, 14, 12, 30), at(2026, 1, 14, 12, 0)},
		{at(2026, 1, 14, 12, 0), at(2026, 1, 14, 12, 0)},
		{at(2026, 1, 14, 10, 0), at(2026, 1, 14, 8, 0)},
		{at(2026, 1, 19, 10, 0), at(2026, 1, 17, 8, 0)}, // monday morning: since saturday 08:00
		{at(2026, 12, 25, 10, 0), at(2026, 12, 23, 17, 30)},
	}
	for _, c := range cases {
		if got := plan.Last(c.t); !got.Equal(c.last) {
			t.Errorf("Last(%v) = %v, want %v", c.t, got.In(zurich), c.last)
		}
	}
	if got := (Plan{Loc: zurich}).Last(at(2026, 1, 14, 10, 0)); !got.IsZero() {
		t.Errorf("an empty plan last changed at %v", got)
	}
}

// A year of the front desk's plan (and Saturday nights), in both zones,
// followed change by change: every change happens at a wall time the plan
// names, ON and OFF alternate, each weekday has its lunch and every night
// its range, and the two daylight-saving nights are an hour shorter or
// longer, never skipped or repeated.
func TestPlanOverAYear(t *testing.T) {
	for _, zone := range []string{"Europe/Zurich", "America/New_York"} {
		t.Run(zone, func(t *testing.T) {
			loc := mustZone(t, zone)
			// Saturday night too: the clocks change on Sunday mornings.
			plan := frontDesk(loc, Range{Day: time.Saturday, Start: hm(17, 30), End: hm(8, 0)})
			start := time.Date(2026, 1, 1, 0, 0, 0, 0, loc)
			end := time.Date(2027, 1, 1, 0, 0, 0, 0, loc)
			on, next := plan.Want(start)
			lunches, nights := 0, map[time.Duration]int{}
			var onSince time.Time
			for next.Before(end) {
				l := next.In(loc)
				wall := hm(l.Hour(), l.Minute())
				nowOn, after := plan.Want(next)
				if nowOn == on {
					t.Fatalf("%v: the change to %v left the state %v", l, StateName(nowOn), StateName(on))
				}
				switch {
				case nowOn && wall != hm(12, 0) && wall != hm(17, 30):
					t.Fatalf("%v: ON at %s, not at a range's start", l, Clock(wall))
				case !nowOn && wall != hm(13, 0) && wall != hm(8, 0):
					t.Fatalf("%v: OFF at %s, not at a range's end", l, Clock(wall))
				case nowOn:
					onSince = next
				case wall == hm(13, 0):
					lunches++
					if d := next.Sub(onSince); d != time.Hour {
						t.Errorf("%v: lunch lasted %v", l, d)
					}
				case !onSince.IsZero():
					nights[next.Sub(onSince)]++
				}
				on, next = nowOn, after
			}
			// 2026 has 261 weekdays; the night that starts on 2025-12-31
			// ends on the first morning and is not counted.
			if lunches != 261 {
				t.Errorf("%d lunches, want 261", lunches)
			}
			// 260 weeknights and 52 Saturday nights of 14.5 hours, but for
			// the two nights the clocks change: an hour shorter in spring,
			// an hour longer in autumn.
			night := 14*time.Hour + 30*time.Minute
			want := map[time.Duration]int{night: 310, night - time.Hour: 1, night + time.Hour: 1}
			for d, n := range want {
				if nights[d] != n {
					t.Errorf("%d nights of %v, want %d (all: %v)", nights[d], d, n, nights)
				}
			}
		})
	}
}

// Ranges written by FormatRanges read back the same, days with the same
// times joined into spans, Monday first.
func TestFormatAndParseRanges(t *testing.T) {
	cases := []struct{ in, out string }{
		{"Mon-Fri 12:00-13:00, Mon-Fri 17:30-08:00", "Mon-Fri 12:00-13:00, Mon-Fri 17:30-08:00"},
		{"sat 08:00-24:00; SUN 00:00-24:00", "Sat 08:00-24:00, Sun 00:00-24:00"},
		{"Fri 22:00-06:00, Mon 22:00-06:00, Wed 22:00-06:00", "Mon 22:00-06:00, Wed 22:00-06:00, Fri 22:00-06:00"},
		{"Sat-Mon 10:00-11:00", "Mon 10:00-11:00, Sat-Sun 10:00-11:00"},
		{"", ""},
	}
	for _, c := range cases {
		ranges, err := ParseRanges(c.in, "ranges")
		if err != nil {
			t.Fatalf("%q: %v", c.in, err)
		}
		got := FormatRanges(ranges)
		if got != c.out {
			t.Errorf("FormatRanges(%q) = %q, want %q", c.in, got, c.out)
		}
		again, err := ParseRanges(got, "ranges")
		if err != nil || len(again) != len(ranges) {
			t.Errorf("%q does not read back: %v %v", got, again, err)
		}
	}
}
