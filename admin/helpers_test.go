package admin_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"

	"github.com/phonediversions/phonediversions/admin"
	"github.com/phonediversions/phonediversions/prompts"
	"github.com/phonediversions/phonediversions/routing"
	"github.com/phonediversions/phonediversions/routing/routingtest"
	"github.com/phonediversions/phonediversions/routing/sqlite"
)

var ctx = context.Background()

// clock is a test clock that moves one second at each reading, so that
// report entries get distinct, repeatable times.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	return &clock{t: time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

// fixture is a real SQLite file, the routing service over it and the HTTP
// module serving on a loopback port.
type fixture struct {
	t  testing.TB
	db *sqlite.DB
	// dbPath is the store's file.
	dbPath string
	svc    *routing.Service
	srv    *admin.Server
	base   string // http://127.0.0.1:port
	clock  *clock
	cfg    admin.Config
	logs   *syncBuffer
	// probes may be set by an edit function before the server starts.
	probes  admin.Probes
	prompts *prompts.Library
	// groupsTab is a browser signed in as an administrator, which reads
	// the phone service URLs off the Groups tab.
	groupsTab *browser
}

// syncBuffer collects the server's log lines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var zurich = mustZone("Europe/Zurich")

func prefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// newFixture starts the HTTP module; edit changes its settings first.
func newFixture(t testing.TB, edit ...func(*fixture)) *fixture {
	t.Helper()
	f := &fixture{t: t, clock: newClock(), logs: &syncBuffer{}}
	f.dbPath = filepath.Join(t.TempDir(), "pd.db")
	f.db = sqlite.New(f.dbPath)
	if err := f.db.Open(); err != nil {
		t.Fatal(err)
	}
	// After the migrations, which record when they ran: a new one would
	// move every time the tests see.
	f.db.Now = f.clock.Now
	t.Cleanup(func() { f.db.Close() })
	f.svc = routing.NewService(f.db, routing.WithClock(f.clock.Now), routing.WithPasswordCost(bcrypt.MinCost), routing.WithLocation(zurich))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.base = "http://" + l.Addr().String()
	public, _ := url.Parse("http://phones.example.net:8080")
	f.cfg = admin.Config{
		PublicURL: public, LocalExempt: true,
		PhoneNetworks:   admin.Networks{prefix("127.0.0.0/8")},
		HealthNetworks:  admin.Everyone,
		MetricsNetworks: admin.Networks{prefix("127.0.0.1/32")},
		Location:        zurich,
	}
	for _, e := range edit {
		e(f) // may replace the service, to run on another store
	}
	if f.prompts == nil {
		if f.prompts, err = prompts.New(f.svc, prompts.DefaultLimits); err != nil {
			t.Fatal(err)
		}
	}
	f.srv = admin.New(f.cfg, f.svc, f.prompts, f.probes, zerolog.New(f.logs).Level(zerolog.DebugLevel))
	done := make(chan error, 1)
	go func() { done <- f.srv.Serve(l, nil) }()
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := f.srv.Shutdown(sctx); err != nil {
			t.Error(err)
		}
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return f
}

// client returns an HTTP client whose connections come from the local
// address from (such as 127.0.0.2).
func client(from string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

var local = client("127.0.0.1")

// response is what a test reads of an answer.
type response struct {
	status int
	header http.Header
	body   string
}

// do sends a request; a non-nil form goes as a form body.
func (f *fixture) do(c *http.Client, method, path string, form url.Values, headers ...string) response {
	f.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, f.base+path, body)
	if err != nil {
		f.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return f.send(c, req, headers...)
}

// send sends a request with the headers (name, value pairs) and reads
// the whole answer.
func (f *fixture) send(c *http.Client, req *http.Request, headers ...string) response {
	f.t.Helper()
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func (f *fixture) get(path string, headers ...string) response {
	f.t.Helper()
	return f.do(local, http.MethodGet, path, nil, headers...)
}

func (f *fixture) post(path string, form url.Values, headers ...string) response {
	f.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	return f.do(local, http.MethodPost, path, form, headers...)
}

var admin0 = routing.Actor{Name: "setup"}

// group creates a group through the service.
func (f *fixture) group(name, dest, desc string) routing.Group {
	f.t.Helper()
	g, err := f.svc.CreateGroup(ctx, admin0, routing.ChannelWeb, routing.Group{Name: name, Destination: dest, Description: desc})
	if err != nil {
		f.t.Fatal(err)
	}
	return g
}

// line adds a line through the service.
func (f *fixture) line(groupID int64, number, desc string) {
	f.t.Helper()
	if _, err := f.svc.AddLine(ctx, admin0, routing.ChannelWeb, groupID, number, desc); err != nil {
		f.t.Fatal(err)
	}
}

// user creates a user with a password through the service.
func (f *fixture) user(username, password string, privs routing.Privileges, lines ...string) routing.User {
	f.t.Helper()
	u, err := f.svc.CreateUser(ctx, admin0, routing.ChannelWeb, routing.NewUser{Username: username,
		DisplayName: strings.ToUpper(username[:1]) + username[1:], Department: "Tests", Privileges: privs,
		Password: password, Lines: lines})
	if err != nil {
		f.t.Fatal(err)
	}
	return u
}

// snapshot is everything a user could see in the store.
func (f *fixture) snapshot() routingtest.Snapshot { return routingtest.Take(f.t, f.svc) }

// lastReport returns the newest report entry.
func (f *fixture) lastReport() routing.ReportEntry {
	f.t.Helper()
	page, err := f.svc.Reports(ctx, routing.ReportFilter{Limit: 1})
	if err != nil {
		f.t.Fatal(err)
	}
	if len(page.Entries) == 0 {
		f.t.Fatal("the report is empty")
	}
	return page.Entries[0]
}
