package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// sipAnswers reports whether the SIP listener at addr answers an OPTIONS
// request over UDP before ctx ends: any answer (200, 503 while
// overloaded or while the store is away, 403 to an untrusted address)
// shows that its reading, its stack and its call handler run.
func sipAnswers(ctx context.Context, addr netip.AddrPort) bool {
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addr))
	if err != nil {
		return false
	}
	defer conn.Close()
	if d, ok := ctx.Deadline(); ok {
		conn.SetDeadline(d)
	}
	callID := rand.Text()
	local := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	host := addr.Addr().String()
	if addr.Addr().Is6() {
		host = "[" + host + "]"
	}
	req := fmt.Sprintf("OPTIONS sip:%s:%d SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %s;branch=z9hG4bK%s;rport\r\n"+
		"Max-Forwards: 70\r\n"+
		"From: <sip:watchdog@%s>;tag=%s\r\n"+
		"To: <sip:%s:%d>\r\n"+
		"Call-ID: %s\r\n"+
		"CSeq: 1 OPTIONS\r\n"+
		"Content-Length: 0\r\n\r\n",
		host, addr.Port(), local, callID[:16], host, callID[16:], host, addr.Port(), callID)
	buf := make([]byte, 4096)
	for try := 0; try < 3; try++ { // UDP: a lost datagram is sent again
		if _, err := conn.Write([]byte(req)); err != nil {
			return false
		}
		conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		if d, ok := ctx.Deadline(); ok && d.Before(time.Now().Add(500*time.Millisecond)) {
			conn.SetReadDeadline(d)
		}
		for {
			n, err := conn.Read(buf)
			if err != nil {
				break
			}
			if msg := string(buf[:n]); strings.HasPrefix(msg, "SIP/2.0 ") && strings.Contains(msg, callID) {
				return true
			}
		}
		if ctx.Err() != nil {
			return false
		}
	}
	return false
}
