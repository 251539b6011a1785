package routing_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phonediversions/phonediversions/routing"
	"github.com/phonediversions/phonediversions/routing/routingtest"
)

var (
	admin = routing.Actor{UserID: 1, Name: "Tamara Farrow, Sales"}
	ctx   = context.Background()
)

// fixture is a service over a real store: a SQLite file in a temporary
// folder, or a PostgreSQL database of its own (eachStore).
type fixture struct {
	t    *testing.T
	path string // where the store lives (newDatabase)
	db   routing.Store
	svc  *routing.Service
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, path: newDatabase(t)}
	f.open()
	return f
}

func (f *fixture) open() {
	f.t.Helper()
	f.db = openStore(f.t, f.path, nil)
	f.svc = routing.NewService(f.db, routing.WithPasswordCost(4))
}

func (f *fixture) reopen() {
	f.t.Helper()
	if err := f.db.Close(); err != nil {
		f.t.Fatal(err)
	}
	f.open()
}

func (f *fixture) group(name, dest string) routing.Group {
	f.t.Helper()
	g, err := f.svc.CreateGroup(ctx, admin, routing.ChannelWeb, routing.Group{Name: name, Destination: dest})
	if err != nil {
		f.t.Fatal(err)
	}
	return g
}

func (f *fixture) line(g routing.Group, number string) {
	f.t.Helper()
	if _, err := f.svc.AddLine(ctx, admin, routing.ChannelWeb, g.ID, number, "line "+number); err != nil {
		f.t.Fatal(err)
	}
}

// snapshot is everything a user could see in the store.
func (f *fixture) snapshot() routingtest.Snapshot { return routingtest.Take(f.t, f.svc) }

// TestNoGroupsReadAlike: reading no groups gives the same answer from the
// store and from the cache (it gave nil, then an empty list).
func TestNoGroupsReadAlike(t *testing.T) {
	eachStore(t, func(t *testing.T) {
		f := newFixture(t)
		first, err := f.svc.Groups(ctx, routing.GroupFilter{})
		if err != nil {
			t.Fatal(err)
		}
		again, err := f.svc.Groups(ctx, routing.GroupFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(first, again) || len(first) != 0 {
			t.Errorf("no groups read as %#v, then %#v", first, again)
		}
	})
}

func TestGroupsLifecycle(t *testing.T) {
	eachStore(t, func(t *testing.T) {
		f := newFixture(t)
		g := f.group(" Front Desk ", "+41 44 1022")
		if g.ID == 0 || g.Name != "Front Desk" || g.Destination != "+41441022" || g.On {
			t.Fatalf("created %+v", g)
		}
		f.line(g, "1001")
		f.line(g, "1002")

		name, desc := "Reception", "Diversion to the front desk phone"
		up, err := f.svc.UpdateGroup(ctx, admin, routing.ChannelWeb, g.ID, routing.GroupUpdate{Name: &name, Description: &desc})
		if err != nil {
			t.Fatal(err)
		}
		if up.Name != name || up.Description != desc || up.Destination != "+41441022" {
			t.Fatalf("updated %+v", up)
		}
		byName, err := f.svc.Groups(ctx, routing.GroupFilter{Name: "reception"})
		if err != nil || len(byName) != 1 || byName[0].ID != g.ID {
			t.Fatalf("filter by name: %+v %v", byName, err)
		}
		byID, err := f.svc.Groups(ctx, routing.GroupFilter{ID: g.ID})
		if err != nil || len(byID) != 1 || byID[0].Name != name {
			t.Fatalf("filter by id: %+v %v", byID, err)
		}

		if err := f.svc.DeleteGroup(ctx, admin, routing.ChannelWeb, g.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.GroupOfLine(ctx, "1001"); routing.ErrorCode(err) != routing.ENOTFOUND {
			t.Fatalf("line of deleted group still found: %v", err)
		}
		// The deleted lines are free again for another group.
		other := f.group("Other", "2000")
		f.line(other, "1001")

		page, err := f.svc.Reports(ctx, routing.ReportFilter{Action: routing.ActionLine, Status: routing.StatusDeleted})
		if err != nil {
			t.Fatal(err)
		}
		if page.Total != 2 {
			t.Fatalf("deleting a group with 2 lines reported %d line deletions", page.Total)
		}
		page, err = f.svc.Reports(ctx, routing.ReportFilter{Action: routing.ActionGroup, Status: routing.StatusDeleted})
		if err != nil || page.Total != 1 || page.Entries[0].Group != "Reception" || page.Entries[0].Username != admin.Name {
			t.Fatalf("group deletion report: %+v %v", page, err)
		}
	})
}

func TestLines(t *testing.T) {
	eachStore(t, func(t *testing.T) {
		f := newFixture(t)
		a := f.group("Sales", "5000")
		b := f.group("Support", "5001")
		f.line(a, "1001")
		if _, err := f.svc.CreateUser(ctx, admin, routing.ChannelWeb, routing.NewUser{
			Username: "tfarrow", DisplayName: "Tamara Farrow", Department: "Sales", Lines: []string{"1001", "5001"}}); err != nil {
			t.Fatal(err)
		}

		lines, err := f.svc.Lines(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := []routing.LineInfo{{Line: routing.Line{Number: "1001", Description: "line 1001", GroupID: a.ID}, Username: "Tamara Farrow, Sales"}}
		if !reflect.DeepEqual(lines, want) {
			t.Fatalf("lines %+v, want %+v", lines, want)
		}
		if u, _ := f.svc.UsernameOf(ctx, "5001"); u != "Tamara Farrow, Sales" {
			t.Errorf("username of destination 5001 = %q", u)
		}
		if u, _ := f.svc.UsernameOf(ctx, "9999"); u != "" {
			t.Errorf("username of unowned number = %q, want empty", u)
		}

		l, err := f.svc.UpdateLine(ctx, admin, routing.ChannelWeb, a.ID, "1001", "Reception desk")
		if err != nil || l.Description != "Reception desk" || l.Number != "1001" {
			t.Fatalf("update line: %+v %v", l, err)
		}
		lg, err := f.svc.GroupOfLine(ctx, "1001")
		if err != nil || lg.Group.ID != a.ID || lg.Line.Description != "Reception desk" {
			t.Fatalf("group of line: %+v %v", lg, err)
		}
		// A line of another group cannot be renamed or deleted through b.
		if _, err := f.svc.UpdateLine(ctx, admin, routing.ChannelWeb, b.ID, "1001", "x"); routing.ErrorCode(err) != routing.ENOTFOUND {
			t.Fatalf("update through the wrong group: %v", err)
		}
		if err := f.svc.DeleteLine(ctx, admin, routing.ChannelWeb, b.ID, "1001"); routing.ErrorCode(err) != routing.ENOTFOUND {
			t.Fatalf("delete through the wrong group: %v", err)
		}
		if err := f.svc.DeleteLine(ctx, admin, routing.ChannelWeb, a.ID, "1001"); err != nil {
			t.Fatal(err)
		}
		if lines, _ := f.svc.Lines(ctx, a.ID); len(lines) != 0 {
			t.Fatalf("lines after delete: %+v", lines)
		}
	})
}

func TestBadInputChangesNothing(t *testing.T) {
	eachStore(t, func(t *testing.T) {
		f := newFixture(t)
		a := f.group("Sales", "5000")
		b := f.group("Support", "5001")
		f.line(a, "1001")
		before := f.snapshot()

		str := func(s string) *string { return &s }
		tests := []struct {
			name  string
			do    func() error
			code  string
			field string
			text  string
		}{
			{"empty group name", func() error {
				_, err := f.svc.CreateGroup(ctx, admin, routing.ChannelWeb, routing.Group{Name: "  ", Destination: "1"})
				return err
			}, routing.EINVALID, "groupName", "required"},
			{"duplicate group name, other case", func() error {
				_, err := f.svc.CreateGroup(ctx, admin, routing.ChannelWeb, routing.Group{Name: "sales", Destination: "1"})
				return err
			}, routing.ECONFLICT, "groupName", "already exists"},
			{"rename to a name in use", func() error {
				_, err := f.svc.UpdateGroup(ctx, admin, routing.ChannelWeb, b.ID, routing.GroupUpdate{Name: str("Sales")})
				return err
			}, routing.ECONFLICT, "groupName", "already exists"},
			{"destination with letters", func() error {
				_, err := f.svc.CreateGroup(ctx, admin, routing.ChannelWeb, routing.Group{Name: "New", Destination: "50a0"})
				return err
			}, routing.EINVALID, "destination", "dial string"},
			{"edit destination with letters", func() error {
				_, err := f.svc.UpdateGroup(ctx, admin, routing.ChannelWeb, a.ID, routing.GroupUpdate{Destination: str("front desk")})
				return err
			}, routing.EINVALID, "destination", "dial string"},
			{"control character in a name", func() error {
				_, err := f.svc.CreateGroup(ctx, admin, routing.ChannelWeb, routing.Group{Name: "a\x00b", Destination: "1"})
				return err
			}, routing.EINVALID, "groupName", "control"},
			{"group name too long", func() error {
				_, err := f.svc.CreateGroup(ctx, admin, routing.ChannelWeb, routing.Group{Name: strings.Repeat("x", 65), Destination: "1"})
				return err
			}, routing.EINVALID, "groupName", "longer"},
			{"unknown announcement", func() error {
				_, err := f.svc.CreateGroup(ctx, admin, routing.ChannelWeb, routing.Group{Name: "New", Destination: "1", AnnouncementID: 99})
				return err
			}, routing.EINVALID, "announcementId", "does not exist"},
			{"line already in another group", func() error {
				_, err := f.svc.AddLine(ctx, admin, routing.ChannelWeb, b.ID, "10 01", "")
				return err
			}, routing.ECONFLICT, "lineNumber", `group "Sales"`},
			{"line already in the same group", func() error {
				_, err := f.svc.AddLine(ctx, admin, routing.ChannelWeb, a.ID, "1001", "")
				return err
			}, routing.ECONFLICT, "lineNumber", `group "Sales"`},
			{"line number with letters", func() error {
				_, err := f.svc.AddLine(ctx, admin, routing.ChannelWeb, a.ID, "ten", "")
				return err
			}, routing.EINVALID, "lineNumber", "dial string"},
			{"line in an unknown group", func() error {
				_, err := f.svc.AddLine(ctx, admin, routing.ChannelWeb, 999, "1009", "")
				return err
			}, routing.ENOTFOUND, "groupId", "999"},
			{"switch an unknown group", func() error {
				_, err := f.svc.Toggle(ctx, 999, admin, routing.ChannelREST)
				return err
			}, routing.ENOTFOUND, "groupId", "999"},
			{"edit an unknown group", func() error {
				_, err := f.svc.UpdateGroup(ctx, admin, routing.ChannelWeb, 999, routing.GroupUpdate{Name: str("x")})
				return err
			}, routing.ENOTFOUND, "groupId", "999"},
			{"delete an unknown group", func() error {
				return f.svc.DeleteGroup(ctx, admin, routing.ChannelWeb, 999)
			}, routing.ENOTFOUND, "groupId", "999"},
			{"report to before from", func() error {
				now := time.Now()
				_, err := f.svc.Reports(ctx, routing.ReportFilter{From: now, To: now.Add(-time.Hour)})
				return err
			}, routing.EINVALID, "to", "before"},
			{"report limit too large", func() error {
				_, err := f.svc.Reports(ctx, routing.ReportFilter{Limit: 100000})
				return err
			}, routing.EINVALID, "limit", "between"},
			{"report unknown action", func() error {
				_, err := f.svc.Reports(ctx, routing.ReportFilter{Action: "Explode"})
				return err
			}, routing.EINVALID, "action", "unknown"},
			{"user with a space in the username", func() error {
				_, err := f.svc.CreateUser(ctx, admin, routing.ChannelWeb, routing.NewUser{Username: "a b"})
				return err
			}, routing.EINVALID, "username", "spaces"},
			{"user with a short password", func() error {
				_, err := f.svc.CreateUser(ctx, admin, routing.ChannelWeb, routing.NewUser{Username: "ab", Password: "short"})
				return err
			}, routing.EINVALID, "password", "at least"},
			{"user with a bad line", func() error {
				_, err := f.svc.CreateUser(ctx, admin, routing.ChannelWeb, routing.NewUser{Username: "ab", Lines: []string{"x1"}})
				return err
			}, routing.EINVALID, "lines", "dial string"},
			{"settings with a bad direct-access number", func() error {
				_, err := f.svc.UpdateSettings(ctx, admin, routing.ChannelWeb, routing.SettingsUpdate{DirectAccess: &[]string{"2001", "boss"}})
				return err
			}, routing.EINVALID, "directAccess", "dial string"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := tt.do()
				var re *routing.Error
				if !errors.As(err, &re) {
					t.Fatalf("error %v is not a *routing.Error", err)
				}
				if re.Code != tt.code || re.Field != tt.field || !strings.Contains(re.Message, tt.text) {
					t.Fatalf("got code=%s field=%s message=%q; want code=%s field=%s message containing %q",
						re.Code, re.Field, re.Message, tt.code, tt.field, tt.text)
				}
			})
		}
		if after := f.snapshot(); !reflect.DeepEqual(before, after) {
			t.Fatalf("bad input changed the store:\nbefore %+v\nafter  %+v", before, after)
		}
	})
}

func TestConcurrentSwitchesAndReopen(t *testing.T) {
	eachStore(t, func(t *testing.T) {
		f := newFixture(t)
		g := f.group("Front Desk", "1022")
		const workers, each = 50, 20
		var wg sync.WaitGroup
		errs := make(chan error, workers*each)
		answered := make(chan bool, workers*each)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				actor := routing.Actor{Name: "worker"}
				for i := 0; i < each; i++ {
					var res routing.Group
					var err error
					if (w+i)%2 == 0 {
						res, err = f.svc.Toggle(ctx, g.ID, actor, routing.ChannelREST)
					} else {
						res, err = f.svc.Toggle(ctx, g.ID, actor, routing.ChannelPhone)
					}
					if err != nil {
						errs <- err
						continue
					}
					answered <- res.On
				}
			}(w)
		}
		wg.Wait()
		close(errs)
		close(answered)
		for err := range errs {
			t.Fatal(err)
		}
		ons := 0
		n := 0
		for on := range answered {
			n++
			if on {
				ons++
			}
		}
		if n != workers*each {
			t.Fatalf("%d switches answered, want %d", n, workers*each)
		}
		// Toggling from OFF alternates ON, OFF, ON, …: exactly half the answers are ON.
		if ons != workers*each/2 {
			t.Fatalf("%d answers said ON, want %d", ons, workers*each/2)
		}
		check := func(when string) {
			got, err := f.svc.Group(ctx, g.ID)
			if err != nil {
				t.Fatal(err)
			}
			if want := (workers*each)%2 == 1; got.On != want {
				t.Fatalf("%s: state %v, want %v", when, got.On, want)
			}
			page, err := f.svc.Reports(ctx, routing.ReportFilter{Action: routing.ActionDiversion})
			if err != nil {
				t.Fatal(err)
			}
			if page.Total != workers*each {
				t.Fatalf("%s: %d diversion reports, want %d", when, page.Total, workers*each)
			}
			act, _ := f.svc.Reports(ctx, routing.ReportFilter{Action: routing.ActionDiversion, Status: routing.StatusActivated})
			if act.Total != workers*each/2 {
				t.Fatalf("%s: %d activations, want %d", when, act.Total, workers*each/2)
			}
		}
		check("before reopen")
		before := f.snapshot()
		f.reopen()
		check("after reopen")
		if after := f.snapshot(); !reflect.DeepEqual(before, after) {
			t.Fatalf("reopen changed the store:\nbefore %+v\nafter  %+v", before, after)
		}
	})
}

func TestSetStateReportsEverySwitch(t *testing.T) {
	eachStore(t, func(t *testing.T) {
		f := newFixture(t)
		g := f.group("Front Desk", "1022")
		for _, on := range []bool{true, true, false} {
			res, err := f.svc.SetState(ctx, g.ID, on, admin, routing.ChannelWeb)
			if err != nil {
				t.Fatal(err)
			}
			if res.On != on {
				t.Fatalf("SetState(%v) answered %v", on, res.On)
			}
		}
		page, err := f.svc.Reports(ctx, routing.ReportFilter{Action: routing.ActionDiversion, OldestFirst: true})
		if err != nil {
			t.Fatal(err)
		}
		var got []routing.Status
		for _, e := range page.Entries {
			got = append(got, e.Status)
			if e.Group != "Front Desk" || e.Receiver != "1022" || e.Username != admin.Name || e.Channel != routing.ChannelWeb {
				t.Errorf("entry %+v", e)
			}
		}
		want := []routing.Status{routing.StatusActivated, routing.StatusActivated, routing.StatusDeactivated}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("statuses %v, want %v", got, want)
		}
	})
}

func TestUsersAndAuthentication(t *testing.T) {
	eachStore(t, func(t *testing.T) {
		f := newFixture(t)
		pw, created, err := f.svc.EnsureAdmin(ctx, "admin", "", func() string { return "generated-secret" })
		if err != nil || !created || pw != "generated-secret" {
			t.Fatalf("EnsureAdmin: %q %v %v", pw, created, err)
		}
		if _, created, _ := f.svc.EnsureAdmin(ctx, "admin", "other-password", nil); created {
			t.Fatal("EnsureAdmin created a second administrator")
		}
		u, err := f.svc.Authenticate(ctx, "admin", "generated-secret")
		if err != nil || !u.Privileges.Has(routing.PrivREST) {
			t.Fatalf("admin sign-in: %+v %v", u, err)
		}
		for _, c := range []struct{ user, pw string }{{"admin", "wrong-password"}, {"nobody", "generated-secret"}, {"", ""}} {
			if _, err := f.svc.Authenticate(ctx, c.user, c.pw); routing.ErrorCode(err) != routing.EUNAUTHORIZED {
				t.Errorf("sign-in %q/%q: %v, want unauthorized", c.user, c.pw, err)
			}
		}

		privs, err := routing.ParsePrivileges([]string{"State", "reports"})
		if err != nil {
			t.Fatal(err)
		}
		rec, err := f.svc.CreateUser(ctx, admin, routing.ChannelWeb, routing.NewUser{Username: "reception",
			DisplayName: "Tamara Farrow", Department: "Sales", Lines: []string{"1 001"}, Privileges: privs, Password: "front-desk-1"})
		if err != nil {
			t.Fatal(err)
		}
		if rec.Label() != "Tamara Farrow, Sales" || !reflect.DeepEqual(rec.Lines, []string{"1001"}) {
			t.Fatalf("user %+v", rec)
		}
		if !rec.Privileges.Has(routing.PrivState) || rec.Privileges.Has(routing.PrivGroups) || rec.Privileges.Has(routing.PrivREST) {
			t.Fatalf("privileges %v", rec.Privileges)
		}
		if _, err := f.svc.CreateUser(ctx, admin, routing.ChannelWeb, routing.NewUser{Username: "other", Lines: []string{"1001"}}); routing.ErrorCode(err) != routing.ECONFLICT ||
			!strings.Contains(routing.ErrorMessage(err), "Tamara Farrow, Sales") {
			t.Fatalf("second owner of 1001: %v", err)
		}
		if _, err := f.svc.CreateUser(ctx, admin, routing.ChannelWeb, routing.NewUser{Username: "RECEPTION"}); routing.ErrorCode(err) != routing.ECONFLICT {
			t.Fatalf("duplicate username: %v", err)
		}
		if err := f.svc.SetPassword(ctx, admin, routing.ChannelWeb, rec.ID, "new-password-2"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Authenticate(ctx, "reception", "front-desk-1"); routing.ErrorCode(err) != routing.EUNAUTHORIZED {
			t.Fatalf("old password still works: %v", err)
		}
		if _, err := f.svc.Authenticate(ctx, "reception", "new-password-2"); err != nil {
			t.Fatal(err)
		}
		lines := []string{"1002"}
		up, err := f.svc.UpdateUser(ctx, admin, routing.ChannelWeb, rec.ID, routing.UserUpdate{Lines: &lines})
		if err != nil || !reflect.DeepEqual(up.Lines, lines) {
			t.Fatalf("update lines: %+v %v", up, err)
		}
		if name, _ := f.svc.UsernameOf(ctx, "1001"); name != "" {
			t.Fatalf("1001 still owned by %q", name)
		}
		if err := f.svc.DeleteUser(ctx, admin, routing.ChannelWeb, rec.ID); err != nil {
			t.Fatal(err)
		}
		if name, _ := f.svc.UsernameOf(ctx, "1002"); name != "" {
			t.Fatalf("deleted user still owns 1002: %q", name)
		}
		page, _ := f.svc.Reports(ctx, routing.ReportFilter{Action: routing.ActionUser})
		// admin created, reception created, password set, lines changed, deleted
		if page.Total != 5 {
			t.Fatalf("%d user reports, want 5", page.Total)
		}
	})
}

func TestReportQuery(t *testing.T) {
	eachStore(t, func(t *testing.T) {
		f := newFixture(t)
		base := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
		entries := []routing.ReportEntry{
			{Time: base, Action: routing.ActionDiversion, Status: routing.StatusActivated, Username: "Tamara Farrow, Sales", Receiver: "1022", Group: "Front Desk"},
			{Time: base.Add(time.Hour), Status: routing.StatusConnected, Caller: "+41441234567", Receiver: "1001", Group: "Front Desk"},
			{Time: base.Add(2 * time.Hour), Status: routing.StatusBusy, Caller: "0799999999", Receiver: "1002", Group: "Support"},
			{Time: base.Add(3 * time.Hour), Status: routing.StatusDirectAccess, Caller: "2001", Receiver: "1001", Group: "Front Desk"},
			{Time: base.Add(4 * time.Hour), Action: routing.ActionDiversion, Status: routing.StatusDeactivated, Username: "John O'Neil, Support", Receiver: "1022", Group: "Front Desk"},
		}
		for _, e := range entries {
			var err error
			if e.Action == "" {
				err = f.svc.RecordCall(ctx, e)
			} else {
				err = f.db.Update(ctx, func(tx routing.Tx) error { return tx.AppendReport(&e) })
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		tests := []struct {
			name   string
			filter routing.ReportFilter
			want   []int // indexes into entries, in answer order
			total  int
		}{
			{"all, newest first", routing.ReportFilter{}, []int{4, 3, 2, 1, 0}, 5},
			{"oldest first", routing.ReportFilter{OldestFirst: true}, []int{0, 1, 2, 3, 4}, 5},
			{"paged", routing.ReportFilter{Limit: 2, Offset: 1}, []int{3, 2}, 5},
			{"time range inclusive", routing.ReportFilter{From: base.Add(time.Hour), To: base.Add(3 * time.Hour)}, []int{3, 2, 1}, 3},
			{"action", routing.ReportFilter{Action: routing.ActionCallHandler}, []int{3, 2, 1}, 3},
			{"status", routing.ReportFilter{Status: routing.StatusBusy}, []int{2}, 1},
			{"search group, case-insensitive", routing.ReportFilter{Search: "front desk"}, []int{4, 3, 1, 0}, 4},
			{"search username substring", routing.ReportFilter{Search: "farrow"}, []int{0}, 1},
			{"search caller with +", routing.ReportFilter{Search: "+4144"}, []int{1}, 1},
			{"search two characters", routing.ReportFilter{Search: "79"}, []int{2}, 1},
			{"search with quote", routing.ReportFilter{Search: "O'Neil"}, []int{4}, 1},
			{"search with LIKE wildcard is literal", routing.ReportFilter{Search: "%"}, nil, 0},
			{"search with FTS syntax is literal", routing.ReportFilter{Search: `"OR*`}, nil, 0},
			{"search receiver", routing.ReportFilter{Search: "1001", Action: routing.ActionCallHandler}, []int{3, 1}, 2},
			{"nothing", routing.ReportFilter{Search: "nobody-at-all"}, nil, 0},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				page, err := f.svc.Reports(ctx, tt.filter)
				if err != nil {
					t.Fatal(err)
				}
				if page.Total != tt.total {
					t.Errorf("total %d, want %d", page.Total, tt.total)
				}
				var got []int
				for _, e := range page.Entries {
					for i, w := range entries {
						if e.Time.Equal(w.Time) {
							got = append(got, i)
						}
					}
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("entries %v, want %v", got, tt.want)
				}
			})
		}
		page, _ := f.svc.Reports(ctx, routing.ReportFilter{Status: routing.StatusConnected})
		if e := page.Entries[0]; e.Action != routing.ActionCallHandler || e.Channel != routing.ChannelSIP {
			t.Errorf("recorded call %+v: want action Call Handler, channel sip", e)
		}
	})
}

func TestSettingsAndAnnouncements(t *testing.T) {
	eachStore(t, func(t *testing.T) {
		f := newFixture(t)
		st, err := f.svc.Settings(ctx)
		if err != nil || !st.ConnectToCalled || st.AnnouncementID != 0 || len(st.DirectAccess) != 0 {
			t.Fatalf("default settings %+v %v", st, err)
		}
		a, err := f.svc.AddAnnouncement(ctx, admin, routing.ChannelWeb, routing.Announcement{Name: "Welcome", FileName: "welcome.wav", Duration: 3200 * time.Millisecond}, nil)
		if err != nil {
			t.Fatal(err)
		}
		off := false
		st, err = f.svc.UpdateSettings(ctx, admin, routing.ChannelWeb, routing.SettingsUpdate{
			ConnectToCalled: &off, DirectAccess: &[]string{"+41 44 123", "", "2001", "2001"}, AnnouncementID: &a.ID})
		if err != nil {
			t.Fatal(err)
		}
		want := routing.Settings{ConnectToCalled: false, DirectAccess: []string{"+4144123", "2001"}, AnnouncementID: a.ID}
		if !reflect.DeepEqual(st, want) {
			t.Fatalf("settings %+v, want %+v", st, want)
		}
		if err := f.svc.DeleteAnnouncement(ctx, admin, routing.ChannelWeb, a.ID); routing.ErrorCode(err) != routing.ECONFLICT {
			t.Fatalf("deleting the active announcement: %v", err)
		}
		g := f.group("Sales", "5000")
		f.line(g, "1001")
		if _, err := f.svc.UpdateGroup(ctx, admin, routing.ChannelWeb, g.ID, routing.GroupUpdate{AnnouncementID: &a.ID}); err != nil {
			t.Fatal(err)
		}
		zero := int64(0)
		if _, err := f.svc.UpdateSettings(ctx, admin, routing.ChannelWeb, routing.SettingsUpdate{AnnouncementID: &zero}); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.DeleteAnnouncement(ctx, admin, routing.ChannelWeb, a.ID); routing.ErrorCode(err) != routing.ECONFLICT ||
			!strings.Contains(routing.ErrorMessage(err), `"Sales"`) {
			t.Fatalf("deleting a group's announcement: %v", err)
		}

		f.reopen()
		d, err := f.svc.DecideCall(ctx, routing.Call{Caller: "+41 44 123", Called: "5000", Initial: "1001"})
		if err != nil || d.Verdict != routing.VerdictBridge || d.Status != routing.StatusDirectAccess || d.Group != "Sales" {
			t.Fatalf("direct access decision %+v %v", d, err)
		}
		d, err = f.svc.DecideCall(ctx, routing.Call{Caller: "3333", Called: "5000", Initial: "1001"})
		if err != nil || d.Verdict != routing.VerdictAnnounceThenHangup || d.AnnouncementID != a.ID {
			t.Fatalf("announce decision %+v %v", d, err)
		}
		if _, err := f.svc.SetState(ctx, g.ID, true, admin, routing.ChannelWeb); err != nil {
			t.Fatal(err)
		}
		d, err = f.svc.DecideCall(ctx, routing.Call{Caller: "3333", Called: "1001"})
		if err != nil || d.Verdict != routing.VerdictDivert || d.Target != "5000" || d.DivertedFrom != "1001" {
			t.Fatalf("divert decision %+v %v", d, err)
		}
		anns, err := f.svc.Announcements(ctx)
		if err != nil || len(anns) != 1 || anns[0].Duration != 3200*time.Millisecond || anns[0].UploadedBy != admin.Name {
			t.Fatalf("announcements %+v %v", anns, err)
		}
	})
}

func TestRecordCallsConcurrently(t *testing.T) {
	eachStore(t, func(t *testing.T) {
		f := newFixture(t)
		if _, err := f.svc.CreateUser(ctx, admin, routing.ChannelWeb, routing.NewUser{Username: "tf",
			DisplayName: "Tamara Farrow", Department: "Sales", Lines: []string{"1001"}}); err != nil {
			t.Fatal(err)
		}
		const n = 200
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				e := routing.ReportEntry{Status: routing.StatusConnected, Caller: fmt.Sprintf("07%08d", i), Receiver: "1001", Group: "Sales"}
				if err := f.svc.RecordCall(ctx, e); err != nil {
					errs <- err
					return
				}
				// Recorded means committed: a reader sees it at once.
				page, err := f.svc.Reports(ctx, routing.ReportFilter{Search: e.Caller})
				if err != nil || page.Total != 1 {
					errs <- fmt.Errorf("entry of %s not visible after RecordCall returned: %v %v", e.Caller, page.Total, err)
				}
			}(i)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		page, err := f.svc.Reports(ctx, routing.ReportFilter{Action: routing.ActionCallHandler, Limit: routing.MaxReportLimit})
		if err != nil || page.Total != n {
			t.Fatalf("%d call entries, want %d (%v)", page.Total, n, err)
		}
		for _, e := range page.Entries {
			if e.Username != "Tamara Farrow, Sales" || e.Channel != routing.ChannelSIP {
				t.Fatalf("entry %+v: want the receiver's owner as username and channel sip", e)
			}
		}
		// A store that fails makes every waiting recorder fail, and nothing is half-written.
		f.db.Close()
		if err := f.svc.RecordCall(ctx, routing.ReportEntry{Status: routing.StatusConnected, Receiver: "1001"}); err == nil {
			t.Fatal("recording into a closed store succeeded")
		}
		f.open()
	})
}

// TestAnnouncementAudioInTheStore: an announcement's audio is stored with
// it, goes with it, and the audio an earlier version kept in a file is
// taken over only for an announcement that has none.
func TestAnnouncementAudioInTheStore(t *testing.T) {
	eachStore(t, func(t *testing.T) {
		f := newFixture(t)
		audio := []byte("PDG711 stored form")
		a, err := f.svc.AddAnnouncement(ctx, admin, routing.ChannelWeb, routing.Announcement{Name: "Welcome", Duration: time.Second}, audio)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := f.svc.AnnouncementAudio(ctx, a.ID); err != nil || !bytes.Equal(got, audio) {
			t.Fatalf("the audio read back: %q %v", got, err)
		}
		if n, err := f.svc.AnnouncementAudioSize(ctx); err != nil || n != int64(len(audio)) {
			t.Errorf("size %d %v, want %d", n, err, len(audio))
		}
		// Taken over only where none is stored.
		older, err := f.svc.AddAnnouncement(ctx, admin, routing.ChannelWeb, routing.Announcement{Name: "Older", Duration: time.Second}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.AnnouncementAudio(ctx, older.ID); routing.ErrorCode(err) != routing.ENOTFOUND {
			t.Fatalf("an announcement without audio: %v", err)
		}
		for _, c := range []struct {
			id   int64
			took bool
		}{{older.ID, true}, {older.ID, false}, {a.ID, false}, {9999, false}} {
			took, err := f.svc.TakeOverAnnouncementAudio(ctx, c.id, []byte("from a file"))
			if err != nil || took != c.took {
				t.Errorf("take over %d: %v %v, want %v", c.id, took, err, c.took)
			}
		}
		if got, _ := f.svc.AnnouncementAudio(ctx, a.ID); !bytes.Equal(got, audio) {
			t.Error("a stored audio was replaced by a file's")
		}
		// Deleted with its announcement.
		if err := f.svc.DeleteAnnouncement(ctx, admin, routing.ChannelWeb, a.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.AnnouncementAudio(ctx, a.ID); routing.ErrorCode(err) != routing.ENOTFOUND {
			t.Errorf("the audio of a deleted announcement: %v", err)
		}
	})
}
