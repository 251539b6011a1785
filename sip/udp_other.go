//go:build !linux

package sip

import (
	"net"

	"github.com/phonediversions/phonediversions/media"
)

// udpConn is the UDP listener; outside Linux its reads and writes are
// net's own.
type udpConn struct{ *net.UDPConn }

// newUDPConn wraps c; the wait of datagrams in the socket is not
// measured here.
func newUDPConn(c *net.UDPConn, _ *media.Durations) (*udpConn, error) { return &udpConn{c}, nil }
