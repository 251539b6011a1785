package admin

import (
	"net/netip"
	"strings"
	"sync"
	"time"
)

// failureLimiter counts failed sign-ins and refuses, for the rest of its
// window, a client that failed too often. It counts three things apart:
// failures per address and username (max: a success clears only its own
// username's count), per address whatever the username (3·max), and for
// IPv6 per /64 as well (10·max), which one host can fill with addresses
// while an office shares one.
type failureLimiter struct {
	max    int
	window time.Duration
	now    func() time.Time

	mu     sync.Mutex
	counts map[limitKey]*failures
}

// limitKey is what a count is of: an address (a /32 or /128) or an IPv6
// /64, with a username or without ("": every username).
type limitKey struct {
	prefix netip.Prefix
	user   string
}

type failures struct {
	count int
	start time.Time
}

// Multiples of max for the counts without a username.
const (
	perAddressFactor = 3
	perPrefixFactor  = 10
)

// maxTrackedAddrs bounds the limiter's memory; beyond it, expired entries
// are dropped, and when too few have expired, others at random.
const maxTrackedAddrs = 10000

// maxLimitedUsername bounds the username kept in a key.
const maxLimitedUsername = 64

func newFailureLimiter(max int, window time.Duration, now func() time.Time) *failureLimiter {
	return &failureLimiter{max: max, window: window, now: now, counts: map[limitKey]*failures{}}
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

// keys returns the counts a sign-in of username from a touches, each with
// its limit.
func (l *failureLimiter) keys(a netip.Addr, username string) ([3]limitKey, [3]int, int) {
	a = a.Unmap()
	addr := netip.PrefixFrom(a, a.BitLen())
	user := strings.ToLower(truncateRunes(username, maxLimitedUsername))
	keys := [3]limitKey{{addr, user}, {addr, ""}}
	limits := [3]int{l.max, perAddressFactor * l.max}
	if a.Is4() {
		return keys, limits, 2
	}
	p, _ := a.Prefix(64)
	keys[2], limits[2] = limitKey{p, ""}, perPrefixFactor*l.max
	return keys, limits, 3
}

// retryAfter returns how long a sign-in of username from the address must
// wait before it may try again; 0 when it may now.
func (l *failureLimiter) retryAfter(a netip.Addr, username string) time.Duration {
	keys, limits, n := l.keys(a, username)
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	var wait time.Duration
	for i := range n {
		f, ok := l.counts[keys[i]]
		if !ok {
			continue
		}
		left := f.start.Add(l.window).Sub(now)
		if left <= 0 {
			delete(l.counts, keys[i])
			continue
		}
		if f.count >= limits[i] {
			wait = max(wait, left)
		}
	}
	return wait
}

// fail counts a failed sign-in of username from the address.
func (l *failureLimiter) fail(a netip.Addr, username string) {
	keys, _, n := l.keys(a, username)
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range n {
		f, ok := l.counts[keys[i]]
		if !ok || now.Sub(f.start) >= l.window {
			if !ok && len(l.counts) >= maxTrackedAddrs {
				l.prune(now)
			}
			l.counts[keys[i]] = &failures{count: 1, start: now}
			continue
		}
		f.count++
	}
}

// succeed forgets the failures of this username from this address; those
// of the address as a whole, and of other usernames, stay.
func (l *failureLimiter) succeed(a netip.Addr, username string) {
	keys, _, _ := l.keys(a, username)
	l.mu.Lock()
	delete(l.counts, keys[0])
	l.mu.Unlock()
}

// prune drops the expired windows and, when that frees too little, a
// tenth of the others (map order is random).
func (l *failureLimiter) prune(now time.Time) {
	for k, f := range l.counts {
		if now.Sub(f.start) >= l.window {
			delete(l.counts, k)
		}
	}
	for k := range l.counts {
		if len(l.counts) < maxTrackedAddrs*9/10 {
			return
		}
		delete(l.counts, k)
	}
}
