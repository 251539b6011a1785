package integration

import (
	"bufio"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDemoInTheBrowser starts `phonediversions demo` as a person would,
// signs in on its web page with a user and password it printed, and finds
// the manual's groups on the State tab, Front desk ON (the screenshot in
// the README, with PD_SCREENSHOTS=1); Ctrl-C stops it.
func TestDemoInTheBrowser(t *testing.T) {
	cmd := exec.Command(binary, "demo", "--http-addr", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var screen strings.Builder
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && !strings.Contains(sc.Text(), "The Reports tab") {
		screen.WriteString(sc.Text() + "\n")
	}
	go func() {
		for sc.Scan() {
		}
	}()
	web := regexp.MustCompile(`Open (http://\S+)/ and sign in`).FindStringSubmatch(screen.String())
	user := regexp.MustCompile(`(?m)^  reception\s+(\S+)\s`).FindStringSubmatch(screen.String())
	if web == nil || user == nil {
		t.Fatalf("the demo's first screen:\n%s", screen.String())
	}
	b := newBrowser(t, &product{t: t, httpBase: web[1]})
	b.signIn("reception", user[1], "#state-table")
	table := b.text("#state-table")
	for _, g := range []string{"Front desk", "1st level tech support", "2nd level tech support", "After-hour support", "Billing & Accounts", "Human Resources"} {
		if !strings.Contains(table, g) {
			t.Errorf("%q missing from the State tab:\n%s", g, table)
		}
	}
	if !regexp.MustCompile(`Front desk[^\n]*\n?[^\n]*ON`).MatchString(table) {
		t.Errorf("Front desk is not shown ON:\n%s", table)
	}
	b.screenshot("demo-state")
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the demo did not stop cleanly: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the demo did not stop on Ctrl-C")
	}
}
