package sip

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/phonediversions/phonediversions/audio"
	"github.com/phonediversions/phonediversions/routing"
	"github.com/phonediversions/phonediversions/sip/sdp"
)

// The tests of this file each hold one fault found on the wire, named by
// its number in the issue that listed them; each failed before the fix.

// announceOnly turns connect-with-called-destination off: calls are
// answered at once, hear the announcement and end.
func announceOnly(f *fixture) {
	off := false
	f.settings(routing.SettingsUpdate{ConnectToCalled: &off})
}

// Fault 3: a CANCEL that crosses our 200 got 200 and then 487, and the
// dialog was dropped: the caller's BYE got 481.
func TestCancelCrossingOurAnswer(t *testing.T) {
	f := newFixture(t, nil)
	announceOnly(f)
	r := dialRaw(t, f, "udp")
	r.send(r.request("INVITE", 1, "", "inv1", []string{"Diversion: <sip:1001@127.0.0.1>;reason=unconditional"}, r.sdp("")))
	ok := r.response("INVITE", 5*time.Second)
	if ok.StatusCode != 200 {
		t.Fatalf("INVITE answered %d", ok.StatusCode)
	}
	toTag, _ := ok.To().Params.Get("tag")
	// The caller hung up just as the 200 went out: its CANCEL crosses it.
	r.send(r.request("CANCEL", 1, "", "inv1", nil, ""))
	var codes []int
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		if res, isRes := r.next(time.Until(deadline)).(*sip.Response); isRes {
			codes = append(codes, res.StatusCode)
			if res.CSeq().MethodName == sip.INVITE && res.StatusCode == 487 {
				t.Fatalf("the INVITE got 487 after its 200 (responses %v)", codes)
			}
		}
	}
	if !contains(codes, 200) {
		t.Fatalf("the CANCEL was not answered 200 (responses %v)", codes)
	}
	// The INVITE stays answered: ACK it and hang up with BYE.
	r.send(r.request("ACK", 1, toTag, "ack1", nil, ""))
	r.send(r.request("BYE", 2, toTag, "bye1", nil, ""))
	if res := r.response("BYE", 5*time.Second); res.StatusCode != 200 {
		t.Fatalf("BYE answered %d, want 200: the dialog was dropped", res.StatusCode)
	}
	if e := f.report(); e.Status != routing.StatusTerminated {
		t.Fatalf("report %+v", e)
	}
}

// Fault 3, second half: when the ACK of our 200 never comes, the call is
// ended with BYE after 64·T1 (RFC 3261 13.3.1.4); the BYE was never sent.
func TestNoAckMeansBye(t *testing.T) {
	f := newFixture(t, nil)
	announceOnly(f)
	r := dialRaw(t, f, "udp")
	r.send(r.request("INVITE", 1, "", "inv1", []string{"Diversion: <sip:1001@127.0.0.1>;reason=unconditional"}, r.sdp("")))
	oks := 0
	deadline := time.Now().Add(64*sip.T1 + 5*time.Second)
	for time.Now().Before(deadline) {
		switch m := r.next(time.Until(deadline)).(type) {
		case *sip.Response:
			if m.StatusCode == 200 {
				oks++
			}
		case *sip.Request:
			if m.Method != sip.BYE {
				t.Fatalf("got %s, want BYE", m.Method)
			}
			if oks < 4 {
				t.Errorf("the 200 was sent %d times before giving up, want its retransmissions", oks)
			}
			r.answerRequest(m)
			if e := f.report(); e.Status != routing.StatusTerminated {
				t.Fatalf("report %+v", e)
			}
			return
		}
	}
	t.Fatalf("no BYE after the 200 went unacknowledged (%d 200s seen)", oks)
}

// Fault 4: the 200 to a re-INVITE had no Contact, and the Contact always
// named the UDP port without transport: a call over TCP came back over UDP.
func TestContactFollowsTheTransport(t *testing.T) {
	f := newFixture(t, nil)
	announceOnly(f)
	r := dialRaw(t, f, "tcp")
	r.send(r.request("INVITE", 1, "", "tcp1", []string{"Diversion: <sip:1001@127.0.0.1>;reason=unconditional"}, r.sdp("")))
	ok := r.response("INVITE", 5*time.Second)
	toTag, _ := ok.To().Params.Get("tag")
	want := "sip:127.0.0.1:" + strconv.Itoa(f.srv.TCPPort()) + ";transport=tcp"
	if c := ok.Contact(); c == nil || c.Address.String() != want {
		t.Fatalf("Contact of a TCP call: %v, want %s", ok.Contact(), want)
	}
	r.send(r.request("ACK", 1, toTag, "tcp2", nil, ""))
	r.send(r.request("INVITE", 2, toTag, "tcp3", []string{"Session-Expires: 1800"}, r.sdp("")))
	re := r.response("INVITE", 5*time.Second)
	if re.StatusCode != 200 || re.Contact() == nil || re.Contact().Address.String() != want {
		t.Fatalf("200 to a re-INVITE: %d, Contact %v", re.StatusCode, re.Contact())
	}
	r.send(r.request("ACK", 2, toTag, "tcp4", nil, ""))
	// The product's BYE at the end comes back over the same TCP connection.
	for {
		msg := r.next(10 * time.Second)
		if msg == nil {
			t.Fatal("no BYE over TCP")
		}
		if req, ok := msg.(*sip.Request); ok && req.Method == sip.BYE {
			r.answerRequest(req)
			break
		}
	}
}

// Fault 5: the caller's identity came from From alone, and its privacy was
// lost on the far leg. A trunk's P-Asserted-Identity (or CUCM's
// Remote-Party-ID) names the caller; its privacy goes on.
func TestCallerIdentityAndPrivacy(t *testing.T) {
	tests := []struct {
		name    string
		headers []sip.Header
	}{
		{"P-Asserted-Identity with Privacy: id", []sip.Header{sip.NewHeader("P-Asserted-Identity", `"Reception" <sip:2001@cucm.example>`),
			sip.NewHeader("Privacy", "id")}},
		{"Remote-Party-ID with privacy=full", []sip.Header{sip.NewHeader("Remote-Party-ID",
			`"Reception" <sip:2001@cucm.example>;party=calling;screen=yes;privacy=full`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			// The From is anonymous: the direct-access number 2001 is only
			// in the asserted identity.
			caller := newPhone(t, "anonymous", audio.PCMU, 0x11)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			dlg, err := caller.invite(ctx, f.srv.UDPPort(), "5000", caller.sdp(), append(tt.headers, diversion("1001"))...)
			if err != nil {
				t.Fatal(err)
			}
			in := f.far.nextInvite(5 * time.Second)
			from := in.req.From()
			if from.Address.User != "anonymous" || from.Address.Host != "anonymous.invalid" {
				t.Errorf("far leg From %v: the caller asked for privacy", from)
			}
			pai := in.req.GetHeader("P-Asserted-Identity")
			rpid := in.req.GetHeader("Remote-Party-ID")
			privacy := in.req.GetHeader("Privacy")
			if pai == nil || !strings.Contains(pai.Value(), "sip:2001@") || rpid == nil || !strings.Contains(rpid.Value(), "privacy=full") ||
				privacy == nil || !strings.Contains(privacy.Value(), "id") {
				t.Errorf("far leg identity: PAI %v, RPID %v, Privacy %v", pai, rpid, privacy)
			}
			f.far.answer(ctx, in)
			answered(t, dlg, nil)
			hangUp(t, ctx, dlg)
			if e := f.report(); e.Status != routing.StatusDirectAccess || e.Caller != "2001" {
				t.Fatalf("report %+v: want the asserted caller 2001 with direct access", e)
			}
		})
	}
}

// Fault 6: an offer with audio and video got an answer with one m-line,
// and SRTP was answered as plain RTP.
func TestOffersWithMoreThanAudio(t *testing.T) {
	f := newFixture(t, nil)
	announceOnly(f)
	r := dialRaw(t, f, "udp")
	video := "m=video 6000 RTP/AVP 97\r\na=rtpmap:97 H264/90000\r\n"
	r.send(r.request("INVITE", 1, "", "av1", []string{"Diversion: <sip:1001@127.0.0.1>;reason=unconditional"}, r.sdp(video)))
	ok := r.response("INVITE", 5*time.Second)
	body := string(ok.Body())
	if ok.StatusCode != 200 || strings.Count(body, "m=") != 2 || !strings.Contains(body, "m=video 0 RTP/AVP 97") {
		t.Fatalf("answer to audio and video: %d\n%s", ok.StatusCode, body)
	}
	toTag, _ := ok.To().Params.Get("tag")
	r.send(r.request("ACK", 1, toTag, "av2", nil, ""))

	s := dialRaw(t, f, "udp")
	srtp := strings.Replace(s.sdp("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n"), "RTP/AVP", "RTP/SAVP", 1)
	s.send(s.request("INVITE", 1, "", "savp1", []string{"Diversion: <sip:1001@127.0.0.1>;reason=unconditional"}, srtp))
	if res := s.response("INVITE", 5*time.Second); res.StatusCode != 488 {
		t.Fatalf("SRTP offer answered %d, want 488", res.StatusCode)
	}
}

// Fault 2: a call held for longer than the media timeout was torn down;
// the product kept sending to a party on hold; a re-INVITE without SDP got
// our last answer back and its ACK's answer was ignored.
func TestHoldAndResume(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MediaTimeout = time.Second })
	caller, dlg, ctx := f.call("2001", "5000", diversion("1001"))
	in := f.far.nextInvite(5 * time.Second)
	f.far.answer(ctx, in)
	m := answered(t, dlg, nil)
	talkCtx, stopTalking := context.WithCancel(ctx)
	caller.talk(talkCtx, m.Addr)
	eventually(t, 5*time.Second, "the caller hears the far party", func() bool { return caller.heardFrom(0x22) > 5 })

	// Hold: the caller stops sending and wants nothing (inactive).
	stopTalking()
	hold := sdp.Offer(sdp.Session{ID: 1, Version: 2, Addr: caller.rtpAddr()}, sdp.Local{Codecs: []audio.Codec{audio.PCMU}, Dir: sdp.Inactive})
	res := reinvite(t, dlg, hold)
	if ans, err := sdp.Parse(res.Body()); err != nil || ans.Direction != sdp.Inactive {
		t.Fatalf("hold answered %+v %v", ans, err)
	}
	time.Sleep(100 * time.Millisecond)
	heard := caller.heardFrom(0x22)
	time.Sleep(2500 * time.Millisecond) // longer than the media timeout
	if n := caller.heardFrom(0x22) - heard; n > 0 {
		t.Errorf("%d packets sent to a caller on hold", n)
	}
	select {
	case bye := <-caller.byes:
		t.Fatalf("the held call was ended: %s", bye.StartLine())
	default:
	}
	// Resume by a re-INVITE without SDP: our 200 offers both laws
	// sendrecv; the answer in the ACK (PCMA) is applied.
	re := sip.NewRequest(sip.INVITE, dlg.InviteResponse.Contact().Address)
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	res, err := dlg.Do(wctx, re)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("re-INVITE without SDP: %v %v", res, err)
	}
	offer, err := sdp.Parse(res.Body())
	if err != nil || len(offer.Codecs) != 2 || offer.Direction != sdp.SendRecv {
		t.Fatalf("the 200 to a re-INVITE without SDP must be a full offer: %+v %v\n%s", offer, err, res.Body())
	}
	ack := sip.NewRequest(sip.ACK, dlg.InviteResponse.Contact().Address)
	ack.AppendHeader(&sip.CSeqHeader{SeqNo: res.CSeq().SeqNo, MethodName: sip.ACK})
	ack.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	ack.SetBody(sdp.Answer(sdp.Session{ID: 1, Version: 3, Addr: caller.rtpAddr()}, offer, sdp.AnswerLocal(offer, audio.PCMA)))
	if err := dlg.WriteRequest(ack); err != nil {
		t.Fatal(err)
	}
	caller.talk(ctx, m.Addr)
	eventually(t, 5*time.Second, "A-law to the resumed caller", func() bool {
		pkts := caller.packets()
		return len(pkts) > 0 && pkts[len(pkts)-1].PayloadType == 8
	})
	hangUp(t, ctx, dlg)
	if e := f.report(); e.Status != routing.StatusDirectAccess {
		t.Fatalf("report %+v", e)
	}
}

// reinvite sends a re-INVITE with body in the dialog and ACKs its 200.
func reinvite(t *testing.T, dlg *sipgo.DialogClientSession, body []byte) *sip.Response {
	t.Helper()
	re := sip.NewRequest(sip.INVITE, dlg.InviteResponse.Contact().Address)
	re.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	re.SetBody(body)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := dlg.Do(ctx, re)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("re-INVITE: %v %v", res, err)
	}
	ack := sip.NewRequest(sip.ACK, dlg.InviteResponse.Contact().Address)
	ack.AppendHeader(&sip.CSeqHeader{SeqNo: res.CSeq().SeqNo, MethodName: sip.ACK})
	if err := dlg.WriteRequest(ack); err != nil {
		t.Fatal(err)
	}
	return res
}

// Fault 13: CUCM asks for session timers; the 200 carried none of
// Session-Expires, Supported, Allow or Server, and a call whose refresh
// never came stayed up.
func TestSessionTimer(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MinSE = 2 * time.Second })
	announceOnly(f)
	// An interval below our minimum: 422 with Min-SE.
	r := dialRaw(t, f, "udp")
	r.send(r.request("INVITE", 1, "", "se1", []string{"Supported: timer", "Session-Expires: 1",
		"Diversion: <sip:1001@127.0.0.1>;reason=unconditional"}, r.sdp("")))
	res := r.response("INVITE", 5*time.Second)
	if res.StatusCode != 422 || res.GetHeader("Min-SE") == nil || res.GetHeader("Min-SE").Value() != "2" {
		t.Fatalf("too short an interval: %d, Min-SE %v", res.StatusCode, res.GetHeader("Min-SE"))
	}
	// 3 s with the caller as refresher: the 200 says so and requires timers.
	r = dialRaw(t, f, "udp")
	r.send(r.request("INVITE", 1, "", "se2", []string{"Supported: timer", "Session-Expires: 3;refresher=uac",
		"Diversion: <sip:1001@127.0.0.1>;reason=unconditional"}, r.sdp("")))
	ok := r.response("INVITE", 5*time.Second)
	for name, want := range map[string]string{"Session-Expires": "3;refresher=uac", "Require": "timer", "Supported": "timer",
		"Allow": allowed, "Server": "PhoneDiversions/dev"} {
		if h := ok.GetHeader(name); h == nil || h.Value() != want {
			t.Errorf("200: %s %v, want %q", name, h, want)
		}
	}
	toTag, _ := ok.To().Params.Get("tag")
	r.send(r.request("ACK", 1, toTag, "se3", nil, ""))
	// Refreshed every second the call stays; unrefreshed it ends within
	// 3 s - 1 s (RFC 4028 10).
	for i := range 3 {
		time.Sleep(time.Second)
		r.send(r.request("UPDATE", 2+i, toTag, "up"+strconv.Itoa(i), []string{"Session-Expires: 3;refresher=uac"}, ""))
		if res := r.response("UPDATE", 5*time.Second); res.StatusCode != 200 || res.GetHeader("Session-Expires") == nil {
			t.Fatalf("refresh answered %d", res.StatusCode)
		}
	}
	stopped := time.Now()
	for {
		msg := r.next(5 * time.Second)
		if msg == nil {
			t.Fatal("the unrefreshed call was not ended")
		}
		if req, ok := msg.(*sip.Request); ok && req.Method == sip.BYE {
			if d := time.Since(stopped); d > 3*time.Second {
				t.Errorf("BYE %v after the last refresh, want before the 3 s session expired", d)
			}
			r.answerRequest(req)
			break
		}
	}
	// OPTIONS says the same.
	o := dialRaw(t, f, "udp")
	o.send(o.request("OPTIONS", 1, "", "opt1", nil, ""))
	opt := o.response("OPTIONS", 5*time.Second)
	if opt.GetHeader("Supported") == nil || opt.GetHeader("Allow") == nil || opt.GetHeader("Server") == nil {
		t.Errorf("OPTIONS answer lacks capabilities: %s", opt)
	}
}

// Fault 14: the 487 after a CANCEL carried another To tag than the 180
// before it.
func TestCancelKeepsTheTag(t *testing.T) {
	f := newFixture(t, nil)
	r := dialRaw(t, f, "udp")
	r.number = "2001" // direct access: the caller rings with the far party
	r.send(r.request("INVITE", 1, "", "tag1", []string{"Diversion: <sip:1001@127.0.0.1>;reason=unconditional"}, r.sdp("")))
	in := f.far.nextInvite(5 * time.Second)
	in.dlg.Respond(180, "Ringing", nil)
	ringing := r.response("INVITE", 5*time.Second)
	ringTag, _ := ringing.To().Params.Get("tag")
	if ringing.StatusCode != 180 || ringTag == "" {
		t.Fatalf("got %d with tag %q, want 180 with a tag", ringing.StatusCode, ringTag)
	}
	r.send(r.request("CANCEL", 1, "", "tag1", nil, ""))
	if res := r.response("CANCEL", 5*time.Second); res.StatusCode != 200 {
		t.Fatalf("CANCEL answered %d", res.StatusCode)
	}
	final := r.response("INVITE", 5*time.Second)
	tag, _ := final.To().Params.Get("tag")
	if final.StatusCode != 487 || tag != ringTag {
		t.Fatalf("%d with To tag %q, want 487 with the 180's %q", final.StatusCode, tag, ringTag)
	}
}

// Fault 12: requests to the next hop left from a random port.
func TestFarLegLeavesFromTheListeningSocket(t *testing.T) {
	f := newFixture(t, nil)
	f.call("2001", "5000", diversion("1001"))
	in := f.far.nextInvite(5 * time.Second)
	if src := in.req.Source(); src != hostPort(f.srv.UDPPort()) {
		t.Errorf("far leg INVITE from %s, want the listening socket %s", src, hostPort(f.srv.UDPPort()))
	}
	if via := in.req.Via(); via.Port != f.srv.UDPPort() {
		t.Errorf("Via port %d", via.Port)
	}
	in.dlg.Respond(486, "Busy Here", nil)
}

// TestLogLinesAreJSONWithEachKeyOnce checks every line the call handler
// and its SIP stack write (the fixture logs at debug level, as the
// product's own logger with its component, so the stack's lines are
// there too): each is one JSON object, and no object has a key twice. It
// provokes a refused call, a stray response and an unparsable datagram,
// and requires lines of both the product and the stack among them.
func TestLogLinesAreJSONWithEachKeyOnce(t *testing.T) {
	f := newFixture(t, nil)
	caller := newPhone(t, "0791234567", audio.PCMU, 0x11)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dlg, err := caller.invite(ctx, f.srv.UDPPort(), "9999", caller.sdp()) // no group: refused 404
	if err != nil {
		t.Fatal(err)
	}
	finalCode(t, dlg)
	// A response of no transaction (a late retransmission).
	conn, err := net.Dial("udp", hostPort(f.srv.UDPPort()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKlate\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\n" +
		"Call-ID: late\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"))
	conn.Write([]byte("INVITE nothing\r\n\r\n"))
	eventually(t, 5*time.Second, "the stray response logged", func() bool { return len(f.logs.lines("response of no transaction (a retransmission)")) > 0 })
	eventually(t, 5*time.Second, "the datagram logged", func() bool { return len(f.logs.lines("unparsable SIP message dropped")) > 0 })
	refused := f.logs.lines("call refused")
	if len(refused) == 0 {
		t.Fatal("no call refused line")
	}
	// A line about a call names the call: its Call-ID, who calls, whom.
	var fields map[string]any
	if err := json.Unmarshal([]byte(refused[0]), &fields); err != nil {
		t.Fatalf("%v: %s", err, refused[0])
	}
	want := map[string]any{"call_id": dlg.InviteRequest.CallID().Value(), "caller": "0791234567", "called": "9999", "code": float64(404)}
	for k, v := range want {
		if fields[k] != v {
			t.Errorf("call refused line: %s is %v, want %v: %s", k, fields[k], v, refused[0])
		}
	}
	var product, stack int
	for _, l := range f.logs.all() {
		if err := oneObjectKeysOnce(l); err != nil {
			t.Errorf("%v: %s", err, l)
			continue
		}
		if strings.Contains(l, `"sipgo_`) {
			stack++
		} else {
			product++
		}
	}
	if product == 0 || stack == 0 {
		t.Errorf("%d lines of the product, %d of the stack: want both checked", product, stack)
	}
}

// oneObjectKeysOnce reports whether line is one JSON object in which no
// object, nested ones included, has a key twice.
func oneObjectKeysOnce(line string) error {
	dec := json.NewDecoder(strings.NewReader(line))
	var walk func() error
	walk = func() error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return err
				}
				key := k.(string)
				if seen[key] {
					return fmt.Errorf("key %q twice", key)
				}
				seen[key] = true
				if err := walk(); err != nil {
					return err
				}
			}
			_, err = dec.Token()
			return err
		case json.Delim('['):
			for dec.More() {
				if err := walk(); err != nil {
					return err
				}
			}
			_, err = dec.Token()
			return err
		}
		return nil
	}
	first, err := dec.Token()
	if err != nil || first != json.Delim('{') {
		return fmt.Errorf("not a JSON object (%v)", err)
	}
	dec = json.NewDecoder(strings.NewReader(line))
	if err := walk(); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("more after the object")
	}
	return nil
}

// Fault 10: no RTCP, and no quality in the report. The call's report
// entry now says each leg's loss and jitter.
func TestQualityInTheReport(t *testing.T) {
	f := newFixture(t, nil)
	caller, dlg, ctx := f.call("2001", "5000", diversion("1001"))
	in := f.far.nextInvite(5 * time.Second)
	f.far.answer(ctx, in)
	m := answered(t, dlg, nil)
	caller.talk(ctx, m.Addr)
	eventually(t, 5*time.Second, "media both ways", func() bool { return caller.heardFrom(0x22) > 10 && f.far.heardFrom(0x11) > 10 })
	hangUp(t, ctx, dlg)
	e := f.report()
	if !strings.Contains(e.Detail, "caller: 0 lost of") || !strings.Contains(e.Detail, "far: 0 lost of") || !strings.Contains(e.Detail, "jitter") {
		t.Errorf("report detail %q: want each leg's loss and jitter", e.Detail)
	}
	if l := f.logs.lines("call ended"); len(l) == 0 || !strings.Contains(l[0], `"caller_media":{"received":`) {
		t.Errorf("call ended line: %v", l)
	}
}
