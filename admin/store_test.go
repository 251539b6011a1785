package admin_test

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/phonediversions/phonediversions/routing"
	"github.com/phonediversions/phonediversions/routing/postgres"
	"github.com/phonediversions/phonediversions/routing/routingtest"
)

// TestSwitchRefusedWhileStoreUnreachable: with its PostgreSQL server out
// of reach, a switch through the REST API is refused as unavailable (503,
// Retry-After, a message that says so) and changes nothing; once the
// server is back the same request switches.
func TestSwitchRefusedWhileStoreUnreachable(t *testing.T) {
	px := routingtest.PostgresProxy(t, routingtest.PostgresURL(t))
	db := postgres.New(px.URL)
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f := newFixture(t, func(f *fixture) {
		f.svc = routing.NewService(db, routing.WithPasswordCost(bcrypt.MinCost), routing.WithSharedStore())
	})
	g, err := f.svc.CreateGroup(ctx, admin0, routing.ChannelWeb, routing.Group{Name: "Sales", Destination: "5000"})
	if err != nil {
		t.Fatal(err)
	}
	switchOn := url.Values{"groupId": {strconv.FormatInt(g.ID, 10)}, "state": {"ON"}}

	px.Cut()
	r := f.post("/Rest/setDiversion", switchOn)
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" ||
		!strings.Contains(r.body, "UNAVAILABLE") || !strings.Contains(r.body, "database cannot be reached") {
		t.Errorf("a switch while the store is out of reach: %d, Retry-After %q, %s; want 503 saying the database cannot be reached",
			r.status, r.header.Get("Retry-After"), r.body)
	}

	// A call's report entry waits in memory, and the metrics say so.
	if err := f.svc.RecordCall(ctx, routing.ReportEntry{Status: routing.StatusTerminated, Caller: "0441234567", Receiver: "1001"}); !errors.Is(err, routing.ErrReportKept) {
		t.Errorf("a call's entry while the store is out of reach: %v, want it kept", err)
	}
	if m := f.get("/metrics"); !strings.Contains(m.body, "\nphonediversions_report_entries_kept 1\n") ||
		!strings.Contains(m.body, "\nphonediversions_report_entries_dropped_total 0\n") {
		t.Errorf("metrics while an entry is kept:\n%s", m.body)
	}

	px.Restore()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if kept, _ := f.svc.ReportQueue(); kept == 0 {
			break
		} else if time.Now().After(deadline) {
			t.Fatal("the kept entry was not written within 10 s of the store's return")
		}
	}
	if got, err := f.svc.Group(ctx, g.ID); err != nil || got.On {
		t.Fatalf("after the refused switch the group is %+v (%v), want it OFF as before", got, err)
	}
	if r := f.post("/Rest/setDiversion", switchOn); r.status != http.StatusOK {
		t.Errorf("the same switch once the store is back: %d %s", r.status, r.body)
	}
	if got, err := f.svc.Group(ctx, g.ID); err != nil || !got.On {
		t.Errorf("after the switch the group is %+v (%v), want it ON", got, err)
	}
}

// TestFailedSignInsCountOnEveryNode: two nodes on one PostgreSQL
// database. Ten wrong passwords sent to one node close the address on
// the other too (429, even with the right password); another address
// signs in there.
func TestFailedSignInsCountOnEveryNode(t *testing.T) {
	dbURL := routingtest.PostgresURL(t)
	node := func() *fixture {
		db := postgres.New(dbURL)
		if err := db.Open(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return newFixture(t, func(f *fixture) {
			f.svc = routing.NewService(db, routing.WithPasswordCost(bcrypt.MinCost), routing.WithSharedStore())
		})
	}
	a, b := node(), node()
	a.user("scripter", "script-password", routing.PrivREST)
	attacker := client("127.0.0.2")
	for i := range 10 {
		if r := a.do(attacker, "GET", "/Rest/listGroups", nil, "Authorization", basic("scripter", "guess")); r.status != http.StatusUnauthorized {
			t.Fatalf("wrong password %d on node A: %d, want 401", i+1, r.status)
		}
	}
	r := b.do(attacker, "GET", "/Rest/listGroups", nil, "Authorization", basic("scripter", "script-password"))
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Errorf("the right password from the same address on node B: %d (Retry-After %q), want 429", r.status, r.header.Get("Retry-After"))
	}
	if r := b.do(client("127.0.0.3"), "GET", "/Rest/listGroups", nil, "Authorization", basic("scripter", "script-password")); r.status != http.StatusOK {
		t.Errorf("another address on node B: %d, want 200", r.status)
	}
}
