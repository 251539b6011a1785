package sip

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/phonediversions/phonediversions/internal/syscalltrace"
	"github.com/phonediversions/phonediversions/media"
)

// listenRaw opens the listener's socket on addr as Listen does.
func listenRaw(t *testing.T, addr string) *udpConn {
	t.Helper()
	a, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenUDP("udp", a)
	if err != nil {
		t.Skipf("cannot listen on %s here: %v", addr, err)
	}
	u, err := newUDPConn(c, new(media.Durations))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	return u
}

// peerOn opens a plain socket on ip to talk to the listener.
func peerOn(t *testing.T, ip string) *net.UDPConn {
	t.Helper()
	p, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Skipf("cannot open a socket on %s here: %v", ip, err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func TestUDPConnCarriesDatagrams(t *testing.T) {
	for _, tc := range []struct {
		name, listen, peer, dial string
	}{
		{"IPv4 socket", "127.0.0.1:0", "127.0.0.1", "127.0.0.1"},
		{"dual-stack socket, IPv4 peer", "0.0.0.0:0", "127.0.0.1", "127.0.0.1"},
		{"dual-stack socket, IPv6 peer", "0.0.0.0:0", "::1", "::1"},
		{"IPv6 socket", "[::1]:0", "::1", "::1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := listenRaw(t, tc.listen)
			p := peerOn(t, tc.peer)
			to := &net.UDPAddr{IP: net.ParseIP(tc.dial), Port: u.LocalAddr().(*net.UDPAddr).Port}
			buf := make([]byte, 2048)
			for i := range 3 {
				ping := fmt.Appendf(nil, "OPTIONS sip:%d SIP/2.0", i)
				if _, err := p.WriteTo(ping, to); err != nil {
					t.Fatal(err)
				}
				n, from, err := u.ReadFrom(buf)
				if err != nil {
					t.Fatalf("ReadFrom: %v", err)
				}
				if !bytes.Equal(buf[:n], ping) {
					t.Fatalf("read %q, want %q", buf[:n], ping)
				}
				pa := p.LocalAddr().(*net.UDPAddr)
				fa, ok := from.(*net.UDPAddr)
				if !ok || !fa.IP.Equal(net.ParseIP(tc.peer)) || fa.Port != pa.Port {
					t.Fatalf("from %v, want %s port %d", from, tc.peer, pa.Port)
				}
				pong := fmt.Appendf(nil, "SIP/2.0 200 OK %d", i)
				write := u.WriteTo
				if i == 1 {
					write = func(b []byte, a net.Addr) (int, error) { return u.WriteToUDP(b, a.(*net.UDPAddr)) }
				}
				if n, err := write(pong, from); err != nil || n != len(pong) {
					t.Fatalf("WriteTo: %d, %v", n, err)
				}
				n, back, err := p.ReadFromUDP(buf)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(buf[:n], pong) || back.Port != to.Port {
					t.Fatalf("peer read %q from port %d, want %q from %d", buf[:n], back.Port, pong, to.Port)
				}
			}
		})
	}
}

// TestUDPConnMeasuresTheWaitInTheSocket: a datagram left unread for a
// while is counted with that wait, from its arrival to the read, on
// IPv4 and IPv6 sockets.
func TestUDPConnMeasuresTheWaitInTheSocket(t *testing.T) {
	for _, tc := range []struct{ name, listen, peer string }{
		{"IPv4", "127.0.0.1:0", "127.0.0.1"},
		{"IPv6", "[::1]:0", "::1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := listenRaw(t, tc.listen)
			p := peerOn(t, tc.peer)
			to := &net.UDPAddr{IP: net.ParseIP(tc.peer), Port: u.LocalAddr().(*net.UDPAddr).Port}
			const held = 30 * time.Millisecond
			sent := time.Now()
			for range 2 {
				if _, err := p.WriteTo([]byte("OPTIONS sip:x SIP/2.0"), to); err != nil {
					t.Fatal(err)
				}
			}
			// Not a wait for an event: the datagrams are left in the
			// socket for at least this long.
			time.Sleep(held)
			buf := make([]byte, 2048)
			for range 2 {
				if _, _, err := u.ReadFrom(buf); err != nil {
					t.Fatal(err)
				}
			}
			most := time.Since(sent)
			h := u.wait.Snapshot()
			if n := h.Total(); n != 2 {
				t.Fatalf("%d waits counted, want 2", n)
			}
			// Both arrived after sent and were read before most, and
			// waited held at least. The shorter wait is known to its
			// bucket's upper bound, the longer exactly (Max).
			if low := h.Quantile(0); low < held || h.Max > most {
				t.Fatalf("waits from %v to %v, want both within [%v, %v]", low, h.Max, held, most)
			}
		})
	}
}

func TestUDPConnErrors(t *testing.T) {
	u := listenRaw(t, "127.0.0.1:0")
	if _, err := u.WriteTo([]byte("x"), &net.UDPAddr{IP: net.ParseIP("::1"), Port: 5060}); err == nil {
		t.Error("an IPv4 socket wrote to an IPv6 address")
	}
	if _, err := u.WriteTo([]byte("x"), &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 5060}); err == nil {
		t.Error("wrote to a TCP address")
	}
	if _, err := u.WriteToUDP([]byte("x"), nil); err == nil {
		t.Error("wrote to no address")
	}

	// A deadline ends a read that has nothing to read.
	u.SetReadDeadline(time.Now().Add(-time.Second))
	if _, _, err := u.ReadFrom(make([]byte, 100)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("read past its deadline: %v, want a deadline error", err)
	}
	u.SetReadDeadline(time.Time{})

	// Closing ends a read waiting for a datagram, with net.ErrClosed, as
	// the stack expects to stop its reader.
	done := make(chan error, 1)
	go func() {
		_, _, err := u.ReadFrom(make([]byte, 100))
		done <- err
	}()
	u.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Errorf("read on a closed socket: %v, want net.ErrClosed", err)
	}
	if _, err := u.WriteTo([]byte("x"), &net.UDPAddr{IP: net.ParseIP("127.0.0.1"), Port: 5060}); !errors.Is(err, net.ErrClosed) {
		t.Errorf("write on a closed socket: %v, want net.ErrClosed", err)
	}
}

// echoRounds has the peer send n datagrams, each once the answer to the
// last came back, and serve answer each on c.
func echoRounds(t *testing.T, c net.PacketConn, p *net.UDPConn, n int, serve func(net.PacketConn, []byte) error) {
	t.Helper()
	errs := make(chan error, 1)
	go func() {
		buf := make([]byte, 2048)
		for range n {
			if err := serve(c, buf); err != nil {
				errs <- err
				return
			}
		}
		errs <- nil
	}()
	to := c.LocalAddr()
	buf := make([]byte, 2048)
	for range n {
		if _, err := p.WriteTo([]byte("ping"), to); err != nil {
			t.Fatal(err)
		}
		if _, _, err := p.ReadFrom(buf); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
}

// servePlain and serveRaw answer one datagram; their names tell the
// trace's stacks apart.
func servePlain(c net.PacketConn, buf []byte) error { return answerOne(c, buf) }
func serveRaw(c net.PacketConn, buf []byte) error   { return answerOne(c, buf) }

func answerOne(c net.PacketConn, buf []byte) error {
	n, from, err := c.ReadFrom(buf)
	if err != nil {
		return err
	}
	_, err = c.WriteTo(buf[:n], from)
	return err
}

// The listener's reads and writes are raw system calls: none goes through
// the runtime's path for calls that may block (whose first call after
// the program went idle wakes the runtime's monitor). The same exchange
// over net's own socket shows that the trace sees such calls.
func TestUDPConnMakesNoBlockingSyscalls(t *testing.T) {
	const rounds = 40
	u := listenRaw(t, "127.0.0.1:0")
	plain, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	p := peerOn(t, "127.0.0.1")
	calls := syscalltrace.Blocking(t, func() {
		echoRounds(t, plain, p, rounds, servePlain)
		echoRounds(t, u, p, rounds, serveRaw)
	})
	// Each round reads once and writes once; a read may also find the
	// socket empty first.
	if got := len(syscalltrace.With(calls, "servePlain")); got < 2*rounds {
		t.Fatalf("the trace shows %d blocking-path calls for %d rounds over net's socket, want at least %d: it does not see them",
			got, rounds, 2*rounds)
	}
	if raw := syscalltrace.With(calls, "serveRaw"); len(raw) > 0 {
		t.Errorf("%d calls of the listener went through the blocking path, the first: %v", len(raw), raw[0])
	}
}
