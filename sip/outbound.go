package sip

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/phonediversions/phonediversions/media"
	"github.com/phonediversions/phonediversions/routing"
	"github.com/phonediversions/phonediversions/sip/sdp"
)

// errRingTimeout ends an outbound leg that rang too long.
var errRingTimeout = errors.New("ring timeout")

// reasons are the phrases of the failures passed back to a caller.
var reasons = map[int]string{
	403: "Forbidden", 404: "Not Found", 408: "Request Timeout", 480: "Temporarily Unavailable",
	484: "Address Incomplete", 486: "Busy Here", 488: "Not Acceptable Here", 500: "Server Internal Error",
	502: "Bad Gateway", 503: "Service Unavailable", 600: "Busy Everywhere", 603: "Decline", 604: "Does Not Exist Anywhere",
}

func reasonPhrase(code int) string {
	if r, ok := reasons[code]; ok {
		return r
	}
	return "Call Failed"
}

// dial places the outbound leg to target through the next hop and waits
// until it is answered (true) or fails (false, with the SIP code to report;
// 0 when the call itself ended first). divertedFrom, when set, is the line
// the call is diverted from, named in a new Diversion header.
func (c *call) dial(target, divertedFrom string) (bool, int) {
	s := c.s
	b, err := s.media.NewLeg(media.LegConfig{Timeout: s.cfg.MediaTimeout, HoldTimeout: true,
		OnTimeout: func() { c.abort(errMediaTimeout) }})
	if err != nil {
		c.log.Warn().Err(err).Msg("far leg")
		return false, 503
	}
	c.b = b
	c.mu.Lock()
	c.sessB = sdp.Session{ID: rand.Uint64() >> 1, Version: 1, Addr: netip.AddrPortFrom(s.rtpIP, uint16(b.Port()))}
	c.sdpB = sdp.Offer(c.sessB, preferring(c.a.Format().Codec), sdp.DefaultDTMF)
	offer := c.sdpB
	c.mu.Unlock()

	req, err := c.outboundInvite(target, divertedFrom, offer)
	if err != nil {
		c.log.Error().Err(err).Msg("outbound INVITE")
		return false, 500
	}
	key := ringKey(c.caller, target)
	s.addRinging(key, 1)
	defer s.addRinging(key, -1)
	// The leg is given up when the call ends or the ring time is up. Once
	// the far side has answered anything, giving up sends CANCEL; before
	// that there is nobody to cancel, and waiting for a first response from
	// a dead next hop would hold the call for the whole transaction timeout.
	rctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	var heard atomic.Bool
	giveUp := func(timedOut bool) {
		switch {
		case !heard.Load():
			cancel(sipgo.WaitAnswerForceCancelErr)
		case timedOut:
			cancel(errRingTimeout)
		default:
			cancel(context.Canceled)
		}
	}
	stopWatch := context.AfterFunc(c.ctx, func() { giveUp(false) })
	defer stopWatch()
	timer := time.AfterFunc(s.cfg.RingTimeout, func() { giveUp(true) })
	defer timer.Stop()
	out, err := s.dua.WriteInvite(rctx, req)
	if err != nil {
		c.log.Warn().Err(err).Str("target", target).Msg("outbound INVITE not sent")
		return false, 503
	}
	c.out = out
	err = out.WaitAnswer(rctx, sipgo.AnswerOptions{OnResponse: func(r *sip.Response) error {
		heard.Store(true)
		return c.onFarResponse(r)
	}})
	res := out.InviteResponse
	if err != nil {
		if res != nil && res.IsSuccess() {
			// The far party answered as we cancelled: take the call and end it.
			ctx, cancel := bounded()
			if out.Ack(ctx) == nil {
				out.Bye(ctx)
			}
			cancel()
		}
		var de *sipgo.ErrDialogResponse
		switch {
		case errors.As(err, &de):
			return false, de.Res.StatusCode
		case c.ctx.Err() != nil:
			return false, 0
		case rctx.Err() != nil && (errors.Is(context.Cause(rctx), errRingTimeout) || heard.Load()):
			c.log.Info().Str("target", target).Dur("after", s.cfg.RingTimeout).Msg("no answer")
			return false, 408
		case rctx.Err() != nil:
			c.log.Warn().Str("target", target).Msg("the next hop never answered the INVITE")
			return false, 408
		default:
			c.log.Warn().Err(err).Str("target", target).Msg("outbound leg failed")
			return false, 503
		}
	}
	s.register(out.ID, c, true)
	ans, err := sdp.Parse(res.Body())
	if err == nil {
		var pt uint8
		if pt, err = sdp.Choose(ans, []uint8{sdp.PCMU, sdp.PCMA}); err == nil {
			b.SetFormat(media.Format{Codec: codecOf(pt), DTMF: ans.DTMF})
			b.SetPeer(ans.Addr)
		}
	}
	ctx, cancelAck := bounded()
	defer cancelAck()
	if ackErr := out.Ack(ctx); ackErr != nil {
		c.log.Warn().Err(ackErr).Msg("ACK to the far party")
	}
	if err != nil {
		c.log.Warn().Err(err).Msg("far party's SDP answer unusable")
		out.Bye(ctx)
		return false, 488
	}
	return true, 200
}

// outboundInvite builds the INVITE of the outbound leg: the caller's
// number in From, the Diversion history passed on (with a new entry when
// the product diverts), the loop mark, Max-Forwards one less.
func (c *call) outboundInvite(target, divertedFrom string, offer []byte) (*sip.Request, error) {
	s := c.s
	uri, err := s.nextHopURI(target)
	if err != nil {
		return nil, err
	}
	req := sip.NewRequest(sip.INVITE, uri)
	req.SetTransport(strings.ToUpper(s.cfg.NextHopTransport))
	host := s.cfg.AdvertiseIP.String()
	from := &sip.FromHeader{DisplayName: c.req.From().DisplayName,
		Address: sip.Uri{Scheme: "sip", User: c.caller, Host: host}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: target, Host: uri.Host, Port: uri.Port}, Params: sip.NewParams()})
	hops := sip.MaxForwardsHeader(70)
	if mf := c.req.MaxForwards(); mf != nil && mf.Val() > 0 {
		hops = sip.MaxForwardsHeader(mf.Val() - 1)
	}
	req.AppendHeader(&hops)
	contact := s.contact()
	req.AppendHeader(&contact)
	if divertedFrom != "" {
		req.AppendHeader(sip.NewHeader("Diversion", "<sip:"+divertedFrom+"@"+host+">;reason=unconditional;counter=1"))
	}
	for _, d := range c.red.Diversions {
		req.AppendHeader(sip.NewHeader("Diversion", d))
	}
	req.AppendHeader(sip.NewHeader(LoopHeader, s.token))
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(offer)
	return req, nil
}

// onFarResponse passes the far leg's progress to a caller not yet
// answered: 180 as 180; 183 with SDP as early media when the caller made
// an offer (the relay starts before the answer).
func (c *call) onFarResponse(res *sip.Response) error {
	if !res.IsProvisional() || res.StatusCode == 100 || c.answered || c.early {
		return nil
	}
	if c.dec.Verdict == routing.VerdictAnnounceThenBridge {
		return nil // the caller hears our ringback
	}
	if res.StatusCode == 183 && len(res.Body()) > 0 && c.offer != nil {
		if far, err := sdp.Parse(res.Body()); err == nil {
			if pt, err := sdp.Choose(far, []uint8{sdp.PCMU, sdp.PCMA}); err == nil {
				c.b.SetFormat(media.Format{Codec: codecOf(pt), DTMF: far.DTMF})
				c.b.SetPeer(far.Addr)
				c.s.media.Bridge(c.a, c.b)
				if err := c.progress(); err != nil {
					c.log.Debug().Err(err).Msg("183 to the caller")
				}
				return nil
			}
		}
	}
	if err := c.dlg.Respond(180, "Ringing", nil); err != nil {
		c.log.Debug().Err(err).Msg("180 to the caller")
	}
	return nil
}

// onAck takes the caller's ACK; for a delayed offer it carries the answer.
func (c *call) onAck(req *sip.Request, tx sip.ServerTransaction, far bool) {
	if far {
		return // ACK of a re-INVITE the far party sent us
	}
	if len(req.Body()) > 0 || c.ack.Load() == nil {
		c.ack.Store(req)
	}
	if err := c.dlg.ReadAck(req, tx); err != nil {
		c.log.Debug().Err(err).Msg("ACK")
		return
	}
	c.ackOnce.Do(func() { close(c.acked) })
}

// onBye takes a BYE from either party.
func (c *call) onBye(req *sip.Request, tx sip.ServerTransaction, far bool) {
	var err error
	if far {
		err = c.out.ReadBye(req, tx)
		c.cancel(errFarGone)
	} else {
		if c.sent200.Load() {
			// The SIP stack handles each message on its own goroutine, so a
			// BYE sent right after the ACK can overtake it; a BYE means the
			// caller had the 200 all the same.
			c.ackOnce.Do(func() { close(c.acked) })
		}
		err = c.dlg.ReadBye(req, tx)
	}
	if err != nil {
		c.log.Debug().Err(err).Bool("far", far).Msg("BYE")
	}
}

// onRefresh answers a re-INVITE or UPDATE (session timer refresh, hold,
// new address) with the session as it is: the same codec, the direction
// mirrored, the peer's new address taken.
func (c *call) onRefresh(req *sip.Request, tx sip.ServerTransaction, far bool) {
	var dlg *sipgo.Dialog
	leg := c.a
	if far {
		if c.out == nil {
			c.s.respond(tx, req, 481, "Call/Transaction Does Not Exist")
			return
		}
		dlg, leg = &c.out.Dialog, c.b
	} else {
		dlg = &c.dlg.Dialog
	}
	if err := dlg.ReadRequest(req, tx); err != nil {
		c.s.respond(tx, req, 500, "Server Internal Error", retryAfter(time.Second))
		return
	}
	c.mu.Lock()
	sess, cur := &c.sessA, &c.sdpA
	if far {
		sess, cur = &c.sessB, &c.sdpB
	}
	body := *cur
	if len(req.Body()) > 0 {
		m, err := sdp.Parse(req.Body())
		codec := uint8(leg.Format().Codec)
		if err != nil || !slices.Contains(m.Payloads, codec) {
			c.mu.Unlock()
			c.s.respond(tx, req, 488, "Not Acceptable Here")
			return
		}
		leg.SetPeer(m.Addr)
		body = sdp.Answer(*sess, m, codec)
		if !bytes.Equal(body, *cur) {
			sess.Version++
			body = sdp.Answer(*sess, m, codec)
			*cur = body
		}
	}
	c.mu.Unlock()
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	if req.Method == sip.INVITE || len(req.Body()) > 0 {
		res = sip.NewSDPResponseFromRequest(req, body)
	}
	if err := tx.Respond(res); err != nil {
		c.log.Debug().Err(err).Msg("refresh")
	}
	c.log.Debug().Str("method", req.Method.String()).Bool("far", far).Msg("session refreshed")
}
