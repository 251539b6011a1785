// Package sdp is the thin layer over pion/sdp/v3 that the call handler
// needs: read the audio stream of a peer's SDP, and write an offer or an
// answer for a G.711 leg with RFC 4733 telephone events.
package sdp

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	psdp "github.com/pion/sdp/v3"
)

// Static payload types of G.711.
const (
	PCMU uint8 = 0
	PCMA uint8 = 8
)

// DefaultDTMF is the payload type offered for telephone events.
const DefaultDTMF uint8 = 101

// ErrNoAudio is returned for an SDP without a usable audio stream.
var ErrNoAudio = errors.New("sdp: no audio stream")

// ErrNoCodec is returned when an offer holds neither PCMU nor PCMA.
var ErrNoCodec = errors.New("sdp: no common codec (PCMU or PCMA)")

// Media is what a peer's SDP says about its audio stream.
type Media struct {
	// Addr is where the peer wants RTP; port 0 means the stream is refused.
	Addr netip.AddrPort
	// Payloads are the G.711 payload types offered, in the peer's order.
	Payloads []uint8
	// DTMF is the telephone-event payload type, 0 when none.
	DTMF uint8
	// Direction is sendrecv, sendonly, recvonly or inactive.
	Direction string
}

// Parse reads the first audio stream of an SDP body. Errors: a syntax
// error, ErrNoAudio, ErrNoCodec.
func Parse(body []byte) (Media, error) {
	var sd psdp.SessionDescription
	if err := sd.Unmarshal(body); err != nil {
		return Media{}, fmt.Errorf("sdp: %w", err)
	}
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Media != "audio" {
			continue
		}
		m := Media{Direction: "sendrecv"}
		conn := md.ConnectionInformation
		if conn == nil {
			conn = sd.ConnectionInformation
		}
		if conn == nil || conn.Address == nil {
			return Media{}, fmt.Errorf("sdp: audio stream without a connection address")
		}
		ip, err := netip.ParseAddr(conn.Address.Address)
		if err != nil {
			return Media{}, fmt.Errorf("sdp: connection address %q is not an IP address", conn.Address.Address)
		}
		port := md.MediaName.Port.Value
		if port < 0 || port > 65535 {
			return Media{}, fmt.Errorf("sdp: port %d", port)
		}
		m.Addr = netip.AddrPortFrom(ip, uint16(port))
		events := map[string]bool{}
		for _, a := range md.Attributes {
			switch a.Key {
			case "rtpmap":
				pt, enc, _ := strings.Cut(a.Value, " ")
				if strings.HasPrefix(strings.ToLower(enc), "telephone-event/8000") {
					events[pt] = true
				}
			case "sendrecv", "sendonly", "recvonly", "inactive":
				m.Direction = a.Key
			}
		}
		for _, a := range sd.Attributes {
			switch a.Key {
			case "sendonly", "recvonly", "inactive":
				if m.Direction == "sendrecv" {
					m.Direction = a.Key
				}
			}
		}
		for _, f := range md.MediaName.Formats {
			switch {
			case f == "0":
				m.Payloads = append(m.Payloads, PCMU)
			case f == "8":
				m.Payloads = append(m.Payloads, PCMA)
			case events[f] && m.DTMF == 0:
				if pt, err := strconv.Atoi(f); err == nil && pt >= 96 && pt <= 127 {
					m.DTMF = uint8(pt)
				}
			}
		}
		if len(m.Payloads) == 0 {
			return m, ErrNoCodec
		}
		return m, nil
	}
	return Media{}, ErrNoAudio
}

// Choose returns the first payload of the offer that is also in prefer,
// or ErrNoCodec.
func Choose(offer Media, prefer []uint8) (uint8, error) {
	for _, p := range offer.Payloads {
		for _, q := range prefer {
			if p == q {
				return p, nil
			}
		}
	}
	return 0, ErrNoCodec
}

// Session identifies our side of one SDP session; Version grows with each
// change so peers see a new description.
type Session struct {
	ID      uint64
	Version uint64
	// Addr is the address and RTP port we receive on.
	Addr netip.AddrPort
}

// answerDirection is the direction that answers an offered one.
func answerDirection(offered string) string {
	switch offered {
	case "sendonly":
		return "recvonly"
	case "recvonly":
		return "sendonly"
	case "inactive":
		return "inactive"
	default:
		return "sendrecv"
	}
}

// Offer writes an SDP offering the payloads in order, with telephone
// events as dtmf when not 0.
func Offer(s Session, payloads []uint8, dtmf uint8) []byte {
	return write(s, payloads, dtmf, "sendrecv")
}

// Answer writes the SDP answering offer with codec (which must be one the
// offer holds) and the offer's telephone-event type; the direction mirrors
// the offer's (hold is answered as hold).
func Answer(s Session, offer Media, codec uint8) []byte {
	return write(s, []uint8{codec}, offer.DTMF, answerDirection(offer.Direction))
}

func write(s Session, payloads []uint8, dtmf uint8, direction string) []byte {
	ip := s.Addr.Addr()
	family := "IP4"
	if ip.Is6() && !ip.Is4In6() {
		family = "IP6"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\no=PhoneDiversions %d %d IN %s %s\r\ns=PhoneDiversions\r\nc=IN %s %s\r\nt=0 0\r\n",
		s.ID, s.Version, family, ip.Unmap(), family, ip.Unmap())
	fmt.Fprintf(&b, "m=audio %d RTP/AVP", s.Addr.Port())
	for _, p := range payloads {
		fmt.Fprintf(&b, " %d", p)
	}
	if dtmf != 0 {
		fmt.Fprintf(&b, " %d", dtmf)
	}
	b.WriteString("\r\n")
	for _, p := range payloads {
		name := "PCMU"
		if p == PCMA {
			name = "PCMA"
		}
		fmt.Fprintf(&b, "a=rtpmap:%d %s/8000\r\n", p, name)
	}
	if dtmf != 0 {
		fmt.Fprintf(&b, "a=rtpmap:%d telephone-event/8000\r\na=fmtp:%d 0-16\r\n", dtmf, dtmf)
	}
	fmt.Fprintf(&b, "a=ptime:20\r\na=%s\r\n", direction)
	return []byte(b.String())
}
