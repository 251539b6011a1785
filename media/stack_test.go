package media_test

import (
	"net/netip"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/phonediversions/phonediversions/audio"
	"github.com/phonediversions/phonediversions/media"
)

// At a thousand calls a goroutine per leg was a good part of the
// product's memory, and a registration in Go's network poller per socket
// a part of its CPU. An engine reads every leg on one goroutine and runs
// every leg's reports and silence checks on another: five hundred legs
// that each receive packets and send and read reports add no goroutine
// and no stack.
func TestLegsNeedNoGoroutine(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("legs are read by one epoll reader on Linux only; elsewhere each has a goroutine")
	}
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
	goroutines, stacks := runtime.NumGoroutine(), stackBytes()
	var legs []*media.Leg
	for range n {
		l, err := e.NewLeg(media.LegConfig{Format: media.Format{Codec: audio.PCMU}, Peer: sink.addr(), Timeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		legs = append(legs, l)
	}
	defer func() {
		for _, l := range legs {
			l.Close()
		}
	}()
	// Every leg receives a packet from its peer, and sends reports and
	// reads its RTCP socket at least twice.
	for i, l := range legs {
		sink.send(l.LocalAddr(), rtp.Header{SequenceNumber: uint16(i), SSRC: 1}, make([]byte, 160))
	}
	eventually(t, "every leg's packet and two reports of each", func() bool {
		s := e.Stats()
		return s.PacketsReceived >= n && s.RTCPSent >= 2*n
	})
	for _, l := range legs {
		if q := l.Quality(); q.Received != 1 {
			t.Fatalf("leg on %v counted %d packets of its peer, want 1", l.LocalAddr(), q.Received)
		}
	}
	runtime.GC()
	if more := runtime.NumGoroutine() - goroutines; more > 2 {
		t.Errorf("%d legs added %d goroutines", n, more)
	}
	per := int64(stackBytes()-stacks) / n
	t.Logf("goroutine stack per leg: %d bytes", per)
	if per > 256 {
		t.Errorf("goroutine stack per leg %d bytes, want none", per)
	}
}

// A leg closed while its peer keeps sending reads nothing more, and a
// leg opened at once after it (the kernel hands out the closed socket's
// number again) counts only what its own peer sends.
func TestLegClosedUnderTraffic(t *testing.T) {
	e, err := media.New(media.Config{IP: loopback, PortMin: 30000, PortMax: 39998})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	flood, own := newPeer(t), newPeer(t)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	target := make(chan netip.AddrPort, 1)
	wg.Add(1)
	go func() { // sends to whichever leg was opened last, as fast as it can
		defer wg.Done()
		var to netip.AddrPort
		for seq := uint16(0); ; seq++ {
			select {
			case <-stop:
				return
			case to = <-target:
			default:
			}
			if to.IsValid() {
				b, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, SSRC: 2}, Payload: make([]byte, 160)}).Marshal()
				flood.conn.WriteToUDPAddrPort(b, to)
			}
		}
	}()
	for range 50 {
		old, err := e.NewLeg(media.LegConfig{Format: media.Format{Codec: audio.PCMU}, Peer: flood.addr()})
		if err != nil {
			t.Fatal(err)
		}
		target <- old.LocalAddr()
		eventually(t, "the flood to reach the leg", func() bool { return old.Quality().Received > 0 })
		old.Close()
		l, err := e.NewLeg(media.LegConfig{Format: media.Format{Codec: audio.PCMU}, Peer: own.addr()})
		if err != nil {
			t.Fatal(err)
		}
		own.send(l.LocalAddr(), rtp.Header{SequenceNumber: 7, SSRC: 3}, make([]byte, 160))
		eventually(t, "the new leg's own packet", func() bool { return l.Quality().Received >= 1 })
		if q := l.Quality(); q.Received != 1 {
			t.Fatalf("the new leg counted %d packets, want its peer's 1", q.Received)
		}
		l.Close()
	}
	close(stop)
	wg.Wait()
}

func stackBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/stacks:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
