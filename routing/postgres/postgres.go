// Package postgres is the shared routing.Store: one PostgreSQL database
// that two or more nodes of the product use at once, through pgx. Its
// schema is kept by ordered migrations in PostgreSQL's dialect, numbered
// as SQLite's; the transaction code is routing/sqlstore's.
package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/phonediversions/phonediversions/routing"
	"github.com/phonediversions/phonediversions/routing/sqlstore"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migrationLock is the advisory lock migrations hold, so that nodes
// starting together apply each migration once.
const migrationLock = 0x70645f6d6967 // "pd_mig"

// changesLock orders the changes across nodes: a transaction holds it from
// before it writes a change's report entry until it commits, so the next
// change's entry gets a higher id; ids then follow commits, and a node
// that read every change up to an id has missed none below it.
const changesLock = 0x70645f636867 // "pd_chg"

// changesChannel is the channel of the notices of committed changes; a
// notice carries the change's id (another node reads the change itself).
const changesChannel = "pd_changes"

// maxAttempts bounds how often a write transaction that lost a race with
// another node's (serialization failure, deadlock) is run again.
const maxAttempts = 10

// DB is the PostgreSQL store. Write transactions run serializable, so two
// nodes changing the same rows at once see one after the other: the one
// that loses is run again from the start.
type DB struct {
	url string
	cfg *pgx.ConnConfig
	db  *sql.DB
	// read is a pool of connections that only read: a View's statements
	// run on it one by one, without a transaction around them, which
	// would cost two more round trips for every lookup of a call.
	read *sql.DB
	// Now is the clock used for created/updated times. It may be replaced
	// before Open.
	Now func() time.Time
	d   dialect
}

// New returns a store for the database at url (postgres://… or
// postgresql://…, with pgx's parameters: sslmode, pool_max_conns, …).
// Call Open before use.
func New(url string) *DB {
	return &DB{url: url, Now: time.Now, d: dialect{rebound: &sync.Map{}}}
}

// Open connects and applies the migrations the database has not seen
// yet. Errors: a database it cannot reach, a migration that fails, or a
// schema newer than this program knows (the message names both).
func (db *DB) Open() error {
	cfg, size, err := connConfig(db.url)
	if err != nil {
		return err
	}
	db.cfg = cfg
	db.db = stdlib.OpenDB(*cfg)
	db.db.SetMaxOpenConns(size)
	db.db.SetMaxIdleConns(size)
	rcfg := cfg.Copy()
	rcfg.RuntimeParams["default_transaction_read_only"] = "on"
	db.read = stdlib.OpenDB(*rcfg)
	db.read.SetMaxOpenConns(size)
	db.read.SetMaxIdleConns(size)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := db.db.PingContext(ctx); err != nil {
		db.Close()
		return fmt.Errorf("postgres: connect: %w", err)
	}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return err
	}
	return nil
}

// Close closes the connections.
func (db *DB) Close() error {
	if db.db == nil {
		return nil
	}
	return errors.Join(db.read.Close(), db.db.Close())
}

// migrate applies, in name order and each in its own transaction holding
// the migration lock, the embedded migrations not yet recorded, and
// refuses a database that recorded one this program does not know.
func (db *DB) migrate(ctx context.Context) error {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	known := map[string]bool{}
	for _, name := range names {
		known[strings.TrimPrefix(name, "migrations/")] = true
		if err := db.migrateFile(ctx, name); err != nil {
			return fmt.Errorf("postgres: migration %s: %w", name, err)
		}
	}
	rows, err := db.db.QueryContext(ctx, `SELECT name FROM schema_migrations ORDER BY name`)
	if err != nil {
		return fmt.Errorf("postgres: migrations: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return err
		}
		if !known[name] {
			last := strings.TrimPrefix(names[len(names)-1], "migrations/")
			return fmt.Errorf("postgres: the database's schema has migration %s, newer than this program's last, %s: run a newer version of the program", name, last)
		}
	}
	return rows.Err()
}

func (db *DB) migrateFile(ctx context.Context, path string) error {
	name := strings.TrimPrefix(path, "migrations/")
	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLock)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return err
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE name = $1`, name).Scan(&n); err != nil {
		return err
	} else if n > 0 {
		return nil
	}
	buf, err := fs.ReadFile(migrationFS, path)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, string(buf)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES ($1, $2)`, name, db.Now().UnixNano()); err != nil {
		return err
	}
	return tx.Commit()
}

// View runs fn's reads on read-only connections, each statement by
// itself: each sees what was committed when it ran (two reads of one
// View may see a change commit between them, as two Views would).
func (db *DB) View(ctx context.Context, fn func(routing.Tx) error) error {
	return unavailable(fn(sqlstore.NewTx(ctx, db.read, db.d, db.Now)))
}

// Update runs fn in a serializable write transaction and commits when fn
// returns nil. A transaction another node's made fail (serialization
// failure, deadlock) runs again, fn included, up to maxAttempts times.
func (db *DB) Update(ctx context.Context, fn func(routing.Tx) error) error {
	var err error
	for range maxAttempts {
		if err = db.update(ctx, fn); !retryable(err) {
			return unavailable(err)
		}
	}
	return err
}

// unavailable marks an error of a server that cannot be reached — down,
// refusing connections, shutting down, out of connections, or not
// answering in time — as a routing.StoreUnavailableError; other errors
// pass through.
func unavailable(err error) error {
	if err == nil {
		return nil
	}
	var ce *pgconn.ConnectError
	var pe *pgconn.PgError
	var ne net.Error
	switch {
	case errors.As(err, &pe):
		// Class 08 is a connection exception; 57P01–57P03 a server that
		// shuts down or starts; 53300 too many connections.
		if !strings.HasPrefix(pe.Code, "08") && pe.Code != "57P01" && pe.Code != "57P02" &&
			pe.Code != "57P03" && pe.Code != "53300" {
			return err
		}
	case errors.As(err, &ce), errors.As(err, &ne), pgconn.Timeout(err), pgconn.SafeToRetry(err),
		errors.Is(err, pgconn.ErrConnClosed),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone),
		errors.Is(err, context.DeadlineExceeded):
	default:
		return err
	}
	return &routing.StoreUnavailableError{Err: err}
}

func (db *DB) update(ctx context.Context, fn func(routing.Tx) error) error {
	t, err := db.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelSerializable})
	if err != nil {
		return fmt.Errorf("postgres: begin: %w", err)
	}
	defer t.Rollback()
	if err := fn(sqlstore.NewTx(ctx, t, db.d, db.Now)); err != nil {
		return err
	}
	if err := t.Commit(); err != nil {
		return fmt.Errorf("postgres: commit: %w", err)
	}
	return nil
}

// retryable reports whether err is a transaction lost to another one.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// dialect is PostgreSQL's: $n placeholders, its constraint codes, and a
// report search by ILIKE, which the trigram indexes drive from three
// characters on.
type dialect struct {
	rebound *sync.Map // query text → rebound text
}

func (d dialect) Rebind(query string) string {
	if q, ok := d.rebound.Load(query); ok {
		return q.(string)
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	d.rebound.Store(query, b.String())
	return b.String()
}

func (dialect) Violation(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505":
			return sqlstore.Unique
		case "23503":
			return sqlstore.ForeignKey
		}
	}
	return ""
}

// BeforeChange takes the changes' lock: see changesLock.
func (dialect) BeforeChange(ctx context.Context, q sqlstore.Queryer) error {
	_, err := q.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(changesLock))
	return err
}

// AfterChange tells the other nodes, when the transaction commits.
func (dialect) AfterChange(ctx context.Context, q sqlstore.Queryer, id int64) error {
	_, err := q.ExecContext(ctx, `SELECT pg_notify($1, $2)`, changesChannel, strconv.FormatInt(id, 10))
	return err
}

// boolColumns are the columns SQLite keeps as 0 or 1.
var boolColumns = map[string]bool{"groups.state_on": true, "settings.connect_to_called": true}

// CopyValue turns SQLite's 0 or 1 into a boolean where the column is one.
func (dialect) CopyValue(table, column string, v any) any {
	if n, ok := v.(int64); ok && boolColumns[table+"."+column] {
		return n != 0
	}
	return v
}

// AfterCopy sets each identity past the highest id copied.
func (dialect) AfterCopy(ctx context.Context, q sqlstore.Queryer) error {
	for _, t := range []string{"announcements", "groups", "users", "reports", "holidays"} {
		if _, err := q.ExecContext(ctx, `SELECT setval(pg_get_serial_sequence('`+t+`', 'id'), GREATEST((SELECT MAX(id) FROM `+t+`), 1))`); err != nil {
			return err
		}
	}
	return nil
}

// Copy copies every row of the store src (SQLite or PostgreSQL, opened)
// into this one, which must hold no data. See sqlstore.Copy.
func (db *DB) Copy(ctx context.Context, src interface{ SQL() *sql.DB }) error {
	return sqlstore.Copy(ctx, src.SQL(), db.db, db.d)
}

// SQL is the store's database handle, for Copy to read it whole.
func (db *DB) SQL() *sql.DB { return db.read }

func (dialect) Search(s string, _ bool) (from, cond, order string, args []any) {
	like := sqlstore.LikePattern(s)
	return "", `(r.username ILIKE ? ESCAPE '\' OR r.caller ILIKE ? ESCAPE '\' OR r.receiver ILIKE ? ESCAPE '\' OR r.group_name ILIKE ? ESCAPE '\')`,
		"", []any{like, like, like, like}
}

// defaultPoolSize is how many connections a node opens at most.
const defaultPoolSize = 16

// connConfig reads the URL: pgx's connection settings, and the pool size
// (pool_max_conns, default 16), which is the store's, not the server's.
func connConfig(raw string) (*pgx.ConnConfig, int, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, 0, errors.New("postgres: the database URL must be postgres://user@host:port/database or postgresql://…")
	}
	size := defaultPoolSize
	q := u.Query()
	if v := q.Get("pool_max_conns"); v != "" {
		if size, err = strconv.Atoi(v); err != nil || size < 1 || size > 1000 {
			return nil, 0, errors.New("postgres: pool_max_conns must be a whole number from 1 to 1000")
		}
		q.Del("pool_max_conns")
		u.RawQuery = q.Encode()
	}
	cfg, err := pgx.ParseConfig(u.String())
	if err != nil {
		return nil, 0, fmt.Errorf("postgres: the database URL: %w", err)
	}
	if q.Get("connect_timeout") == "" {
		// A server that does not answer at all is found out in this
		// time, not in the kernel's minutes of TCP retries.
		cfg.ConnectTimeout = defaultConnectTimeout
	}
	return cfg, size, nil
}

// defaultConnectTimeout bounds a connection attempt when the URL gives no
// connect_timeout.
const defaultConnectTimeout = 5 * time.Second

// followRetry is how long FollowChanges waits before it listens again
// after its connection was lost.
const followRetry = time.Second

// FollowChanges listens for the notices of committed changes on a
// connection of its own (application_name phonediversions-follow) and
// calls wake once listening, at each notice, and after each reconnection;
// lost hears why a connection was lost. It returns ctx's error when ctx
// ends. See routing.ChangeFollower.
func (db *DB) FollowChanges(ctx context.Context, wake func(), lost func(error)) error {
	for {
		err := db.listen(ctx, wake)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		lost(fmt.Errorf("postgres: following changes: %w", err))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(followRetry):
		}
	}
}

func (db *DB) listen(ctx context.Context, wake func()) error {
	cfg := db.cfg.Copy()
	cfg.RuntimeParams["application_name"] = "phonediversions-follow"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `LISTEN `+changesChannel); err != nil {
		return err
	}
	wake() // what was committed before this connection listened
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		wake()
	}
}
