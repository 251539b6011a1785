package media_test

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/zaf/g711"

	"github.com/phonediversions/phonediversions/audio"
	"github.com/phonediversions/phonediversions/media"
	"github.com/phonediversions/phonediversions/prompts"
)

var loopback = netip.MustParseAddr("127.0.0.1")

func newEngine(t testing.TB) *media.Engine {
	t.Helper()
	e, err := media.New(media.Config{IP: loopback, PortMin: 30000, PortMax: 39998})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

// peer is a far party's RTP socket on loopback.
type peer struct {
	t    testing.TB
	conn *net.UDPConn
}

func newPeer(t testing.TB) *peer {
	t.Helper()
	return newPeerOn(t, loopback)
}

// newPeerOn opens a peer on another address, such as 127.0.0.2.
func newPeerOn(t testing.TB, ip netip.Addr) *peer {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &peer{t: t, conn: c}
}

func (p *peer) addr() netip.AddrPort { return p.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

type received struct {
	at time.Time
	p  rtp.Packet
}

// isRTCP tells an RTCP packet (a leg's report reaching a test socket that
// happens to sit on another leg's RTCP port) from RTP.
func isRTCP(b []byte) bool { return len(b) > 1 && b[1] >= 200 && b[1] <= 204 }

// read returns the RTP packets that arrive until none has come for quiet.
func (p *peer) read(quiet time.Duration) []received {
	p.t.Helper()
	var out []received
	buf := make([]byte, 2048)
	for {
		p.conn.SetReadDeadline(time.Now().Add(quiet))
		n, err := p.conn.Read(buf)
		if err != nil {
			return out
		}
		if isRTCP(buf[:n]) {
			continue
		}
		var pkt rtp.Packet
		if err := pkt.Unmarshal(append([]byte(nil), buf[:n]...)); err != nil {
			p.t.Fatalf("unparsable RTP: %v", err)
		}
		out = append(out, received{time.Now(), pkt})
	}
}

// readSpan returns the packets that arrive until their RTP timestamps
// span n frames, or fails after timeout.
func (p *peer) readSpan(n int, timeout time.Duration) []received {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	var out []received
	for len(out) == 0 || int(out[len(out)-1].p.Timestamp-out[0].p.Timestamp)/audio.FrameSamples+1 < n {
		left := time.Until(deadline)
		if left <= 0 {
			p.t.Fatalf("got %d packets, not the %d frames' span", len(out), n)
		}
		out = append(out, p.readN(1, left)...)
	}
	return out
}

// readN returns n packets or fails after timeout.
func (p *peer) readN(n int, timeout time.Duration) []received {
	p.t.Helper()
	var out []received
	buf := make([]byte, 2048)
	deadline := time.Now().Add(timeout)
	for len(out) < n {
		p.conn.SetReadDeadline(deadline)
		m, err := p.conn.Read(buf)
		if err != nil {
			p.t.Fatalf("got %d of %d packets: %v", len(out), n, err)
		}
		if isRTCP(buf[:m]) {
			continue
		}
		var pkt rtp.Packet
		if err := pkt.Unmarshal(append([]byte(nil), buf[:m]...)); err != nil {
			p.t.Fatal(err)
		}
		out = append(out, received{time.Now(), pkt})
	}
	return out
}

func (p *peer) send(to netip.AddrPort, h rtp.Header, payload []byte) {
	p.t.Helper()
	h.Version = 2
	b, err := (&rtp.Packet{Header: h, Payload: payload}).Marshal()
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.conn.WriteToUDPAddrPort(b, to); err != nil {
		p.t.Fatal(err)
	}
}

func newLeg(t testing.TB, e *media.Engine, cfg media.LegConfig) *media.Leg {
	t.Helper()
	l, err := e.NewLeg(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l
}

func builtin(t testing.TB) *prompts.Prompt {
	t.Helper()
	lib, err := prompts.New(nil, prompts.DefaultLimits) // the built-in one needs no store
	if err != nil {
		t.Fatal(err)
	}
	return lib.Builtin()
}

// checkStream asserts what a caller's phone would check of an RTP stream:
// one SSRC, continuous sequence numbers, timestamps +160, the marker on
// the first packet only, the payload type.
func checkStream(t *testing.T, got []received, pt uint8) {
	t.Helper()
	for i, r := range got {
		h := r.p.Header
		if h.PayloadType != pt {
			t.Fatalf("packet %d: payload type %d, want %d", i, h.PayloadType, pt)
		}
		if h.Marker != (i == 0) {
			t.Fatalf("packet %d: marker %v", i, h.Marker)
		}
		if i == 0 {
			continue
		}
		prev := got[i-1].p.Header
		if h.SSRC != prev.SSRC {
			t.Fatalf("packet %d: SSRC changed", i)
		}
		if h.SequenceNumber != prev.SequenceNumber+1 {
			t.Fatalf("packet %d: sequence %d after %d", i, h.SequenceNumber, prev.SequenceNumber)
		}
		if h.Timestamp != prev.Timestamp+160 {
			t.Fatalf("packet %d: timestamp %d after %d", i, h.Timestamp, prev.Timestamp)
		}
	}
}

// checkFrames asserts an announcement's stream, whose frames after a
// stall may have been skipped: one SSRC, continuous sequence numbers,
// timestamps forward by whole frames, the marker on the first packet
// only, the payload type, and each payload the frame of its timestamp.
func checkFrames(t *testing.T, got []received, pt uint8, frames [][]byte) {
	t.Helper()
	first := got[0].p.Header
	for i, r := range got {
		h := r.p.Header
		if h.PayloadType != pt || h.Marker != (i == 0) || h.SSRC != first.SSRC || h.SequenceNumber != first.SequenceNumber+uint16(i) {
			t.Fatalf("packet %d: %+v after first %+v", i, h, first)
		}
		step := h.Timestamp - first.Timestamp
		if step%audio.FrameSamples != 0 || (i > 0 && step <= got[i-1].p.Timestamp-first.Timestamp) {
			t.Fatalf("packet %d: timestamp %d, first %d", i, h.Timestamp, first.Timestamp)
		}
		if f := int(step / audio.FrameSamples); f >= len(frames) || !bytes.Equal(r.p.Payload, frames[f]) {
			t.Fatalf("packet %d: not frame %d of the announcement", i, f)
		}
	}
}

func TestAnnouncementCapture(t *testing.T) {
	e := newEngine(t)
	p := builtin(t)
	for _, codec := range audio.Codecs {
		t.Run(codec.String(), func(t *testing.T) {
			sink := newPeer(t)
			leg := newLeg(t, e, media.LegConfig{Format: media.Format{Codec: codec}, Peer: sink.addr()})
			frames := p.Frames(codec)
			s := e.Play(leg, frames, false)
			got := sink.readSpan(len(frames), 30*time.Second)
			if !s.Finished() {
				t.Fatal("stream did not play to its end")
			}
			if extra := sink.read(100 * time.Millisecond); len(extra) != 0 {
				t.Fatalf("%d packets after the end", len(extra))
			}
			// Each packet is the frame of its timestamp. The pacer skips
			// the frames of deadlines it missed by a period or more: a
			// stall of the machine (a busy CI host), which a phone hears
			// as a gap; with all frames there, the timestamps step 160.
			checkFrames(t, got, uint8(codec), frames)
			if skipped := len(frames) - len(got); skipped > 0 {
				t.Logf("%d of %d frames skipped after a stall", skipped, len(frames))
				if skipped > len(frames)/10 {
					t.Fatalf("%d of %d frames sent", len(got), len(frames))
				}
				return
			}
			// 50 packets per second: n packets span (n-1)·20 ms.
			span := got[len(got)-1].at.Sub(got[0].at)
			want := time.Duration(len(got)-1) * 20 * time.Millisecond
			if span < want-40*time.Millisecond || span > want+100*time.Millisecond {
				t.Errorf("%d packets arrived over %v, want %v (50 per second)", len(got), span, want)
			}
			// The decoded audio is the announcement's length.
			var heard []byte
			for _, r := range got {
				heard = append(heard, r.p.Payload...)
			}
			decode := g711.DecodeUlaw
			if codec == audio.PCMA {
				decode = g711.DecodeAlaw
			}
			if len(decode(heard)) != 2*len(frames)*160 {
				t.Fatal("decoded length")
			}
		})
	}
}

func TestStopEndsStreamAtOnce(t *testing.T) {
	e := newEngine(t)
	sink := newPeer(t)
	leg := newLeg(t, e, media.LegConfig{Format: media.Format{Codec: audio.PCMU}, Peer: sink.addr()})
	s := e.Play(leg, media.RingbackEurope().Frames(audio.PCMU), true)
	got := sink.readN(10, 5*time.Second)
	checkStream(t, got, 0)
	start := time.Now()
	s.Stop()
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("Stop took %v", d)
	}
	if s.Finished() {
		t.Error("a stopped stream reports it played to its end")
	}
	// Anything already in the socket buffer is read; nothing new comes.
	sink.read(30 * time.Millisecond)
	if extra := sink.read(150 * time.Millisecond); len(extra) != 0 {
		t.Fatalf("%d packets after Stop returned", len(extra))
	}
	if st := e.Stats(); st.ActiveStreams != 0 {
		t.Fatalf("%d streams still active", st.ActiveStreams)
	}
}

func TestRingbackCadence(t *testing.T) {
	frames := media.RingbackEurope().Frames(audio.PCMA)
	if len(frames) != 250 { // 5 s of 20 ms frames
		t.Fatalf("%d frames", len(frames))
	}
	energy := func(f []byte) float64 {
		var s float64
		for _, b := range f {
			v := float64(g711.DecodeAlawFrame(b))
			s += v * v
		}
		return s / float64(len(f))
	}
	if energy(frames[10]) < 1e6 || energy(frames[49]) < 1e6 {
		t.Error("no tone in the first second")
	}
	if energy(frames[50]) > 100 || energy(frames[249]) > 100 {
		t.Error("tone heard in the 4 s pause")
	}
	// 425 Hz: about 8.5 cycles in 160 samples at 8 kHz.
	crossings := 0
	var prev int16
	for i, b := range frames[20] {
		v := g711.DecodeAlawFrame(b)
		if i > 0 && (prev < 0) != (v < 0) {
			crossings++
		}
		prev = v
	}
	if crossings < 16 || crossings > 18 {
		t.Errorf("%d zero crossings in 20 ms, want about 17 for 425 Hz", crossings)
	}
}

// TestMediaOnlyFromThePeerTheSDPNames sends a stray packet before the
// peer speaks: it does not capture the stream (the fault was to latch to
// the first source of all). The peer then sends from another port of its
// address (a NAT) and the media follows it; a new SDP moves the media to
// another address (a transfer, music on hold elsewhere) and re-arms.
func TestMediaOnlyFromThePeerTheSDPNames(t *testing.T) {
	e := newEngine(t)
	sdpAddr, natted := newPeer(t), newPeer(t)
	stray := newPeerOn(t, netip.MustParseAddr("127.0.0.2"))
	moved := newPeerOn(t, netip.MustParseAddr("127.0.0.3"))
	leg := newLeg(t, e, media.LegConfig{Format: media.Format{Codec: audio.PCMU}, Peer: sdpAddr.addr()})
	before := e.Stats().DroppedPackets
	stray.send(leg.LocalAddr(), rtp.Header{PayloadType: 0, SSRC: 2}, make([]byte, 160))
	eventually(t, "the stray packet dropped", func() bool { return e.Stats().DroppedPackets > before })
	s := e.Play(leg, media.RingbackEurope().Frames(audio.PCMU), true)
	defer s.Stop()
	sdpAddr.readN(3, 5*time.Second)
	if got := stray.read(100 * time.Millisecond); len(got) != 0 {
		t.Fatal("a stray packet captured the stream")
	}
	// The phone sends from another port of its address: media follows it.
	natted.send(leg.LocalAddr(), rtp.Header{PayloadType: 0, SSRC: 1}, make([]byte, 160))
	eventually(t, "the leg following the source port", func() bool { return leg.Peer() == natted.addr() })
	natted.readN(3, 5*time.Second)
	stray.send(leg.LocalAddr(), rtp.Header{PayloadType: 0, SSRC: 2}, make([]byte, 160))
	natted.readN(5, 5*time.Second)
	if leg.Peer() != natted.addr() || len(stray.read(100*time.Millisecond)) != 0 {
		t.Fatal("a stray packet moved the stream")
	}
	// A new SDP names another address: media goes there, and packets from
	// the old one are no longer taken.
	leg.SetPeer(moved.addr())
	moved.readN(3, 5*time.Second)
	received := e.Stats().PacketsReceived
	natted.send(leg.LocalAddr(), rtp.Header{PayloadType: 0, SSRC: 1, SequenceNumber: 2}, make([]byte, 160))
	moved.send(leg.LocalAddr(), rtp.Header{PayloadType: 0, SSRC: 3}, make([]byte, 160))
	eventually(t, "the moved peer's packet taken", func() bool { return e.Stats().PacketsReceived == received+1 })
	if leg.Peer() != moved.addr() {
		t.Fatalf("sending to %v, want the new address %v", leg.Peer(), moved.addr())
	}
}

// eventually waits for cond, failing after 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestRelayTranscodesAndRemapsEvents(t *testing.T) {
	e := newEngine(t)
	caller, far := newPeer(t), newPeer(t)
	a := newLeg(t, e, media.LegConfig{Format: media.Format{Codec: audio.PCMU, DTMF: 101, CN: true}, Peer: caller.addr()})
	b := newLeg(t, e, media.LegConfig{Format: media.Format{Codec: audio.PCMA, DTMF: 96, CN: true}, Peer: far.addr()})
	e.Bridge(a, b)

	speech := make([]byte, 160)
	for i := range speech {
		speech[i] = byte(i)
	}
	event := []byte{5, 0x0a, 0x01, 0x40} // digit 5, volume 10, duration 320
	// caller → far: PCMU becomes PCMA, event 101 becomes 96 (its start
	// keeping its marker), unknown 18 is dropped, CN (negotiated by both) passes.
	caller.send(a.LocalAddr(), rtp.Header{PayloadType: 0, SequenceNumber: 10, Timestamp: 1000, SSRC: 7}, speech)
	caller.send(a.LocalAddr(), rtp.Header{PayloadType: 0, SequenceNumber: 11, Timestamp: 1160, SSRC: 7}, speech)
	caller.send(a.LocalAddr(), rtp.Header{PayloadType: 18, SequenceNumber: 12, Timestamp: 1320, SSRC: 7}, make([]byte, 20))
	caller.send(a.LocalAddr(), rtp.Header{PayloadType: 101, SequenceNumber: 13, Timestamp: 1320, SSRC: 7, Marker: true}, event)
	caller.send(a.LocalAddr(), rtp.Header{PayloadType: 101, SequenceNumber: 14, Timestamp: 1320, SSRC: 7}, event)
	caller.send(a.LocalAddr(), rtp.Header{PayloadType: 13, SequenceNumber: 15, Timestamp: 1480, SSRC: 7}, []byte{40})
	got := far.readN(5, 5*time.Second)
	wantPT := []uint8{8, 8, 96, 96, 13}
	wantMarker := []bool{true, false, true, false, false}
	for i, r := range got {
		if r.p.PayloadType != wantPT[i] || r.p.Marker != wantMarker[i] {
			t.Errorf("packet %d: payload type %d marker %v, want %d %v", i, r.p.PayloadType, r.p.Marker, wantPT[i], wantMarker[i])
		}
		if i > 0 && r.p.SequenceNumber != got[i-1].p.SequenceNumber+1 {
			t.Errorf("packet %d: sequence not continuous", i)
		}
	}
	if !bytes.Equal(got[0].p.Payload, g711.Ulaw2Alaw(speech)) {
		t.Error("audio was not transcoded µ-law → A-law")
	}
	if !bytes.Equal(got[2].p.Payload, event) {
		t.Error("telephone event payload changed")
	}
	if ts := got[1].p.Timestamp - got[0].p.Timestamp; ts != 160 {
		t.Errorf("audio timestamp step %d", ts)
	}
	if got[2].p.Timestamp != got[3].p.Timestamp {
		t.Error("the two packets of one event must share their timestamp")
	}

	// far → caller: PCMA becomes PCMU.
	far.send(b.LocalAddr(), rtp.Header{PayloadType: 8, SequenceNumber: 1, Timestamp: 1, SSRC: 9}, speech)
	back := caller.readN(1, 5*time.Second)
	if back[0].p.PayloadType != 0 || !bytes.Equal(back[0].p.Payload, g711.Alaw2Ulaw(speech)) {
		t.Errorf("far → caller: payload type %d, transcoded %v", back[0].p.PayloadType, bytes.Equal(back[0].p.Payload, g711.Alaw2Ulaw(speech)))
	}
	// The relay counts a packet once it has written it: the peer may read
	// it first. Wait for the six counts, then check none more came.
	eventually(t, "six packets counted as relayed", func() bool { return e.Stats().RelayDelay.Total() >= 6 })
	if st := e.Stats(); st.DroppedPackets != 1 || st.RelayDelay.Total() != 6 {
		t.Errorf("stats: %d dropped (want 1), %d relayed (want 6)", st.DroppedPackets, st.RelayDelay.Total())
	}
}

// TestRelayWithoutEventsOrComfortNoise relays to a leg that negotiated
// neither telephone events nor comfort noise: both are dropped, and the
// events are counted where the call can see them.
func TestRelayWithoutEventsOrComfortNoise(t *testing.T) {
	e := newEngine(t)
	caller, far := newPeer(t), newPeer(t)
	a := newLeg(t, e, media.LegConfig{Format: media.Format{Codec: audio.PCMU, DTMF: 101}, Peer: caller.addr()})
	b := newLeg(t, e, media.LegConfig{Format: media.Format{Codec: audio.PCMU}, Peer: far.addr()})
	br := e.Bridge(a, b)
	event := []byte{5, 0x0a, 0x01, 0x40}
	caller.send(a.LocalAddr(), rtp.Header{PayloadType: 101, SequenceNumber: 1, Timestamp: 160, SSRC: 7, Marker: true}, event)
	caller.send(a.LocalAddr(), rtp.Header{PayloadType: 13, SequenceNumber: 2, Timestamp: 320, SSRC: 7}, []byte{40})
	caller.send(a.LocalAddr(), rtp.Header{PayloadType: 0, SequenceNumber: 3, Timestamp: 480, SSRC: 7}, make([]byte, 160))
	got := far.readN(1, 5*time.Second)
	if got[0].p.PayloadType != 0 || len(far.read(100*time.Millisecond)) != 0 {
		t.Errorf("relayed payload type %d and more: want the audio alone", got[0].p.PayloadType)
	}
	if ab, _ := br.DTMFDropped(); ab != 1 || e.Stats().DTMFDropped != 1 {
		t.Errorf("dropped events counted %d, engine %d; want 1", ab, e.Stats().DTMFDropped)
	}
}

func TestAnnouncementThenRelayKeepsOneStream(t *testing.T) {
	e := newEngine(t)
	caller, far := newPeer(t), newPeer(t)
	a := newLeg(t, e, media.LegConfig{Format: media.Format{Codec: audio.PCMU}, Peer: caller.addr()})
	b := newLeg(t, e, media.LegConfig{Format: media.Format{Codec: audio.PCMU}, Peer: far.addr()})
	frames := media.RingbackEurope().Frames(audio.PCMU)[:10]
	if !e.Play(a, frames, false).Finished() {
		t.Fatal("announcement did not finish")
	}
	ann := caller.readN(10, 5*time.Second)
	e.Bridge(a, b)
	for i := 0; i < 3; i++ {
		far.send(b.LocalAddr(), rtp.Header{PayloadType: 0, SequenceNumber: uint16(500 + i), Timestamp: uint32(9000 + 160*i), SSRC: 77}, make([]byte, 160))
	}
	rel := caller.readN(3, 5*time.Second)
	if rel[0].p.SSRC != ann[0].p.SSRC || rel[0].p.SequenceNumber != ann[9].p.SequenceNumber+1 {
		t.Fatalf("the caller sees a new stream: SSRC %d→%d, sequence %d→%d",
			ann[0].p.SSRC, rel[0].p.SSRC, ann[9].p.SequenceNumber, rel[0].p.SequenceNumber)
	}
	if !rel[0].p.Marker || rel[1].p.Marker {
		t.Error("the relayed talkspurt must start with a marker")
	}
	if rel[0].p.Timestamp-ann[9].p.Timestamp < 160 {
		t.Error("timestamp went backwards at the hand-over")
	}
}

func TestMediaTimeout(t *testing.T) {
	e := newEngine(t)
	talker := newPeer(t)
	fired := make(chan time.Time, 1)
	leg := newLeg(t, e, media.LegConfig{Format: media.Format{Codec: audio.PCMU}, Timeout: 300 * time.Millisecond,
		Peer: talker.addr(), OnTimeout: func() { fired <- time.Now() }})
	// While the peer talks, no timeout.
	var stopped time.Time
	for i := 0; i < 10; i++ {
		stopped = time.Now()
		talker.send(leg.LocalAddr(), rtp.Header{PayloadType: 0, SequenceNumber: uint16(i), SSRC: 3}, make([]byte, 160))
		select {
		case <-fired:
			t.Fatal("timeout while the peer was sending")
		case <-time.After(100 * time.Millisecond):
		}
	}
	select {
	case at := <-fired:
		if d := at.Sub(stopped); d < 250*time.Millisecond {
			t.Fatalf("timeout %v after the last packet, want 300 ms", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no timeout after the peer went silent")
	}
	if e.Stats().MediaTimeouts != 1 {
		t.Fatal("timeout not counted")
	}
}

// TestRTPHeaderBytes checks the wire layout against RFC 3550 by hand, not
// through the library that wrote it.
func TestRTPHeaderBytes(t *testing.T) {
	e := newEngine(t)
	sink := newPeer(t)
	leg := newLeg(t, e, media.LegConfig{Format: media.Format{Codec: audio.PCMA}, Peer: sink.addr()})
	e.Play(leg, [][]byte{bytes.Repeat([]byte{0xd5}, 160)}, false).Finished()
	buf := make([]byte, 2048)
	sink.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := sink.conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != 172 || buf[0] != 0x80 || buf[1] != 0x80|8 || binary.BigEndian.Uint32(buf[8:12]) == 0 && binary.BigEndian.Uint32(buf[4:8]) == 0 {
		t.Fatalf("header % x, length %d", buf[:12], n)
	}
}

func TestMediaTimeoutHeldUntilReleased(t *testing.T) {
	e := newEngine(t)
	fired := make(chan time.Time, 1)
	leg := newLeg(t, e, media.LegConfig{Format: media.Format{Codec: audio.PCMU}, Timeout: 200 * time.Millisecond,
		HoldTimeout: true, OnTimeout: func() { fired <- time.Now() }})
	select {
	case <-fired:
		t.Fatal("a held leg timed out (a far party still ringing sends nothing)")
	case <-time.After(700 * time.Millisecond):
	}
	released := time.Now()
	leg.ReleaseTimeout()
	select {
	case at := <-fired:
		if d := at.Sub(released); d < 150*time.Millisecond {
			t.Fatalf("timed out %v after release, want 200 ms", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no timeout after release")
	}
}

// TestHoldPausesSendingAndSilence puts the peer on hold (inactive): the
// leg sends nothing and does not time out however long the hold lasts;
// resumed, it sends again (starting a talkspurt) and times out on silence.
func TestHoldPausesSendingAndSilence(t *testing.T) {
	e := newEngine(t)
	p := newPeer(t)
	fired := make(chan struct{}, 1)
	leg := newLeg(t, e, media.LegConfig{Format: media.Format{Codec: audio.PCMU}, Peer: p.addr(), Timeout: 300 * time.Millisecond,
		OnTimeout: func() { fired <- struct{}{} }})
	s := e.Play(leg, media.RingbackEurope().Frames(audio.PCMU), true)
	defer s.Stop()
	p.readN(3, 5*time.Second)
	leg.SetRemote(media.Remote{RTP: p.addr(), Sends: false, Receives: false})
	p.read(60 * time.Millisecond) // what was on its way
	if got := p.read(900 * time.Millisecond); len(got) != 0 {
		t.Fatalf("%d packets sent to a peer on hold", len(got))
	}
	select {
	case <-fired:
		t.Fatal("a held call timed out for silence")
	default:
	}
	leg.SetRemote(media.Remote{RTP: p.addr(), Sends: true, Receives: true})
	got := p.readN(3, 5*time.Second)
	if !got[0].p.Marker {
		t.Error("the first packet after the hold does not start a talkspurt")
	}
	select {
	case <-fired:
	case <-time.After(5 * time.Second):
		t.Fatal("no timeout after the resumed peer stayed silent")
	}
}

// TestRTCP lets two legs talk to each other: each sends reports on its
// odd port, and each learns the other's view of its stream and the round
// trip; a peer's lost packets are counted from its sequence numbers.
func TestRTCP(t *testing.T) {
	e, err := media.New(media.Config{IP: loopback, PortMin: 40000, PortMax: 40998, ReportInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	a := newLeg(t, e, media.LegConfig{Format: media.Format{Codec: audio.PCMU}})
	b := newLeg(t, e, media.LegConfig{Format: media.Format{Codec: audio.PCMU}})
	a.SetPeer(b.LocalAddr())
	b.SetPeer(a.LocalAddr())
	sa := e.Play(a, media.RingbackEurope().Frames(audio.PCMU), true)
	sb := e.Play(b, media.RingbackEurope().Frames(audio.PCMU), true)
	defer sa.Stop()
	defer sb.Stop()
	eventually(t, "round trips measured both ways", func() bool {
		qa, qb := a.Quality(), b.Quality()
		return qa.RTT > 0 && qb.RTT > 0 && qa.Reports >= 2 && qb.Reports >= 2
	})
	qa := a.Quality()
	// The round trip on loopback is well under a millisecond; reports are
	// read only when the leg's own is due (up to 200 ms later here), so
	// it holds only when their arrival times are the kernel's.
	if qa.Received < 5 || qa.Lost != 0 || qa.RTT > 10*time.Millisecond || qa.PeerLost != 0 {
		t.Errorf("quality %+v", qa)
	}
	if st := e.Stats(); st.RTCPSent < 4 || st.RTCPReceived < 4 {
		t.Errorf("RTCP counted: %d sent, %d received", st.RTCPSent, st.RTCPReceived)
	}
	// A peer whose packets 3 and 4 never arrive.
	p := newPeer(t)
	c := newLeg(t, e, media.LegConfig{Format: media.Format{Codec: audio.PCMU}, Peer: p.addr()})
	for _, seq := range []uint16{1, 2, 5, 6} {
		p.send(c.LocalAddr(), rtp.Header{PayloadType: 0, SequenceNumber: seq, Timestamp: uint32(seq) * 160, SSRC: 11}, make([]byte, 160))
	}
	eventually(t, "the four packets counted", func() bool { return c.Quality().Received == 4 })
	if q := c.Quality(); q.Lost != 2 {
		t.Errorf("lost %d, want 2", q.Lost)
	}
}

// AfterDone runs its function once the stream has ended, on a goroutine
// of its own: after a stream played to its end, after one stopped, and
// at once for one already over.
func TestAfterDone(t *testing.T) {
	e := newEngine(t)
	sink := newPeer(t)
	leg := newLeg(t, e, media.LegConfig{Format: media.Format{Codec: audio.PCMU}, Peer: sink.addr()})
	frames := media.RingbackEurope().Frames(audio.PCMU)[:5]
	type result struct {
		done, finished bool
	}
	after := func(st *media.Stream) <-chan result {
		out := make(chan result, 1)
		st.AfterDone(func() {
			select {
			case <-st.Done():
				out <- result{done: true, finished: st.Finished()}
			default:
				out <- result{}
			}
		})
		return out
	}
	wait := func(what string, ch <-chan result, finished bool) {
		t.Helper()
		select {
		case r := <-ch:
			if !r.done || r.finished != finished {
				t.Errorf("%s: ran with done %v, finished %v; want done, finished %v", what, r.done, r.finished, finished)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: not run", what)
		}
	}
	played := e.Play(leg, frames, false)
	wait("played to its end", after(played), true)
	if got := len(sink.readN(5, 5*time.Second)); got != 5 {
		t.Errorf("%d packets, want 5", got)
	}
	wait("already over", after(played), true)
	looping := e.Play(leg, frames, true)
	ch := after(looping)
	looping.Stop()
	wait("stopped", ch, false)
}

// A tap sees the packets the leg takes from its peer, in order and
// stamped on the engine's clock, and not those of a stranger.
func TestTap(t *testing.T) {
	e := newEngine(t)
	p, stranger := newPeer(t), newPeerOn(t, netip.MustParseAddr("127.0.0.2"))
	l := newLeg(t, e, media.LegConfig{Format: media.Format{Codec: audio.PCMU}, Peer: p.addr()})
	var mu sync.Mutex
	var seqs []uint16
	var last time.Duration
	l.SetTap(func(pkt []byte, at time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		if at < last || at > e.Elapsed() {
			t.Errorf("stamped %v after %v (engine at %v)", at, last, e.Elapsed())
		}
		last = at
		seqs = append(seqs, uint16(pkt[2])<<8|uint16(pkt[3]))
	})
	stranger.send(l.LocalAddr(), rtp.Header{SequenceNumber: 99, SSRC: 9}, make([]byte, 160))
	for seq := uint16(1); seq <= 3; seq++ {
		p.send(l.LocalAddr(), rtp.Header{SequenceNumber: seq, SSRC: 1}, make([]byte, 160))
	}
	eventually(t, "three packets tapped", func() bool { mu.Lock(); defer mu.Unlock(); return len(seqs) >= 3 })
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(seqs, []uint16{1, 2, 3}) {
		t.Fatalf("tapped %v, want the peer's 1 2 3", seqs)
	}
}
