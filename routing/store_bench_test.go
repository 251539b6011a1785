package routing_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/phonediversions/phonediversions/routing"
	"github.com/phonediversions/phonediversions/routing/routingtest"
)

// The store benchmarks run on each store as sub-benchmarks (sqlite,
// postgres), so that their figures stand side by side:
//
//	PD_TEST_POSTGRES=… go test ./routing/ -run '^$' -bench 'GroupOfLine|DecideCall|AppendReport' -benchtime 2s

// eachStoreB runs the benchmark on each store.
func eachStoreB(b *testing.B, body func(b *testing.B)) {
	for _, kind := range storeKinds {
		b.Run(kind, body)
	}
}

// cachedStore opens a store of the benchmark's kind kept between runs
// under name, built by fill the first time: the large data sets take
// longer to write than the benchmarks take to run, and benchmark
// functions are called several times.
func cachedStore(b *testing.B, name string, fill func(tx routing.Tx) error) routing.Store {
	b.Helper()
	build := func(where string) error {
		st := openStore(b, where, nil)
		defer st.Close()
		return st.Update(ctx, fill)
	}
	if storeKind(b) == "postgres" {
		return openStore(b, routingtest.PostgresCachedURL(b, "pd_bench_"+name, build), nil)
	}
	path := filepath.Join(os.TempDir(), "phonediversions-bench-"+name+".db")
	if _, err := os.Stat(path); err != nil {
		tmp := path + ".building"
		os.Remove(tmp)
		if err := build(tmp); err != nil {
			b.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			b.Fatal(err)
		}
	}
	return openStore(b, path, nil)
}

// BenchmarkGroupOfLine measures the lookup every call makes, with 10,000
// groups of 10 lines each.
func BenchmarkGroupOfLine(b *testing.B) { eachStoreB(b, benchmarkGroupOfLine) }

func benchmarkGroupOfLine(b *testing.B) {
	db := cachedStore(b, "lines_v1", fillLines)
	defer db.Close()
	svc := routing.NewService(db)
	rng := rand.New(rand.NewPCG(1, 2))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n := rng.IntN(benchGroups * benchPerGroup)
		lg, err := svc.GroupOfLine(ctx, fmt.Sprintf("+4144%06d", n))
		if err != nil {
			b.Fatal(err)
		}
		if want := fmt.Sprintf("Group %05d", n/benchPerGroup); lg.Group.Name != want {
			b.Fatalf("line %d in %q, want %q", n, lg.Group.Name, want)
		}
	}
}

// The lines data set: 10,000 groups of 10 lines each.
const benchGroups, benchPerGroup = 10_000, 10

func fillLines(tx routing.Tx) error {
	const groups, perGroup = benchGroups, benchPerGroup
	for i := 0; i < groups; i++ {
		g := routing.Group{Name: fmt.Sprintf("Group %05d", i), Destination: fmt.Sprintf("5%05d", i), On: i%2 == 0}
		if err := tx.InsertGroup(&g); err != nil {
			return err
		}
		for j := 0; j < perGroup; j++ {
			if err := tx.InsertLine(routing.Line{Number: fmt.Sprintf("+4144%06d", i*perGroup+j), GroupID: g.ID}); err != nil {
				return err
			}
		}
	}
	return nil
}

// BenchmarkDecideCall measures the whole decision of a diverted call:
// settings, the called number and the initial number looked up. "view"
// is what a call costs while the node knows every change (its view of
// the lines in memory); "store" what it costs while a node of a shared
// store does not hear the others' changes, when each call reads the
// store.
func BenchmarkDecideCall(b *testing.B) { eachStoreB(b, benchmarkDecideCall) }

func benchmarkDecideCall(b *testing.B) {
	db := cachedStore(b, "lines_v1", fillLines)
	defer db.Close()
	for _, c := range []struct {
		name string
		opts []routing.Option
	}{{"view", nil}, {"store", []routing.Option{routing.WithSharedStore()}}} {
		b.Run(c.name, func(b *testing.B) {
			svc := routing.NewService(db, c.opts...)
			call := routing.Call{Caller: "0799999999", Called: "5000", Initial: "+4144000123"}
			if _, err := svc.DecideCall(ctx, call); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				d, err := svc.DecideCall(ctx, call)
				if err != nil || d.Verdict != routing.VerdictAnnounceThenBridge {
					b.Fatal(d, err)
				}
			}
		})
	}
}

// BenchmarkReadCallView measures what the first call after a change
// waits for: reading the settings and every line with its group (100,000
// lines) into the view.
func BenchmarkReadCallView(b *testing.B) { eachStoreB(b, benchmarkReadCallView) }

func benchmarkReadCallView(b *testing.B) {
	db := cachedStore(b, "lines_v1", fillLines)
	defer db.Close()
	svc := routing.NewService(db)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n, err := routing.ReadCallView(ctx, svc)
		if err != nil || n != benchGroups*benchPerGroup {
			b.Fatal(n, err)
		}
	}
}

// BenchmarkReports measures a page of 50 entries with its total count over
// 1,000,000 report entries spread over a year.
func BenchmarkReports(b *testing.B) { eachStoreB(b, benchmarkReports) }

func benchmarkReports(b *testing.B) {
	const entries = 1_000_000
	end := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	start := end.AddDate(-1, 0, 0)
	db := cachedStore(b, "reports_v1", func(tx routing.Tx) error {
		rng := rand.New(rand.NewPCG(3, 4))
		callStatuses := []routing.Status{routing.StatusConnected, routing.StatusConnected, routing.StatusConnected,
			routing.StatusDirectAccess, routing.StatusTerminated, routing.StatusBusy, routing.StatusNoAnswer, routing.StatusFailed, routing.StatusCancelled}
		step := end.Sub(start) / entries
		for i := 0; i < entries; i++ {
			g := rng.IntN(10_000)
			e := routing.ReportEntry{
				Time:     start.Add(time.Duration(i) * step),
				Receiver: fmt.Sprintf("+4144%06d", g*10+rng.IntN(10)),
				Group:    fmt.Sprintf("Group %05d", g),
				Channel:  routing.ChannelSIP,
			}
			if rng.IntN(10) == 0 {
				e.Action, e.Status, e.Channel = routing.ActionDiversion, routing.StatusActivated, routing.ChannelWeb
				e.Username = fmt.Sprintf("User %04d, Dept %02d", rng.IntN(5000), rng.IntN(40))
				if rng.IntN(2) == 0 {
					e.Status = routing.StatusDeactivated
				}
			} else {
				e.Action, e.Status = routing.ActionCallHandler, callStatuses[rng.IntN(len(callStatuses))]
				e.Caller = fmt.Sprintf("07%08d", rng.IntN(100_000_000))
			}
			if err := tx.AppendReport(&e); err != nil {
				return err
			}
		}
		return nil
	})
	defer db.Close()
	svc := routing.NewService(db)
	cases := []struct {
		name string
		f    routing.ReportFilter
	}{
		{"newest", routing.ReportFilter{}},
		{"oldest", routing.ReportFilter{OldestFirst: true}},
		{"week+action+status", routing.ReportFilter{From: end.AddDate(0, 0, -7), To: end, Action: routing.ActionCallHandler, Status: routing.StatusBusy}},
		{"month+action", routing.ReportFilter{From: end.AddDate(0, -1, 0), To: end, Action: routing.ActionDiversion}},
		{"status-only", routing.ReportFilter{Status: routing.StatusNoAnswer}},
		{"search-group", routing.ReportFilter{Search: "Group 01234"}},
		{"search-caller", routing.ReportFilter{Search: "0712345"}},
		{"search-2chars+week", routing.ReportFilter{Search: "99", From: end.AddDate(0, 0, -7), To: end}},
		{"page-100", routing.ReportFilter{Offset: 100 * 50}},
		{"search-every-entry-exact", routing.ReportFilter{Search: "Group"}},
		{"search-every-entry-upto10k", routing.ReportFilter{Search: "Group", CountUpTo: 10_000}},
		{"search-group-upto10k", routing.ReportFilter{Search: "Group 01234", CountUpTo: 10_000}},
		{"newest-upto10k", routing.ReportFilter{CountUpTo: 10_000}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			var total int
			for i := 0; i < b.N; i++ {
				page, err := svc.Reports(ctx, c.f)
				if err != nil {
					b.Fatal(err)
				}
				total = page.Total
			}
			b.ReportMetric(float64(total), "matches")
		})
	}
}

// BenchmarkAppendReport measures what one call's report entry costs the
// store (the row, its search index entries), written 100 to a transaction
// as the group commit does under load, so the fsync of the commit is
// shared as it is there.
func BenchmarkAppendReport(b *testing.B) { eachStoreB(b, benchmarkAppendReport) }

func benchmarkAppendReport(b *testing.B) {
	db := openStore(b, newDatabase(b), nil)
	defer db.Close()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += 100 {
		err := db.Update(ctx, func(tx routing.Tx) error {
			for j := i; j < min(i+100, b.N); j++ {
				e := routing.ReportEntry{Action: routing.ActionCallHandler, Status: routing.StatusTerminated,
					Username: "Front desk", Caller: fmt.Sprintf("+41447%06d", j), Receiver: "1001",
					Group: "Sales", GroupID: 1, Channel: routing.ChannelSIP, Detail: "announcement"}
				if err := tx.AppendReport(&e); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSwitchThenCall measures a switch followed by a call to a line
// of the switched group, over 100,000 lines: the switch is written, the
// calls' view takes the group's new state, and the call is decided from
// it.
func BenchmarkSwitchThenCall(b *testing.B) { eachStoreB(b, benchmarkSwitchThenCall) }

func benchmarkSwitchThenCall(b *testing.B) {
	db := cachedStore(b, "lines_v1", fillLines)
	defer db.Close()
	svc := routing.NewService(db)
	gs, err := svc.Groups(ctx, routing.GroupFilter{Name: "Group 00000"})
	if err != nil || len(gs) != 1 {
		b.Fatal(gs, err)
	}
	call := routing.Call{Caller: "0799999999", Called: "+4144000003"}
	if _, err := svc.DecideCall(ctx, call); err != nil {
		b.Fatal(err)
	}
	reads := routing.ViewReads(svc)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		g, err := svc.Toggle(ctx, gs[0].ID, admin, routing.ChannelREST)
		if err != nil {
			b.Fatal(err)
		}
		d, err := svc.DecideCall(ctx, call)
		if err != nil || (d.Verdict == routing.VerdictDivert) != g.On {
			b.Fatal(d, err)
		}
	}
	if n := routing.ViewReads(svc) - reads; n != 0 {
		b.Fatalf("the view was read %d times", n)
	}
}
