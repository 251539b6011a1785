package prompts

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func readTestWAV(t testing.TB, name string, lim Limits) (Audio, error) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return ReadWAV(f, lim)
}

// correlation is the normalized cross-correlation of two equally long
// signals at lag 0.
func correlation(a, b []float32) float64 {
	n := min(len(a), len(b))
	var ab, aa, bb float64
	for i := 0; i < n; i++ {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	return ab / math.Sqrt(aa*bb)
}

func TestReadWAVFormats(t *testing.T) {
	ref, err := readTestWAV(t, "f64-8k-mono.wav", DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file    string
		rate    int
		minCorr float64 // against the 64-bit float reference, after resampling to 8 kHz
	}{
		{"s16-48k-stereo.wav", 48000, 0.99},
		{"s16-48k-3ch-extensible.wav", 48000, 0.99},
		{"u8-8k-mono.wav", 8000, 0.95},
		{"s24-44k-mono.wav", 44100, 0.99},
		{"s32-16k-mono.wav", 16000, 0.99},
		{"f32-22k-stereo.wav", 22050, 0.99},
		{"f64-8k-mono.wav", 8000, 1},
		{"ulaw-8k.wav", 8000, 0.99},
		{"alaw-8k.wav", 8000, 0.99},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			a, err := readTestWAV(t, tt.file, DefaultLimits)
			if err != nil {
				t.Fatal(err)
			}
			if a.Rate != tt.rate {
				t.Errorf("rate %d, want %d", a.Rate, tt.rate)
			}
			if d := a.Duration(); d < 790*time.Millisecond || d > 810*time.Millisecond {
				t.Errorf("duration %v, want 0.8 s", d)
			}
			for _, v := range a.Samples {
				if v < -1 || v > 1 || math.IsNaN(float64(v)) {
					t.Fatalf("sample %v out of range", v)
				}
			}
			got := Resample(a.Samples, a.Rate, 8000)
			if c := correlation(got, ref.Samples); c < tt.minCorr-1e-9 {
				t.Errorf("correlation with the reference %.4f, want at least %.2f", c, tt.minCorr)
			}
		})
	}
}

func TestReadWAVRefusals(t *testing.T) {
	tests := []struct {
		file string
		lim  Limits
		code string
		text string
	}{
		{"broken-empty.wav", DefaultLimits, ENODATA, "empty"},
		{"broken-not-wav.wav", DefaultLimits, ENOTWAV, "not a WAV file"},
		{"broken-short-header.wav", DefaultLimits, ETRUNCATED, "RIFF header"},
		{"broken-truncated.wav", DefaultLimits, ETRUNCATED, "holds only"},
		{"broken-length-lie.wav", DefaultLimits, ETRUNCATED, "announces 307200 bytes"},
		{"broken-no-data.wav", DefaultLimits, ENODATA, "no audio data"},
		{"broken-empty-data.wav", DefaultLimits, ENODATA, "no audio samples"},
		{"broken-zero-channels.wav", DefaultLimits, EUNSUPPORTED, "zero channels"},
		{"broken-zero-hz.wav", DefaultLimits, EUNSUPPORTED, "0 Hz"},
		{"broken-ten-hours.wav", DefaultLimits, ETOOLONG, "lasts 10h0m0s"},
		{"adpcm-32k.wav", DefaultLimits, EUNSUPPORTED, "format 0x0011"},
		{"s16-48k-stereo.wav", Limits{MaxBytes: 100_000, MaxDuration: time.Hour}, ETOOLARGE, "larger than 100000 bytes"},
		{"s16-48k-stereo.wav", Limits{MaxBytes: 1 << 30, MaxDuration: 500 * time.Millisecond}, ETOOLONG, "at most 500ms"},
	}
	for _, tt := range tests {
		t.Run(tt.file+"/"+tt.code, func(t *testing.T) {
			_, err := readTestWAV(t, tt.file, tt.lim)
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *prompts.Error", err)
			}
			if pe.Code != tt.code || !strings.Contains(pe.Message, tt.text) {
				t.Fatalf("got %s %q; want %s with %q", pe.Code, pe.Message, tt.code, tt.text)
			}
		})
	}
}

func TestReadWAVOddChunkPadding(t *testing.T) {
	// An odd-sized chunk before the data is padded to an even size.
	var b bytes.Buffer
	if err := WriteWAV(&b, 8000, make([]int16, 800)); err != nil {
		t.Fatal(err)
	}
	raw := b.Bytes()
	odd := append([]byte(nil), raw[:36]...)
	odd = append(odd, 'L', 'I', 'S', 'T', 3, 0, 0, 0, 'a', 'b', 'c', 0)
	odd = append(odd, raw[36:]...)
	a, err := ReadWAV(bytes.NewReader(odd), DefaultLimits)
	if err != nil || len(a.Samples) != 800 {
		t.Fatalf("%d samples, %v", len(a.Samples), err)
	}
}

func FuzzReadWAV(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.wav"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		if len(b) > 8192 {
			b = b[:8192]
		}
		f.Add(b)
	}
	lim := Limits{MaxBytes: 1 << 20, MaxDuration: time.Minute}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ReadWAV(bytes.NewReader(b), lim)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if a.Rate < 8000 || a.Rate > 48000 || len(a.Samples) == 0 {
			t.Fatalf("accepted rate %d with %d samples", a.Rate, len(a.Samples))
		}
		for _, v := range a.Samples {
			if !(v >= -1 && v <= 1) {
				t.Fatalf("sample %v", v)
			}
		}
	})
}
