package audio

import (
	"testing"
	"time"

	"github.com/zaf/g711"
)

func TestFrameAndSilence(t *testing.T) {
	if FrameSamples != 160 || FrameSamples*int(time.Second/FrameDuration) != Rate {
		t.Fatalf("FrameSamples = %d, want 160", FrameSamples)
	}
	for _, c := range Codecs {
		decode := g711.DecodeUlawFrame
		if c == PCMA {
			decode = g711.DecodeAlawFrame
		}
		if v := decode(Silence(c)); v > 8 || v < -8 {
			t.Errorf("%s silence decodes to %d", c, v)
		}
	}
	if PCMU.String() != "PCMU" || PCMA.String() != "PCMA" || !PCMA.Known() || Codec(3).Known() {
		t.Error("names")
	}
}
