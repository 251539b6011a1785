// Package sqlite is the embedded routing.Store: one SQLite file in WAL mode
// with foreign keys on, its schema kept by ordered migrations embedded in
// the binary.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"sort"
	"time"

	"github.com/phonediversions/phonediversions/routing"
	"github.com/phonediversions/phonediversions/routing/sqlstore"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// DB is the SQLite store. Writes go through a single connection, so write
// transactions queue in Go rather than fail with SQLITE_BUSY; reads use a
// pool of read-only connections that see the last committed state (WAL).
type DB struct {
	path  string
	write *sql.DB
	read  *sql.DB
	// The statements each pool has prepared, kept for the life of the
	// store: a call's lookups and report no longer compile their SQL.
	writeStmts, readStmts *statements
	// Now is the clock used for created/updated times. It may be replaced
	// before Open.
	Now func() time.Time
}

// New returns a store for the database file at path. Call Open before use.
func New(path string) *DB {
	return &DB{path: path, Now: time.Now}
}

func (db *DB) dsn(readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	// FULL: a committed switch or report survives a power cut, not only a
	// crash of the process.
	q.Add("_pragma", "synchronous(FULL)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Set("_txlock", "immediate")
	}
	return "file:" + (&url.URL{Path: db.path}).EscapedPath() + "?" + q.Encode()
}

// Open opens (creating when missing) the database file and applies the
// migrations it has not seen yet.
func (db *DB) Open() error {
	if db.path == "" {
		return errors.New("sqlite: no database path")
	}
	// The file holds password hashes: create it readable by its owner only.
	f, err := os.OpenFile(db.path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("sqlite: open: %w", err)
	}
	f.Close()
	if db.write, err = sql.Open("sqlite", db.dsn(false)); err != nil {
		return fmt.Errorf("sqlite: open: %w", err)
	}
	db.write.SetMaxOpenConns(1)
	db.write.SetConnMaxIdleTime(0)
	db.write.SetConnMaxLifetime(0)
	if err := db.write.Ping(); err != nil {
		db.write.Close()
		return fmt.Errorf("sqlite: open %s: %w", db.path, err)
	}
	if err := db.migrate(); err != nil {
		db.write.Close()
		return err
	}
	if db.read, err = sql.Open("sqlite", db.dsn(true)); err != nil {
		db.write.Close()
		return fmt.Errorf("sqlite: open: %w", err)
	}
	db.read.SetMaxOpenConns(8)
	db.read.SetMaxIdleConns(8)
	db.writeStmts, db.readStmts = newStatements(db.write), newStatements(db.read)
	return nil
}

// Close closes the database; committed data is on disk.
func (db *DB) Close() error {
	var errs []error
	errs = append(errs, db.readStmts.close(), db.writeStmts.close())
	if db.read != nil {
		errs = append(errs, db.read.Close())
	}
	if db.write != nil {
		// Fold the WAL back into the main file so the next start is fast.
		_, _ = db.write.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
		errs = append(errs, db.write.Close())
	}
	return errors.Join(errs...)
}

// migrate applies, in name order and each in its own transaction, the
// embedded migrations not yet recorded in schema_migrations.
func (db *DB) migrate() error {
	if _, err := db.write.Exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
		name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("sqlite: migrations table: %w", err)
	}
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		if err := db.migrateFile(name); err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", name, err)
		}
	}
	// A newer program's migration: this one would misread the data.
	var newest string
	if err := db.write.QueryRow(`SELECT COALESCE(MAX(name), '') FROM schema_migrations`).Scan(&newest); err != nil {
		return fmt.Errorf("sqlite: migrations: %w", err)
	}
	if last := names[len(names)-1]; newest > last {
		return fmt.Errorf("sqlite: the database's schema has migration %s, newer than this program's last, %s: run a newer version of the program", newest, last)
	}
	return nil
}

func (db *DB) migrateFile(name string) error {
	tx, err := db.write.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRow(`SELECT COUNT(*) FROM schema_migrations WHERE name = ?`, name).Scan(&n); err != nil {
		return err
	} else if n > 0 {
		return nil
	}
	buf, err := fs.ReadFile(migrationFS, name)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(string(buf)); err != nil {
		return err
	}
	if _, err := tx.Exec(`INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)`, name, db.Now().UnixNano()); err != nil {
		return err
	}
	return tx.Commit()
}

// View runs fn in a read-only transaction.
func (db *DB) View(ctx context.Context, fn func(routing.Tx) error) error {
	t, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	defer db.readStmts.prepare(ctx) // runs after the rollback: the connection is free
	defer t.Rollback()
	return fn(sqlstore.NewTx(ctx, preparedTx{tx: t, stmts: db.readStmts}, dialect{}, db.Now))
}

// Update runs fn in a write transaction and commits when fn returns nil.
func (db *DB) Update(ctx context.Context, fn func(routing.Tx) error) error {
	t, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	defer db.writeStmts.prepare(ctx) // runs after the rollback: the connection is free
	defer t.Rollback()
	if err := fn(sqlstore.NewTx(ctx, preparedTx{tx: t, stmts: db.writeStmts}, dialect{}, db.Now)); err != nil {
		return err
	}
	if err := t.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	return nil
}

// Backup writes a consistent copy of the database, as it is at one
// moment, to a new file at path, while the database is in use: reads and
// writes go on meanwhile. Restoring is starting on the copy. Errors: path
// exists, or the copy cannot be written.
func (db *DB) Backup(ctx context.Context, path string) error {
	// The copy holds password hashes: made readable by its owner only
	// before anything is written to it (VACUUM INTO takes an empty file).
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("sqlite: backup: %s exists already", path)
	} else if err != nil {
		return fmt.Errorf("sqlite: backup: %w", err)
	}
	f.Close()
	conn, err := sql.Open("sqlite", "file:"+(&url.URL{Path: db.path}).EscapedPath()+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return fmt.Errorf("sqlite: backup: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		os.Remove(path)
		return fmt.Errorf("sqlite: backup: %w", err)
	}
	return nil
}
