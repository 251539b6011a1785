package media

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestRawSenderReachesEachFamily(t *testing.T) {
	v4 := netip.MustParseAddr("127.0.0.1")
	v6 := netip.MustParseAddr("::1")
	cases := []struct {
		name     string
		from, to netip.Addr // the sending socket's address, the receiver's
		mapped   bool       // send to the receiver's address as IPv4-mapped IPv6
		err      error
	}{
		{name: "IPv4 to IPv4", from: v4, to: v4},
		{name: "IPv4 to mapped IPv4", from: v4, to: v4, mapped: true},
		{name: "IPv6 to IPv6", from: v6, to: v6},
		{name: "dual stack to IPv4", from: netip.IPv6Unspecified(), to: v4},
		{name: "IPv4 to IPv6", from: v4, to: v6, err: errFamily},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			recv, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(c.to, 0)))
			if err != nil {
				t.Skipf("no %v on this machine: %v", c.to, err)
			}
			defer recv.Close()
			conn, err := listenUDP(c.from, 0)
			if err != nil {
				t.Skipf("no %v on this machine: %v", c.from, err)
			}
			defer conn.close()
			s := newRawSender(conn)
			to := recv.LocalAddr().(*net.UDPAddr).AddrPort()
			if c.mapped {
				to = netip.AddrPortFrom(netip.AddrFrom16(to.Addr().As16()), to.Port())
			}
			for _, payload := range []string{"first", "second"} { // the second reuses the address
				err = s.send([]byte(payload), to)
				if !errors.Is(err, c.err) {
					t.Fatalf("send: %v, want %v", err, c.err)
				}
				if c.err != nil {
					return
				}
				buf := make([]byte, 64)
				recv.SetReadDeadline(time.Now().Add(2 * time.Second))
				n, from, err := recv.ReadFromUDPAddrPort(buf)
				if err != nil {
					t.Fatal(err)
				}
				if string(buf[:n]) != payload {
					t.Errorf("received %q, want %q", buf[:n], payload)
				}
				if from.Port() != conn.localAddr().Port() {
					t.Errorf("from port %d, want the sending socket's %v", from.Port(), conn.localAddr())
				}
			}
		})
	}
	t.Run("closed socket", func(t *testing.T) {
		conn, err := listenUDP(netip.MustParseAddr("127.0.0.1"), 0)
		if err != nil {
			t.Fatal(err)
		}
		s := newRawSender(conn)
		conn.close()
		if err := s.send([]byte("x"), netip.MustParseAddrPort("127.0.0.1:9")); err == nil {
			t.Error("a send on a closed socket succeeded")
		}
	})
}

func BenchmarkRawSend(b *testing.B) {
	recv, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer recv.Close()
	recv.SetReadBuffer(1) // drop what arrives, as a far end that does not read
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	to := recv.LocalAddr().(*net.UDPAddr).AddrPort()
	pkt := make([]byte, 172)
	b.Run("WriteToUDPAddrPort", func(b *testing.B) {
		for b.Loop() {
			conn.WriteToUDPAddrPort(pkt, to)
		}
	})
	sock, err := listenUDP(netip.MustParseAddr("127.0.0.1"), 0)
	if err != nil {
		b.Fatal(err)
	}
	defer sock.close()
	s := newRawSender(sock)
	b.Run("raw", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s.send(pkt, to)
		}
	})
	// A thousand streams: each leg's own socket to its peer (as the
	// product sends), or one socket to every peer (as SIPp's rtp_stream
	// does), round the thousand in turn.
	const n = 1000
	var peers []netip.AddrPort
	var senders []*rawSender
	for range n {
		r, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			b.Fatal(err)
		}
		defer r.Close()
		r.SetReadBuffer(1)
		peers = append(peers, r.LocalAddr().(*net.UDPAddr).AddrPort())
		c, err := listenUDP(netip.MustParseAddr("127.0.0.1"), 0)
		if err != nil {
			b.Fatal(err)
		}
		defer c.close()
		senders = append(senders, newRawSender(c))
	}
	b.Run("raw-1000-sockets", func(b *testing.B) {
		i := 0
		for b.Loop() {
			senders[i].send(pkt, peers[i])
			i = (i + 1) % n
		}
	})
	b.Run("raw-1-socket-1000-peers", func(b *testing.B) {
		i := 0
		for b.Loop() {
			s.send(pkt, peers[i])
			i = (i + 1) % n
		}
	})
}
