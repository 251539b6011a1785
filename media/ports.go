package media

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
)

// ErrNoPorts is returned when every RTP port of the range is in use.
var ErrNoPorts = errors.New("media: no free RTP port in the configured range")

// Ports hands out pairs of UDP ports of a range: an even port for RTP and
// the odd one above it for RTCP (RFC 3550 11). A pair is taken by binding
// both sockets, so ports that other programs hold are skipped.
type Ports struct {
	ip       netip.Addr
	min, max int

	mu   sync.Mutex
	used map[int]bool
	next int
}

// portPair is an RTP socket on an even port and the RTCP socket above it.
type portPair struct {
	rtp, rtcp *udpSocket
	port      int // the RTP port
}

// NewPorts returns an allocator of the port pairs in [min, max] on ip.
// Errors: a range that holds no pair, or that is not within 1–65535.
func NewPorts(ip netip.Addr, min, max int) (*Ports, error) {
	if min%2 == 1 {
		min++
	}
	if max%2 == 0 {
		max-- // the RTCP port of the last pair must be in the range
	}
	if min < 1 || max > 65535 || min+1 > max {
		return nil, fmt.Errorf("media: RTP port range %d-%d holds no pair of ports", min, max)
	}
	return &Ports{ip: ip, min: min, max: max, used: map[int]bool{}, next: min}, nil
}

// Capacity returns how many pairs the range holds.
func (p *Ports) Capacity() int { return (p.max - p.min + 1) / 2 }

// InUse returns how many pairs are allocated now.
func (p *Ports) InUse() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.used)
}

// listen binds the next free pair. Pairs are handed out in turn round the
// range, so a pair just released is the last to be reused, leaving time
// for stray packets of its last call to die out. Errors: ErrNoPorts.
func (p *Ports) listen() (portPair, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.Capacity()
	for i := 0; i < n; i++ {
		port := p.next
		p.next += 2
		if p.next+1 > p.max {
			p.next = p.min
		}
		if p.used[port] {
			continue
		}
		rtpConn, err := listenUDP(p.ip, port)
		if err != nil {
			continue // held by someone else
		}
		rtcpConn, err := listenUDP(p.ip, port+1)
		if err != nil {
			rtpConn.close()
			continue
		}
		p.used[port] = true
		return portPair{rtp: rtpConn, rtcp: rtcpConn, port: port}, nil
	}
	return portPair{}, ErrNoPorts
}

// release closes the pair's sockets and frees its ports.
func (p *Ports) release(pair portPair) {
	pair.rtp.close()
	pair.rtcp.close()
	p.mu.Lock()
	delete(p.used, pair.port)
	p.mu.Unlock()
}
