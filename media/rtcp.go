package media

import (
	"encoding/binary"
	"math"
	"net/netip"
	"sync"
	"time"

	"github.com/phonediversions/phonediversions/audio"
)

// RTCP packet types.
const (
	rtcpSR = 200
	rtcpRR = 201
)

// ntpEpochOffset is the seconds from 1900 (NTP) to 1970 (Unix).
const ntpEpochOffset = 2208988800

// ntpTime returns the 64-bit NTP timestamp of t.
func ntpTime(t time.Time) uint64 {
	secs := uint64(t.Unix()) + ntpEpochOffset
	frac := uint64(t.Nanosecond()) << 32 / uint64(time.Second)
	return secs<<32 | frac
}

// middle32 is the compact NTP form (RFC 3550 6.4.1: LSR, DLSR, RTT).
func middle32(ntp uint64) uint32 { return uint32(ntp >> 16) }

// Quality is what a leg measured of its call: of the peer's stream as
// received, and of ours as the peer reported it.
type Quality struct {
	// Received and Lost are the peer's packets that arrived and that did
	// not (by sequence numbers); Jitter their interarrival jitter
	// (RFC 3550 A.8).
	Received uint32
	Lost     int64
	Jitter   time.Duration
	// RTT is the last round-trip time the reports gave; 0 when none.
	RTT time.Duration
	// PeerLost and PeerJitter are what the peer's reports said of our
	// stream; Reports counts the reports received.
	PeerLost   int32
	PeerJitter time.Duration
	Reports    uint32
}

// inbound keeps the statistics of the peer's stream (RFC 3550 A.1, A.8)
// and of its reports. The engine's reader and timers write them; Quality
// reads.
type inbound struct {
	mu sync.Mutex
	source
	lastSR     uint32 // compact NTP of the peer's last SR
	lastSRAt   time.Time
	rtt        time.Duration
	peerLost   int32
	peerJitter uint32
	reports    uint32
	rtcpFrom   netip.AddrPort // where the peer's reports come from
}

// source is the statistics of one source of the peer's stream.
type source struct {
	started       bool
	ssrc          uint32
	baseSeq       uint16
	maxSeq        uint16
	cycles        uint32
	received      uint32
	expectedPrior uint32
	receivedPrior uint32
	transit       int64
	jitter        float64 // in timestamp units
}

// count counts one RTP packet of the peer.
func (in *inbound) count(pkt []byte, now time.Duration) {
	seq := binary.BigEndian.Uint16(pkt[2:4])
	ts := binary.BigEndian.Uint32(pkt[4:8])
	ssrc := binary.BigEndian.Uint32(pkt[8:12])
	arrival := int64(now / (time.Second / audio.Rate))
	in.mu.Lock()
	defer in.mu.Unlock()
	if !in.started || ssrc != in.ssrc {
		// A new source: its statistics start again.
		in.source = source{started: true, ssrc: ssrc, baseSeq: seq, maxSeq: seq, received: 1, transit: arrival - int64(ts)}
		return
	}
	if d := seq - in.maxSeq; d != 0 && d < 0x8000 {
		if seq < in.maxSeq {
			in.cycles += 1 << 16
		}
		in.maxSeq = seq
	}
	in.received++
	transit := arrival - int64(ts)
	d := math.Abs(float64(transit - in.transit))
	in.transit = transit
	in.jitter += (d - in.jitter) / 16
}

// expected is the packets the peer sent, by sequence number.
func (in *inbound) expected() uint32 {
	return in.cycles + uint32(in.maxSeq) - uint32(in.baseSeq) + 1
}

// Quality returns what the leg measured so far.
func (l *Leg) Quality() Quality {
	in := &l.in
	in.mu.Lock()
	defer in.mu.Unlock()
	q := Quality{Received: in.received, RTT: in.rtt, PeerLost: in.peerLost, Reports: in.reports,
		Jitter:     time.Duration(in.jitter) * time.Second / audio.Rate,
		PeerJitter: time.Duration(in.peerJitter) * time.Second / audio.Rate}
	if in.started {
		q.Lost = int64(in.expected()) - int64(in.received)
	}
	return q
}

// report reads the reports the peer sent since the last time and sends
// ours: a sender report when we sent media, else a receiver report, with
// a report block on the peer's stream when it sent any.
// buf is room to read a report into.
func (l *Leg) report(now time.Duration, buf []byte) {
	l.readReports(buf)
	r := l.remote.Load()
	if r == nil || !r.RTCP.IsValid() || r.RTCP.Addr().IsUnspecified() {
		return
	}
	dest := r.RTCP
	l.in.mu.Lock()
	if from := l.in.rtcpFrom; from.IsValid() && from.Addr() == dest.Addr() {
		dest = from // symmetric RTCP
	}
	l.in.mu.Unlock()
	n := l.buildReport(buf, now, time.Now())
	if err := l.rtcpTx.send(buf[:n], dest); err == nil {
		l.e.stats.rtcpSent.Add(1)
	}
}

// buildReport writes our SR or RR into buf and returns its length.
func (l *Leg) buildReport(buf []byte, now time.Duration, wall time.Time) int {
	l.out.Lock()
	ssrc, sent := l.hdr.SSRC, l.sentOnce
	rtpTS := l.hdr.Timestamp + uint32((now-l.lastSend)/(time.Second/audio.Rate))
	pkts, bytes := l.sentPkts, l.sentBytes
	l.out.Unlock()

	in := &l.in
	in.mu.Lock()
	blocks := 0
	var block [24]byte
	if in.started {
		blocks = 1
		expected := in.expected()
		lost := int64(expected) - int64(in.received)
		expInterval := expected - in.expectedPrior
		recvInterval := in.received - in.receivedPrior
		in.expectedPrior, in.receivedPrior = expected, in.received
		var fraction uint8
		if lostInterval := int64(expInterval) - int64(recvInterval); expInterval > 0 && lostInterval > 0 {
			fraction = uint8(lostInterval << 8 / int64(expInterval))
		}
		lost = max(min(lost, 0x7fffff), -0x800000)
		binary.BigEndian.PutUint32(block[0:4], in.ssrc)
		binary.BigEndian.PutUint32(block[4:8], uint32(fraction)<<24|uint32(lost)&0xffffff)
		binary.BigEndian.PutUint32(block[8:12], in.cycles|uint32(in.maxSeq))
		binary.BigEndian.PutUint32(block[12:16], uint32(in.jitter))
		binary.BigEndian.PutUint32(block[16:20], in.lastSR)
		if in.lastSR != 0 {
			binary.BigEndian.PutUint32(block[20:24], uint32(wall.Sub(in.lastSRAt)*65536/time.Second))
		}
	}
	in.mu.Unlock()

	off := 8
	pt := byte(rtcpRR)
	if sent {
		pt = rtcpSR
		binary.BigEndian.PutUint64(buf[8:16], ntpTime(wall))
		binary.BigEndian.PutUint32(buf[16:20], rtpTS)
		binary.BigEndian.PutUint32(buf[20:24], pkts)
		binary.BigEndian.PutUint32(buf[24:28], bytes)
		off = 28
	}
	off += copy(buf[off:], block[:blocks*24])
	buf[0] = 0x80 | byte(blocks)
	buf[1] = pt
	binary.BigEndian.PutUint16(buf[2:4], uint16(off/4-1))
	binary.BigEndian.PutUint32(buf[4:8], ssrc)
	return off
}

// readReports takes the RTCP packets waiting on the leg's RTCP socket
// without waiting for more, each with the time it arrived. buf is room
// for one packet.
func (l *Leg) readReports(buf []byte) {
	var oob [oobSize]byte
	for {
		n, oobn, from, err := l.rtcp.recv(buf, oob[:])
		if err != nil {
			return // none waiting, or closed
		}
		at, ok := arrival(oob[:oobn])
		if !ok {
			at = time.Now()
		}
		if r := l.remote.Load(); r == nil || from.Addr() != r.RTP.Addr() {
			l.e.stats.dropped.Add(1)
			continue
		}
		l.e.stats.rtcpReceived.Add(1)
		l.takeReports(buf[:n], from, at)
	}
}

// takeReports reads a compound RTCP packet: the peer's sender info and
// the report blocks about our stream.
func (l *Leg) takeReports(pkt []byte, from netip.AddrPort, wall time.Time) {
	l.out.Lock()
	ours := l.hdr.SSRC
	l.out.Unlock()
	in := &l.in
	in.mu.Lock()
	defer in.mu.Unlock()
	in.rtcpFrom = from
	for len(pkt) >= 8 {
		if pkt[0]>>6 != 2 {
			return
		}
		size := (int(binary.BigEndian.Uint16(pkt[2:4])) + 1) * 4
		if size > len(pkt) {
			return
		}
		count, pt, body := int(pkt[0]&0x1f), pkt[1], pkt[8:size]
		switch pt {
		case rtcpSR:
			if len(body) < 20 {
				return
			}
			in.lastSR = middle32(binary.BigEndian.Uint64(body[0:8]))
			in.lastSRAt = wall
			body = body[20:]
			fallthrough
		case rtcpRR:
			in.reports++
			for i := 0; i < count && len(body) >= 24; i, body = i+1, body[24:] {
				if binary.BigEndian.Uint32(body[0:4]) != ours {
					continue
				}
				lost := int32(binary.BigEndian.Uint32(body[4:8])<<8) >> 8
				in.peerLost = lost
				in.peerJitter = binary.BigEndian.Uint32(body[12:16])
				lsr, dlsr := binary.BigEndian.Uint32(body[16:20]), binary.BigEndian.Uint32(body[20:24])
				if lsr != 0 {
					if rtt := middle32(ntpTime(wall)) - lsr - dlsr; rtt < 1<<30 {
						in.rtt = time.Duration(rtt) * time.Second / 65536
					}
				}
			}
		}
		pkt = pkt[size:]
	}
}
