package prompts

import (
	"io"
	"math"
	"time"

	"github.com/zaf/g711"

	"github.com/phonediversions/phonediversions/audio"
)

// Every stored announcement is 8 kHz G.711 in frames of the audio
// package: audio.Rate, audio.FrameSamples bytes, audio.FrameDuration.
const (
	rate       = audio.Rate
	frameBytes = audio.FrameSamples
)

// Prompt is an announcement ready to play: 8 kHz mono G.711 in both laws,
// split into 20 ms frames. A Prompt is immutable and safe to share between
// any number of calls.
type Prompt struct {
	samples int
	ulaw    []byte
	alaw    []byte
	framesU [][]byte
	framesA [][]byte
}

// Encode resamples audio to 8 kHz and encodes it in both laws. Samples
// beyond full scale are clipped.
func Encode(a Audio) *Prompt {
	s := Resample(a.Samples, a.Rate, rate)
	e := newEncoder(len(s))
	for _, v := range s {
		e.put(v)
	}
	return e.prompt()
}

func newPrompt(samples int, ulaw, alaw []byte) *Prompt {
	p := &Prompt{samples: samples, ulaw: ulaw, alaw: alaw}
	p.framesU, p.framesA = split(ulaw), split(alaw)
	return p
}

// split cuts b into frames that share its memory.
func split(b []byte) [][]byte {
	out := make([][]byte, 0, len(b)/frameBytes)
	for i := 0; i+frameBytes <= len(b); i += frameBytes {
		out = append(out, b[i:i+frameBytes:i+frameBytes])
	}
	return out
}

// Frames returns the 20 ms frames in the codec's law. The frames share the
// prompt's memory: callers must not change them.
func (p *Prompt) Frames(c audio.Codec) [][]byte {
	if c == audio.PCMA {
		return p.framesA
	}
	return p.framesU
}

// Duration returns the length of the announcement (before the padding of
// its last frame).
func (p *Prompt) Duration() time.Duration {
	return time.Duration(p.samples) * time.Second / rate
}

// WriteWAV writes the announcement as a 16-bit PCM WAV file (decoded from
// its µ-law form, so it sounds as callers hear it) for listening in a
// browser.
func (p *Prompt) WriteWAV(w io.Writer) error {
	pcm := make([]int16, p.samples)
	for i := range pcm {
		pcm[i] = g711.DecodeUlawFrame(p.ulaw[i])
	}
	return WriteWAV(w, rate, pcm)
}

// Peaks returns n values from 0 to 1: the loudest sample of each of n
// equal stretches of the announcement, for drawing its waveform. A
// stretch shorter than a sample repeats its neighbour.
func (p *Prompt) Peaks(n int) []float32 {
	out := make([]float32, max(n, 0))
	if p.samples == 0 {
		return out
	}
	for i := range out {
		from, to := i*p.samples/n, (i+1)*p.samples/n
		to = max(to, from+1)
		var peak int16
		for _, b := range p.ulaw[from:min(to, p.samples)] {
			v := g711.DecodeUlawFrame(b)
			if v < 0 {
				v = -max(v, -32767)
			}
			peak = max(peak, v)
		}
		out[i] = float32(peak) / 32767
	}
	return out
}

// encoder builds a Prompt sample by sample, as Encode does from samples
// already at 8 kHz.
type encoder struct {
	n      int
	u, al  []byte
	filled int
}

// newEncoder makes room for n samples at 8 kHz, padded to whole frames.
func newEncoder(n int) *encoder {
	padded := (n + frameBytes - 1) / frameBytes * frameBytes
	return &encoder{n: n, u: make([]byte, padded), al: make([]byte, padded)}
}

// put encodes the next sample; beyond full scale it is clipped.
func (e *encoder) put(v float32) {
	x := int16(math.Round(float64(max(-1, min(v, 32767.0/32768))) * 32768))
	e.u[e.filled], e.al[e.filled] = g711.EncodeUlawFrame(x), g711.EncodeAlawFrame(x)
	e.filled++
}

// prompt pads the last frame with silence and returns the announcement.
func (e *encoder) prompt() *Prompt {
	for i := e.filled; i < len(e.u); i++ {
		e.u[i], e.al[i] = audio.Silence(audio.PCMU), audio.Silence(audio.PCMA)
	}
	return newPrompt(e.filled, e.u, e.al)
}
