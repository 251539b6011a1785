package admin

import (
	"context"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/phonediversions/phonediversions/routing"
	"github.com/phonediversions/phonediversions/routing/sqlite"
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
	db := sqlite.New(filepath.Join(t.TempDir(), "pd.db"))
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	lim := newFailureLimiter(3, time.Minute, func() time.Time { return now }, routing.NewService(db))
	l := limiterOf{t, lim}
	a := netip.MustParseAddr("192.0.2.7")
	for range 3 {
		if l.retryAfter(a, "admin") != 0 {
			t.Fatal("refused before three failures")
		}
		l.fail(a, "admin")
	}
	if got := l.retryAfter(a, "admin"); got != time.Minute {
		t.Fatalf("after three failures: wait %v, want 1m", got)
	}
	if got := l.retryAfter(a, "ADMIN"); got != time.Minute {
		t.Errorf("the username in other case: wait %v, want 1m", got)
	}
	// Another username from the address is not refused yet, and its
	// success does not clear admin's count.
	if l.retryAfter(a, "tfarrow") != 0 {
		t.Error("another username is refused after three failures of admin")
	}
	l.succeed(a, "tfarrow")
	if l.retryAfter(a, "admin") == 0 {
		t.Error("a success of another username cleared admin's failures")
	}
	now = now.Add(40 * time.Second)
	if got := l.retryAfter(a, "admin"); got != 20*time.Second {
		t.Fatalf("40 s later: wait %v", got)
	}
	now = now.Add(20 * time.Second)
	if l.retryAfter(a, "admin") != 0 {
		t.Fatal("still refused after the window")
	}
	// The address as a whole: three times the limit over any usernames.
	b := netip.MustParseAddr("192.0.2.8")
	for i := range 9 {
		if l.retryAfter(b, "user"+string(rune('a'+i))) != 0 {
			t.Fatalf("refused after %d failures of different usernames", i)
		}
		l.fail(b, "user"+string(rune('a'+i)))
		l.succeed(b, "someone-else")
	}
	if l.retryAfter(b, "newcomer") == 0 {
		t.Error("nine failures of nine usernames did not close the address")
	}
	// IPv6: each address has its own count; the /64 a larger one.
	v6a := netip.MustParseAddr("2001:db8::1")
	for range 3 {
		l.fail(v6a, "admin")
	}
	if l.retryAfter(netip.MustParseAddr("2001:db8::2"), "admin") != 0 {
		t.Error("another address of the same /64 is limited by one address's failures")
	}
	for i := range 27 {
		l.fail(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(10 + i)}), "u")
	}
	if l.retryAfter(netip.MustParseAddr("2001:db8::ffff"), "x") == 0 {
		t.Error("thirty failures over one /64 did not close it")
	}
	if l.retryAfter(netip.MustParseAddr("2001:db8:0:1::1"), "x") != 0 {
		t.Error("another /64 is limited")
	}
}

// limiterOf runs a failureLimiter's methods, failing the test on an
// error of its store.
type limiterOf struct {
	t *testing.T
	l *failureLimiter
}

func (l limiterOf) retryAfter(a netip.Addr, username string) time.Duration {
	l.t.Helper()
	wait, err := l.l.retryAfter(context.Background(), a, username)
	if err != nil {
		l.t.Fatal(err)
	}
	return wait
}

func (l limiterOf) fail(a netip.Addr, username string) {
	l.t.Helper()
	if err := l.l.fail(context.Background(), a, username); err != nil {
		l.t.Fatal(err)
	}
}

func (l limiterOf) succeed(a netip.Addr, username string) {
	l.t.Helper()
	if err := l.l.succeed(context.Background(), a, username); err != nil {
		l.t.Fatal(err)
	}
}

// TestCSVCellsAreNotComputed: a cell a spreadsheet would compute gets a
// quote before it; plain numbers, with their sign, stay as they are.
func TestCSVCellsAreNotComputed(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"Front Desk", "Front Desk"},
		{"+41 44 555 12 34", "+41 44 555 12 34"},
		{"+41445551234", "+41445551234"},
		{"-3", "-3"},
		{"=1+1", "'=1+1"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"+1*2", "'+1*2"},
		{"-2+3", "'-2+3"},
		{"+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"},
		{"+", "'+"},
		{"- ", "'- "},
		{"\tx", "'\tx"},
		{"\rx", "'\rx"},
		{"*31#", "*31#"},
	} {
		if got := csvCell(c.in); got != c.want {
			t.Errorf("csvCell(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
