package sip

import (
	"bytes"
	"net"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// The SIP stack drops a datagram it cannot parse without a word, and the
// sender retransmits it for half a minute. readFilter answers such a
// request with 400 from the listening socket when enough of it is readable
// to address a response (Via, From, To, Call-ID, CSeq), then drops it.
func (s *Server) readFilter(props sip.TransportReadProps, data []byte) ([]byte, error) {
	if !strings.EqualFold(props.Transport, "udp") || s.udp == nil {
		return data, nil
	}
	if _, err := s.parser.ParseSIP(data); err == nil {
		return data, nil
	}
	if res := badRequest(data); res != nil {
		if addr, ok := props.RemoteAddr.(*net.UDPAddr); ok {
			s.udp.WriteToUDP(res, addr)
		}
	}
	s.log.Debug().Str("source", props.RemoteAddr.String()).Msg("unparsable SIP message dropped")
	return nil, nil
}

// badRequest builds a 400 response to the raw request msg, or returns nil
// when msg is no request or lacks what a response needs.
func badRequest(msg []byte) []byte {
	head, _, _ := bytes.Cut(msg, []byte("\r\n\r\n"))
	lines := strings.Split(string(head), "\r\n")
	if len(lines) < 2 {
		return nil
	}
	start := strings.Fields(lines[0])
	if len(start) != 3 || !strings.HasPrefix(start[2], "SIP/") || start[0] == "ACK" || strings.HasPrefix(start[0], "SIP/") {
		return nil
	}
	want := map[string]string{"via": "Via", "v": "Via", "from": "From", "f": "From", "to": "To", "t": "To",
		"call-id": "Call-ID", "i": "Call-ID", "cseq": "CSeq"}
	found := map[string]bool{}
	var b strings.Builder
	b.WriteString("SIP/2.0 400 Bad Request\r\n")
	for _, l := range lines[1:] {
		if l == "" || l[0] == ' ' || l[0] == '\t' {
			continue // folded continuation lines are not copied
		}
		name, value, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		canon, ok := want[strings.ToLower(strings.TrimSpace(name))]
		if !ok || (canon != "Via" && found[canon]) {
			continue
		}
		found[canon] = true
		b.WriteString(canon + ": " + strings.TrimSpace(value) + "\r\n")
	}
	for _, h := range []string{"Via", "From", "To", "Call-ID", "CSeq"} {
		if !found[h] {
			return nil
		}
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return []byte(b.String())
}

// invalid returns the refusal of a request whose parts do not agree
// (RFC 4475 semantic checks), nil when it is sound.
func invalid(req *sip.Request) *rejection {
	switch {
	case req.SipVersion != "SIP/2.0":
		return &rejection{code: 505, reason: "Version Not Supported"}
	case req.CSeq() == nil || req.CSeq().MethodName != req.Method:
		return &rejection{code: 400, reason: "Bad Request: CSeq method does not match"}
	case req.From() == nil || req.To() == nil || req.CallID() == nil:
		return &rejection{code: 400, reason: "Bad Request: From, To and Call-ID are required"}
	case len(req.GetHeaders("Content-Length")) > 1:
		return &rejection{code: 400, reason: "Bad Request: more than one Content-Length"}
	case req.Recipient.Scheme != "sip" && req.Recipient.Scheme != "sips" && req.Recipient.Scheme != "tel":
		return &rejection{code: 416, reason: "Unsupported URI Scheme"}
	}
	if mf := req.MaxForwards(); mf != nil && mf.Val() == 0 {
		return &rejection{code: 483, reason: "Too Many Hops"}
	}
	// Of the SIP extensions a request may require (RFC 3261 8.2.2.3) we
	// support session timers (RFC 4028) alone.
	var required []string
	for _, h := range req.GetHeaders("Require") {
		for _, o := range strings.Split(h.Value(), ",") {
			if o = strings.TrimSpace(o); o != "" && !strings.EqualFold(o, supported) {
				required = append(required, o)
			}
		}
	}
	if len(required) > 0 && req.Method != sip.ACK && req.Method != sip.CANCEL {
		return &rejection{code: 420, reason: "Bad Extension", headers: []sip.Header{sip.NewHeader("Unsupported", strings.Join(required, ", "))}}
	}
	return nil
}
