package admin_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phonediversions/phonediversions/admin"
	"github.com/phonediversions/phonediversions/routing"
)

// TestRESTRefusesCrossSiteChanges is door 2: a page of another site made a
// browser on the local host (which needs no password) change a group with
// an auto-submitted form. A change request that a browser marks as
// cross-site, or whose body is no form or JSON, changes nothing, whoever
// sends it; scripts, which send neither header, keep working.
func TestRESTRefusesCrossSiteChanges(t *testing.T) {
	f := newFixture(t)
	g := f.group("Front Desk", "1022", "")
	f.user("script", "password-script", routing.PrivREST|routing.PrivGroups|routing.PrivState)
	id := strconv.FormatInt(g.ID, 10)
	change := "/Rest/updateGroup?groupId=" + id + "&destination=0900123456"
	refused := []struct {
		name    string
		from    string
		body    string
		headers []string
		status  int
	}{
		{"text/plain form of another origin", "127.0.0.1", "x=1", []string{"Content-Type", "text/plain", "Origin", "http://evil.example"}, 403},
		{"text/plain form, no Origin", "127.0.0.1", "x=1", []string{"Content-Type", "text/plain"}, 415},
		{"form marked cross-site", "127.0.0.1", "", []string{"Content-Type", "application/x-www-form-urlencoded", "Sec-Fetch-Site", "cross-site"}, 403},
		{"form marked same-site", "127.0.0.1", "", []string{"Content-Type", "application/x-www-form-urlencoded", "Sec-Fetch-Site", "same-site"}, 403},
		{"Origin null (a sandboxed frame)", "127.0.0.1", "", []string{"Content-Type", "application/x-www-form-urlencoded", "Origin", "null"}, 403},
		{"another port of the same host", "127.0.0.1", "", []string{"Content-Type", "application/x-www-form-urlencoded", "Origin", "http://127.0.0.1:1"}, 403},
		{"basic credentials cached by a browser", "127.0.0.2", "", []string{"Content-Type", "application/x-www-form-urlencoded", "Origin", "http://evil.example",
			"Authorization", basic("script", "password-script")}, 403},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			before := f.snapshot()
			r := f.doRaw(client(c.from), "POST", change, c.body, c.headers...)
			if r.status != c.status {
				t.Errorf("status %d, want %d: %s", r.status, c.status, r.body)
			}
			if !strings.Contains(r.body, "<Error>") {
				t.Errorf("no error in the envelope: %s", r.body)
			}
			if after := f.snapshot(); !reflect.DeepEqual(after, before) {
				t.Error("the store changed")
			}
		})
	}
	// Scripts: no Origin, no Sec-Fetch-Site, a form, JSON or no body.
	accepted := []struct {
		name    string
		path    string
		body    string
		headers []string
	}{
		{"curl --data", "/Rest/updateGroup", "groupId=" + id + "&destination=1030", []string{"Content-Type", "application/x-www-form-urlencoded"}},
		{"query string, no body", "/Rest/updateGroup?groupId=" + id + "&destination=1031", "", nil},
		{"JSON", "/Rest/updateGroup", `{"groupId":` + id + `,"destination":"1032"}`, []string{"Content-Type", "application/json"}},
		{"a page of this server", "/Rest/updateGroup", "groupId=" + id + "&destination=1033", []string{"Content-Type", "application/x-www-form-urlencoded", "Origin", f.base, "Sec-Fetch-Site", "same-origin"}},
		{"typed in the address bar", "/Rest/updateGroup?groupId=" + id + "&destination=1034", "", []string{"Sec-Fetch-Site", "none"}},
	}
	for i, c := range accepted {
		t.Run(c.name, func(t *testing.T) {
			r := f.doRaw(local, "POST", c.path, c.body, c.headers...)
			want := "103" + strconv.Itoa(i)
			if r.status != 200 || !strings.Contains(r.body, "<Destination>"+want+"</Destination>") {
				t.Errorf("%d %s", r.status, r.body)
			}
		})
	}
	// A read from another site is answered: the browser keeps the answer
	// from the page (same-origin policy), and nothing changes.
	if r := f.get("/Rest/listGroups", "Sec-Fetch-Site", "cross-site"); r.status != 200 {
		t.Errorf("cross-site read: %d", r.status)
	}
}

// doRaw sends a request with a body as it is.
func (f *fixture) doRaw(c *http.Client, method, path, body string, headers ...string) response {
	f.t.Helper()
	req, err := http.NewRequest(method, f.base+path, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	if body == "" {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	return f.send(c, req, headers...)
}

// b64 is standard base64.
func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// TestSignInLimitNotResetByAnotherUser is door 3: nine wrong admin
// passwords followed by one valid sign-in of a user without the REST
// privilege, three times over, never reached 429. A success clears only
// its own username's count.
func TestSignInLimitNotResetByAnotherUser(t *testing.T) {
	f := newFixture(t)
	f.user("boss", "right-boss-password", routing.PrivAdmin)
	f.user("viewer", "viewer-password", 0)
	attacker := client("127.0.0.2")
	var statuses []int
	for range 3 {
		for range 9 {
			statuses = append(statuses, f.do(attacker, "GET", "/Rest/listGroups", nil, "Authorization", basic("boss", "guess")).status)
		}
		if r := f.do(attacker, "GET", "/Rest/listGroups", nil, "Authorization", basic("viewer", "viewer-password")); r.status != 403 {
			t.Fatalf("the valid sign-in without REST: %d", r.status)
		}
	}
	// The limit is 10 failures of one username from one address.
	for i, st := range statuses {
		want := 401
		if i >= 10 {
			want = 429
		}
		if st != want {
			t.Fatalf("guess %d: %d, want %d (all: %v)", i+1, st, want, statuses)
		}
	}
	if r := f.do(attacker, "GET", "/Rest/listGroups", nil, "Authorization", basic("boss", "right-boss-password")); r.status != 429 {
		t.Errorf("the right password of the guessed user from that address: %d, want 429", r.status)
	}
	if r := f.do(client("127.0.0.3"), "GET", "/Rest/listGroups", nil, "Authorization", basic("boss", "right-boss-password")); r.status != 200 {
		t.Errorf("the guessed user from another address: %d, want 200", r.status)
	}
}

// TestDroppedSignInsCountAndShareFairly is door 4: requests dropped 30 ms
// into their wait used the whole password-check budget, were never
// counted, and valid sign-ins from other addresses got 429. Now a dropped
// wait counts as a failure of its address, and the address waits its
// turn behind its own requests, so others get theirs.
func TestDroppedSignInsCountAndShareFairly(t *testing.T) {
	f := newFixture(t, func(f *fixture) { f.cfg.SignInFailures = 5 }) // 15 per address
	f.user("boss", "right-boss-password", routing.PrivREST)
	for i := range 3 {
		f.user("user"+strconv.Itoa(i), "password-"+strconv.Itoa(i), routing.PrivREST)
	}
	var wg sync.WaitGroup
	dropper := client("127.0.0.2")
	dropper.Timeout = 30 * time.Millisecond
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range 20 {
				req, _ := http.NewRequest("GET", f.base+"/Rest/listGroups", nil)
				// A username each, so that only the address's count stops it.
				req.Header.Set("Authorization", basic(fmt.Sprintf("guess-%d-%d", g, n), "guess"))
				if resp, err := dropper.Do(req); err == nil {
					resp.Body.Close()
				}
			}
		}()
	}
	// Meanwhile valid sign-ins from three other addresses, one after the
	// other, each a first sign-in (a hash to check).
	for i := range 3 {
		r := f.do(client("127.0.0.1"+strconv.Itoa(i+1)), "GET", "/Rest/listGroups", nil, "Authorization", basic("user"+strconv.Itoa(i), "password-"+strconv.Itoa(i)))
		if r.status != 200 {
			t.Errorf("valid sign-in from 127.0.0.1%d during the attack: %d %s", i+1, r.status, r.body)
		}
	}
	wg.Wait()
	// Every dropped wait was counted: the address is closed now, even to
	// a valid password of another user. The server counts a drop when it
	// sees the connection close; wait for that.
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := f.do(client("127.0.0.2"), "GET", "/Rest/listGroups", nil, "Authorization", basic("user0", "password-0"))
		if r.status == 429 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the dropping address is still served: %d\n%s", r.status, f.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(f.logs.String(), "sign-in dropped while it waited") {
		t.Error("no dropped sign-in was logged")
	}
}

// TestSignInRedirectStaysOnThisServer is door 5: /signin?next=/%09/evil.example/
// answered 303 Location: /\t/evil.example/, which a browser follows to
// another host. Only a path of this server is followed after signing in.
func TestSignInRedirectStaysOnThisServer(t *testing.T) {
	f := newFixture(t)
	f.user("lead", "password-lead", routing.PrivState)
	cases := []struct{ next, want string }{
		{"/\t/evil.example/", "/state"},
		{"/\n/evil.example/", "/state"},
		{"/\r\n/evil.example", "/state"},
		{"/\\evil.example/", "/state"},
		{"/x\\..\\\\evil.example", "/state"},
		{"//evil.example/", "/state"},
		{"///evil.example/", "/state"},
		{"https://evil.example/", "/state"},
		{"javascript:alert(1)", "/state"},
		{"evil.example", "/state"},
		{"/\x00/evil.example", "/state"},
		{"/\u0085/evil.example", "/state"},
		{"", "/state"},
		{"/state?x=1#group-2", "/state?x=1#group-2"},
		{"/groups/3/lines", "/groups/3/lines"},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%q", c.next), func(t *testing.T) {
			b := f.browser("127.0.0.1")
			form := b.get("/signin?next=" + url.QueryEscape(c.next))
			if form.status != 200 {
				t.Fatalf("sign-in form: %d", form.status)
			}
			r := b.send("POST", "/signin", url.Values{"username": {"lead"}, "password": {"password-lead"}, "csrf": {b.csrf}, "next": {c.next}})
			if r.status != 303 || r.header.Get("Location") != c.want {
				t.Errorf("next %q: %d Location %q, want %q", c.next, r.status, r.header.Get("Location"), c.want)
			}
			// The form carries next only as a path of this server.
			if strings.Contains(form.body, "evil.example") {
				t.Errorf("the sign-in form carries %q on", c.next)
			}
		})
	}
}

// TestEventsFollowPrivileges is door 6: the change feed carried report
// details to anyone signed in (a user without any privilege saw "newbie:
// password set"). A follower receives an event only when its privileges
// let it read the same thing elsewhere; the username and detail of a
// change other than a switch only with the Reports privilege.
func TestEventsFollowPrivileges(t *testing.T) {
	f := newFixture(t)
	// What each tab may read, written here from the tabs' rules. Calls
	// are not changes: the feed carries none.
	all := []routing.Action{routing.ActionDiversion, routing.ActionGroup, routing.ActionLine, routing.ActionUser, routing.ActionAnnouncement, routing.ActionSettings}
	sees := map[routing.Privileges][]routing.Action{
		0:                       nil,
		routing.PrivState:       {routing.ActionGroup, routing.ActionDiversion, routing.ActionSettings},
		routing.PrivGroups:      {routing.ActionGroup, routing.ActionLine, routing.ActionDiversion, routing.ActionSettings},
		routing.PrivCallHandler: {routing.ActionSettings, routing.ActionAnnouncement},
		routing.PrivReports:     all,
		routing.PrivAdmin:       all,
	}
	streams := map[routing.Privileges]*stream{}
	for p := range sees {
		name := fmt.Sprintf("follower%d", p)
		f.user(name, "password-"+name, routing.PrivREST|p)
		streams[p] = f.follow(client("127.0.0.2"), "Authorization", basic(name, "password-"+name))
	}
	actor := routing.Actor{Name: "boss"}
	g, err := f.svc.CreateGroup(ctx, actor, routing.ChannelWeb, routing.Group{Name: "Front Desk", Destination: "1022"})
	if err != nil {
		t.Fatal(err)
	}
	mustDo(t, func() error {
		_, err := f.svc.AddLine(ctx, actor, routing.ChannelWeb, g.ID, "2001", "left")
		return err
	})
	mustDo(t, func() error { _, err := f.svc.Toggle(ctx, g.ID, actor, routing.ChannelWeb); return err })
	newbie := f.user("newbie", "first-password", 0)
	mustDo(t, func() error { return f.svc.SetPassword(ctx, actor, routing.ChannelWeb, newbie.ID, "second-password") })
	on := true
	mustDo(t, func() error {
		_, err := f.svc.UpdateSettings(ctx, actor, routing.ChannelWeb, routing.SettingsUpdate{ConnectToCalled: &on})
		return err
	})
	mustDo(t, func() error {
		_, err := f.svc.AddAnnouncement(ctx, actor, routing.ChannelWeb, routing.Announcement{Name: "Welcome", FileName: "w.wav", Duration: time.Second}, nil)
		return err
	})
	last := strconv.FormatUint(f.svc.Events().Seq(), 10)
	for p, want := range sees {
		s := streams[p]
		var got []routing.Action
		for {
			ev := s.next(t)
			if ev.event == "change" {
				var d admin.EventData
				if err := json.Unmarshal([]byte(ev.data), &d); err != nil {
					t.Fatal(err)
				}
				if !slices.Contains(got, routing.Action(d.Action)) {
					got = append(got, routing.Action(d.Action))
				}
				if !p.Has(routing.PrivReports) && (strings.Contains(ev.data, "password") || (d.Action != "Diversion" && d.Username != "")) {
					t.Errorf("privileges %v: a report detail in %s", p, ev.data)
				}
			}
			if strings.HasSuffix(ev.id, "-"+last) {
				break
			}
		}
		slices.Sort(got)
		want = slices.Clone(want)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("privileges %v: received %v, want %v", p, got, want)
		}
	}
}

func mustDo(t *testing.T, fn func() error) {
	t.Helper()
	if err := fn(); err != nil {
		t.Fatal(err)
	}
}
