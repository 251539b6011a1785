package sqlite_test

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/phonediversions/phonediversions/routing"
)

// The statements a call runs are prepared once and kept: after the first
// use, a transaction runs them prepared. More readers than the read pool
// has connections, and writes on its single connection, neither wait for
// each other nor deadlock while statements are being prepared.
func TestStatementsArePreparedOnceAndShared(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "pd.db"))
	defer db.Close()
	if w, r := db.Prepared(); w != 0 || r != 0 {
		t.Fatalf("prepared before any use: %d write, %d read", w, r)
	}
	var g routing.Group
	if err := db.Update(ctx, func(tx routing.Tx) error {
		g = routing.Group{Name: "Sales", Destination: "5000"}
		if err := tx.InsertGroup(&g); err != nil {
			return err
		}
		return tx.InsertLine(routing.Line{Number: "1001", GroupID: g.ID})
	}); err != nil {
		t.Fatal(err)
	}
	write, _ := db.Prepared()
	if write == 0 {
		t.Error("the write pool prepared none of the statements it ran")
	}

	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 32 { // four times the read pool's connections
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 20 {
				err := db.View(ctx, func(tx routing.Tx) error {
					l, err := tx.Line("1001")
					if err == nil && l.GroupID != g.ID {
						err = fmt.Errorf("line 1001 in group %d, want %d", l.GroupID, g.ID)
					}
					return err
				})
				if err == nil && j%5 == 0 {
					err = db.Update(ctx, func(tx routing.Tx) error {
						e := routing.ReportEntry{Action: routing.ActionCallHandler, Status: routing.StatusTerminated,
							Caller: fmt.Sprint(i), Receiver: "1001", Channel: routing.ChannelSIP}
						return tx.AppendReport(&e)
					})
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("readers and writers did not finish: a deadlock")
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	write2, read := db.Prepared()
	if read == 0 || write2 <= write {
		t.Errorf("prepared: %d write (%d before the reports), %d read; want the line lookup and the report insert prepared", write2, write, read)
	}
	var n int
	if err := db.View(ctx, func(tx routing.Tx) error {
		page, err := tx.Reports(routing.ReportFilter{Limit: 1000})
		n = len(page.Entries)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if n != 32*4 {
		t.Errorf("%d report entries, want %d", n, 32*4)
	}
}
