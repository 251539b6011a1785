package prompts

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/zaf/g711"
)

// WAV format tags.
const (
	formatPCM        = 0x0001
	formatFloat      = 0x0003
	formatALaw       = 0x0006
	formatMuLaw      = 0x0007
	formatExtensible = 0xFFFE
)

// Limits bound what an uploaded file may be.
type Limits struct {
	// MaxBytes is the largest file accepted.
	MaxBytes int64
	// MaxDuration is the longest announcement accepted.
	MaxDuration time.Duration
	// MaxTotal bounds the stored audio of all announcements together, in
	// bytes of the stored 8 kHz form (16,000 a second); 0: no bound.
	MaxTotal int64
}

// DefaultLimits are generous for spoken announcements: a 10-minute 48 kHz
// stereo 16-bit file is 110 MB, so the byte limit, not the duration,
// usually stops a huge file first.
var DefaultLimits = Limits{MaxBytes: 50 << 20, MaxDuration: 10 * time.Minute}

// Audio is decoded, mono audio.
type Audio struct {
	Rate    int
	Samples []float32 // in [-1, 1]
}

// Duration returns the length of the audio.
func (a Audio) Duration() time.Duration {
	if a.Rate == 0 {
		return 0
	}
	return time.Duration(len(a.Samples)) * time.Second / time.Duration(a.Rate)
}

// wavFormat is what the fmt chunk says.
type wavFormat struct {
	tag        uint16
	channels   int
	rate       int
	blockAlign int
	bits       int // container bits per sample
}

// ReadWAV reads a RIFF/WAVE file: PCM 8, 16, 24 or 32-bit, 32 or 64-bit
// float, µ-law or A-law (plain or WAVE_FORMAT_EXTENSIBLE), 1 to 8
// channels, 8 to 48 kHz. The channels are mixed to mono. The header is
// checked before the audio is read, so a file that says it is too long or
// too large is refused without reading it. It holds the whole file in
// memory; Decode streams it. Errors (*Error): ENODATA, ENOTWAV,
// ETRUNCATED, EUNSUPPORTED, ETOOLONG, ETOOLARGE; an error of r passes
// through.
func ReadWAV(r io.Reader, lim Limits) (Audio, error) {
	var a Audio
	err := scanWAV(r, lim, func(f wavFormat, size int64, read func([]byte) error) error {
		data := make([]byte, size)
		if err := read(data); err != nil {
			return err
		}
		frames := len(data) / f.blockAlign
		if frames == 0 {
			return errorf(ENODATA, "the file holds no audio samples")
		}
		a = Audio{Rate: f.rate, Samples: decodeSamples(data[:frames*f.blockAlign], f)}
		return nil
	})
	return a, err
}

// scanWAV reads a WAV file's header up to its data chunk, checks it
// against the limits, and hands the data chunk to consume with its size
// and a read function that fills a buffer from it (or says, as a
// refusal, why it cannot). Errors: those of ReadWAV, and consume's.
func scanWAV(r io.Reader, lim Limits, consume func(f wavFormat, size int64, read func([]byte) error) error) error {
	lr := &io.LimitedReader{R: r, N: lim.MaxBytes + 1}
	// short turns a read that ended early into the right refusal.
	short := func(err error, code, format string, args ...any) error {
		switch {
		case lr.N <= 0:
			return errorf(ETOOLARGE, "the file is larger than %s", sizeText(lim.MaxBytes))
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return errorf(code, format, args...)
		default:
			return err
		}
	}
	var hdr [12]byte
	if n, err := io.ReadFull(lr, hdr[:]); err != nil {
		switch {
		case n == 0 && errors.Is(err, io.EOF):
			return errorf(ENODATA, "the file is empty")
		case n >= 4 && string(hdr[:4]) == "RIFF":
			return short(err, ETRUNCATED, "the file ends inside its RIFF header")
		default:
			return short(err, ENOTWAV, "the file is not a WAV file (no RIFF/WAVE header)")
		}
	}
	if string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		return errorf(ENOTWAV, "the file is not a WAV file (no RIFF/WAVE header)")
	}
	var fmtc *wavFormat
	for {
		var ch [8]byte
		if n, err := io.ReadFull(lr, ch[:]); err != nil {
			if n == 0 && errors.Is(err, io.EOF) {
				if fmtc == nil {
					return errorf(EUNSUPPORTED, "the file has no format chunk")
				}
				return errorf(ENODATA, "the file has no audio data")
			}
			return short(err, ETRUNCATED, "the file ends inside a chunk header")
		}
		id := string(ch[0:4])
		size := int64(binary.LittleEndian.Uint32(ch[4:8]))
		switch id {
		case "fmt ":
			if size > 1024 {
				return errorf(EUNSUPPORTED, "the format chunk is %d bytes long", size)
			}
			body := make([]byte, size+size&1)
			if _, err := io.ReadFull(lr, body); err != nil && !(errors.Is(err, io.ErrUnexpectedEOF) && size&1 == 1) {
				return short(err, ETRUNCATED, "the file ends inside its format chunk")
			}
			f, err := parseFormat(body[:size])
			if err != nil {
				return err
			}
			fmtc = &f
		case "data":
			if fmtc == nil {
				return errorf(EUNSUPPORTED, "the audio data comes before its format chunk")
			}
			if d := durationOf(size, *fmtc); d > lim.MaxDuration {
				return errorf(ETOOLONG, "the announcement lasts %s; at most %s is allowed", d.Round(time.Second), lim.MaxDuration)
			}
			if size >= lr.N {
				return errorf(ETOOLARGE, "the file is larger than %s", sizeText(lim.MaxBytes))
			}
			var got int64
			read := func(p []byte) error {
				n, err := io.ReadFull(lr, p)
				got += int64(n)
				if err != nil {
					return short(err, ETRUNCATED, "the header announces %d bytes of audio but the file holds only %d", size, got)
				}
				return nil
			}
			return consume(*fmtc, size, read)
		default:
			skip := size + size&1
			if n, err := io.CopyN(io.Discard, lr, skip); err != nil && !(n == size && size&1 == 1) {
				return short(err, ETRUNCATED, "the file ends inside its %q chunk", id)
			}
		}
	}
}

func sizeText(n int64) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%d MB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

func durationOf(dataBytes int64, f wavFormat) time.Duration {
	frames := dataBytes / int64(f.blockAlign)
	return time.Duration(float64(frames) / float64(f.rate) * float64(time.Second))
}

func parseFormat(b []byte) (wavFormat, error) {
	if len(b) < 16 {
		return wavFormat{}, errorf(EUNSUPPORTED, "the format chunk is too short")
	}
	f := wavFormat{
		tag:        binary.LittleEndian.Uint16(b[0:2]),
		channels:   int(binary.LittleEndian.Uint16(b[2:4])),
		rate:       int(binary.LittleEndian.Uint32(b[4:8])),
		blockAlign: int(binary.LittleEndian.Uint16(b[12:14])),
		bits:       int(binary.LittleEndian.Uint16(b[14:16])),
	}
	if f.tag == formatExtensible {
		if len(b) < 40 {
			return wavFormat{}, errorf(EUNSUPPORTED, "the extensible format chunk is too short")
		}
		// The sub-format GUID starts with the plain format tag.
		f.tag = binary.LittleEndian.Uint16(b[24:26])
	}
	switch {
	case f.channels == 0:
		return f, errorf(EUNSUPPORTED, "the file declares zero channels")
	case f.channels > 8:
		return f, errorf(EUNSUPPORTED, "the file has %d channels; at most 8 are supported", f.channels)
	case f.rate == 0:
		return f, errorf(EUNSUPPORTED, "the file declares a sample rate of 0 Hz")
	case f.rate < 8000 || f.rate > 48000:
		return f, errorf(EUNSUPPORTED, "the sample rate is %d Hz; 8000 to 48000 Hz are supported", f.rate)
	}
	switch f.tag {
	case formatPCM:
		if f.bits != 8 && f.bits != 16 && f.bits != 24 && f.bits != 32 {
			return f, errorf(EUNSUPPORTED, "%d-bit PCM is not supported; use 8, 16, 24 or 32 bits", f.bits)
		}
	case formatFloat:
		if f.bits != 32 && f.bits != 64 {
			return f, errorf(EUNSUPPORTED, "%d-bit float is not supported; use 32 or 64 bits", f.bits)
		}
	case formatALaw, formatMuLaw:
		if f.bits != 8 {
			return f, errorf(EUNSUPPORTED, "G.711 with %d bits per sample is not supported", f.bits)
		}
	default:
		return f, errorf(EUNSUPPORTED, "the audio encoding (format %#04x) is not supported; use PCM, float, µ-law or A-law", f.tag)
	}
	if want := f.channels * f.bits / 8; f.blockAlign != want {
		return f, errorf(EUNSUPPORTED, "the block size %d does not match %d channels of %d bits", f.blockAlign, f.channels, f.bits)
	}
	return f, nil
}

// decodeSamples converts interleaved samples to mono floats, averaging the
// channels.
func decodeSamples(data []byte, f wavFormat) []float32 {
	out := make([]float32, len(data)/f.blockAlign)
	decodeInto(out, data, f)
	return out
}

// decodeInto converts len(out) interleaved frames of data to mono floats.
func decodeInto(out []float32, data []byte, f wavFormat) {
	width := f.bits / 8
	n := len(out)
	scale := 1 / float32(f.channels)
	for i := 0; i < n; i++ {
		var sum float32
		frame := data[i*f.blockAlign:]
		for c := 0; c < f.channels; c++ {
			sum += sample(frame[c*width:], f)
		}
		out[i] = sum * scale
	}
}

func sample(b []byte, f wavFormat) float32 {
	switch f.tag {
	case formatALaw:
		return float32(g711.DecodeAlawFrame(b[0])) / 32768
	case formatMuLaw:
		return float32(g711.DecodeUlawFrame(b[0])) / 32768
	case formatFloat:
		var v float64
		if f.bits == 32 {
			v = float64(math.Float32frombits(binary.LittleEndian.Uint32(b)))
		} else {
			v = math.Float64frombits(binary.LittleEndian.Uint64(b))
		}
		if math.IsNaN(v) {
			return 0
		}
		return float32(max(-1, min(1, v)))
	}
	switch f.bits {
	case 8:
		return (float32(b[0]) - 128) / 128
	case 16:
		return float32(int16(binary.LittleEndian.Uint16(b))) / (1 << 15)
	case 24:
		v := int32(uint32(b[0])<<8|uint32(b[1])<<16|uint32(b[2])<<24) >> 8
		return float32(v) / (1 << 23)
	default:
		return float32(float64(int32(binary.LittleEndian.Uint32(b))) / (1 << 31))
	}
}

// WriteWAV writes 16-bit PCM samples as a mono WAV file, for listening in a
// browser.
func WriteWAV(w io.Writer, rate int, pcm []int16) error {
	dataLen := len(pcm) * 2
	hdr := make([]byte, 44, 44+dataLen)
	copy(hdr[0:], "RIFF")
	binary.LittleEndian.PutUint32(hdr[4:], uint32(36+dataLen))
	copy(hdr[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(hdr[16:], 16)
	binary.LittleEndian.PutUint16(hdr[20:], formatPCM)
	binary.LittleEndian.PutUint16(hdr[22:], 1)
	binary.LittleEndian.PutUint32(hdr[24:], uint32(rate))
	binary.LittleEndian.PutUint32(hdr[28:], uint32(rate*2))
	binary.LittleEndian.PutUint16(hdr[32:], 2)
	binary.LittleEndian.PutUint16(hdr[34:], 16)
	copy(hdr[36:], "data")
	binary.LittleEndian.PutUint32(hdr[40:], uint32(dataLen))
	for _, s := range pcm {
		hdr = binary.LittleEndian.AppendUint16(hdr, uint16(s))
	}
	_, err := w.Write(hdr)
	return err
}
