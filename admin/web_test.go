package admin_test

import (
	"context"
	"encoding/csv"
	"encoding/xml"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/phonediversions/phonediversions/admin"
	"github.com/phonediversions/phonediversions/routing"
	"github.com/phonediversions/phonediversions/routing/sqlite"
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

// TestWebSessionsSurviveRestart: the program stops (its store closed) and
// starts again on the same file; a browser signed in before is still.
func TestWebSessionsSurviveRestart(t *testing.T) {
	f := newFixture(t)
	f.user("boss", "boss-password", routing.AllPrivileges)
	b := f.signIn("boss", "boss-password")
	if r := b.get("/state"); r.status != 200 {
		t.Fatalf("signed in: %d", r.status)
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := f.srv.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	if err := f.db.Close(); err != nil {
		t.Fatal(err)
	}
	db := sqlite.New(f.dbPath)
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	svc := routing.NewService(db, routing.WithClock(f.clock.Now), routing.WithLocation(zurich))
	srv := admin.New(f.cfg, svc, f.prompts, admin.Probes{}, zerolog.Nop())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l, nil)
	t.Cleanup(func() { srv.Shutdown(ctx) })
	req, _ := http.NewRequest("GET", "http://"+l.Addr().String()+"/state", nil)
	for _, c := range b.c.Jar.Cookies(mustURL(f.base)) {
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
}

func TestWebSessionsEnd(t *testing.T) {
	f := newFixture(t)
	f.user("boss", "boss-password", routing.AllPrivileges)
	b := f.signIn("boss", "boss-password")
	if r := b.get("/state"); r.status != 200 {
		t.Fatalf("signed in: %d", r.status)
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

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// probe is the request the test sends on a route of the web page: one
// that is harmless or refused for its own reasons (an empty field, an
// unknown record), and the answer a user allowed to use the route gets.
type probe struct {
	path   string // the pattern's path with its wildcards filled in
	form   url.Values
	status int
}

// TestWebPrivilegesOnEveryRoute asks every route of the route table that
// needs a session as users of each single privilege: a user without the
// route's privilege gets 403 and changes nothing; a user with it gets the
// route's own answer. A route added to the table without a probe here
// fails the test.
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
	probes := map[string]probe{
		"POST /signout":                           {"/signout", nil, 303},
		"GET /password":                           {"/password", nil, 200},
		"POST /password":                          {"/password", url.Values{"current": {"wrong"}, "password": {"new one 1"}, "repeat": {"new one 2"}}, 422},
		"GET /events":                             {"/events?probe=1", nil, 200},
		"GET /state":                              {"/state", nil, 200},
		"POST /state/{id}":                        {"/state/" + id, url.Values{"state": {"maybe"}}, 400},
		"GET /groups":                             {"/groups", nil, 200},
		"GET /groups/new":                         {"/groups/new", nil, 200},
		"POST /groups":                            {"/groups", url.Values{"groupName": {""}}, 422},
		"GET /groups/{id}":                        {"/groups/" + id, nil, 200},
		"POST /groups/{id}":                       {"/groups/" + id, url.Values{"groupName": {""}}, 422},
		"POST /groups/{id}/delete":                {"/groups/9999/delete", nil, 404},
		"POST /groups/{id}/schedule":              {"/groups/" + id + "/schedule", url.Values{"ranges": {"Mon 12:00-12:00"}}, 422},
		"GET /groups/{id}/lines":                  {"/groups/" + id + "/lines", nil, 200},
		"POST /groups/{id}/lines":                 {"/groups/" + id + "/lines", url.Values{"lineNumber": {"x"}}, 422},
		"POST /groups/{id}/lines/{number}":        {"/groups/" + id + "/lines/2001", url.Values{"description": {string(make([]byte, 300))}}, 422},
		"POST /groups/{id}/lines/{number}/delete": {"/groups/" + id + "/lines/9999/delete", nil, 404},
		"POST /phone-service/renew":               {"/phone-service/renew", nil, 303},
		"GET /holidays":                           {"/holidays", nil, 200},
		"POST /holidays":                          {"/holidays", url.Values{"name": {""}}, 422},
		"POST /holidays/{id}/delete":              {"/holidays/9999/delete", nil, 404},
		"GET /callhandler":                        {"/callhandler", nil, 200},
		"POST /callhandler":                       {"/callhandler", url.Values{"directAccess": {"abc"}}, 422},
		"POST /callhandler/groups/{id}":           {"/callhandler/groups/" + id, url.Values{"announcementId": {"x"}}, 400},
		"POST /announcements":                     {"/announcements", nil, 400},
		"GET /announcements/{id}/audio":           {"/announcements/0/audio", nil, 200},
		"GET /announcements/{id}/waveform":        {"/announcements/0/waveform", nil, 200},
		"POST /announcements/{id}/delete":         {"/announcements/999/delete", nil, 404},
		"GET /reports":                            {"/reports", nil, 200},
		"GET /reports/export":                     {"/reports/export", nil, 200},
		"GET /reports/chart":                      {"/reports/chart", nil, 200},
		"GET /users":                              {"/users", nil, 200},
		"GET /users/new":                          {"/users/new", nil, 200},
		"POST /users":                             {"/users", url.Values{"username": {""}}, 422},
		"GET /users/{id}":                         {"/users/1", nil, 200},
		"POST /users/{id}":                        {"/users/1", url.Values{"username": {""}}, 422},
		"POST /users/{id}/password":               {"/users/1/password", url.Values{"password": {"short"}}, 422},
		"POST /users/{id}/delete":                 {"/users/9999/delete", nil, 404},
	}
	routes := admin.SignedInRoutes(f.srv)
	if len(routes) < 30 {
		t.Fatalf("the route table lists %d routes of the web page", len(routes))
	}
	for _, rt := range routes {
		pr, ok := probes[rt.Pattern]
		if !ok {
			t.Errorf("route %s has no probe in this test: add one", rt.Pattern)
			continue
		}
		method, _, _ := strings.Cut(rt.Pattern, " ")
		for _, p := range single {
			allowed := p.Has(rt.Priv)
			t.Run(fmt.Sprintf("%s as %v", rt.Pattern, p), func(t *testing.T) {
				before := f.snapshot()
				b := users[p]
				if rt.Pattern == "POST /signout" {
					name := fmt.Sprintf("user%d", slices.Index(single, p))
					b = f.signIn(name, "password-"+name) // a session of its own to end
				}
				var r response
				switch {
				case method == "GET" && strings.HasPrefix(pr.path, "/events"):
					r = b.getStatusOnly(pr.path)
				case method == "GET":
					r = b.get(pr.path)
				default:
					form := url.Values{}
					for k, v := range pr.form {
						form[k] = v
					}
					r = b.post(pr.path, form)
				}
				switch {
				case allowed && r.status != pr.status:
					t.Errorf("status %d, want %d: %.300s", r.status, pr.status, r.body)
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
