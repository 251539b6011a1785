package probe

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/zaf/g711"

	"github.com/phonediversions/phonediversions/audio"
)

// Segment is a stretch of the product's audio between two talkspurt
// marks.
type Segment struct {
	// Start is from the first packet the probe received.
	Start    Seconds `json:"start_s"`
	Duration Seconds `json:"duration_s"`
	// Kind is "ringback" (a tone of 425 Hz, or 440 and 480 Hz, with its
	// pauses), "silence" (below -55 dBFS), or "audio".
	Kind string `json:"kind"`
	// Level is the loudness of its sound, in dBFS (RMS of the frames
	// that are not silent; -96 for silence).
	Level float64 `json:"level_dbfs"`
}

// silenceDBFS is the level below which a frame counts as silence.
const silenceDBFS = -55

// analyze cuts the packets into segments, fills in what the caller
// heard, and names the path the product took.
func analyze(res *Result, packets []packet) {
	var seg *segmentBuilder
	var segs []*segmentBuilder
	var ts0 uint32
	for i, p := range packets {
		codec, ok := law(p.pt)
		if !ok {
			continue // telephone events, comfort noise
		}
		if i == 0 || seg == nil {
			ts0 = p.ts
		}
		if seg == nil || p.marker {
			seg = &segmentBuilder{start: p.at}
			segs = append(segs, seg)
		}
		pcm := decode(codec, p.payload)
		seg.add(pcm, p.at)
		// What the caller heard, at its place by the RTP timestamp (the
		// product moves it on by the time that passed at each new
		// talkspurt, so pauses keep their length).
		off := int(p.ts - ts0)
		if off >= 0 && off < 10*60*audio.Rate { // a wild timestamp is not worth an hour of silence
			if need := off + len(pcm); need > len(res.Heard) {
				res.Heard = append(res.Heard, make([]int16, need-len(res.Heard))...)
			}
			copy(res.Heard[off:], pcm)
		}
	}
	var first time.Duration
	if len(segs) > 0 {
		first = segs[0].start
	}
	for _, b := range segs {
		res.Segments = append(res.Segments, b.segment(first))
	}
	res.Path, res.FarParty = path(res)
	if res.Path == AnnouncementThenHangUp || res.Path == AnnouncementThenConnect {
		a := res.Segments[0]
		res.Announcement = &a
		for _, s := range res.Segments[1:] {
			if s.Kind == "ringback" {
				res.Ringback += s.Duration
			} else {
				res.Talk += s.Duration
			}
		}
	}
	if res.Path == Connected {
		for _, s := range res.Segments {
			res.Talk += s.Duration
		}
	}
}

// path names what the product did from the answer and the segments.
func path(res *Result) (Path, string) {
	switch {
	case res.Code >= 300:
		return Refused, ""
	case res.Code < 200:
		return Unanswered, ""
	case len(res.Segments) == 0:
		return Silent, ""
	case res.Rang:
		// The far side rang before the answer: the product passed the
		// call on without an announcement.
		return Connected, "answered"
	}
	rest := res.Segments[1:]
	ringback, talk := false, false
	for _, s := range rest {
		if s.Kind == "ringback" {
			ringback = true
		} else {
			talk = true
		}
	}
	if res.HungUpBy == "product" {
		switch q850Cause(res.HangUpReason) {
		case 17:
			return AnnouncementThenConnect, "busy"
		case 19:
			return AnnouncementThenConnect, "did not answer"
		case 41:
			return AnnouncementThenConnect, "could not be reached"
		}
	}
	switch {
	case talk:
		return AnnouncementThenConnect, "answered"
	case ringback && res.HungUpBy == "product":
		return AnnouncementThenConnect, "did not answer"
	case ringback:
		return AnnouncementThenConnect, "still ringing"
	}
	return AnnouncementThenHangUp, ""
}

// q850Cause is the Q.850 cause of a Reason header (RFC 3326), 0 when it
// has none.
func q850Cause(reason string) int {
	proto, params, _ := strings.Cut(reason, ";")
	if !strings.EqualFold(strings.TrimSpace(proto), "Q.850") {
		return 0
	}
	for _, p := range strings.Split(params, ";") {
		if k, v, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.EqualFold(k, "cause") {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

// law is the G.711 law of a payload type.
func law(pt uint8) (audio.Codec, bool) {
	switch c := audio.Codec(pt); c {
	case audio.PCMU, audio.PCMA:
		return c, true
	}
	return 0, false
}

func decode(c audio.Codec, payload []byte) []int16 {
	out := make([]int16, len(payload))
	for i, b := range payload {
		if c == audio.PCMA {
			out[i] = g711.DecodeAlawFrame(b)
		} else {
			out[i] = g711.DecodeUlawFrame(b)
		}
	}
	return out
}

// segmentBuilder gathers one segment's frames.
type segmentBuilder struct {
	start, last time.Duration
	samples     int
	loudFrames  int
	loudEnergy  float64 // sum of squares of the loud frames' samples
	loudSamples int
	toneEnergy  float64 // of the loud frames, at the ringback frequencies
}

func (b *segmentBuilder) add(pcm []int16, at time.Duration) {
	b.samples += len(pcm)
	b.last = at
	var e float64
	for _, v := range pcm {
		f := float64(v) / 32768
		e += f * f
	}
	if len(pcm) == 0 || dbfs(e/float64(len(pcm))) < silenceDBFS {
		return
	}
	b.loudFrames++
	b.loudEnergy += e
	b.loudSamples += len(pcm)
	// Power at the ringback tones (Europe 425 Hz; North America 440 and
	// 480 Hz), as a share of the frame's: a pure tone puts nearly all of
	// it in its bin.
	b.toneEnergy += max(goertzel(pcm, 425), goertzel(pcm, 440)+goertzel(pcm, 480))
}

func (b *segmentBuilder) segment(first time.Duration) Segment {
	s := Segment{Start: Seconds(b.start - first), Duration: Seconds(time.Duration(b.samples) * time.Second / audio.Rate), Level: -96}
	switch {
	case b.loudFrames == 0:
		s.Kind = "silence"
	case b.toneEnergy >= 0.8*b.loudEnergy:
		s.Kind = "ringback"
	default:
		s.Kind = "audio"
	}
	if b.loudSamples > 0 {
		s.Level = math.Round(dbfs(b.loudEnergy/float64(b.loudSamples))*10) / 10
	}
	return s
}

// dbfs is the level of a mean square, in dB of full scale (a full-scale
// square wave is 0 dBFS).
func dbfs(meanSquare float64) float64 {
	if meanSquare <= 0 {
		return -96
	}
	return max(10*math.Log10(meanSquare), -96)
}

// goertzel is the energy of pcm at freq, on the scale of its sum of
// squares (a pure tone at freq gives about that sum).
func goertzel(pcm []int16, freq float64) float64 {
	n := len(pcm)
	w := 2 * math.Pi * freq / audio.Rate
	coeff := 2 * math.Cos(w)
	var s1, s2 float64
	for _, v := range pcm {
		s0 := float64(v)/32768 + coeff*s1 - s2
		s2, s1 = s1, s0
	}
	power := s1*s1 + s2*s2 - coeff*s1*s2
	return 2 * power / float64(n)
}
