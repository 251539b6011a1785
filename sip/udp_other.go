//go:build !linux

package sip

import "net"

// udpConn is the UDP listener; outside Linux its reads and writes are
// net's own.
type udpConn struct{ *net.UDPConn }

// newUDPConn wraps c.
func newUDPConn(c *net.UDPConn) (*udpConn, error) { return &udpConn{c}, nil }
