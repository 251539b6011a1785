package media

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
)

// ErrNoPorts is returned when every RTP port of the range is in use.
var ErrNoPorts = errors.New("media: no free RTP port in the configured range")

// Ports hands out even UDP ports of a range for RTP (the odd port above each
// is left for RTCP, as RFC 3550 suggests). A port is taken by binding a
// socket to it, so ports that other programs hold are skipped.
type Ports struct {
	ip       netip.Addr
	min, max int

	mu   sync.Mutex
	used map[int]bool
	next int
}

// NewPorts returns an allocator of the even ports in [min, max] on ip.
// Errors: a range that holds no even port, or that is not within 1–65535.
func NewPorts(ip netip.Addr, min, max int) (*Ports, error) {
	if min%2 == 1 {
		min++
	}
	if min < 1 || max > 65535 || min > max {
		return nil, fmt.Errorf("media: RTP port range %d-%d holds no even port", min, max)
	}
	return &Ports{ip: ip, min: min, max: max, used: map[int]bool{}, next: min}, nil
}

// Capacity returns how many ports the range holds.
func (p *Ports) Capacity() int { return (p.max-p.min)/2 + 1 }

// InUse returns how many ports are allocated now.
func (p *Ports) InUse() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.used)
}

// Listen binds a UDP socket to the next free even port. Ports are handed
// out in turn round the range, so a port just released is the last to be
// reused, leaving time for stray packets of its last call to die out.
// Errors: ErrNoPorts.
func (p *Ports) Listen() (*net.UDPConn, int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.Capacity()
	for i := 0; i < n; i++ {
		port := p.next
		p.next += 2
		if p.next > p.max {
			p.next = p.min
		}
		if p.used[port] {
			continue
		}
		conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.ip, uint16(port))))
		if err != nil {
			continue // held by someone else
		}
		p.used[port] = true
		return conn, port, nil
	}
	return nil, 0, ErrNoPorts
}

// Release closes conn and frees its port.
func (p *Ports) Release(conn *net.UDPConn, port int) {
	conn.Close()
	p.mu.Lock()
	delete(p.used, port)
	p.mu.Unlock()
}
