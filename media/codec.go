// Package media moves RTP: it allocates RTP ports, plays announcement
// frames as paced G.711 RTP to thousands of peers from a few goroutines,
// generates ringback, relays audio between two call legs (transcoding
// PCMU↔PCMA and passing RFC 4733 telephone events through) and reports a
// leg that has gone silent. It knows nothing of SIP.
package media

import (
	"github.com/zaf/g711"

	"github.com/phonediversions/phonediversions/audio"
)

// RTP packet sizes.
const (
	rtpHeaderLen = 12
	maxPacket    = 1500
)

// transcoder maps payload bytes from one law to the other.
type transcoder [256]byte

func newTranscoder(conv func(uint8) uint8) *transcoder {
	var t transcoder
	for i := range t {
		t[i] = conv(uint8(i))
	}
	return &t
}

// apply transcodes b in place.
func (t *transcoder) apply(b []byte) {
	for i, v := range b {
		b[i] = t[v]
	}
}

// transcoders holds the two conversion tables; made once per Engine.
type transcoders struct {
	u2a, a2u *transcoder
}

func newTranscoders() transcoders {
	return transcoders{u2a: newTranscoder(g711.Ulaw2AlawFrame), a2u: newTranscoder(g711.Alaw2UlawFrame)}
}

// between returns the table from codec from to codec to, nil when they are
// the same.
func (t transcoders) between(from, to audio.Codec) *transcoder {
	switch {
	case from == to:
		return nil
	case from == audio.PCMU:
		return t.u2a
	default:
		return t.a2u
	}
}
