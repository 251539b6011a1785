//go:build !linux

package media

import (
	"net"
	"net/netip"
)

// rawSender writes through the socket where raw system calls are not
// used.
type rawSender struct{ c *net.UDPConn }

func newRawSender(c *net.UDPConn) *rawSender { return &rawSender{c: c} }

func (s *rawSender) send(pkt []byte, to netip.AddrPort) error {
	_, err := s.c.WriteToUDPAddrPort(pkt, to)
	return err
}
