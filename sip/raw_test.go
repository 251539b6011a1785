package sip

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// rawCaller is a caller on a bare UDP, TCP or TLS connection, writing its
// SIP by hand: for what a SIP stack would not do on purpose (a CANCEL
// after the 200, an ACK never sent) and for checking bytes a stack would
// hide.
type rawCaller struct {
	t         *testing.T
	conn      net.Conn
	transport string
	rd        *bufio.Reader
	callID    string
	fromTag   string
	cseq      int
	rtp       *net.UDPConn
	// number is the caller's number in From.
	number string
}

// dialRaw connects to the product's listener of the transport (udp or
// tcp).
func dialRaw(t *testing.T, f *fixture, transport string) *rawCaller {
	t.Helper()
	return dialRawFrom(t, f, transport, "127.0.0.1")
}

// dialRawFrom connects from a local address of the caller's choosing
// (another loopback address: another host as the product sees it).
func dialRawFrom(t *testing.T, f *fixture, transport, from string) *rawCaller {
	t.Helper()
	port := f.srv.UDPPort()
	if transport == "tcp" {
		port = f.srv.TCPPort()
	}
	d := net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(from)}}
	if transport == "tcp" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	conn, err := d.Dial(transport, hostPort(port))
	if err != nil {
		t.Fatal(err)
	}
	return newRawCaller(t, conn, transport)
}

// newRawCaller is a caller on conn, a connection to the product over
// transport (udp, tcp or tls).
func newRawCaller(t *testing.T, conn net.Conn, transport string) *rawCaller {
	t.Helper()
	rtpConn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(); rtpConn.Close() })
	return &rawCaller{t: t, conn: conn, transport: transport, rd: bufio.NewReader(conn),
		callID: sip.GenerateTagN(12) + "@raw", fromTag: sip.GenerateTagN(8), cseq: 1, rtp: rtpConn, number: "0791234567"}
}

func (r *rawCaller) local() string { return r.conn.LocalAddr().String() }

// sdp is the caller's offer: PCMU to its RTP socket.
func (r *rawCaller) sdp(extra string) string {
	port := r.rtp.LocalAddr().(*net.UDPAddr).Port
	return "v=0\r\no=raw 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio " + strconv.Itoa(port) + " RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n" + extra
}

// request writes a request of the call: method, its own CSeq number, To
// tag (empty before the dialog) and extra headers, with body.
func (r *rawCaller) request(method string, cseq int, toTag, branch string, headers []string, body string) string {
	to := "<sip:5000@127.0.0.1>"
	if toTag != "" {
		to += ";tag=" + toTag
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s sip:5000@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/%s %s;branch=z9hG4bK%s;rport\r\n", method,
		strings.ToUpper(r.transport), r.local(), branch)
	fmt.Fprintf(&b, "From: <sip:%s@127.0.0.1>;tag=%s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %d %s\r\n", r.number, r.fromTag, to, r.callID, cseq, method)
	fmt.Fprintf(&b, "Contact: <sip:%s@%s;transport=%s>\r\nMax-Forwards: 70\r\n", r.number, r.local(), r.transport)
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	if body != "" {
		b.WriteString("Content-Type: application/sdp\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
	return b.String()
}

func (r *rawCaller) send(msg string) {
	r.t.Helper()
	if _, err := io.WriteString(r.conn, msg); err != nil {
		r.t.Fatal(err)
	}
}

// next reads the next message, nil when none comes within timeout.
func (r *rawCaller) next(timeout time.Duration) sip.Message {
	r.t.Helper()
	r.conn.SetReadDeadline(time.Now().Add(timeout))
	var raw []byte
	if r.transport == "udp" {
		buf := make([]byte, 65536)
		n, err := r.conn.Read(buf)
		if err != nil {
			return nil
		}
		raw = buf[:n]
	} else {
		var head strings.Builder
		length := 0
		for {
			line, err := r.rd.ReadString('\n')
			if err != nil {
				return nil
			}
			head.WriteString(line)
			if name, v, ok := strings.Cut(line, ":"); ok && (strings.EqualFold(name, "Content-Length") || name == "l") {
				length, _ = strconv.Atoi(strings.TrimSpace(v))
			}
			if line == "\r\n" && head.Len() > 2 {
				break
			}
		}
		body := make([]byte, length)
		if _, err := io.ReadFull(r.rd, body); err != nil {
			return nil
		}
		raw = append([]byte(head.String()), body...)
	}
	msg, err := sip.ParseMessage(raw)
	if err != nil {
		r.t.Fatalf("unparsable message: %v\n%s", err, raw)
	}
	return msg
}

// response reads responses until one with the CSeq method arrives,
// skipping 100 Trying; it fails when none comes within timeout.
func (r *rawCaller) response(method string, timeout time.Duration) *sip.Response {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		msg := r.next(time.Until(deadline))
		if res, ok := msg.(*sip.Response); ok && res.CSeq().MethodName == sip.RequestMethod(method) && res.StatusCode != 100 {
			return res
		}
	}
	r.t.Fatalf("no response to %s within %v", method, timeout)
	return nil
}

// answerRequest answers a request of the product 200.
func (r *rawCaller) answerRequest(req *sip.Request) {
	r.t.Helper()
	r.send(sip.NewResponseFromRequest(req, 200, "OK", nil).String())
}

// TestResponsesNameTheListenerOfTheCall: our 200 tells the caller where
// its requests in the dialog go (RFC 3261 12.1.1): the listener the
// INVITE came in on, its port and, over TCP, the transport. Responses
// share one Contact value per transport, so a mix-up between them would
// send a UDP caller's ACK and BYE to the TCP listener, or the reverse.
func TestResponsesNameTheListenerOfTheCall(t *testing.T) {
	cert, pool := selfSigned(t)
	f := newFixture(t, func(c *Config) { c.TLS = &tls.Config{Certificates: []tls.Certificate{cert}} })
	announceOnly(f)
	for _, c := range []struct {
		transport     string
		scheme        string
		port          int
		transportParm string // the Contact URI's transport parameter
	}{
		{"udp", "sip", f.srv.UDPPort(), ""},
		{"tcp", "sip", f.srv.TCPPort(), "tcp"},
		{"tls", "sips", f.srv.TLSPort(), ""},
	} {
		t.Run(c.transport, func(t *testing.T) {
			var r *rawCaller
			if c.transport == "tls" {
				conn, err := tls.Dial("tcp", hostPort(f.srv.TLSPort()), &tls.Config{RootCAs: pool})
				if err != nil {
					t.Fatal(err)
				}
				r = newRawCaller(t, conn, "tls")
			} else {
				r = dialRaw(t, f, c.transport)
			}
			r.send(r.request("INVITE", 1, "", "inv-"+c.transport, []string{"Diversion: <sip:1001@127.0.0.1>;reason=unconditional"}, r.sdp("")))
			ok := r.response("INVITE", 5*time.Second)
			if ok.StatusCode != 200 {
				t.Fatalf("INVITE answered %d", ok.StatusCode)
			}
			contact := ok.Contact()
			if contact == nil {
				t.Fatal("200 without Contact")
			}
			tp, _ := contact.Address.UriParams.Get("transport")
			if contact.Address.Scheme != c.scheme || contact.Address.Port != c.port || !strings.EqualFold(tp, c.transportParm) {
				t.Errorf("200 over %s names %s, want %s, port %d, transport %q", c.transport, contact.Address.String(), c.scheme, c.port, c.transportParm)
			}
			toTag, _ := ok.To().Params.Get("tag")
			r.send(r.request("ACK", 1, toTag, "ack-"+c.transport, nil, ""))
			r.send(r.request("BYE", 2, toTag, "bye-"+c.transport, nil, ""))
			if res := r.response("BYE", 5*time.Second); res.StatusCode != 200 {
				t.Fatalf("BYE answered %d", res.StatusCode)
			}
			eventually(t, 5*time.Second, "the call over", func() bool { return f.srv.ActiveCalls() == 0 })
			f.report()
		})
	}
}
