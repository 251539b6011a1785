package admin

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/phonediversions/phonediversions/routing"
)

// principal is who a request acts for.
type principal struct {
	// name is what the report shows as the username.
	name       string
	userID     int64
	privileges routing.Privileges
}

func (p principal) actor() routing.Actor { return routing.Actor{UserID: p.userID, Name: p.name} }

// basicChallenge is the WWW-Authenticate header of a 401.
const basicChallenge = `Basic realm="PhoneDiversions", charset="UTF-8"`

// denial is an authorization failure: a routing error, and for ETOOMANY
// how long the client must wait.
type denial struct {
	err        *routing.Error
	retryAfter time.Duration
}

func (d *denial) Error() string { return d.err.Error() }
func (d *denial) Unwrap() error { return d.err }

func deny(code, format string, args ...any) *denial {
	return &denial{err: routing.Errorf(code, format, args...)}
}

// storeRetrySeconds is the Retry-After of a request refused because the
// store cannot be reached.
const storeRetrySeconds = 5

// setDenialHeaders adds the challenge to a 401 and Retry-After to a 429
// and to a 503 of a store that cannot be reached.
func setDenialHeaders(w http.ResponseWriter, err error) {
	switch routing.ErrorCode(err) {
	case routing.EUNAVAILABLE:
		w.Header().Set("Retry-After", strconv.Itoa(storeRetrySeconds))
	case routing.EUNAUTHORIZED:
		w.Header().Set("WWW-Authenticate", basicChallenge)
	case ETOOMANY:
		var d *denial
		if errors.As(err, &d) {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(d.retryAfter.Seconds()))))
		}
	}
}

// authorize tells who the request is from, for the REST API and its
// event stream: the local host (unless the exemption is off) and the
// trusted networks without credentials, everyone else by HTTP basic
// authentication of a user with the REST privilege. The address is the
// connection's own. Errors: EUNAUTHORIZED, EFORBIDDEN, ETOOMANY.
func (s *Server) authorize(r *http.Request) (principal, error) {
	addr := clientAddr(r)
	switch {
	case s.cfg.LocalExempt && isLocalHost(addr):
		return principal{name: "localhost", privileges: routing.AllPrivileges}, nil
	case s.cfg.Trusted.Contains(addr):
		return principal{name: addr.String(), privileges: routing.AllPrivileges}, nil
	}
	username, password, ok := r.BasicAuth()
	// Scripts of the original product's era send Latin-1 credentials.
	username, _ = textUTF8OrCP1252(username)
	password, _ = textUTF8OrCP1252(password)
	if !ok {
		if r.Header.Get("Authorization") != "" {
			return principal{}, deny(routing.EUNAUTHORIZED, "the Authorization header is not valid HTTP basic authentication")
		}
		return principal{}, deny(routing.EUNAUTHORIZED, "sign in with HTTP basic authentication")
	}
	wait, err := s.limiter.retryAfter(r.Context(), addr, username)
	if err != nil {
		return principal{}, err
	}
	if wait > 0 {
		return principal{}, &denial{err: routing.Errorf(ETOOMANY, "too many failed sign-ins from this address; try again in %s", wait.Round(time.Second)), retryAfter: wait}
	}
	u, err := s.creds.verify(r.Context(), s.svc, addr, username, password)
	if err := s.countSignIn(r, username, err); err != nil {
		if routing.ErrorCode(err) == routing.EUNAUTHORIZED {
			return principal{}, deny(routing.EUNAUTHORIZED, "wrong username or password")
		}
		return principal{}, err
	}
	p := principal{name: u.Username, userID: u.ID, privileges: u.Privileges}
	if !p.privileges.Has(routing.PrivREST) {
		return p, deny(routing.EFORBIDDEN, "user %q does not have the REST privilege", u.Username)
	}
	return p, nil
}

// countSignIn counts the outcome of a password check for the limiter: a
// wrong password, or a request dropped while it waited for its check,
// counts as a failure of the address and username; a success clears that
// username's count. It returns err.
func (s *Server) countSignIn(r *http.Request, username string, err error) error {
	addr := clientAddr(r)
	// A request dropped while it waited still counts.
	ctx := context.WithoutCancel(r.Context())
	var counted error
	switch {
	case err == nil:
		counted = s.limiter.succeed(ctx, addr, username)
	case routing.ErrorCode(err) == routing.EUNAUTHORIZED:
		counted = s.limiter.fail(ctx, addr, username)
		s.metrics.signInFailures.Inc()
		s.log.Info().Str("client", addr.String()).Msg("failed sign-in")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		counted = s.limiter.fail(ctx, addr, username)
		s.log.Info().Str("client", addr.String()).Msg("sign-in dropped while it waited: counted as failed")
	}
	if counted != nil {
		s.log.Warn().Err(counted).Str("client", addr.String()).Msg("the sign-in could not be counted")
	}
	return err
}

// requirePrivilege returns EFORBIDDEN when p lacks priv.
func requirePrivilege(p principal, priv routing.Privileges) error {
	if p.privileges.Has(priv) {
		return nil
	}
	return deny(routing.EFORBIDDEN, "user %q does not have the %s privilege", p.name, priv)
}

// Authenticator checks a username and password.
type Authenticator interface {
	Authenticate(ctx context.Context, username, password string) (routing.User, error)
	User(ctx context.Context, id int64) (routing.User, error)
}

// credentials verifies passwords. A password hash is slow on purpose
// (about 55 ms of a core at the default cost), so checks are rationed: one
// at a time, and no more than hashRate a second on average — a burst of
// sign-ins from anywhere takes about a ninth of one core, never the calls'
// share; a check that finds no room within hashWait is answered ETOOMANY. A username and password that passed are remembered for a
// while, keyed by their HMAC under a key of this process, so that a script
// sending basic authentication with every request costs one hash, not one
// each. A remembered pair stays good only while the user's password hash
// is the one it was checked against.
type credentials struct {
	key    []byte
	ttl    time.Duration
	now    func() time.Time
	slot   chan struct{}
	budget tokenBucket

	mu      sync.Mutex
	good    map[[sha256.Size]byte]goodCredential
	clients map[netip.Prefix]*clientTurn
}

// clientTurn is one client's turn to have a password checked: a
// semaphore of one, and how many requests hold or wait for it.
type clientTurn struct {
	sem  chan struct{}
	refs int
}

// turnOf waits, within hashWait and ctx, until no other check of the
// client is waiting or running, and returns the function that ends the
// turn. Errors: ETOOMANY, or the context's.
func (c *credentials) turnOf(ctx context.Context, client netip.Prefix) (func(), error) {
	c.mu.Lock()
	t := c.clients[client]
	if t == nil {
		t = &clientTurn{sem: make(chan struct{}, 1)}
		c.clients[client] = t
	}
	t.refs++
	c.mu.Unlock()
	done := func() {
		c.mu.Lock()
		if t.refs--; t.refs == 0 {
			delete(c.clients, client)
		}
		c.mu.Unlock()
	}
	timer := time.NewTimer(hashWait)
	defer timer.Stop()
	select {
	case t.sem <- struct{}{}:
		return func() { <-t.sem; done() }, nil
	case <-timer.C:
		done()
		return nil, &denial{err: routing.Errorf(ETOOMANY, "too many sign-ins from this address at once; try again in a second"), retryAfter: time.Second}
	case <-ctx.Done():
		done()
		return nil, ctx.Err()
	}
}

// remembered returns the user of a pair checked within the last ttl whose
// password has not changed since.
func (c *credentials) remembered(ctx context.Context, auth Authenticator, key [sha256.Size]byte) (routing.User, bool) {
	c.mu.Lock()
	g, ok := c.good[key]
	c.mu.Unlock()
	if !ok || !c.now().Before(g.expires) {
		return routing.User{}, false
	}
	u, err := auth.User(ctx, g.userID)
	return u, err == nil && u.PasswordHash == g.hash
}

type goodCredential struct {
	userID  int64
	hash    string
	expires time.Time
}

// The rationing of password checks.
const (
	hashRate  = 2.0 // checks a second, on average
	hashBurst = 6.0 // checks at once after a quiet spell
	hashWait  = 2 * time.Second
)

// tokenBucket hands out rate tokens a second, holding up to burst.
type tokenBucket struct {
	mu          sync.Mutex
	rate, burst float64
	tokens      float64
	last        time.Time
}

// reserve takes a token and returns how long to wait before using it;
// false (and no token taken) when that would be longer than max.
func (b *tokenBucket) reserve(now time.Time, max time.Duration) (time.Duration, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	wait := time.Duration(0)
	if b.tokens < 1 {
		wait = time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
	}
	if wait > max {
		return 0, false
	}
	b.tokens--
	return wait, true
}

// giveBack returns a reserved token that was not used.
func (b *tokenBucket) giveBack() {
	b.mu.Lock()
	b.tokens = min(b.burst, b.tokens+1)
	b.mu.Unlock()
}

// maxGoodCredentials bounds the remembered pairs.
const maxGoodCredentials = 1000

func newCredentials(ttl time.Duration, now func() time.Time) *credentials {
	key := make([]byte, 32)
	_, _ = rand.Read(key) // never fails (crypto/rand)
	return &credentials{key: key, ttl: ttl, now: now, slot: make(chan struct{}, 1),
		budget: tokenBucket{rate: hashRate, burst: hashBurst, tokens: hashBurst, last: now()},
		good:   map[[sha256.Size]byte]goodCredential{}, clients: map[netip.Prefix]*clientTurn{}}
}

func (c *credentials) mac(username, password string) [sha256.Size]byte {
	m := hmac.New(sha256.New, c.key)
	fmt.Fprintf(m, "%d:%s:%s", len(username), username, password)
	var out [sha256.Size]byte
	copy(out[:], m.Sum(nil))
	return out
}

// verify returns the user whose username and password these are, for a
// request from client. A client (an IPv4 address, an IPv6 /64) has one
// check waiting for the budget at a time: its other requests wait behind
// it, so one address cannot take more than its share of the checks while
// others wait. Errors: EUNAUTHORIZED; ETOOMANY when no turn came within
// hashWait; the context's error when the request was dropped while
// waiting (the caller counts it as a failure of the client).
func (c *credentials) verify(ctx context.Context, auth Authenticator, client netip.Addr, username, password string) (routing.User, error) {
	key := c.mac(username, password)
	if u, ok := c.remembered(ctx, auth, key); ok {
		return u, nil
	}
	release, err := c.turnOf(ctx, clientKey(client))
	if err != nil {
		return routing.User{}, err
	}
	defer release()
	// The request this one waited behind may have proved the same pair.
	if u, ok := c.remembered(ctx, auth, key); ok {
		return u, nil
	}
	if wait, ok := c.budget.reserve(c.now(), hashWait); !ok {
		return routing.User{}, &denial{err: routing.Errorf(ETOOMANY, "too many sign-ins at once; try again in a second"), retryAfter: time.Second}
	} else if wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			c.budget.giveBack()
			return routing.User{}, ctx.Err()
		}
	}
	select {
	case c.slot <- struct{}{}:
	case <-ctx.Done():
		return routing.User{}, ctx.Err()
	}
	u, err := auth.Authenticate(ctx, username, password)
	<-c.slot
	if err != nil {
		return routing.User{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.good) >= maxGoodCredentials {
		for k := range c.good {
			delete(c.good, k)
			if len(c.good) < maxGoodCredentials*9/10 {
				break
			}
		}
	}
	c.good[key] = goodCredential{userID: u.ID, hash: u.PasswordHash, expires: c.now().Add(c.ttl)}
	return u, nil
}
