package media

import (
	"github.com/phonediversions/phonediversions/audio"
	"testing"

	"github.com/pion/rtp"
)

// BenchmarkSendPacket measures one announcement packet written to a
// loopback socket: header, payload copy, sendto. Target: 0 allocations.
func BenchmarkSendPacket(b *testing.B) {
	e := testEngine(b)
	_, addr := sinkConn(b)
	leg, err := e.NewLeg(LegConfig{Format: Format{Codec: audio.PCMU}, Peer: addr})
	if err != nil {
		b.Fatal(err)
	}
	defer leg.Close()
	frame := make([]byte, audio.FrameSamples)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		leg.send(0, audio.FrameSamples, false, frame, nil, e.now(), nil)
	}
}

// BenchmarkRelayPacket measures one packet through the relay with
// audio.PCMU→audio.PCMA transcoding: parse, remap, transcode, sendto. Target: 0
// allocations.
func BenchmarkRelayPacket(b *testing.B) {
	e := testEngine(b)
	_, addr := sinkConn(b)
	a, err := e.NewLeg(LegConfig{Format: Format{Codec: audio.PCMU, DTMF: 101}, Peer: addr})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	c, err := e.NewLeg(LegConfig{Format: Format{Codec: audio.PCMA, DTMF: 96}, Peer: addr})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	fw := &forwarder{src: a, dst: c, tc: e.tc}
	pkt, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 5}, Payload: make([]byte, audio.FrameSamples)}).Marshal()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ts := uint32(i) * audio.FrameSamples
		pkt[4], pkt[5], pkt[6], pkt[7] = byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts)
		fw.forward(pkt, e.now())
	}
}
