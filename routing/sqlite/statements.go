package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// maxStatements bounds how many statements a pool keeps prepared. The
// store's queries are fixed texts, but a report filter builds its own
// from the criteria given: the number of texts is bounded, and past this
// many a query simply runs unprepared.
const maxStatements = 256

// statements prepares each query text once per pool and keeps it for the
// life of the store; a transaction uses it through Tx.StmtContext, which
// reuses what its connection has prepared. A text seen for the first time
// runs unprepared and is prepared once its transaction has ended: inside
// it, preparing on the pool would wait for a connection the transaction
// itself may hold (the write pool has one).
type statements struct {
	db     *sql.DB
	mu     sync.Mutex
	byQ    map[string]*sql.Stmt
	wanted map[string]bool // seen, not prepared yet
	// preparing are the wanted texts a goroutine is preparing.
	preparing map[string]bool
	shut      bool
}

func newStatements(db *sql.DB) *statements {
	return &statements{db: db, byQ: map[string]*sql.Stmt{}, wanted: map[string]bool{}, preparing: map[string]bool{}}
}

// get returns the prepared statement of query, or nil (run it
// unprepared) when it is not prepared yet, the pool holds its maximum, or
// the text does not prepare.
func (s *statements) get(query string) *sql.Stmt {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.byQ[query]
	if !ok && !s.shut && len(s.byQ)+len(s.wanted) < maxStatements {
		s.wanted[query] = true
	}
	return st
}

// prepare prepares the texts seen since the last call. Call it with no
// transaction of the pool open in the calling goroutine: preparing may
// wait for a free connection (without holding the lock get takes).
func (s *statements) prepare(ctx context.Context) {
	if s == nil {
		return
	}
	s.mu.Lock()
	var todo []string
	for q := range s.wanted {
		if !s.preparing[q] {
			s.preparing[q] = true
			todo = append(todo, q)
		}
	}
	s.mu.Unlock()
	for _, q := range todo {
		st, err := s.db.PrepareContext(context.WithoutCancel(ctx), q)
		s.mu.Lock()
		delete(s.wanted, q)
		delete(s.preparing, q)
		switch {
		case s.shut:
			if st != nil {
				st.Close()
			}
		case err != nil:
			s.byQ[q] = nil // not preparable: always run as is
		default:
			s.byQ[q] = st
		}
		s.mu.Unlock()
	}
}

// close closes every prepared statement.
func (s *statements) close() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, st := range s.byQ {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	s.byQ, s.shut = nil, true
	return errors.Join(errs...)
}
