package sip

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"sync"

	"github.com/phonediversions/phonediversions/audio"
	"github.com/phonediversions/phonediversions/media"
	"github.com/phonediversions/phonediversions/sip/sdp"
)

// binding is the media of one leg as its SDP negotiated it: the RTP leg,
// our SDP session and the last SDP we sent. Every SDP of a leg — an offer
// in an INVITE, an answer in a 200, 183 or ACK, a refresh or a hold —
// goes through it: parse, choose the codec, set the leg's format and
// peer, write our side.
type binding struct {
	leg *media.Leg

	mu     sync.Mutex
	sess   sdp.Session
	local  []byte    // our SDP as last sent
	remote sdp.Media // the peer's, as last applied
	seen   bool      // remote holds an SDP of the peer
}

func newBinding(leg *media.Leg, ip netip.Addr) *binding {
	return &binding{leg: leg, sess: sdp.Session{ID: rand.Uint64() >> 1, Version: 1,
		Addr: netip.AddrPortFrom(ip, uint16(leg.Port()))}}
}

// answer applies the peer's offer to the leg and returns our answer: the
// offerer's first law we speak, its telephone events and comfort noise,
// every other m-line refused, the direction answering the offer's.
// Errors: an SDP to answer 488.
func (b *binding) answer(body []byte) ([]byte, error) {
	offer, err := sdp.Parse(body)
	if err != nil {
		return nil, err
	}
	codec, err := sdp.Choose(offer, audio.Codecs[:])
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.apply(offer, codec)
	return b.write(func(s sdp.Session) []byte { return sdp.Answer(s, offer, sdp.AnswerLocal(offer, codec)) }), nil
}

// offer returns our offer: both laws (prefer first), telephone events and
// comfort noise, sendrecv.
func (b *binding) offer(prefer audio.Codec) []byte {
	codecs := []audio.Codec{audio.PCMU, audio.PCMA}
	if prefer == audio.PCMA {
		codecs = []audio.Codec{audio.PCMA, audio.PCMU}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.write(func(s sdp.Session) []byte {
		return sdp.Offer(s, sdp.Local{Codecs: codecs, DTMF: sdp.DefaultDTMF, CN: true, Dir: sdp.SendRecv})
	})
}

// accept applies the peer's answer to our offer. Errors: an unusable SDP.
func (b *binding) accept(body []byte) error {
	ans, err := sdp.Parse(body)
	if err != nil {
		return err
	}
	codec, err := sdp.Choose(ans, audio.Codecs[:])
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.apply(ans, codec)
	return nil
}

// current returns the SDP we last sent (to answer a refresh that brings
// none, or the same as before).
func (b *binding) current() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.local
}

// held reports whether the peer's last SDP put the call on hold.
func (b *binding) held() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.seen && b.remote.Held()
}

// apply sets the leg to the peer's SDP: codec, events, comfort noise,
// where it is and what it wants. The caller holds mu.
func (b *binding) apply(m sdp.Media, codec audio.Codec) {
	b.leg.SetFormat(media.Format{Codec: codec, DTMF: m.DTMF, CN: m.CN})
	addr := m.Addr
	b.leg.SetRemote(media.Remote{RTP: addr, RTCP: m.RTCP, Sends: m.Direction.Sends(),
		Receives: m.Direction.Receives() && !addr.Addr().IsUnspecified()})
	b.remote, b.seen = m, true
}

// write makes our SDP with build; when it says something new since the
// last one, the session version goes up (RFC 3264 8). The caller holds
// mu.
func (b *binding) write(build func(sdp.Session) []byte) []byte {
	body := build(b.sess)
	if b.local != nil && !bytes.Equal(body, b.local) {
		b.sess.Version++
		body = build(b.sess)
	}
	b.local = body
	return body
}
