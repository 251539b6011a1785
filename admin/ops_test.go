package admin_test

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/phonediversions/phonediversions/admin"
	"github.com/phonediversions/phonediversions/routing"
)

func TestMetrics(t *testing.T) {
	lateness := admin.Histogram{Bucket: 100 * time.Microsecond, Counts: make([]uint64, 1001)}
	lateness.Counts[3] = 90   // 0.3–0.4 ms
	lateness.Counts[70] = 10  // 7.0–7.1 ms
	lateness.Counts[1000] = 1 // beyond 100 ms
	readWait := admin.Histogram{Bucket: 100 * time.Microsecond, Counts: make([]uint64, 1001)}
	readWait.Counts[0] = 50  // under 0.1 ms
	readWait.Counts[150] = 2 // 15.0–15.1 ms
	f := newFixture(t, func(f *fixture) {
		f.probes.Telephony = func() admin.Telephony {
			return admin.Telephony{CallsStarted: 42, CallsRejected: 9, ActiveCalls: 3, Streams: 5,
				CallsShed: 7, CallLimit: 2400, Overloaded: true,
				Outcomes: map[routing.Status]uint64{routing.StatusConnected: 30, routing.StatusCancelled: 9},
				RTPSent:  1000, RTPLate: 11, RTPBatched: 640, Lateness: lateness,
				SIPReadWait: readWait}
		}
	})
	g := f.group("Front Desk", "1022", "")
	f.post("/Rest/toggleDiversion", url.Values{"groupId": {strconv.FormatInt(g.ID, 10)}})
	f.get(f.phoneURL(g.ID, "SEP1"))
	f.user("scripter", "script-password", routing.PrivREST)
	f.do(client("127.0.0.2"), "GET", "/Rest/listGroups", nil, "Authorization", basic("scripter", "wrong-password"))
	r := f.get("/metrics")
	if r.status != 200 {
		t.Fatalf("metrics: %d", r.status)
	}
	for _, want := range []string{
		`phonediversions_switches_total{channel="rest"} 1`,
		`phonediversions_switches_total{channel="phone"} 1`,
		`phonediversions_switches_total{channel="web"} 0`,
		`phonediversions_http_requests_total{code="200",route="/Rest/toggleDiversion"} 1`,
		`phonediversions_http_requests_total{code="200",route="/phone"} 1`,
		`phonediversions_calls_total 42`,
		`phonediversions_calls_rejected_total 9`,
		`phonediversions_calls_shed_total 7`,
		`phonediversions_call_limit_calls 2400`,
		`phonediversions_overloaded 1`,
		`phonediversions_calls_ended_total{outcome="Connected"} 30`,
		`phonediversions_calls_ended_total{outcome="Busy"} 0`, // every outcome from the start
		`phonediversions_sign_in_failures_total 1`,
		`phonediversions_store_unreachable_seconds 0`,
		`phonediversions_active_calls 3`,
		`phonediversions_announcement_streams 5`,
		`phonediversions_report_entries_kept 0`,
		`phonediversions_report_entries_dropped_total 0`,
		`phonediversions_calls_decided_from_cache_total 0`,
		`phonediversions_rtp_packets_total{kind="late"} 11`,
		`phonediversions_rtp_packets_total{kind="batched"} 640`,
		`phonediversions_rtp_lateness_seconds_bucket{le="0.0005"} 90`,
		`phonediversions_rtp_lateness_seconds_bucket{le="0.005"} 90`,
		`phonediversions_rtp_lateness_seconds_bucket{le="0.01"} 100`,
		`phonediversions_rtp_lateness_seconds_bucket{le="0.1"} 100`,
		`phonediversions_rtp_lateness_seconds_bucket{le="+Inf"} 101`,
		`phonediversions_sip_read_wait_seconds_bucket{le="0.0005"} 50`,
		`phonediversions_sip_read_wait_seconds_bucket{le="0.01"} 50`,
		`phonediversions_sip_read_wait_seconds_bucket{le="0.02"} 52`,
		`phonediversions_sip_read_wait_seconds_count 52`,
		`process_resident_memory_bytes`,
		`go_goroutines`,
	} {
		if !strings.Contains(r.body, want+"\n") && !strings.Contains(r.body, want+" ") {
			t.Errorf("metrics lack %q", want)
		}
	}
	if r := f.do(client("127.0.0.2"), "GET", "/metrics", nil); r.status != 403 {
		t.Errorf("metrics from 127.0.0.2: %d, want 403", r.status)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	var sipDown atomic.Bool
	f := newFixture(t, func(f *fixture) {
		f.probes.SIPReady = func() error {
			if sipDown.Load() {
				return errors.New("not listening")
			}
			return nil
		}
	})
	other := client("127.0.0.2")
	if r := f.do(other, "GET", "/healthz", nil); r.status != 200 || r.body != "ok\n" {
		t.Errorf("healthz: %d %q", r.status, r.body)
	}
	if r := f.do(other, "GET", "/readyz", nil); r.status != 200 {
		t.Errorf("readyz: %d %q", r.status, r.body)
	}
	sipDown.Store(true)
	if r := f.get("/readyz"); r.status != 503 || !strings.Contains(r.body, "not listening") {
		t.Errorf("readyz without SIP: %d %q", r.status, r.body)
	}
	sipDown.Store(false)
	f.srv.SetDraining()
	if r := f.get("/readyz"); r.status != 503 || !strings.Contains(r.body, "stopping") {
		t.Errorf("readyz while stopping: %d %q", r.status, r.body)
	}
	if r := f.get("/healthz"); r.status != 200 {
		t.Errorf("healthz while stopping: %d", r.status)
	}
	// The database closed: not ready.
	f2 := newFixture(t)
	f2.db.Close()
	if r := f2.get("/readyz"); r.status != 503 || !strings.Contains(r.body, "database") {
		t.Errorf("readyz without database: %d %q", r.status, r.body)
	}
}

func TestHealthNetworks(t *testing.T) {
	f := newFixture(t, func(f *fixture) { f.cfg.HealthNetworks = admin.Networks{prefix("127.0.0.1/32")} })
	if r := f.do(client("127.0.0.2"), "GET", "/healthz", nil); r.status != 403 {
		t.Errorf("healthz from outside: %d", r.status)
	}
}

// serveTLS starts a second server over the fixture's store on HTTPS, with
// httptest's own certificate (for 127.0.0.1), and returns its base URL and
// a client that trusts it.
func serveTLS(t *testing.T, f *fixture) (string, *http.Client) {
	t.Helper()
	ts := httptest.NewTLSServer(http.NotFoundHandler())
	cert, c := ts.TLS.Certificates[0], ts.Client()
	ts.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := admin.New(f.cfg, f.svc, f.prompts, admin.Probes{}, zerolog.Nop())
	go srv.Serve(l, &tls.Config{Certificates: []tls.Certificate{cert}})
	t.Cleanup(func() { srv.Shutdown(ctx) })
	return "https://" + l.Addr().String(), c
}

// TestServeTLS answers over HTTPS with the certificate given.
func TestServeTLS(t *testing.T) {
	f := newFixture(t)
	base, c := serveTLS(t, f)
	resp, err := c.Get(base + "/Rest/listGroups")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Errorf("over TLS: %d, TLS %v", resp.StatusCode, resp.TLS != nil)
	}
}

// Stopped before it began serving (a program stopped right after its
// start), the server does not serve: Serve returns, the listener is
// closed, and the program's stop does not wait for ever.
func TestShutdownBeforeServe(t *testing.T) {
	f := newFixture(t)
	srv := admin.New(f.cfg, f.svc, f.prompts, f.probes, zerolog.Nop())
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l, nil) }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after Shutdown: %v", err)
		}
	case <-time.After(5 * time.Second):
		l.Close()
		t.Fatal("Serve after Shutdown went on serving")
	}
	if c, err := net.DialTimeout("tcp", l.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Error("the listener still accepts connections")
	}
}

// TestTLSCookiesAndHSTS is door 8's TLS part: over HTTPS every cookie the
// web page sets is Secure, the flash message's too, and answers tell the
// browser to keep to HTTPS.
func TestTLSCookiesAndHSTS(t *testing.T) {
	f := newFixture(t)
	f.user("lead", "password-lead", routing.PrivState)
	base, c := serveTLS(t, f)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	cookies := map[string]*http.Cookie{}
	send := func(method, path string, form url.Values) *http.Response {
		t.Helper()
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, _ := http.NewRequest(method, base+path, body)
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", base)
		}
		for _, ck := range cookies {
			req.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get("Strict-Transport-Security") == "" {
			t.Errorf("%s %s over TLS without Strict-Transport-Security", method, path)
		}
		for _, ck := range resp.Cookies() {
			if !ck.Secure {
				t.Errorf("%s %s: cookie %s is not Secure", method, path, ck.Name)
			}
			cookies[ck.Name] = ck
		}
		return resp
	}
	send("GET", "/signin", nil)
	token := cookies["pd_signin"]
	if token == nil {
		t.Fatal("no sign-in cookie")
	}
	if r := send("POST", "/signin", url.Values{"username": {"lead"}, "password": {"password-lead"}, "csrf": {token.Value}}); r.StatusCode != 303 {
		t.Fatalf("sign-in over TLS: %d", r.StatusCode)
	}
	sess, _, err := f.svc.SessionUser(ctx, cookies["pd_session"].Value, routing.SessionLimits{Idle: time.Hour, Max: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	delete(cookies, "pd_flash")
	if r := send("POST", "/signout", url.Values{"csrf": {sess.CSRF}}); r.StatusCode != 303 {
		t.Fatalf("sign-out over TLS: %d", r.StatusCode)
	}
	if cookies["pd_flash"] == nil {
		t.Error("the sign-out set no flash message")
	}
}
