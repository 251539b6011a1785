package media

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"

	"github.com/phonediversions/phonediversions/audio"
)

// Format is what a leg negotiated: its audio codec, the payload type of
// RFC 4733 telephone events (0 when none) and whether comfort noise
// (RFC 3389) was negotiated.
type Format struct {
	Codec audio.Codec
	DTMF  uint8
	CN    bool
}

func (f Format) pack() uint32 {
	v := uint32(f.Codec) | uint32(f.DTMF)<<8
	if f.CN {
		v |= 1 << 16
	}
	return v
}

func unpack(v uint32) Format {
	return Format{Codec: audio.Codec(v), DTMF: uint8(v >> 8), CN: v&(1<<16) != 0}
}

// payloadCN is the static payload type of comfort noise.
const payloadCN = 13

// Remote is where a leg's peer is and what it wants, from its SDP.
type Remote struct {
	// RTP is the address the peer's SDP names; packets are taken only from
	// its IP address (any port, as NATs change ports). RTCP is where
	// reports go (the next port when not given).
	RTP, RTCP netip.AddrPort
	// Sends and Receives are the peer's direction: a peer that does not
	// send (hold) is not timed out for silence; a peer that does not
	// receive is sent nothing.
	Sends, Receives bool
}

// Leg is one call party's RTP session: a socket for RTP and one for RTCP,
// the peer's address and the outgoing stream state. The engine's reader
// takes the peer's packets, its timers send and read the reports and
// watch for silence. Exactly one writer (a Stream or a Bridge) sends on a
// leg at a time.
type Leg struct {
	e    *Engine
	conn *udpSocket
	rtcp *udpSocket
	port int

	format atomic.Uint32 // Format packed
	remote atomic.Pointer[Remote]
	// dest is where RTP goes: the source the peer's packets come from once
	// one arrived from the SDP's address (symmetric RTP), else the SDP's.
	dest     atomic.Pointer[netip.AddrPort]
	latched  atomic.Bool
	sink     atomic.Pointer[forwarder]
	tap      atomic.Pointer[func(pkt []byte, at time.Duration)]
	lastRecv atomic.Int64 // engine clock, ns

	timeout   time.Duration
	onTimeout func()
	waiting   atomic.Bool // the peer has no reason to send yet (HoldTimeout)

	in inbound // statistics of what the peer sends

	// rmu is held while the reader or the timers use the sockets: Close
	// takes it before closing them.
	rmu        sync.Mutex
	closed     atomic.Bool
	readID     uint64        // the reader's id of the leg
	rtcpTx     *rawSender    // reports; under rmu
	nextReport atomic.Int64  // engine clock, ns
	timerAt    time.Duration // when its timer fires; under the engine's timers' lock
	timerIdx   int           // in the engine's timer heap, -1 when not in it; under that lock

	out       sync.Mutex // guards the fields below
	hdr       rtp.Header
	lastSend  time.Duration // engine clock
	sentOnce  bool
	newBurst  bool
	sentPkts  uint32
	sentBytes uint32
	tx        *rawSender
	closeOnce sync.Once
	done      chan struct{}
}

// LegConfig configures a new leg.
type LegConfig struct {
	Format Format
	// Peer is the RTP address of the peer's SDP when known, a peer that
	// sends and receives; SetRemote sets it later or changes it.
	Peer netip.AddrPort
	// Timeout is how long the peer may stay silent before OnTimeout is
	// called (once, on the engine's timer goroutine: it must return at
	// once); 0 disables the check.
	Timeout   time.Duration
	OnTimeout func()
	// HoldTimeout starts the leg with the silence check held, for a leg
	// whose peer has no reason to send yet (a far party still ringing, a
	// caller not yet answered); ReleaseTimeout starts it.
	HoldTimeout bool
}

// NewLeg opens a leg on a free pair of ports of the engine's range.
// Errors: ErrNoPorts.
func (e *Engine) NewLeg(cfg LegConfig) (*Leg, error) {
	pair, err := e.ports.listen()
	if err != nil {
		return nil, err
	}
	l := &Leg{e: e, conn: pair.rtp, rtcp: pair.rtcp, port: pair.port, timeout: cfg.Timeout, onTimeout: cfg.OnTimeout,
		timerIdx: -1, done: make(chan struct{})}
	stampArrivals(pair.rtcp)
	l.tx = newRawSender(pair.rtp)
	l.rtcpTx = newRawSender(pair.rtcp)
	now := e.now()
	l.nextReport.Store(int64(now + e.report/2 + time.Duration(rand.Int64N(int64(e.report/2)))))
	l.lastRecv.Store(int64(now))
	l.SetFormat(cfg.Format)
	l.hdr = rtp.Header{Version: 2, SSRC: rand.Uint32(), SequenceNumber: uint16(rand.Uint32()), Timestamp: rand.Uint32()}
	l.newBurst = true
	l.waiting.Store(cfg.HoldTimeout)
	if err := e.reader.add(l); err != nil {
		l.closed.Store(true)
		e.ports.release(pair)
		return nil, err
	}
	if cfg.Peer.IsValid() {
		l.SetPeer(cfg.Peer)
	}
	e.stats.legs.Add(1)
	e.timers.schedule(l, l.deadline())
	return l, nil
}

// Port returns the local RTP port, for the SDP (RTCP is on the next).
func (l *Leg) Port() int { return l.port }

// LocalAddr returns the RTP socket's address.
func (l *Leg) LocalAddr() netip.AddrPort { return l.conn.localAddr() }

// SetFormat changes the negotiated format (after an SDP answer or a
// re-INVITE).
func (l *Leg) SetFormat(f Format) { l.format.Store(f.pack()) }

// Format returns the negotiated format.
func (l *Leg) Format() Format { return unpack(l.format.Load()) }

// SetRemote applies the peer's SDP: where its media comes from and goes
// to, and its direction. It re-arms the latch: the next packet from the
// SDP's address decides the port media goes to. A peer that does not
// receive is sent nothing until it does; the next packet then starts a
// new talkspurt.
func (l *Leg) SetRemote(r Remote) {
	r.RTP = netip.AddrPortFrom(r.RTP.Addr().Unmap(), r.RTP.Port())
	r.RTCP = netip.AddrPortFrom(r.RTCP.Addr().Unmap(), r.RTCP.Port())
	if !r.RTCP.IsValid() && r.RTP.IsValid() {
		r.RTCP = netip.AddrPortFrom(r.RTP.Addr(), r.RTP.Port()+1)
	}
	prev := l.remote.Swap(&r)
	l.latched.Store(false)
	dest := r.RTP
	l.dest.Store(&dest)
	if prev == nil || !prev.Receives && r.Receives {
		l.startBurst()
	}
	if prev != nil && !prev.Sends && r.Sends {
		l.lastRecv.Store(int64(l.e.now())) // resumed: the silence counts from now
	}
	l.wake()
}

// wake brings the leg's timer forward when its silence check now falls
// due earlier (it started, or the silence counts from another time); a
// timer that fires early finds nothing due and is set again.
func (l *Leg) wake() {
	if l.timeout > 0 {
		l.e.timers.schedule(l, l.deadline())
	}
}

// SetPeer sets the peer's RTP address for a peer that sends and receives:
// SetRemote with RTCP on the next port.
func (l *Leg) SetPeer(addr netip.AddrPort) {
	l.SetRemote(Remote{RTP: addr, Sends: true, Receives: true})
}

// Peer returns where the leg sends; the zero value when unknown.
func (l *Leg) Peer() netip.AddrPort {
	if p := l.dest.Load(); p != nil {
		return *p
	}
	return netip.AddrPort{}
}

// ReleaseTimeout starts (or restarts) the silence check of a leg opened
// with HoldTimeout: the peer now has Timeout to send its first packet.
func (l *Leg) ReleaseTimeout() {
	l.lastRecv.Store(int64(l.e.now()))
	l.waiting.Store(false)
	l.wake()
}

// timed reports whether the peer's silence counts now: it was told to
// send (released) and its SDP says it sends.
func (l *Leg) timed() bool {
	if l.waiting.Load() {
		return false
	}
	r := l.remote.Load()
	return r == nil || r.Sends && !r.RTP.Addr().IsUnspecified()
}

// Done is closed when the leg is closed.
func (l *Leg) Done() <-chan struct{} { return l.done }

// Close stops the leg's reading and reports and releases its ports. Safe
// to call more than once.
func (l *Leg) Close() {
	l.closeOnce.Do(func() {
		l.closed.Store(true)
		close(l.done)
		l.sink.Store(nil)
		l.e.reader.remove(l)
		l.e.timers.unschedule(l)
		l.rmu.Lock()
		l.e.sendMu.Lock()
		l.out.Lock()
		l.e.ports.release(portPair{rtp: l.conn, rtcp: l.rtcp, port: l.port})
		l.out.Unlock()
		l.e.sendMu.Unlock()
		l.rmu.Unlock()
		l.e.stats.legs.Add(-1)
	})
}

// take handles one packet the reader read: it keeps those from the
// peer's address, hands them to the bridge when there is one and counts
// them.
func (l *Leg) take(pkt []byte, from netip.AddrPort, now time.Duration) {
	e := l.e
	if len(pkt) < rtpHeaderLen || pkt[0]>>6 != 2 || (pkt[1] >= 200 && pkt[1] <= 204) {
		// Not RTP, or RTCP multiplexed on the RTP port: not audio.
		e.stats.dropped.Add(1)
		return
	}
	if !l.accept(from) {
		e.stats.dropped.Add(1) // not the peer the signalling names
		return
	}
	l.lastRecv.Store(int64(now))
	e.stats.received.Add(1)
	l.in.count(pkt, now)
	if f := l.sink.Load(); f != nil {
		f.forward(pkt, now)
	}
	if tap := l.tap.Load(); tap != nil {
		(*tap)(pkt, now)
	}
}

// SetTap has f told of every RTP packet the peer sends that the leg
// takes, with its arrival on the engine's clock (Elapsed), on the
// engine's reader: f must return at once and copy what it keeps. nil
// stops it.
func (l *Leg) SetTap(f func(pkt []byte, at time.Duration)) {
	if f == nil {
		l.tap.Store(nil)
		return
	}
	l.tap.Store(&f)
}

// deadline is when the leg's timer must fire next: its next report, or
// the end of the silence the peer is allowed, whichever is first.
func (l *Leg) deadline() time.Duration {
	at := time.Duration(l.nextReport.Load())
	if l.timeout > 0 && l.timed() {
		at = min(at, time.Duration(l.lastRecv.Load())+l.timeout)
	}
	return at
}

// tick is the leg's timer: it reads the peer's reports and sends ours
// when due, and ends a leg whose peer stayed silent too long (OnTimeout,
// once). It returns when to fire next, ok false when the leg is done
// (closed or timed out). now may be up to timerSlack before the
// deadline. buf is room for an RTCP packet.
func (l *Leg) tick(now time.Duration, buf []byte) (next time.Duration, ok bool) {
	e := l.e
	due := now + timerSlack
	l.rmu.Lock()
	if l.closed.Load() {
		l.rmu.Unlock()
		return 0, false
	}
	if due >= time.Duration(l.nextReport.Load()) {
		l.report(now, buf)
		l.nextReport.Store(int64(now + e.report))
	}
	l.rmu.Unlock()
	if l.timeout > 0 && l.timed() && due-time.Duration(l.lastRecv.Load()) >= l.timeout {
		e.stats.timeouts.Add(1)
		if l.onTimeout != nil {
			l.onTimeout()
		}
		return 0, false
	}
	return l.deadline(), true
}

// accept reports whether a packet from comes from the peer: from the IP
// address its SDP names. The first such packet after an SDP decides the
// port media goes back to (symmetric RTP); others from that address but
// another port are not taken until a new SDP.
func (l *Leg) accept(from netip.AddrPort) bool {
	r := l.remote.Load()
	if r == nil || from.Addr() != r.RTP.Addr() {
		return false
	}
	if !l.latched.Load() {
		l.dest.Store(&from)
		l.latched.Store(true)
		return true
	}
	d := l.dest.Load()
	return d != nil && *d == from
}

// send writes one RTP packet to the peer. advance is how far the timestamp
// moves from the previous packet (ignored on the first packet of a burst,
// where the wall clock decides); mark sets the marker bit (the start of a
// telephone event); tc transcodes the payload when not nil. A leg whose
// peer is unknown, or does not want media (hold), drops the packet. It
// does not allocate.
//
// With a batch b (nil for none) the packet is queued in it, to go out
// with its flush, when it can; queued says whether it was.
func (l *Leg) send(pt uint8, advance uint32, mark bool, payload []byte, tc *transcoder, now time.Duration, b *batch) (queued bool) {
	dest := l.dest.Load()
	if dest == nil {
		return false
	}
	if r := l.remote.Load(); r != nil && (!r.Receives || r.RTP.Addr().IsUnspecified()) {
		l.startBurst() // held: the first packet after resuming starts a talkspurt
		return false
	}
	l.out.Lock()
	h := &l.hdr
	h.PayloadType = pt
	h.Marker = mark
	switch {
	case l.newBurst:
		// A new writer takes over (announcement, tone or relay): move the
		// timestamp by the time that passed, and mark the new talkspurt.
		if l.sentOnce {
			frames := (now - l.lastSend + 10*time.Millisecond) / audio.FrameDuration
			h.Timestamp += uint32(max(1, frames)) * audio.FrameSamples
		}
		h.Marker = true
		l.newBurst = false
	default:
		h.Timestamp += advance
	}
	h.SequenceNumber++
	l.sentOnce = true
	l.lastSend = now
	var buf []byte
	if b != nil {
		// Built in the batch's own buffer when it fits there.
		if q := b.room(); len(q) >= rtpHeaderLen+len(payload) {
			buf = q
		}
	}
	var scratch *[maxPacket]byte
	if buf == nil {
		scratch = l.e.packets.Get().(*[maxPacket]byte)
		buf = scratch[:]
	}
	n, _ := h.MarshalTo(buf)
	m := copy(buf[n:], payload)
	if tc != nil {
		tc.apply(buf[n : n+m])
	}
	if b != nil && b.add(l, buf[:n+m], *dest, m) {
		// Counted as sent; the batch takes it back if the send fails.
		l.sentPkts++
		l.sentBytes += uint32(m)
		l.out.Unlock()
		if scratch != nil {
			l.e.packets.Put(scratch) // add copied it into the batch
		}
		return true
	}
	err := l.tx.send(buf[:n+m], *dest)
	if err == nil {
		l.sentPkts++
		l.sentBytes += uint32(m)
	}
	l.out.Unlock()
	if scratch != nil {
		l.e.packets.Put(scratch)
	}
	if err != nil {
		l.e.stats.sendErrors.Add(1)
		return false
	}
	l.e.stats.sent.Add(1)
	return false
}

// startBurst makes the next packet start a new talkspurt (marker set,
// timestamp moved on by the time that passed).
func (l *Leg) startBurst() {
	l.out.Lock()
	l.newBurst = true
	l.out.Unlock()
}

// RTPPayload returns the payload of an RTP packet (past its CSRCs and
// header extension, without its padding) and its header fields, or ok
// false when the packet is malformed.
func RTPPayload(pkt []byte) (pt uint8, ts uint32, ssrc uint32, payload []byte, ok bool) {
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
