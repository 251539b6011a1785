package routing_test

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phonediversions/phonediversions/routing"
)

// node is a process of the product on the shared store, following it.
type node struct {
	svc  *routing.Service
	sub  *routing.Subscription
	lost chan error
}

func startNode(t *testing.T, where string) *node {
	t.Helper()
	n := &node{svc: routing.NewService(openStore(t, where, nil), routing.WithPasswordCost(4), routing.WithSharedStore()),
		lost: make(chan error, 16)}
	n.sub = n.svc.Events().Subscribe(256)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.svc.FollowStore(ctx, func(err error) {
			select {
			case n.lost <- err:
			default:
			}
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	deadline := time.Now().Add(10 * time.Second)
	for !n.svc.Following() {
		if time.Now().After(deadline) {
			t.Fatal("the node does not follow the store")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return n
}

// next waits for the node's next event.
func (n *node) next(t *testing.T) routing.Event {
	t.Helper()
	select {
	case ev := <-n.sub.C():
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10 s")
	}
	return routing.Event{}
}

// TestChangesReachEveryNode: two nodes on one PostgreSQL database. A
// change committed on either reaches both feeds within a second, both in
// the same order (the order of the commits), each once; a node that lost
// its way of knowing catches up when it is back, missing and doubling
// nothing.
func TestChangesReachEveryNode(t *testing.T) {
	t.Run("postgres", func(t *testing.T) {
		where := newDatabase(t)
		a, b := startNode(t, where), startNode(t, where)
		g, err := a.svc.CreateGroup(ctx, admin, routing.ChannelWeb, routing.Group{Name: "Front Desk", Destination: "1022"})
		if err != nil {
			t.Fatal(err)
		}
		committed := time.Now()
		ev := b.next(t)
		if ev.Action != routing.ActionGroup || ev.GroupID != g.ID {
			t.Fatalf("node B got %+v", ev)
		}
		if d := time.Since(committed); d > time.Second {
			t.Errorf("node B heard of node A's change after %v", d)
		} else {
			t.Logf("node B heard of node A's change %v after its commit", d)
		}
		if ev := a.next(t); ev.Action != routing.ActionGroup {
			t.Fatalf("node A got %+v", ev)
		}
		// Switches from both nodes at once: both feeds, one order.
		var wg sync.WaitGroup
		for i := range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n := []*node{a, b}[i%2]
				if _, err := n.svc.Toggle(ctx, g.ID, admin, routing.ChannelREST); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		ids := func(n *node) []int64 {
			var out []int64
			for range 10 {
				ev := n.next(t)
				out = append(out, ev.ID)
			}
			return out
		}
		ia, ib := ids(a), ids(b)
		if !slices.Equal(ia, ib) || !slices.IsSorted(ia) {
			t.Errorf("node A's feed %v, node B's %v: want the same ids in commit order", ia, ib)
		}
		// Cut node B's listening connection, change on node A meanwhile:
		// node B catches up once it listens again.
		raw, err := sql.Open("pgx", where)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		if _, err := raw.Exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE application_name = 'phonediversions-follow' AND datname = current_database()`); err != nil {
			t.Fatal(err)
		}
		// The server ends the backend when it gets to it; wait until node B
		// knows, so that the change below is made while it does not listen
		// (it listens again a second later).
		select {
		case err := <-b.lost:
			t.Logf("node B lost its connection: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatal("node B was not told it lost its connection")
		}
		if _, err := a.svc.SetState(ctx, g.ID, true, admin, routing.ChannelWeb); err != nil {
			t.Fatal(err)
		}
		ev = b.next(t)
		if ev.Action != routing.ActionDiversion || ev.Status != routing.StatusActivated || ev.ID <= ib[len(ib)-1] {
			t.Errorf("after the reconnection node B got %+v", ev)
		}
		// Nothing twice: the next event is the next change.
		if _, err := a.svc.SetState(ctx, g.ID, false, admin, routing.ChannelWeb); err != nil {
			t.Fatal(err)
		}
		if ev := b.next(t); ev.Status != routing.StatusDeactivated {
			t.Errorf("after the caught-up change node B got %+v, want the next change", ev)
		}
	})
}

// TestStoreHealth: WatchStore's checks tell whether the store answers.
func TestStoreHealth(t *testing.T) {
	eachStore(t, func(t *testing.T) {
		where := newDatabase(t)
		store := openStore(t, where, nil)
		svc := routing.NewService(store)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go svc.WatchStore(ctx, 10*time.Millisecond)
		waitFor(t, "a healthy store", func() bool { return svc.StoreHealth() == nil })
		if d := svc.StoreUnreachableFor(); d != 0 {
			t.Errorf("unreachable for %v while it answers", d)
		}
		store.Close()
		waitFor(t, "the closed store found", func() bool { return svc.StoreHealth() != nil })
		if err := svc.StoreHealth(); !strings.Contains(err.Error(), "the store does not answer") {
			t.Errorf("health: %v", err)
		}
		// The time counts from the first failed check, not the last.
		waitFor(t, "50 ms of unreachable store counted", func() bool { return svc.StoreUnreachableFor() >= 50*time.Millisecond })
	})
}

// waitFor waits, up to 10 s, until cond holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s", what)
		}
	}
}
