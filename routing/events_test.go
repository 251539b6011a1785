package routing_test

import (
	"sync"
	"testing"
	"time"

	"github.com/phonediversions/phonediversions/routing"
)

// TestEventsInCommitOrder switches, renames and adds a line, and reads
// the events of each change after its commit, numbered in order.
func TestEventsInCommitOrder(t *testing.T) {
	eachStore(t, func(t *testing.T) {
		f := newFixture(t)
		g := f.group("Front Desk", "1022")
		sub := f.svc.Events().Subscribe(16)
		defer sub.Close()
		if _, err := f.svc.Toggle(ctx, g.ID, admin, routing.ChannelREST); err != nil {
			t.Fatal(err)
		}
		name := "Reception"
		if _, err := f.svc.UpdateGroup(ctx, admin, routing.ChannelWeb, g.ID, routing.GroupUpdate{Name: &name}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.AddLine(ctx, admin, routing.ChannelWeb, g.ID, "2001", ""); err != nil {
			t.Fatal(err)
		}
		// A refused change announces nothing.
		if _, err := f.svc.AddLine(ctx, admin, routing.ChannelWeb, g.ID, "2001", ""); err == nil {
			t.Fatal("a line was added twice")
		}
		want := []struct {
			action routing.Action
			status routing.Status
			group  string
			ch     routing.Channel
		}{
			{routing.ActionDiversion, routing.StatusActivated, "Front Desk", routing.ChannelREST},
			{routing.ActionGroup, routing.StatusChanged, "Reception", routing.ChannelWeb},
			{routing.ActionLine, routing.StatusCreated, "Reception", routing.ChannelWeb},
		}
		var last uint64
		for i, w := range want {
			select {
			case ev := <-sub.C():
				if ev.Action != w.action || ev.Status != w.status || ev.Group != w.group || ev.Channel != w.ch || ev.GroupID != g.ID {
					t.Errorf("event %d: %+v, want %+v", i, ev, w)
				}
				if ev.Seq <= last {
					t.Errorf("event %d: seq %d after %d", i, ev.Seq, last)
				}
				last = ev.Seq
			case <-time.After(5 * time.Second):
				t.Fatalf("event %d did not come", i)
			}
		}
		select {
		case ev := <-sub.C():
			t.Errorf("unexpected event %+v", ev)
		default:
		}
		if f.svc.Events().Seq() != last {
			t.Errorf("feed seq %d, last event %d", f.svc.Events().Seq(), last)
		}
		if got := f.svc.SwitchCounts()[routing.ChannelREST]; got != 1 {
			t.Errorf("REST switches counted: %d", got)
		}
	})
}

// TestStuckSubscriberNeverSlowsSwitching runs 1,000 switches with no
// subscriber and 1,000 with one that never reads: the second take no
// longer than the first, within noise, and the stuck one is told it lost
// events.
func TestStuckSubscriberNeverSlowsSwitching(t *testing.T) {
	eachStore(t, func(t *testing.T) {
		f := newFixture(t)
		g := f.group("Front Desk", "1022")
		run := func() time.Duration {
			start := time.Now()
			for range 1000 {
				if _, err := f.svc.Toggle(ctx, g.ID, admin, routing.ChannelREST); err != nil {
					t.Fatal(err)
				}
			}
			return time.Since(start)
		}
		alone := run()
		stuck := f.svc.Events().Subscribe(1)
		withStuck := run()
		t.Logf("1,000 switches: %v alone, %v with a stuck subscriber", alone, withStuck)
		if !stuck.Lost() {
			t.Error("the stuck subscriber was not told it lost events")
		}
		n := 0
		for range stuck.C() {
			n++
		}
		if n != 1 {
			t.Errorf("the stuck subscriber's channel held %d events before it was closed, want 1", n)
		}
		if f.svc.Events().Subscribers() != 0 {
			t.Error("the stuck subscriber is still subscribed")
		}
		// Noise on a shared machine: a switch is a synchronous commit.
		if withStuck > alone*3/2+time.Second {
			t.Errorf("a stuck subscriber slowed 1,000 switches from %v to %v", alone, withStuck)
		}
	})
}

// TestGroupsListFollowsEveryChange reads the list of all groups (which
// the service keeps between changes) after each kind of change, and while
// switches run concurrently.
func TestGroupsListFollowsEveryChange(t *testing.T) {
	eachStore(t, func(t *testing.T) {
		f := newFixture(t)
		names := func() []string {
			gs, err := f.svc.Groups(ctx, routing.GroupFilter{})
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, g := range gs {
				out = append(out, g.Name+":"+g.StateName())
			}
			return out
		}
		if got := names(); len(got) != 0 {
			t.Fatalf("empty store lists %v", got)
		}
		g := f.group("Front Desk", "1022")
		if got := names(); len(got) != 1 || got[0] != "Front Desk:OFF" {
			t.Fatalf("after create: %v", got)
		}
		f.svc.Toggle(ctx, g.ID, admin, routing.ChannelWeb)
		if got := names(); got[0] != "Front Desk:ON" {
			t.Fatalf("after toggle: %v", got)
		}
		// A caller changing its copy does not change what others read.
		gs, _ := f.svc.Groups(ctx, routing.GroupFilter{})
		gs[0].Name = "scribbled"
		name := "Reception"
		f.svc.UpdateGroup(ctx, admin, routing.ChannelWeb, g.ID, routing.GroupUpdate{Name: &name})
		if got := names(); got[0] != "Reception:ON" {
			t.Fatalf("after rename: %v", got)
		}
		f.svc.DeleteGroup(ctx, admin, routing.ChannelWeb, g.ID)
		if got := names(); len(got) != 0 {
			t.Fatalf("after delete: %v", got)
		}
		// Readers racing 200 switches: the last read after them sees the end state.
		g = f.group("Front Desk", "1022")
		done := make(chan struct{})
		go func() {
			defer close(done)
			for range 200 {
				f.svc.Toggle(ctx, g.ID, admin, routing.ChannelREST)
			}
		}()
		for reading := true; reading; {
			select {
			case <-done:
				reading = false
			default:
				names()
			}
		}
		if got := names(); got[0] != "Front Desk:OFF" {
			t.Fatalf("after 200 concurrent switches: %v", got)
		}
	})
}

// TestRecordCallReturnsWhileOthersKeepRecording records calls from four
// goroutines without pause for a second and a half: every RecordCall
// returns within a few group windows. (The first recorder used to commit
// for everyone as long as entries kept coming, and never returned.)
func TestRecordCallReturnsWhileOthersKeepRecording(t *testing.T) {
	eachStore(t, func(t *testing.T) {
		f := newFixture(t)
		stop := time.Now().Add(1500 * time.Millisecond)
		var wg sync.WaitGroup
		longest := make([]time.Duration, 4)
		counts := make([]int, 4)
		for i := range 4 {
			wg.Go(func() {
				for time.Now().Before(stop) {
					start := time.Now()
					if err := f.svc.RecordCall(ctx, routing.ReportEntry{Status: routing.StatusTerminated, Caller: "0791234567"}); err != nil {
						t.Error(err)
						return
					}
					longest[i] = max(longest[i], time.Since(start))
					counts[i]++
				}
			})
		}
		wg.Wait()
		for i, d := range longest {
			if d > 500*time.Millisecond || counts[i] < 5 {
				t.Errorf("recorder %d: %d calls, the longest took %v", i, counts[i], d)
			}
		}
		page, err := f.svc.Reports(ctx, routing.ReportFilter{Action: routing.ActionCallHandler, Limit: 1})
		if err != nil || page.Total != counts[0]+counts[1]+counts[2]+counts[3] {
			t.Errorf("%d entries for %v calls (%v)", page.Total, counts, err)
		}
	})
}
