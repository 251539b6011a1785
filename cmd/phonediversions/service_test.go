package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/phonediversions/phonediversions/internal/testcert"
)

// buildBinary builds the program for a test that runs it as a process.
func buildBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "phonediversions")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// Started by systemd as a Type=notify service with a watchdog, the
// program says READY=1 once it serves, WATCHDOG=1 at half the interval
// while its SIP listener answers, and STOPPING=1 when told to stop; the
// socket is systemd's protocol as sd_notify(3) has it, a datagram each.
func TestSystemdNotify(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "notify")
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cmd := exec.Command(bin, "--data-dir", filepath.Join(dir, "data"), "--log-format", "json", "--sip-addr", "127.0.0.1",
		"--sip-udp-port", "0", "--sip-tcp-port", "0", "--http-addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock, "WATCHDOG_USEC=400000", "PHONEDIVERSIONS_ADMIN_PASSWORD=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	next := func(what string) string {
		t.Helper()
		l.SetReadDeadline(time.Now().Add(30 * time.Second))
		buf := make([]byte, 512)
		n, err := l.Read(buf)
		if err != nil {
			t.Fatalf("waiting for %s: %v\n%s", what, err, stderr.String())
		}
		return string(buf[:n])
	}
	if got := next("READY=1"); !strings.HasPrefix(got, "READY=1\n") {
		t.Fatalf("first notification %q, want READY=1", got)
	}
	for i := range 2 {
		if got := next("WATCHDOG=1"); got != "WATCHDOG=1" {
			t.Fatalf("notification %d after READY: %q, want WATCHDOG=1", i+1, got)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for {
		got := next("STOPPING=1")
		if strings.HasPrefix(got, "STOPPING=1\n") {
			break
		}
		if got != "WATCHDOG=1" {
			t.Fatalf("notification %q while stopping", got)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v\n%s", err, stderr.String())
	}
}

// The watchdog's check is an OPTIONS round trip to the SIP listener:
// true while it answers, false (within the time given) when nothing
// answers.
func TestWatchdogAsksTheSIPListener(t *testing.T) {
	m := NewMain(testConfig(t, t.TempDir()), io.Discard, io.Discard)
	if err := m.Run(ctx); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	check, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if !m.alive(check) {
		t.Fatal("a running SIP listener was taken for dead")
	}
	silent, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	check, cancel = context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if sipAnswers(check, silent.LocalAddr().(*net.UDPAddr).AddrPort()) {
		t.Fatal("a socket that never answers was taken for alive")
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Fatalf("the check took %v past its 300 ms", waited)
	}
	buf := make([]byte, 2048)
	silent.SetReadDeadline(time.Now().Add(time.Second))
	if n, err := silent.Read(buf); err != nil || !strings.HasPrefix(string(buf[:n]), "OPTIONS sip:127.0.0.1:") {
		t.Fatalf("the check sent %q (%v), want an OPTIONS request", buf[:n], err)
	}
}

// Run as a service, with no terminal to show the generated password
// of the first administrator on, the program also writes it to a file
// of the data folder only its user (and root) may read, and removes the
// file once that administrator signed in; a failed sign-in leaves it.
func TestFirstPasswordKeptUntilSignIn(t *testing.T) {
	dataDir := t.TempDir()
	var out bytes.Buffer // not a terminal
	m := NewMain(testConfig(t, dataDir), &out, io.Discard)
	if err := m.Run(ctx); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	printed := passwordLine.FindStringSubmatch(out.String())
	if printed == nil {
		t.Fatalf("no password printed: %q", out.String())
	}
	file := filepath.Join(dataDir, "first-admin-password")
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("password file mode %v, want 0600", fi.Mode().Perm())
	}
	body, _ := os.ReadFile(file)
	if !strings.Contains(string(body), "username: admin\n") || !strings.Contains(string(body), "password: "+printed[1]+"\n") {
		t.Fatalf("password file holds %q; the printed password is %q", body, printed[1])
	}
	base := "http://" + m.HTTPAddr.String()
	signIn := func(password string) int { return signIn(t, base, "admin", password) }
	if code := signIn("wrong"); code != http.StatusUnauthorized {
		t.Fatalf("a wrong password: %d", code)
	}
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("a failed sign-in removed the password file: %v", err)
	}
	if code := signIn(printed[1]); code != http.StatusSeeOther {
		t.Fatalf("signing in with the printed password: %d", code)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Fatalf("the password file is still there after the first sign-in: %v", err)
	}
}

// The build is named in /metrics, as operators' dashboards show it.
func TestBuildInfoMetric(t *testing.T) {
	m := NewMain(testConfig(t, t.TempDir()), io.Discard, io.Discard)
	if err := m.Run(ctx); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	resp, err := http.Get("http://" + m.HTTPAddr.String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	want := regexp.MustCompile(`^phonediversions_build_info\{goversion="go[0-9.]+",version="` + regexp.QuoteMeta(Version()) + `"\} 1$`)
	for sc.Scan() {
		if want.MatchString(sc.Text()) {
			return
		}
	}
	t.Fatalf("no line matching %v in /metrics", want)
}

// signIn signs in on the web page as a browser would (the form's token,
// its cookie) and returns the answer's status: 303 when signed in.
func signIn(t *testing.T, base, username, password string) int {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(base + "/signin")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	token := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(page)
	if token == nil {
		t.Fatalf("no form token on the sign-in page: %s", page)
	}
	resp, err = c.PostForm(base+"/signin", url.Values{"username": {username}, "password": {password}, "csrf": {string(token[1])}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// `phonediversions health` asks the listener the settings name for
// /healthz: nil from a running program (over HTTPS too), an error when
// nothing answers.
func TestHealthCommand(t *testing.T) {
	dir := t.TempDir()
	cert, key := testcert.Write(t, dir, time.Now().Add(time.Hour))
	for _, tls := range []bool{false, true} {
		cfg := testConfig(t, t.TempDir())
		if tls {
			cfg.HTTPTLSCert, cfg.HTTPTLSKey = cert, key
		}
		m := NewMain(cfg, io.Discard, io.Discard)
		if err := m.Run(ctx); err != nil {
			t.Fatal(err)
		}
		args := []string{"--http-addr", m.HTTPAddr.String()}
		if tls {
			args = append(args, "--http-tls-cert", cert, "--http-tls-key", key)
		}
		var out bytes.Buffer
		if err := runHealth(ctx, args, func(string) string { return "" }, &out); err != nil {
			t.Errorf("health of a running program (TLS %v): %v", tls, err)
		}
		m.Close()
		if err := runHealth(ctx, args, func(string) string { return "" }, &out); err == nil {
			t.Errorf("health of a stopped program (TLS %v) passed", tls)
		}
	}
}
