package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/phonediversions/phonediversions/probe"
)

// The demo starts on a throw-away folder with the manual's groups, prints
// users whose passwords sign in, a REST URL that lists the groups and a
// probe command whose call hears the announcement; the folder is gone
// after it stops, and the data folder the settings name is not touched.
func TestDemo(t *testing.T) {
	real := t.TempDir()
	env := map[string]string{"PHONEDIVERSIONS_DATA_DIR": real, "PHONEDIVERSIONS_HTTP_ADDR": "127.0.0.1:0"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, w := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- runDemo(ctx, nil, func(k string) string { return env[k] }, w, io.Discard)
		w.Close()
	}()
	var screen strings.Builder
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		screen.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "The Reports tab") {
			break
		}
	}
	go io.Copy(io.Discard, out)
	text := screen.String()
	dir := regexp.MustCompile(`data in (\S+), removed`).FindStringSubmatch(text)
	web := regexp.MustCompile(`Open (http://\S+)/ and sign in`).FindStringSubmatch(text)
	target := regexp.MustCompile(`phonediversions probe (sip:\S+) --diverted-from (\d+)`).FindStringSubmatch(text)
	if dir == nil || web == nil || target == nil {
		t.Fatalf("the first screen lacks the folder, the URL or the probe command:\n%s", text)
	}
	if !strings.HasPrefix(dir[1], os.TempDir()) {
		t.Errorf("demo data in %s, not a temporary folder", dir[1])
	}
	// Every user printed signs in with the password printed.
	users := regexp.MustCompile(`(?m)^  (admin|reception|techlead|callhandler|billing|hr|script)\s+(\S+)\s`).FindAllStringSubmatch(text, -1)
	if len(users) != 7 {
		t.Fatalf("%d users printed, want one per privilege and the owners (7):\n%s", len(users), text)
	}
	for _, u := range users {
		if code := signIn(t, web[1], u[1], u[2]); code != http.StatusSeeOther {
			t.Errorf("signing in as %s with the printed password: %d", u[1], code)
		}
	}
	resp, err := http.Get(web[1] + "/Rest/listGroups")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, g := range []string{"Front desk", "1st level tech support", "2nd level tech support", "After-hour support", "Billing &amp; Accounts", "Human Resources"} {
		if !strings.Contains(string(body), "<GroupName>"+g+"</GroupName>") {
			t.Errorf("group %q missing from listGroups", g)
		}
	}
	res, err := probe.Run(ctx, probe.Config{Target: target[1], DivertedFrom: target[2], LocalIP: netip.MustParseAddr("127.0.0.1"), Duration: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Path != probe.AnnouncementThenHangUp {
		t.Errorf("the demo's probe call: %s", res.Text())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir[1]); !os.IsNotExist(err) {
		t.Errorf("the demo's folder is still there: %v", err)
	}
	if entries, _ := os.ReadDir(real); len(entries) != 0 {
		t.Errorf("the demo wrote to the configured data folder: %v", entries)
	}
}
