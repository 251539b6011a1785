// Package prompts turns uploaded WAV files into announcements ready to play:
// it checks the file, mixes it to mono, resamples it to 8 kHz through an
// anti-aliasing filter, encodes it to µ-law and A-law once and keeps it in
// 20 ms frames. It keeps the announcements played in memory and holds the
// built-in default announcement. It knows nothing of SIP, RTP or the
// database: the audio's stored form lives in a Store the caller gives,
// and the caller records an upload through a function it passes to Add.
package prompts

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/phonediversions/phonediversions/audio"
)

//go:embed default.wav
var defaultWAV []byte

// fileMagic starts every stored announcement file; the version is its last byte.
var fileMagic = []byte("PDG711\x00\x01")

// Store keeps the announcements' audio in its stored form (Marshal),
// by announcement id: the product's store, which every node shares.
type Store interface {
	// AnnouncementAudio returns the stored form of announcement id; an
	// error when there is none.
	AnnouncementAudio(ctx context.Context, id int64) ([]byte, error)
	// AnnouncementAudioSize returns the bytes all of them take.
	AnnouncementAudioSize(ctx context.Context) (int64, error)
}

// Library converts uploaded announcements and keeps those played in
// memory; their audio lives in the Store. An announcement's audio never
// changes under its id (a new upload is a new announcement), so what it
// keeps stays right whichever node stored it.
type Library struct {
	store   Store
	limits  Limits
	builtin *Prompt

	mu    sync.RWMutex
	cache map[int64]*Prompt
}

// New returns the library over the store.
func New(store Store, lim Limits) (*Library, error) {
	a, err := ReadWAV(bytes.NewReader(defaultWAV), Limits{MaxBytes: int64(len(defaultWAV)), MaxDuration: time.Minute})
	if err != nil {
		return nil, fmt.Errorf("prompts: built-in announcement: %w", err)
	}
	return &Library{store: store, limits: lim, builtin: Encode(a), cache: map[int64]*Prompt{}}, nil
}

// Stored returns the bytes the stored announcements take, and the most
// they may (0: no bound). Errors: the store's.
func (l *Library) Stored(ctx context.Context) (int64, int64, error) {
	n, err := l.store.AnnouncementAudioSize(ctx)
	return n, l.limits.MaxTotal, err
}

// Builtin returns the built-in default announcement.
func (l *Library) Builtin() *Prompt { return l.builtin }

// Decode reads and checks a WAV file and encodes it, without storing it.
// It streams: besides the 8 kHz result it holds a block of the file and
// the resampling filter's window, whatever the file's length. It works at
// most half the time, resting between blocks, so that calls in progress
// keep their share of the processor. Errors: see ReadWAV.
func (l *Library) Decode(r io.Reader) (*Prompt, error) {
	var p *Prompt
	err := scanWAV(r, l.limits, func(f wavFormat, size int64, read func([]byte) error) error {
		frames := int(size / int64(f.blockAlign))
		enc := newEncoder(int(int64(frames) * rate / int64(f.rate)))
		rs := newResampler(f.rate, rate, frames, enc.put)
		block := make([]byte, decodeBlockFrames*f.blockAlign)
		samples := make([]float32, decodeBlockFrames)
		var owed time.Duration // rest owed for the work done (decodeShare)
		for left := frames; left > 0; {
			began := time.Now()
			k := min(left, decodeBlockFrames)
			if err := read(block[:k*f.blockAlign]); err != nil {
				return err
			}
			decodeInto(samples[:k], block[:k*f.blockAlign], f)
			rs.write(samples[:k])
			left -= k
			// A block is under a millisecond of work: let the pacer and
			// the calls run between blocks, and rest as long as the share
			// asks, so that a conversion never takes a whole core.
			owed += time.Duration(float64(time.Since(began)) * (1 - decodeShare) / decodeShare)
			if owed >= decodeRest {
				slept := time.Now()
				time.Sleep(owed)
				owed -= time.Since(slept)
			} else {
				runtime.Gosched()
			}
		}
		if rest := int(size) - frames*f.blockAlign; rest > 0 {
			if err := read(block[:rest]); err != nil { // a part of a frame
				return err
			}
		}
		if frames == 0 {
			return errorf(ENODATA, "the file holds no audio samples")
		}
		if time.Duration(frames)*time.Second/time.Duration(f.rate) < audio.FrameDuration {
			return errorf(ENODATA, "the announcement is shorter than 20 ms")
		}
		p = enc.prompt()
		return nil
	})
	return p, err
}

// decodeBlockFrames is how many frames of a file Decode reads at a time.
const decodeBlockFrames = 4096

// decodeShare is the share of one core a conversion takes at most, and
// decodeRest how much rest it gathers before it sleeps.
const (
	decodeShare = 0.5
	decodeRest  = 2 * time.Millisecond
)

// Add checks and encodes an uploaded WAV file, then calls register with
// its duration and its stored form (Marshal), which records the
// announcement and its audio in the store and answers its id. When the
// file is refused or register fails, nothing is stored. Errors: the
// refusals of ReadWAV, ENOSPACE when the stored announcements would pass
// MaxTotal, the store's and register's errors.
func (l *Library) Add(ctx context.Context, r io.Reader, register func(d time.Duration, stored []byte) (int64, error)) (int64, *Prompt, error) {
	p, err := l.Decode(r)
	if err != nil {
		return 0, nil, err
	}
	stored := p.Marshal()
	if max := l.limits.MaxTotal; max > 0 {
		used, err := l.store.AnnouncementAudioSize(ctx)
		if err != nil {
			return 0, nil, err
		}
		if size := int64(len(stored)); used+size > max {
			return 0, nil, errorf(ENOSPACE, "the stored announcements take %s of the %s allowed, and this one needs %s more; delete announcements no longer used first",
				sizeText(used), sizeText(max), sizeText(size))
		}
	}
	id, err := register(p.Duration(), stored)
	if err != nil {
		return 0, nil, err
	}
	l.mu.Lock()
	l.cache[id] = p
	l.mu.Unlock()
	return id, p, nil
}

// Marshal returns the stored form of the announcement: a magic, the
// sample count, the µ-law and the A-law bytes.
func (p *Prompt) Marshal() []byte {
	out := make([]byte, 0, len(fileMagic)+4+len(p.ulaw)+len(p.alaw))
	out = append(out, fileMagic...)
	out = binary.LittleEndian.AppendUint32(out, uint32(p.samples))
	out = append(out, p.ulaw...)
	return append(out, p.alaw...)
}

// Get returns the announcement with the id; 0 is the built-in one.
// Errors: the store's when it has no audio under the id, EUNSUPPORTED
// when the stored form is damaged.
func (l *Library) Get(id int64) (*Prompt, error) {
	if id == 0 {
		return l.builtin, nil
	}
	l.mu.RLock()
	p, ok := l.cache[id]
	l.mu.RUnlock()
	if ok {
		return p, nil
	}
	buf, err := l.store.AnnouncementAudio(context.Background(), id)
	if err != nil {
		return nil, err
	}
	if p, err = Unmarshal(buf); err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.cache[id] = p
	l.mu.Unlock()
	return p, nil
}

// Unmarshal reads the stored form of an announcement. Errors:
// EUNSUPPORTED when it is damaged.
func Unmarshal(buf []byte) (*Prompt, error) { return parseFile(buf) }

func parseFile(buf []byte) (*Prompt, error) {
	h := len(fileMagic) + 4
	if len(buf) < h || !bytes.Equal(buf[:len(fileMagic)], fileMagic) {
		return nil, errorf(EUNSUPPORTED, "the stored announcement file is damaged")
	}
	n := int(binary.LittleEndian.Uint32(buf[len(fileMagic):h]))
	padded := (n + frameBytes - 1) / frameBytes * frameBytes
	if len(buf)-h != 2*padded {
		return nil, errorf(EUNSUPPORTED, "the stored announcement file is damaged")
	}
	body := buf[h:]
	return newPrompt(n, body[:padded:padded], body[padded:]), nil
}

// Forget drops an announcement from the memory (it was deleted).
func (l *Library) Forget(id int64) {
	l.mu.Lock()
	delete(l.cache, id)
	l.mu.Unlock()
}

// LegacyFiles reads the announcements stored as files in dir by earlier
// versions (<id>.g711), by id, for the store to take them over. A
// missing folder holds none. Errors: an unreadable folder or file.
func LegacyFiles(dir string) (map[int64][]byte, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.g711"))
	if err != nil {
		return nil, fmt.Errorf("prompts: %w", err)
	}
	out := map[int64][]byte{}
	for _, p := range paths {
		id, err := strconv.ParseInt(strings.TrimSuffix(filepath.Base(p), ".g711"), 10, 64)
		if err != nil || id < 1 {
			continue
		}
		buf, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("prompts: %w", err)
		}
		if _, err := parseFile(buf); err != nil {
			continue // damaged: not taken over
		}
		out[id] = buf
	}
	return out, nil
}
