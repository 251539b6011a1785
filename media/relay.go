package media

import (
	"sync/atomic"
	"time"
)

// forwarder relays the packets one leg reads to another leg. It runs on the
// goroutine that reads the source leg (the engine's reader), one packet
// at a time.
type forwarder struct {
	src, dst *Leg
	tc       transcoders
	// The last input packet's source and timestamp, to carry the timing
	// of the input (packet spacing, silence, DTMF durations) to the output.
	ssrc   uint32
	lastTS uint32
	seen   bool
	// dtmfDropped counts telephone events the destination cannot take.
	dtmfDropped atomic.Uint64
}

// maxAdvance bounds a timestamp step taken from the input; a larger jump
// (a new source, a wrapped clock) restarts the output talkspurt instead.
const maxAdvance = 8000 * 10

// forward relays one packet: audio in the source leg's codec is transcoded
// to the destination's when they differ; telephone events get the
// destination's payload type and keep their marker (the start of an
// event), or are dropped and counted when the destination negotiated
// none; comfort noise passes when both legs negotiated it; anything else
// is dropped.
func (f *forwarder) forward(pkt []byte, now time.Duration) {
	pt, ts, ssrc, payload, ok := RTPPayload(pkt)
	if !ok {
		f.src.e.stats.dropped.Add(1)
		return
	}
	in, out := f.src.Format(), f.dst.Format()
	var outPT uint8
	var tc *transcoder
	mark := false
	switch {
	case pt == uint8(in.Codec):
		outPT, tc = uint8(out.Codec), f.tc.between(in.Codec, out.Codec)
	case in.DTMF != 0 && pt == in.DTMF && out.DTMF != 0:
		outPT, mark = out.DTMF, pkt[1]&0x80 != 0
	case in.DTMF != 0 && pt == in.DTMF:
		f.dtmfDropped.Add(1)
		f.src.e.stats.dtmfDropped.Add(1)
		return
	case pt == payloadCN && in.CN && out.CN:
		outPT = payloadCN
	default:
		f.src.e.stats.dropped.Add(1)
		return
	}
	advance := ts - f.lastTS
	if !f.seen || ssrc != f.ssrc || advance > maxAdvance {
		f.dst.startBurst()
		f.seen, f.ssrc = true, ssrc
	}
	f.lastTS = ts
	f.dst.send(outPT, advance, mark, payload, tc, now, nil)
	f.src.e.stats.relayDelay.observe(f.src.e.now() - now)
}

// Bridge relays media both ways between two legs.
type Bridge struct {
	ab, ba *forwarder
}

// Bridge starts relaying between a and b. Any stream playing on either leg
// must be stopped first (one writer per leg).
func (e *Engine) Bridge(a, b *Leg) *Bridge {
	br := &Bridge{ab: &forwarder{src: a, dst: b, tc: e.tc}, ba: &forwarder{src: b, dst: a, tc: e.tc}}
	a.sink.Store(br.ab)
	b.sink.Store(br.ba)
	return br
}

// Stop stops relaying; packets read afterwards are discarded.
func (br *Bridge) Stop() {
	br.ab.src.sink.Store(nil)
	br.ba.src.sink.Store(nil)
}

// DTMFDropped returns the telephone events that could not be relayed:
// from a to b and from b to a (the receiving leg negotiated none).
func (br *Bridge) DTMFDropped() (ab, ba uint64) {
	return br.ab.dtmfDropped.Load(), br.ba.dtmfDropped.Load()
}
