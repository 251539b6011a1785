package routing

import (
	"context"
	"time"
)

// SignInFailures is a count of failed sign-ins in a window that started
// at Started.
type SignInFailures struct {
	Count   int
	Started time.Time
}

// SignInFailures returns the failed sign-ins counted under each key in a
// window, of the length window, that has not ended at now; keys without
// one are left out. The counts are kept in the store: every process of
// a shared store sees the same.
func (s *Service) SignInFailures(ctx context.Context, keys []string, now time.Time, window time.Duration) (map[string]SignInFailures, error) {
	out := make(map[string]SignInFailures, len(keys))
	err := s.view(ctx, func(tx Tx) error {
		for _, k := range keys {
			f, err := tx.SignInFailures(k)
			switch {
			case ErrorCode(err) == ENOTFOUND:
			case err != nil:
				return err
			case f.Started.Add(window).After(now):
				out[k] = f
			}
		}
		return nil
	})
	return out, err
}

// CountSignInFailure counts a failed sign-in at now under every key, in
// windows of the length window, and removes the counts whose window
// ended. It is not a change: nothing is reported.
func (s *Service) CountSignInFailure(ctx context.Context, keys []string, now time.Time, window time.Duration) error {
	return s.store.Update(ctx, func(tx Tx) error {
		for _, k := range keys {
			if err := tx.CountSignInFailure(k, now, now.Add(-window)); err != nil {
				return err
			}
		}
		_, err := tx.DeleteStaleSignInFailures(now.Add(-window))
		return err
	})
}

// ClearSignInFailures forgets the failures counted under key.
func (s *Service) ClearSignInFailures(ctx context.Context, key string) error {
	return s.store.Update(ctx, func(tx Tx) error { return tx.ClearSignInFailures(key) })
}
