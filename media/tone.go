package media

import (
	"github.com/phonediversions/phonediversions/audio"
	"math"
	"time"

	"github.com/zaf/g711"
)

// Tone is a cadenced tone such as ringback: the sum of Freqs, on for On,
// then silent for Off, repeated.
type Tone struct {
	Freqs   []float64
	On, Off time.Duration
	// Level is the peak amplitude as a fraction of full scale.
	Level float64
}

// RingbackEurope is the CEPT/ETSI ringing tone: 425 Hz, 1 s on, 4 s off.
func RingbackEurope() Tone {
	return Tone{Freqs: []float64{425}, On: time.Second, Off: 4 * time.Second, Level: 0.2}
}

// RingbackNorthAmerica is the North American ringing tone: 440 + 480 Hz,
// 2 s on, 4 s off.
func RingbackNorthAmerica() Tone {
	return Tone{Freqs: []float64{440, 480}, On: 2 * time.Second, Off: 4 * time.Second, Level: 0.1}
}

// Frames renders one cadence of the tone as 20 ms G.711 frames in the
// codec's law, to be played in a loop.
func (t Tone) Frames(c audio.Codec) [][]byte {
	period := t.On + t.Off
	n := int(period / (20 * time.Millisecond))
	if n == 0 {
		return nil
	}
	onSamples := int(t.On / (time.Second / 8000))
	buf := make([]byte, n*audio.FrameSamples)
	for i := range buf {
		var v float64
		if i < onSamples {
			for _, f := range t.Freqs {
				v += math.Sin(2 * math.Pi * f * float64(i) / 8000)
			}
			v *= t.Level
		}
		x := int16(max(-32768, min(32767, v*32767)))
		if c == audio.PCMA {
			buf[i] = g711.EncodeAlawFrame(x)
		} else {
			buf[i] = g711.EncodeUlawFrame(x)
		}
	}
	frames := make([][]byte, n)
	for i := range frames {
		frames[i] = buf[i*audio.FrameSamples : (i+1)*audio.FrameSamples : (i+1)*audio.FrameSamples]
	}
	return frames
}
