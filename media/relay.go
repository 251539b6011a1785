package media

import "time"

// forwarder relays the packets one leg reads to another leg. It runs on the
// source leg's reader goroutine only.
type forwarder struct {
	src, dst *Leg
	tc       transcoders
	// The last input packet's source and timestamp, to carry the timing
	// of the input (packet spacing, silence, DTMF durations) to the output.
	ssrc   uint32
	lastTS uint32
	seen   bool
}

// maxAdvance bounds a timestamp step taken from the input; a larger jump
// (a new source, a wrapped clock) restarts the output talkspurt instead.
const maxAdvance = 8000 * 10

// forward relays one packet: audio in the source leg's codec is transcoded
// to the destination's when they differ, telephone events get the
// destination's payload type (dropped when it has none), comfort noise
// passes, anything else is dropped.
func (f *forwarder) forward(pkt []byte, now time.Duration) {
	pt, ts, ssrc, payload, ok := rtpPayload(pkt)
	if !ok {
		f.src.e.stats.dropped.Add(1)
		return
	}
	in, out := f.src.Format(), f.dst.Format()
	var outPT uint8
	var tc *transcoder
	switch {
	case pt == uint8(in.Codec):
		outPT, tc = uint8(out.Codec), f.tc.between(in.Codec, out.Codec)
	case in.DTMF != 0 && pt == in.DTMF && out.DTMF != 0:
		outPT = out.DTMF
	case pt == payloadCN:
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
	f.dst.send(outPT, advance, payload, tc, now)
	f.src.e.stats.relayDelay.observe(f.src.e.now() - now)
}

// Bridge relays media both ways between two legs.
type Bridge struct {
	a, b *Leg
}

// Bridge starts relaying between a and b. Any stream playing on either leg
// must be stopped first (one writer per leg).
func (e *Engine) Bridge(a, b *Leg) *Bridge {
	tc := e.tc
	a.sink.Store(&forwarder{src: a, dst: b, tc: tc})
	b.sink.Store(&forwarder{src: b, dst: a, tc: tc})
	return &Bridge{a: a, b: b}
}

// Stop stops relaying; packets read afterwards are discarded.
func (br *Bridge) Stop() {
	br.a.sink.Store(nil)
	br.b.sink.Store(nil)
}
