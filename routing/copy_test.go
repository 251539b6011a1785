package routing_test

import (
	"bytes"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/phonediversions/phonediversions/routing"
	"github.com/phonediversions/phonediversions/routing/postgres"
	"github.com/phonediversions/phonediversions/routing/routingtest"
	"github.com/phonediversions/phonediversions/routing/sqlite"
)

// TestCopyStoreRoundTrip moves a one-machine installation to PostgreSQL
// and back: everything a user could see, the announcements' audio, the
// sign-in sessions and the phone service's secret come through unchanged,
// ids included; new records get ids past the copied ones; a store with
// data is never copied into.
func TestCopyStoreRoundTrip(t *testing.T) {
	dir := t.TempDir()
	src := sqlite.New(filepath.Join(dir, "pd.db"))
	if err := src.Open(); err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	svc := routing.NewService(src, routing.WithPasswordCost(4))
	g, err := svc.CreateGroup(ctx, admin, routing.ChannelWeb, routing.Group{Name: "Zürich Front Desk", Destination: "+41445551022", Description: "Empfang"})
	if err != nil {
		t.Fatal(err)
	}
	mustLine := func(number string) {
		if _, err := svc.AddLine(ctx, admin, routing.ChannelWeb, g.ID, number, "line "+number); err != nil {
			t.Fatal(err)
		}
	}
	mustLine("2001")
	mustLine("2002")
	u, err := svc.CreateUser(ctx, admin, routing.ChannelWeb, routing.NewUser{Username: "tfarrow", DisplayName: "Tamara Farrow", Department: "Sales",
		Password: "a long password", Privileges: routing.PrivState | routing.PrivREST, Lines: []string{"2001"}})
	if err != nil {
		t.Fatal(err)
	}
	token, _, err := svc.StartSession(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SetState(ctx, g.ID, true, admin, routing.ChannelREST); err != nil {
		t.Fatal(err)
	}
	ranges, _ := routing.ParseRanges("Mon-Fri 12:00-13:00", "ranges")
	if _, err := svc.SetSchedule(ctx, admin, routing.ChannelWeb, g.ID, ranges); err != nil {
		t.Fatal(err)
	}
	first, _ := routing.ParseDate("2026-12-25")
	if _, err := svc.AddHoliday(ctx, admin, routing.ChannelWeb, routing.Holiday{Name: "Christmas", First: first, Last: first, GroupIDs: []int64{g.ID}}); err != nil {
		t.Fatal(err)
	}
	audio := []byte("PDG711 the stored form of an announcement")
	a, err := svc.AddAnnouncement(ctx, admin, routing.ChannelWeb, routing.Announcement{Name: "Welcome", Duration: 1500 * time.Millisecond}, audio)
	if err != nil {
		t.Fatal(err)
	}
	on := false
	if _, err := svc.UpdateSettings(ctx, admin, routing.ChannelWeb, routing.SettingsUpdate{ConnectToCalled: &on, DirectAccess: &[]string{"0791234567"}, AnnouncementID: &a.ID}); err != nil {
		t.Fatal(err)
	}
	if err := svc.RecordCall(ctx, routing.ReportEntry{Status: routing.StatusConnected, Caller: "0441234567", Receiver: "2002"}); err != nil {
		t.Fatal(err)
	}
	secret, err := svc.PhoneSecret(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := routingtest.Take(t, svc)

	// To PostgreSQL.
	pg := postgres.New(routingtest.PostgresURL(t))
	if err := pg.Open(); err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	if err := pg.Copy(ctx, src); err != nil {
		t.Fatal(err)
	}
	pgSvc := routing.NewService(pg, routing.WithPasswordCost(4))
	check := func(where string, s *routing.Service) {
		t.Helper()
		if got := routingtest.Take(t, s); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: the copy differs:\n%+v\nwant\n%+v", where, got, want)
		}
		if got, err := s.AnnouncementAudio(ctx, a.ID); err != nil || !bytes.Equal(got, audio) {
			t.Errorf("%s: the announcement's audio: %v", where, err)
		}
		if got, err := s.PhoneSecret(ctx); err != nil || !bytes.Equal(got, secret) {
			t.Errorf("%s: the phone service's secret: %v", where, err)
		}
		if _, user, err := s.SessionUser(ctx, token, routing.SessionLimits{Idle: 24 * time.Hour, Max: 24 * time.Hour}); err != nil || user.ID != u.ID {
			t.Errorf("%s: the session: %v", where, err)
		}
		if _, err := s.Authenticate(ctx, "tfarrow", "a long password"); err != nil {
			t.Errorf("%s: the password: %v", where, err)
		}
		page, err := s.Reports(ctx, routing.ReportFilter{Search: "Front"})
		if err != nil || page.Total < 3 {
			t.Errorf("%s: the report's search: %d %v", where, page.Total, err)
		}
	}
	check("on PostgreSQL", pgSvc)
	if g2, err := pgSvc.CreateGroup(ctx, admin, routing.ChannelWeb, routing.Group{Name: "Next", Destination: "1"}); err != nil || g2.ID <= g.ID {
		t.Errorf("a new group after the copy: id %d %v, want one past %d", g2.ID, err, g.ID)
	}
	if err := pg.Copy(ctx, src); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("a copy into a store with data: %v", err)
	}

	// And back to a new SQLite file, from the PostgreSQL copy as it was.
	back := sqlite.New(filepath.Join(dir, "back.db"))
	if err := back.Open(); err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	pgCopy := postgres.New(routingtest.PostgresURL(t))
	if err := pgCopy.Open(); err != nil {
		t.Fatal(err)
	}
	defer pgCopy.Close()
	if err := pgCopy.Copy(ctx, src); err != nil {
		t.Fatal(err)
	}
	if err := back.Copy(ctx, pgCopy); err != nil {
		t.Fatal(err)
	}
	check("back on SQLite", routing.NewService(back, routing.WithPasswordCost(4)))
}
