package prompts

import (
	"math"
	"testing"
)

func tone(freq float64, rate int, seconds float64, amp float64) []float32 {
	out := make([]float32, int(float64(rate)*seconds))
	for i := range out {
		out[i] = float32(amp * math.Sin(2*math.Pi*freq*float64(i)/float64(rate)))
	}
	return out
}

// rms is the root mean square of the middle of s (the filter's edges are
// left out).
func rms(s []float32) float64 {
	s = s[len(s)/10 : len(s)-len(s)/10]
	var sum float64
	for _, v := range s {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(len(s)))
}

func db(ratio float64) float64 { return 20 * math.Log10(ratio) }

func TestResampleKeepsSpeechBandAndSuppressesAliases(t *testing.T) {
	rates := []int{48000, 44100, 32000, 22050, 16000, 11025}
	for _, from := range rates {
		in34 := tone(3400, from, 1, 0.5)
		out34 := Resample(in34, from, 8000)
		if want := len(in34) * 8000 / from; len(out34) != want {
			t.Fatalf("%d Hz: %d samples out, want %d", from, len(out34), want)
		}
		pass := db(rms(out34) / rms(in34))
		if pass < -1 {
			t.Errorf("%d Hz → 8 kHz: a 3.4 kHz tone lost %.2f dB; want at most 1 dB", from, -pass)
		}
		for _, f := range []float64{1000, 300} {
			if g := db(rms(Resample(tone(f, from, 1, 0.5), from, 8000)) / rms(tone(f, from, 1, 0.5))); math.Abs(g) > 0.1 {
				t.Errorf("%d Hz → 8 kHz: a %.0f Hz tone changed by %.2f dB", from, f, g)
			}
		}
		if from/2 > 6000 {
			in6 := tone(6000, from, 1, 0.5)
			stop := db(rms(Resample(in6, from, 8000)) / rms(in6))
			if stop > -40 {
				t.Errorf("%d Hz → 8 kHz: a 6 kHz tone is attenuated only %.1f dB; want at least 40 dB", from, -stop)
			}
			t.Logf("%d Hz → 8 kHz: 3.4 kHz %+.2f dB, 6 kHz %+.1f dB", from, pass, stop)
		}
	}
}

// TestNaiveDecimationWouldFail shows the stop-band test is meaningful: 6 kHz
// sampled at 48 kHz and decimated by dropping samples aliases to 2 kHz at
// full strength.
func TestNaiveDecimationWouldFail(t *testing.T) {
	in := tone(6000, 48000, 1, 0.5)
	naive := make([]float32, 0, len(in)/6)
	for i := 0; i < len(in); i += 6 {
		naive = append(naive, in[i])
	}
	if g := db(rms(naive) / rms(in)); g < -3 {
		t.Fatalf("naive decimation attenuated 6 kHz by %.1f dB; the test premise is wrong", -g)
	}
}

func TestResampleSameRateCopies(t *testing.T) {
	in := []float32{0.1, -0.2, 0.3}
	out := Resample(in, 8000, 8000)
	out[0] = 9
	if in[0] != 0.1 || len(out) != 3 {
		t.Fatal("same-rate resample must return an independent copy")
	}
}

// TestResampleBandEdge measures the filter where it turns: 3.4 kHz (the
// top of the telephone band) passes within 1 dB, everything from 4.2 kHz
// up is at least 60 dB down, from every common rate. The figures it logs
// are those README.md gives.
func TestResampleBandEdge(t *testing.T) {
	for _, from := range []int{48000, 44100, 32000, 22050, 16000, 11025} {
		gain := func(f float64) float64 {
			in := tone(f, from, 1, 0.5)
			return db(rms(Resample(in, from, 8000)) / rms(in))
		}
		if g := gain(3400); g < -1 {
			t.Errorf("%d Hz: 3.4 kHz down %.2f dB; want at most 1 dB", from, -g)
		}
		var worst float64 = -200
		for f := 4200.0; f < float64(from)/2-100; f += 200 {
			if g := gain(f); g > worst {
				worst = g
			}
		}
		if worst > -60 {
			t.Errorf("%d Hz: from 4.2 kHz up only %.1f dB down; want at least 60 dB", from, -worst)
		}
		t.Logf("%d Hz → 8 kHz: 3.4 kHz %+.2f dB, 3.8 kHz %+.1f dB, 4.1 kHz %+.1f dB, from 4.2 kHz up at most %+.1f dB",
			from, gain(3400), gain(3800), gain(4100), worst)
	}
}
