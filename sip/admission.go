package sip

import (
	"net/netip"
	"strconv"
	"time"

	"github.com/emiago/sipgo/sip"
)

// rejection is a request refused before a call starts.
type rejection struct {
	code    int
	reason  string
	headers []sip.Header
}

// admit applies the checks every new INVITE passes before routing: a
// trusted source, a sane request, the loop mark, capacity.
func (s *Server) admit(req *sip.Request) *rejection {
	log := s.log.With().Str("call_id", callID(req)).Str("source", req.Source()).Logger()
	if !s.trusted(req) {
		log.Warn().Msg("INVITE from an untrusted address refused")
		return &rejection{code: 403, reason: "Forbidden"}
	}
	if rej := invalid(req); rej != nil {
		return rej
	}
	if req.Contact() == nil {
		return &rejection{code: 400, reason: "Bad Request: Contact is required"}
	}
	if req.GetHeader(LoopHeader) != nil {
		log.Info().Msg("our own outbound call came back: loop refused")
		return &rejection{code: 482, reason: "Loop Detected"}
	}
	retry := retryAfter(5 * time.Second)
	if s.draining.Load() {
		return &rejection{code: 503, reason: "Service Unavailable", headers: []sip.Header{retry}}
	}
	if s.ActiveCalls() >= s.cfg.MaxCalls {
		log.Warn().Int("limit", s.cfg.MaxCalls).Msg("call limit reached")
		return &rejection{code: 503, reason: "Service Unavailable", headers: []sip.Header{retry}}
	}
	if why := s.overload.verdict(s.ActiveCalls()); why != "" {
		s.logShed(why)
		return &rejection{code: 503, reason: "Service Unavailable", headers: []sip.Header{retryAfter(shedRetryAfter)}}
	}
	return nil
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

func callID(req *sip.Request) string {
	if id := req.CallID(); id != nil {
		return id.Value()
	}
	return ""
}

func retryAfter(d time.Duration) sip.Header {
	return sip.NewHeader("Retry-After", strconv.Itoa(int(d.Seconds())))
}

// netipAddrPort reads a host:port source address.
func netipAddrPort(hostPort string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(hostPort)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}
