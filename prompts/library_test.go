package prompts

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/zaf/g711"

	"github.com/phonediversions/phonediversions/audio"
)

var ctx = context.Background()

// memStore is a Store in memory, as the product's store keeps the
// stored forms by announcement id.
type memStore struct {
	mu    sync.Mutex
	audio map[int64][]byte
}

func newMemStore() *memStore { return &memStore{audio: map[int64][]byte{}} }

var errNoAudio = errors.New("no stored audio")

func (m *memStore) AnnouncementAudio(_ context.Context, id int64) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.audio[id]
	if !ok {
		return nil, errNoAudio
	}
	return b, nil
}

func (m *memStore) AnnouncementAudioSize(context.Context) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var n int64
	for _, b := range m.audio {
		n += int64(len(b))
	}
	return n, nil
}

// register is Add's register function recording the audio under id.
func (m *memStore) register(id int64) func(time.Duration, []byte) (int64, error) {
	return func(_ time.Duration, stored []byte) (int64, error) {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.audio[id] = stored
		return id, nil
	}
}

func (m *memStore) ids() []int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []int64
	for id := range m.audio {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

func openLibrary(t *testing.T, store Store) *Library {
	t.Helper()
	l, err := New(store, DefaultLimits)
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

func TestBuiltinAnnouncement(t *testing.T) {
	l := openLibrary(t, newMemStore())
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

func TestAddGetAcrossLibraries(t *testing.T) {
	store := newMemStore()
	l := openLibrary(t, store)
	var gotDuration time.Duration
	id, p, err := l.Add(ctx, testFile(t, "s16-48k-stereo.wav"), func(d time.Duration, stored []byte) (int64, error) {
		gotDuration = d
		return store.register(17)(d, stored)
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

	// Another library on the store (a restart, another node) reads the
	// same audio back.
	again, err := openLibrary(t, store).Get(17)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again.Frames(audio.PCMU), frames) || !reflect.DeepEqual(again.Frames(audio.PCMA), p.Frames(audio.PCMA)) || again.Duration() != p.Duration() {
		t.Fatal("the stored announcement differs in another library")
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

	// Deleted from the store: a library that forgot it finds none.
	delete(store.audio, 17)
	l.Forget(17)
	if _, err := l.Get(17); !errors.Is(err, errNoAudio) {
		t.Fatalf("after the deletion: %v", err)
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
	store := newMemStore()
	l := openLibrary(t, store)
	if _, _, err := l.Add(ctx, testFile(t, "alaw-8k.wav"), store.register(1)); err != nil {
		t.Fatal(err)
	}
	active, _ := l.Get(1)
	for _, name := range []string{"broken-truncated.wav", "broken-length-lie.wav", "broken-zero-channels.wav",
		"broken-zero-hz.wav", "broken-ten-hours.wav", "broken-not-wav.wav", "broken-empty.wav"} {
		called := false
		_, _, err := l.Add(ctx, testFile(t, name), func(time.Duration, []byte) (int64, error) { called = true; return 2, nil })
		if code(err) == "" || called {
			t.Errorf("%s: error %v, registered %v", name, err, called)
		}
	}
	// The store refusing (say, the database is full) keeps nothing either.
	boom := errors.New("database unavailable")
	if _, _, err := l.Add(ctx, testFile(t, "ulaw-8k.wav"), func(time.Duration, []byte) (int64, error) { return 0, boom }); !errors.Is(err, boom) {
		t.Fatalf("register failure: %v", err)
	}
	if ids := store.ids(); !reflect.DeepEqual(ids, []int64{1}) {
		t.Fatalf("refused uploads changed the store: %v", ids)
	}
	still, err := openLibrary(t, store).Get(1)
	if err != nil || !reflect.DeepEqual(still.Frames(audio.PCMA), active.Frames(audio.PCMA)) {
		t.Fatalf("the active announcement changed: %v", err)
	}
}

func TestDamagedStoredAudio(t *testing.T) {
	store := newMemStore()
	store.audio[5] = []byte("PDG711\x00\x01\x10\x00\x00\x00short")
	if _, err := openLibrary(t, store).Get(5); code(err) != EUNSUPPORTED {
		t.Fatalf("damaged audio: %v", err)
	}
}

// TestLegacyFiles: the files of earlier versions are read for the store
// to take over; damaged ones and others are left.
func TestLegacyFiles(t *testing.T) {
	dir := t.TempDir()
	good := Encode(Audio{Rate: 8000, Samples: make([]float32, 800)}).Marshal()
	for name, b := range map[string][]byte{"3.g711": good, "5.g711": []byte("PDG711 damaged"), "x.g711": good, ".upload-1": good} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	got, err := LegacyFiles(dir)
	if err != nil || len(got) != 1 || !bytes.Equal(got[3], good) {
		t.Fatalf("LegacyFiles: %d files, %v", len(got), err)
	}
	if got, err := LegacyFiles(filepath.Join(dir, "none")); err != nil || len(got) != 0 {
		t.Fatalf("a missing folder: %v %v", got, err)
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
