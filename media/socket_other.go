//go:build !linux

package media

import (
	"net"
	"net/netip"
	"os"
	"time"
)

// udpSocket is a UDP socket of Go's net package where the raw sockets of
// socket_linux.go are not used.
type udpSocket struct{ c *net.UDPConn }

// listenUDP opens a socket bound to ip and port (0: any free port).
func listenUDP(ip netip.Addr, port int) (*udpSocket, error) {
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port))))
	if err != nil {
		return nil, err
	}
	return &udpSocket{c: c}, nil
}

// localAddr returns the address the socket is bound to.
func (s *udpSocket) localAddr() netip.AddrPort { return s.c.LocalAddr().(*net.UDPAddr).AddrPort() }

// close closes the socket.
func (s *udpSocket) close() { s.c.Close() }

// errWouldBlock is a read with nothing waiting.
var errWouldBlock = os.ErrDeadlineExceeded

// recv reads one datagram already waiting: errWouldBlock when none is.
func (s *udpSocket) recv(buf, oob []byte) (n, oobn int, from netip.AddrPort, err error) {
	s.c.SetReadDeadline(time.Now().Add(time.Millisecond))
	n, oobn, _, from, err = s.c.ReadMsgUDPAddrPort(buf, oob)
	return n, oobn, netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), err
}

// rawSender writes through the socket where raw system calls are not
// used.
type rawSender struct{ s *udpSocket }

func newRawSender(s *udpSocket) *rawSender { return &rawSender{s: s} }

func (s *rawSender) send(pkt []byte, to netip.AddrPort) error {
	_, err := s.s.c.WriteToUDPAddrPort(pkt, to)
	return err
}
