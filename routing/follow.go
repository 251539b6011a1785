package routing

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// followBatch is how many changes a catch-up reads at a time.
const followBatch = 500

// followRetry is how long FollowStore waits before it asks a store that
// did not answer again.
const followRetry = time.Second

// FollowStore publishes on this process's feed the changes that other
// processes commit to a shared store (a ChangeFollower), in the order
// they were committed, each once, and wakes the scheduler for them; it
// returns when ctx ends. The changes committed before it started are not
// published. onError hears of a catch-up that failed or a lost way of
// knowing (the store tries again). A store that is not shared has nothing
// to follow: it returns at once.
func (s *Service) FollowStore(ctx context.Context, onError func(error)) {
	f, ok := s.store.(ChangeFollower)
	if !ok {
		return
	}
	// The newest change so far: from here on, every one is published. A
	// store that does not answer yet is asked again.
	for {
		s.changing.Lock()
		err := s.view(ctx, func(tx Tx) error {
			var err error
			s.lastChange, err = tx.LastChange()
			return err
		})
		if err == nil {
			s.following.Store(true)
		}
		s.changing.Unlock()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		onError(err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(followRetry):
		}
	}
	defer s.following.Store(false)
	defer s.hearing.Store(false)
	err := f.FollowChanges(ctx, func() {
		s.changing.Lock()
		defer s.changing.Unlock()
		err := s.catchUp(ctx)
		s.hearing.Store(err == nil)
		if err != nil && ctx.Err() == nil {
			onError(err)
		}
	}, func(err error) {
		s.hearing.Store(false)
		onError(err)
	})
	if err != nil && !errors.Is(err, ctx.Err()) {
		onError(err)
	}
}

// Following reports whether FollowStore follows the store's changes.
func (s *Service) Following() bool { return s.following.Load() }

// catchUp publishes the changes committed since the last one published,
// in id order, which is their commit order. Call it holding s.changing.
func (s *Service) catchUp(ctx context.Context) error {
	for {
		var es []ReportEntry
		err := s.view(ctx, func(tx Tx) error {
			var err error
			es, err = tx.ChangesAfter(s.lastChange, followBatch)
			return err
		})
		if err != nil || len(es) == 0 {
			return err
		}
		s.lastChange = es[len(es)-1].ID
		s.changed(ctx, es)
		s.feed.publish(es)
		s.replan() // a manual switch or a plan changed elsewhere
		if len(es) < followBatch {
			return nil
		}
	}
}

// storeCheckTimeout bounds one check of the store.
const storeCheckTimeout = 2 * time.Second

// WatchStore checks every interval, until ctx ends, that the store
// answers a read within storeCheckTimeout, for StoreHealth.
func (s *Service) WatchStore(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		s.checkStore(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Service) checkStore(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, storeCheckTimeout)
	defer cancel()
	err := s.view(cctx, func(tx Tx) error {
		_, err := tx.Settings()
		return err
	})
	if ctx.Err() != nil {
		return
	}
	st := &storeState{err: err}
	if err != nil {
		st.since = s.now()
		if prev := s.storeErr.Load(); prev != nil && prev.err != nil {
			st.since = prev.since
		}
	}
	s.storeErr.Store(st)
}

// storeState is the outcome of the last check of the store, and since
// when the checks fail.
type storeState struct {
	err   error
	since time.Time
}

// StoreUnreachableFor returns how long the store's checks have failed
// (WatchStore), 0 while it answers.
func (s *Service) StoreUnreachableFor() time.Duration {
	if st := s.storeErr.Load(); st != nil && st.err != nil {
		return max(s.now().Sub(st.since), time.Nanosecond)
	}
	return 0
}

// StoreHealth returns nil while the store answered its last check
// (WatchStore), and why not otherwise; nil before the first check.
func (s *Service) StoreHealth() error {
	if st := s.storeErr.Load(); st != nil && st.err != nil {
		return fmt.Errorf("the store does not answer: %w", st.err)
	}
	return nil
}
