package postgres_test

import (
	"context"
	"database/sql"
	"strings"
	"sync"
	"testing"

	"github.com/phonediversions/phonediversions/routing"
	"github.com/phonediversions/phonediversions/routing/postgres"
	"github.com/phonediversions/phonediversions/routing/routingtest"
)

var ctx = context.Background()

// Two nodes starting together on an empty database migrate it once, and
// both serve.
func TestNodesStartingTogetherMigrateOnce(t *testing.T) {
	url := routingtest.PostgresURL(t)
	var wg sync.WaitGroup
	dbs := make([]*postgres.DB, 4)
	errs := make([]error, len(dbs))
	for i := range dbs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dbs[i] = postgres.New(url)
			errs[i] = dbs[i].Open()
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		defer dbs[i].Close()
	}
	raw := rawDB(t, url)
	var n, distinct int
	if err := raw.QueryRow(`SELECT COUNT(*), COUNT(DISTINCT name) FROM schema_migrations`).Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	if n != distinct || n < 5 {
		t.Errorf("%d migrations recorded, %d distinct", n, distinct)
	}
	// Each node writes, each reads the others'.
	for i, db := range dbs {
		if err := db.Update(ctx, func(tx routing.Tx) error {
			return tx.InsertGroup(&routing.Group{Name: "Group " + string(rune('A'+i)), Destination: "1000"})
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := dbs[0].View(ctx, func(tx routing.Tx) error {
		gs, err := tx.Groups(routing.GroupFilter{})
		if len(gs) != len(dbs) {
			t.Errorf("%d groups seen, want %d", len(gs), len(dbs))
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// A node refuses a database that a newer program migrated, naming both
// migrations.
func TestRefusesANewerSchema(t *testing.T) {
	url := routingtest.PostgresURL(t)
	db := postgres.New(url)
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := rawDB(t, url).Exec(`INSERT INTO schema_migrations (name, applied_at) VALUES ('9001_future.sql', 0)`); err != nil {
		t.Fatal(err)
	}
	err := postgres.New(url).Open()
	if err == nil || !strings.Contains(err.Error(), "9001_future.sql") || !strings.Contains(err.Error(), routingtest.LastMigration(t)) {
		t.Fatalf("opened a newer schema: %v", err)
	}
}

// A wrong database URL is refused with a message that shows no password.
func TestBadURLs(t *testing.T) {
	for _, u := range []string{
		"mysql://user:s3cret@db/x",
		"postgres://user:s3cret@db/x?pool_max_conns=0",
		"postgres://user:s3cret@db/x?pool_max_conns=many",
		"postgres://user:s3cret@db:notaport/x",
	} {
		err := postgres.New(u).Open()
		if err == nil {
			t.Errorf("%s: opened", u)
		} else if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: the error shows the password: %v", u, err)
		}
	}
}

// rawDB is a plain connection to the test's database.
func rawDB(t *testing.T, url string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
