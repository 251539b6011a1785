package admin_test

import (
	"encoding/base64"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"

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
			"Authorization", basicAuth("script", "password-script")}, 403},
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
func (f *fixture) doRaw(c interface {
	Do(*http.Request) (*http.Response, error)
}, method, path, body string, headers ...string) response {
	f.t.Helper()
	req, err := http.NewRequest(method, f.base+path, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	if body == "" {
		req.Body, req.ContentLength = http.NoBody, 0
	}
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

// basicAuth is the Authorization header of HTTP basic authentication.
func basicAuth(username, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(username+":"+password))
}

// b64 is standard base64.
func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
