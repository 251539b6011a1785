package admin_test

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/phonediversions/phonediversions/admin"
	"github.com/phonediversions/phonediversions/routing"
)

const challenge = `Basic realm="PhoneDiversions", charset="UTF-8"`

func basic(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// TestAuthorizationOverRealConnections asks from 127.0.0.1, which the
// local exemption covers, and from 127.0.0.2, which it does not.
func TestAuthorizationOverRealConnections(t *testing.T) {
	f := newFixture(t)
	g := f.group("Front Desk", "1022", "")
	f.user("scripter", "script-password", routing.PrivREST|routing.PrivState)
	f.user("viewer", "viewer-password", routing.PrivState|routing.PrivGroups)
	f.user("reader", "reader-password", routing.PrivREST)
	other := client("127.0.0.2")
	toggle := "/Rest/toggleDiversion?groupId=" + strconv.FormatInt(g.ID, 10)

	r := f.do(local, "POST", toggle, url.Values{})
	if r.status != 200 || !strings.Contains(r.body, "<State>ON</State>") {
		t.Fatalf("local host: %d %s", r.status, r.body)
	}
	if e := f.lastReport(); e.Username != "localhost" || e.Channel != routing.ChannelREST || e.Status != routing.StatusActivated {
		t.Errorf("local switch reported as %+v", e)
	}

	cases := []struct {
		name    string
		headers []string
		status  int
		code    string
	}{
		{"no credentials", nil, 401, "UNAUTHORIZED"},
		{"forwarded-for the local host", []string{"X-Forwarded-For", "127.0.0.1", "X-Real-IP", "127.0.0.1", "Forwarded", "for=127.0.0.1"}, 401, "UNAUTHORIZED"},
		{"wrong password", []string{"Authorization", basic("scripter", "wrong-password")}, 401, "UNAUTHORIZED"},
		{"unknown user", []string{"Authorization", basic("nobody", "script-password")}, 401, "UNAUTHORIZED"},
		{"not basic", []string{"Authorization", "Bearer abcdef"}, 401, "UNAUTHORIZED"},
		{"broken base64", []string{"Authorization", "Basic !!!not-base64!!!"}, 401, "UNAUTHORIZED"},
		{"no colon", []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("scripter"))}, 401, "UNAUTHORIZED"},
		{"without the REST privilege", []string{"Authorization", basic("viewer", "viewer-password")}, 403, "FORBIDDEN"},
		{"REST without State", []string{"Authorization", basic("reader", "reader-password")}, 403, "FORBIDDEN"},
		{"REST and State", []string{"Authorization", basic("scripter", "script-password")}, 200, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := f.snapshot()
			r := f.do(other, "POST", toggle, url.Values{}, c.headers...)
			if r.status != c.status {
				t.Fatalf("status %d, want %d: %s", r.status, c.status, r.body)
			}
			if c.status == 401 && r.header.Get("WWW-Authenticate") != challenge {
				t.Errorf("WWW-Authenticate %q, want %q", r.header.Get("WWW-Authenticate"), challenge)
			}
			if c.code != "" {
				if !strings.Contains(r.body, "<Code>"+c.code+"</Code>") {
					t.Errorf("answer lacks code %s: %s", c.code, r.body)
				}
				if after := f.snapshot(); after.Reports != before.Reports || after.Groups[0].On != before.Groups[0].On {
					t.Error("a refused request changed the store")
				}
			}
		})
	}
	if e := f.lastReport(); e.Username != "scripter" || e.Channel != routing.ChannelREST || e.Status != routing.StatusDeactivated {
		t.Errorf("the signed-in switch was reported as %+v", e)
	}
	// Reading needs REST alone.
	if r := f.do(other, "GET", "/Rest/listGroups", nil, "Authorization", basic("reader", "reader-password")); r.status != 200 {
		t.Errorf("listGroups with REST: %d", r.status)
	}
	logs := f.logs.String()
	for _, secret := range []string{"script-password", "wrong-password", "viewer-password", basic("scripter", "script-password")[6:]} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds %q", secret)
		}
	}
	if !strings.Contains(logs, `"user":"scripter"`) || !strings.Contains(logs, `"client":"127.0.0.2"`) {
		t.Errorf("the request lines do not name the user and client: %s", logs)
	}
}

// TestFailedSignInsAreLimited sends 20 wrong passwords in a row: after
// the tenth the address waits (429 with Retry-After), even with the right
// password, while another address is unaffected.
func TestFailedSignInsAreLimited(t *testing.T) {
	f := newFixture(t)
	f.user("scripter", "script-password", routing.PrivREST)
	attacker := client("127.0.0.2")
	var statuses []int
	var last response
	for range 20 {
		last = f.do(attacker, "GET", "/Rest/listGroups", nil, "Authorization", basic("scripter", "guess"))
		statuses = append(statuses, last.status)
	}
	for i, s := range statuses {
		want := 401
		if i >= 10 {
			want = 429
		}
		if s != want {
			t.Fatalf("attempt %d: %d, want %d (all: %v)", i+1, s, want, statuses)
		}
	}
	if ra, err := strconv.Atoi(last.header.Get("Retry-After")); err != nil || ra < 1 || ra > 300 {
		t.Errorf("Retry-After %q", last.header.Get("Retry-After"))
	}
	if !strings.Contains(last.body, "<Code>TOO_MANY_REQUESTS</Code>") {
		t.Errorf("429 body: %s", last.body)
	}
	if r := f.do(attacker, "GET", "/Rest/listGroups", nil, "Authorization", basic("scripter", "script-password")); r.status != 429 {
		t.Errorf("the right password from the waiting address: %d, want 429", r.status)
	}
	if r := f.do(client("127.0.0.3"), "GET", "/Rest/listGroups", nil, "Authorization", basic("scripter", "script-password")); r.status != 200 {
		t.Errorf("another address: %d, want 200", r.status)
	}
}

// TestLocalExemptionOffAndTrustedNetworks turns the local exemption off
// and trusts 127.0.0.3 instead.
func TestLocalExemptionOffAndTrustedNetworks(t *testing.T) {
	f := newFixture(t, func(f *fixture) {
		f.cfg.LocalExempt = false
		f.cfg.Trusted = admin.Networks{prefix("127.0.0.3/32")}
	})
	g := f.group("Front Desk", "1022", "")
	if r := f.get("/Rest/listGroups"); r.status != 401 {
		t.Errorf("local host without exemption: %d, want 401", r.status)
	}
	r := f.do(client("127.0.0.3"), "POST", "/Rest/setDiversion", url.Values{"groupId": {strconv.FormatInt(g.ID, 10)}, "state": {"ON"}})
	if r.status != 200 {
		t.Fatalf("trusted network: %d %s", r.status, r.body)
	}
	if e := f.lastReport(); e.Username != "127.0.0.3" || e.Channel != routing.ChannelREST {
		t.Errorf("trusted switch reported as %+v", e)
	}
	if r := f.do(client("127.0.0.4"), "GET", "/Rest/listGroups", nil); r.status != http.StatusUnauthorized {
		t.Errorf("untrusted address: %d", r.status)
	}
}
