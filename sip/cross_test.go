package sip

import (
	"net"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/phonediversions/phonediversions/audio"
	"github.com/phonediversions/phonediversions/routing"
	"github.com/phonediversions/phonediversions/sip/sdp"
)

// rawPeer is a far party on a bare UDP socket, for behaviour a SIP stack
// would not produce on purpose: it answers an INVITE with 200 after it
// accepted the CANCEL for it.
type rawPeer struct {
	t    *testing.T
	conn *net.UDPConn
}

func (r *rawPeer) port() int { return r.conn.LocalAddr().(*net.UDPAddr).Port }

// next reads the next request, or fails after timeout.
func (r *rawPeer) next(timeout time.Duration) (*sip.Request, *net.UDPAddr) {
	r.t.Helper()
	buf := make([]byte, 65536)
	r.conn.SetReadDeadline(time.Now().Add(timeout))
	for {
		n, from, err := r.conn.ReadFromUDP(buf)
		if err != nil {
			r.t.Fatalf("far party: no request: %v", err)
		}
		msg, err := sip.ParseMessage(append([]byte(nil), buf[:n]...))
		if err != nil {
			r.t.Fatalf("far party: %v", err)
		}
		if req, ok := msg.(*sip.Request); ok {
			return req, from
		}
	}
}

func (r *rawPeer) send(res *sip.Response, to *net.UDPAddr) {
	r.t.Helper()
	if _, err := r.conn.WriteToUDP([]byte(res.String()), to); err != nil {
		r.t.Fatal(err)
	}
}

func TestAnswerCrossingCancelIsAckedAndHungUp(t *testing.T) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	far := &rawPeer{t: t, conn: c}
	f := newFixture(t, func(cfg *Config) { cfg.NextHop = hostPort(far.port()); cfg.RingTimeout = 500 * time.Millisecond })
	caller, dlg, _ := f.call("2001", "5000", diversion("1001"))

	inv, from := far.next(5 * time.Second)
	if inv.Method != sip.INVITE {
		t.Fatalf("far party got %s", inv.Method)
	}
	ringing := sip.NewResponseFromRequest(inv, 180, "Ringing", nil)
	toTag, _ := ringing.To().Params.Get("tag")
	far.send(ringing, from)
	// The ring time is up: the product cancels.
	cnl, from := far.next(5 * time.Second)
	if cnl.Method != sip.CANCEL {
		t.Fatalf("far party got %s, want CANCEL", cnl.Method)
	}
	far.send(sip.NewResponseFromRequest(cnl, 200, "OK", nil), from)
	// ...but the phone was picked up at that moment: 200 instead of 487.
	ok := sip.NewSDPResponseFromRequest(inv, sdp.Offer(sdp.Session{ID: 9, Version: 1, Addr: caller.rtpAddr()}, sdp.Local{Codecs: []audio.Codec{audio.PCMU}}))
	ok.To().Params.Add("tag", toTag)
	ok.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "far", Host: "127.0.0.1", Port: far.port()}})
	far.send(ok, from)

	ack, _ := far.next(5 * time.Second)
	if ack.Method != sip.ACK {
		t.Fatalf("far party got %s, want the ACK of its 200", ack.Method)
	}
	bye, from := far.next(5 * time.Second)
	if bye.Method != sip.BYE {
		t.Fatalf("far party got %s, want BYE", bye.Method)
	}
	far.send(sip.NewResponseFromRequest(bye, 200, "OK", nil), from)

	if code := finalCode(t, dlg); code != 480 {
		t.Fatalf("caller got %d, want 480", code)
	}
	if e := f.report(); e.Status != routing.StatusNoAnswer {
		t.Fatalf("report %+v", e)
	}
}

func TestFarEarlyMediaReachesAnUnansweredCaller(t *testing.T) {
	f := newFixture(t, nil)
	caller, dlg, ctx := f.call("2001", "5000", diversion("1001"))
	in := f.far.nextInvite(5 * time.Second)
	offer, err := sdp.Parse(in.req.Body())
	if err != nil {
		t.Fatal(err)
	}
	// The far PBX plays its own ringback as early media.
	if err := in.dlg.Respond(183, "Session Progress", f.far.sdp(), sip.NewHeader("Content-Type", "application/sdp")); err != nil {
		t.Fatal(err)
	}
	f.far.talk(ctx, offer.Addr)
	got183 := make(chan struct{}, 1)
	answeredCh := make(chan error, 1)
	go func() {
		answeredCh <- dlg.WaitAnswer(ctx, sipgoAnswerWith(func(r *sip.Response) {
			if r.StatusCode == 183 && len(r.Body()) > 0 {
				select {
				case got183 <- struct{}{}:
				default:
				}
			}
		}))
	}()
	select {
	case <-got183:
	case <-time.After(5 * time.Second):
		t.Fatal("no 183 with SDP relayed to the caller")
	}
	eventually(t, 5*time.Second, "caller hears the far side's early media", func() bool { return caller.heardFrom(0x22) > 5 })
	if err := in.dlg.RespondSDP(f.far.sdp()); err != nil {
		t.Fatal(err)
	}
	if err := <-answeredCh; err != nil {
		t.Fatalf("caller not answered: %v", err)
	}
	if err := dlg.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	hangUp(t, ctx, dlg)
	if e := f.report(); e.Status != routing.StatusDirectAccess {
		t.Fatalf("report %+v", e)
	}
}
