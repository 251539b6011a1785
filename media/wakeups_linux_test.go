package media

import (
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/phonediversions/phonediversions/audio"
)

// TestPacerWakeupsMatchSends measures the pacer's wake-ups from outside
// and holds its own counter to them. Every packet the streams send is
// read with the kernel's arrival stamp; packets stamped within 300 µs of
// one another left in one burst, and a burst needs a wake-up. One stream
// has one burst per packet, and the counter must count a wake-up for
// each (a counter that stopped counting fails). Twelve or forty streams
// started together share a slot or two of one shard: one or two bursts
// per 20 ms period, not one per stream nor one per sixteen, and the
// counter agrees.
func TestPacerWakeupsMatchSends(t *testing.T) {
	for _, n := range []int{1, 12, 40} {
		e := testEngine(t)
		before := e.stats.wakeups.Load()
		frames := RingbackEurope().Frames(audio.PCMU)
		const perStream = 50
		var mu sync.Mutex
		var stamps []time.Time
		var wg sync.WaitGroup
		var streams []*Stream
		var sinks []*net.UDPConn
		var legs []*Leg
		for range n {
			c, leg := stampedSinkLeg(t, e)
			sinks = append(sinks, c)
			legs = append(legs, leg)
		}
		// Started together, as calls arriving in the same few milliseconds.
		for _, leg := range legs {
			streams = append(streams, e.Play(leg, frames, true))
		}
		// Each sink reads until it has its packets; then the streams stop
		// and every packet sent is read.
		got := make([]int, n)
		read := func(i int, want func() int) {
			buf, oob := make([]byte, 2048), make([]byte, oobSize)
			for got[i] < want() {
				sinks[i].SetReadDeadline(time.Now().Add(5 * time.Second))
				_, oobn, _, _, err := sinks[i].ReadMsgUDP(buf, oob)
				if err != nil {
					t.Errorf("stream %d: %d packets read: %v", i, got[i], err)
					return
				}
				at, ok := arrival(oob[:oobn])
				if !ok {
					t.Errorf("no arrival stamp")
					return
				}
				got[i]++
				mu.Lock()
				stamps = append(stamps, at)
				mu.Unlock()
			}
		}
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				read(i, func() int { return perStream })
			}()
		}
		wg.Wait()
		for _, s := range streams {
			s.Stop()
			<-s.Done()
		}
		sent := e.Stats().PacketsSent
		for i := range n {
			// What each leg sent after the first perStream: its own count.
			wg.Add(1)
			go func() {
				defer wg.Done()
				leg := streams[i].leg
				leg.out.Lock()
				sentHere := int(leg.sentPkts)
				leg.out.Unlock()
				read(i, func() int { return sentHere })
			}()
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		wakeups := e.stats.wakeups.Load() - before
		slices.SortFunc(stamps, func(a, b time.Time) int { return a.Compare(b) })
		bursts := 0
		for i, at := range stamps {
			if i == 0 || at.Sub(stamps[i-1]) > 300*time.Microsecond {
				bursts++
			}
		}
		periods := len(stamps) / n
		t.Logf("%d streams: %d packets (%d sent), %d periods, %d bursts, %d wake-ups counted", n, len(stamps), sent, periods, bursts, wakeups)
		if uint64(len(stamps)) != sent {
			t.Errorf("%d streams: %d packets read, the engine counts %d sent", n, len(stamps), sent)
		}
		if n == 1 {
			// One packet a burst, one burst a wake-up (two packets of one
			// late wake-up may arrive apart when preempted between them,
			// which a couple of bursts of slack allow).
			if wakeups+2 < uint64(bursts) || wakeups > uint64(bursts)+5 {
				t.Errorf("one stream: %d wake-ups counted for %d bursts sent", wakeups, bursts)
			}
			continue
		}
		// Sent together: a slot or two a period, a burst each (a burst
		// split by a preemption counts twice); a pacer waking per stream
		// would give n a period, one that groups sixteen streams a slot
		// three for forty.
		if bursts > 3*periods {
			t.Errorf("%d streams: %d bursts in %d periods: the streams are not sent together", n, bursts, periods)
		}
		if wakeups > uint64(2*periods+5) {
			t.Errorf("%d streams: %d wake-ups counted in %d periods, want one or two a period", n, wakeups, periods)
		}
	}
}

// stampedSinkLeg returns a sink whose datagrams carry the kernel's arrival
// stamp and a PCMU leg of e that sends to it; both close when the test
// ends.
func stampedSinkLeg(t *testing.T, e *Engine) (*net.UDPConn, *Leg) {
	t.Helper()
	c, addr := sinkConn(t)
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	rc.Control(func(fd uintptr) { stampArrivals(&udpSocket{fd: int(fd)}) })
	leg, err := e.NewLeg(LegConfig{Format: Format{Codec: audio.PCMU}, Peer: addr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { leg.Close() })
	return c, leg
}
