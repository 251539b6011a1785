package routing_test

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/phonediversions/phonediversions/routing"
)

func TestSessions(t *testing.T) {
	eachStore(t, func(t *testing.T) {
		f := newFixture(t)
		now := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)
		svc := routing.NewService(f.db, routing.WithClock(func() time.Time { return now }), routing.WithPasswordCost(4))
		u, err := svc.CreateUser(ctx, admin, routing.ChannelWeb, routing.NewUser{Username: "reception", Password: "front-desk-1"})
		if err != nil {
			t.Fatal(err)
		}
		lim := routing.SessionLimits{Idle: time.Hour, Max: 8 * time.Hour}
		token, sess, err := svc.StartSession(ctx, u.ID)
		if err != nil || len(token) < 40 || sess.CSRF == "" || sess.ID == token {
			t.Fatalf("start: %q %+v %v", token, sess, err)
		}
		got, gu, err := svc.SessionUser(ctx, token, lim)
		if err != nil || gu.ID != u.ID || got.CSRF != sess.CSRF {
			t.Fatalf("lookup: %+v %+v %v", got, gu, err)
		}
		for _, bad := range []string{"", "x", token + "x", sess.ID} {
			if _, _, err := svc.SessionUser(ctx, bad, lim); routing.ErrorCode(err) != routing.EUNAUTHORIZED {
				t.Errorf("token %q: %v", bad, err)
			}
		}
		// Used every 50 minutes it lives past an idle hour, up to 8 hours.
		for range 9 {
			now = now.Add(50 * time.Minute)
			if _, _, err := svc.SessionUser(ctx, token, lim); err != nil {
				t.Fatalf("used at %v: %v", now, err)
			}
		}
		now = now.Add(50 * time.Minute) // 8 h 20 min after it began
		if _, _, err := svc.SessionUser(ctx, token, lim); routing.ErrorCode(err) != routing.EUNAUTHORIZED {
			t.Fatalf("past its absolute limit: %v", err)
		}
		// Idle for an hour: ended.
		token, _, _ = svc.StartSession(ctx, u.ID)
		now = now.Add(time.Hour)
		if _, _, err := svc.SessionUser(ctx, token, lim); routing.ErrorCode(err) != routing.EUNAUTHORIZED {
			t.Fatalf("idle for an hour: %v", err)
		}
		// Signing out ends it at once; ending a user's sessions ends them all.
		token, _, _ = svc.StartSession(ctx, u.ID)
		if err := svc.EndSession(ctx, token); err != nil {
			t.Fatal(err)
		}
		if _, _, err := svc.SessionUser(ctx, token, lim); routing.ErrorCode(err) != routing.EUNAUTHORIZED {
			t.Fatalf("after sign-out: %v", err)
		}
		t1, _, _ := svc.StartSession(ctx, u.ID)
		t2, _, _ := svc.StartSession(ctx, u.ID)
		svc.EndUserSessions(ctx, u.ID)
		for _, tok := range []string{t1, t2} {
			if _, _, err := svc.SessionUser(ctx, tok, lim); routing.ErrorCode(err) == "" {
				t.Error("a session outlived EndUserSessions")
			}
		}
		// A deleted user's sessions go with the user; stale ones are pruned.
		svc.StartSession(ctx, u.ID)
		svc.StartSession(ctx, u.ID)
		now = now.Add(2 * time.Hour)
		if n, err := svc.PruneSessions(ctx, lim); err != nil || n != 2 {
			t.Errorf("pruned %d, %v; want 2", n, err)
		}
		t3, _, _ := svc.StartSession(ctx, u.ID)
		if err := svc.DeleteUser(ctx, routing.Actor{Name: "admin"}, routing.ChannelWeb, u.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := svc.SessionUser(ctx, t3, lim); routing.ErrorCode(err) != routing.EUNAUTHORIZED {
			t.Errorf("a deleted user's session: %v", err)
		}
		if _, _, err := svc.StartSession(ctx, u.ID); routing.ErrorCode(err) != routing.ENOTFOUND {
			t.Errorf("session of a deleted user: %v", err)
		}
	})
}

func TestAdministratorsStay(t *testing.T) {
	eachStore(t, func(t *testing.T) {
		f := newFixture(t)
		boss, err := f.svc.CreateUser(ctx, admin, routing.ChannelWeb, routing.NewUser{Username: "boss", Privileges: routing.PrivAdmin})
		if err != nil {
			t.Fatal(err)
		}
		self := routing.Actor{UserID: boss.ID, Name: "boss"}
		none := routing.Privileges(routing.PrivState)
		if _, err := f.svc.UpdateUser(ctx, self, routing.ChannelWeb, boss.ID, routing.UserUpdate{Privileges: &none}); routing.ErrorCode(err) != routing.ECONFLICT {
			t.Errorf("removing one's own Admin: %v", err)
		}
		if err := f.svc.DeleteUser(ctx, self, routing.ChannelWeb, boss.ID); routing.ErrorCode(err) != routing.ECONFLICT {
			t.Errorf("deleting oneself: %v", err)
		}
		other := routing.Actor{UserID: 999, Name: "someone"}
		if err := f.svc.DeleteUser(ctx, other, routing.ChannelWeb, boss.ID); routing.ErrorCode(err) != routing.ECONFLICT {
			t.Errorf("deleting the last administrator: %v", err)
		}
		if _, err := f.svc.UpdateUser(ctx, other, routing.ChannelWeb, boss.ID, routing.UserUpdate{Privileges: &none}); routing.ErrorCode(err) != routing.ECONFLICT {
			t.Errorf("demoting the last administrator: %v", err)
		}
		second, err := f.svc.CreateUser(ctx, admin, routing.ChannelWeb, routing.NewUser{Username: "second", Privileges: routing.AllPrivileges})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.UpdateUser(ctx, routing.Actor{UserID: second.ID}, routing.ChannelWeb, boss.ID, routing.UserUpdate{Privileges: &none}); err != nil {
			t.Errorf("another administrator demoting one of two: %v", err)
		}
		if err := f.svc.DeleteUser(ctx, routing.Actor{UserID: second.ID}, routing.ChannelWeb, boss.ID); err != nil {
			t.Errorf("deleting a former administrator: %v", err)
		}
	})
}

// TestReportCountsFoldIntoLocalHoursAndDays counts entries around the end
// of daylight-saving time in Zurich (2026-10-25, 03:00 CEST → 02:00 CET).
func TestReportCountsFoldIntoLocalHoursAndDays(t *testing.T) {
	eachStore(t, func(t *testing.T) {
		f := newFixture(t)
		zurich, _ := time.LoadLocation("Europe/Zurich")
		add := func(at time.Time, st routing.Status) {
			if err := f.db.Update(ctx, func(tx routing.Tx) error {
				return tx.AppendReport(&routing.ReportEntry{Time: at, Action: routing.ActionCallHandler, Status: st})
			}); err != nil {
				t.Fatal(err)
			}
		}
		// 01:59:59 UTC = 02:59:59 CEST; 02:00 UTC = 02:00 CET: the same local
		// hour twice, two one-hour buckets, both at "02:00".
		add(time.Date(2026, 10, 25, 0, 30, 0, 0, time.UTC), routing.StatusConnected)  // 02:30 CEST
		add(time.Date(2026, 10, 25, 1, 30, 0, 0, time.UTC), routing.StatusConnected)  // 02:30 CET
		add(time.Date(2026, 10, 25, 1, 45, 0, 0, time.UTC), routing.StatusCancelled)  // 02:45 CET
		add(time.Date(2026, 10, 25, 22, 59, 0, 0, time.UTC), routing.StatusConnected) // 23:59 CET, same day
		add(time.Date(2026, 10, 25, 23, 0, 0, 0, time.UTC), routing.StatusConnected)  // 00:00 the next day
		days, err := f.svc.ReportCounts(ctx, routing.ReportFilter{}, zurich, true)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"2026-10-25 Connected 3", "2026-10-25 Cancelled 1", "2026-10-26 Connected 1"}
		if got := countStrings(days, "2006-01-02"); !slices.Equal(got, want) {
			t.Errorf("per day: %v, want %v", got, want)
		}
		hours, err := f.svc.ReportCounts(ctx, routing.ReportFilter{}, zurich, false)
		if err != nil {
			t.Fatal(err)
		}
		want = []string{"02:00+02:00 Connected 1", "02:00+01:00 Connected 1", "02:00+01:00 Cancelled 1", "23:00+01:00 Connected 1", "00:00+01:00 Connected 1"}
		if got := countStrings(hours, "15:04Z07:00"); !slices.Equal(got, want) {
			t.Errorf("per hour: %v, want %v", got, want)
		}
		// Filters apply.
		only, _ := f.svc.ReportCounts(ctx, routing.ReportFilter{Status: routing.StatusCancelled}, zurich, true)
		if len(only) != 1 || only[0].Count != 1 {
			t.Errorf("filtered: %v", only)
		}
		var n int
		if err := f.svc.EachReport(ctx, routing.ReportFilter{Limit: 1, OldestFirst: true}, func(e routing.ReportEntry) error {
			n++
			return nil
		}); err != nil || n != 5 {
			t.Errorf("EachReport saw %d entries, %v", n, err)
		}
	})
}

func countStrings(cs []routing.ReportCount, layout string) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Start.Format(layout)+" "+string(c.Status)+" "+itoa(c.Count))
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestSignInFailuresAreShared: failed sign-ins counted through one
// service are seen through another on the same store; a count lasts its
// window, a success clears it, and the counts whose window ended are
// removed as new failures come.
func TestSignInFailuresAreShared(t *testing.T) {
	eachStore(t, func(t *testing.T) {
		where := newDatabase(t)
		a := routing.NewService(openStore(t, where, nil), routing.WithSharedStore())
		b := routing.NewService(openStore(t, where, nil), routing.WithSharedStore())
		t0 := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
		const window = time.Minute
		keys := []string{"192.0.2.7/32 admin", "192.0.2.7/32"}
		for i := range 3 {
			if err := a.CountSignInFailure(ctx, keys, t0.Add(time.Duration(i)*time.Second), window); err != nil {
				t.Fatal(err)
			}
		}
		got, err := b.SignInFailures(ctx, append(keys, "198.51.100.1/32"), t0.Add(10*time.Second), window)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]routing.SignInFailures{keys[0]: {Count: 3, Started: t0}, keys[1]: {Count: 3, Started: t0}}
		if len(got) != len(want) || got[keys[0]].Count != 3 || !got[keys[0]].Started.Equal(t0) || got[keys[1]].Count != 3 {
			t.Errorf("counts read on the other service: %+v, want %+v", got, want)
		}
		if err := b.ClearSignInFailures(ctx, keys[0]); err != nil {
			t.Fatal(err)
		}
		if got, _ := a.SignInFailures(ctx, keys, t0.Add(10*time.Second), window); len(got) != 1 || got[keys[1]].Count != 3 {
			t.Errorf("after a success of the username: %+v, want the address's count alone", got)
		}
		// The window ends: the count is gone, and a new failure starts a
		// new window and removes the ended ones.
		later := t0.Add(window + time.Second)
		if got, _ := a.SignInFailures(ctx, keys, later, window); len(got) != 0 {
			t.Errorf("after the window: %+v, want none", got)
		}
		if err := a.CountSignInFailure(ctx, []string{"203.0.113.9/32"}, later, window); err != nil {
			t.Fatal(err)
		}
		if got, _ := b.SignInFailures(ctx, []string{"203.0.113.9/32"}, later, window); got["203.0.113.9/32"].Count != 1 {
			t.Errorf("a new address: %+v", got)
		}
		// Read as if in the old window: the row itself is gone.
		if got, _ := b.SignInFailures(ctx, keys, t0.Add(10*time.Second), window); len(got) != 0 {
			t.Errorf("the ended window's counts are still stored: %+v", got)
		}
		if err := a.CountSignInFailure(ctx, keys[1:], later, window); err != nil {
			t.Fatal(err)
		}
		if got, _ := a.SignInFailures(ctx, keys[1:], later, window); got[keys[1]].Count != 1 || !got[keys[1]].Started.Equal(later) {
			t.Errorf("a failure after the window: %+v, want the first of a new window", got)
		}
	})
}
