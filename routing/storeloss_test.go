package routing_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/phonediversions/phonediversions/routing"
	"github.com/phonediversions/phonediversions/routing/routingtest"
)

// TestStoreLostCallsGoOn: a node whose PostgreSQL server goes away keeps
// deciding calls from what it last read, keeps their report entries (up
// to its queue's size, the rest counted as dropped) and writes them once
// the server is back; switches are refused as unavailable meanwhile, and
// work again afterwards.
func TestStoreLostCallsGoOn(t *testing.T) {
	px := routingtest.PostgresProxy(t, routingtest.PostgresURL(t))
	const queue = 5
	svc := routing.NewService(openStore(t, px.URL, nil), routing.WithPasswordCost(4), routing.WithSharedStore(),
		routing.WithReportQueue(queue))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go svc.FollowStore(ctx, func(error) {})
	go svc.WatchStore(ctx, 20*time.Millisecond)
	waitFor(t, "the node follows the store", svc.Following)

	g, err := svc.CreateGroup(ctx, admin, routing.ChannelWeb, routing.Group{Name: "Front Desk", Destination: "1022"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AddLine(ctx, admin, routing.ChannelWeb, g.ID, "1001", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SetState(ctx, g.ID, true, admin, routing.ChannelWeb); err != nil {
		t.Fatal(err)
	}
	call := routing.Call{Caller: "0441234567", Called: "1001"}
	before, err := svc.DecideCall(ctx, call)
	if err != nil || before.Verdict != routing.VerdictDivert || before.Target != "1022" {
		t.Fatalf("before the loss: %+v, %v; want the call diverted to 1022", before, err)
	}

	px.Cut()
	waitFor(t, "the node to find its store gone", func() bool { return svc.StoreHealth() != nil })
	during, err := svc.DecideCall(ctx, call)
	if err != nil || during != before {
		t.Errorf("while the store is gone: %+v, %v; want what the node last knew, %+v", during, err, before)
	}
	if n := svc.CallsFromCache(); n != 1 {
		t.Errorf("calls decided from the cache: %d, want 1", n)
	}
	if other, err := svc.DecideCall(ctx, routing.Call{Called: "1999"}); err != nil || other.Reason != routing.RejectNotFound {
		t.Errorf("an unknown number while the store is gone: %+v, %v; want not found", other, err)
	}
	_, err = svc.SetState(ctx, g.ID, false, admin, routing.ChannelWeb)
	if routing.ErrorCode(err) != routing.EUNAVAILABLE {
		t.Errorf("a switch while the store is gone: %v (code %q), want %q", err, routing.ErrorCode(err), routing.EUNAVAILABLE)
	}
	var callers []string
	for i := range queue + 1 {
		caller := fmt.Sprintf("07999%02d", i)
		err := svc.RecordCall(ctx, routing.ReportEntry{Status: routing.StatusTerminated, Caller: caller, Receiver: "1001"})
		want := routing.ErrReportKept
		if i == queue {
			want = routing.ErrReportDropped
		} else {
			callers = append(callers, caller)
		}
		if !errors.Is(err, want) {
			t.Errorf("call %d's entry while the store is gone: %v, want %v", i, err, want)
		}
	}
	if kept, dropped := svc.ReportQueue(); kept != queue || dropped != 1 {
		t.Errorf("queue: %d kept, %d dropped; want %d and 1", kept, dropped, queue)
	}

	px.Restore()
	waitFor(t, "the kept entries written", func() bool { kept, _ := svc.ReportQueue(); return kept == 0 })
	var written []string
	err = svc.EachReport(ctx, routing.ReportFilter{Action: routing.ActionCallHandler}, func(e routing.ReportEntry) error {
		written = append(written, e.Caller)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(written)
	if !slices.Equal(written, callers) {
		t.Errorf("entries written once the store is back: %v, want each kept one once: %v", written, callers)
	}
	waitFor(t, "the node to find its store back", func() bool { return svc.StoreHealth() == nil })
	if _, err := svc.SetState(ctx, g.ID, false, admin, routing.ChannelWeb); err != nil {
		t.Fatalf("a switch once the store is back: %v", err)
	}
	after, err := svc.DecideCall(ctx, call)
	if err != nil || after.Verdict != routing.VerdictBridge {
		t.Errorf("after the switch: %+v, %v; want the call connected to the line", after, err)
	}
}
