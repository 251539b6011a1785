package admin_test

import (
	"encoding/csv"
	"encoding/xml"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/phonediversions/phonediversions/admin"
	"github.com/phonediversions/phonediversions/routing"
)

func TestWebSecurityHeadersAndNoInlineScript(t *testing.T) {
	f := newFixture(t)
	f.user("boss", "boss-password", routing.AllPrivileges)
	f.group("Front Desk", "1022", "")
	anon := f.browser("127.0.0.1")
	b := f.signIn("boss", "boss-password")
	scripts := regexp.MustCompile(`(?i)<script([^>]*)>([^<]*)</script>`)
	inline := regexp.MustCompile(`(?i)\son[a-z]+\s*=|\sstyle\s*=|javascript:|<style`)
	for _, c := range []struct {
		b    *browser
		path string
	}{{anon, "/signin"}, {b, "/state"}, {b, "/groups"}, {b, "/groups/1/lines"}, {b, "/callhandler"}, {b, "/reports"}, {b, "/users"}, {b, "/password"}} {
		r := c.b.get(c.path)
		h := r.header
		csp := h.Get("Content-Security-Policy")
		if r.status != 200 || csp == "" || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") ||
			!strings.Contains(csp, "default-src 'self'") {
			t.Errorf("%s: %d, CSP %q", c.path, r.status, csp)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") == "" || h.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: headers %v", c.path, h)
		}
		if m := inline.FindString(r.body); m != "" {
			t.Errorf("%s: inline script or style %q", c.path, m)
		}
		if strings.Count(strings.ToLower(r.body), "<script") != len(scripts.FindAllString(r.body, -1)) {
			t.Errorf("%s: a script element that is not an empty one with src", c.path)
		}
		for _, m := range scripts.FindAllStringSubmatch(r.body, -1) {
			if !strings.Contains(m[1], "src=") || strings.TrimSpace(m[2]) != "" {
				t.Errorf("%s: inline script %q", c.path, m[0])
			}
		}
	}
	// The session cookie is HttpOnly and SameSite=Lax.
	anon.get("/signin")
	sign := anon.send("POST", "/signin", url.Values{"username": {"boss"}, "password": {"boss-password"}, "csrf": {anon.csrf}})
	var cookie string
	for _, c := range sign.header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "pd_session=") {
			cookie = c
		}
	}
	if !strings.Contains(cookie, "HttpOnly") || !strings.Contains(cookie, "SameSite=Lax") || strings.Contains(cookie, "Secure") {
		t.Errorf("session cookie over plain HTTP: %q", cookie)
	}
}

func TestWebCSRF(t *testing.T) {
	f := newFixture(t)
	f.user("boss", "boss-password", routing.AllPrivileges)
	g := f.group("Front Desk", "1022", "")
	b := f.signIn("boss", "boss-password")
	path := "/state/" + strconv.FormatInt(g.ID, 10)
	cases := []struct {
		name    string
		form    url.Values
		headers []string
	}{
		{"no token", url.Values{"state": {"ON"}}, nil},
		{"wrong token", url.Values{"state": {"ON"}, "csrf": {"not-the-token"}}, nil},
		{"the token of another session", url.Values{"state": {"ON"}, "csrf": {f.signIn("boss", "boss-password").csrf}}, nil},
		{"another site's page", url.Values{"state": {"ON"}, "csrf": {b.csrf}}, []string{"Origin", "https://evil.example"}},
		{"a cross-site fetch", url.Values{"state": {"ON"}, "csrf": {b.csrf}}, []string{"Sec-Fetch-Site", "cross-site"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := f.snapshot()
			r := b.send("POST", path, c.form, c.headers...)
			if r.status != http.StatusForbidden || !strings.Contains(r.body, "nothing was changed") {
				t.Errorf("status %d: %s", r.status, r.body)
			}
			if after := f.snapshot(); !reflect.DeepEqual(before, after) {
				t.Error("a refused form changed the store")
			}
		})
	}
	if r := b.post(path, url.Values{"state": {"ON"}}); r.status != http.StatusSeeOther {
		t.Fatalf("with the token: %d %s", r.status, r.body)
	}
	if got, _ := f.svc.Group(ctx, g.ID); !got.On {
		t.Error("the switch with the token did not happen")
	}
	if e := f.lastReport(); e.Username != "boss" || e.Channel != routing.ChannelWeb {
		t.Errorf("reported as %+v", e)
	}
	// The page's script sends the token as a header and gets JSON.
	r := b.send("POST", path, url.Values{"state": {"OFF"}}, "X-CSRF-Token", b.csrf, "Accept", "application/json")
	if r.status != 200 || !strings.Contains(r.body, `"state":"OFF"`) {
		t.Errorf("script switch: %d %s", r.status, r.body)
	}
	// The sign-in form has a token of its own.
	anon := f.browser("127.0.0.1")
	if r := anon.send("POST", "/signin", url.Values{"username": {"boss"}, "password": {"boss-password"}}); r.status != http.StatusForbidden {
		t.Errorf("sign-in without its token: %d", r.status)
	}
}

func TestWebSessionsEndAndSurviveRestart(t *testing.T) {
	f := newFixture(t)
	f.user("boss", "boss-password", routing.AllPrivileges)
	b := f.signIn("boss", "boss-password")
	if r := b.get("/state"); r.status != 200 {
		t.Fatalf("signed in: %d", r.status)
	}
	// A restart: another server over the same store knows the session.
	again := newServerOn(t, f)
	cookies := b.c.Jar.Cookies(mustURL(f.base))
	req, _ := http.NewRequest("GET", again+"/state", nil)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	resp, err := client("127.0.0.1").Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("after a restart: %d, want the page", resp.StatusCode)
	}
	// Idle past the limit (12 hours by default): signed out.
	f.clock.advance(13 * time.Hour)
	if r := b.get("/state"); !signedOut(r) {
		t.Errorf("after 13 idle hours: %d, want the sign-in page", r.status)
	}
	// Signing out ends the session on the server: a copy of the cookie
	// taken before no longer works.
	b = f.signIn("boss", "boss-password")
	stolen := f.browser("127.0.0.1")
	stolen.c.Jar.SetCookies(mustURL(f.base), b.c.Jar.Cookies(mustURL(f.base)))
	if r := stolen.get("/state"); r.status != 200 {
		t.Fatalf("the copied cookie before sign-out: %d", r.status)
	}
	if r := b.post("/signout", nil); r.status != http.StatusSeeOther {
		t.Fatalf("sign-out: %d", r.status)
	}
	if r := stolen.get("/state"); !signedOut(r) {
		t.Errorf("the copied cookie after sign-out: %d, still signed in", r.status)
	}
	if r := stolen.post("/state/1", url.Values{"state": {"ON"}}); r.status != http.StatusUnauthorized {
		t.Errorf("a form of the ended session: %d, want 401", r.status)
	}
	// Changing the password ends the other sessions, not this one.
	b = f.signIn("boss", "boss-password")
	other := f.signIn("boss", "boss-password")
	r := b.post("/password", url.Values{"current": {"boss-password"}, "password": {"new-boss-password"}, "repeat": {"new-boss-password"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("password change: %d %s", r.status, r.body)
	}
	if r := b.get("/state"); r.status != 200 {
		t.Errorf("this browser after the change: %d", r.status)
	}
	if r := other.get("/state"); !signedOut(r) {
		t.Error("another session outlived the password change")
	}
}

// signedOut reports whether a page answered with the way to sign in.
func signedOut(r response) bool {
	return r.status == http.StatusSeeOther && strings.HasPrefix(r.header.Get("Location"), "/signin")
}

// newServerOn starts a second HTTP module over the fixture's store, as the
// program after a restart, and returns its URL.
func newServerOn(t *testing.T, f *fixture) string {
	t.Helper()
	srv := admin.New(f.cfg, f.svc, f.prompts, admin.Probes{}, zerolog.Nop())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l, nil)
	t.Cleanup(func() { srv.Shutdown(ctx) })
	return "http://" + l.Addr().String()
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// webRoute is a route of the web page with the privilege it needs and a
// request that is harmless or refused for its own reasons.
type webRoute struct {
	method, path string
	form         url.Values
	priv         routing.Privileges // 0: any signed-in user
}

// TestWebPrivilegesOnEveryRoute asks every route as users of each single
// privilege: a user without the route's privilege gets 403 and changes
// nothing; a user with it is not refused.
func TestWebPrivilegesOnEveryRoute(t *testing.T) {
	f := newFixture(t)
	g := f.group("Front Desk", "1022", "")
	f.line(g.ID, "2001", "left")
	id := strconv.FormatInt(g.ID, 10)
	single := []routing.Privileges{0, routing.PrivState, routing.PrivGroups, routing.PrivCallHandler, routing.PrivReports, routing.PrivREST, routing.PrivAdmin}
	users := map[routing.Privileges]*browser{}
	for i, p := range single {
		name := fmt.Sprintf("user%d", i)
		f.user(name, "password-"+name, p)
		users[p] = f.signIn(name, "password-"+name)
	}
	routes := []webRoute{
		{"GET", "/password", nil, 0},
		{"GET", "/events?probe=1", nil, 0},
		{"GET", "/state", nil, routing.PrivState},
		{"POST", "/state/" + id, url.Values{"state": {"maybe"}}, routing.PrivState},
		{"GET", "/groups", nil, routing.PrivGroups},
		{"GET", "/groups/new", nil, routing.PrivGroups},
		{"POST", "/groups", url.Values{"groupName": {""}}, routing.PrivGroups},
		{"GET", "/groups/" + id, nil, routing.PrivGroups},
		{"POST", "/groups/" + id, url.Values{"groupName": {""}}, routing.PrivGroups},
		{"POST", "/groups/" + id + "/delete", nil, routing.PrivGroups},
		{"GET", "/groups/" + id + "/lines", nil, routing.PrivGroups},
		{"POST", "/groups/" + id + "/schedule", url.Values{"ranges": {"Mon 12:00-12:00"}}, routing.PrivGroups},
		{"GET", "/holidays", nil, routing.PrivGroups},
		{"POST", "/holidays", url.Values{"name": {""}}, routing.PrivGroups},
		{"POST", "/holidays/9999/delete", nil, routing.PrivGroups},
		{"POST", "/groups/" + id + "/lines", url.Values{"lineNumber": {"x"}}, routing.PrivGroups},
		{"POST", "/groups/" + id + "/lines/2001", url.Values{"description": {string(make([]byte, 300))}}, routing.PrivGroups},
		{"POST", "/groups/" + id + "/lines/9999/delete", nil, routing.PrivGroups},
		{"GET", "/callhandler", nil, routing.PrivCallHandler},
		{"POST", "/callhandler", url.Values{"directAccess": {"abc"}}, routing.PrivCallHandler},
		{"POST", "/callhandler/groups/" + id, url.Values{"announcementId": {"x"}}, routing.PrivCallHandler},
		{"POST", "/announcements", nil, routing.PrivCallHandler},
		{"GET", "/announcements/0/audio", nil, routing.PrivCallHandler},
		{"GET", "/announcements/0/waveform", nil, routing.PrivCallHandler},
		{"POST", "/announcements/999/delete", nil, routing.PrivCallHandler},
		{"GET", "/reports", nil, routing.PrivReports},
		{"GET", "/reports/export", nil, routing.PrivReports},
		{"GET", "/reports/chart", nil, routing.PrivReports},
		{"GET", "/users", nil, routing.PrivAdmin},
		{"GET", "/users/new", nil, routing.PrivAdmin},
		{"POST", "/users", url.Values{"username": {""}}, routing.PrivAdmin},
		{"GET", "/users/1", nil, routing.PrivAdmin},
		{"POST", "/users/1", url.Values{"username": {""}}, routing.PrivAdmin},
		{"POST", "/users/1/password", url.Values{"password": {"short"}}, routing.PrivAdmin},
		{"POST", "/users/1/delete", nil, routing.PrivAdmin},
	}
	for _, rt := range routes {
		for _, p := range single {
			allowed := routing.Privileges(p).Has(rt.priv)
			t.Run(fmt.Sprintf("%s %s as %v", rt.method, rt.path, p), func(t *testing.T) {
				before := f.snapshot()
				b := users[p]
				var r response
				if rt.method == "GET" && strings.HasPrefix(rt.path, "/events") {
					r = b.getStatusOnly(rt.path)
				} else if rt.method == "GET" {
					r = b.get(rt.path)
				} else {
					form := url.Values{}
					for k, v := range rt.form {
						form[k] = v
					}
					r = b.post(rt.path, form)
				}
				switch {
				case allowed && (r.status == 403 || r.status == 401):
					t.Errorf("refused with %d: %s", r.status, r.body)
				case !allowed && r.status != 403:
					t.Errorf("status %d, want 403", r.status)
				case !allowed:
					if after := f.snapshot(); !reflect.DeepEqual(before, after) {
						t.Error("a refused request changed the store")
					}
				}
			})
		}
	}
}

// getStatusOnly requests a stream and reads only its status.
func (b *browser) getStatusOnly(path string) response {
	req, _ := http.NewRequest("GET", b.f.base+path, nil)
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	resp.Body.Close()
	return response{status: resp.StatusCode, header: resp.Header}
}

func TestWebEscapesNames(t *testing.T) {
	f := newFixture(t)
	const evil = `<script>alert("x")</script>' onmouseover='alert(1)`
	f.user("boss", "boss-password", routing.AllPrivileges)
	if _, err := f.svc.CreateUser(ctx, admin0, routing.ChannelWeb, routing.NewUser{Username: "mallory",
		DisplayName: `"><img src=x onerror=alert(1)>`, Department: evil, Lines: []string{"1022"}}); err != nil {
		t.Fatal(err)
	}
	g := f.group(evil, "1022", evil)
	f.line(g.ID, "2001", evil)
	b := f.signIn("boss", "boss-password")
	b.post("/state/"+strconv.FormatInt(g.ID, 10), url.Values{"state": {"ON"}})
	for _, path := range []string{"/state", "/groups", "/groups/1", "/groups/1/lines", "/callhandler", "/reports", "/users", "/users/2"} {
		r := b.get(path)
		if r.status != 200 {
			t.Fatalf("%s: %d", path, r.status)
		}
		for _, raw := range []string{`<script>alert`, `<img src=x`, `' onmouseover='`} {
			if strings.Contains(r.body, raw) {
				t.Errorf("%s holds %q unescaped", path, raw)
			}
		}
	}
	if r := b.get("/state"); !strings.Contains(r.body, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") {
		t.Errorf("the name is not shown escaped on the State tab")
	}
}

func TestWebFormsKeepWhatWasTyped(t *testing.T) {
	f := newFixture(t)
	f.user("boss", "boss-password", routing.AllPrivileges)
	front := f.group("Front Desk", "1022", "")
	f.line(front.ID, "2001", "left")
	back := f.group("Back Office", "1033", "")
	b := f.signIn("boss", "boss-password")

	r := b.post("/groups", url.Values{"groupName": {"front desk"}, "destination": {"+41 44 555 00 00"}, "description": {"my typing"}})
	if r.status != http.StatusConflict || !strings.Contains(r.body, `id="groupName-error"`) ||
		!strings.Contains(r.body, `value="&#43;41 44 555 00 00"`) || !strings.Contains(r.body, `value="my typing"`) {
		t.Errorf("a taken name: %d\n%s", r.status, r.body)
	}
	r = b.post("/groups/"+strconv.FormatInt(back.ID, 10)+"/lines", url.Values{"lineNumber": {"2001"}, "description": {"second desk"}})
	if r.status != http.StatusConflict || !strings.Contains(r.body, `already belongs to group &#34;Front Desk&#34;`) ||
		!strings.Contains(r.body, `href="/groups/`+strconv.FormatInt(front.ID, 10)+`/lines"`) || !strings.Contains(r.body, `value="second desk"`) {
		t.Errorf("a line of another group: %d\n%s", r.status, r.body)
	}
	before := f.snapshot()
	r = b.post("/callhandler", url.Values{"directAccess": {"1001\nabc\n+41 44 555 10 01\n12-x"}, "announcementId": {"0"}})
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "Line 2:") || !strings.Contains(r.body, "Line 4:") ||
		strings.Contains(r.body, "Line 1:") || !strings.Contains(r.body, "1001\nabc\n&#43;41 44 555 10 01\n12-x") {
		t.Errorf("wrong direct-access numbers: %d\n%s", r.status, r.body)
	}
	if after := f.snapshot(); !reflect.DeepEqual(before, after) {
		t.Error("refused settings changed the store")
	}
	r = b.post("/callhandler", url.Values{"directAccess": {"1001\n\n+41 44 555 10 01"}, "announcementId": {"0"}, "connect": {"on"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("good settings: %d %s", r.status, r.body)
	}
	if st, _ := f.svc.Settings(ctx); !reflect.DeepEqual(st.DirectAccess, []string{"1001", "+41445551001"}) || !st.ConnectToCalled {
		t.Errorf("settings saved as %+v", st)
	}
	if r := b.get("/callhandler"); !strings.Contains(r.body, "The call handler settings are saved.") {
		t.Error("no message after the redirect")
	}
	// An administrator cannot take away their own Admin privilege.
	me := f.user("second", "second-password", routing.PrivAdmin)
	admin2 := f.signIn("second", "second-password")
	r = admin2.post("/users/"+strconv.FormatInt(me.ID, 10), url.Values{"username": {"second"}, "privileges": {"State"}})
	if r.status != http.StatusConflict || !strings.Contains(r.body, "remove your own Admin privilege") || !strings.Contains(r.body, `value="State" checked`) {
		t.Errorf("removing one's own Admin: %d\n%s", r.status, r.body)
	}
	// The password form never echoes a password.
	r = b.post("/users", url.Values{"username": {"newbie"}, "password": {"short-1"}, "privileges": {"State"}})
	if r.status != http.StatusUnprocessableEntity || strings.Contains(r.body, "short-1") || !strings.Contains(r.body, `id="password-error"`) {
		t.Errorf("a short password: %d\n%s", r.status, r.body)
	}
}

func TestWebReportsExportAndChart(t *testing.T) {
	f := newFixture(t)
	f.user("boss", "boss-password", routing.AllPrivileges)
	g := f.group("=HYPERLINK(\"http://evil\")", "+41 44 555 10 22", "")
	b := f.signIn("boss", "boss-password")
	b.post("/state/"+strconv.FormatInt(g.ID, 10), url.Values{"state": {"ON"}})
	r := b.get("/reports/export?action=Diversion")
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") ||
		!strings.Contains(r.header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("export: %d %v", r.status, r.header)
	}
	rows, err := csv.NewReader(strings.NewReader(r.body)).ReadAll()
	if err != nil || len(rows) != 2 {
		t.Fatalf("CSV: %v %q", err, r.body)
	}
	want := []string{"Diversion", "Activated", "boss", "", "+41445551022", `'=HYPERLINK("http://evil")`, "web"}
	if got := rows[1][1:8]; !reflect.DeepEqual(got, want) {
		t.Errorf("CSV row %q, want %q", got, want)
	}
	r = b.get("/reports/chart?from=2026-11-28T00:00&to=2026-11-28T23:59")
	if r.status != 200 || r.header.Get("Content-Type") != "image/svg+xml" {
		t.Fatalf("chart: %d", r.status)
	}
	if err := xml.Unmarshal([]byte(r.body), new(struct{})); err != nil {
		t.Errorf("the chart is not well-formed: %v", err)
	}
	if !strings.Contains(r.body, "Entries per hour") || !strings.Contains(r.body, "Activated: 1") {
		t.Errorf("chart: %s", r.body)
	}
	r = b.get("/reports?from=yesterday&status=Exploded")
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, `id="from-error"`) || !strings.Contains(r.body, "Choose a status") ||
		!strings.Contains(r.body, `value="yesterday"`) {
		t.Errorf("bad filter: %d\n%s", r.status, r.body)
	}
}

func TestWebFailedSignInsAreLimited(t *testing.T) {
	f := newFixture(t)
	f.user("boss", "boss-password", routing.AllPrivileges)
	b := f.browser("127.0.0.2")
	var last response
	for i := range 11 {
		b.get("/signin")
		last = b.send("POST", "/signin", url.Values{"username": {"boss"}, "password": {"guess"}, "csrf": {b.csrf}})
		want := http.StatusUnauthorized
		if i == 10 {
			want = http.StatusTooManyRequests
		}
		if last.status != want {
			t.Fatalf("attempt %d: %d, want %d", i+1, last.status, want)
		}
	}
	if !strings.Contains(last.body, "Too many failed sign-ins") || last.header.Get("Retry-After") == "" || strings.Contains(last.body, "guess") {
		t.Errorf("the refusal: %v\n%s", last.header, last.body)
	}
	if !strings.Contains(last.body, `value="boss"`) {
		t.Error("the username typed is not kept")
	}
}

func TestWebStaticFiles(t *testing.T) {
	f := newFixture(t)
	anon := f.browser("127.0.0.1")
	for path, want := range map[string]int{"/static/style.css": 200, "/static/app.js": 200, "/static/": 404, "/static/nothing.js": 404} {
		if r := anon.get(path); r.status != want {
			t.Errorf("%s: %d, want %d", path, r.status, want)
		}
	}
	if r := anon.get("/static/app.js"); !strings.Contains(r.header.Get("Content-Type"), "javascript") {
		t.Errorf("app.js served as %q", r.header.Get("Content-Type"))
	}
}
