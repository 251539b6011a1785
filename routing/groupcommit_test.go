package routing_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phonediversions/phonediversions/routing"
)

// commitCounter is a store that counts the call entries each committed
// transaction appended, and the owners of lines it looked up.
type commitCounter struct {
	routing.Store
	mu      sync.Mutex
	sizes   []int
	lookups []int
}

func (s *commitCounter) Update(ctx context.Context, fn func(routing.Tx) error) error {
	n, l := 0, 0
	err := s.Store.Update(ctx, func(tx routing.Tx) error { return fn(appendCounter{tx, &n, &l}) })
	if err == nil && n > 0 {
		s.mu.Lock()
		s.sizes = append(s.sizes, n)
		s.lookups = append(s.lookups, l)
		s.mu.Unlock()
	}
	return err
}

func (s *commitCounter) commits() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sizes)
}

type appendCounter struct {
	routing.Tx
	n       *int
	lookups *int
}

func (t appendCounter) UserOfLine(number string) (routing.User, error) {
	*t.lookups++
	return t.Tx.UserOfLine(number)
}

func (t appendCounter) AppendReport(e *routing.ReportEntry) error {
	*t.n++
	return t.Tx.AppendReport(e)
}

// TestCallEntriesShareCommits: the entries of calls ending one after
// another at a low rate share a commit instead of paying one each (a
// commit's sync to disk and index pages cost nearly as much for one
// entry as for many); a burst of entries is committed as soon as enough of them wait,
// in commits no larger than that. Every entry is written once, and each
// RecordCall returns only once its entry is committed.
func TestCallEntriesShareCommits(t *testing.T) {
	eachStore(t, func(t *testing.T) {
		store := &commitCounter{Store: openStore(t, newDatabase(t), nil)}
		svc := routing.NewService(store, routing.WithPasswordCost(4))
		record := func(n int, gap time.Duration) {
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					e := routing.ReportEntry{Status: routing.StatusTerminated, Caller: "0791234567"}
					if err := svc.RecordCall(ctx, e); err != nil {
						t.Error(err)
					}
				})
				if i < n-1 {
					time.Sleep(gap)
				}
			}
			wg.Wait()
		}

		// Eight calls ending 10 ms apart, as at 100 calls a second: one
		// commit for all, or two should the window end among them (a
		// loaded machine stretches the gaps). With a 20 ms window it
		// took four.
		record(8, 10*time.Millisecond)
		low := store.commits()
		if len(low) > 2 {
			t.Errorf("8 entries 10 ms apart took %d commits (%v), want one or two", len(low), low)
		}

		// A burst of 200: commits start as 16 wait, none larger.
		record(200, 0)
		burst := store.commits()[len(low):]
		total := 0
		for _, n := range burst {
			total += n
			if n > 16 {
				t.Errorf("a commit of %d entries (%v): want at most 16", n, burst)
			}
		}
		if total != 200 {
			t.Errorf("the burst's commits hold %d entries (%v), want 200", total, burst)
		}
		page, err := svc.Reports(ctx, routing.ReportFilter{Action: routing.ActionCallHandler, Limit: 1})
		if err != nil || page.Total != 208 {
			t.Errorf("%d entries in the store (%v), want 208", page.Total, err)
		}
	})
}

// TestCallEntriesLookUpEachOwnerOnce: a commit of call entries looks up
// the owner of each receiver once, not once an entry (a query each, most
// of a commit's work when its calls went to a few lines), and every entry
// still names the owner of its receiver, or nobody for a line without one.
func TestCallEntriesLookUpEachOwnerOnce(t *testing.T) {
	eachStore(t, func(t *testing.T) {
		store := &commitCounter{Store: openStore(t, newDatabase(t), nil)}
		svc := routing.NewService(store, routing.WithPasswordCost(4))
		g, err := svc.CreateGroup(ctx, admin, routing.ChannelWeb, routing.Group{Name: "Sales", Destination: "5000"})
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{"1001", "1002"} {
			if _, err := svc.AddLine(ctx, admin, routing.ChannelWeb, g.ID, n, ""); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := svc.CreateUser(ctx, admin, routing.ChannelWeb, routing.NewUser{Username: "tfarrow",
			DisplayName: "Tamara Farrow", Lines: []string{"1001"}}); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for i := range 48 {
			wg.Go(func() {
				e := routing.ReportEntry{Status: routing.StatusConnected, Caller: "0791234567", Receiver: []string{"1001", "1002"}[i%2]}
				if err := svc.RecordCall(ctx, e); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		store.mu.Lock()
		sizes, lookups := slices.Clone(store.sizes), slices.Clone(store.lookups)
		store.mu.Unlock()
		for i := range sizes {
			if lookups[i] > 2 {
				t.Errorf("a commit of %d entries to two lines looked up %d owners, want at most 2", sizes[i], lookups[i])
			}
		}
		owner := map[string]string{}
		err = svc.EachReport(ctx, routing.ReportFilter{Action: routing.ActionCallHandler}, func(e routing.ReportEntry) error {
			if prev, ok := owner[e.Receiver]; ok && prev != e.Username {
				t.Errorf("entries to %s name %q and %q", e.Receiver, prev, e.Username)
			}
			owner[e.Receiver] = e.Username
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(owner) != 2 || !strings.Contains(owner["1001"], "Tamara Farrow") || owner["1002"] != "" {
			t.Errorf("the entries name %q for their receivers, want Tamara Farrow for 1001 and nobody for 1002", owner)
		}
	})
}
