package admin

import (
	"net/netip"
	"sync"
	"time"
)

// failureLimiter counts failed sign-ins by client address and refuses an
// address that failed too often for the rest of its window. IPv6 clients
// are counted by their /64, which one host can fill with addresses.
type failureLimiter struct {
	max    int
	window time.Duration
	now    func() time.Time

	mu     sync.Mutex
	byAddr map[netip.Prefix]*failures
}

type failures struct {
	count int
	start time.Time
}

// maxTrackedAddrs bounds the limiter's memory; beyond it, expired entries
// are dropped, and when too few have expired, others at random.
const maxTrackedAddrs = 10000

func newFailureLimiter(max int, window time.Duration, now func() time.Time) *failureLimiter {
	return &failureLimiter{max: max, window: window, now: now, byAddr: map[netip.Prefix]*failures{}}
}

func limiterKey(a netip.Addr) netip.Prefix {
	if a.Is4() {
		return netip.PrefixFrom(a, 32)
	}
	p, _ := a.Prefix(64)
	return p
}

// retryAfter returns how long the address must wait before it may try
// again; 0 when it may now.
func (l *failureLimiter) retryAfter(a netip.Addr) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.byAddr[limiterKey(a)]
	if !ok || f.count < l.max {
		return 0
	}
	left := f.start.Add(l.window).Sub(l.now())
	if left <= 0 {
		delete(l.byAddr, limiterKey(a))
		return 0
	}
	return left
}

// fail counts a failed sign-in of the address.
func (l *failureLimiter) fail(a netip.Addr) {
	now := l.now()
	key := limiterKey(a)
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.byAddr[key]
	if !ok || now.Sub(f.start) >= l.window {
		if !ok && len(l.byAddr) >= maxTrackedAddrs {
			l.prune(now)
		}
		l.byAddr[key] = &failures{count: 1, start: now}
		return
	}
	f.count++
}

// succeed forgets the address's failures.
func (l *failureLimiter) succeed(a netip.Addr) {
	l.mu.Lock()
	delete(l.byAddr, limiterKey(a))
	l.mu.Unlock()
}

// prune drops the expired windows and, when that frees too little, a
// tenth of the others (map order is random).
func (l *failureLimiter) prune(now time.Time) {
	for k, f := range l.byAddr {
		if now.Sub(f.start) >= l.window {
			delete(l.byAddr, k)
		}
	}
	for k := range l.byAddr {
		if len(l.byAddr) < maxTrackedAddrs*9/10 {
			return
		}
		delete(l.byAddr, k)
	}
}
