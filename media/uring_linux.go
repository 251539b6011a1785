package media

import (
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// The pacer's sends of one slot go out together through io_uring: one
// io_uring_enter for every packet of the slot, each from its own leg's
// socket, where a sendto each would make a system call a packet. The
// ring is made without cgo: io_uring_setup, its three mappings, SENDMSG
// entries and io_uring_enter. Where the kernel refuses it (too old, or a
// seccomp filter), or a submission fails, the pacer sends with sendto.
//
// Every entry carries MSG_DONTWAIT, which makes a send that meets a full
// socket buffer fail at once with EAGAIN, as a sendto on the non-blocking
// socket does, instead of waiting in the kernel for room, so each
// io_uring_enter completes all it submitted before it returns, and the
// batch's buffers, messages and addresses are free again when flush
// returns. Since it never waits, it is a raw system call, as the sendto
// of a single packet is: the runtime's bookkeeping of a call that may
// block would have its monitor hand the shard's P to another thread
// during a long batch (measured: at 60 streams, half again the CPU).
//
// Descriptors are another matter: a socket closed between queueing and
// submitting could be reused by then. The engine's sendMu is held for
// reading by a shard from its first queued packet to the end of the
// flush, and for writing by a leg's Close around closing its sockets.

const (
	sysIOURingSetup = 425
	sysIOURingEnter = 426

	ioringOffSQRing = 0
	ioringOffCQRing = 0x8000000
	ioringOffSQEs   = 0x10000000

	ioringOpSendmsg      = 9
	ioringEnterGetevents = 1
	ioringFeatSingleMmap = 1

	sizeofSQE           = 64
	sizeofCQE           = 16
	sizeofIOURingParams = 120
	// Offsets in struct io_uring_params and its io_sqring_offsets and
	// io_cqring_offsets (include/uapi/linux/io_uring.h).
	paramsSQEntries, paramsCQEntries, paramsFeatures = 0, 4, 20
	paramsSQOff, paramsCQOff                         = 40, 80
	sqOffHead, sqOffTail, sqOffMask, sqOffArray      = 0, 4, 8, 24
	cqOffHead, cqOffTail, cqOffMask, cqOffCQEs       = 0, 4, 8, 20
	// Offsets in struct io_uring_sqe and io_uring_cqe.
	sqeOpcode, sqeFd, sqeAddr, sqeLen, sqeMsgFlags, sqeUserData = 0, 4, 16, 24, 28, 32
	cqeUserData, cqeRes                                         = 0, 8

	msgDontWait = 0x40 // MSG_DONTWAIT
)

// uring is an io_uring used for sends only, by one goroutine at a time.
type uring struct {
	fd                     int
	sqRing, cqRing, sqes   []byte
	sqHead, sqTail, sqMask *uint32
	sqArray                unsafe.Pointer
	cqHead, cqTail, cqMask *uint32
	cqes                   unsafe.Pointer
	entries                uint32
}

// newURing sets up a ring of at least entries submission entries.
func newURing(entries uint32) (*uring, error) {
	var p [sizeofIOURingParams]byte
	fd, _, errno := syscall.Syscall(sysIOURingSetup, uintptr(entries), uintptr(unsafe.Pointer(&p[0])), 0)
	if errno != 0 {
		return nil, fmt.Errorf("io_uring_setup: %w", errno)
	}
	u32 := func(off int) uint32 { return *(*uint32)(unsafe.Pointer(&p[off])) }
	r := &uring{fd: int(fd), entries: u32(paramsSQEntries)}
	sqSize := int(u32(paramsSQOff+sqOffArray)) + int(r.entries)*4
	cqSize := int(u32(paramsCQOff+cqOffCQEs)) + int(u32(paramsCQEntries))*sizeofCQE
	single := u32(paramsFeatures)&ioringFeatSingleMmap != 0
	if single {
		sqSize = max(sqSize, cqSize)
	}
	mmap := func(off int64, size int) ([]byte, error) {
		return syscall.Mmap(r.fd, off, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_POPULATE)
	}
	var err error
	if r.sqRing, err = mmap(ioringOffSQRing, sqSize); err != nil {
		r.close()
		return nil, fmt.Errorf("io_uring mmap: %w", err)
	}
	r.cqRing = r.sqRing
	if !single {
		if r.cqRing, err = mmap(ioringOffCQRing, cqSize); err != nil {
			r.close()
			return nil, fmt.Errorf("io_uring mmap: %w", err)
		}
	}
	if r.sqes, err = mmap(ioringOffSQEs, int(r.entries)*sizeofSQE); err != nil {
		r.close()
		return nil, fmt.Errorf("io_uring mmap: %w", err)
	}
	at := func(ring []byte, off uint32) unsafe.Pointer { return unsafe.Pointer(&ring[off]) }
	r.sqHead = (*uint32)(at(r.sqRing, u32(paramsSQOff+sqOffHead)))
	r.sqTail = (*uint32)(at(r.sqRing, u32(paramsSQOff+sqOffTail)))
	r.sqMask = (*uint32)(at(r.sqRing, u32(paramsSQOff+sqOffMask)))
	r.sqArray = at(r.sqRing, u32(paramsSQOff+sqOffArray))
	r.cqHead = (*uint32)(at(r.cqRing, u32(paramsCQOff+cqOffHead)))
	r.cqTail = (*uint32)(at(r.cqRing, u32(paramsCQOff+cqOffTail)))
	r.cqMask = (*uint32)(at(r.cqRing, u32(paramsCQOff+cqOffMask)))
	r.cqes = at(r.cqRing, u32(paramsCQOff+cqOffCQEs))
	return r, nil
}

// close unmaps the ring and closes it.
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

// errRingBroken is a ring the kernel stopped taking sends from: it is not
// used again.
var errRingBroken = errors.New("media: io_uring refused a submission")

// sendmsgs sends msgs[i] on fds[i], all with one io_uring_enter (more
// only when a signal interrupts the wait), and calls done(i, res) for
// each: the bytes sent, or a negative errno. It returns how many of them
// the kernel took (the first ones, at most the ring's size) once each of
// those has completed, so that msgs and what they point to may be
// reused; the rest were not sent. An error says why the kernel took
// fewer than it was given.
func (r *uring) sendmsgs(fds []int32, msgs []syscall.Msghdr, done func(i int, res int32)) (int, error) {
	n := uint32(len(fds))
	if n > r.entries {
		n = r.entries
	}
	if n == 0 {
		return 0, nil
	}
	tail := atomic.LoadUint32(r.sqTail)
	mask := *r.sqMask
	for i := uint32(0); i < n; i++ {
		idx := (tail + i) & mask
		sqe := unsafe.Pointer(&r.sqes[idx*sizeofSQE])
		*(*[sizeofSQE]byte)(sqe) = [sizeofSQE]byte{}
		*(*uint8)(unsafe.Add(sqe, sqeOpcode)) = ioringOpSendmsg
		*(*int32)(unsafe.Add(sqe, sqeFd)) = fds[i]
		*(*uint64)(unsafe.Add(sqe, sqeAddr)) = uint64(uintptr(unsafe.Pointer(&msgs[i])))
		*(*uint32)(unsafe.Add(sqe, sqeLen)) = 1 // one msghdr
		*(*uint32)(unsafe.Add(sqe, sqeMsgFlags)) = msgDontWait
		*(*uint64)(unsafe.Add(sqe, sqeUserData)) = uint64(i)
		*(*uint32)(unsafe.Add(r.sqArray, idx*4)) = idx
	}
	atomic.StoreUint32(r.sqTail, tail+n)
	_, _, errno := syscall.RawSyscall6(sysIOURingEnter, uintptr(r.fd), uintptr(n), uintptr(n), ioringEnterGetevents, 0, 0)
	// What the kernel took, whatever the call returned: it moves the head
	// past each entry it consumed before it returns.
	taken := atomic.LoadUint32(r.sqHead) - tail
	var err error
	if taken < n {
		atomic.StoreUint32(r.sqTail, tail+taken) // no later call may submit the rest
		if errno == 0 {
			errno = syscall.EAGAIN
		}
		err = fmt.Errorf("%w: %d of %d taken: %w", errRingBroken, taken, n, errno)
	}
	reaped := r.reap(done)
	for reaped < taken {
		// Only a signal interrupts a wait for completions that are due at
		// once (MSG_DONTWAIT): wait for the rest.
		_, _, errno := syscall.RawSyscall6(sysIOURingEnter, uintptr(r.fd), 0, uintptr(taken-reaped), ioringEnterGetevents, 0, 0)
		if errno != 0 && errno != syscall.EINTR {
			return int(taken), fmt.Errorf("%w: waiting for completions: %w", errRingBroken, errno)
		}
		reaped += r.reap(done)
	}
	return int(taken), err
}

// reap calls done for each completion waiting and returns how many.
func (r *uring) reap(done func(i int, res int32)) uint32 {
	head := atomic.LoadUint32(r.cqHead)
	tail := atomic.LoadUint32(r.cqTail)
	mask := *r.cqMask
	var n uint32
	for ; head != tail; head++ {
		cqe := unsafe.Add(r.cqes, (head&mask)*sizeofCQE)
		done(int(*(*uint64)(unsafe.Add(cqe, cqeUserData))), *(*int32)(unsafe.Add(cqe, cqeRes)))
		n++
	}
	atomic.StoreUint32(r.cqHead, head)
	return n
}

// Batches: how many packets a batch holds, the largest packet it takes,
// and the fewest packets of a slot worth a batch (below it a sendto each
// costs less than the ring's system call and bookkeeping; measured by
// BenchmarkBatchSend).
const (
	batchSize   = 128
	batchPacket = 512
	batchFrom   = 8
)

// batch gathers the packets of a pacer slot, one per leg, for one
// io_uring_enter. Its memory is the kernel's to read from flush's
// submission to its return; it belongs to one shard.
type batch struct {
	ring   *uring
	e      *Engine
	n      int
	sent   uint64 // completions without error in the flush in progress
	onDone func(i int, res int32)
	legs   [batchSize]*Leg
	sizes  [batchSize]uint32 // payload bytes, to take back from the leg's counters if the send fails
	fds    [batchSize]int32
	msgs   [batchSize]syscall.Msghdr
	iovs   [batchSize]syscall.Iovec
	addrs  [batchSize]syscall.RawSockaddrInet6
	bufs   [batchSize][batchPacket]byte
}

// newBatch returns a batch with a ring of its own, or an error when the
// kernel gives none.
func newBatch(e *Engine) (*batch, error) {
	r, err := newURing(batchSize)
	if err != nil {
		return nil, err
	}
	b := &batch{ring: r, e: e}
	b.onDone = b.done
	for i := range b.msgs {
		b.iovs[i].Base = &b.bufs[i][0]
		b.msgs[i].Name = (*byte)(unsafe.Pointer(&b.addrs[i]))
		b.msgs[i].Iov = &b.iovs[i]
		b.msgs[i].Iovlen = 1
	}
	return b, nil
}

// full reports whether the batch must be flushed before it takes more.
func (b *batch) full() bool { return b.n == batchSize }

// room returns the buffer of the next packet, for the sender to build it
// in place; nil when the batch is full.
func (b *batch) room() []byte {
	if b.full() {
		return nil
	}
	return b.bufs[b.n][:]
}

// add queues pkt from l's socket to to, unless it cannot go in a batch
// (too long, or an address of another family than the socket's); l's out
// lock is held. pkt may be the buffer room returned.
func (b *batch) add(l *Leg, pkt []byte, to netip.AddrPort, payload int) bool {
	tx := l.tx
	if b.full() || len(pkt) > batchPacket || tx.s.fd < 0 {
		return false
	}
	if to != tx.to {
		if err := tx.address(to); err != nil {
			return false
		}
	}
	i := b.n
	if &pkt[0] != &b.bufs[i][0] {
		copy(b.bufs[i][:], pkt)
	}
	b.iovs[i].SetLen(len(pkt))
	if tx.s.inet6 {
		b.addrs[i] = tx.sa6
		b.msgs[i].Namelen = syscall.SizeofSockaddrInet6
	} else {
		*(*syscall.RawSockaddrInet4)(unsafe.Pointer(&b.addrs[i])) = tx.sa4
		b.msgs[i].Namelen = syscall.SizeofSockaddrInet4
	}
	b.fds[i] = int32(tx.s.fd)
	b.legs[i] = l
	b.sizes[i] = uint32(payload)
	b.n++
	return true
}

// done counts one completion of the flush in progress.
func (b *batch) done(i int, res int32) {
	if res >= 0 {
		b.sent++
		return
	}
	l := b.legs[i]
	l.out.Lock()
	l.sentPkts--
	l.sentBytes -= b.sizes[i]
	l.out.Unlock()
	b.e.stats.sendErrors.Add(1)
}

// flush sends what the batch holds. It reports false when the ring
// failed: what it did not take went out with a sendto each, and the
// batch is not to be used again.
func (b *batch) flush() bool {
	if b.n == 0 {
		return true
	}
	b.sent = 0
	taken, err := b.ring.sendmsgs(b.fds[:b.n], b.msgs[:b.n], b.onDone)
	for i := taken; i < b.n; i++ { // what the ring did not take
		m := &b.msgs[i]
		if sendto(int(b.fds[i]), b.bufs[i][:b.iovs[i].Len], unsafe.Pointer(m.Name), uintptr(m.Namelen)) == nil {
			b.sent++
		} else {
			b.done(i, -1)
		}
	}
	b.e.stats.sent.Add(b.sent)
	b.e.stats.batched.Add(uint64(taken))
	clear(b.legs[:b.n]) // the batch keeps no leg reachable
	b.n = 0
	if err != nil {
		b.ring.close()
		b.ring = nil
		return false
	}
	return true
}

// close releases the ring.
func (b *batch) close() {
	if b.ring != nil {
		b.ring.close()
		b.ring = nil
	}
}
