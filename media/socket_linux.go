package media

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"unsafe"
)

// A leg's sockets are kept out of Go's network poller: their reads are
// made by the engine's one reader (reader_linux.go), their sends by raw
// system calls. A UDP send on a non-blocking socket never waits, so the
// runtime's bookkeeping around a call that may block is skipped.
//
// RTP goes out one datagram per leg every 20 ms, each from the leg's own
// socket (its source port is the one its SDP names), so the sends of a
// pacer slot cannot share one sendmmsg, which batches datagrams of one
// socket; they share an io_uring submission instead (uring_linux.go),
// and go out with a sendto each where a slot holds few streams or the
// kernel gives no ring.
//
// A socket is used under its leg's locks (the reader's and the sender's),
// which Close takes before closing it: no read or send can reach a file
// descriptor that was closed and perhaps reused.

// udpSocket is a non-blocking UDP socket outside Go's network poller.
type udpSocket struct {
	fd    int // -1 once closed
	inet6 bool
	local netip.AddrPort
}

// listenUDP opens a socket bound to ip and port (0: any free port). An
// unspecified address listens on IPv4 and IPv6 alike, as net.ListenUDP
// does. Every call it makes is raw (see rawCall).
func listenUDP(ip netip.Addr, port int) (*udpSocket, error) {
	ip = ip.Unmap()
	family := syscall.AF_INET
	if ip.Is6() || ip.IsUnspecified() {
		family = syscall.AF_INET6
	}
	// The syscall package opens sockets with a raw call already.
	fd, err := syscall.Socket(family, syscall.SOCK_DGRAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, syscall.IPPROTO_UDP)
	if err != nil && family == syscall.AF_INET6 && ip.IsUnspecified() {
		family = syscall.AF_INET // no IPv6 on this machine
		fd, err = syscall.Socket(family, syscall.SOCK_DGRAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, syscall.IPPROTO_UDP)
	}
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: "udp", Err: err}
	}
	s := &udpSocket{fd: fd, inet6: family == syscall.AF_INET6}
	if s.inet6 && ip.IsUnspecified() {
		setsockoptInt(fd, syscall.IPPROTO_IPV6, syscall.IPV6_V6ONLY, 0)
	}
	var sa sockaddr
	at := netip.AddrPortFrom(ip, uint16(port))
	err = sa.set(s.inet6, at)
	if err == nil {
		p, n := sa.ptr(s.inet6)
		err = rawCall(syscall.SYS_BIND, uintptr(fd), uintptr(p), n)
	}
	if err != nil {
		closeFD(fd)
		return nil, &net.OpError{Op: "listen", Net: "udp", Addr: net.UDPAddrFromAddrPort(at), Err: err}
	}
	if got, err := syscall.Getsockname(fd); err == nil { // a raw call too
		switch a := got.(type) {
		case *syscall.SockaddrInet4:
			s.local = netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
		case *syscall.SockaddrInet6:
			s.local = netip.AddrPortFrom(netip.AddrFrom16(a.Addr), uint16(a.Port))
		}
	}
	return s, nil
}

// localAddr returns the address the socket is bound to.
func (s *udpSocket) localAddr() netip.AddrPort { return s.local }

// close closes the socket (which takes it out of the reader's set).
func (s *udpSocket) close() {
	if s.fd >= 0 {
		closeFD(s.fd)
		s.fd = -1
	}
}

// rawCall makes a system call that does not block as a raw one: without
// the runtime's bookkeeping for a call that may block. That bookkeeping
// costs an idle program dearly: the first such call after all its
// threads went idle wakes the runtime's monitor (sysmon), which then
// polls every 20 µs while any thread is busy. Opening and closing a
// leg's sockets were what woke it at the start and end of each call.
func rawCall(trap, a1, a2, a3 uintptr) error {
	if _, _, errno := syscall.RawSyscall(trap, a1, a2, a3); errno != 0 {
		return errno
	}
	return nil
}

// closeFD closes a socket's descriptor (a UDP socket's close does not
// block).
func closeFD(fd int) { rawCall(syscall.SYS_CLOSE, uintptr(fd), 0, 0) }

// setsockoptInt sets an integer socket option.
func setsockoptInt(fd, level, opt, v int) error {
	v32 := int32(v)
	_, _, errno := syscall.RawSyscall6(syscall.SYS_SETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt),
		uintptr(unsafe.Pointer(&v32)), unsafe.Sizeof(v32), 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// errWouldBlock is a read with nothing waiting.
var errWouldBlock = syscall.EAGAIN

// recv reads one waiting datagram into buf, and its control data into oob
// (may be nil), without waiting: errWouldBlock when none is waiting. It
// does not allocate.
func (s *udpSocket) recv(buf, oob []byte) (n, oobn int, from netip.AddrPort, err error) {
	if s.fd < 0 {
		return 0, 0, from, net.ErrClosed
	}
	var rsa syscall.RawSockaddrAny
	iov := syscall.Iovec{Base: &buf[0]}
	iov.SetLen(len(buf))
	msg := syscall.Msghdr{Name: (*byte)(unsafe.Pointer(&rsa)), Namelen: syscall.SizeofSockaddrAny, Iov: &iov, Iovlen: 1}
	if len(oob) > 0 {
		msg.Control = &oob[0]
		msg.SetControllen(len(oob))
	}
	r, _, errno := syscall.RawSyscall(syscall.SYS_RECVMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&msg)), 0)
	if errno != 0 {
		return 0, 0, from, errno
	}
	switch rsa.Addr.Family {
	case syscall.AF_INET:
		a := (*syscall.RawSockaddrInet4)(unsafe.Pointer(&rsa))
		from = netip.AddrPortFrom(netip.AddrFrom4(a.Addr), portOf(a.Port))
	case syscall.AF_INET6:
		a := (*syscall.RawSockaddrInet6)(unsafe.Pointer(&rsa))
		from = netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), portOf(a.Port))
	}
	return int(r), int(msg.Controllen), from, nil
}

// portOf reads a port kept in network order.
func portOf(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return binary.BigEndian.Uint16(b[:])
}

// rawSender sends datagrams on one socket, remembering the last
// destination's socket address. It is used by one writer at a time (the
// leg's out lock) and allocates nothing.
type rawSender struct {
	s *udpSocket
	sockaddr
	to netip.AddrPort // what sa4 or sa6 holds
}

// newRawSender prepares sends on s.
func newRawSender(s *udpSocket) *rawSender { return &rawSender{s: s} }

// errFamily is a destination the socket's family cannot reach (IPv6 from
// an IPv4 socket).
var errFamily = errors.New("media: destination of another address family than the socket")

// send writes pkt to the address to.
func (s *rawSender) send(pkt []byte, to netip.AddrPort) error {
	if s.s.fd < 0 {
		return net.ErrClosed
	}
	if to != s.to {
		if err := s.address(to); err != nil {
			return err
		}
	}
	sa, n := s.ptr(s.s.inet6)
	return sendto(s.s.fd, pkt, sa, n)
}

// sendto sends pkt on the socket fd to the socket address sa of n bytes.
func sendto(fd int, pkt []byte, sa unsafe.Pointer, n uintptr) error {
	_, _, errno := syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&pkt[0])), uintptr(len(pkt)), 0, uintptr(sa), n)
	if errno != 0 {
		return errno
	}
	return nil
}

// address puts to in the socket address the system call is given.
func (s *rawSender) address(to netip.AddrPort) error {
	if err := s.set(s.s.inet6, to); err != nil {
		return err
	}
	s.to = to
	return nil
}

// sockaddr is a socket address in the form the kernel takes it, for a
// socket of either family.
type sockaddr struct {
	sa4 syscall.RawSockaddrInet4
	sa6 syscall.RawSockaddrInet6
}

// set puts to in the form a socket of the family inet6 takes (an IPv4
// address is mapped there); errFamily when an IPv4 socket cannot reach
// it.
func (sa *sockaddr) set(inet6 bool, to netip.AddrPort) error {
	a := to.Addr()
	port := (*[2]byte)(unsafe.Pointer(&sa.sa4.Port))
	if inet6 {
		sa.sa6 = syscall.RawSockaddrInet6{Family: syscall.AF_INET6, Addr: a.As16()}
		if a.Zone() != "" {
			if ifi, err := net.InterfaceByName(a.Zone()); err == nil {
				sa.sa6.Scope_id = uint32(ifi.Index)
			}
		}
		port = (*[2]byte)(unsafe.Pointer(&sa.sa6.Port))
	} else {
		a = a.Unmap()
		if !a.Is4() {
			return errFamily
		}
		sa.sa4 = syscall.RawSockaddrInet4{Family: syscall.AF_INET, Addr: a.As4()}
	}
	port[0], port[1] = byte(to.Port()>>8), byte(to.Port()) // network order
	return nil
}

// ptr returns the address and its length, for a socket of the family
// inet6.
func (sa *sockaddr) ptr(inet6 bool) (unsafe.Pointer, uintptr) {
	if inet6 {
		return unsafe.Pointer(&sa.sa6), syscall.SizeofSockaddrInet6
	}
	return unsafe.Pointer(&sa.sa4), syscall.SizeofSockaddrInet4
}
