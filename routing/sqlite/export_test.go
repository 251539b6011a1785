package sqlite

import "testing"

// MigrationCount returns how many migrations the database has recorded.
func (db *DB) MigrationCount(t testing.TB) int {
	t.Helper()
	var n int
	if err := db.read.QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Pragmas are the connection settings a test checks.
type Pragmas struct {
	JournalMode string
	ForeignKeys bool
	BusyTimeout int
}

// Pragmas reads the settings of the write connection.
func (db *DB) Pragmas(t testing.TB) Pragmas {
	t.Helper()
	var p Pragmas
	for q, dst := range map[string]any{
		"PRAGMA journal_mode": &p.JournalMode,
		"PRAGMA foreign_keys": &p.ForeignKeys,
		"PRAGMA busy_timeout": &p.BusyTimeout,
	} {
		if err := db.write.QueryRow(q).Scan(dst); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// Prepared returns how many query texts each pool holds prepared.
func (db *DB) Prepared() (write, read int) {
	count := func(s *statements) int {
		s.mu.Lock()
		defer s.mu.Unlock()
		n := 0
		for _, st := range s.byQ {
			if st != nil {
				n++
			}
		}
		return n
	}
	return count(db.writeStmts), count(db.readStmts)
}

// AddMigrationRecord records a migration this program does not have, as
// a newer program would have.
func AddMigrationRecord(path, name string) error {
	db := New(path)
	if err := db.Open(); err != nil {
		return err
	}
	defer db.Close()
	_, err := db.write.Exec(`INSERT INTO schema_migrations (name, applied_at) VALUES (?, 0)`, name)
	return err
}
