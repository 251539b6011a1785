package sip

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/phonediversions/phonediversions/audio"
	"github.com/phonediversions/phonediversions/routing"
)

func TestRoutingAppliesDiversion(t *testing.T) {
	tests := []struct {
		name, called, wantTarget, wantDiversion, group string
	}{
		{"group ON: to its destination, marked as diverted", "3001", "7000", "<sip:3001@", "Night"},
		{"group OFF: to the line itself", "3002", "3002", "", "Day"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			caller := newPhone(t, "0791234567", audio.PCMU, 0x11)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			dlg, err := caller.invite(ctx, f.srv.UDPPort(), tt.called, caller.sdp())
			if err != nil {
				t.Fatal(err)
			}
			in := f.far.nextInvite(5 * time.Second)
			if in.req.Recipient.User != tt.wantTarget {
				t.Fatalf("outbound leg to %q, want %q", in.req.Recipient.User, tt.wantTarget)
			}
			div := in.req.GetHeader("Diversion")
			switch {
			case tt.wantDiversion == "" && div != nil:
				t.Fatalf("unexpected Diversion %q", div.Value())
			case tt.wantDiversion != "" && (div == nil || !strings.HasPrefix(div.Value(), tt.wantDiversion) || !strings.Contains(div.Value(), "reason=unconditional")):
				t.Fatalf("Diversion %v, want one naming the line with reason=unconditional", div)
			}
			f.far.answer(ctx, in)
			m := answered(t, dlg, nil)
			caller.talk(ctx, m.Addr)
			eventually(t, 5*time.Second, "caller hears the far party", func() bool { return caller.heardFrom(0x22) > 5 })
			hangUp(t, ctx, dlg)
			f.far.waitBye(5 * time.Second)
			if e := f.report(); e.Status != routing.StatusConnected || e.Receiver != tt.called || e.Group != tt.group {
				t.Fatalf("report %+v", e)
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	mf0 := sip.MaxForwardsHeader(0)
	tests := []struct {
		name    string
		mod     func(*Config)
		to      string
		headers []sip.Header
		code    int
	}{
		{"unknown number", nil, "4711", nil, 404},
		{"not a number", nil, "alice", nil, 484},
		{"our own loop mark", nil, "5000", []sip.Header{diversion("1001"), sip.NewHeader(LoopHeader, "x")}, 482},
		{"Max-Forwards 0", nil, "5000", []sip.Header{diversion("1001"), &mf0}, 483},
		{"untrusted source", func(c *Config) { c.Trusted = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")} }, "5000", []sip.Header{diversion("1001")}, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.mod)
			caller := newPhone(t, "0791234567", audio.PCMU, 0x11)
			dlg, err := caller.invite(context.Background(), f.srv.UDPPort(), tt.to, caller.sdp(), tt.headers...)
			if err != nil {
				t.Fatal(err)
			}
			if code := finalCode(t, dlg); code != tt.code {
				t.Fatalf("got %d, want %d", code, tt.code)
			}
			if f.srv.Stats().Rejected.Load() != 1 {
				t.Fatal("refusal not counted")
			}
		})
	}
}

func TestForwardedBackWhileRingingIsALoop(t *testing.T) {
	f := newFixture(t, nil)
	caller := newPhone(t, "2001", audio.PCMU, 0x11)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first, err := caller.invite(ctx, f.srv.UDPPort(), "5000", caller.sdp(), diversion("1001"))
	if err != nil {
		t.Fatal(err)
	}
	in := f.far.nextInvite(5 * time.Second)
	in.dlg.Respond(180, "Ringing", nil)
	// Another caller with the same number, diverted from the same line
	// meanwhile, is a call of its own (the fault was to refuse it 482):
	// its history is its own, not ours grown.
	twin := newPhone(t, "2001", audio.PCMU, 0x44)
	own, err := twin.invite(ctx, f.srv.UDPPort(), "5000", twin.sdp(), diversion("1001"))
	if err != nil {
		t.Fatal(err)
	}
	twinIn := f.far.nextInvite(5 * time.Second)
	twinIn.dlg.Respond(486, "Busy Here", nil)
	if code := finalCode(t, own); code != 486 {
		t.Fatalf("the other caller got %d, want the far party's 486", code)
	}
	// The PBX forwards our leg to 1001 back to the product, without our
	// mark: its Diversion history is ours with the PBX's entry on top.
	again := newPhone(t, "2001", audio.PCMU, 0x33)
	second, err := again.invite(ctx, f.srv.UDPPort(), "5000", again.sdp(), diversion("1001"), diversion("1001"))
	if err != nil {
		t.Fatal(err)
	}
	if code := finalCode(t, second); code != 482 {
		t.Fatalf("the call forwarded back got %d, want 482", code)
	}
	f.far.answer(ctx, in)
	answered(t, first, nil)
}

func TestCallLimitAndDrain(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxCalls = 1 })
	caller, dlg, ctx := f.call("2001", "5000", diversion("1001"))
	in := f.far.nextInvite(5 * time.Second)
	f.far.answer(ctx, in)
	answered(t, dlg, nil)

	other := newPhone(t, "0791234567", audio.PCMU, 0x33)
	refused := func() {
		t.Helper()
		d, err := other.invite(ctx, f.srv.UDPPort(), "5000", other.sdp(), diversion("1002"))
		if err != nil {
			t.Fatal(err)
		}
		wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
		defer wcancel()
		err = d.WaitAnswer(wctx, sipgoAnswer())
		if code := responseCode(err); code != 503 || d.InviteResponse.GetHeader("Retry-After") == nil {
			t.Fatalf("got %d (%v), want 503 with Retry-After", code, err)
		}
	}
	refused() // over the limit

	// Stopping: new calls are refused, the call in progress is hung up
	// when the drain time is up.
	dctx, dcancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer dcancel()
	done := make(chan struct{})
	go func() {
		f.srv.Drain(dctx)
		close(done)
	}()
	eventually(t, 5*time.Second, "draining", func() bool { return f.srv.draining.Load() })
	refused()
	caller.waitBye(5 * time.Second)
	f.far.waitBye(5 * time.Second)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Drain did not return")
	}
	if f.srv.ActiveCalls() != 0 {
		t.Fatal("calls left after drain")
	}
}

func TestMediaTimeoutEndsTheCall(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MediaTimeout = 600 * time.Millisecond })
	caller, dlg, ctx := f.call("2001", "5000", diversion("1001"))
	in := f.far.nextInvite(5 * time.Second)
	// Ringing twice the media timeout: nobody sends RTP yet, and that is
	// no reason to end the call.
	in.dlg.Respond(180, "Ringing", nil)
	time.Sleep(1200 * time.Millisecond)
	if in.dlg.Context().Err() != nil {
		t.Fatal("the call was ended while the far party was ringing")
	}
	f.far.answer(ctx, in)
	answered(t, dlg, nil)
	answeredAt := time.Now()
	caller.waitBye(5 * time.Second)
	if d := time.Since(answeredAt); d < 500*time.Millisecond {
		t.Fatalf("BYE %v after the answer, before the media timeout", d)
	}
	f.far.waitBye(5 * time.Second)
	f.report()
}

func TestOptionsOverUDPAndTCP(t *testing.T) {
	f := newFixture(t, nil)
	p := newPhone(t, "monitor", audio.PCMU, 0)
	req := sip.NewRequest(sip.OPTIONS, sip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: f.srv.UDPPort()})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := p.client.Do(ctx, req)
	if err != nil || res.StatusCode != 200 || !strings.Contains(res.GetHeader("Allow").Value(), "INVITE") {
		t.Fatalf("OPTIONS over UDP: %v %v", res, err)
	}
	conn, err := net.Dial("tcp", hostPort(f.srv.TCPPort()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	local := conn.LocalAddr().String()
	msg := "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP " + local + ";branch=z9hG4bK-tcp1\r\nMax-Forwards: 70\r\n" +
		"From: <sip:monitor@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: tcp-options-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
	if _, err := conn.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "SIP/2.0 200") {
		t.Fatalf("OPTIONS over TCP: %q %v", line, err)
	}
}

// options sends OPTIONS from p to the handler's UDP port and returns the
// answer.
func (f *fixture) options(p *phone) *sip.Response {
	f.t.Helper()
	req := sip.NewRequest(sip.OPTIONS, sip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: f.srv.UDPPort()})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := p.client.Do(ctx, req)
	if err != nil {
		f.t.Fatal(err)
	}
	return res
}

// A call that cannot be routed — the store does not answer — is refused
// with 503 and Retry-After, so that the PBX tries another node.
func TestStoreDownRefuses503(t *testing.T) {
	f := newFixture(t, nil)
	f.db.Close()
	caller := newPhone(t, "0791234567", audio.PCMU, 0x11)
	dlg, err := caller.invite(context.Background(), f.srv.UDPPort(), "5000", caller.sdp(), diversion("1001"))
	if err != nil {
		t.Fatal(err)
	}
	if code := finalCode(t, dlg); code != 503 {
		t.Fatalf("got %d, want 503", code)
	}
}

// TestOptionsAnswer503WhenNotReady: the PBX's OPTIONS ping gets 503 with
// Retry-After while the node's store does not answer and from the moment
// it drains, so that CUCM's route group or Kamailio's dispatcher sends
// calls elsewhere; 200 again when the store is back.
func TestOptionsAnswer503WhenNotReady(t *testing.T) {
	var storeDown atomic.Bool
	f := newFixture(t, func(c *Config) {
		c.Healthy = func() error {
			if storeDown.Load() {
				return errors.New("the store does not answer")
			}
			return nil
		}
	})
	p := newPhone(t, "monitor", audio.PCMU, 0)
	options := func() *sip.Response { return f.options(p) }
	if res := options(); res.StatusCode != 200 {
		t.Fatalf("ready: %d", res.StatusCode)
	}
	storeDown.Store(true)
	if res := options(); res.StatusCode != 503 || res.GetHeader("Retry-After") == nil {
		t.Errorf("store down: %v", res)
	}
	storeDown.Store(false)
	if res := options(); res.StatusCode != 200 {
		t.Errorf("store back: %d", res.StatusCode)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f.srv.Drain(ctx) // no call in progress: returns at once, draining
	if res := options(); res.StatusCode != 503 {
		t.Errorf("draining: %d", res.StatusCode)
	}
}
