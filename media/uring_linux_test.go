package media

import (
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// The io_uring trial (issue: the per-packet system call is the floor):
// can one tick's packets, one from each leg's socket, go out in one
// system call through io_uring, and is a packet then cheaper than a raw
// sendto? This is a trial kept with the tests, not a sender of the
// product: a minimal ring (setup, the three mappings, SENDMSG entries,
// io_uring_enter) without cgo, measured against the raw sender on the
// same sockets by BenchmarkURingSend:
//
//	go test ./media/ -run URing -bench URingSend -benchtime 200x -count 3

const (
	sysIOURingSetup = 425
	sysIOURingEnter = 426

	ioringOffSQRing = 0
	ioringOffCQRing = 0x8000000
	ioringOffSQEs   = 0x10000000

	ioringOpSendmsg       = 9
	ioringEnterGetevents  = 1
	ioringFeatSingleMmap  = 1
	sizeofSQE             = 64
	sizeofCQE             = 16
	sizeofIOURingParams   = 120
	offsetSQOffInParams   = 40
	offsetCQOffInParams   = 80
	sqOffHead, sqOffTail  = 0, 4
	sqOffMask, sqOffArray = 8, 24
	cqOffHead, cqOffTail  = 0, 4
	cqOffMask, cqOffCQEs  = 8, 20
	paramsFeaturesOffset  = 20
	paramsSQEntriesOffset = 0
	paramsCQEntriesOffset = 4
)

// uring is a minimal io_uring for sends.
type uring struct {
	fd                     int
	sqRing, cqRing, sqes   []byte
	sqHead, sqTail, sqMask *uint32
	sqArray                unsafe.Pointer
	cqHead, cqTail, cqMask *uint32
	cqes                   unsafe.Pointer
	entries                uint32
}

func newURing(entries uint32) (*uring, error) {
	var p [sizeofIOURingParams]byte
	fd, _, errno := syscall.Syscall(sysIOURingSetup, uintptr(entries), uintptr(unsafe.Pointer(&p[0])), 0)
	if errno != 0 {
		return nil, fmt.Errorf("io_uring_setup: %w", errno)
	}
	u32 := func(off int) uint32 { return *(*uint32)(unsafe.Pointer(&p[off])) }
	r := &uring{fd: int(fd), entries: u32(paramsSQEntriesOffset)}
	sqSize := int(u32(offsetSQOffInParams+sqOffArray)) + int(r.entries)*4
	cqSize := int(u32(offsetCQOffInParams+cqOffCQEs)) + int(u32(paramsCQEntriesOffset))*sizeofCQE
	single := u32(paramsFeaturesOffset)&ioringFeatSingleMmap != 0
	if single {
		sqSize = max(sqSize, cqSize)
	}
	var err error
	mmap := func(off int64, size int) ([]byte, error) {
		return syscall.Mmap(r.fd, off, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_POPULATE)
	}
	if r.sqRing, err = mmap(ioringOffSQRing, sqSize); err != nil {
		r.close()
		return nil, err
	}
	r.cqRing = r.sqRing
	if !single {
		if r.cqRing, err = mmap(ioringOffCQRing, cqSize); err != nil {
			r.close()
			return nil, err
		}
	}
	if r.sqes, err = mmap(ioringOffSQEs, int(r.entries)*sizeofSQE); err != nil {
		r.close()
		return nil, err
	}
	at := func(ring []byte, off uint32) unsafe.Pointer { return unsafe.Pointer(&ring[off]) }
	r.sqHead = (*uint32)(at(r.sqRing, u32(offsetSQOffInParams+sqOffHead)))
	r.sqTail = (*uint32)(at(r.sqRing, u32(offsetSQOffInParams+sqOffTail)))
	r.sqMask = (*uint32)(at(r.sqRing, u32(offsetSQOffInParams+sqOffMask)))
	r.sqArray = at(r.sqRing, u32(offsetSQOffInParams+sqOffArray))
	r.cqHead = (*uint32)(at(r.cqRing, u32(offsetCQOffInParams+cqOffHead)))
	r.cqTail = (*uint32)(at(r.cqRing, u32(offsetCQOffInParams+cqOffTail)))
	r.cqMask = (*uint32)(at(r.cqRing, u32(offsetCQOffInParams+cqOffMask)))
	r.cqes = at(r.cqRing, u32(offsetCQOffInParams+cqOffCQEs))
	return r, nil
}

func (r *uring) close() {
	if r.sqes != nil {
		syscall.Munmap(r.sqes)
	}
	if r.cqRing != nil && (r.sqRing == nil || &r.cqRing[0] != &r.sqRing[0]) {
		syscall.Munmap(r.cqRing)
	}
	if r.sqRing != nil {
		syscall.Munmap(r.sqRing)
	}
	syscall.Close(r.fd)
}

// sendBatch sends each message (fd, msghdr) with one io_uring_enter and
// returns how many completed with an error.
func (r *uring) sendBatch(fds []int, msgs []syscall.Msghdr) (failed int, err error) {
	n := uint32(len(fds))
	if n > r.entries {
		return 0, fmt.Errorf("%d sends, ring of %d", n, r.entries)
	}
	tail := atomic.LoadUint32(r.sqTail)
	mask := *r.sqMask
	for i := uint32(0); i < n; i++ {
		idx := (tail + i) & mask
		sqe := r.sqes[idx*sizeofSQE : (idx+1)*sizeofSQE]
		clear(sqe)
		sqe[0] = ioringOpSendmsg
		*(*int32)(unsafe.Pointer(&sqe[4])) = int32(fds[i])
		*(*uint64)(unsafe.Pointer(&sqe[16])) = uint64(uintptr(unsafe.Pointer(&msgs[i])))
		*(*uint32)(unsafe.Pointer(&sqe[24])) = 1 // len: one msghdr
		*(*uint64)(unsafe.Pointer(&sqe[32])) = uint64(i)
		*(*uint32)(unsafe.Add(r.sqArray, idx*4)) = idx
	}
	atomic.StoreUint32(r.sqTail, tail+n)
	_, _, errno := syscall.Syscall6(sysIOURingEnter, uintptr(r.fd), uintptr(n), uintptr(n), ioringEnterGetevents, 0, 0)
	if errno != 0 {
		return 0, fmt.Errorf("io_uring_enter: %w", errno)
	}
	head := atomic.LoadUint32(r.cqHead)
	ctail := atomic.LoadUint32(r.cqTail)
	cmask := *r.cqMask
	for ; head != ctail; head++ {
		cqe := unsafe.Add(r.cqes, (head&cmask)*sizeofCQE)
		if res := *(*int32)(unsafe.Add(cqe, 8)); res < 0 {
			failed++
		}
	}
	atomic.StoreUint32(r.cqHead, head)
	return failed, nil
}

// uringBench is n sending sockets, each with a peer that drops what it
// gets, and the messages that send one packet from each to its peer.
type uringBench struct {
	fds     []int
	senders []*rawSender
	peers   []netip.AddrPort
	msgs    []syscall.Msghdr
	iovs    []syscall.Iovec
	addrs   []syscall.RawSockaddrInet4
	pkt     []byte
	conns   []*net.UDPConn
}

func newURingBench(tb testing.TB, n int) *uringBench {
	tb.Helper()
	ub := &uringBench{pkt: make([]byte, 172), msgs: make([]syscall.Msghdr, n), iovs: make([]syscall.Iovec, n),
		addrs: make([]syscall.RawSockaddrInet4, n)}
	for i := range n {
		recv, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			tb.Fatal(err)
		}
		recv.SetReadBuffer(1)
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			tb.Fatal(err)
		}
		ub.conns = append(ub.conns, recv, c)
		rc, _ := c.SyscallConn()
		rc.Control(func(fd uintptr) { ub.fds = append(ub.fds, int(fd)) })
		ub.senders = append(ub.senders, newRawSender(&udpSocket{fd: ub.fds[len(ub.fds)-1]})) // c keeps the socket
		to := recv.LocalAddr().(*net.UDPAddr).AddrPort()
		ub.peers = append(ub.peers, to)
		a := &ub.addrs[i]
		a.Family = syscall.AF_INET
		a.Addr = to.Addr().As4()
		p := to.Port()
		a.Port = p<<8 | p>>8 // network order
		ub.iovs[i] = syscall.Iovec{Base: &ub.pkt[0]}
		ub.iovs[i].SetLen(len(ub.pkt))
		ub.msgs[i] = syscall.Msghdr{Name: (*byte)(unsafe.Pointer(a)), Namelen: syscall.SizeofSockaddrInet4, Iov: &ub.iovs[i], Iovlen: 1}
	}
	tb.Cleanup(func() {
		for _, c := range ub.conns {
			c.Close()
		}
	})
	return ub
}

// TestURingSendDelivers: the trial's ring sends what it is given, from
// each socket to its peer.
func TestURingSendDelivers(t *testing.T) {
	r, err := newURing(64)
	if err != nil {
		t.Skipf("io_uring not available here: %v", err)
	}
	defer r.close()
	ub := newURingBench(t, 8)
	for i := 0; i < len(ub.conns); i += 2 {
		ub.conns[i].SetReadBuffer(65536) // the peers keep what they get
	}
	copy(ub.pkt, "uring")
	for round := range 3 {
		failed, err := r.sendBatch(ub.fds, ub.msgs)
		if err != nil || failed != 0 {
			t.Fatalf("round %d: %d failed, %v", round, failed, err)
		}
		for i := 0; i < len(ub.conns); i += 2 {
			buf := make([]byte, 256)
			ub.conns[i].SetReadDeadline(time.Now().Add(2 * time.Second))
			n, from, err := ub.conns[i].ReadFromUDPAddrPort(buf)
			if err != nil || n != len(ub.pkt) || string(buf[:5]) != "uring" {
				t.Fatalf("round %d, peer %d: %d bytes %q, %v", round, i/2, n, buf[:min(n, 5)], err)
			}
			if want := ub.conns[i+1].LocalAddr().(*net.UDPAddr).AddrPort(); from.Port() != want.Port() {
				t.Fatalf("round %d, peer %d: from %v, want the sending socket %v", round, i/2, from, want)
			}
		}
	}
}

// BenchmarkURingSend sends one packet from each of a thousand sockets to
// its peer, as a pacer tick of a thousand streams does: with a raw sendto
// each, and with one io_uring_enter for the thousand. ns/op is per
// thousand packets.
func BenchmarkURingSend(b *testing.B) {
	const n = 1000
	ub := newURingBench(b, n)
	b.Run("sendto", func(b *testing.B) {
		for b.Loop() {
			for i, s := range ub.senders {
				s.send(ub.pkt, ub.peers[i])
			}
		}
	})
	r, err := newURing(1024)
	if err != nil {
		b.Skipf("io_uring not available here: %v", err)
	}
	defer r.close()
	b.Run("io_uring", func(b *testing.B) {
		for b.Loop() {
			if _, err := r.sendBatch(ub.fds, ub.msgs); err != nil {
				b.Fatal(err)
			}
		}
	})
}
