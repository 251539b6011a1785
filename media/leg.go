package media

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
)

// Format is what a leg negotiated: its audio codec and the payload type of
// RFC 4733 telephone events (0 when none).
type Format struct {
	Codec Codec
	DTMF  uint8
}

// payloadCN is the static payload type of comfort noise (RFC 3389).
const payloadCN = 13

// Leg is one call party's RTP session: a local socket, the peer's address,
// the outgoing stream state and a reader that takes the peer's packets.
// Exactly one writer (a Stream or a Bridge) sends on a leg at a time.
type Leg struct {
	e    *Engine
	conn *net.UDPConn
	port int

	format   atomic.Uint32 // Format packed: codec | dtmf<<8
	peer     atomic.Pointer[netip.AddrPort]
	latched  atomic.Bool // the peer's address was learned from its packets
	sink     atomic.Pointer[forwarder]
	lastRecv atomic.Int64 // engine clock, ns

	timeout   time.Duration
	onTimeout func()
	held      atomic.Bool // silence does not count while held

	out       sync.Mutex // guards the fields below
	hdr       rtp.Header
	lastSend  time.Duration // engine clock
	sentOnce  bool
	newBurst  bool
	outBuf    [maxPacket]byte
	closeOnce sync.Once
	done      chan struct{}
}

// LegConfig configures a new leg.
type LegConfig struct {
	Format Format
	// Peer is where to send until the peer's own packets show where it is
	// (symmetric RTP); may be set later with SetPeer.
	Peer netip.AddrPort
	// Timeout is how long the peer may stay silent before OnTimeout is
	// called (once); 0 disables the check.
	Timeout   time.Duration
	OnTimeout func()
	// HoldTimeout starts the leg with the silence check held, for a leg
	// whose peer has no reason to send yet (a far party still ringing, a
	// caller not yet answered); ReleaseTimeout starts it.
	HoldTimeout bool
}

// NewLeg opens a leg on a free port of the engine's range. Errors:
// ErrNoPorts.
func (e *Engine) NewLeg(cfg LegConfig) (*Leg, error) {
	conn, port, err := e.ports.Listen()
	if err != nil {
		return nil, err
	}
	l := &Leg{e: e, conn: conn, port: port, timeout: cfg.Timeout, onTimeout: cfg.OnTimeout, done: make(chan struct{})}
	l.SetFormat(cfg.Format)
	l.held.Store(cfg.HoldTimeout)
	if cfg.Peer.IsValid() {
		l.SetPeer(cfg.Peer)
	}
	l.hdr = rtp.Header{Version: 2, SSRC: rand.Uint32(), SequenceNumber: uint16(rand.Uint32()), Timestamp: rand.Uint32()}
	l.newBurst = true
	l.lastRecv.Store(int64(e.now()))
	e.stats.legs.Add(1)
	go l.read()
	return l, nil
}

// Port returns the local RTP port, for the SDP.
func (l *Leg) Port() int { return l.port }

// LocalAddr returns the socket's address.
func (l *Leg) LocalAddr() netip.AddrPort { return l.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// SetFormat changes the negotiated codec and telephone-event type (after
// an SDP answer or a re-INVITE).
func (l *Leg) SetFormat(f Format) { l.format.Store(uint32(f.Codec) | uint32(f.DTMF)<<8) }

// Format returns the negotiated format.
func (l *Leg) Format() Format {
	v := l.format.Load()
	return Format{Codec: Codec(v), DTMF: uint8(v >> 8)}
}

// SetPeer sets where to send, as the peer's SDP says. Once the peer's own
// packets have shown its address, that address is kept (symmetric RTP).
func (l *Leg) SetPeer(addr netip.AddrPort) {
	if !l.latched.Load() {
		addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
		l.peer.Store(&addr)
	}
}

// Peer returns where the leg sends; the zero value when unknown.
func (l *Leg) Peer() netip.AddrPort {
	if p := l.peer.Load(); p != nil {
		return *p
	}
	return netip.AddrPort{}
}

// ReleaseTimeout starts (or restarts) the silence check of a leg opened
// with HoldTimeout: the peer now has Timeout to send its first packet.
func (l *Leg) ReleaseTimeout() {
	l.lastRecv.Store(int64(l.e.now()))
	l.held.Store(false)
}

// Done is closed when the leg is closed.
func (l *Leg) Done() <-chan struct{} { return l.done }

// Close stops the reader and releases the port. Safe to call more than once.
func (l *Leg) Close() {
	l.closeOnce.Do(func() {
		close(l.done)
		l.sink.Store(nil)
		l.e.ports.Release(l.conn, l.port)
		l.e.stats.legs.Add(-1)
	})
}

// read takes the peer's packets until the leg closes: it latches the peer's
// address, hands packets to the bridge when there is one and watches for
// silence.
func (l *Leg) read() {
	buf := make([]byte, maxPacket)
	e := l.e
	if l.timeout > 0 {
		l.conn.SetReadDeadline(time.Now().Add(l.timeout))
	}
	for {
		n, from, err := l.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && l.timeout > 0 {
				if l.held.Load() {
					l.conn.SetReadDeadline(time.Now().Add(l.timeout))
					continue
				}
				silent := e.now() - time.Duration(l.lastRecv.Load())
				if silent >= l.timeout {
					e.stats.timeouts.Add(1)
					if l.onTimeout != nil {
						l.onTimeout()
					}
					return
				}
				l.conn.SetReadDeadline(time.Now().Add(l.timeout - silent))
				continue
			}
			return // closed
		}
		now := e.now()
		pkt := buf[:n]
		if n < rtpHeaderLen || pkt[0]>>6 != 2 || (pkt[1] >= 200 && pkt[1] <= 204) {
			// Not RTP, or RTCP multiplexed on the RTP port: not audio.
			e.stats.dropped.Add(1)
			continue
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		if !l.latched.Load() {
			l.peer.Store(&from)
			l.latched.Store(true)
		} else if p := l.peer.Load(); *p != from {
			e.stats.dropped.Add(1) // someone else's packets
			continue
		}
		l.lastRecv.Store(int64(now))
		e.stats.received.Add(1)
		if f := l.sink.Load(); f != nil {
			f.forward(pkt, now)
		}
	}
}

// send writes one RTP packet to the peer. advance is how far the timestamp
// moves from the previous packet (ignored on the first packet of a burst,
// where the wall clock decides); tc transcodes the payload when not nil.
// A leg whose peer is unknown drops the packet. It does not allocate.
func (l *Leg) send(pt uint8, advance uint32, payload []byte, tc *transcoder, now time.Duration) {
	peer := l.peer.Load()
	if peer == nil {
		return
	}
	l.out.Lock()
	h := &l.hdr
	h.PayloadType = pt
	h.Marker = false
	switch {
	case l.newBurst:
		// A new writer takes over (announcement, tone or relay): move the
		// timestamp by the time that passed, and mark the new talkspurt.
		if l.sentOnce {
			frames := (now - l.lastSend + 10*time.Millisecond) / (20 * time.Millisecond)
			h.Timestamp += uint32(max(1, frames)) * FrameSamples
		}
		h.Marker = true
		l.newBurst = false
	default:
		h.Timestamp += advance
	}
	h.SequenceNumber++
	l.sentOnce = true
	l.lastSend = now
	n, _ := h.MarshalTo(l.outBuf[:])
	m := copy(l.outBuf[n:], payload)
	if tc != nil {
		tc.apply(l.outBuf[n : n+m])
	}
	_, err := l.conn.WriteToUDPAddrPort(l.outBuf[:n+m], *peer)
	l.out.Unlock()
	if err != nil {
		l.e.stats.sendErrors.Add(1)
		return
	}
	l.e.stats.sent.Add(1)
}

// startBurst makes the next packet start a new talkspurt (marker set,
// timestamp moved on by the time that passed).
func (l *Leg) startBurst() {
	l.out.Lock()
	l.newBurst = true
	l.out.Unlock()
}

// rtpPayload returns the payload of an RTP packet and its header fields, or
// ok false when the packet is malformed.
func rtpPayload(pkt []byte) (pt uint8, ts uint32, ssrc uint32, payload []byte, ok bool) {
	if len(pkt) < rtpHeaderLen {
		return 0, 0, 0, nil, false
	}
	off := rtpHeaderLen + int(pkt[0]&0x0f)*4
	if pkt[0]&0x10 != 0 { // header extension
		if len(pkt) < off+4 {
			return 0, 0, 0, nil, false
		}
		off += 4 + int(binary.BigEndian.Uint16(pkt[off+2:off+4]))*4
	}
	end := len(pkt)
	if pkt[0]&0x20 != 0 { // padding
		pad := int(pkt[end-1])
		if pad == 0 || pad > end-off {
			return 0, 0, 0, nil, false
		}
		end -= pad
	}
	if off > end {
		return 0, 0, 0, nil, false
	}
	return pkt[1] & 0x7f, binary.BigEndian.Uint32(pkt[4:8]), binary.BigEndian.Uint32(pkt[8:12]), pkt[off:end], true
}
