package sqlstore

import (
	"time"

	"github.com/phonediversions/phonediversions/routing"
)

func (t *tx) InsertSession(s routing.Session) error {
	_, err := t.exec(`INSERT INTO sessions (id, user_id, csrf, created_at, seen_at) VALUES (?, ?, ?, ?, ?)`,
		s.ID, s.UserID, s.CSRF, s.CreatedAt.UnixNano(), s.SeenAt.UnixNano())
	return t.conflict(err, "session", "session exists")
}

func (t *tx) Session(id string) (routing.Session, error) {
	var s routing.Session
	var created, seen int64
	err := t.queryRow(`SELECT id, user_id, csrf, created_at, seen_at FROM sessions WHERE id = ?`, id).
		Scan(&s.ID, &s.UserID, &s.CSRF, &created, &seen)
	s.CreatedAt, s.SeenAt = time.Unix(0, created), time.Unix(0, seen)
	return s, notFound(err, "session", "no such session")
}

func (t *tx) TouchSession(id string, at time.Time) error {
	res, err := t.exec(`UPDATE sessions SET seen_at = ? WHERE id = ?`, at.UnixNano(), id)
	return mustAffect(res, err, "session", "no such session")
}

func (t *tx) DeleteSession(id string) error {
	_, err := t.exec(`DELETE FROM sessions WHERE id = ?`, id)
	return err
}

func (t *tx) DeleteUserSessions(userID int64) error {
	_, err := t.exec(`DELETE FROM sessions WHERE user_id = ?`, userID)
	return err
}

func (t *tx) DeleteStaleSessions(createdBefore, seenBefore time.Time) (int, error) {
	res, err := t.exec(`DELETE FROM sessions WHERE created_at < ? OR seen_at < ?`, createdBefore.UnixNano(), seenBefore.UnixNano())
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

func (t *tx) SignInFailures(key string) (routing.SignInFailures, error) {
	var f routing.SignInFailures
	var started int64
	err := t.queryRow(`SELECT count, started FROM sign_in_failures WHERE key = ?`, key).Scan(&f.Count, &started)
	f.Started = time.Unix(0, started)
	return f, notFound(err, "key", "no failures")
}

func (t *tx) CountSignInFailure(key string, at, windowStart time.Time) error {
	// A window that ended starts again at this failure.
	_, err := t.exec(`INSERT INTO sign_in_failures (key, count, started) VALUES (?, 1, ?)
		ON CONFLICT (key) DO UPDATE SET
			count = CASE WHEN sign_in_failures.started > ? THEN sign_in_failures.count + 1 ELSE 1 END,
			started = CASE WHEN sign_in_failures.started > ? THEN sign_in_failures.started ELSE excluded.started END`,
		key, at.UnixNano(), windowStart.UnixNano(), windowStart.UnixNano())
	return err
}

func (t *tx) ClearSignInFailures(key string) error {
	_, err := t.exec(`DELETE FROM sign_in_failures WHERE key = ?`, key)
	return err
}

func (t *tx) DeleteStaleSignInFailures(before time.Time) (int, error) {
	res, err := t.exec(`DELETE FROM sign_in_failures WHERE started < ?`, before.UnixNano())
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}
