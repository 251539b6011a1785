package media

import (
	"strings"
	"testing"
	"time"

	"github.com/phonediversions/phonediversions/audio"
	"github.com/phonediversions/phonediversions/internal/syscalltrace"
	"github.com/pion/rtp"
)

// TestLegsMakeNoBlockingSyscalls: a leg opens its sockets, takes its
// peer's RTP through the engine's reader, plays and closes without one
// system call on the runtime's path for calls that may block: the first
// such call after the program went idle wakes the runtime's monitor,
// which then polls every 20 µs while the program works, and a leg's open
// and close at the start and end of each call did exactly that. The
// test's own sockets are net's, and their calls are told apart by the
// caller in the stack.
func TestLegsMakeNoBlockingSyscalls(t *testing.T) {
	e := testEngine(t)
	frames := RingbackEurope().Frames(audio.PCMU)
	calls := syscalltrace.Blocking(t, func() {
		for i := range 4 {
			c, addr := sinkConn(t)
			leg, err := e.NewLeg(LegConfig{Format: Format{Codec: audio.PCMU}, Peer: addr})
			if err != nil {
				t.Fatal(err)
			}
			pkt, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: uint16(i), SSRC: 7},
				Payload: make([]byte, 160)}).Marshal()
			if _, err := c.WriteToUDPAddrPort(pkt, leg.LocalAddr()); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(5 * time.Second)
			for leg.Quality().Received == 0 {
				if time.Now().After(deadline) {
					t.Fatal("the leg never took its peer's packet")
				}
				time.Sleep(time.Millisecond)
			}
			s := e.Play(leg, frames, true)
			readPacket(t, c)
			readPacket(t, c)
			s.Stop()
			<-s.Done()
			leg.Close()
		}
	})
	const ours = "github.com/phonediversions/phonediversions/media."
	for _, s := range calls {
		if caller := syscalltrace.Caller(s); strings.HasPrefix(caller, ours) {
			t.Errorf("%s made a system call on the blocking path: %v", caller, s)
		}
	}
}
