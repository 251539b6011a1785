package media

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
	"unsafe"
)

// RTP goes out one datagram per leg every 20 ms, each from the leg's own
// socket (its source port is the one its SDP names), so the sends of a
// pacer slot cannot share one sendmmsg: that batches datagrams of one
// socket. What a send costs beyond the kernel's own work is the Go
// runtime's bookkeeping around a system call that may block: a UDP send
// on a non-blocking socket never waits, so rawSender makes it as a raw
// system call. The socket's lock is still taken (RawConn.Write), so a
// send cannot race the socket's close.

// rawSender sends datagrams on one UDP socket. It is used by one writer at
// a time (the leg's out lock).
type rawSender struct {
	rc    syscall.RawConn
	inet6 bool // the socket is AF_INET6 (sends IPv4 as mapped addresses)
	sa4   syscall.RawSockaddrInet4
	sa6   syscall.RawSockaddrInet6
	to    netip.AddrPort // what sa4 or sa6 holds
	pkt   []byte
	errno syscall.Errno
	fn    func(fd uintptr) bool // made once: a send allocates nothing
}

// newRawSender prepares sends on c; nil when the socket cannot be used
// that way (the caller then writes through c).
func newRawSender(c *net.UDPConn) *rawSender {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil
	}
	s := &rawSender{rc: rc}
	family := -1
	rc.Control(func(fd uintptr) {
		if sa, err := syscall.Getsockname(int(fd)); err == nil {
			switch sa.(type) {
			case *syscall.SockaddrInet4:
				family = syscall.AF_INET
			case *syscall.SockaddrInet6:
				family = syscall.AF_INET6
			}
		}
	})
	if family < 0 {
		return nil
	}
	s.inet6 = family == syscall.AF_INET6
	s.fn = func(fd uintptr) bool {
		sa, n := unsafe.Pointer(&s.sa4), uintptr(syscall.SizeofSockaddrInet4)
		if s.inet6 {
			sa, n = unsafe.Pointer(&s.sa6), syscall.SizeofSockaddrInet6
		}
		_, _, s.errno = syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&s.pkt[0])), uintptr(len(s.pkt)), 0, uintptr(sa), n)
		return true
	}
	return s
}

// errFamily is a destination the socket's family cannot reach (IPv6 from
// an IPv4 socket).
var errFamily = errors.New("media: destination of another address family than the socket")

// send writes pkt to the address to.
func (s *rawSender) send(pkt []byte, to netip.AddrPort) error {
	if to != s.to {
		if err := s.address(to); err != nil {
			return err
		}
	}
	s.pkt = pkt
	if err := s.rc.Write(s.fn); err != nil {
		return err // closed
	}
	s.pkt = nil
	if s.errno != 0 {
		return s.errno
	}
	return nil
}

// address puts to in the socket address the system call is given.
func (s *rawSender) address(to netip.AddrPort) error {
	a := to.Addr()
	port := (*[2]byte)(unsafe.Pointer(&s.sa4.Port))
	if s.inet6 {
		s.sa6 = syscall.RawSockaddrInet6{Family: syscall.AF_INET6, Addr: a.As16()}
		if a.Zone() != "" {
			if ifi, err := net.InterfaceByName(a.Zone()); err == nil {
				s.sa6.Scope_id = uint32(ifi.Index)
			}
		}
		port = (*[2]byte)(unsafe.Pointer(&s.sa6.Port))
	} else {
		a = a.Unmap()
		if !a.Is4() {
			return errFamily
		}
		s.sa4 = syscall.RawSockaddrInet4{Family: syscall.AF_INET, Addr: a.As4()}
	}
	port[0], port[1] = byte(to.Port()>>8), byte(to.Port()) // network order
	s.to = to
	return nil
}
