// Package audio is the vocabulary of the product's sound, shared by the
// announcements (prompts), the RTP engine (media) and the SDP of the call
// handler (sip/sdp): the two G.711 laws, valued as their static RTP
// payload types, and the one frame every part works in — 20 ms of 8 kHz
// mono, 160 samples of one byte each.
package audio

import "time"

// Codec is a G.711 law, valued as its static RTP payload type.
type Codec uint8

// The G.711 laws.
const (
	PCMU Codec = 0 // µ-law
	PCMA Codec = 8 // A-law
)

// Codecs are the laws the product speaks, in its order of preference.
var Codecs = [...]Codec{PCMU, PCMA}

// String names the codec as SDP does.
func (c Codec) String() string {
	if c == PCMA {
		return "PCMA"
	}
	return "PCMU"
}

// Known reports whether c is one of the laws.
func (c Codec) Known() bool { return c == PCMU || c == PCMA }

// The frame: 20 ms of 8 kHz G.711.
const (
	// Rate is the sample rate.
	Rate = 8000
	// FrameDuration is the time one frame lasts.
	FrameDuration = 20 * time.Millisecond
	// FrameSamples is the samples of one frame, its bytes (one per sample)
	// and the step of the RTP timestamp from one frame to the next. The
	// test holds it to FrameDuration.
	FrameSamples = Rate / 50 // 50 frames a second

)

// Silence is the byte of silence in each law.
func Silence(c Codec) byte {
	if c == PCMA {
		return 0xD5
	}
	return 0xFF
}
