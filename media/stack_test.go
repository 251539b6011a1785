package media_test

import (
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/phonediversions/phonediversions/audio"
	"github.com/phonediversions/phonediversions/media"
)

// Each leg has a reader goroutine; at a thousand calls its stack is a
// good part of the product's memory. Reading, sending and taking RTCP
// reports fit in 4 KiB (a report read into a buffer on the stack made it
// 8 KiB).
func TestLegReaderStackStaysSmall(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes every stack larger; run without -race")
	}
	e, err := media.New(media.Config{IP: loopback, PortMin: 30000, PortMax: 39998, ReportInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	sink := newPeer(t)
	const n = 500
	runtime.GC()
	before := stackBytes()
	var legs []*media.Leg
	for range n {
		l, err := e.NewLeg(media.LegConfig{Format: media.Format{Codec: audio.PCMU}, Peer: sink.addr(), Timeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		legs = append(legs, l)
	}
	// Every leg sends reports and reads its RTCP socket (the deepest path
	// of its reader) at least twice.
	deadline := time.Now().Add(10 * time.Second)
	for e.Stats().RTCPSent < 2*n && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if sent := e.Stats().RTCPSent; sent < 2*n {
		t.Fatalf("%d reports sent by %d legs", sent, n)
	}
	runtime.GC()
	per := (stackBytes() - before) / n
	for _, l := range legs {
		l.Close()
	}
	t.Logf("goroutine stack per leg: %d bytes", per)
	if per > 5<<10 {
		t.Errorf("goroutine stack per leg %d bytes, want 4 KiB", per)
	}
}

func stackBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/stacks:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
