package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/phonediversions/phonediversions/routing"
	"github.com/phonediversions/phonediversions/routing/routingtest"
	"github.com/phonediversions/phonediversions/routing/sqlite"
)

var ctx = context.Background()

func open(t testing.TB, path string) *sqlite.DB {
	t.Helper()
	db := sqlite.New(path)
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestOpenCreatesAndMigratesOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pd.db")
	fixed := time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC)
	db := sqlite.New(path)
	db.Now = func() time.Time { return fixed }
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	var g routing.Group
	err := db.Update(ctx, func(tx routing.Tx) error {
		g = routing.Group{Name: "Sales", Destination: "5000"}
		return tx.InsertGroup(&g)
	})
	if err != nil {
		t.Fatal(err)
	}
	if !g.CreatedAt.Equal(fixed) {
		t.Fatalf("created at %v, want the injected clock's %v", g.CreatedAt, fixed)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}

	db = open(t, path)
	defer db.Close()
	err = db.View(ctx, func(tx routing.Tx) error {
		got, err := tx.Group(g.ID)
		if err != nil {
			return err
		}
		if !got.CreatedAt.Equal(fixed) || got.Name != "Sales" {
			t.Errorf("after reopen %+v", got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	names, _ := fs.Glob(os.DirFS("migrations"), "*.sql")
	if n := db.MigrationCount(t); n != len(names) {
		t.Fatalf("%d migrations recorded, %d files", n, len(names))
	}
}

func TestPragmas(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "pd.db"))
	defer db.Close()
	p := db.Pragmas(t)
	if p.JournalMode != "wal" || !p.ForeignKeys || p.BusyTimeout < 1000 {
		t.Fatalf("pragmas %+v", p)
	}
}

func TestFailedUpdateRollsBack(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "pd.db"))
	defer db.Close()
	boom := errors.New("boom")
	err := db.Update(ctx, func(tx routing.Tx) error {
		g := routing.Group{Name: "Sales", Destination: "5000"}
		if err := tx.InsertGroup(&g); err != nil {
			return err
		}
		if err := tx.AppendReport(&routing.ReportEntry{Action: routing.ActionGroup, Status: routing.StatusCreated}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update returned %v", err)
	}
	err = db.View(ctx, func(tx routing.Tx) error {
		gs, err := tx.Groups(routing.GroupFilter{})
		if err != nil {
			return err
		}
		page, err := tx.Reports(routing.ReportFilter{Limit: 10})
		if len(gs) != 0 || page.Total != 0 {
			t.Errorf("rolled back transaction left %d groups, %d reports", len(gs), page.Total)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestConstraints(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "pd.db"))
	defer db.Close()
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
	tests := []struct {
		name string
		fn   func(tx routing.Tx) error
		code string
	}{
		{"duplicate group name", func(tx routing.Tx) error {
			return tx.InsertGroup(&routing.Group{Name: "SALES", Destination: "1"})
		}, routing.ECONFLICT},
		{"duplicate line", func(tx routing.Tx) error {
			return tx.InsertLine(routing.Line{Number: "1001", GroupID: g.ID})
		}, routing.ECONFLICT},
		{"line of a missing group", func(tx routing.Tx) error {
			return tx.InsertLine(routing.Line{Number: "1002", GroupID: 999})
		}, routing.ECONFLICT},
		{"missing group", func(tx routing.Tx) error { _, err := tx.Group(999); return err }, routing.ENOTFOUND},
		{"update missing group", func(tx routing.Tx) error { return tx.UpdateGroup(&routing.Group{ID: 999, Name: "x"}) }, routing.ENOTFOUND},
		{"missing line", func(tx routing.Tx) error { return tx.DeleteLine("9999") }, routing.ENOTFOUND},
		{"missing user", func(tx routing.Tx) error { _, err := tx.UserByUsername("nobody"); return err }, routing.ENOTFOUND},
		{"missing announcement", func(tx routing.Tx) error { return tx.DeleteAnnouncement(5) }, routing.ENOTFOUND},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := db.Update(ctx, tt.fn)
			if routing.ErrorCode(err) != tt.code {
				t.Fatalf("error %v, want code %s", err, tt.code)
			}
		})
	}
}

// A node refuses a database file that a newer program migrated, naming
// both migrations.
func TestRefusesANewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pd.db")
	if err := sqlite.AddMigrationRecord(path, "migrations/9001_future.sql"); err != nil {
		t.Fatal(err)
	}
	err := sqlite.New(path).Open()
	if err == nil || !strings.Contains(err.Error(), "9001_future.sql") || !strings.Contains(err.Error(), routingtest.LastMigration(t)) {
		t.Fatalf("opened a newer schema: %v", err)
	}
}

// TestBackupWhileWriting copies the database while groups are created
// one after the other: the copy opens as a store, and holds one moment —
// every group it has, and the report entry of each, and no entry of a
// group it lacks.
func TestBackupWhileWriting(t *testing.T) {
	dir := t.TempDir()
	db := open(t, filepath.Join(dir, "pd.db"))
	defer db.Close()
	svc := routing.NewService(db)
	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				done <- n
				return
			default:
			}
			if _, err := svc.CreateGroup(ctx, routing.Actor{Name: "t"}, routing.ChannelWeb, routing.Group{Name: fmt.Sprintf("G%05d", n), Destination: "1000"}); err != nil {
				t.Error(err)
			}
			n++
		}
	}()
	// Let some groups in first: the backup is taken while they come.
	for {
		gs, err := svc.Groups(ctx, routing.GroupFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(gs) >= 20 {
			break
		}
	}
	backup := filepath.Join(dir, "backup.db")
	if err := db.Backup(ctx, backup); err != nil {
		t.Fatal(err)
	}
	close(stop)
	written := <-done
	if err := db.Backup(ctx, backup); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("a backup over an existing file: %v", err)
	}
	if fi, err := os.Stat(backup); err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Fatalf("backup file %v, mode %v", err, fi.Mode())
	}
	copyDB := open(t, backup)
	defer copyDB.Close()
	copySvc := routing.NewService(copyDB)
	groups, err := copySvc.Groups(ctx, routing.GroupFilter{})
	if err != nil {
		t.Fatal(err)
	}
	page, err := copySvc.Reports(ctx, routing.ReportFilter{Action: routing.ActionGroup, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) < 20 || len(groups) > written || page.Total != len(groups) {
		t.Errorf("the backup holds %d groups and %d of their entries; %d were written", len(groups), page.Total, written)
	}
}
