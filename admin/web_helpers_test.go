package admin_test

import (
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/phonediversions/phonediversions/routing"
)

// browser is an HTTP client with cookies, as a browser signed in to the
// web page: its forms carry the page's CSRF token and Origin.
type browser struct {
	t    testing.TB
	f    *fixture
	c    *http.Client
	csrf string
}

var csrfAttr = regexp.MustCompile(`data-csrf="([^"]*)"`)

func (f *fixture) browser(from string) *browser {
	jar, _ := cookiejar.New(nil)
	c := client(from)
	c.Jar = jar
	return &browser{t: f.t, f: f, c: c}
}

// signIn signs in through the form and returns the browser.
func (f *fixture) signIn(username, password string) *browser {
	f.t.Helper()
	b := f.browser("127.0.0.1")
	r := b.get("/signin")
	if r.status != 200 {
		f.t.Fatalf("sign-in form: %d", r.status)
	}
	r = b.send("POST", "/signin", url.Values{"username": {username}, "password": {password}, "csrf": {b.csrf}})
	if r.status != http.StatusSeeOther {
		f.t.Fatalf("sign-in of %s: %d %s", username, r.status, r.body)
	}
	b.get(r.header.Get("Location"))
	return b
}

func (b *browser) do(req *http.Request) response {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	if m := csrfAttr.FindSubmatch(body); m != nil && len(m[1]) > 0 {
		b.csrf = string(m[1])
	}
	if m := regexp.MustCompile(`name="csrf" value="([^"]*)"`).FindSubmatch(body); m != nil && b.csrf == "" {
		b.csrf = string(m[1])
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(body)}
}

// get loads a page.
func (b *browser) get(path string) response {
	b.t.Helper()
	req, _ := http.NewRequest("GET", b.f.base+path, nil)
	return b.do(req)
}

// send posts a form as the page would (Origin of the site), as is.
func (b *browser) send(method, path string, form url.Values, headers ...string) response {
	b.t.Helper()
	req, _ := http.NewRequest(method, b.f.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.f.base)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return b.do(req)
}

// post sends a form of the page with the session's CSRF token.
func (b *browser) post(path string, form url.Values) response {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", b.csrf)
	return b.send("POST", path, form)
}

// advance moves the test clock on.
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var phoneURLField = regexp.MustCompile(`id="url-(\d+|menu)" type="text" readonly value="([^"]*)"`)

// phoneURLs reads the phone service URLs off the Groups tab as an
// administrator sees them: by group id, and "menu" for the menu of all
// groups. Each is the request URI to ask the test server with.
func (f *fixture) phoneURLs() map[string]string {
	f.t.Helper()
	if f.groupsTab == nil {
		f.user("urlreader", "password-urlreader", routing.PrivAdmin)
		f.groupsTab = f.signIn("urlreader", "password-urlreader")
	}
	r := f.groupsTab.get("/groups")
	if r.status != 200 {
		f.t.Fatalf("Groups tab: %d", r.status)
	}
	out := map[string]string{}
	for _, m := range phoneURLField.FindAllStringSubmatch(r.body, -1) {
		raw := html.UnescapeString(m[2])
		// CUCM replaces #DEVICENAME# before a phone asks: not a fragment.
		u, err := url.Parse(strings.Replace(raw, "#DEVICENAME#", "DEVICENAME", 1))
		if err != nil || u.Scheme != "http" || u.Host != "phones.example.net:8080" {
			f.t.Fatalf("phone URL %q is not on the public URL: %v", raw, err)
		}
		out[m[1]] = strings.Replace(u.RequestURI(), "DEVICENAME", "#DEVICENAME#", 1)
	}
	return out
}

// phoneURL is the Groups tab's phone service URL of the group (0: the
// menu), with CUCM's #DEVICENAME# replaced by device.
func (f *fixture) phoneURL(groupID int64, device string) string {
	f.t.Helper()
	key := "menu"
	if groupID != 0 {
		key = strconv.FormatInt(groupID, 10)
	}
	u, ok := f.phoneURLs()[key]
	if !ok {
		f.t.Fatalf("the Groups tab shows no phone URL for %s", key)
	}
	return strings.Replace(u, "#DEVICENAME#", url.QueryEscape(device), 1)
}
