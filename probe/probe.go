// Package probe places one call as a caller would — to the product
// directly, or through the PBX in front of it as a diverted call travels
// — answers the product's media, and tells what happened: the path the
// product took, the announcement's length and level, the far party's
// answer, the RTP both ways and the setup time. It is built on the SIP
// stack the product runs (sipgo), the product's SDP (sip/sdp) and its
// media engine (media), not on a second stack.
package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/phonediversions/phonediversions/audio"
	"github.com/phonediversions/phonediversions/media"
	"github.com/phonediversions/phonediversions/sip/sdp"
)

// Config says what call to place.
type Config struct {
	// Target is the number to call and where: sip:1044@pbx.example.com,
	// with a port when not 5060.
	Target string
	// From is the calling number (default "probe").
	From string
	// DivertedFrom, when set, marks the call as diverted from that line
	// (a Diversion header), as a PBX marks a diverted call: for calling
	// the product directly at a group's destination.
	DivertedFrom string
	// Transport is udp (default), tcp or tls.
	Transport string
	// TLS is the client configuration of a TLS call (default: the
	// system's roots verify the target's certificate).
	TLS *tls.Config
	// Duration is how long the probe stays on an answered call that
	// nobody hangs up (default 30 s); it also bounds the wait for an
	// answer.
	Duration time.Duration
	// LocalIP is the address to call from; the zero value is the one the
	// system routes to the target from.
	LocalIP netip.Addr
	// RTPPortMin and RTPPortMax bound the probe's RTP port (default
	// 50000-59999).
	RTPPortMin, RTPPortMax int
	// Log receives the SIP stack's lines (default: none).
	Log *slog.Logger
}

// Path is what the product did with the call, as the caller saw it.
type Path string

// The paths.
const (
	// Refused: the call got a final answer of 300 or more.
	Refused Path = "refused"
	// AnnouncementThenHangUp: answered, an announcement, then the
	// product hung up.
	AnnouncementThenHangUp Path = "announcement-then-hang-up"
	// AnnouncementThenConnect: answered, an announcement, then the
	// product connected the caller (ringback, the far party).
	AnnouncementThenConnect Path = "announcement-then-connect"
	// Connected: the far party rang and answered with no announcement
	// (direct access, or a line the product passes on).
	Connected Path = "connected"
	// Silent: answered, but no audio came.
	Silent Path = "answered-without-audio"
	// Unanswered: no final answer (the target did not answer in time or
	// could not be reached).
	Unanswered Path = "unanswered"
)

// Result is what happened. Durations are in the JSON as seconds.
type Result struct {
	Target string `json:"target"`
	Path   Path   `json:"path"`
	// Code and Reason are the final answer to the INVITE (0: none).
	Code   int    `json:"code"`
	Reason string `json:"reason"`
	// Failure says why the call could not be placed or was not answered.
	Failure string `json:"failure,omitempty"`
	// Setup is from the INVITE to its final answer.
	Setup Seconds `json:"setup_s"`
	// Rang tells that the far side rang (180) before the answer.
	Rang bool `json:"rang"`
	// Codec is the law the product answered with.
	Codec string `json:"codec,omitempty"`
	// Announcement is the first stretch of audio after an answer that
	// did not ring; nil when none.
	Announcement *Segment `json:"announcement,omitempty"`
	// Ringback is how long the caller heard ringback after the
	// announcement.
	Ringback Seconds `json:"ringback_s"`
	// FarParty is what the far party did after the announcement:
	// "answered", "did not answer", "still ringing" (the probe hung up
	// first), or "" when the product did not call one.
	FarParty string `json:"far_party,omitempty"`
	// Talk is how long the caller heard the far party.
	Talk Seconds `json:"talk_s"`
	// HungUpBy is "product" (its BYE) or "probe" (Duration elapsed).
	HungUpBy string `json:"hung_up_by,omitempty"`
	// HangUpReason is the Reason header of the product's BYE (RFC 3326),
	// such as Q.850;cause=16;text="announcement played".
	HangUpReason string `json:"hang_up_reason,omitempty"`
	// Segments are the stretches of audio the product sent, split where
	// it marked a new talkspurt (a new source: announcement, tone,
	// relay).
	Segments []Segment `json:"segments"`
	// Received is the product's RTP as the probe received it; Sent is the
	// probe's as the product's reports said.
	Received Stream `json:"received"`
	Sent     Stream `json:"sent"`
	// RTT is the round trip the RTCP reports gave (0: no report came
	// back).
	RTT Seconds `json:"rtt_s"`
	// Heard is what the caller heard, 8 kHz 16-bit samples, silence
	// where nothing came.
	Heard []int16 `json:"-"`
}

// Stream is one direction's RTP.
type Stream struct {
	Packets uint32  `json:"packets"`
	Lost    int64   `json:"lost"`
	Jitter  Seconds `json:"jitter_s"`
}

// Seconds is a duration written as seconds in JSON.
type Seconds time.Duration

// MarshalJSON writes the seconds to the millisecond.
func (s Seconds) MarshalJSON() ([]byte, error) {
	return []byte(fmt.Sprintf("%.3f", time.Duration(s).Seconds())), nil
}

// OK reports whether the call went through: answered, and the caller
// heard something.
func (r *Result) OK() bool {
	switch r.Path {
	case AnnouncementThenHangUp, AnnouncementThenConnect, Connected:
		return true
	}
	return false
}

// ErrConfig is a configuration the probe cannot call with.
var ErrConfig = errors.New("probe")

// Run places the call, stays on it until the product hangs up, Duration
// elapses or ctx ends (then the probe hangs up), and returns what
// happened. Errors: ErrConfig (wrapped) for a target or setting it cannot
// call with, and the probe's own sockets failing to open; a call that
// fails is a Result, not an error.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	var target sip.Uri
	if err := sip.ParseUri(cfg.Target, &target); err != nil || target.User == "" || target.Host == "" {
		return nil, fmt.Errorf("%w: %q is not a SIP URI with a number, such as sip:1044@pbx.example.com", ErrConfig, cfg.Target)
	}
	if target.Port == 0 {
		target.Port = 5060
		if strings.EqualFold(cfg.Transport, "tls") || target.IsEncrypted() {
			target.Port = 5061
		}
	}
	cfg.Transport = strings.ToLower(cfg.Transport)
	switch cfg.Transport {
	case "":
		cfg.Transport = "udp"
	case "udp", "tcp", "tls":
	default:
		return nil, fmt.Errorf("%w: transport %q: the probe calls over udp, tcp or tls", ErrConfig, cfg.Transport)
	}
	if cfg.From == "" {
		cfg.From = "probe"
	}
	if cfg.Duration <= 0 {
		cfg.Duration = 30 * time.Second
	}
	if cfg.RTPPortMin == 0 {
		cfg.RTPPortMin, cfg.RTPPortMax = 50000, 59999
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	remote, err := resolve(ctx, target)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if !cfg.LocalIP.IsValid() {
		if cfg.LocalIP, err = routeFrom(remote); err != nil {
			return nil, fmt.Errorf("%w: no route to %v: %v", ErrConfig, remote, err)
		}
	}
	c := &call{cfg: cfg, target: target, res: &Result{Target: cfg.Target}, bye: make(chan struct{})}
	defer c.close()
	if err := c.open(); err != nil {
		return nil, err
	}
	c.run(ctx)
	return c.res, nil
}

// resolve returns the target's address.
func resolve(ctx context.Context, u sip.Uri) (netip.AddrPort, error) {
	if a, err := netip.ParseAddr(strings.Trim(u.Host, "[]")); err == nil {
		return netip.AddrPortFrom(a, uint16(u.Port)), nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", u.Host)
	if err != nil || len(addrs) == 0 {
		return netip.AddrPort{}, fmt.Errorf("%s does not resolve: %v", u.Host, err)
	}
	return netip.AddrPortFrom(addrs[0].Unmap(), uint16(u.Port)), nil
}

// routeFrom is the local address the system sends to remote from (a UDP
// socket connected to it sends nothing).
func routeFrom(remote netip.AddrPort) (netip.Addr, error) {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(remote))
	if err != nil {
		return netip.Addr{}, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(), nil
}

// call is one probe call: its SIP user agent and listener, its RTP leg
// and what it heard.
type call struct {
	cfg     Config
	target  sip.Uri
	res     *Result
	ua      *sipgo.UserAgent
	srv     *sipgo.Server
	dua     *sipgo.DialogUA
	closers []func()
	engine  *media.Engine
	leg     *media.Leg

	mu      sync.Mutex
	dlg     *sipgo.DialogClientSession
	packets []packet
	bye     chan struct{} // closed when the product hangs up
	byeOnce sync.Once
	reason  string // of the product's BYE; set before bye closes
}

// packet is one RTP packet the product sent, as it arrived.
type packet struct {
	at      time.Duration
	pt      uint8
	marker  bool
	ts      uint32
	payload []byte
}

// open starts the user agent, its listener and the media engine.
func (c *call) open() error {
	ip := c.cfg.LocalIP.String()
	opts := []sipgo.UserAgentOption{sipgo.WithUserAgent("PhoneDiversions probe"), sipgo.WithUserAgentHostname(ip)}
	if c.cfg.TLS != nil {
		opts = append(opts, sipgo.WithUserAgenTLSConfig(c.cfg.TLS))
	}
	ua, err := sipgo.NewUA(opts...)
	if err != nil {
		return err
	}
	c.ua = ua
	c.closers = append(c.closers, func() { ua.Close() })
	if c.srv, err = sipgo.NewServer(ua, sipgo.WithServerLogger(c.cfg.Log)); err != nil {
		return err
	}
	c.srv.OnBye(c.onBye)
	c.srv.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) {
		tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	contact := sip.Uri{Scheme: "sip", User: "probe", Host: ip, UriParams: sip.NewParams()}
	var client *sipgo.Client
	switch c.cfg.Transport {
	case "udp":
		conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(c.cfg.LocalIP, 0)))
		if err != nil {
			return err
		}
		c.closers = append(c.closers, func() { conn.Close() })
		go c.srv.ServeUDP(conn)
		// Requests leave from this socket once the stack serves it (it
		// would bind a second one on the same port before).
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
			if sc, err := ua.TransportLayer().GetConnection("udp", conn.LocalAddr().String()); err == nil && sc != nil {
				break
			}
			if time.Now().After(deadline) {
				return errors.New("probe: the SIP stack did not take its socket")
			}
		}
		contact.Port = conn.LocalAddr().(*net.UDPAddr).Port
		client, err = sipgo.NewClient(ua, sipgo.WithClientHostname(ip), sipgo.WithClientPort(contact.Port),
			sipgo.WithClientConnectionAddr(conn.LocalAddr().String()), sipgo.WithClientLogger(c.cfg.Log))
		if err != nil {
			return err
		}
	case "tcp", "tls":
		// The call's connection leaves from a port chosen now, which the
		// Contact names: the product's BYE comes back on that connection
		// (a TLS listener would need a certificate the product trusts).
		l, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(c.cfg.LocalIP, 0)))
		if err != nil {
			return err
		}
		local := l.Addr().String()
		contact.Port = l.Addr().(*net.TCPAddr).Port
		l.Close()
		contact.UriParams.Add("transport", c.cfg.Transport)
		if c.cfg.Transport == "tls" {
			contact.Scheme = "sips"
		}
		client, err = sipgo.NewClient(ua, sipgo.WithClientHostname(ip), sipgo.WithClientPort(contact.Port),
			sipgo.WithClientConnectionAddr(local), sipgo.WithClientLogger(c.cfg.Log))
		if err != nil {
			return err
		}
	}
	c.dua = &sipgo.DialogUA{Client: client, ContactHDR: sip.ContactHeader{Address: contact}}
	c.engine, err = media.New(media.Config{IP: c.cfg.LocalIP, PortMin: c.cfg.RTPPortMin, PortMax: c.cfg.RTPPortMax,
		ReportInterval: time.Second})
	if err != nil {
		return err
	}
	c.closers = append(c.closers, c.engine.Close)
	return nil
}

func (c *call) close() {
	if c.leg != nil {
		c.leg.Close()
	}
	for i := len(c.closers) - 1; i >= 0; i-- {
		c.closers[i]()
	}
}

// onBye takes the product's BYE of our dialog.
func (c *call) onBye(req *sip.Request, tx sip.ServerTransaction) {
	c.mu.Lock()
	dlg := c.dlg
	c.mu.Unlock()
	if dlg == nil || req.CallID() == nil || req.CallID().Value() != dlg.InviteRequest.CallID().Value() {
		tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
		return
	}
	dlg.ReadBye(req, tx)
	c.byeOnce.Do(func() {
		if h := req.GetHeader("Reason"); h != nil {
			c.reason = h.Value()
		}
		close(c.bye)
	})
}

// run places the call and stays on it.
func (c *call) run(ctx context.Context) {
	res := c.res
	leg, err := c.engine.NewLeg(media.LegConfig{Format: media.Format{Codec: audio.PCMU}})
	if err != nil {
		res.Path, res.Failure = Unanswered, "no RTP port: "+err.Error()
		return
	}
	c.leg = leg
	leg.SetTap(c.keep)
	req := c.invite(leg.LocalAddr())
	rctx, cancel := context.WithTimeout(ctx, c.cfg.Duration)
	defer cancel()
	start := time.Now()
	dlg, err := c.dua.WriteInvite(rctx, req)
	if err != nil {
		res.Path, res.Failure = Unanswered, "the INVITE could not be sent: "+err.Error()
		return
	}
	c.mu.Lock()
	c.dlg = dlg
	c.mu.Unlock()
	err = dlg.WaitAnswer(rctx, sipgo.AnswerOptions{OnResponse: func(r *sip.Response) error {
		if r.StatusCode == 180 || r.StatusCode == 183 {
			res.Rang = true
		}
		return nil
	}})
	res.Setup = Seconds(time.Since(start))
	if r := dlg.InviteResponse; r != nil && r.StatusCode >= 200 {
		res.Code, res.Reason = r.StatusCode, r.Reason
	}
	if err != nil {
		if res.Code >= 300 {
			res.Path = Refused
			return
		}
		res.Path, res.Failure = Unanswered, "no final answer within "+c.cfg.Duration.String()
		if ctx.Err() == nil && rctx.Err() == nil {
			res.Failure = "the call failed: " + err.Error()
		}
		return
	}
	answer, err := sdp.Parse(dlg.InviteResponse.Body())
	if err == nil {
		var codec audio.Codec
		if codec, err = sdp.Choose(answer, audio.Codecs[:]); err == nil {
			res.Codec = codec.String()
			leg.SetFormat(media.Format{Codec: codec, DTMF: answer.DTMF})
			leg.SetRemote(media.Remote{RTP: answer.Addr, RTCP: answer.RTCP, Sends: answer.Direction.Sends(),
				Receives: answer.Direction.Receives()})
		}
	}
	if err != nil {
		res.Failure = "the answer's SDP is unusable: " + err.Error()
	}
	if err := dlg.Ack(ctx); err != nil {
		res.Failure = "the ACK could not be sent: " + err.Error()
	}
	// The caller's side of the call: silence, as a phone on mute sends.
	silence := make([]byte, audio.FrameSamples)
	for i := range silence {
		silence[i] = audio.Silence(leg.Format().Codec)
	}
	stream := c.engine.Play(leg, [][]byte{silence}, true)
	left := c.cfg.Duration - time.Since(start)
	select {
	case <-c.bye:
		res.HungUpBy, res.HangUpReason = "product", c.reason
	case <-time.After(left):
		res.HungUpBy = "probe"
	case <-ctx.Done():
		res.HungUpBy = "probe"
	}
	stream.Stop()
	if res.HungUpBy == "probe" {
		bctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		dlg.Bye(bctx)
		cancel()
	}
	leg.SetTap(nil)
	q := leg.Quality()
	res.Received = Stream{Packets: q.Received, Lost: q.Lost, Jitter: Seconds(q.Jitter)}
	res.Sent = Stream{Packets: uint32(c.engine.Stats().PacketsSent), Lost: int64(q.PeerLost), Jitter: Seconds(q.PeerJitter)}
	res.RTT = Seconds(q.RTT)
	c.mu.Lock()
	packets := c.packets
	c.mu.Unlock()
	analyze(res, packets)
}

// keep records a packet the product sent (on the engine's reader).
func (c *call) keep(pkt []byte, at time.Duration) {
	pt, ts, _, payload, ok := media.RTPPayload(pkt)
	if !ok {
		return
	}
	p := packet{at: at, pt: pt, marker: pkt[1]&0x80 != 0, ts: ts, payload: append([]byte(nil), payload...)}
	c.mu.Lock()
	c.packets = append(c.packets, p)
	c.mu.Unlock()
}

// invite builds the INVITE: from the probe's number, to the target, an
// offer of both laws and telephone events, a Diversion when asked.
func (c *call) invite(rtp netip.AddrPort) *sip.Request {
	req := sip.NewRequest(sip.INVITE, c.target)
	req.SetTransport(strings.ToUpper(c.cfg.Transport))
	ip := c.cfg.LocalIP.String()
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: c.cfg.From, Host: ip}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: c.target.User, Host: c.target.Host, Port: c.target.Port}, Params: sip.NewParams()})
	req.AppendHeader(&c.dua.ContactHDR)
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	if c.cfg.DivertedFrom != "" {
		req.AppendHeader(sip.NewHeader("Diversion", "<sip:"+c.cfg.DivertedFrom+"@"+ip+">;reason=unconditional;counter=1"))
	}
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(sdp.Offer(sdp.Session{ID: uint64(time.Now().Unix()), Version: 1, Addr: rtp},
		sdp.Local{Codecs: audio.Codecs[:], DTMF: sdp.DefaultDTMF, Dir: sdp.SendRecv}))
	return req
}
