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
		if !strings.Contains(string(b), "\r\n\r\n") {
			// Some of the files lost the empty line that ends the header
			// section (RFC 4475 has it); a stream would wait for it.
			b = append(b, "\r\n"...)
		}
		out[filepath.Base(filepath.Dir(f))+"/"+filepath.Base(f)] = b
	}
	return out
}

// lws is RFC 3261's linear white space: blanks, folded lines included.
const lws = `(?:[ \t]|\r\n[ \t])*`

var topVia = regexp.MustCompile(`(?mi)^(Via|v)` + lws + `:` + lws + `SIP` + lws + `/` + lws + `[0-9]+\.[0-9]+` + lws + `/` + lws + `[A-Za-z]+` + lws + `[^;,\r\n \t]+`)

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

// unaddressable are the requests that cannot be answered at all: a
// response goes where the request's Via says and is matched to it by the
// branch and CSeq (RFC 3261 8.2.6.2, 18.2.2), and these lack them. Every
// other request of the set must get a final answer (RFC 4475 3.1.2.5's,
// without To, From, Call-ID or Max-Forwards, a 400).
var unaddressable = map[string]string{
	// No SIP-Version on the request line, no Via, no CSeq.
	"invalid/test.dat": "no Via or CSeq",
}

// unanswered are requests that get no answer over one transport, by the
// RFCs.
var unanswered = map[string]string{
	// RFC 3261 18.1.1: the answer exceeds what a UDP message may carry and
	// must go over TCP to the Via's address, which is nobody's.
	"valid/longreq.dat udp": "too long for UDP",
	// RFC 4475 3.1.2.7: a Content-Length beyond the body; on a stream the
	// receiver waits for the rest.
	"invalid/clerr.dat tcp": "waits for the body",
}

// dependsOnReads are the stream cases whose answer depends on how the
// octets arrive. RFC 4475 3.1.1.13 is a datagram whose trailing octets
// look like an INVITE; on a stream they are the next message, whose body
// (five octets longer than its Content-Length) leaves junk behind it.
// When the junk comes in the same read as the messages, the stack closes
// the connection as it parses them, before their answers go out; when it
// comes in a read of its own, the REGISTER is answered 405 and the INVITE
// refused first. Either way nothing is accepted.
var dependsOnReads = map[string]bool{"valid/dblreq.dat tcp": true}

// TestTortureMessages sends every RFC 4475 message over UDP and over TCP.
// The product must not crash or leak goroutines; every request but the
// unaddressable one gets a final answer on both transports, unless unanswered says why not: a
// valid one neither 400 nor a server error, an invalid one 4xx or above.
// Responses are not answered. A normal call still completes afterwards.
func TestTortureMessages(t *testing.T) {
	f := newFixture(t, nil)
	before := runtime.NumGoroutine()
	var wg sync.WaitGroup
	limit := make(chan struct{}, 16)
	for name, msg := range tortureMessages(t) {
		isRequest := !strings.HasPrefix(string(msg), "SIP/")
		_, cannot := unaddressable[name]
		answerable := isRequest && !cannot
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
				why, excused := unanswered[name+" "+tr]
				switch {
				case dependsOnReads[name+" "+tr]:
					if code != 0 && (code < 400 || code >= 500) {
						t.Errorf("%s over %s: answered %v, want nothing or a refusal", name, tr, codes)
					}
				case !isRequest && len(codes) > 0:
					t.Errorf("%s over %s: a response was answered with %v", name, tr, codes)
				case cannot && len(codes) > 0:
					t.Errorf("%s over %s: answered %v though it has %s", name, tr, codes, unaddressable[name])
				case excused && len(codes) > 0:
					t.Errorf("%s over %s: answered %v though it should not be (%s)", name, tr, codes, why)
				case answerable && !excused && code == 0:
					t.Errorf("%s over %s: no final answer (got %v)", name, tr, codes)
				case code == 0:
				case invalid && code < 400:
					t.Errorf("%s over %s: an invalid request was accepted with %d", name, tr, code)
				case !invalid && code == 400:
					t.Errorf("%s over %s: a valid request was refused 400", name, tr)
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
