package prompts

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/zaf/g711"

	"github.com/phonediversions/phonediversions/audio"
)

func openLibrary(t *testing.T, dir string) *Library {
	t.Helper()
	l, err := Open(dir, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func testFile(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestBuiltinAnnouncement(t *testing.T) {
	l := openLibrary(t, t.TempDir())
	p, err := l.Get(0)
	if err != nil || p != l.Builtin() {
		t.Fatalf("Get(0) = %p, %v; want the built-in one", p, err)
	}
	if d := p.Duration(); d < 3*time.Second || d > 5*time.Second {
		t.Fatalf("built-in announcement lasts %v", d)
	}
	for _, c := range audio.Codecs {
		frames := p.Frames(c)
		if want := int((p.Duration() + audio.FrameDuration - 1) / audio.FrameDuration); len(frames) != want {
			t.Errorf("codec %d: %d frames, want %d", c, len(frames), want)
		}
		for i, fr := range frames {
			if len(fr) != audio.FrameSamples {
				t.Fatalf("frame %d has %d bytes", i, len(fr))
			}
		}
	}
	// The two laws carry the same audio.
	u, a := p.Frames(audio.PCMU)[40], p.Frames(audio.PCMA)[40]
	for i := range u {
		du, da := int(g711.DecodeUlawFrame(u[i])), int(g711.DecodeAlawFrame(a[i]))
		if diff := du - da; diff > 1024 || diff < -1024 {
			t.Fatalf("sample %d: µ-law %d, A-law %d", i, du, da)
		}
	}
}

func TestAddGetReopenRemove(t *testing.T) {
	dir := t.TempDir()
	l := openLibrary(t, dir)
	var gotDuration time.Duration
	id, p, err := l.Add(testFile(t, "s16-48k-stereo.wav"), func(d time.Duration) (int64, error) {
		gotDuration = d
		return 17, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if id != 17 || gotDuration != p.Duration() || p.Duration() != 800*time.Millisecond {
		t.Fatalf("id %d, registered %v, duration %v", id, gotDuration, p.Duration())
	}
	frames := p.Frames(audio.PCMU)
	if len(frames) != 40 {
		t.Fatalf("%d frames for 0.8 s, want 40", len(frames))
	}

	// A new library (a restart) reads the same audio back from disk.
	again, err := openLibrary(t, dir).Get(17)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again.Frames(audio.PCMU), frames) || !reflect.DeepEqual(again.Frames(audio.PCMA), p.Frames(audio.PCMA)) || again.Duration() != p.Duration() {
		t.Fatal("the stored announcement differs after reopening")
	}

	// The WAV for listening decodes to the same audio.
	var wav bytes.Buffer
	if err := again.WriteWAV(&wav); err != nil {
		t.Fatal(err)
	}
	a, err := ReadWAV(&wav, DefaultLimits)
	if err != nil || a.Rate != 8000 || len(a.Samples) != 6400 {
		t.Fatalf("listening WAV: rate %d, %d samples, %v", a.Rate, len(a.Samples), err)
	}
	if c := correlation(a.Samples, Resample(mustRead(t, "s16-48k-stereo.wav").Samples, 48000, 8000)); c < 0.99 {
		t.Fatalf("listening WAV correlates %.3f with the upload", c)
	}

	if err := l.Remove(17); err != nil {
		t.Fatal(err)
	}
	if _, err := openLibrary(t, dir).Get(17); code(err) != ENOTFOUND {
		t.Fatalf("after Remove: %v", err)
	}
}

func mustRead(t *testing.T, name string) Audio {
	t.Helper()
	a, err := readTestWAV(t, name, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func code(err error) string {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func TestRefusedUploadChangesNothing(t *testing.T) {
	dir := t.TempDir()
	l := openLibrary(t, dir)
	if _, _, err := l.Add(testFile(t, "alaw-8k.wav"), func(time.Duration) (int64, error) { return 1, nil }); err != nil {
		t.Fatal(err)
	}
	active, _ := l.Get(1)
	before := listDir(t, dir)
	for _, name := range []string{"broken-truncated.wav", "broken-length-lie.wav", "broken-zero-channels.wav",
		"broken-zero-hz.wav", "broken-ten-hours.wav", "broken-not-wav.wav", "broken-empty.wav"} {
		called := false
		_, _, err := l.Add(testFile(t, name), func(time.Duration) (int64, error) { called = true; return 1, nil })
		if code(err) == "" || called {
			t.Errorf("%s: error %v, metadata registered %v", name, err, called)
		}
	}
	// The metadata store refusing (say, the database is full) leaves nothing behind either.
	boom := errors.New("database unavailable")
	if _, _, err := l.Add(testFile(t, "ulaw-8k.wav"), func(time.Duration) (int64, error) { return 0, boom }); !errors.Is(err, boom) {
		t.Fatalf("register failure: %v", err)
	}
	if after := listDir(t, dir); !reflect.DeepEqual(before, after) {
		t.Fatalf("refused uploads changed the folder: %v → %v", before, after)
	}
	still, err := openLibrary(t, dir).Get(1)
	if err != nil || !reflect.DeepEqual(still.Frames(audio.PCMA), active.Frames(audio.PCMA)) {
		t.Fatalf("the active announcement changed: %v", err)
	}
}

func TestDamagedStoredFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "5.g711"), []byte("PDG711\x00\x01\x10\x00\x00\x00short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := openLibrary(t, dir).Get(5); code(err) != EUNSUPPORTED {
		t.Fatalf("damaged file: %v", err)
	}
}

func TestOpenRemovesInterruptedUploads(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, ".upload-123")
	if err := os.WriteFile(stale, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	openLibrary(t, dir)
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("stale upload still there: %v", err)
	}
}

func TestPeaks(t *testing.T) {
	// Half a second of silence, then half a second at half scale.
	samples := make([]float32, 8000)
	for i := 4000; i < 8000; i++ {
		samples[i] = 0.5
		if i%2 == 0 {
			samples[i] = -0.5
		}
	}
	p := Encode(Audio{Rate: 8000, Samples: samples})
	peaks := p.Peaks(4)
	if len(peaks) != 4 || peaks[0] > 0.01 || peaks[1] > 0.01 || peaks[2] < 0.45 || peaks[2] > 0.55 || peaks[3] < 0.45 {
		t.Errorf("peaks %v, want two silent stretches and two at half scale", peaks)
	}
	if got := p.Peaks(20000); len(got) != 20000 || got[19999] < 0.45 {
		t.Errorf("more stretches than samples: %d values, last %v", len(got), got[len(got)-1])
	}
}
