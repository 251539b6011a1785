// Package sip is the back-to-back user agent: it takes calls from a SIP
// trunk (CUCM or any PBX), asks routing what to do with each, plays the
// announcement through media, places the far leg through the next hop and
// relays the two legs, and writes one report entry per call.
//
// One call, as it happens, passes through the files in this order:
// server.go (the listeners hand the INVITE over), admission.go (checks
// every new INVITE passes), call.go (the call from INVITE to its end),
// identity.go (who calls, and their privacy), callerleg.go (the caller's
// dialog: ringing, answer, refresh, hold, hang-up), mediabind.go (the SDP
// of a leg bound to its RTP), farleg.go (the far party's dialog),
// sessiontimer.go (RFC 4028); the call's report entry and log line are
// at the end of call.go. dialogs.go finds the call of an in-dialog
// request; stack.go holds what the SIP stack needs done for it;
// respond.go what answers are made of. overload.go measures the node's
// load and decides whether it takes new calls, malformed.go answers what
// cannot be parsed.
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
)

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
	// NextHop is the host:port of the PBX far legs are sent to, and
	// NextHopTransport its transport (udp or tcp).
	NextHop          string
	NextHopTransport string
	// RingTimeout is how long a far leg may ring.
	RingTimeout time.Duration
	// MediaTimeout ends a call whose peer sends no RTP for this long; 0
	// disables it.
	MediaTimeout time.Duration
	// MaxCalls limits concurrent calls; above it INVITEs get 503. Below
	// it the overload control (overload.go) refuses calls the node could
	// not carry well, without configuration.
	MaxCalls int
	// OverloadFloor is the number of calls in progress below which the
	// overload control refuses nothing on its measures; 0 means 100, a
	// negative value none.
	OverloadFloor int
	// EarlyMedia plays the announcement in a 183 session instead of
	// answering first.
	EarlyMedia bool
	// Ringback is the tone an answered caller hears while the far leg rings.
	Ringback media.Tone
	// Version names this build in Server and User-Agent.
	Version string
	// SessionExpires is the session interval we ask for when the caller
	// asks for none but supports timers (RFC 4028); 0 means 1800 s. MinSE
	// is the shortest we take; 0 means 90 s, RFC 4028's floor (tests
	// lower it).
	SessionExpires time.Duration
	MinSE          time.Duration
	// Healthy reports whether the node may take calls besides listening
	// (nil: its store answers); while it does not, and while the server
	// starts or drains, OPTIONS are answered 503, so that the PBX (CUCM's
	// OPTIONS ping, Kamailio's dispatcher) takes the node out of rotation.
	// Nil: always healthy.
	Healthy func() error

	// adjustLoad, when set, changes each look's measures (tests).
	adjustLoad func(Load) Load
	// idle, when set, is called each time the load watcher goes idle,
	// before it waits for a call to start (tests).
	idle func()
}

// Server is the running call handler.
type Server struct {
	cfg     Config
	router  Router
	prompts Announcements
	media   *media.Engine
	log     zerolog.Logger

	ua        *sipgo.UserAgent
	srv       *sipgo.Server
	udpUA     *sipgo.DialogUA                            // dialogs over UDP: requests leave from the listening socket
	streamUA  *sipgo.DialogUA                            // dialogs over TCP and TLS
	contacts  struct{ udp, tcp, tls *sip.ContactHeader } // our Contact in responses, by transport
	token     string                                     // value of our loop mark
	userAgent string
	udp       *udpConn
	tcp       *net.TCPListener
	tls       net.Listener
	parser    *sip.Parser
	rtpIP     netip.Addr

	ringback [2][][]byte // by codec: PCMU, PCMA

	dialogs  dialogs
	ringing  ringing
	mu       sync.Mutex
	calls    map[*call]struct{}
	draining atomic.Bool
	active   atomic.Int64
	wg       sync.WaitGroup
	stats    Stats

	overload *overload
	loadKick chan struct{} // wakes the load watcher when a call starts
	paced    [2]uint64     // the pacer's packets sent and late at the last look
	stop     chan struct{} // closed by Close

	closeOnce sync.Once
	closeErr  error
}

// New builds a call handler. Nothing listens until Listen.
func New(cfg Config, router Router, ann Announcements, engine *media.Engine, log zerolog.Logger) (*Server, error) {
	if cfg.RingTimeout <= 0 {
		cfg.RingTimeout = 60 * time.Second
	}
	if cfg.MaxCalls <= 0 {
		cfg.MaxCalls = 1000
	}
	switch {
	case cfg.OverloadFloor == 0:
		cfg.OverloadFloor = defaultOverloadFloor
	case cfg.OverloadFloor < 0:
		cfg.OverloadFloor = 0
	}
	if cfg.NextHopTransport == "" {
		cfg.NextHopTransport = "udp"
	}
	if len(cfg.Ringback.Freqs) == 0 {
		cfg.Ringback = media.RingbackEurope()
	}
	if cfg.SessionExpires <= 0 {
		cfg.SessionExpires = 1800 * time.Second
	}
	if cfg.MinSE <= 0 {
		cfg.MinSE = defaultMinSE
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
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
		token: hex.EncodeToString(tok), rtpIP: cfg.AdvertiseIP, userAgent: "PhoneDiversions/" + cfg.Version,
		dialogs: dialogs{byID: map[string]dialogRef{}}, ringing: ringing{legs: map[string][]ringingLeg{}},
		calls: map[*call]struct{}{}, overload: newOverload(cfg.MaxCalls, cfg.OverloadFloor),
		loadKick: make(chan struct{}, 1), stop: make(chan struct{})}
	s.ringback = [2][][]byte{cfg.Ringback.Frames(0), cfg.Ringback.Frames(8)}
	slogger := slog.New(NewSlogHandler(log))
	s.parser = newParser()
	var err error
	s.ua, err = sipgo.NewUA(sipgo.WithUserAgent(s.userAgent), sipgo.WithUserAgentParser(s.parser),
		sipgo.WithUserAgentHostname(cfg.AdvertiseIP.String()),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(slogger),
			sip.WithTransactionLayerUnhandledResponseHandler(s.onStrayResponse)),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(slogger),
			sip.WithTransportLayerReadFilter(s.readFilter), sip.WithTransportLayerMessageFilter(s.readMessage)),
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
	s.srv.OnNoRoute(s.onUnknownMethod)
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
		if s.udp, err = newUDPConn(c, &s.stats.readWait); err != nil {
			c.Close()
			return fmt.Errorf("sip: listen udp: %w", err)
		}
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
	logOpt := sipgo.WithClientLogger(slog.New(NewSlogHandler(s.log)))
	host := sipgo.WithClientHostname(s.cfg.AdvertiseIP.String())
	stream, err := sipgo.NewClient(s.ua, host, logOpt)
	if err != nil {
		s.Close()
		return err
	}
	udp, tcp, tls := s.contact("udp"), s.contact("tcp"), s.contact("tls")
	s.contacts.udp, s.contacts.tcp, s.contacts.tls = &udp, &tcp, &tls
	s.streamUA = &sipgo.DialogUA{Client: stream, ContactHDR: s.contact("tcp")}
	s.udpUA = s.streamUA
	if s.udp != nil {
		// Requests over UDP leave from the listening socket that Via and
		// Contact name, so that the PBX sees one address for the trunk.
		udp, err := sipgo.NewClient(s.ua, host, logOpt, sipgo.WithClientPort(s.UDPPort()),
			sipgo.WithClientConnectionAddr(s.udp.LocalAddr().String()))
		if err != nil {
			s.Close()
			return err
		}
		s.udpUA = &sipgo.DialogUA{Client: udp, ContactHDR: s.contact("udp")}
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
	go s.watchLoad()
	return nil
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
				c.end(errShutdown)
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
		close(s.stop)
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

// onInvite takes every INVITE: a re-INVITE goes to its call, a new INVITE
// is admitted and becomes a call. The handler runs the call until the
// INVITE is answered and acknowledged (sipgo ends the transaction when the
// handler returns); an announcement then plays without it, and the call
// goes on from the announcement's end (call.go).
func (s *Server) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if hasToTag(req) {
		s.inDialog(req, tx, func(d dialogRef) { d.c.onRefresh(req, tx, d.far) })
		return
	}
	if rej := s.admit(req); rej != nil {
		s.stats.Rejected.Add(1)
		s.respond(tx, req, rej.code, rej.reason, rej.headers...)
		return
	}
	s.active.Add(1)
	s.wg.Add(1)
	settled := s.overload.begin(time.Now())
	select {
	case s.loadKick <- struct{}{}:
	default:
	}
	s.stats.Calls.Add(1)
	c := newCall(s, req, tx)
	c.settled = settled
	s.mu.Lock()
	s.calls[c] = struct{}{}
	s.mu.Unlock()
	c.release = func() {
		settled(time.Now())
		s.mu.Lock()
		delete(s.calls, c)
		s.mu.Unlock()
		s.active.Add(-1)
		s.wg.Done()
	}
	c.run()
}

func (s *Server) onAck(req *sip.Request, tx sip.ServerTransaction) {
	if d, ok := s.dialogs.lookup(req); ok {
		d.c.onAck(req, tx, d.far)
	}
}

func (s *Server) onBye(req *sip.Request, tx sip.ServerTransaction) {
	s.inDialog(req, tx, func(d dialogRef) { d.c.onBye(req, tx, d.far) })
}

func (s *Server) onUpdate(req *sip.Request, tx sip.ServerTransaction) {
	s.inDialog(req, tx, func(d dialogRef) { d.c.onRefresh(req, tx, d.far) })
}

// inDialog hands a sound in-dialog request to its dialog's call; 481 when
// there is no such dialog.
func (s *Server) inDialog(req *sip.Request, tx sip.ServerTransaction, handle func(dialogRef)) {
	if s.refuseInvalid(req, tx) {
		return
	}
	d, ok := s.dialogs.lookup(req)
	if !ok {
		s.respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	handle(d)
}

// onCancel answers a CANCEL that matched no INVITE transaction (a matching
// one is answered by the transaction layer).
func (s *Server) onCancel(req *sip.Request, tx sip.ServerTransaction) {
	s.respond(tx, req, 481, "Call/Transaction Does Not Exist")
}

// onOptions answers OPTIONS (the trunk's keep-alive) with what we take.
// While the node is not ready (stopping, or its store not answering) it
// answers 503, so that the PBX sends calls to another node.
func (s *Server) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	if s.refuseInvalid(req, tx) {
		return
	}
	err := s.Ready()
	if err == nil && s.cfg.Healthy != nil {
		err = s.cfg.Healthy()
	}
	if err == nil {
		if why := s.overload.verdict(s.ActiveCalls()); why != "" {
			err = errors.New("overloaded: " + why)
		}
	}
	if err != nil {
		s.log.Debug().Err(err).Msg("OPTIONS answered 503: not ready")
		s.respond(tx, req, 503, "Service Unavailable", sip.NewHeader("Retry-After", strconv.Itoa(optionsRetryAfter)))
		return
	}
	s.respond(tx, req, 200, "OK", s.capabilities(sip.NewHeader("Accept", "application/sdp"))...)
}

// onUnknownMethod answers a method we do not take (RFC 3261 8.2.1).
func (s *Server) onUnknownMethod(req *sip.Request, tx sip.ServerTransaction) {
	if req.IsAck() {
		return
	}
	s.respond(tx, req, 405, "Method Not Allowed", sip.NewHeader("Allow", allowed))
}

// onStrayResponse takes a response no transaction awaits: a
// retransmission of a final response already taken.
func (s *Server) onStrayResponse(res *sip.Response) {
	s.log.Debug().Str("response", res.Short()).Msg("response of no transaction (a retransmission)")
}
