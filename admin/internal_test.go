package admin

import (
	"net/netip"
	"testing"
	"time"
)

func TestTokenBucket(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	b := tokenBucket{rate: 4, burst: 8, tokens: 8, last: t0}
	steps := []struct {
		at     time.Duration
		wait   time.Duration
		ok     bool
		reason string
	}{
		{0, 0, true, "burst 1"}, {0, 0, true, "2"}, {0, 0, true, "3"}, {0, 0, true, "4"},
		{0, 0, true, "5"}, {0, 0, true, "6"}, {0, 0, true, "7"}, {0, 0, true, "burst 8"},
		{0, 250 * time.Millisecond, true, "the ninth waits for the next token"},
		{0, 500 * time.Millisecond, true, "the tenth for the one after"},
		{0, 750 * time.Millisecond, true, "and so on"},
		{0, time.Second, true, "up to the longest wait"},
		{0, 0, false, "beyond it, refused"},
		{time.Second, 250 * time.Millisecond, true, "a second later four more tokens came, four were owed"},
		{10 * time.Second, 0, true, "a quiet spell refills the burst"},
	}
	for _, s := range steps {
		wait, ok := b.reserve(t0.Add(s.at), time.Second)
		if wait != s.wait || ok != s.ok {
			t.Fatalf("%s: wait %v ok %v, want %v %v", s.reason, wait, ok, s.wait, s.ok)
		}
	}
}

func TestFailureLimiter(t *testing.T) {
	now := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	l := newFailureLimiter(3, time.Minute, func() time.Time { return now })
	a := netip.MustParseAddr("192.0.2.7")
	v6a, v6b := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::ffff")
	for range 3 {
		if l.retryAfter(a) != 0 {
			t.Fatal("refused before three failures")
		}
		l.fail(a)
	}
	if got := l.retryAfter(a); got != time.Minute {
		t.Fatalf("after three failures: wait %v, want 1m", got)
	}
	now = now.Add(40 * time.Second)
	if got := l.retryAfter(a); got != 20*time.Second {
		t.Fatalf("40 s later: wait %v", got)
	}
	now = now.Add(20 * time.Second)
	if l.retryAfter(a) != 0 {
		t.Fatal("still refused after the window")
	}
	// An IPv6 /64 counts as one client.
	l.fail(v6a)
	l.fail(v6b)
	l.fail(v6a)
	if l.retryAfter(netip.MustParseAddr("2001:db8::1234")) == 0 {
		t.Error("another address of the same /64 is not limited")
	}
	if l.retryAfter(netip.MustParseAddr("2001:db8:0:1::1")) != 0 {
		t.Error("another /64 is limited")
	}
	l.succeed(v6b)
	if l.retryAfter(v6a) != 0 {
		t.Error("a success did not clear the failures")
	}
	// The memory stays bounded under addresses without end.
	for i := range 3 * maxTrackedAddrs {
		l.fail(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
	}
	if n := len(l.byAddr); n > maxTrackedAddrs {
		t.Errorf("%d addresses tracked, at most %d", n, maxTrackedAddrs)
	}
}
