// Package sip is the back-to-back user agent: it takes calls from a SIP
// trunk (CUCM or any PBX), asks routing what to do with each, plays the
// announcement through media, places the outbound leg through the next hop
// and relays the two legs, and writes one report entry per call.
package sip

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/phonediversions/phonediversions/media"
	"github.com/phonediversions/phonediversions/prompts"
	"github.com/phonediversions/phonediversions/routing"
)

// Router is what the call handler needs of the routing service.
type Router interface {
	DecideCall(ctx context.Context, call routing.Call) (routing.Decision, error)
	// RecordCall writes a call's report entry, filling in the username.
	RecordCall(ctx context.Context, e routing.ReportEntry) error
}

// Announcements gives the announcement to play; id 0 is the built-in one.
type Announcements interface {
	Get(id int64) (*prompts.Prompt, error)
	Builtin() *prompts.Prompt
}

// LoopHeader marks the product's own outbound INVITEs: an INVITE that
// carries it is one of ours coming back, and is refused with 482.
const LoopHeader = "X-PhoneDiversions-Loop"

// Config configures the call handler.
type Config struct {
	// ListenIP is the address the SIP listeners bind to.
	ListenIP netip.Addr
	// UDPPort and TCPPort are the listening ports; 0 picks a free port,
	// -1 disables the transport.
	UDPPort, TCPPort int
	// TLSPort is the SIP over TLS port (0 picks a free one, -1 none) and
	// TLS its certificate; TLS nil disables the transport.
	TLSPort int
	TLS     *tls.Config
	// AdvertiseIP is the address written in Contact and SDP; unset means
	// ListenIP, or the loopback address when ListenIP is unspecified.
	AdvertiseIP netip.Addr
	// Trusted are the networks allowed to send INVITEs.
	Trusted []netip.Prefix
	// NextHop is the host:port of the PBX outbound legs are sent to, and
	// NextHopTransport its transport (udp or tcp).
	NextHop          string
	NextHopTransport string
	// RingTimeout is how long an outbound leg may ring.
	RingTimeout time.Duration
	// MediaTimeout ends a call whose peer sends no RTP for this long; 0
	// disables it.
	MediaTimeout time.Duration
	// MaxCalls limits concurrent calls; above it INVITEs get 503.
	MaxCalls int
	// EarlyMedia plays the announcement in a 183 session instead of
	// answering first.
	EarlyMedia bool
	// Ringback is the tone an answered caller hears while the far leg rings.
	Ringback media.Tone
}

// Server is the running call handler.
type Server struct {
	cfg     Config
	router  Router
	prompts Announcements
	media   *media.Engine
	log     zerolog.Logger

	ua     *sipgo.UserAgent
	srv    *sipgo.Server
	client *sipgo.Client
	dua    *sipgo.DialogUA
	token  string // value of our loop mark
	udp    *net.UDPConn
	tcp    *net.TCPListener
	tls    net.Listener
	parser *sip.Parser
	rtpIP  netip.Addr

	ringback [2][][]byte // by media codec: PCMU, PCMA

	mu       sync.Mutex
	dialogs  map[string]dialogRef // in-dialog requests find their call here
	ringing  map[string]int       // caller|target of outbound legs still ringing
	calls    map[*call]struct{}
	draining atomic.Bool
	active   atomic.Int64
	wg       sync.WaitGroup
	stats    Stats

	closeOnce sync.Once
	closeErr  error
}

// Stats are the call counters the metrics endpoint reads.
type Stats struct {
	Calls    atomic.Uint64 // INVITEs that started a call
	Rejected atomic.Uint64 // INVITEs refused (403, 404, 482, 483, 503, …)
	ended    [len(outcomes)]atomic.Uint64
}

// outcomes are the report statuses a handled call ends with.
var outcomes = [...]routing.Status{routing.StatusConnected, routing.StatusDirectAccess, routing.StatusTerminated,
	routing.StatusBusy, routing.StatusNoAnswer, routing.StatusFailed, routing.StatusCancelled}

// countEnded counts a call that ended with the status.
func (st *Stats) countEnded(status routing.Status) {
	for i, o := range outcomes {
		if o == status {
			st.ended[i].Add(1)
			return
		}
	}
}

// Ended returns how many calls ended with each outcome.
func (st *Stats) Ended() map[routing.Status]uint64 {
	out := make(map[routing.Status]uint64, len(outcomes))
	for i, o := range outcomes {
		out[o] = st.ended[i].Load()
	}
	return out
}

// New builds a call handler. Nothing listens until Listen.
func New(cfg Config, router Router, ann Announcements, engine *media.Engine, log zerolog.Logger) (*Server, error) {
	if cfg.RingTimeout <= 0 {
		cfg.RingTimeout = 60 * time.Second
	}
	if cfg.MaxCalls <= 0 {
		cfg.MaxCalls = 1000
	}
	if cfg.NextHopTransport == "" {
		cfg.NextHopTransport = "udp"
	}
	if len(cfg.Ringback.Freqs) == 0 {
		cfg.Ringback = media.RingbackEurope()
	}
	if !cfg.AdvertiseIP.IsValid() {
		cfg.AdvertiseIP = cfg.ListenIP
		if !cfg.AdvertiseIP.IsValid() || cfg.AdvertiseIP.IsUnspecified() {
			cfg.AdvertiseIP = netip.MustParseAddr("127.0.0.1")
		}
	}
	tok := make([]byte, 8)
	rand.Read(tok)
	s := &Server{cfg: cfg, router: router, prompts: ann, media: engine, log: log,
		token: hex.EncodeToString(tok), rtpIP: cfg.AdvertiseIP,
		dialogs: map[string]dialogRef{}, ringing: map[string]int{}, calls: map[*call]struct{}{}}
	s.ringback = [2][][]byte{cfg.Ringback.Frames(media.PCMU), cfg.Ringback.Frames(media.PCMA)}
	slogger := slog.New(newSlogHandler(log))
	s.parser = sip.NewParser()
	var err error
	s.ua, err = sipgo.NewUA(sipgo.WithUserAgent("PhoneDiversions"),
		sipgo.WithUserAgentHostname(cfg.AdvertiseIP.String()),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(slogger)),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(slogger),
			sip.WithTransportLayerReadFilter(s.readFilter)),
	)
	if err != nil {
		return nil, err
	}
	if s.srv, err = sipgo.NewServer(s.ua, sipgo.WithServerLogger(slogger)); err != nil {
		return nil, err
	}
	s.srv.OnInvite(s.onInvite)
	s.srv.OnAck(s.onAck)
	s.srv.OnBye(s.onBye)
	s.srv.OnCancel(s.onCancel)
	s.srv.OnOptions(s.onOptions)
	s.srv.OnUpdate(s.onUpdate)
	return s, nil
}

// Listen binds the listeners and serves them until ctx ends. It returns
// once the sockets are bound, so their ports are known.
func (s *Server) Listen(ctx context.Context) error {
	if s.cfg.UDPPort >= 0 {
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(s.cfg.ListenIP, uint16(s.cfg.UDPPort))))
		if err != nil {
			return fmt.Errorf("sip: listen udp: %w", err)
		}
		s.udp = c
	}
	if s.cfg.TCPPort >= 0 {
		l, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(s.cfg.ListenIP, uint16(s.cfg.TCPPort))))
		if err != nil {
			s.Close()
			return fmt.Errorf("sip: listen tcp: %w", err)
		}
		s.tcp = l
	}
	if s.cfg.TLS != nil && s.cfg.TLSPort >= 0 {
		l, err := tls.Listen("tcp", netip.AddrPortFrom(s.cfg.ListenIP, uint16(s.cfg.TLSPort)).String(), s.cfg.TLS)
		if err != nil {
			s.Close()
			return fmt.Errorf("sip: listen tls: %w", err)
		}
		s.tls = l
	}
	// Outbound requests leave from the listening UDP port, so that the
	// PBX sees one address for the trunk.
	opts := []sipgo.ClientOption{sipgo.WithClientHostname(s.cfg.AdvertiseIP.String()),
		sipgo.WithClientLogger(slog.New(newSlogHandler(s.log)))}
	if s.udp != nil {
		opts = append(opts, sipgo.WithClientPort(s.UDPPort()))
	}
	var err error
	if s.client, err = sipgo.NewClient(s.ua, opts...); err != nil {
		s.Close()
		return err
	}
	s.dua = &sipgo.DialogUA{Client: s.client, ContactHDR: s.contact()}
	if s.udp != nil {
		go s.srv.ServeUDP(s.udp)
	}
	if s.tcp != nil {
		go s.srv.ServeTCP(s.tcp)
	}
	if s.tls != nil {
		go s.srv.ServeTLS(s.tls)
	}
	go func() {
		<-ctx.Done()
		s.Close()
	}()
	return nil
}

// contact returns a new Contact header of ours (sipgo changes the Contact
// of a request in place, so none is shared).
func (s *Server) contact() sip.ContactHeader {
	port := s.UDPPort()
	if port == 0 {
		port = s.TCPPort()
	}
	return sip.ContactHeader{Address: sip.Uri{Scheme: "sip", Host: s.cfg.AdvertiseIP.String(), Port: port}}
}

// UDPPort returns the bound UDP port, 0 when UDP is off.
func (s *Server) UDPPort() int {
	if s.udp == nil {
		return 0
	}
	return s.udp.LocalAddr().(*net.UDPAddr).Port
}

// TCPPort returns the bound TCP port, 0 when TCP is off.
func (s *Server) TCPPort() int {
	if s.tcp == nil {
		return 0
	}
	return s.tcp.Addr().(*net.TCPAddr).Port
}

// TLSPort returns the bound TLS port, 0 when TLS is off.
func (s *Server) TLSPort() int {
	if s.tls == nil {
		return 0
	}
	return s.tls.Addr().(*net.TCPAddr).Port
}

// ActiveCalls returns the number of calls in progress.
func (s *Server) ActiveCalls() int { return int(s.active.Load()) }

// Stats returns the call counters.
func (s *Server) Stats() *Stats { return &s.stats }

// Ready returns nil while the call handler listens and takes calls.
func (s *Server) Ready() error {
	switch {
	case s.draining.Load():
		return errors.New("refusing new calls: stopping")
	case s.udp == nil && s.tcp == nil && s.tls == nil:
		return errors.New("not listening")
	}
	return nil
}

// Drain refuses new calls (503) and waits for the calls in progress to end
// until ctx ends; then it hangs up those that remain and waits for them to
// be cleaned up.
func (s *Server) Drain(ctx context.Context) {
	s.draining.Store(true)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for s.ActiveCalls() > 0 {
		select {
		case <-ctx.Done():
			s.log.Warn().Int("calls", s.ActiveCalls()).Msg("drain time is up: hanging up the calls in progress")
			s.mu.Lock()
			for c := range s.calls {
				c.abort(errShutdown)
			}
			s.mu.Unlock()
			s.wg.Wait()
			return
		case <-tick.C:
		}
	}
}

// Close stops the listeners. Calls after the first do nothing.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		if s.udp != nil {
			errs = append(errs, ignoreClosed(s.udp.Close()))
		}
		if s.tcp != nil {
			errs = append(errs, ignoreClosed(s.tcp.Close()))
		}
		if s.tls != nil {
			errs = append(errs, ignoreClosed(s.tls.Close()))
		}
		errs = append(errs, s.ua.Close())
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

func ignoreClosed(err error) error {
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// trusted reports whether a request's source is an allowed trunk peer.
func (s *Server) trusted(req *sip.Request) bool {
	host, _, err := net.SplitHostPort(req.Source())
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	for _, p := range s.cfg.Trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// respond answers a request statelessly within its transaction, logging a
// failure to send.
func (s *Server) respond(tx sip.ServerTransaction, req *sip.Request, code int, reason string, headers ...sip.Header) {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	for _, h := range headers {
		res.AppendHeader(h)
	}
	if err := tx.Respond(res); err != nil {
		s.log.Debug().Err(err).Int("code", code).Msg("sip: respond")
	}
}

// refuseInvalid answers an unsound request and reports whether it did.
func (s *Server) refuseInvalid(req *sip.Request, tx sip.ServerTransaction) bool {
	rej := invalid(req)
	if rej == nil {
		return false
	}
	s.stats.Rejected.Add(1)
	s.respond(tx, req, rej.code, rej.reason, rej.headers...)
	return true
}

func (s *Server) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	if s.refuseInvalid(req, tx) {
		return
	}
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	res.AppendHeader(sip.NewHeader("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE"))
	res.AppendHeader(sip.NewHeader("Accept", "application/sdp"))
	if err := tx.Respond(res); err != nil {
		s.log.Debug().Err(err).Msg("sip: respond to OPTIONS")
	}
}

// onCancel answers a CANCEL that matched no INVITE transaction (a matching
// one is answered by the transaction layer).
func (s *Server) onCancel(req *sip.Request, tx sip.ServerTransaction) {
	s.respond(tx, req, 481, "Call/Transaction Does Not Exist")
}

// dialogRef is a dialog of a call: the caller's (far false) or the far
// party's.
type dialogRef struct {
	c   *call
	far bool
}

// register makes in-dialog requests with this dialog id reach c.
func (s *Server) register(id string, c *call, far bool) {
	s.mu.Lock()
	s.dialogs[id] = dialogRef{c: c, far: far}
	s.mu.Unlock()
}

func (s *Server) unregister(id string) {
	s.mu.Lock()
	delete(s.dialogs, id)
	s.mu.Unlock()
}

// lookup finds the call of an in-dialog request, whichever side sent it.
func (s *Server) lookup(req *sip.Request) (dialogRef, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, err := sip.DialogIDFromRequestUAS(req); err == nil {
		if d, ok := s.dialogs[id]; ok && !d.far {
			return d, true
		}
	}
	if id, err := sip.DialogIDFromRequestUAC(req); err == nil {
		if d, ok := s.dialogs[id]; ok && d.far {
			return d, true
		}
	}
	return dialogRef{}, false
}

func (s *Server) onAck(req *sip.Request, tx sip.ServerTransaction) {
	if d, ok := s.lookup(req); ok {
		d.c.onAck(req, tx, d.far)
	}
}

// inDialog hands a sound in-dialog request to its dialog's call; 481 when
// there is no such dialog.
func (s *Server) inDialog(req *sip.Request, tx sip.ServerTransaction, handle func(dialogRef)) {
	if s.refuseInvalid(req, tx) {
		return
	}
	d, ok := s.lookup(req)
	if !ok {
		s.respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	handle(d)
}

func (s *Server) onBye(req *sip.Request, tx sip.ServerTransaction) {
	s.inDialog(req, tx, func(d dialogRef) { d.c.onBye(req, tx, d.far) })
}

func (s *Server) onUpdate(req *sip.Request, tx sip.ServerTransaction) {
	s.inDialog(req, tx, func(d dialogRef) { d.c.onRefresh(req, tx, d.far) })
}

// ringKey identifies an outbound leg still ringing, to recognise the same
// call forwarded back to us by a PBX.
func ringKey(caller, target string) string { return caller + "|" + target }

func (s *Server) addRinging(key string, delta int) {
	s.mu.Lock()
	s.ringing[key] += delta
	if s.ringing[key] <= 0 {
		delete(s.ringing, key)
	}
	s.mu.Unlock()
}

func (s *Server) isRinging(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ringing[key] > 0
}

// nextHopURI returns the URI of a number at the next hop.
func (s *Server) nextHopURI(number string) (sip.Uri, error) {
	host, portStr, err := net.SplitHostPort(s.cfg.NextHop)
	if err != nil {
		return sip.Uri{}, fmt.Errorf("sip: next hop %q: %w", s.cfg.NextHop, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return sip.Uri{}, fmt.Errorf("sip: next hop port %q", portStr)
	}
	u := sip.Uri{Scheme: "sip", User: number, Host: host, Port: port}
	if s.cfg.NextHopTransport != "udp" {
		u.UriParams = sip.NewParams()
		u.UriParams.Add("transport", s.cfg.NextHopTransport)
	}
	return u, nil
}
