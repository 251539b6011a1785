package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"unicode/utf8"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/phonediversions/phonediversions/routing/sqlstore"
)

// dialect is SQLite's: ? placeholders, its constraint codes, and a report
// search of three characters or more driven by the trigram index, in the
// order entries were recorded (which is their time order): a word found
// in most entries yields its first page at once instead of gathering
// every match first.
type dialect struct{}

func (dialect) Rebind(query string) string { return query }

func (dialect) Violation(err error) string {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return sqlstore.Unique
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return sqlstore.ForeignKey
		}
	}
	return ""
}

func (dialect) Search(s string, desc bool) (from, cond, order string, args []any) {
	if utf8.RuneCountInString(s) >= 3 {
		// The trigram index finds substrings of three characters or more.
		dir := ""
		if desc {
			dir = " DESC"
		}
		return " FROM reports_fts JOIN reports r ON r.id = reports_fts.rowid", "reports_fts MATCH ?",
			" ORDER BY reports_fts.rowid" + dir, []any{`"` + strings.ReplaceAll(s, `"`, `""`) + `"`}
	}
	like := sqlstore.LikePattern(s)
	return "", `(r.username LIKE ? ESCAPE '\' OR r.caller LIKE ? ESCAPE '\' OR r.receiver LIKE ? ESCAPE '\' OR r.group_name LIKE ? ESCAPE '\')`,
		"", []any{like, like, like, like}
}

// BeforeChange does nothing: one process writes the file at a time, so
// ids follow commits already.
func (dialect) BeforeChange(context.Context, sqlstore.Queryer) error { return nil }

// AfterChange does nothing: no other process follows the file's changes.
func (dialect) AfterChange(context.Context, sqlstore.Queryer, int64) error { return nil }

// CopyValue takes the other store's values as they are: SQLite stores a
// boolean as 0 or 1, and the driver writes a Go bool so.
func (dialect) CopyValue(_, _ string, v any) any { return v }

// AfterCopy has nothing to do: the next INTEGER PRIMARY KEY follows the
// highest id.
func (dialect) AfterCopy(context.Context, sqlstore.Queryer) error { return nil }

// Copy copies every row of the store src (SQLite or PostgreSQL, opened)
// into this one, which must hold no data. See sqlstore.Copy.
func (db *DB) Copy(ctx context.Context, src interface{ SQL() *sql.DB }) error {
	return sqlstore.Copy(ctx, src.SQL(), db.write, dialect{})
}

// SQL is the store's database handle, for Copy to read it whole.
func (db *DB) SQL() *sql.DB { return db.read }

// preparedTx runs a transaction's statements as the pool's prepared ones
// where it has them.
type preparedTx struct {
	tx    *sql.Tx
	stmts *statements
}

func (p preparedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := p.stmts.get(query); st != nil {
		return p.tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return p.tx.ExecContext(ctx, query, args...)
}

func (p preparedTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := p.stmts.get(query); st != nil {
		return p.tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return p.tx.QueryContext(ctx, query, args...)
}

func (p preparedTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := p.stmts.get(query); st != nil {
		return p.tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return p.tx.QueryRowContext(ctx, query, args...)
}
