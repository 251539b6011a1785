//go:build !linux

package media

import "net/netip"

// reader reads each leg's RTP on a goroutine of the leg's where the
// epoll reader of reader_linux.go is not available.
type reader struct{}

func newReader() (*reader, error) { return &reader{}, nil }

// add starts l's reading goroutine; it ends when the socket closes.
func (r *reader) add(l *Leg) error {
	go func() {
		buf := make([]byte, maxPacket)
		for {
			n, from, err := l.conn.c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return // closed (the RTP socket has no deadline)
			}
			from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
			l.take(buf[:n], from, l.e.now())
		}
	}()
	return nil
}

func (r *reader) remove(*Leg) {}
func (r *reader) run()        {}
func (r *reader) close()      {}
