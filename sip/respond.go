package sip

import (
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// What the handler's messages are made of: the rejection of a request,
// the headers that say what we are and take, our Contact and listening
// ports, the answer itself. Every file that answers or sends uses these;
// this one uses none of them.

// LoopHeader marks the product's own outbound INVITEs: an INVITE that
// carries it is one of ours coming back, and is refused with 482.
const LoopHeader = "X-PhoneDiversions-Loop"

// The methods and extensions we take, for Allow and Supported.
const (
	allowed   = "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE"
	supported = "timer"
)

// rejection is a request refused before a call starts.
type rejection struct {
	code    int
	reason  string
	headers []sip.Header
}

// optionsRetryAfter is the Retry-After of an OPTIONS answered 503, in
// seconds.
const optionsRetryAfter = 5

// retryAfter is a Retry-After header of d, in whole seconds.
func retryAfter(d time.Duration) sip.Header {
	return sip.NewHeader("Retry-After", strconv.Itoa(int(d.Seconds())))
}

// callID returns a request's Call-ID, "" when it has none.
func callID(req *sip.Request) string {
	if id := req.CallID(); id != nil {
		return id.Value()
	}
	return ""
}

// capabilities are the headers that say what we are and take, added to
// 200 answers: Allow, Supported, Server.
func (s *Server) capabilities(more ...sip.Header) []sip.Header {
	return append([]sip.Header{sip.NewHeader("Allow", allowed), sip.NewHeader("Supported", supported),
		sip.NewHeader("Server", s.userAgent)}, more...)
}

// respond answers a request within its transaction, logging a failure to
// send.
func (s *Server) respond(tx sip.ServerTransaction, req *sip.Request, code int, reason string, headers ...sip.Header) {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	for _, h := range headers {
		res.AppendHeader(h)
	}
	if err := tx.Respond(res); err != nil {
		s.log.Debug().Err(err).Int("code", code).Msg("sip: respond")
	}
}

// contact returns our Contact header for requests and responses over a
// transport: the port of that listener, transport named, and sips for TLS.
// sipgo changes the Contact of a request in place, so none is shared.
func (s *Server) contact(transport string) sip.ContactHeader {
	u := sip.Uri{Scheme: "sip", Host: s.cfg.AdvertiseIP.String(), UriParams: sip.NewParams()}
	switch strings.ToLower(transport) {
	case "tls":
		u.Scheme, u.Port = "sips", s.TLSPort()
	case "tcp":
		u.Port = s.TCPPort()
		u.UriParams.Add("transport", "tcp")
	default:
		u.Port = s.UDPPort()
		if u.Port == 0 { // no UDP listener
			u.Port = s.TCPPort()
			u.UriParams.Add("transport", "tcp")
		}
	}
	return sip.ContactHeader{Address: u}
}

// responseContact returns our Contact header for responses over a
// transport: one value per transport, shared by every response (sipgo
// changes the Contact of no response), rather than one more header kept
// with each call's 200.
func (s *Server) responseContact(transport string) *sip.ContactHeader {
	switch {
	case strings.EqualFold(transport, "tls"):
		return s.contacts.tls
	case strings.EqualFold(transport, "tcp"):
		return s.contacts.tcp
	}
	return s.contacts.udp // contact gives every other transport the UDP listener's
}

// dialogUA returns the dialog agent for a transport.
func (s *Server) dialogUA(transport string) *sipgo.DialogUA {
	if strings.EqualFold(transport, "udp") {
		return s.udpUA
	}
	return s.streamUA
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
