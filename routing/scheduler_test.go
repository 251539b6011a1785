package routing_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phonediversions/phonediversions/routing"
)

// simClock is the injected clock of a simulated week.
type simClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *simClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *simClock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// schedNode is one product node: a store on the shared file and a
// service with the simulated clock.
type schedNode struct {
	db  routing.Store
	svc *routing.Service
}

func openNode(t *testing.T, path string, clk *simClock, loc *time.Location) *schedNode {
	t.Helper()
	db := openStore(t, path, nil)
	return &schedNode{db: db, svc: routing.NewService(db, routing.WithPasswordCost(4), routing.WithClock(clk.now), routing.WithLocation(loc))}
}

func zurich(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Zurich")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// frontDesk makes the group with its lunch and night plan.
func frontDeskGroup(t *testing.T, n *schedNode) routing.Group {
	t.Helper()
	g, err := n.svc.CreateGroup(ctx, admin, routing.ChannelWeb, routing.Group{Name: "Front desk", Destination: "1022"})
	if err != nil {
		t.Fatal(err)
	}
	ranges, err := routing.ParseRanges("Mon-Fri 12:00-13:00, Mon-Fri 17:30-08:00", "ranges")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.svc.SetSchedule(ctx, admin, routing.ChannelWeb, g.ID, ranges); err != nil {
		t.Fatal(err)
	}
	return g
}

// switches returns the diversion switches of the report, oldest first,
// as "Mon 12:00 ON Schedule".
func switches(t *testing.T, svc *routing.Service, loc *time.Location) []string {
	t.Helper()
	page, err := svc.Reports(ctx, routing.ReportFilter{Action: routing.ActionDiversion, OldestFirst: true, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range page.Entries {
		state := "OFF"
		if e.Status == routing.StatusActivated {
			state = "ON"
		}
		if e.Channel == routing.ChannelSchedule && e.Username != routing.ScheduleActor {
			t.Errorf("a scheduled switch reported as %q", e.Username)
		}
		out = append(out, fmt.Sprintf("%s %s %s %s", e.Time.In(loc).Format("Mon 15:04"), state, e.Username, e.Channel))
	}
	return out
}

// run follows the scheduler's timer from the clock's time to end: Tick
// at each moment it names, and at the manual switches given by time.
func run(t *testing.T, n *schedNode, clk *simClock, end time.Time, manual map[time.Time]func()) {
	t.Helper()
	now := clk.now()
	for i := 0; i < 1000; i++ {
		clk.set(now)
		if f := manual[now]; f != nil {
			f()
		}
		next, err := n.svc.Tick(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		for m := range manual {
			if m.After(now) && (next.IsZero() || m.Before(next)) {
				next = m
			}
		}
		if next.IsZero() || !next.Before(end) {
			return
		}
		now = next
	}
	t.Fatal("the scheduler did not reach the end of the week")
}

// A simulated week of the front desk: lunch and night ranges switch the
// group at their moments, a manual switch at lunch holds until the plan's
// next change, a manual "ON until 14:00" ends at 14:00, and every switch
// is reported once with who made it.
func TestSchedulerWeek(t *testing.T) {
	eachStore(t, func(t *testing.T) {
		loc := zurich(t)
		clk := &simClock{t: time.Date(2026, 1, 11, 12, 0, 0, 0, loc)} // a Sunday
		n := openNode(t, newDatabase(t), clk, loc)
		g := frontDeskGroup(t, n)
		at := func(d, h, m int) time.Time { return time.Date(2026, 1, d, h, m, 0, 0, loc) }
		reception := routing.Actor{UserID: 2, Name: "Reception"}
		manual := map[time.Time]func(){
			at(14, 12, 30): func() { // Wednesday lunch: back early
				if _, err := n.svc.SetState(ctx, g.ID, false, reception, routing.ChannelPhone); err != nil {
					t.Fatal(err)
				}
			},
			at(15, 13, 10): func() { // Thursday: a long lunch
				if _, err := n.svc.SetStateUntil(ctx, g.ID, true, at(15, 14, 0), reception, routing.ChannelWeb); err != nil {
					t.Fatal(err)
				}
			},
		}
		run(t, n, clk, at(18, 12, 0), manual)
		want := []string{
			"Mon 12:00 ON Schedule schedule", "Mon 13:00 OFF Schedule schedule", "Mon 17:30 ON Schedule schedule",
			"Tue 08:00 OFF Schedule schedule", "Tue 12:00 ON Schedule schedule", "Tue 13:00 OFF Schedule schedule", "Tue 17:30 ON Schedule schedule",
			"Wed 08:00 OFF Schedule schedule", "Wed 12:00 ON Schedule schedule",
			"Wed 12:30 OFF Reception phone", // holds to 13:00, when the plan wants OFF anyway: nothing to switch
			"Wed 17:30 ON Schedule schedule",
			"Thu 08:00 OFF Schedule schedule", "Thu 12:00 ON Schedule schedule", "Thu 13:00 OFF Schedule schedule",
			"Thu 13:10 ON Reception web", "Thu 14:00 OFF Schedule schedule", "Thu 17:30 ON Schedule schedule",
			"Fri 08:00 OFF Schedule schedule", "Fri 12:00 ON Schedule schedule", "Fri 13:00 OFF Schedule schedule", "Fri 17:30 ON Schedule schedule",
			"Sat 08:00 OFF Schedule schedule",
		}
		if got := switches(t, n.svc, loc); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("switches:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}

// Stopped over a change and started in the middle of the range, the
// product applies the state the plan wants once; a second start changes
// nothing, and a manual switch made before a start still holds.
func TestSchedulerRestartAppliesTheWantedStateOnce(t *testing.T) {
	eachStore(t, func(t *testing.T) {
		loc := zurich(t)
		path := newDatabase(t)
		clk := &simClock{t: time.Date(2026, 1, 12, 11, 50, 0, 0, loc)} // Monday, before lunch
		n := openNode(t, path, clk, loc)
		g := frontDeskGroup(t, n)
		if _, err := n.svc.Tick(ctx, clk.now()); err != nil {
			t.Fatal(err)
		}
		n.db.Close() // stopped at 11:50, over the 12:00 change

		for _, minute := range []int{10, 20} {
			clk.set(time.Date(2026, 1, 12, 12, minute, 0, 0, loc))
			n = openNode(t, path, clk, loc)
			next, err := n.svc.Tick(ctx, clk.now())
			if err != nil {
				t.Fatal(err)
			}
			if want := time.Date(2026, 1, 12, 13, 0, 0, 0, loc); !next.Equal(want) {
				t.Errorf("started at 12:%d: next change %v, want %v", minute, next.In(loc), want)
			}
			n.db.Close()
		}
		n = openNode(t, path, clk, loc)
		if got, want := switches(t, n.svc, loc), []string{"Mon 12:10 ON Schedule schedule"}; strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("after two starts: %q, want %q", got, want)
		}

		// Switched OFF by hand at 12:30, stopped, started at 12:40: OFF holds
		// until 13:00.
		clk.set(time.Date(2026, 1, 12, 12, 30, 0, 0, loc))
		if _, err := n.svc.SetState(ctx, g.ID, false, admin, routing.ChannelREST); err != nil {
			t.Fatal(err)
		}
		n.db.Close()
		clk.set(time.Date(2026, 1, 12, 12, 40, 0, 0, loc))
		n = openNode(t, path, clk, loc)
		if _, err := n.svc.Tick(ctx, clk.now()); err != nil {
			t.Fatal(err)
		}
		got, err := n.svc.Group(ctx, g.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.On || !got.OverrideUntil.Equal(time.Date(2026, 1, 12, 13, 0, 0, 0, loc)) {
			t.Errorf("after the start: %s, manual until %v; want OFF until 13:00", got.StateName(), got.OverrideUntil.In(loc))
		}
	})
}

// Two nodes on one database file, both following every moment of a day:
// each change is applied, and reported, once.
func TestTwoSchedulersApplyEachChangeOnce(t *testing.T) {
	eachStore(t, func(t *testing.T) {
		loc := zurich(t)
		path := newDatabase(t)
		clk := &simClock{t: time.Date(2026, 1, 12, 0, 0, 0, 0, loc)} // Monday
		a, b := openNode(t, path, clk, loc), openNode(t, path, clk, loc)
		frontDeskGroup(t, a)
		now := clk.now()
		end := time.Date(2026, 1, 13, 0, 0, 0, 0, loc)
		for !now.IsZero() && now.Before(end) {
			clk.set(now)
			var wg sync.WaitGroup
			nexts := make([]time.Time, 2)
			for i, node := range []*schedNode{a, b} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					next, err := node.svc.Tick(ctx, now)
					if err != nil {
						t.Error(err)
					}
					nexts[i] = next
				}()
			}
			wg.Wait()
			if !nexts[0].Equal(nexts[1]) {
				t.Fatalf("the nodes disagree on the next change: %v and %v", nexts[0], nexts[1])
			}
			now = nexts[0]
		}
		// Monday starts OFF (the nights start on weekdays: none from Sunday).
		want := []string{"Mon 12:00 ON Schedule schedule", "Mon 13:00 OFF Schedule schedule", "Mon 17:30 ON Schedule schedule"}
		if got := switches(t, a.svc, loc); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("switches: %q, want %q", got, want)
		}
	})
}

// What the State tab and the phone show: the next change, and whether the
// present state is a manual switch holding until then.
func TestNextChange(t *testing.T) {
	eachStore(t, func(t *testing.T) {
		loc := zurich(t)
		clk := &simClock{t: time.Date(2026, 1, 14, 12, 15, 0, 0, loc)} // Wednesday lunch
		n := openNode(t, newDatabase(t), clk, loc)
		g := frontDeskGroup(t, n)
		plain, err := n.svc.CreateGroup(ctx, admin, routing.ChannelWeb, routing.Group{Name: "Sales", Destination: "5000"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.svc.Tick(ctx, clk.now()); err != nil {
			t.Fatal(err)
		}
		ncs, err := n.svc.NextChanges(ctx, clk.now())
		if err != nil {
			t.Fatal(err)
		}
		if nc := ncs[g.ID]; !nc.At.Equal(time.Date(2026, 1, 14, 13, 0, 0, 0, loc)) || nc.On || nc.Manual {
			t.Errorf("at lunch: %+v, want OFF at 13:00 by the plan", nc)
		}
		if _, ok := ncs[plain.ID]; ok {
			t.Error("a group without a plan has a next change")
		}
		if _, err := n.svc.SetState(ctx, g.ID, false, admin, routing.ChannelWeb); err != nil {
			t.Fatal(err)
		}
		ncs, _ = n.svc.NextChanges(ctx, clk.now())
		if nc := ncs[g.ID]; !nc.At.Equal(time.Date(2026, 1, 14, 13, 0, 0, 0, loc)) || nc.On || !nc.Manual {
			t.Errorf("switched OFF at lunch: %+v, want manual until 13:00", nc)
		}
		if _, err := n.svc.SetStateUntil(ctx, plain.ID, true, clk.now().Add(time.Hour), admin, routing.ChannelWeb); routing.ErrorCode(err) != routing.EINVALID {
			t.Errorf("ON until on a group without a plan: %v, want EINVALID", err)
		}
	})
}

// Wrong schedules and holidays are refused with the field at fault and
// change nothing.
func TestSchedulesRefuseBadInput(t *testing.T) {
	eachStore(t, func(t *testing.T) {
		loc := zurich(t)
		clk := &simClock{t: time.Date(2026, 1, 14, 10, 0, 0, 0, loc)}
		n := openNode(t, newDatabase(t), clk, loc)
		g := frontDeskGroup(t, n)
		before, err := n.svc.Schedule(ctx, g.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, text := range []string{"Mon", "Mon 12:00", "Xyz 12:00-13:00", "Mon 12:00-12:00", "Mon 25:00-26:00",
			"Mon 12:60-13:00", "Mon 24:00-01:00", "Mon 1200-1300", "Mon 12:00-13:00, Mon 12:00-14:00"} {
			ranges, err := routing.ParseRanges(text, "ranges")
			if err == nil {
				_, err = n.svc.SetSchedule(ctx, admin, routing.ChannelREST, g.ID, ranges)
			}
			if routing.ErrorCode(err) != routing.EINVALID {
				t.Errorf("%q: %v, want EINVALID", text, err)
			}
		}
		if _, err := n.svc.SetSchedule(ctx, admin, routing.ChannelREST, 999, nil); routing.ErrorCode(err) != routing.ENOTFOUND {
			t.Errorf("schedule of a missing group: %v, want ENOTFOUND", err)
		}
		after, _ := n.svc.Schedule(ctx, g.ID)
		if routing.FormatRanges(after) != routing.FormatRanges(before) {
			t.Errorf("the schedule changed to %q", routing.FormatRanges(after))
		}

		hols := []routing.Holiday{
			{Name: "", First: routing.Date{2026, 12, 24}, Last: routing.Date{2026, 12, 26}},
			{Name: "Backwards", First: routing.Date{2026, 12, 26}, Last: routing.Date{2026, 12, 24}},
			{Name: "Too long", First: routing.Date{2026, 1, 1}, Last: routing.Date{2027, 6, 1}},
			{Name: "Nobody's", First: routing.Date{2026, 12, 24}, Last: routing.Date{2026, 12, 24}, GroupIDs: []int64{999}},
		}
		for _, h := range hols {
			if _, err := n.svc.AddHoliday(ctx, admin, routing.ChannelREST, h); err == nil {
				t.Errorf("holiday %v accepted", h)
			}
		}
		if err := n.svc.DeleteHoliday(ctx, admin, routing.ChannelREST, 999); routing.ErrorCode(err) != routing.ENOTFOUND {
			t.Errorf("deleting a missing holiday: %v, want ENOTFOUND", err)
		}
		if list, _ := n.svc.Holidays(ctx); len(list) != 0 {
			t.Errorf("holidays after refusals: %v", list)
		}
		h, err := n.svc.AddHoliday(ctx, admin, routing.ChannelREST, routing.Holiday{Name: "Christmas",
			First: routing.Date{2026, 12, 24}, Last: routing.Date{2026, 12, 26}, GroupIDs: []int64{g.ID, g.ID}})
		if err != nil {
			t.Fatal(err)
		}
		list, _ := n.svc.Holidays(ctx)
		if len(list) != 1 || list[0].Name != "Christmas" || len(list[0].GroupIDs) != 1 || list[0].Last != (routing.Date{2026, 12, 26}) {
			t.Errorf("holidays: %+v", list)
		}
		if err := n.svc.DeleteHoliday(ctx, admin, routing.ChannelREST, h.ID); err != nil {
			t.Fatal(err)
		}
	})
}

// The scheduler goroutine applies the wanted state when it starts and
// again as soon as a plan changes, without waiting for a timer.
func TestRunSchedulerFollowsPlanChanges(t *testing.T) {
	eachStore(t, func(t *testing.T) {
		loc := zurich(t)
		clk := &simClock{t: time.Date(2026, 1, 14, 12, 15, 0, 0, loc)} // Wednesday lunch
		n := openNode(t, newDatabase(t), clk, loc)
		g := frontDeskGroup(t, n)
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			n.svc.RunScheduler(runCtx, func(err error) { t.Error(err) })
			close(done)
		}()
		defer func() {
			stop()
			<-done
		}()
		waitState := func(on bool) {
			t.Helper()
			deadline := time.Now().Add(5 * time.Second)
			for time.Now().Before(deadline) {
				cur, err := n.svc.Group(ctx, g.ID)
				if err != nil {
					t.Fatal(err)
				}
				if cur.On == on {
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
			t.Fatalf("the group did not become %s", routing.StateName(on))
		}
		waitState(true) // lunch, applied at start
		if _, err := n.svc.SetSchedule(ctx, admin, routing.ChannelWeb, g.ID, nil); err != nil {
			t.Fatal(err)
		}
		// No plan any more: the group keeps its state; a new plan that wants
		// it OFF now switches it.
		ranges, _ := routing.ParseRanges("Sat 10:00-11:00", "ranges")
		if _, err := n.svc.SetSchedule(ctx, admin, routing.ChannelWeb, g.ID, ranges); err != nil {
			t.Fatal(err)
		}
		waitState(false)
	})
}

// The scheduler goroutine switches at the moment of a change by its own
// timer: the service's clock runs a second before Wednesday's 12:00.
func TestRunSchedulerSwitchesAtTheMoment(t *testing.T) {
	eachStore(t, func(t *testing.T) {
		loc := zurich(t)
		start := time.Now()
		base := time.Date(2026, 1, 14, 11, 59, 59, 0, loc) // a second before lunch
		clock := func() time.Time { return base.Add(time.Since(start)) }
		db := openStore(t, newDatabase(t), nil)
		svc := routing.NewService(db, routing.WithPasswordCost(4), routing.WithClock(clock), routing.WithLocation(loc))
		g := frontDeskGroup(t, &schedNode{db: db, svc: svc})
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			svc.RunScheduler(runCtx, func(err error) { t.Error(err) })
			close(done)
		}()
		defer func() {
			stop()
			<-done
		}()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			cur, err := svc.Group(ctx, g.ID)
			if err != nil {
				t.Fatal(err)
			}
			if cur.On {
				page, err := svc.Reports(ctx, routing.ReportFilter{Action: routing.ActionDiversion, Limit: 10})
				if err != nil {
					t.Fatal(err)
				}
				if len(page.Entries) != 1 || page.Entries[0].Channel != routing.ChannelSchedule {
					t.Fatalf("switches: %+v", page.Entries)
				}
				if at := page.Entries[0].Time; at.Before(base.Add(time.Second)) || at.After(base.Add(4*time.Second)) {
					t.Errorf("switched ON at %v, want at 12:00 by its timer (not an hour later)", at.In(loc))
				}
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatal("the scheduler did not switch the group ON at 12:00")
	})
}
