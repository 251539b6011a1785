package media

import (
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/phonediversions/phonediversions/audio"
)

// TestStalledShardKeepsTimestamps stalls the pacer's shard for 150 ms (it
// waits for the engine's send lock, which the test holds, as a closing
// leg holds it briefly) and checks that every stream's RTP timestamps
// keep to its packets' departures afterwards: each packet's arrival (the
// kernel's stamp) minus its timestamp is, after the stall, what it was
// before, within a few milliseconds. The pacer used to send one frame
// too many after skipping the frames it could no longer send on time
// (or, woken a period late, to lose frames without moving the timestamp
// on): every later packet was then 20 ms off, as a far end's jitter
// buffer sees it.
func TestStalledShardKeepsTimestamps(t *testing.T) {
	e := testEngine(t)
	if e.BatchError() != nil {
		t.Skipf("no io_uring here (%v): a shard sending a sendto each takes no lock the test could stall it on", e.BatchError())
	}
	const n = 10 // a batch: the shard takes the send lock for it
	frames := RingbackEurope().Frames(audio.PCMU)
	var sinks []*net.UDPConn
	for range n {
		c, leg := stampedSinkLeg(t, e)
		sinks = append(sinks, c)
		t.Cleanup(e.Play(leg, frames, true).Stop)
	}
	// transit reads k packets from sink i: each one's arrival minus its
	// media time (its timestamp's offset from the stream's first).
	type stream struct {
		first   uint32
		started bool
	}
	streams := make([]stream, n)
	transits := func(i, k int) []time.Duration {
		buf, oob := make([]byte, 2048), make([]byte, oobSize)
		var out []time.Duration
		for len(out) < k {
			sinks[i].SetReadDeadline(time.Now().Add(10 * time.Second))
			m, oobn, _, _, err := sinks[i].ReadMsgUDP(buf, oob)
			if err != nil {
				t.Errorf("stream %d: %v", i, err)
				return out
			}
			var p rtp.Packet
			if p.Unmarshal(buf[:m]) != nil || p.PayloadType >= 72 && p.PayloadType <= 76 {
				continue // not RTP (a report)
			}
			at, ok := arrival(oob[:oobn])
			if !ok {
				t.Errorf("no arrival stamp")
				return out
			}
			s := &streams[i]
			if !s.started {
				s.first, s.started = p.Timestamp, true
			}
			media := time.Duration(int32(p.Timestamp-s.first)) * time.Second / 8000
			out = append(out, time.Duration(at.UnixNano())-media)
		}
		return out
	}
	median := func(d []time.Duration) time.Duration {
		d = slices.Clone(d)
		slices.Sort(d)
		return d[len(d)/2]
	}
	each := func(f func(i int)) {
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() { defer wg.Done(); f(i) }()
		}
		wg.Wait()
	}
	before := make([]time.Duration, n)
	each(func(i int) { before[i] = median(transits(i, 25)) })
	if t.Failed() {
		return
	}
	e.sendMu.Lock()
	time.Sleep(150 * time.Millisecond) // the stall itself, not a wait for an event
	e.sendMu.Unlock()
	after := make([]time.Duration, n)
	each(func(i int) {
		transits(i, 25) // the stall and what follows it at once
		after[i] = median(transits(i, 25))
	})
	if t.Failed() {
		return
	}
	if e.Stats().SkippedFrames == 0 {
		t.Fatal("no frame skipped: the shard was not stalled")
	}
	for i := range n {
		if shift := after[i] - before[i]; shift < -10*time.Millisecond || shift > 10*time.Millisecond {
			t.Errorf("stream %d: after the stall its packets left %v later than their timestamps say (median), want within 10 ms", i, shift)
		}
	}
}
