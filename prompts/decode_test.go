package prompts

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sineWAV is a 16-bit PCM WAV file made as it is read: a header, then a
// 440 Hz tone on every channel, so that a long file is never held whole.
type sineWAV struct {
	hdr      []byte
	rate     int
	channels int
	frames   int
	pos      int // frames given
	pending  []byte
	frame    [16]byte
}

func newSineWAV(rate, channels, frames int) *sineWAV {
	data := frames * channels * 2
	h := make([]byte, 44)
	copy(h[0:], "RIFF")
	binary.LittleEndian.PutUint32(h[4:], uint32(36+data))
	copy(h[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(h[16:], 16)
	binary.LittleEndian.PutUint16(h[20:], formatPCM)
	binary.LittleEndian.PutUint16(h[22:], uint16(channels))
	binary.LittleEndian.PutUint32(h[24:], uint32(rate))
	binary.LittleEndian.PutUint32(h[28:], uint32(rate*channels*2))
	binary.LittleEndian.PutUint16(h[32:], uint16(channels*2))
	binary.LittleEndian.PutUint16(h[34:], 16)
	copy(h[36:], "data")
	binary.LittleEndian.PutUint32(h[40:], uint32(data))
	return &sineWAV{hdr: h, rate: rate, channels: channels, frames: frames, pending: h}
}

func (s *sineWAV) size() int64 { return int64(44 + s.frames*s.channels*2) }

func (s *sineWAV) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(s.pending) == 0 {
			if s.pos == s.frames {
				break
			}
			v := int16(12000 * math.Sin(2*math.Pi*440*float64(s.pos)/float64(s.rate)))
			for c := range s.channels {
				binary.LittleEndian.PutUint16(s.frame[2*c:], uint16(v))
			}
			s.pending = s.frame[:2*s.channels]
			s.pos++
		}
		k := copy(p[n:], s.pending)
		s.pending = s.pending[k:]
		n += k
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// TestDecodeStreamsLikeReadWAV: the streaming decoder gives what reading
// the whole file and encoding it gives, byte for byte, and refuses the
// same files with the same words.
func TestDecodeStreamsLikeReadWAV(t *testing.T) {
	l := &Library{limits: DefaultLimits}
	files, _ := filepath.Glob("testdata/*.wav")
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			compareDecodes(t, l, func() io.Reader { return bytes.NewReader(b) })
		})
	}
	for _, c := range []struct{ rate, channels, frames int }{
		{8000, 1, 8000}, {8000, 2, 4097}, {11025, 1, 11025*3 + 7}, {16000, 1, 4096*5 + 1},
		{22050, 2, 22050}, {44100, 1, 44100*2 + 13}, {48000, 2, 48000 + 4095}, {48000, 1, 4096},
	} {
		t.Run(fmt.Sprintf("%d Hz %d ch %d frames", c.rate, c.channels, c.frames), func(t *testing.T) {
			compareDecodes(t, l, func() io.Reader { return newSineWAV(c.rate, c.channels, c.frames) })
		})
	}
}

func compareDecodes(t *testing.T, l *Library, open func() io.Reader) {
	t.Helper()
	a, wantErr := ReadWAV(open(), l.limits)
	var want *Prompt
	if wantErr == nil && a.Duration() >= 20*time.Millisecond {
		want = Encode(a)
	}
	got, err := l.Decode(open())
	var pe, wpe *Error
	switch {
	case wantErr != nil:
		if !errors.As(err, &pe) || !errors.As(wantErr, &wpe) || *pe != *wpe {
			t.Fatalf("Decode: %v; ReadWAV: %v", err, wantErr)
		}
	case want == nil:
		if !errors.As(err, &pe) || pe.Code != ENODATA {
			t.Fatalf("Decode of a file under 20 ms: %v", err)
		}
	case err != nil:
		t.Fatalf("Decode: %v", err)
	default:
		if got.samples != want.samples || !bytes.Equal(got.ulaw, want.ulaw) || !bytes.Equal(got.alaw, want.alaw) {
			t.Fatalf("Decode: %d samples, Encode(ReadWAV): %d; µ-law equal %v, A-law equal %v",
				got.samples, want.samples, bytes.Equal(got.ulaw, want.ulaw), bytes.Equal(got.alaw, want.alaw))
		}
	}
}

// TestDecodeMemoryIsBounded: a ten-minute 48 kHz stereo file (110 MB) is
// converted with little memory beyond the 8 kHz result it returns (five
// seconds under the race detector, which slows the filter tenfold).
// Reading the whole file held it, its samples as floats and the
// resampled floats.
func TestDecodeMemoryIsBounded(t *testing.T) {
	seconds := 600
	if raceEnabled {
		seconds = 5
	}
	src := newSineWAV(48000, 2, 48000*seconds)
	l := &Library{limits: Limits{MaxBytes: src.size(), MaxDuration: 10 * time.Minute}}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	p, err := l.Decode(src)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	result := int64(len(p.ulaw) + len(p.alaw) + 24*(len(p.framesU)+len(p.framesA)))
	allocated := int64(after.TotalAlloc - before.TotalAlloc)
	t.Logf("file %d MB, result %.1f MB, allocated %.1f MB", src.size()>>20, float64(result)/(1<<20), float64(allocated)/(1<<20))
	if allocated > result+2<<20 {
		t.Errorf("decoding allocated %d bytes, more than 2 MiB beyond its result of %d", allocated, result)
	}
}

// TestMaxTotal: the stored announcements together stay within MaxTotal;
// a refusal says how much they take and what to do and stores nothing,
// and a deletion makes room again.
func TestMaxTotal(t *testing.T) {
	store := newMemStore()
	second := int64(len(fileMagic) + 4 + 2*8000) // a one-second announcement
	lim := DefaultLimits
	lim.MaxTotal = 2*second + second/2
	l, err := New(store, lim)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, _, err := l.Add(ctx, newSineWAV(16000, 1, 16000), store.register(int64(i+1))); err != nil {
			t.Fatalf("announcement %d: %v", i+1, err)
		}
	}
	_, _, err = l.Add(ctx, newSineWAV(16000, 1, 16000), store.register(3))
	var pe *Error
	if !errors.As(err, &pe) || pe.Code != ENOSPACE || !strings.Contains(pe.Message, "delete announcements no longer used") {
		t.Fatalf("a third: %v", err)
	}
	if ids := store.ids(); len(ids) != 2 {
		t.Errorf("%v stored after the refusal, want 2", ids)
	}
	if used, max, err := l.Stored(ctx); err != nil || used != 2*second || max != lim.MaxTotal {
		t.Errorf("stored %d of %d (%v), want %d of %d", used, max, err, 2*second, lim.MaxTotal)
	}
	delete(store.audio, 1)
	if _, _, err := l.Add(ctx, newSineWAV(16000, 1, 16000), store.register(3)); err != nil {
		t.Fatalf("after a deletion: %v", err)
	}
}

// BenchmarkDecode converts a ten-minute 24 kHz mono file (28.8 MB) held
// in memory. The conversion rests as long as it works (decodeShare),
// which the time per operation includes: cpu-s/op is the processor time
// of one upload's conversion.
func BenchmarkDecode(b *testing.B) {
	src := newSineWAV(24000, 1, 24000*600)
	file, err := io.ReadAll(src)
	if err != nil {
		b.Fatal(err)
	}
	l := &Library{limits: Limits{MaxBytes: int64(len(file)), MaxDuration: 10 * time.Minute}}
	b.SetBytes(int64(len(file)))
	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	b.ResetTimer()
	for range b.N {
		if _, err := l.Decode(bytes.NewReader(file)); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano() - before.Utime.Nano() + after.Stime.Nano() - before.Stime.Nano())
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
}
