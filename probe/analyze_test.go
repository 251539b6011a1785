package probe

import (
	"math"
	"testing"
	"time"

	"github.com/zaf/g711"
)

// frames makes n 20 ms µ-law frames of the sum of the tones (Hz) at the
// amplitude, or silence without tones, as RTP packets from at on: the
// first marked.
func frames(at time.Duration, ts uint32, n int, amplitude float64, tones ...float64) []packet {
	var out []packet
	for f := range n {
		payload := make([]byte, 160)
		for i := range payload {
			var v float64
			for _, hz := range tones {
				v += amplitude / float64(len(tones)) * math.Sin(2*math.Pi*hz*float64(f*160+i)/8000)
			}
			payload[i] = g711.EncodeUlawFrame(int16(v * 32767))
		}
		out = append(out, packet{at: at + time.Duration(f)*20*time.Millisecond, pt: 0, marker: f == 0,
			ts: ts + uint32(f*160), payload: payload})
	}
	return out
}

func TestAnalyze(t *testing.T) {
	speech := func(at time.Duration, ts uint32, n int) []packet { return frames(at, ts, n, 0.5, 310, 730, 1270) }
	ring := func(at time.Duration, ts uint32, n int) []packet { return frames(at, ts, n, 0.3, 425) }
	ringNA := func(at time.Duration, ts uint32, n int) []packet { return frames(at, ts, n, 0.3, 440, 480) }
	join := func(parts ...[]packet) []packet {
		var out []packet
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	const s = time.Second
	cases := []struct {
		name      string
		res       Result
		packets   []packet
		path      Path
		far       string
		announced time.Duration
		ringback  time.Duration
	}{
		{name: "refused", res: Result{Code: 486}, path: Refused},
		{name: "no final answer", res: Result{}, path: Unanswered},
		{name: "answered, nothing heard", res: Result{Code: 200, HungUpBy: "probe"}, path: Silent},
		{name: "announcement then hang-up", res: Result{Code: 200, HungUpBy: "product", HangUpReason: `Q.850;cause=16;text="announcement played"`},
			packets: speech(0, 1000, 150), path: AnnouncementThenHangUp, announced: 3 * s},
		{name: "announcement, ringback, far party", res: Result{Code: 200, HungUpBy: "product"},
			packets: join(speech(0, 1000, 100), ring(2*s, 17000, 50), speech(3*s, 25000, 50)),
			path:    AnnouncementThenConnect, far: "answered", announced: 2 * s, ringback: s},
		{name: "North American ringback, no answer", res: Result{Code: 200, HungUpBy: "product", HangUpReason: "Q.850;cause=19"},
			packets: join(speech(0, 1000, 100), ringNA(2*s, 17000, 100)),
			path:    AnnouncementThenConnect, far: "did not answer", announced: 2 * s, ringback: 2 * s},
		{name: "far party busy", res: Result{Code: 200, HungUpBy: "product", HangUpReason: `Q.850;cause=17;text="the far party is busy"`},
			packets: speech(0, 1000, 100), path: AnnouncementThenConnect, far: "busy", announced: 2 * s},
		{name: "connection failed", res: Result{Code: 200, HungUpBy: "product", HangUpReason: "Q.850 ; cause=41"},
			packets: speech(0, 1000, 100), path: AnnouncementThenConnect, far: "could not be reached", announced: 2 * s},
		{name: "still ringing when the probe hangs up", res: Result{Code: 200, HungUpBy: "probe"},
			packets: join(speech(0, 1000, 50), ring(s, 9000, 100)),
			path:    AnnouncementThenConnect, far: "still ringing", announced: s, ringback: 2 * s},
		{name: "rang, then connected (direct access)", res: Result{Code: 200, Rang: true, HungUpBy: "probe"},
			packets: speech(0, 1000, 100), path: Connected, far: "answered"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := c.res
			analyze(&res, c.packets)
			if res.Path != c.path || res.FarParty != c.far {
				t.Fatalf("path %q, far party %q; want %q, %q (segments %+v)", res.Path, res.FarParty, c.path, c.far, res.Segments)
			}
			if c.announced > 0 && (res.Announcement == nil || time.Duration(res.Announcement.Duration) != c.announced) {
				t.Errorf("announcement %+v, want %v", res.Announcement, c.announced)
			}
			if time.Duration(res.Ringback) != c.ringback {
				t.Errorf("ringback %v, want %v", time.Duration(res.Ringback), c.ringback)
			}
			if want := len(c.packets) * 160; c.packets != nil && len(res.Heard) != want {
				t.Errorf("heard %d samples, want %d", len(res.Heard), want)
			}
		})
	}
}

// A segment's level is the RMS of its sound: a sine of amplitude 0.5 is
// at 20·log10(0.5/√2) = -9.0 dBFS; silence is -96.
func TestSegmentLevel(t *testing.T) {
	res := Result{Code: 200, HungUpBy: "product"}
	analyze(&res, frames(0, 0, 50, 0.5, 1000))
	if got := res.Announcement.Level; math.Abs(got-(-9.0)) > 0.3 {
		t.Errorf("level %.1f dBFS, want -9.0", got)
	}
	res = Result{Code: 200, HungUpBy: "product"}
	analyze(&res, frames(0, 0, 50, 0))
	if s := res.Segments[0]; s.Kind != "silence" || s.Level != -96 {
		t.Errorf("silence: %+v", s)
	}
}

// The probe keeps what a packet carries whatever its header holds: CSRCs,
// a header extension, padding; a malformed one is not kept.
func TestKeepTakesThePayload(t *testing.T) {
	payload := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	hdr := func(b0, b1 byte) []byte {
		return []byte{b0, b1, 0, 9, 0, 0, 0x30, 0x39, 0, 0, 0, 1} // seq 9, ts 12345, ssrc 1
	}
	cases := []struct {
		name string
		pkt  []byte
		keep bool
	}{
		{"plain, marked", append(hdr(0x80, 0x80), payload...), true},
		{"one CSRC", append(append(hdr(0x81, 0), 0, 0, 0, 2), payload...), true},
		{"header extension of two words", append(append(hdr(0x90, 0), 0xbe, 0xde, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8), payload...), true},
		{"padding", append(append(hdr(0xa0, 0), payload...), 0, 0, 3), true},
		{"extension longer than the packet", append(hdr(0x90, 0), 0xbe, 0xde, 0, 9), false},
		{"padding longer than the packet", append(hdr(0xa0, 0), 99), false},
		{"shorter than a header", []byte{0x80, 0, 1}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var k call
			k.keep(c.pkt, time.Second)
			if !c.keep {
				if len(k.packets) != 0 {
					t.Fatalf("kept %+v", k.packets)
				}
				return
			}
			if len(k.packets) != 1 {
				t.Fatalf("kept %d packets", len(k.packets))
			}
			p := k.packets[0]
			if string(p.payload) != string(payload) || p.ts != 12345 || p.pt != 0 || p.marker != (c.pkt[1]&0x80 != 0) || p.at != time.Second {
				t.Fatalf("kept %+v", p)
			}
		})
	}
}
