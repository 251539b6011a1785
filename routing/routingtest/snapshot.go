// Package routingtest helps the tests of packages built on routing.
package routingtest

import (
	"context"
	"testing"

	"github.com/phonediversions/phonediversions/routing"
)

// Snapshot is everything a user could see in the store: tests compare one
// taken before bad input with one taken after.
type Snapshot struct {
	Groups   []routing.Group
	Lines    map[int64][]routing.LineInfo
	Users    []routing.User
	Settings routing.Settings
	Plans    map[int64]routing.Plan
	Holidays []routing.Holiday
	Reports  int
}

// Take reads a snapshot through the service; a read error fails the test.
func Take(t testing.TB, svc *routing.Service) Snapshot {
	t.Helper()
	ctx := context.Background()
	var s Snapshot
	var err error
	if s.Groups, err = svc.Groups(ctx, routing.GroupFilter{}); err != nil {
		t.Fatal(err)
	}
	s.Lines = map[int64][]routing.LineInfo{}
	for _, g := range s.Groups {
		if s.Lines[g.ID], err = svc.Lines(ctx, g.ID); err != nil {
			t.Fatal(err)
		}
	}
	if s.Users, err = svc.Users(ctx); err != nil {
		t.Fatal(err)
	}
	if s.Settings, err = svc.Settings(ctx); err != nil {
		t.Fatal(err)
	}
	if s.Plans, err = svc.Plans(ctx); err != nil {
		t.Fatal(err)
	}
	if s.Holidays, err = svc.Holidays(ctx); err != nil {
		t.Fatal(err)
	}
	page, err := svc.Reports(ctx, routing.ReportFilter{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	s.Reports = page.Total
	return s
}
