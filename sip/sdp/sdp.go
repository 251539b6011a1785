// Package sdp is the thin layer over pion/sdp/v3 that the call handler
// needs: read a peer's session description (every m-line, and the one
// audio stream the product takes), and write offers and answers for a
// G.711 leg with RFC 4733 telephone events, following RFC 3264.
package sdp

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	psdp "github.com/pion/sdp/v3"

	"github.com/phonediversions/phonediversions/audio"
)

// DefaultDTMF is the payload type we offer for telephone events.
const DefaultDTMF uint8 = 101

// PayloadCN is the static payload type of comfort noise (RFC 3389).
const PayloadCN uint8 = 13

// Refusals of a peer's SDP. Each is answered 488 Not Acceptable Here.
var (
	// ErrNoAudio: no audio stream the product can take (none, or only
	// refused ones with port 0).
	ErrNoAudio = errors.New("sdp: no audio stream")
	// ErrNoCodec: the audio stream offers neither PCMU nor PCMA.
	ErrNoCodec = errors.New("sdp: no common codec (PCMU or PCMA)")
	// ErrSecure: the audio stream is SRTP (RTP/SAVP and kin), which the
	// product does not speak.
	ErrSecure = errors.New("sdp: secure RTP is not supported")
	// ErrPtime: the peer takes no packets as long as 20 ms (maxptime).
	ErrPtime = errors.New("sdp: the peer's maxptime is shorter than 20 ms")
)

// Direction is the direction attribute of a stream, from its writer's
// side.
type Direction string

// The directions.
const (
	SendRecv Direction = "sendrecv"
	SendOnly Direction = "sendonly"
	RecvOnly Direction = "recvonly"
	Inactive Direction = "inactive"
)

// Sends reports whether the writer of the SDP sends media.
func (d Direction) Sends() bool { return d == SendRecv || d == SendOnly }

// Receives reports whether the writer of the SDP wants media.
func (d Direction) Receives() bool { return d == SendRecv || d == RecvOnly }

// Answer is the direction that answers an offered one (RFC 3264 6.1).
func (d Direction) Answer() Direction {
	switch d {
	case SendOnly:
		return RecvOnly
	case RecvOnly:
		return SendOnly
	case Inactive:
		return Inactive
	default:
		return SendRecv
	}
}

// Stream is one m-line as offered, kept to answer it.
type Stream struct {
	Media   string
	Port    int
	Proto   string
	Formats []string
}

// Media is what a peer's SDP says: every stream, and about the audio
// stream the product takes.
type Media struct {
	// Origin identifies the description; a peer that changes its SDP
	// changes its version.
	Origin string
	// Streams are every m-line in order; Audio is the index of the one
	// taken.
	Streams []Stream
	Audio   int
	// Addr is where the peer wants RTP, RTCP where it wants RTCP (a=rtcp,
	// else the next port). An unspecified address (c=0.0.0.0) is the old
	// way of putting a call on hold.
	Addr, RTCP netip.AddrPort
	// Codecs are the G.711 laws offered, in the peer's order.
	Codecs []audio.Codec
	// DTMF is the telephone-event payload type, 0 when none; DTMFEvents
	// its fmtp (the events it takes, such as 0-15).
	DTMF       uint8
	DTMFEvents string
	// CN tells that comfort noise (payload 13) is offered.
	CN bool
	// Ptime and MaxPtime are the packet times the peer asks for, in
	// milliseconds; 0 when not given.
	Ptime, MaxPtime int
	Direction       Direction
}

// Held reports whether the peer does not want media now: it offered
// sendonly or inactive, or the unspecified address.
func (m Media) Held() bool {
	return !m.Direction.Receives() || (m.Addr.IsValid() && m.Addr.Addr().IsUnspecified())
}

// Parse reads a peer's SDP and its audio stream: the first audio m-line
// with a port, plain RTP and a G.711 law. Errors: a syntax error,
// ErrNoAudio, ErrSecure, ErrNoCodec, ErrPtime.
func Parse(body []byte) (Media, error) {
	var sd psdp.SessionDescription
	if err := sd.Unmarshal(body); err != nil {
		return Media{}, fmt.Errorf("sdp: %w", err)
	}
	m := Media{Audio: -1, Origin: fmt.Sprintf("%s %d %d", sd.Origin.Username, sd.Origin.SessionID, sd.Origin.SessionVersion)}
	sessionDir := SendRecv
	for _, a := range sd.Attributes {
		if d, ok := direction(a.Key); ok {
			sessionDir = d
		}
	}
	var firstErr error
	for i, md := range sd.MediaDescriptions {
		proto := strings.Join(md.MediaName.Protos, "/")
		m.Streams = append(m.Streams, Stream{Media: md.MediaName.Media, Port: md.MediaName.Port.Value, Proto: proto,
			Formats: md.MediaName.Formats})
		if m.Audio >= 0 || md.MediaName.Media != "audio" || md.MediaName.Port.Value == 0 {
			continue
		}
		err := m.takeAudio(&sd, md, proto, sessionDir)
		if err == nil {
			m.Audio = i
		} else if firstErr == nil {
			firstErr = err
		}
	}
	if m.Audio < 0 {
		if firstErr == nil {
			firstErr = ErrNoAudio
		}
		return Media{}, firstErr
	}
	return m, nil
}

func direction(key string) (Direction, bool) {
	switch Direction(key) {
	case SendRecv, SendOnly, RecvOnly, Inactive:
		return Direction(key), true
	}
	return "", false
}

// takeAudio reads an audio m-line into m.
func (m *Media) takeAudio(sd *psdp.SessionDescription, md *psdp.MediaDescription, proto string, sessionDir Direction) error {
	if strings.Contains(proto, "SAVP") || strings.Contains(proto, "TLS") {
		return ErrSecure
	}
	if !strings.HasPrefix(proto, "RTP/AVP") {
		return fmt.Errorf("sdp: transport %q is not RTP", proto)
	}
	conn := md.ConnectionInformation
	if conn == nil {
		conn = sd.ConnectionInformation
	}
	if conn == nil || conn.Address == nil {
		return fmt.Errorf("sdp: audio stream without a connection address")
	}
	ip, err := netip.ParseAddr(strings.TrimSpace(strings.Split(conn.Address.Address, "/")[0]))
	if err != nil {
		return fmt.Errorf("sdp: connection address %q is not an IP address", conn.Address.Address)
	}
	port := md.MediaName.Port.Value
	if port < 0 || port > 65535 {
		return fmt.Errorf("sdp: port %d", port)
	}
	ip = ip.Unmap()
	m.Addr = netip.AddrPortFrom(ip, uint16(port))
	m.RTCP = netip.AddrPortFrom(ip, uint16(min(port+1, 65535)))
	m.Direction = sessionDir
	events, fmtps := map[string]bool{}, map[string]string{}
	for _, a := range md.Attributes {
		if d, ok := direction(a.Key); ok {
			m.Direction = d
			continue
		}
		switch a.Key {
		case "rtpmap":
			pt, enc, _ := strings.Cut(a.Value, " ")
			if strings.HasPrefix(strings.ToLower(enc), "telephone-event/8000") {
				events[pt] = true
			}
		case "fmtp":
			pt, params, _ := strings.Cut(a.Value, " ")
			fmtps[pt] = strings.TrimSpace(params)
		case "ptime":
			m.Ptime, _ = strconv.Atoi(strings.TrimSpace(a.Value))
		case "maxptime":
			m.MaxPtime, _ = strconv.Atoi(strings.TrimSpace(a.Value))
		case "rtcp":
			// RFC 3605: a=rtcp:port [IN IP4 address]
			f := strings.Fields(a.Value)
			if len(f) == 0 {
				continue
			}
			if p, err := strconv.Atoi(f[0]); err == nil && p > 0 && p <= 65535 {
				addr := ip
				if len(f) == 4 {
					if a, err := netip.ParseAddr(f[3]); err == nil {
						addr = a.Unmap()
					}
				}
				m.RTCP = netip.AddrPortFrom(addr, uint16(p))
			}
		}
	}
	for _, f := range md.MediaName.Formats {
		switch {
		case f == "0":
			m.Codecs = append(m.Codecs, audio.PCMU)
		case f == "8":
			m.Codecs = append(m.Codecs, audio.PCMA)
		case f == "13":
			m.CN = true
		case events[f] && m.DTMF == 0:
			if pt, err := strconv.Atoi(f); err == nil && pt >= 96 && pt <= 127 {
				m.DTMF, m.DTMFEvents = uint8(pt), fmtps[f]
			}
		}
	}
	if len(m.Codecs) == 0 {
		return ErrNoCodec
	}
	if m.MaxPtime > 0 && m.MaxPtime < 20 {
		return ErrPtime
	}
	return nil
}

// Choose returns the first law of the peer's list that is also in
// prefer, or ErrNoCodec.
func Choose(peer Media, prefer []audio.Codec) (audio.Codec, error) {
	for _, p := range peer.Codecs {
		if slices.Contains(prefer, p) {
			return p, nil
		}
	}
	return 0, ErrNoCodec
}

// Session identifies our side of one SDP session; Version grows with each
// change so peers see a new description.
type Session struct {
	ID      uint64
	Version uint64
	// Addr is the address and RTP port we receive on (RTCP on the next).
	Addr netip.AddrPort
}

// Local is what our side says of its audio stream.
type Local struct {
	// Codecs are the laws, in our order of preference (an answer names
	// one).
	Codecs []audio.Codec
	// DTMF is the telephone-event payload type (0: none) and DTMFEvents
	// the events taken (empty: 0-15).
	DTMF       uint8
	DTMFEvents string
	// CN offers comfort noise.
	CN  bool
	Dir Direction
}

// Offer writes our SDP offer.
func Offer(s Session, l Local) []byte {
	var b strings.Builder
	header(&b, s)
	audioLine(&b, s.Addr.Port(), l)
	return []byte(b.String())
}

// Answer writes the SDP answering offer (RFC 3264): every m-line of the
// offer in order, the audio stream as l says (its first codec, which must
// be one the offer holds), every other stream refused with port 0.
func Answer(s Session, offer Media, l Local) []byte {
	var b strings.Builder
	header(&b, s)
	for i, st := range offer.Streams {
		if i == offer.Audio {
			audioLine(&b, s.Addr.Port(), l)
			continue
		}
		formats := st.Formats
		if len(formats) == 0 {
			formats = []string{"0"}
		}
		fmt.Fprintf(&b, "m=%s 0 %s %s\r\n", st.Media, st.Proto, formats[0])
	}
	return []byte(b.String())
}

// AnswerLocal is what our answer to offer says when we take codec: the
// offer's telephone events and comfort noise, and the direction that
// answers the offer's.
func AnswerLocal(offer Media, codec audio.Codec) Local {
	return Local{Codecs: []audio.Codec{codec}, DTMF: offer.DTMF, DTMFEvents: offer.DTMFEvents, CN: offer.CN,
		Dir: offer.Direction.Answer()}
}

func header(b *strings.Builder, s Session) {
	ip := s.Addr.Addr().Unmap()
	family := "IP4"
	if ip.Is6() {
		family = "IP6"
	}
	fmt.Fprintf(b, "v=0\r\no=PhoneDiversions %d %d IN %s %s\r\ns=PhoneDiversions\r\nc=IN %s %s\r\nt=0 0\r\n",
		s.ID, s.Version, family, ip, family, ip)
}

func audioLine(b *strings.Builder, port uint16, l Local) {
	fmt.Fprintf(b, "m=audio %d RTP/AVP", port)
	for _, c := range l.Codecs {
		fmt.Fprintf(b, " %d", c)
	}
	if l.CN {
		fmt.Fprintf(b, " %d", PayloadCN)
	}
	if l.DTMF != 0 {
		fmt.Fprintf(b, " %d", l.DTMF)
	}
	b.WriteString("\r\n")
	for _, c := range l.Codecs {
		fmt.Fprintf(b, "a=rtpmap:%d %s/8000\r\n", c, c)
	}
	if l.CN {
		fmt.Fprintf(b, "a=rtpmap:%d CN/8000\r\n", PayloadCN)
	}
	if l.DTMF != 0 {
		events := l.DTMFEvents
		if events == "" {
			events = "0-15"
		}
		fmt.Fprintf(b, "a=rtpmap:%d telephone-event/8000\r\na=fmtp:%d %s\r\n", l.DTMF, l.DTMF, events)
	}
	dir := l.Dir
	if dir == "" {
		dir = SendRecv
	}
	fmt.Fprintf(b, "a=rtcp:%d\r\na=ptime:20\r\na=%s\r\n", port+1, dir)
}
