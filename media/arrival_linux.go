package media

import (
	"syscall"
	"time"
	"unsafe"
)

// RTCP packets are read when the leg's next report is due, not when they
// arrive, yet the round trip (RFC 3550 6.4.1) needs their arrival time:
// the kernel stamps each datagram (SO_TIMESTAMP) and the stamp comes with
// it.

// oobSize is room for the stamp's control message.
const oobSize = 64

// stampArrivals asks the kernel to stamp the datagrams s receives.
func stampArrivals(s *udpSocket) {
	setsockoptInt(s.fd, syscall.SOL_SOCKET, syscall.SO_TIMESTAMP, 1)
}

// arrival returns the kernel's stamp in a datagram's control data, or
// ok false when there is none.
func arrival(oob []byte) (t time.Time, ok bool) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return time.Time{}, false
	}
	for _, m := range msgs {
		if m.Header.Level == syscall.SOL_SOCKET && m.Header.Type == syscall.SCM_TIMESTAMP &&
			len(m.Data) >= int(unsafe.Sizeof(syscall.Timeval{})) {
			tv := (*syscall.Timeval)(unsafe.Pointer(&m.Data[0]))
			return time.Unix(tv.Unix()), true
		}
	}
	return time.Time{}, false
}
