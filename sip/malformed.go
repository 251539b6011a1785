package sip

import (
	"bytes"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// The SIP stack drops a datagram it cannot parse without a word, and the
// sender retransmits it for half a minute; on a stream it closes the
// connection, and every call on it. Such a request is answered with 400
// when enough of it is readable to address a response (Via, From, To,
// Call-ID, CSeq), then dropped: over UDP by readMessage, from the
// listening socket, once the stack has parsed the datagram (each is
// parsed once); over TCP and TLS by readFilter, on its own connection,
// which stays open.

// readFilter judges the bytes read from a stream connection before the
// stack frames and parses them.
func (s *Server) readFilter(props sip.TransportReadProps, data []byte) ([]byte, error) {
	switch strings.ToLower(props.Transport) {
	case "tcp", "tls":
		return s.filterStream(props.Transport, props.RemoteAddr, data), nil
	}
	return data, nil
}

// filterStream judges a read from a stream when it holds whole messages
// (the usual case: one): it drops the CRLFs between them, which RFC 3261
// 7.5 allows and the stack's framing does not, and answers an unparsable
// request 400 in place of passing it on. Anything else — part of a
// message, or a message too broken to answer — is left to the stack,
// which waits for the rest or closes the connection.
func (s *Server) filterStream(transport string, from net.Addr, data []byte) []byte {
	msgs, ok := wholeMessages(data)
	if !ok || len(msgs) == 0 {
		return data
	}
	var out []byte
	var refused [][]byte
	for _, m := range msgs {
		if streamable(s.parser, m) {
			out = append(out, m...)
			continue
		}
		res := badRequest(m)
		if res == nil {
			return data
		}
		refused = append(refused, res)
	}
	if len(refused) == 0 {
		if len(msgs) == 1 && len(msgs[0]) == len(data) {
			return data // the usual read, passed on as it came
		}
		return out
	}
	conn := s.ua.TransportLayer().Pool(transport).Get(from.String())
	if conn == nil {
		return data
	}
	defer conn.TryClose()
	w, ok := conn.(io.Writer)
	if !ok {
		return data
	}
	for _, res := range refused {
		if _, err := w.Write(res); err != nil {
			return data
		}
	}
	s.log.Debug().Str("source", from.String()).Str("transport", transport).Msg("unparsable SIP message answered 400")
	return out
}

// streamable reports whether the stack can take msg from a stream: it
// parses, its length is known, and a request can be matched to a
// transaction (a branch of RFC 3261, or else a From tag). The stack would
// refuse the last kind itself, but it sends that 400 where the Via says,
// not on the connection the request came on.
func streamable(p *sip.Parser, msg []byte) bool {
	m, err := p.ParseSIP(msg)
	if err != nil {
		return false
	}
	req, ok := m.(*sip.Request)
	if !ok {
		return true
	}
	head, _, _ := bytes.Cut(msg, []byte("\r\n\r\n"))
	if bodyLength(strings.Split(string(head), "\r\n")[1:]) < 0 {
		return false
	}
	via := req.Via()
	if via == nil {
		return false
	}
	if branch, _ := via.Params.Get("branch"); strings.HasPrefix(branch, sip.RFC3261BranchMagicCookie) {
		return true
	}
	from := req.From()
	return from != nil && from.Params.Has("tag")
}

// wholeMessages splits a read from a stream into the SIP messages it
// holds, skipping CRLFs before each. ok is false unless data ends where a
// message does. A message whose length cannot be known (Content-Length
// missing, unreadable or given twice) runs to the end of data.
func wholeMessages(data []byte) (msgs [][]byte, ok bool) {
	crlf := []byte("\r\n")
	for {
		for bytes.HasPrefix(data, crlf) {
			data = data[2:]
		}
		if len(data) == 0 {
			return msgs, true
		}
		head, rest, found := bytes.Cut(data, []byte("\r\n\r\n"))
		if !found {
			return nil, false
		}
		lines := strings.Split(string(head), "\r\n")
		start := strings.Fields(lines[0])
		if len(start) < 3 || !strings.HasPrefix(start[0], "SIP/") && !strings.HasPrefix(start[len(start)-1], "SIP/") {
			return nil, false
		}
		n := bodyLength(lines[1:])
		if n < 0 {
			return append(msgs, data), true
		}
		if len(rest) < n {
			return nil, false
		}
		end := len(head) + 4 + n
		msgs = append(msgs, data[:end])
		data = data[end:]
	}
}

// bodyLength returns the Content-Length of a header section, or -1 when it
// has none, an unreadable one or several.
func bodyLength(headers []string) int {
	n := -1
	for _, l := range headers {
		name, value, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		if name = strings.ToLower(strings.TrimSpace(name)); name != "content-length" && name != "l" {
			continue
		}
		v, err := strconv.Atoi(strings.TrimSpace(value))
		if err != nil || v < 0 || n >= 0 {
			return -1
		}
		n = v
	}
	return n
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
	if len(start) < 3 || !strings.HasPrefix(start[len(start)-1], "SIP/") || start[0] == "ACK" || strings.HasPrefix(start[0], "SIP/") {
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
