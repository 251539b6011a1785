package media

import (
	"bytes"
	"github.com/phonediversions/phonediversions/audio"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"
)

func testEngine(t testing.TB) *Engine {
	t.Helper()
	e, err := New(Config{IP: netip.MustParseAddr("127.0.0.1"), PortMin: 40000, PortMax: 49998, Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

func sinkConn(t testing.TB) (*net.UDPConn, netip.AddrPort) {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, c.LocalAddr().(*net.UDPAddr).AddrPort()
}

func readPacket(t *testing.T, c *net.UDPConn) rtp.Packet {
	t.Helper()
	buf := make([]byte, 2048)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	var p rtp.Packet
	if err := p.Unmarshal(buf[:n]); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSkipAheadWhenLate drives a shard by hand: a stream more than three
// frames behind its deadline skips the frames it cannot send on time
// instead of bursting them, a stream served at a deadline after some it
// missed skips theirs, and a deadline it skipped past sends nothing: its
// timestamp keeps media time.
func TestSkipAheadWhenLate(t *testing.T) {
	e := testEngine(t)
	c, addr := sinkConn(t)
	leg, err := e.NewLeg(LegConfig{Format: Format{Codec: audio.PCMU}, Peer: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer leg.Close()
	frames := make([][]byte, 50)
	for i := range frames {
		frames[i] = bytes.Repeat([]byte{byte(i)}, audio.FrameSamples)
	}
	sh := &shard{e: e, kick: make(chan struct{}, 1), lateAt: 5 * time.Millisecond}
	s := &Stream{leg: leg, frames: frames, pt: 0, done: make(chan struct{}), sh: sh}
	sh.slots[0] = []*Stream{s}
	e.stats.streams.Add(1)

	// tickOf is the tick of a time of the engine's clock (just started:
	// a time before it is negative, and the tick is the floor).
	tickOf := func(at time.Duration) int64 {
		d := int64(at / tick)
		if time.Duration(d)*tick > at {
			d--
		}
		return d
	}
	d0 := tickOf(e.now())
	s.due = d0
	sh.serve(0, d0)
	first := readPacket(t, c)
	// Its next deadline was 200 ms ago: 10 frames late.
	s.due = tickOf(e.now() - 200*time.Millisecond)
	sh.serve(0, s.due)
	second := readPacket(t, c)
	// follows checks that p, read after prev, carries frame and moved
	// the timestamp by frames, its sequence number by one.
	follows := func(what string, p, prev rtp.Packet, frame byte, frames uint32) {
		t.Helper()
		if p.Payload[0] != frame {
			t.Fatalf("%s: frame %d was sent; want %d", what, p.Payload[0], frame)
		}
		if d := p.Timestamp - prev.Timestamp; d != frames*audio.FrameSamples {
			t.Fatalf("%s: timestamp moved %d, want %d", what, d, frames*audio.FrameSamples)
		}
		if p.SequenceNumber != prev.SequenceNumber+1 {
			t.Fatalf("%s: sequence number moved %d, want 1 (continuous, and nothing sent between)", what, p.SequenceNumber-prev.SequenceNumber)
		}
	}
	follows("after falling 200 ms behind", second, first, 11, 11)
	if st := e.Stats(); st.SkippedFrames != 10 || st.LatePackets != 1 {
		t.Fatalf("skipped %d, late %d", st.SkippedFrames, st.LatePackets)
	}
	// The deadlines it skipped past send nothing; three deadlines missed
	// (a shard woken a period late or more serves the slot once, at the
	// latest) are skipped, the frame of the latest sent.
	missedFrom := s.due
	sh.serve(0, missedFrom-int64(slots))
	sh.serve(0, missedFrom+3*int64(slots))
	follows("after three missed deadlines", readPacket(t, c), second, 15, 4)
	// Falling behind past the end of a one-shot stream ends it.
	s.due = tickOf(e.now() - time.Second)
	sh.serve(0, s.due)
	select {
	case <-s.Done():
		if !s.ended {
			t.Fatal("stream ended but not marked finished")
		}
	default:
		t.Fatal("stream still playing past its end")
	}
}

func FuzzRelayInput(f *testing.F) {
	seed := func(h rtp.Header, payload []byte) []byte {
		h.Version = 2
		b, _ := (&rtp.Packet{Header: h, Payload: payload}).Marshal()
		return b
	}
	f.Add(seed(rtp.Header{PayloadType: 0, SequenceNumber: 1, Timestamp: 160, SSRC: 1}, make([]byte, 160)))
	f.Add(seed(rtp.Header{PayloadType: 101, Marker: true, SSRC: 1}, []byte{1, 2, 3, 4}))
	f.Add(seed(rtp.Header{PayloadType: 8, CSRC: []uint32{1, 2}, SSRC: 1}, make([]byte, 160)))
	f.Add(seed(rtp.Header{PayloadType: 0, Extension: true, ExtensionProfile: 0xBEDE, SSRC: 1}, make([]byte, 10)))
	f.Add([]byte{0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff})
	f.Add([]byte{0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff})
	f.Add([]byte{0x8f})
	e := testEngine(f)
	_, addr := sinkConn(f)
	a, err := e.NewLeg(LegConfig{Format: Format{Codec: audio.PCMU, DTMF: 101}, Peer: addr})
	if err != nil {
		f.Fatal(err)
	}
	b, err := e.NewLeg(LegConfig{Format: Format{Codec: audio.PCMA, DTMF: 96}, Peer: addr})
	if err != nil {
		f.Fatal(err)
	}
	defer a.Close()
	defer b.Close()
	fw := &forwarder{src: a, dst: b, tc: e.tc}
	f.Fuzz(func(t *testing.T, pkt []byte) {
		if _, _, _, payload, ok := RTPPayload(pkt); ok && len(payload) > len(pkt) {
			t.Fatalf("payload of %d bytes from a %d-byte packet", len(payload), len(pkt))
		}
		fw.forward(pkt, e.now())
	})
}
