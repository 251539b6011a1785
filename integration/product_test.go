package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/phonediversions/phonediversions/prompts"
	"github.com/phonediversions/phonediversions/routing"
	"github.com/phonediversions/phonediversions/routing/sqlite"
)

// binary is the product built once for the package's tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pd-integration-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "phonediversions")
	if prebuilt := os.Getenv("PD_BINARY"); prebuilt != "" {
		// Another build of the product (an earlier commit, to compare
		// its figures in the same run of the benchmark).
		binary = prebuilt
	} else if out, err := exec.Command("go", "build", "-o", binary, "../cmd/phonediversions").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// RTP ports the product uses in these tests, so captures can filter them.
const rtpMin, rtpMax = 20000, 29998

// product is the running binary.
type product struct {
	t       *testing.T
	cmd     *exec.Cmd
	sipPort int
	// tcpPort and tlsPort are the SIP TCP and TLS ports (0: none).
	tcpPort, tlsPort int
	// httpBase is the URL of the product's HTTP listener.
	httpBase string
	mu       sync.Mutex
	lines    []map[string]any
	plain    []string      // log lines that were not JSON
	logDone  chan struct{} // closed when the log stream ends
}

// setupFunc prepares the store (and the data folder) before the product
// starts.
type setupFunc func(ctx context.Context, svc *routing.Service, dataDir string) error

var admin = routing.Actor{Name: "integration"}

// defaultSetup makes group Sales with lines 1001 and 1002 and the direct
// access number 2001.
func defaultSetup(connect bool) setupFunc {
	return func(ctx context.Context, svc *routing.Service, _ string) error {
		g, err := svc.CreateGroup(ctx, admin, routing.ChannelWeb, routing.Group{Name: "Sales", Destination: "5000"})
		if err != nil {
			return err
		}
		for _, l := range []string{"1001", "1002"} {
			if _, err := svc.AddLine(ctx, admin, routing.ChannelWeb, g.ID, l, ""); err != nil {
				return err
			}
		}
		_, err = svc.UpdateSettings(ctx, admin, routing.ChannelWeb, routing.SettingsUpdate{ConnectToCalled: &connect, DirectAccess: &[]string{"2001"}})
		return err
	}
}

// withAnnouncement is setup followed by adding the WAV file at path as an
// announcement and making it the global one.
func withAnnouncement(setup setupFunc, path string) setupFunc {
	return func(ctx context.Context, svc *routing.Service, dataDir string) error {
		if err := setup(ctx, svc, dataDir); err != nil {
			return err
		}
		lib, err := prompts.New(svc, prompts.DefaultLimits)
		if err != nil {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		id, _, err := lib.Add(ctx, f, func(d time.Duration, stored []byte) (int64, error) {
			a, err := svc.AddAnnouncement(ctx, admin, routing.ChannelWeb, routing.Announcement{Name: filepath.Base(path), Duration: d}, stored)
			return a.ID, err
		})
		if err != nil {
			return err
		}
		_, err = svc.UpdateSettings(ctx, admin, routing.ChannelWeb, routing.SettingsUpdate{AnnouncementID: &id})
		return err
	}
}

func startProduct(t *testing.T, setup setupFunc, nextHop string) *product {
	t.Helper()
	return startProductIn(t, t.TempDir(), setup, nextHop)
}

// startProductIn starts the product on a data folder the caller may have
// filled; extra arguments come after the tests' own.
func startProductIn(t *testing.T, dataDir string, setup setupFunc, nextHop string, extra ...string) *product {
	t.Helper()
	db := sqlite.New(filepath.Join(dataDir, "phonediversions.db"))
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	if err := setup(context.Background(), routing.NewService(db, routing.WithPasswordCost(4)), dataDir); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return launch(t, append(productArgs(dataDir, nextHop), extra...)...)
}

// productArgs are the arguments the tests start the product with: on
// loopback, its ports picked by the system, JSON logs.
func productArgs(dataDir, nextHop string) []string {
	return []string{"--data-dir", dataDir, "--log-format", "json", "--sip-addr", "127.0.0.1",
		"--sip-udp-port", "0", "--sip-tcp-port", "0", "--rtp-addr", "127.0.0.1", "--http-addr", "127.0.0.1:0",
		"--rtp-port-min", fmt.Sprint(rtpMin), "--rtp-port-max", fmt.Sprint(rtpMax),
		"--sip-next-hop", nextHop, "--ring-timeout", "2s", "--drain-timeout", "5s", "--max-calls", "5000"}
}

// launch starts the product with the arguments (a later one overrides an
// earlier one of the same name) and waits until it says it is ready.
func launch(t *testing.T, args ...string) *product {
	t.Helper()
	p := &product{t: t}
	p.cmd = exec.Command(binary, args...)
	p.cmd.Env = append(os.Environ(), "PHONEDIVERSIONS_ADMIN_PASSWORD=integration-secret")
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan int, 1)
	p.logDone = make(chan struct{})
	go func() {
		defer close(p.logDone)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) != nil {
				p.mu.Lock()
				p.plain = append(p.plain, sc.Text())
				p.mu.Unlock()
				continue
			}
			p.mu.Lock()
			p.lines = append(p.lines, m)
			p.mu.Unlock()
			if m["message"] == "ready" {
				p.httpBase = "http://" + fmt.Sprint(m["http"])
				tcp, _ := m["sip_tcp"].(float64)
				tls, _ := m["sip_tls"].(float64)
				p.tcpPort, p.tlsPort = int(tcp), int(tls)
				ready <- int(m["sip_udp"].(float64))
			}
		}
	}()
	select {
	case p.sipPort = <-ready:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		t.Fatal("the product did not start")
	}
	t.Cleanup(p.stop)
	return p
}

// stop ends the product as an operator would and checks it stops cleanly.
func (p *product) stop() {
	if p.cmd.ProcessState != nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() {
		<-p.logDone // read every line before Wait closes the pipe
		done <- p.cmd.Wait()
	}()
	select {
	case err := <-done:
		if err != nil {
			p.t.Errorf("the product exited with %v", err)
		}
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		p.t.Error("the product did not stop")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.plain) > 0 {
		p.t.Errorf("log lines that are not JSON: %q", p.plain)
	}
}

// logLine returns the last log line with the message.
func (p *product) logLine(message string) map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.lines) - 1; i >= 0; i-- {
		if p.lines[i]["message"] == message {
			return p.lines[i]
		}
	}
	return nil
}

// logLines returns every log line the product wrote with the message.
func (p *product) logLines(message string) []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []map[string]any
	for _, m := range p.lines {
		if m["message"] == message {
			out = append(out, m)
		}
	}
	return out
}

// outcomes returns the outcome of every call the product logged as ended.
func (p *product) outcomes() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, m := range p.lines {
		if m["message"] == "call ended" {
			out = append(out, fmt.Sprint(m["outcome"]))
		}
	}
	return out
}

// ended returns, for every call the product logged as ended, the value
// of key inside the dictionary dict of its log line (nil when absent).
func (p *product) ended(dict, key string) []any {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []any
	for _, m := range p.lines {
		if m["message"] == "call ended" {
			d, _ := m[dict].(map[string]any)
			out = append(out, d[key])
		}
	}
	return out
}

// waitOutcomes waits until n calls have ended and returns their outcomes.
func (p *product) waitOutcomes(n int) []string {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for len(p.outcomes()) < n && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	return p.outcomes()
}

// freePort returns a UDP port that was free a moment ago (even, so that
// SIPp's media port and the odd RTCP port above it are both usable).
func freePort(t *testing.T) int {
	t.Helper()
	for {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		port := c.LocalAddr().(*net.UDPAddr).Port
		c.Close()
		if port%2 == 0 && (port < rtpMin || port > rtpMax+1) {
			return port
		}
	}
}

func all(list []string, want string) bool {
	for _, s := range list {
		if s != want {
			return false
		}
	}
	return len(list) > 0
}

func needTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed; .ci/run installs it", name)
		}
		t.Skipf("%s is not installed (Debian package: apt-get install sip-tester tshark)", name)
	}
}

func joinArgs(args []string) string { return strings.Join(args, " ") }
