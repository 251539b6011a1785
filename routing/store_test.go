package routing_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/phonediversions/phonediversions/routing"
	"github.com/phonediversions/phonediversions/routing/postgres"
	"github.com/phonediversions/phonediversions/routing/routingtest"
	"github.com/phonediversions/phonediversions/routing/sqlite"
)

// The tests of the service are the stores' conformance suite: each test
// that keeps data runs once on each store, as subtests named after it —
// the same test code, the store chosen by newDatabase and openStore.
// PostgreSQL's runs need PD_TEST_POSTGRES (.ci/run starts a server);
// without it they skip, and under CI=1 they fail.
var storeKinds = []string{"sqlite", "postgres"}

// eachStore runs body once on each store.
func eachStore(t *testing.T, body func(t *testing.T)) {
	t.Helper()
	for _, kind := range storeKinds {
		t.Run(kind, body)
	}
}

// storeKind is the store a test runs on: the one eachStore named its
// subtest after.
func storeKind(t testing.TB) string {
	if strings.Contains(t.Name()+"/", "/postgres/") {
		return "postgres"
	}
	return "sqlite"
}

// newDatabase makes an empty store of the test's kind and returns where
// it lives: a SQLite file, or a PostgreSQL database's URL.
func newDatabase(t testing.TB) string {
	t.Helper()
	if storeKind(t) == "postgres" {
		return routingtest.PostgresURL(t)
	}
	return filepath.Join(t.TempDir(), "pd.db")
}

// openStore opens the store where newDatabase made it, with the clock
// now (nil: the real one); it is closed when the test ends, if not
// before.
func openStore(t testing.TB, where string, now func() time.Time) routing.Store {
	t.Helper()
	var store interface {
		routing.Store
		Open() error
	}
	if strings.HasPrefix(where, "postgres") {
		db := postgres.New(where)
		if now != nil {
			db.Now = now
		}
		store = db
	} else {
		db := sqlite.New(where)
		if now != nil {
			db.Now = now
		}
		store = db
	}
	if err := store.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}
