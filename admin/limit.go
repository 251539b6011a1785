package admin

import (
	"context"
	"net/netip"
	"strings"
	"time"

	"github.com/phonediversions/phonediversions/routing"
)

// failureLimiter counts failed sign-ins and refuses, for the rest of its
// window, a client that failed too often. It counts three things apart:
// failures per address and username (max: a success clears only its own
// username's count), per address whatever the username (3·max), and for
// IPv6 per /64 as well (10·max), which one host can fill with addresses
// while an office shares one. The counts are kept in the store, so that
// every node of a shared store refuses the same client.
type failureLimiter struct {
	max    int
	window time.Duration
	now    func() time.Time
	counts failureCounts
}

// failureCounts keeps the counts of failed sign-ins (routing.Service).
type failureCounts interface {
	SignInFailures(ctx context.Context, keys []string, now time.Time, window time.Duration) (map[string]routing.SignInFailures, error)
	CountSignInFailure(ctx context.Context, keys []string, now time.Time, window time.Duration) error
	ClearSignInFailures(ctx context.Context, key string) error
}

// Multiples of max for the counts without a username.
const (
	perAddressFactor = 3
	perPrefixFactor  = 10
)

// maxLimitedUsername bounds the username kept in a key.
const maxLimitedUsername = 64

func newFailureLimiter(max int, window time.Duration, now func() time.Time, counts failureCounts) *failureLimiter {
	return &failureLimiter{max: max, window: window, now: now, counts: counts}
}

// clientKey is the bucket one client's concurrent work is rationed by:
// its IPv4 address, or its IPv6 /64.
func clientKey(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	if a.Is4() {
		return netip.PrefixFrom(a, 32)
	}
	p, _ := a.Prefix(64)
	return p
}

// keys returns the keys of the counts a sign-in of username from a
// touches, each with its limit: an address (a /32 or /128) or an IPv6
// /64, with the username or without.
func (l *failureLimiter) keys(a netip.Addr, username string) ([]string, []int) {
	a = a.Unmap()
	addr := netip.PrefixFrom(a, a.BitLen()).String()
	user := strings.ToLower(truncateRunes(username, maxLimitedUsername))
	keys := []string{addr + " " + user, addr}
	limits := []int{l.max, perAddressFactor * l.max}
	if a.Is6() {
		p, _ := a.Prefix(64)
		keys, limits = append(keys, p.String()), append(limits, perPrefixFactor*l.max)
	}
	return keys, limits
}

// retryAfter returns how long a sign-in of username from the address must
// wait before it may try again; 0 when it may now.
func (l *failureLimiter) retryAfter(ctx context.Context, a netip.Addr, username string) (time.Duration, error) {
	keys, limits := l.keys(a, username)
	now := l.now()
	counts, err := l.counts.SignInFailures(ctx, keys, now, l.window)
	if err != nil {
		return 0, err
	}
	var wait time.Duration
	for i, k := range keys {
		if f, ok := counts[k]; ok && f.Count >= limits[i] {
			wait = max(wait, f.Started.Add(l.window).Sub(now))
		}
	}
	return wait, nil
}

// fail counts a failed sign-in of username from the address.
func (l *failureLimiter) fail(ctx context.Context, a netip.Addr, username string) error {
	keys, _ := l.keys(a, username)
	return l.counts.CountSignInFailure(ctx, keys, l.now(), l.window)
}

// succeed forgets the failures of this username from this address; those
// of the address as a whole, and of other usernames, stay.
func (l *failureLimiter) succeed(ctx context.Context, a netip.Addr, username string) error {
	keys, _ := l.keys(a, username)
	return l.counts.ClearSignInFailures(ctx, keys[0])
}
