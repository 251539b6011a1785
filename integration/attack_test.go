package integration

import (
	"context"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/phonediversions/phonediversions/routing"
)

// TestAttacksFromOutside tries the product's doors as an attacker would:
// pages of another origin (a server on 127.0.0.2) loaded in headless
// chromium, which runs on the product's own host, so that its requests
// come from the local host the REST API trusts without a password; and
// the phone URL from another loopback address. Nothing is switched or
// changed but by the phone URL the Groups tab gave out, for its group.
func TestAttacksFromOutside(t *testing.T) {
	p := startProduct(t, twoGroups, "")
	b := newBrowser(t, p)
	product := p.httpBase
	pages := map[string]string{
		// An image on any page a user opens.
		"/img.html": `<img src="` + product + `/phone?groupID=1" onload="document.title='done'" onerror="document.title='done'">`,
		// An auto-submitted form that a server reads as a form.
		"/form.html": `<form method="post" enctype="text/plain" action="` + product + `/Rest/updateGroup?groupId=1&destination=0900123456">` +
			`<input name="groupId" value="1"></form><script>document.forms[0].submit()</script>`,
		"/urlencoded.html": `<form method="post" action="` + product + `/Rest/toggleDiversion"><input name="groupId" value="1"></form>` +
			`<script>document.forms[0].submit()</script>`,
	}
	attacker := serveAttacker(t, pages)
	before := groupsState(t, p)
	for path := range pages {
		t.Run(path, func(t *testing.T) {
			if path == "/img.html" {
				b.run("load "+path, chromedp.Navigate(attacker+path), chromedp.Poll[chromedp.Void](`document.title === 'done'`))
			} else {
				// The form's answer replaces the page: wait for the product's.
				b.run("load "+path, chromedp.Navigate(attacker+path),
					chromedp.Poll[chromedp.Void](`location.href.startsWith(`+fmt.Sprintf("%q", product)+`)`))
			}
			if after := groupsState(t, p); after != before {
				t.Errorf("a page of another origin changed the groups:\n%s\nnow:\n%s", before, after)
			}
		})
	}
	// The phone URL the Groups tab gives out works from another loopback
	// address, for its group only.
	c := signedInClient(t, p.httpBase)
	resp, err := c.Get(p.httpBase + "/groups")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`id="url-1" type="text" readonly value="([^"]+)"`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("no phone URL for group 1 on the Groups tab:\n%s", body)
	}
	phoneURL := strings.Replace(html.UnescapeString(string(m[1])), "#DEVICENAME#", "SEP001122334455", 1)
	phone := boundClient("127.0.0.3")
	if status, text := getText(t, phone, phoneURL); status != 200 || !strings.Contains(text, "now ON") {
		t.Errorf("the Groups tab's phone URL from 127.0.0.3: %d %s", status, text)
	}
	on := groupsState(t, p)
	if !strings.Contains(on, "1 Front Desk ON") {
		t.Errorf("the phone URL did not switch its group: %s", on)
	}
	other := strings.Replace(phoneURL, "groupID=1", "groupID=2", 1)
	if status, text := getText(t, phone, other); status != 403 || !strings.Contains(text, "Groups tab") {
		t.Errorf("the same URL with another group id: %d %s", status, text)
	}
	if after := groupsState(t, p); after != on {
		t.Errorf("the URL with another group id changed the groups:\n%s", after)
	}
}

// twoGroups is defaultSetup's group renamed Front Desk, and a second one.
func twoGroups(ctx context.Context, svc *routing.Service, dataDir string) error {
	if err := defaultSetup(false)(ctx, svc, dataDir); err != nil {
		return err
	}
	name := "Front Desk"
	if _, err := svc.UpdateGroup(ctx, admin, routing.ChannelWeb, 1, routing.GroupUpdate{Name: &name}); err != nil {
		return err
	}
	_, err := svc.CreateGroup(ctx, admin, routing.ChannelWeb, routing.Group{Name: "Back Office", Destination: "5001"})
	return err
}

// serveAttacker serves the pages on 127.0.0.2, another origin than the
// product's, and returns its base URL.
func serveAttacker(t *testing.T, pages map[string]string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page, ok := pages[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><title>cute cats</title>%s", page)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return "http://" + l.Addr().String()
}

// groupsState is each group's id, name, state and destination, read
// through the REST API as a script on the product's host would.
func groupsState(t *testing.T, p *product) string {
	t.Helper()
	_, text := getText(t, http.DefaultClient, p.httpBase+"/Rest/listGroups?format=json")
	var out []string
	for _, m := range regexp.MustCompile(`"GroupID":(\d+),"GroupName":"([^"]*)","Destination":"([^"]*)","State":"(ON|OFF)"`).FindAllStringSubmatch(text, -1) {
		out = append(out, m[1]+" "+m[2]+" "+m[4]+" "+m[3])
	}
	if len(out) != 2 {
		t.Fatalf("listGroups: %s", text)
	}
	return strings.Join(out, "\n")
}

// boundClient is an HTTP client whose connections come from the address.
func boundClient(from string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
}

// getText gets a URL and returns its status and body.
func getText(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	if _, err := url.Parse(u); err != nil {
		t.Fatal(err)
	}
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
