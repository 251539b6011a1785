package media

import (
	"fmt"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// reader takes the RTP of every leg of an engine on one goroutine. The
// legs' sockets are in an epoll set of the engine's own, not in Go's
// network poller; only the set is in the poller (an epoll set is readable
// while one of its sockets is), so the goroutine parks while no packet
// waits and costs nothing per leg but the set's entry. RTCP sockets are
// not in the set: reports are read when the leg's next report is due
// (timers.go).
type reader struct {
	set  *os.File // the epoll set
	rc   syscall.RawConn
	mu   sync.Mutex
	legs map[uint64]*Leg // by the id their socket's entry carries
	last uint64
}

func newReader() (*reader, error) {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("media: epoll: %w", err)
	}
	syscall.SetNonblock(fd, true) // so that os.NewFile puts it in the poller
	set := os.NewFile(uintptr(fd), "rtp-set")
	rc, err := set.SyscallConn()
	if err != nil {
		set.Close()
		return nil, fmt.Errorf("media: epoll: %w", err)
	}
	return &reader{set: set, rc: rc, legs: map[uint64]*Leg{}}, nil
}

// eventID is the id an epoll entry carries in its data.
func eventID(ev *syscall.EpollEvent) *uint64 { return (*uint64)(unsafe.Pointer(&ev.Fd)) }

// add puts l's RTP socket in the set.
func (r *reader) add(l *Leg) error {
	r.mu.Lock()
	r.last++
	id := r.last
	r.legs[id] = l
	r.mu.Unlock()
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN}
	*eventID(&ev) = id
	var err error
	if cerr := r.rc.Control(func(set uintptr) {
		err = syscall.EpollCtl(int(set), syscall.EPOLL_CTL_ADD, l.conn.fd, &ev)
	}); cerr != nil {
		err = cerr // the engine is closed
	}
	if err != nil {
		r.mu.Lock()
		delete(r.legs, id)
		r.mu.Unlock()
		return fmt.Errorf("media: epoll: %w", err)
	}
	l.readID = id
	return nil
}

// remove forgets l; closing its socket takes it out of the set.
func (r *reader) remove(l *Leg) {
	r.mu.Lock()
	delete(r.legs, l.readID)
	r.mu.Unlock()
}

// run reads until the set is closed: for each socket with a packet
// waiting, one packet (the set reports a socket again while it holds
// more).
func (r *reader) run() {
	events := make([]syscall.EpollEvent, 128)
	buf := make([]byte, maxPacket)
	var n int
	var werr error
	// wait takes what is ready without waiting; false parks the goroutine
	// until the set is readable again (or closed).
	wait := func(set uintptr) bool {
		for {
			// A raw call: it does not wait (see rawCall).
			got, _, errno := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, set, uintptr(unsafe.Pointer(&events[0])),
				uintptr(len(events)), 0, 0, 0)
			if errno == syscall.EINTR {
				continue
			}
			n, werr = int(got), nil
			if errno != 0 {
				n, werr = 0, errno
			}
			break
		}
		return n > 0 || werr != nil
	}
	for {
		if err := r.rc.Read(wait); err != nil || werr != nil {
			return // closed (an epoll set in use fails no other way)
		}
		for i := range events[:n] {
			r.mu.Lock()
			l := r.legs[*eventID(&events[i])]
			r.mu.Unlock()
			if l != nil {
				l.readOne(buf)
			}
		}
	}
}

// close ends run.
func (r *reader) close() { r.set.Close() }

// readOne reads one packet of l's socket into buf and takes it.
func (l *Leg) readOne(buf []byte) {
	l.rmu.Lock()
	if l.closed.Load() {
		l.rmu.Unlock()
		return
	}
	n, _, from, err := l.conn.recv(buf, nil)
	l.rmu.Unlock()
	if err == nil {
		l.take(buf[:n], from, l.e.now())
	}
}
