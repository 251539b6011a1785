package sip

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"

	"github.com/phonediversions/phonediversions/audio"
	"github.com/phonediversions/phonediversions/sip/sdp"
)

// phone is a SIP endpoint on loopback built on sipgo, playing the caller
// or the far party, with an RTP socket that records what it hears and can
// talk (send 50 packets/s of a recognisable payload).
type phone struct {
	t      *testing.T
	name   string
	ua     *sipgo.UserAgent
	srv    *sipgo.Server
	client *sipgo.Client
	port   int
	cli    *sipgo.DialogClientCache
	rtp    *net.UDPConn
	codec  audio.Codec
	talkB  byte // payload byte this phone sends

	mu      sync.Mutex
	heard   []rtp.Packet
	invites chan *incoming
	byes    chan *sip.Request
}

// incoming is an INVITE the phone received, with its dialog.
type incoming struct {
	req  *sip.Request
	dlg  *sipgo.DialogServerSession
	done chan struct{} // close to let the handler return
}

func newPhone(t *testing.T, name string, codec audio.Codec, talk byte) *phone {
	t.Helper()
	p := &phone{t: t, name: name, codec: codec, talkB: talk, invites: make(chan *incoming, 8), byes: make(chan *sip.Request, 8)}
	var err error
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	if p.ua, err = sipgo.NewUA(sipgo.WithUserAgent(name), sipgo.WithUserAgentHostname("127.0.0.1"),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(quiet)),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(quiet))); err != nil {
		t.Fatal(err)
	}
	if p.srv, err = sipgo.NewServer(p.ua, sipgo.WithServerLogger(quiet)); err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p.port = conn.LocalAddr().(*net.UDPAddr).Port
	if p.client, err = sipgo.NewClient(p.ua, sipgo.WithClientHostname("127.0.0.1"), sipgo.WithClientPort(p.port), sipgo.WithClientLogger(quiet)); err != nil {
		t.Fatal(err)
	}
	contact := sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: name, Host: "127.0.0.1", Port: p.port}}
	p.cli = sipgo.NewDialogClientCache(p.client, contact)
	srvCache := sipgo.NewDialogServerCache(p.client, contact)
	p.srv.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		dlg, err := srvCache.ReadInvite(req, tx)
		if err != nil {
			return
		}
		in := &incoming{req: req, dlg: dlg, done: make(chan struct{})}
		p.invites <- in
		select {
		case <-in.done:
		case <-dlg.Context().Done():
		}
	})
	p.srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) { srvCache.ReadAck(req, tx) })
	p.srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		p.byes <- req
		if err := p.cli.ReadBye(req, tx); err != nil {
			srvCache.ReadBye(req, tx)
		}
	})
	go p.srv.ServeUDP(conn)
	if p.rtp, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
		t.Fatal(err)
	}
	go p.listen()
	t.Cleanup(func() {
		p.rtp.Close()
		conn.Close()
		p.ua.Close()
	})
	return p
}

func (p *phone) rtpAddr() netip.AddrPort { return p.rtp.LocalAddr().(*net.UDPAddr).AddrPort() }

// sdp returns this phone's offer or answer for its one codec.
func (p *phone) sdp() []byte {
	return sdp.Offer(sdp.Session{ID: 1, Version: 1, Addr: p.rtpAddr()}, sdp.Local{Codecs: []audio.Codec{p.codec}, DTMF: 101})
}

func (p *phone) listen() {
	buf := make([]byte, 2048)
	for {
		n, err := p.rtp.Read(buf)
		if err != nil {
			return
		}
		var pkt rtp.Packet
		if pkt.Unmarshal(append([]byte(nil), buf[:n]...)) == nil {
			p.mu.Lock()
			p.heard = append(p.heard, pkt)
			p.mu.Unlock()
		}
	}
}

// packets returns what the phone heard so far.
func (p *phone) packets() []rtp.Packet {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]rtp.Packet(nil), p.heard...)
}

// heardFrom counts the packets whose payload starts with b.
func (p *phone) heardFrom(b byte) int {
	n := 0
	for _, pkt := range p.packets() {
		if len(pkt.Payload) > 0 && pkt.Payload[0] == b {
			n++
		}
	}
	return n
}

// talk sends RTP to addr every 20 ms until ctx ends.
func (p *phone) talk(ctx context.Context, to netip.AddrPort) {
	payload := make([]byte, 160)
	for i := range payload {
		payload[i] = p.talkB
	}
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			b, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: uint8(p.codec), SequenceNumber: uint16(i),
				Timestamp: uint32(i * 160), SSRC: uint32(p.talkB)}, Payload: payload}).Marshal()
			p.rtp.WriteToUDPAddrPort(b, to)
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
}

// invite sends an INVITE to the product and returns the dialog; body nil
// makes a delayed offer.
func (p *phone) invite(ctx context.Context, product int, to string, body []byte, headers ...sip.Header) (*sipgo.DialogClientSession, error) {
	uri := sip.Uri{Scheme: "sip", User: to, Host: "127.0.0.1", Port: product}
	from := &sip.FromHeader{DisplayName: "Caller", Address: sip.Uri{Scheme: "sip", User: p.name, Host: "127.0.0.1"}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(10))
	headers = append(headers, from)
	if body != nil {
		headers = append(headers, sip.NewHeader("Content-Type", "application/sdp"))
	}
	return p.cli.Invite(ctx, uri, body, headers...)
}

// receive waits for what the phone gets on ch, failing after timeout.
func receive[T any](p *phone, ch <-chan T, timeout time.Duration, what string) T {
	p.t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(timeout):
		p.t.Fatalf("%s: no %s within %v", p.name, what, timeout)
		var zero T
		return zero
	}
}

// nextInvite waits for an INVITE at the far party.
func (p *phone) nextInvite(timeout time.Duration) *incoming {
	p.t.Helper()
	return receive(p, p.invites, timeout, "INVITE")
}

// answer answers an INVITE with this phone's SDP and starts talking to
// the product's address from the offer.
func (p *phone) answer(ctx context.Context, in *incoming) {
	p.t.Helper()
	offer, err := sdp.Parse(in.req.Body())
	if err != nil {
		p.t.Fatalf("%s: offer: %v", p.name, err)
	}
	go func() {
		in.dlg.Respond(180, "Ringing", nil)
		time.Sleep(100 * time.Millisecond) // it rings a little
		in.dlg.RespondSDP(p.sdp())
	}()
	p.talk(ctx, offer.Addr)
}

// waitBye waits for a BYE at the phone.
func (p *phone) waitBye(timeout time.Duration) *sip.Request {
	p.t.Helper()
	return receive(p, p.byes, timeout, "BYE")
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func hostPort(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }
