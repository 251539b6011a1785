package sip

import (
	"hash/fnv"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"
)

// admit applies the checks every new INVITE passes before routing: a
// trusted source, a sane request, the loop mark, capacity.
func (s *Server) admit(req *sip.Request) *rejection {
	if !s.trusted(req) {
		s.admitLog(req).Warn().Msg("INVITE from an untrusted address refused")
		return &rejection{code: 403, reason: "Forbidden"}
	}
	if rej := invalid(req); rej != nil {
		return rej
	}
	if req.Contact() == nil {
		return &rejection{code: 400, reason: "Bad Request: Contact is required"}
	}
	if req.GetHeader(LoopHeader) != nil {
		s.admitLog(req).Info().Msg("our own outbound call came back: loop refused")
		return &rejection{code: 482, reason: "Loop Detected"}
	}
	retry := retryAfter(5 * time.Second)
	if s.draining.Load() {
		return &rejection{code: 503, reason: "Service Unavailable", headers: []sip.Header{retry}}
	}
	if int(s.active.Load()) >= s.cfg.MaxCalls {
		s.admitLog(req).Warn().Int("limit", s.cfg.MaxCalls).Msg("call limit reached")
		return &rejection{code: 503, reason: "Service Unavailable", headers: []sip.Header{retry}}
	}
	if why := s.overload.verdict(int(s.active.Load())); why != "" {
		s.logShed(why)
		return &rejection{code: 503, reason: "Service Unavailable", headers: []sip.Header{retryAfter(shedRetryAfter)}}
	}
	return nil
}

// admitLog returns the logger for a line about an INVITE's admission,
// made only when a line is written (a logger with fields reserves 500
// bytes for them).
func (s *Server) admitLog(req *sip.Request) *zerolog.Logger {
	log := s.log.With().Str("call_id", callID(req)).Str("source", req.Source()).Logger()
	return &log
}

// trusted reports whether a request's source is an allowed trunk peer.
func (s *Server) trusted(req *sip.Request) bool {
	ap, err := netipAddrPort(req.Source())
	if err != nil {
		return false
	}
	for _, p := range s.cfg.Trusted {
		if p.Contains(ap.Addr()) {
			return true
		}
	}
	return false
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

// netipAddrPort reads a host:port source address.
func netipAddrPort(hostPort string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(hostPort)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

// readMessage sees each datagram once the stack parsed it: one that did
// not parse is answered 400 when it can be and dropped, a new INVITE the
// node must refuse for overload is answered 503 at once (shedStateless);
// anything else goes on to the stack.
func (s *Server) readMessage(props sip.TransportReadProps, data []byte, msg sip.Message, err error) bool {
	addr, ok := props.RemoteAddr.(*net.UDPAddr)
	if !ok || s.udp == nil {
		return err == nil
	}
	if err != nil {
		if res := badRequest(data); res != nil {
			s.udp.WriteToUDP(res, addr)
		}
		s.log.Debug().Str("source", props.RemoteAddr.String()).Msg("unparsable SIP message dropped")
		return false
	}
	if req, ok := msg.(*sip.Request); ok && req.IsInvite() && !hasToTag(req) {
		return !s.shedStateless(req, addr)
	}
	return true
}

// shedStateless answers a new INVITE over UDP with 503 and Retry-After
// from the socket it came in on, before the stack makes a transaction of
// it, when the node must refuse it for overload; it reports whether it
// did. Refusing costs a parse and a write, so an overloaded node spends
// its time on the calls it took. A retransmission of the INVITE gets the
// same answer, with the same To tag (RFC 3261 8.2.7), and the ACK of the
// 503 matches no transaction and is dropped as any stray ACK. INVITEs
// from untrusted sources, and unsound ones, take the usual way (403,
// 400).
func (s *Server) shedStateless(req *sip.Request, to *net.UDPAddr) bool {
	why := s.overload.verdict(int(s.active.Load()))
	if why == "" || !s.trusted(req) || invalid(req) != nil {
		return false
	}
	res := sip.NewResponseFromRequest(req, 503, "Service Unavailable", nil)
	if t := res.To(); t != nil {
		if t.Params == nil {
			t.Params = sip.NewParams()
		}
		t.Params.Add("tag", s.statelessTag(req))
	}
	res.AppendHeader(retryAfter(shedRetryAfter))
	res.AppendHeader(sip.NewHeader("Server", s.userAgent))
	if _, err := s.udp.WriteToUDP([]byte(res.String()), to); err != nil {
		s.log.Debug().Err(err).Msg("sip: 503 for overload")
	}
	s.stats.Rejected.Add(1)
	s.logShed(why)
	return true
}

// statelessTag is the To tag of a stateless answer: the same for every
// retransmission of a request, different between calls.
func (s *Server) statelessTag(req *sip.Request) string {
	h := fnv.New64a()
	h.Write([]byte(s.token))
	h.Write([]byte(callID(req)))
	if f := req.From(); f != nil {
		tag, _ := f.Params.Get("tag")
		h.Write([]byte(tag))
	}
	return strconv.FormatUint(h.Sum64(), 36)
}

// logShed counts a call refused for overload and logs it, at most once a
// second with the count since the last line.
func (s *Server) logShed(why string) {
	if log, n := s.overload.refused(time.Now()); log {
		s.log.Warn().Str("cause", why).Uint64("refused", n).Int("calls", int(s.active.Load())).
			Int("limit", s.overload.stats().Limit).Msg("overloaded: calls refused with 503")
	}
}
