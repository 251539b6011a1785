package routing

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// touchEvery is how stale a session's last-seen time may get before a
// request writes it again: every request writing it would put a commit on
// every page view.
const touchEvery = time.Minute

// SessionLimits are how long a session lasts: Idle since its last use,
// Max since it began.
type SessionLimits struct {
	Idle, Max time.Duration
}

// sessionID is the stored id of a browser's token.
func sessionID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// errNoSession is the one answer for a token that is unknown or expired.
var errNoSession = &Error{Code: EUNAUTHORIZED, Message: "your session has ended; sign in again"}

// StartSession begins a session of the user and returns the token the
// browser keeps (the store keeps only its hash) with the session. Errors:
// ENOTFOUND for an unknown user.
func (s *Service) StartSession(ctx context.Context, userID int64) (string, Session, error) {
	token := rand.Text() + rand.Text()
	now := s.now()
	sess := Session{ID: sessionID(token), UserID: userID, CSRF: rand.Text(), CreatedAt: now, SeenAt: now}
	err := s.store.Update(ctx, func(tx Tx) error {
		if _, err := tx.User(userID); err != nil {
			return err
		}
		return tx.InsertSession(sess)
	})
	if err != nil {
		return "", Session{}, err
	}
	return token, sess, nil
}

// SessionUser returns the session of a token and its user, and records
// the use. A session past its limits is ended. Errors: EUNAUTHORIZED for
// a token that is unknown or expired (the same answer for both).
func (s *Service) SessionUser(ctx context.Context, token string, lim SessionLimits) (Session, User, error) {
	if token == "" {
		return Session{}, User{}, errNoSession
	}
	id := sessionID(token)
	var sess Session
	var u User
	err := s.view(ctx, func(tx Tx) error {
		var err error
		if sess, err = tx.Session(id); err != nil {
			return err
		}
		u, err = tx.User(sess.UserID)
		return err
	})
	if ErrorCode(err) == ENOTFOUND {
		return Session{}, User{}, errNoSession
	} else if err != nil {
		return Session{}, User{}, err
	}
	now := s.now()
	if now.Sub(sess.CreatedAt) >= lim.Max || now.Sub(sess.SeenAt) >= lim.Idle {
		if err := s.store.Update(ctx, func(tx Tx) error { return tx.DeleteSession(id) }); err != nil {
			return Session{}, User{}, err
		}
		return Session{}, User{}, errNoSession
	}
	if now.Sub(sess.SeenAt) >= touchEvery {
		sess.SeenAt = now
		err := s.store.Update(ctx, func(tx Tx) error { return tx.TouchSession(id, now) })
		if ErrorCode(err) == ENOTFOUND {
			return Session{}, User{}, errNoSession // ended meanwhile
		} else if err != nil {
			return Session{}, User{}, err
		}
	}
	return sess, u, nil
}

// EndSession ends the session of a token (signing out); an unknown token
// is no error.
func (s *Service) EndSession(ctx context.Context, token string) error {
	return s.store.Update(ctx, func(tx Tx) error { return tx.DeleteSession(sessionID(token)) })
}

// EndUserSessions ends every session of a user, as after a password
// change.
func (s *Service) EndUserSessions(ctx context.Context, userID int64) error {
	return s.store.Update(ctx, func(tx Tx) error { return tx.DeleteUserSessions(userID) })
}

// PruneSessions removes the sessions past their limits and returns how
// many.
func (s *Service) PruneSessions(ctx context.Context, lim SessionLimits) (int, error) {
	now := s.now()
	var n int
	err := s.store.Update(ctx, func(tx Tx) error {
		var err error
		n, err = tx.DeleteStaleSessions(now.Add(-lim.Max), now.Add(-lim.Idle))
		return err
	})
	return n, err
}
