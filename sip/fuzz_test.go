package sip

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/phonediversions/phonediversions/sip/sdp"
)

const cucmInvite = "INVITE sip:5000@10.1.1.5:5060 SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 10.1.1.1:5060;branch=z9hG4bK1a2b3c\r\n" +
	"From: \"Tamara Farrow\" <sip:0791234567@10.1.1.1>;tag=81234\r\n" +
	"To: <sip:5000@10.1.1.5>\r\n" +
	"Call-ID: 1234-5678@10.1.1.1\r\n" +
	"CSeq: 101 INVITE\r\n" +
	"Contact: <sip:0791234567@10.1.1.1:5060>\r\n" +
	"Max-Forwards: 69\r\n" +
	"Diversion: <sip:1002@10.1.1.1>;reason=unconditional;privacy=off;screen=no\r\n" +
	"Diversion: <sip:1001@10.1.1.1>;reason=no-answer;counter=1\r\n" +
	"History-Info: <sip:1001@10.1.1.1>;index=1, <sip:5000@10.1.1.1>;index=1.1\r\n" +
	"Content-Type: application/sdp\r\n" +
	"Content-Length: 129\r\n\r\n" +
	"v=0\r\no=CiscoSystemsCCM-SIP 1 1 IN IP4 10.1.1.1\r\ns=SIP Call\r\nc=IN IP4 10.1.1.20\r\nt=0 0\r\nm=audio 24580 RTP/AVP 0 101\r\na=ptime:20\r\n"

// FuzzInviteHandling runs what the call handler does with an INVITE
// before any call starts — parsing by the SIP stack, the admission checks,
// the Diversion and History-Info reading, the numbers, the SDP, the 400 for
// what cannot be parsed — on arbitrary bytes. None of it may panic.
func FuzzInviteHandling(f *testing.F) {
	f.Add([]byte(cucmInvite))
	files, _ := filepath.Glob(filepath.Join("testdata", "torture", "*", "*.dat"))
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	s := &Server{cfg: Config{Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, MaxCalls: 10},
		log: zerolog.Nop(), dialogs: dialogs{byID: map[string]dialogRef{}}, ringing: ringing{legs: map[string][]ringingLeg{}},
		overload: newOverload(10, 0)}
	parser := sip.NewParser()
	f.Fuzz(func(t *testing.T, data []byte) {
		badRequest(data)
		msg, err := parser.ParseSIP(data)
		if err != nil {
			return
		}
		req, ok := msg.(*sip.Request)
		if !ok {
			return
		}
		req.SetSource("10.1.1.1:5060")
		s.admit(req)
		s.statelessTag(req)
		invalid(req)
		r := parseRedirection(req)
		if r.Initial != "" && len(r.Diversions) == 0 && len(req.GetHeaders("History-Info")) == 0 {
			t.Fatalf("initial number %q from no header", r.Initial)
		}
		uriNumber(req.Recipient)
		if from := req.From(); from != nil {
			uriNumber(from.Address)
		}
		s.dialogs.lookup(req)
		who := callerIdentity(req)
		who.identityHeaders("192.0.2.1")
		s.ringing.comesBack(who.Number, r.Initial, historyNumbers(r.Diversions))
		negotiateTimer(req, 1800*time.Second, 90*time.Second)
		if body := req.Body(); len(body) > 0 {
			sdp.Parse(body)
		}
	})
}
