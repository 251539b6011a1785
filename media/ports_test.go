package media

import (
	"errors"
	"net"
	"net/netip"
	"testing"
)

// freePairBase finds an even port whose odd neighbour is free too, by
// asking the kernel for ports until one is even.
func freePairBase(t *testing.T) int {
	t.Helper()
	for range 1000 {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		port := c.LocalAddr().(*net.UDPAddr).Port
		c.Close()
		if port%2 == 0 && port+8 < 65535 {
			return port
		}
	}
	t.Fatal("no even port from the kernel in 1,000 tries")
	return 0
}

func TestPorts(t *testing.T) {
	base := freePairBase(t)
	// Hold the RTP port of the first pair and the RTCP port of the third
	// elsewhere: the allocator skips both pairs.
	hold := func(port int) {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		if err != nil {
			t.Skipf("port %d was taken meanwhile: %v", port, err)
		}
		t.Cleanup(func() { c.Close() })
	}
	hold(base)
	hold(base + 5)
	ports, err := NewPorts(netip.MustParseAddr("127.0.0.1"), base, base+8) // pairs at base, +2, +4, +6
	if err != nil {
		t.Fatal(err)
	}
	if ports.Capacity() != 4 {
		t.Fatalf("capacity %d", ports.Capacity())
	}
	var got []portPair
	for {
		pair, err := ports.listen()
		if errors.Is(err, ErrNoPorts) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		got = append(got, pair)
	}
	if len(got) != 2 || got[0].port != base+2 || got[1].port != base+6 {
		t.Fatalf("allocated %v; want the pairs at %d and %d", got, base+2, base+6)
	}
	for _, pair := range got {
		if int(pair.rtcp.localAddr().Port()) != pair.port+1 {
			t.Fatalf("RTCP of %d on %v", pair.port, pair.rtcp.localAddr())
		}
	}
	ports.release(got[0])
	again, err := ports.listen()
	if err != nil || again.port != got[0].port {
		t.Fatalf("after release: %d %v", again.port, err)
	}
	ports.release(again)
	ports.release(got[1])
	if ports.InUse() != 0 {
		t.Fatalf("%d pairs still in use", ports.InUse())
	}
	if _, err := NewPorts(netip.MustParseAddr("127.0.0.1"), 11, 11); err == nil {
		t.Fatal("a range with no pair was accepted")
	}
}
