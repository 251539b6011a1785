package sip

import (
	"bufio"
	"context"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phonediversions/phonediversions/audio"
	"github.com/phonediversions/phonediversions/routing"
)

// tortureMessages returns the RFC 4475 messages (kept in testdata/torture,
// as the SIP stack's module ships them) by name.
func tortureMessages(t *testing.T) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "torture", "*", "*.dat"))
	if err != nil || len(files) < 50 {
		t.Fatalf("torture messages missing: %d files, %v", len(files), err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(filepath.Dir(f))+"/"+filepath.Base(f)] = b
	}
	return out
}

var topVia = regexp.MustCompile(`(?mi)^(Via|v)[ \t]*:[ \t]*SIP[ \t]*/[ \t]*[0-9]+\.[0-9]+[ \t]*/[ \t]*[A-Za-z]+[ \t]+[^;\r\n]+`)

// aimAt points the first Via of a request at addr, so that the answer
// (sent where the Via says) reaches the test; the rest of the message, and
// what each torture case is about, is unchanged.
func aimAt(msg []byte, transport, addr string) []byte {
	done := false
	return topVia.ReplaceAllFunc(msg, func(m []byte) []byte {
		if done {
			return m
		}
		done = true
		return []byte("Via: SIP/2.0/" + transport + " " + addr)
	})
}

// statusCodes returns the status codes of the SIP responses in buf.
func statusCode(line string) int {
	f := strings.Fields(line)
	if len(f) < 2 || !strings.HasPrefix(f[0], "SIP/") {
		return 0
	}
	code, _ := strconv.Atoi(f[1])
	return code
}

// exchangeUDP sends msg and returns the status codes of the answers that
// came within wait.
func exchangeUDP(t *testing.T, port int, msg []byte, wait time.Duration) []int {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Error(err)
		return nil
	}
	defer c.Close()
	msg = aimAt(msg, "UDP", c.LocalAddr().String())
	if _, err := c.WriteToUDP(msg, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}); err != nil {
		t.Error(err)
		return nil
	}
	var codes []int
	buf := make([]byte, 65536)
	deadline := time.Now().Add(wait)
	for {
		c.SetReadDeadline(deadline)
		n, err := c.Read(buf)
		if err != nil {
			return codes
		}
		line, _, _ := strings.Cut(string(buf[:n]), "\r\n")
		codes = append(codes, statusCode(line))
	}
}

// exchangeTCP sends msg on a new connection and returns the status codes
// of the answers read within wait.
func exchangeTCP(t *testing.T, port int, msg []byte, wait time.Duration) []int {
	t.Helper()
	c, err := net.Dial("tcp", hostPort(port))
	if err != nil {
		t.Error(err)
		return nil
	}
	defer c.Close()
	msg = aimAt(msg, "TCP", c.LocalAddr().String())
	if _, err := c.Write(msg); err != nil {
		return nil
	}
	var codes []int
	r := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(wait))
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return codes
		}
		if code := statusCode(line); code != 0 {
			codes = append(codes, code)
		}
	}
}

func final(codes []int) int {
	for _, c := range codes {
		if c >= 200 {
			return c
		}
	}
	return 0
}

// acceptable are the messages RFC 4475 files as invalid but lets an
// element accept.
var acceptable = map[string]bool{
	// 3.3.8: "could reject the request with a 400 Response ... or it could
	// fall back to the RFC 2543-style transaction identifier".
	"invalid/badbranch.dat": true,
}

// tooLongForUDP are requests whose answer exceeds what RFC 3261 18.1.1
// lets a UDP message carry: it must go over TCP to the Via's address, which
// in the torture message is nobody's.
var tooLongForUDP = map[string]bool{"valid/longreq.dat": true}

// TestTortureMessages sends every RFC 4475 message over UDP and over TCP.
// The product must not crash or leak goroutines; every request it can
// answer (one whose Via, From, To, Call-ID and CSeq are readable) gets a
// final answer, a 4xx for the invalid ones; a normal call still completes
// afterwards.
func TestTortureMessages(t *testing.T) {
	f := newFixture(t, nil)
	before := runtime.NumGoroutine()
	var wg sync.WaitGroup
	limit := make(chan struct{}, 16)
	for name, msg := range tortureMessages(t) {
		isRequest := !strings.HasPrefix(string(msg), "SIP/")
		answerable := isRequest && badRequest(msg) != nil && !strings.HasPrefix(string(msg), "ACK ")
		invalid := strings.HasPrefix(name, "invalid/") && !acceptable[name]
		for _, tr := range []string{"udp", "tcp"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				limit <- struct{}{}
				defer func() { <-limit }()
				var codes []int
				if tr == "udp" {
					codes = exchangeUDP(t, f.srv.UDPPort(), msg, 500*time.Millisecond)
				} else {
					codes = exchangeTCP(t, f.srv.TCPPort(), msg, 500*time.Millisecond)
				}
				code := final(codes)
				t.Logf("%-24s %s → %v", name, tr, codes)
				switch {
				case !isRequest && len(codes) > 0:
					t.Errorf("%s over %s: a response was answered with %v", name, tr, codes)
				case answerable && tr == "udp" && code == 0 && !tooLongForUDP[name]:
					t.Errorf("%s over UDP: no final answer (got %v)", name, codes)
				case invalid && code != 0 && code < 400:
					t.Errorf("%s over %s: an invalid request was accepted with %d", name, tr, code)
				case code >= 500 && code != 503 && code != 505:
					t.Errorf("%s over %s: server error %d", name, tr, code)
				}
			}()
		}
	}
	wg.Wait()
	// Calls the torture INVITEs may have started end (they send no ACK:
	// the transaction layer gives up on them).
	eventually(t, 60*time.Second, "torture calls ended", func() bool { return f.srv.ActiveCalls() == 0 })

	caller := newPhone(t, "0791234567", audio.PCMU, 0x11)
	off := false
	f.settings(routing.SettingsUpdate{ConnectToCalled: &off})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dlg, err := caller.invite(ctx, f.srv.UDPPort(), "5000", caller.sdp(), diversion("1001"))
	if err != nil {
		t.Fatal(err)
	}
	m := answered(t, dlg, nil)
	caller.talk(ctx, m.Addr)
	caller.waitBye(10 * time.Second)
	cancel()
	eventually(t, 60*time.Second, "goroutines back to where they were", func() bool {
		return runtime.NumGoroutine() <= before+10
	})
}
