package admin_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

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

	px.Restore()
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
