package sip

import (
	"net"
	"net/netip"
	"syscall"
	"time"
	"unsafe"

	"github.com/phonediversions/phonediversions/media"
)

// udpConn is the UDP listener with its reads and writes made as raw
// system calls, waiting for readiness through Go's network poller as net
// does. A datagram socket never blocks a non-blocking recvfrom or sendto,
// so the runtime's bookkeeping for a call that may block is not needed;
// and that bookkeeping costs an idle program dearly: the first system
// call it makes after all its threads went idle wakes the runtime's
// monitor (sysmon), which then polls every 20 µs while any thread is
// busy. At 20 calls per second nearly every wake-up of it came from a
// SIP read.
//
// Each datagram carries the kernel's stamp of its arrival
// (SO_TIMESTAMPNS), and the time it waited in the socket until the read
// is counted in wait.
type udpConn struct {
	*net.UDPConn
	rc    syscall.RawConn
	inet6 bool             // the socket's family: an IPv4 destination is mapped
	wait  *media.Durations // nil: the wait is not measured
}

// newUDPConn wraps c; the time each datagram waits in the socket is
// counted in wait, when not nil.
func newUDPConn(c *net.UDPConn, wait *media.Durations) (*udpConn, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	u := &udpConn{UDPConn: c, rc: rc}
	var cerr error
	if err := rc.Control(func(fd uintptr) {
		var sa syscall.Sockaddr
		if sa, cerr = syscall.Getsockname(int(fd)); cerr == nil {
			_, u.inet6 = sa.(*syscall.SockaddrInet6)
		}
		// A measure, not a condition of listening: without stamps the
		// wait is not counted.
		if wait != nil && syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1) == nil {
			u.wait = wait
		}
	}); err != nil {
		return nil, err
	}
	if cerr != nil {
		return nil, cerr
	}
	return u, nil
}

// ReadFrom reads one datagram; the address is a *net.UDPAddr.
func (c *udpConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, from, err := c.ReadFromUDPAddrPort(b)
	if err != nil {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(from), nil
}

// ReadFromUDPAddrPort reads one datagram.
func (c *udpConn) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	var (
		n     int
		from  netip.AddrPort
		errno syscall.Errno
		rsa   syscall.RawSockaddrAny
	)
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	err := c.rc.Read(func(fd uintptr) bool {
		for {
			var oob [stampSpace]byte
			iov := syscall.Iovec{Base: (*byte)(p)}
			iov.SetLen(len(b))
			msg := syscall.Msghdr{Name: (*byte)(unsafe.Pointer(&rsa)), Namelen: syscall.SizeofSockaddrAny, Iov: &iov, Iovlen: 1}
			if c.wait != nil {
				msg.Control = &oob[0]
				msg.SetControllen(len(oob))
			}
			r, _, e := syscall.RawSyscall(syscall.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&msg)), 0)
			switch e {
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return false // wait until readable
			}
			n, errno = int(r), e
			if e == 0 && c.wait != nil {
				if at, ok := arrival(oob[:min(int(msg.Controllen), len(oob))]); ok {
					c.wait.Observe(time.Since(at))
				}
			}
			return true
		}
	})
	if err == nil && errno != 0 {
		err = errno
	}
	if err != nil {
		return 0, from, &net.OpError{Op: "read", Net: "udp", Source: c.LocalAddr(), Err: unwrapOp(err)}
	}
	switch rsa.Addr.Family {
	case syscall.AF_INET:
		a := (*syscall.RawSockaddrInet4)(unsafe.Pointer(&rsa))
		from = netip.AddrPortFrom(netip.AddrFrom4(a.Addr), netPort(a.Port))
	case syscall.AF_INET6:
		a := (*syscall.RawSockaddrInet6)(unsafe.Pointer(&rsa))
		from = netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), netPort(a.Port))
	}
	return n, from, nil
}

// stampSpace is the room for a datagram's control data: the arrival
// stamp, with room to spare for others the kernel may add.
const stampSpace = 128

// arrival returns the kernel's stamp of a datagram's arrival in its
// control data (SO_TIMESTAMPNS). The stamp is on the wall clock, as is
// the read's time it is compared with: a step of the clock between the
// two makes one wait wrong (a negative one counts as none).
func arrival(oob []byte) (time.Time, bool) {
	hdr := syscall.CmsgLen(0)
	for len(oob) >= hdr {
		h := (*syscall.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < hdr || l > len(oob) {
			return time.Time{}, false
		}
		if h.Level == syscall.SOL_SOCKET && h.Type == syscall.SO_TIMESTAMPNS && l-hdr >= int(unsafe.Sizeof(syscall.Timespec{})) {
			ts := (*syscall.Timespec)(unsafe.Pointer(&oob[hdr]))
			return time.Unix(ts.Unix()), true
		}
		oob = oob[min(syscall.CmsgSpace(l-hdr), len(oob)):]
	}
	return time.Time{}, false
}

// WriteTo writes one datagram to addr, a *net.UDPAddr.
func (c *udpConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	a, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, &net.OpError{Op: "write", Net: "udp", Source: c.LocalAddr(), Addr: addr, Err: syscall.EINVAL}
	}
	return c.WriteToUDP(b, a)
}

// WriteToUDP writes one datagram to addr.
func (c *udpConn) WriteToUDP(b []byte, addr *net.UDPAddr) (int, error) {
	if addr == nil {
		return 0, &net.OpError{Op: "write", Net: "udp", Source: c.LocalAddr(), Err: syscall.EDESTADDRREQ}
	}
	return c.WriteToUDPAddrPort(b, addr.AddrPort())
}

// WriteToUDPAddrPort writes one datagram to to.
func (c *udpConn) WriteToUDPAddrPort(b []byte, to netip.AddrPort) (int, error) {
	var (
		sa4 syscall.RawSockaddrInet4
		sa6 syscall.RawSockaddrInet6
		sa  unsafe.Pointer
		sl  uintptr
	)
	a := to.Addr()
	if c.inet6 {
		sa6 = syscall.RawSockaddrInet6{Family: syscall.AF_INET6, Addr: a.As16()}
		if z := a.Zone(); z != "" {
			if ifi, err := net.InterfaceByName(z); err == nil {
				sa6.Scope_id = uint32(ifi.Index)
			}
		}
		setNetPort(&sa6.Port, to.Port())
		sa, sl = unsafe.Pointer(&sa6), syscall.SizeofSockaddrInet6
	} else {
		if a = a.Unmap(); !a.Is4() {
			return 0, &net.OpError{Op: "write", Net: "udp", Source: c.LocalAddr(), Addr: net.UDPAddrFromAddrPort(to), Err: syscall.EAFNOSUPPORT}
		}
		sa4 = syscall.RawSockaddrInet4{Family: syscall.AF_INET, Addr: a.As4()}
		setNetPort(&sa4.Port, to.Port())
		sa, sl = unsafe.Pointer(&sa4), syscall.SizeofSockaddrInet4
	}
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	var (
		n     int
		errno syscall.Errno
	)
	err := c.rc.Write(func(fd uintptr) bool {
		for {
			r, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(p), uintptr(len(b)), 0, uintptr(sa), sl)
			switch e {
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return false // the socket's buffer is full: wait
			}
			n, errno = int(r), e
			return true
		}
	})
	if err == nil && errno != 0 {
		err = errno
	}
	if err != nil {
		return 0, &net.OpError{Op: "write", Net: "udp", Source: c.LocalAddr(), Addr: net.UDPAddrFromAddrPort(to), Err: unwrapOp(err)}
	}
	return n, nil
}

// unwrapOp takes the cause out of the raw connection's own OpError, so
// that the one returned names the operation once (errors.Is sees
// net.ErrClosed either way).
func unwrapOp(err error) error {
	if op, ok := err.(*net.OpError); ok {
		return op.Err
	}
	return err
}

// netPort reads a port kept in network order.
func netPort(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return uint16(b[0])<<8 | uint16(b[1])
}

// setNetPort stores port in network order.
func setNetPort(p *uint16, port uint16) {
	b := (*[2]byte)(unsafe.Pointer(p))
	b[0], b[1] = byte(port>>8), byte(port)
}
