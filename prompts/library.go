// Package prompts turns uploaded WAV files into announcements ready to play:
// it checks the file, mixes it to mono, resamples it to 8 kHz through an
// anti-aliasing filter, encodes it to µ-law and A-law once and keeps it in
// 20 ms frames. It stores the audio in a folder and holds the built-in
// default announcement. It knows nothing of SIP, RTP or the database: the
// caller records the metadata through a function it passes to Add.
package prompts

import (
	"bytes"
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/phonediversions/phonediversions/audio"
)

//go:embed default.wav
var defaultWAV []byte

// fileMagic starts every stored announcement file; the version is its last byte.
var fileMagic = []byte("PDG711\x00\x01")

// Library is the folder of stored announcements, with the ones in use kept
// in memory.
type Library struct {
	dir     string
	limits  Limits
	builtin *Prompt

	mu    sync.RWMutex
	cache map[int64]*Prompt
	// stored is the size of the stored files, and of those being stored.
	stored int64
}

// Open returns the library in dir, creating the folder when missing.
func Open(dir string, lim Limits) (*Library, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("prompts: %w", err)
	}
	// Uploads cut short by a crash left their temporary files behind.
	if stale, err := filepath.Glob(filepath.Join(dir, ".upload-*")); err == nil {
		for _, f := range stale {
			os.Remove(f)
		}
	}
	a, err := ReadWAV(bytes.NewReader(defaultWAV), Limits{MaxBytes: int64(len(defaultWAV)), MaxDuration: time.Minute})
	if err != nil {
		return nil, fmt.Errorf("prompts: built-in announcement: %w", err)
	}
	l := &Library{dir: dir, limits: lim, builtin: Encode(a), cache: map[int64]*Prompt{}}
	files, err := filepath.Glob(filepath.Join(dir, "*.g711"))
	if err != nil {
		return nil, fmt.Errorf("prompts: %w", err)
	}
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil {
			l.stored += fi.Size()
		}
	}
	return l, nil
}

// storedSize is the size of a prompt's stored file.
func storedSize(p *Prompt) int64 { return int64(len(fileMagic) + 4 + len(p.ulaw) + len(p.alaw)) }

// Stored returns the bytes the stored announcements take, and the most
// they may (0: no bound).
func (l *Library) Stored() (int64, int64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.stored, l.limits.MaxTotal
}

// reserve takes room for a file of size bytes. Errors: ENOSPACE.
func (l *Library) reserve(size int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if max := l.limits.MaxTotal; max > 0 && l.stored+size > max {
		return errorf(ENOSPACE, "the stored announcements take %s of the %s allowed, and this one needs %s more; delete announcements no longer used first",
			sizeText(l.stored), sizeText(max), sizeText(size))
	}
	l.stored += size
	return nil
}

// release gives back room reserved for a file not stored.
func (l *Library) release(size int64) {
	l.mu.Lock()
	l.stored -= size
	l.mu.Unlock()
}

// Builtin returns the built-in default announcement.
func (l *Library) Builtin() *Prompt { return l.builtin }

func (l *Library) path(id int64) string {
	return filepath.Join(l.dir, strconv.FormatInt(id, 10)+".g711")
}

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

// Add checks, encodes and stores an uploaded WAV file. register is called
// once the audio is safely written and before it is put in place: it
// records the metadata (it gets the duration) and answers the id the
// announcement is known by. When the file is refused or register fails,
// nothing is stored and every announcement stays as it was. Errors: the
// refusals of ReadWAV, ENOSPACE when the stored announcements would pass
// MaxTotal, register's error, I/O errors.
func (l *Library) Add(r io.Reader, register func(time.Duration) (int64, error)) (int64, *Prompt, error) {
	p, err := l.Decode(r)
	if err != nil {
		return 0, nil, err
	}
	size := storedSize(p)
	if err := l.reserve(size); err != nil {
		return 0, nil, err
	}
	stored := false
	defer func() {
		if !stored {
			l.release(size)
		}
	}()
	tmp, err := os.CreateTemp(l.dir, ".upload-*")
	if err != nil {
		return 0, nil, fmt.Errorf("prompts: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if err := writeFile(tmp, p); err != nil {
		return 0, nil, fmt.Errorf("prompts: write: %w", err)
	}
	id, err := register(p.Duration())
	if err != nil {
		return 0, nil, err
	}
	if err := os.Rename(tmp.Name(), l.path(id)); err != nil {
		return 0, nil, fmt.Errorf("prompts: %w", err)
	}
	stored = true
	syncDir(l.dir)
	l.mu.Lock()
	l.cache[id] = p
	l.mu.Unlock()
	return id, p, nil
}

// writeFile writes the stored form (magic, sample count, µ-law, A-law),
// flushes it to disk and closes f.
func writeFile(f *os.File, p *Prompt) error {
	hdr := append(append([]byte(nil), fileMagic...), 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(hdr[len(fileMagic):], uint32(p.samples))
	for _, b := range [][]byte{hdr, p.ulaw, p.alaw} {
		if _, err := f.Write(b); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// Get returns the announcement with the id; 0 is the built-in one.
// Errors: ENOTFOUND when no audio is stored under the id, EUNSUPPORTED when
// the stored file is damaged.
func (l *Library) Get(id int64) (*Prompt, error) {
	if id == 0 {
		return l.builtin, nil
	}
	l.mu.RLock()
	p := l.cache[id]
	l.mu.RUnlock()
	if p != nil {
		return p, nil
	}
	buf, err := os.ReadFile(l.path(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errorf(ENOTFOUND, "announcement %d has no stored audio", id)
	} else if err != nil {
		return nil, fmt.Errorf("prompts: %w", err)
	}
	if p, err = parseFile(buf); err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.cache[id] = p
	l.mu.Unlock()
	return p, nil
}

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

// Remove deletes the stored audio of an announcement. Removing one that is
// not stored is not an error.
func (l *Library) Remove(id int64) error {
	l.mu.Lock()
	delete(l.cache, id)
	l.mu.Unlock()
	fi, statErr := os.Stat(l.path(id))
	switch err := os.Remove(l.path(id)); {
	case err == nil && statErr == nil:
		l.release(fi.Size())
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("prompts: %w", err)
	}
	syncDir(l.dir)
	return nil
}
