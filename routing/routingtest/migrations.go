package routingtest

import (
	"path/filepath"
	"sort"
	"testing"
)

// LastMigration is the name of the newest migration in the migrations
// folder of the test's package (a store's).
func LastMigration(t testing.TB) string {
	t.Helper()
	names, err := filepath.Glob("migrations/*.sql")
	if err != nil || len(names) == 0 {
		t.Fatalf("migrations: %v %v", names, err)
	}
	sort.Strings(names)
	return filepath.Base(names[len(names)-1])
}
