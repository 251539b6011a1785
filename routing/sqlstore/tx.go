// Package sqlstore implements routing.Tx once over database/sql for the
// SQL stores, the embedded SQLite one and the shared PostgreSQL one: their
// schemas hold the same tables and columns, each in its own dialect, and a
// Dialect says what else differs — placeholders, constraint errors, the
// report search.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/phonediversions/phonediversions/routing"
)

// Dialect is what differs between the SQL stores.
type Dialect interface {
	// Rebind turns the ? placeholders of a query into the driver's.
	Rebind(query string) string
	// Violation names the constraint err violates: Unique, ForeignKey,
	// or "" for any other error.
	Violation(err error) string
	// Search returns how a report search for s is made: a condition on
	// the table aliased r (its placeholders with args), and, when an
	// index of its own drives it, the FROM clause and ORDER BY that use
	// it (empty: the plain ones). desc orders newest first.
	Search(s string, desc bool) (from, cond, order string, args []any)
	// BeforeChange runs before the report entry of a change is written,
	// AfterChange after, in its transaction: a store that several
	// processes write orders the changes' ids by commit there, and tells
	// the others.
	BeforeChange(ctx context.Context, q Queryer) error
	AfterChange(ctx context.Context, q Queryer, id int64) error
	// CopyValue turns a value read from the other store's table and
	// column into one this store's column takes (a 0/1 into a boolean);
	// AfterCopy runs when Copy has written every row (identities set
	// past the ids copied).
	CopyValue(table, column string, v any) any
	AfterCopy(ctx context.Context, q Queryer) error
}

// Constraint violations a Dialect reports.
const (
	Unique     = "unique"
	ForeignKey = "foreign key"
)

// Queryer runs the statements of one transaction; a store may run them
// as statements it prepared once.
type Queryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// NewTx returns the routing.Tx of a transaction: its statements run
// through q, times are stamped by now.
func NewTx(ctx context.Context, q Queryer, d Dialect, now func() time.Time) routing.Tx {
	return &tx{ctx: ctx, q: q, d: d, now: now}
}

// tx implements routing.Tx on a database/sql transaction.
type tx struct {
	ctx context.Context
	q   Queryer
	d   Dialect
	now func() time.Time
}

// conflict turns a constraint violation into a routing ECONFLICT error on
// field; other errors pass through.
func (t *tx) conflict(err error, field, format string, args ...any) error {
	switch t.d.Violation(err) {
	case Unique:
		return routing.FieldErrorf(routing.ECONFLICT, field, format, args...)
	case ForeignKey:
		return routing.Errorf(routing.ECONFLICT, "a referenced record does not exist or is still in use")
	}
	return err
}

func (t *tx) exec(query string, args ...any) (sql.Result, error) {
	return t.q.ExecContext(t.ctx, t.d.Rebind(query), args...)
}

func (t *tx) query(query string, args ...any) (*sql.Rows, error) {
	return t.q.QueryContext(t.ctx, t.d.Rebind(query), args...)
}

func (t *tx) queryRow(query string, args ...any) *sql.Row {
	return t.q.QueryRowContext(t.ctx, t.d.Rebind(query), args...)
}

// insert runs an INSERT … RETURNING id and returns the id.
func (t *tx) insert(query string, args ...any) (int64, error) {
	var id int64
	err := t.queryRow(query+` RETURNING id`, args...).Scan(&id)
	return id, err
}

// stamp returns the current time as stored: Unix nanoseconds.
func (t *tx) stamp() (time.Time, int64) {
	now := t.now()
	return now, now.UnixNano()
}

// notFound maps sql.ErrNoRows to a routing ENOTFOUND error on field.
func notFound(err error, field, format string, args ...any) error {
	if errors.Is(err, sql.ErrNoRows) {
		return routing.FieldErrorf(routing.ENOTFOUND, field, format, args...)
	}
	return err
}

// mustAffect turns "no row changed" into ENOTFOUND.
func mustAffect(res sql.Result, err error, field, format string, args ...any) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return routing.FieldErrorf(routing.ENOTFOUND, field, format, args...)
	}
	return nil
}

// unixOrZero reads a stored time: Unix nanoseconds, 0 for none.
func unixOrZero(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// zeroOrUnix stores a time: Unix nanoseconds, 0 for none.
func zeroOrUnix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// Groups.

const groupColumns = `id, name, description, destination, state_on, COALESCE(announcement_id, 0), created_at, updated_at,
	override_until, schedule_applied`

type scanner interface{ Scan(dest ...any) error }

func scanGroup(s scanner) (routing.Group, error) {
	var g routing.Group
	var created, updated, until, applied int64
	err := s.Scan(&g.ID, &g.Name, &g.Description, &g.Destination, &g.On, &g.AnnouncementID, &created, &updated, &until, &applied)
	g.CreatedAt, g.UpdatedAt = time.Unix(0, created), time.Unix(0, updated)
	g.OverrideUntil, g.ScheduleApplied = unixOrZero(until), unixOrZero(applied)
	return g, err
}

func (t *tx) Group(id int64) (routing.Group, error) {
	g, err := scanGroup(t.queryRow(`SELECT `+groupColumns+` FROM groups WHERE id = ?`, id))
	return g, notFound(err, "groupId", "group %d does not exist", id)
}

func (t *tx) Groups(f routing.GroupFilter) ([]routing.Group, error) {
	q := `SELECT ` + groupColumns + ` FROM groups WHERE 1=1`
	var args []any
	if f.ID != 0 {
		q += ` AND id = ?`
		args = append(args, f.ID)
	}
	if f.Name != "" {
		q += ` AND name = ?`
		args = append(args, f.Name)
	}
	rows, err := t.query(q+` ORDER BY name, id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []routing.Group
	for rows.Next() {
		g, err := scanGroup(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

func (t *tx) InsertGroup(g *routing.Group) error {
	now, ns := t.stamp()
	id, err := t.insert(`INSERT INTO groups (name, description, destination, state_on, announcement_id, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, g.Name, g.Description, g.Destination, g.On, nullID(g.AnnouncementID), ns, ns)
	if err != nil {
		return t.conflict(err, "groupName", "a group named %q already exists", g.Name)
	}
	g.ID = id
	g.CreatedAt, g.UpdatedAt = now, now
	return nil
}

func (t *tx) UpdateGroup(g *routing.Group) error {
	now, ns := t.stamp()
	res, err := t.exec(`UPDATE groups SET name = ?, description = ?, destination = ?, state_on = ?, announcement_id = ?, updated_at = ?,
		override_until = ?, schedule_applied = ? WHERE id = ?`, g.Name, g.Description, g.Destination, g.On, nullID(g.AnnouncementID), ns,
		zeroOrUnix(g.OverrideUntil), zeroOrUnix(g.ScheduleApplied), g.ID)
	if err != nil {
		return t.conflict(err, "groupName", "a group named %q already exists", g.Name)
	}
	if err := mustAffect(res, nil, "groupId", "group %d does not exist", g.ID); err != nil {
		return err
	}
	g.UpdatedAt = now
	return nil
}

func (t *tx) DeleteGroup(id int64) error {
	res, err := t.exec(`DELETE FROM groups WHERE id = ?`, id)
	return mustAffect(res, err, "groupId", "group %d does not exist", id)
}

// Lines.

func (t *tx) Line(number string) (routing.Line, error) {
	var l routing.Line
	err := t.queryRow(`SELECT number, description, group_id FROM lines WHERE number = ?`, number).
		Scan(&l.Number, &l.Description, &l.GroupID)
	return l, notFound(err, "lineNumber", "line %s does not exist", number)
}

func (t *tx) Lines(groupID int64) ([]routing.Line, error) {
	return t.lines(`SELECT number, description, group_id FROM lines WHERE group_id = ? ORDER BY number`, groupID)
}

func (t *tx) AllLines() ([]routing.Line, error) {
	return t.lines(`SELECT number, description, group_id FROM lines ORDER BY number`)
}

func (t *tx) lines(query string, args ...any) ([]routing.Line, error) {
	rows, err := t.query(query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []routing.Line
	for rows.Next() {
		var l routing.Line
		if err := rows.Scan(&l.Number, &l.Description, &l.GroupID); err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

func (t *tx) InsertLine(l routing.Line) error {
	_, err := t.exec(`INSERT INTO lines (number, description, group_id) VALUES (?, ?, ?)`, l.Number, l.Description, l.GroupID)
	return t.conflict(err, "lineNumber", "line %s already belongs to a group", l.Number)
}

func (t *tx) UpdateLine(l routing.Line) error {
	res, err := t.exec(`UPDATE lines SET description = ? WHERE number = ?`, l.Description, l.Number)
	return mustAffect(res, err, "lineNumber", "line %s does not exist", l.Number)
}

func (t *tx) DeleteLine(number string) error {
	res, err := t.exec(`DELETE FROM lines WHERE number = ?`, number)
	return mustAffect(res, err, "lineNumber", "line %s does not exist", number)
}

// Users.

const userColumns = `id, username, display_name, department, privileges, password_hash, created_at, updated_at`

func (t *tx) scanUser(s scanner) (routing.User, error) {
	var u routing.User
	var created, updated int64
	if err := s.Scan(&u.ID, &u.Username, &u.DisplayName, &u.Department, &u.Privileges, &u.PasswordHash, &created, &updated); err != nil {
		return u, err
	}
	u.CreatedAt, u.UpdatedAt = time.Unix(0, created), time.Unix(0, updated)
	return u, nil
}

// userLines fills in the numbers each user owns.
func (t *tx) userLines(users []routing.User) error {
	for i := range users {
		rows, err := t.query(`SELECT number FROM user_lines WHERE user_id = ? ORDER BY number`, users[i].ID)
		if err != nil {
			return err
		}
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				rows.Close()
				return err
			}
			users[i].Lines = append(users[i].Lines, n)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

func (t *tx) oneUser(field, what string, query string, arg any) (routing.User, error) {
	u, err := t.scanUser(t.queryRow(query, arg))
	if err != nil {
		return u, notFound(err, field, "%s does not exist", what)
	}
	us := []routing.User{u}
	err = t.userLines(us)
	return us[0], err
}

func (t *tx) User(id int64) (routing.User, error) {
	return t.oneUser("userId", "the user", `SELECT `+userColumns+` FROM users WHERE id = ?`, id)
}

func (t *tx) UserByUsername(username string) (routing.User, error) {
	return t.oneUser("username", "user "+username, `SELECT `+userColumns+` FROM users WHERE username = ?`, username)
}

func (t *tx) UserOfLine(number string) (routing.User, error) {
	return t.oneUser("lineNumber", "an owner of "+number,
		`SELECT `+userColumns+` FROM users WHERE id = (SELECT user_id FROM user_lines WHERE number = ?)`, number)
}

func (t *tx) Users() ([]routing.User, error) {
	rows, err := t.query(`SELECT ` + userColumns + ` FROM users ORDER BY username`)
	if err != nil {
		return nil, err
	}
	var out []routing.User
	for rows.Next() {
		u, err := t.scanUser(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, u)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, t.userLines(out)
}

func (t *tx) writeUserLines(u *routing.User) error {
	if _, err := t.exec(`DELETE FROM user_lines WHERE user_id = ?`, u.ID); err != nil {
		return err
	}
	for _, n := range u.Lines {
		if _, err := t.exec(`INSERT INTO user_lines (number, user_id) VALUES (?, ?)`, n, u.ID); err != nil {
			return t.conflict(err, "lines", "number %s belongs to another user", n)
		}
	}
	return nil
}

func (t *tx) InsertUser(u *routing.User) error {
	now, ns := t.stamp()
	id, err := t.insert(`INSERT INTO users (username, display_name, department, privileges, password_hash, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, u.Username, u.DisplayName, u.Department, u.Privileges, u.PasswordHash, ns, ns)
	if err != nil {
		return t.conflict(err, "username", "username %q is taken", u.Username)
	}
	u.ID = id
	u.CreatedAt, u.UpdatedAt = now, now
	return t.writeUserLines(u)
}

func (t *tx) UpdateUser(u *routing.User) error {
	now, ns := t.stamp()
	res, err := t.exec(`UPDATE users SET username = ?, display_name = ?, department = ?, privileges = ?, password_hash = ?, updated_at = ?
		WHERE id = ?`, u.Username, u.DisplayName, u.Department, u.Privileges, u.PasswordHash, ns, u.ID)
	if err != nil {
		return t.conflict(err, "username", "username %q is taken", u.Username)
	}
	if err := mustAffect(res, nil, "userId", "user %d does not exist", u.ID); err != nil {
		return err
	}
	u.UpdatedAt = now
	return t.writeUserLines(u)
}

func (t *tx) DeleteUser(id int64) error {
	res, err := t.exec(`DELETE FROM users WHERE id = ?`, id)
	return mustAffect(res, err, "userId", "user %d does not exist", id)
}

// Settings.

func (t *tx) Settings() (routing.Settings, error) {
	var s routing.Settings
	var direct string
	err := t.queryRow(`SELECT connect_to_called, direct_access, COALESCE(announcement_id, 0) FROM settings WHERE id = 1`).
		Scan(&s.ConnectToCalled, &direct, &s.AnnouncementID)
	if direct != "" {
		s.DirectAccess = strings.Split(direct, ",")
	}
	return s, err
}

func (t *tx) SaveSettings(s routing.Settings) error {
	_, err := t.exec(`UPDATE settings SET connect_to_called = ?, direct_access = ?, announcement_id = ? WHERE id = 1`,
		s.ConnectToCalled, strings.Join(s.DirectAccess, ","), nullID(s.AnnouncementID))
	return err
}

// Secrets.

func (t *tx) Secret(name string) ([]byte, error) {
	var v []byte
	err := t.queryRow(`SELECT value FROM secrets WHERE name = ?`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, routing.Errorf(routing.ENOTFOUND, "there is no secret %q", name)
	}
	return v, err
}

func (t *tx) SetSecret(name string, value []byte) error {
	_, err := t.exec(`INSERT INTO secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, value)
	return err
}

// Announcements.

const announcementColumns = `id, name, file_name, duration_ms, uploaded_by, uploaded_at`

func scanAnnouncement(s scanner) (routing.Announcement, error) {
	var a routing.Announcement
	var ms, at int64
	err := s.Scan(&a.ID, &a.Name, &a.FileName, &ms, &a.UploadedBy, &at)
	a.Duration, a.UploadedAt = time.Duration(ms)*time.Millisecond, time.Unix(0, at)
	return a, err
}

func (t *tx) Announcement(id int64) (routing.Announcement, error) {
	a, err := scanAnnouncement(t.queryRow(`SELECT `+announcementColumns+` FROM announcements WHERE id = ?`, id))
	return a, notFound(err, "announcementId", "announcement %d does not exist", id)
}

func (t *tx) Announcements() ([]routing.Announcement, error) {
	rows, err := t.query(`SELECT ` + announcementColumns + ` FROM announcements ORDER BY uploaded_at DESC, id DESC`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []routing.Announcement
	for rows.Next() {
		a, err := scanAnnouncement(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

func (t *tx) InsertAnnouncement(a *routing.Announcement) error {
	var err error
	a.ID, err = t.insert(`INSERT INTO announcements (name, file_name, duration_ms, uploaded_by, uploaded_at) VALUES (?, ?, ?, ?, ?)`,
		a.Name, a.FileName, a.Duration.Milliseconds(), a.UploadedBy, a.UploadedAt.UnixNano())
	return err
}

func (t *tx) AnnouncementAudio(id int64) ([]byte, error) {
	var data []byte
	err := t.queryRow(`SELECT data FROM announcement_audio WHERE announcement_id = ?`, id).Scan(&data)
	return data, notFound(err, "announcementId", "announcement %d has no stored audio", id)
}

func (t *tx) SetAnnouncementAudio(id int64, data []byte) error {
	_, err := t.exec(`INSERT INTO announcement_audio (announcement_id, data, size) VALUES (?, ?, ?)
		ON CONFLICT (announcement_id) DO UPDATE SET data = excluded.data, size = excluded.size`, id, data, len(data))
	return t.conflict(err, "announcementId", "announcement %d does not exist", id)
}

func (t *tx) AnnouncementAudioSize() (int64, error) {
	var n int64
	err := t.queryRow(`SELECT COALESCE(SUM(size), 0) FROM announcement_audio`).Scan(&n)
	return n, err
}

func (t *tx) DeleteAnnouncement(id int64) error {
	res, err := t.exec(`DELETE FROM announcements WHERE id = ?`, id)
	if err != nil {
		return t.conflict(err, "announcementId", "announcement %d is in use", id)
	}
	return mustAffect(res, nil, "announcementId", "announcement %d does not exist", id)
}
