package sip

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

func TestWholeMessages(t *testing.T) {
	const opts = "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nContent-Length: 0\r\n\r\n"
	const withBody = "INVITE sip:a@b SIP/2.0\r\nl: 3\r\n\r\nv=0"
	for _, tc := range []struct {
		name string
		data string
		want []string
		ok   bool
	}{
		{"one", opts, []string{opts}, true},
		{"two with CRLFs between", opts + "\r\n\r\n" + withBody, []string{opts, withBody}, true},
		{"keep-alive only", "\r\n\r\n", nil, true},
		{"head not finished", "OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n", nil, false},
		{"body not finished", "INVITE sip:a@b SIP/2.0\r\nl: 30\r\n\r\nv=0", nil, false},
		{"part of a body", "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\n\r\n", nil, false},
		{"no Content-Length runs to the end", "INVITE sip:a@b SIP/2.0\r\n\r\nv=0\r\n", []string{"INVITE sip:a@b SIP/2.0\r\n\r\nv=0\r\n"}, true},
		{"two Content-Lengths run to the end", "INVITE sip:a@b SIP/2.0\r\nl: 1\r\nl: 2\r\n\r\nabc", []string{"INVITE sip:a@b SIP/2.0\r\nl: 1\r\nl: 2\r\n\r\nabc"}, true},
		{"response", "SIP/2.0 200 OK\r\nl: 0\r\n\r\n", []string{"SIP/2.0 200 OK\r\nl: 0\r\n\r\n"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msgs, ok := wholeMessages([]byte(tc.data))
			var got []string
			for _, m := range msgs {
				got = append(got, string(m))
			}
			if ok != tc.ok || strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("wholeMessages = %q, %v; want %q, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestDisplayNames(t *testing.T) {
	p := newParser()
	for _, tc := range []struct {
		from string
		ok   bool
	}{
		{`"Bell, Alexander" <sip:a@b>;tag=1`, true},
		{`Alexander Bell <sip:a@b>;tag=1`, true},
		{`sip:a@b;tag=1`, true},
		{`Bell, Alexander <sip:a@b>;tag=1`, false},
		{`Bell (Sales) <sip:a@b>;tag=1`, false},
	} {
		msg := "OPTIONS sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: " + tc.from +
			"\r\nTo: <sip:x@y>\r\nCall-ID: 1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
		m, err := p.ParseSIP([]byte(msg))
		if (err == nil) != tc.ok {
			t.Errorf("From: %s: parse error %v, want ok=%v", tc.from, err, tc.ok)
		}
		if err == nil {
			if tag, _ := m.From().Params.Get("tag"); tag != "1" {
				t.Errorf("From: %s: tag %q", tc.from, tag)
			}
		}
	}
}

func TestBlanksAroundParameters(t *testing.T) {
	msg := "OPTIONS sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP h ; branch = z9hG4bK1 , SIP/2.0/UDP g ; branch = z9hG4bK2\r\nFrom: <sip:a@b> ;  tag = 7\r\n" +
		"To: <sip:x@y> ; tag = 9\r\nCall-ID: 1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
	m, err := newParser().ParseSIP([]byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	from, _ := m.From().Params.Get("tag")
	to, _ := m.To().Params.Get("tag")
	var branches []string
	for _, h := range m.GetHeaders("Via") {
		branch, _ := h.(*sip.ViaHeader).Params.Get("branch")
		branches = append(branches, branch)
	}
	if from != "7" || to != "9" || strings.Join(branches, ",") != "z9hG4bK1,z9hG4bK2" {
		t.Errorf("From tag %q, To tag %q, branches %q; want 7, 9, z9hG4bK1,z9hG4bK2", from, to, branches)
	}
}

// TestBadRequestKeepsTheConnection sends an unparsable request and then a
// good one on one TCP connection: the first is answered 400, the second
// 200, on the same connection (the stack alone would close it, and every
// call on it).
func TestBadRequestKeepsTheConnection(t *testing.T) {
	f := newFixture(t, nil)
	c, err := net.Dial("tcp", hostPort(f.srv.TCPPort()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	via := "Via: SIP/2.0/TCP " + c.LocalAddr().String()
	bad := "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n" + via + ";branch=z9hG4bKbad\r\nFrom: Bell, Alexander <sip:a@b>;tag=1\r\n" +
		"To: <sip:x@127.0.0.1>\r\nCall-ID: bad1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	good := "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n" + via + ";branch=z9hG4bKgood\r\nFrom: <sip:a@b>;tag=1\r\n" +
		"To: <sip:x@127.0.0.1>\r\nCall-ID: good1\r\nCSeq: 2 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	r := bufio.NewReader(c)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	for _, step := range []struct {
		msg, want string
	}{{bad, "SIP/2.0 400"}, {good, "SIP/2.0 200"}} {
		if _, err := c.Write([]byte(step.msg)); err != nil {
			t.Fatal(err)
		}
		line, err := r.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, step.want) {
			t.Fatalf("answer %q, %v; want %s", line, err, step.want)
		}
		for line != "\r\n" && err == nil { // the rest of the answer
			line, err = r.ReadString('\n')
		}
	}
}
