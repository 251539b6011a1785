package sip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/phonediversions/phonediversions/audio"
	"github.com/phonediversions/phonediversions/media"
)

// errRingTimeout ends a far leg that rang too long.
var errRingTimeout = errors.New("ring timeout")

// farLeg is the far party's side of a call: the INVITE we place through
// the next hop, its dialog and its media.
type farLeg struct {
	s         *Server
	log       *zerolog.Logger
	target    string
	transport string
	media     *binding
	dlg       *sipgo.DialogClientSession
	reoffer   atomic.Bool // a re-INVITE without SDP awaits the far party's answer in its ACK
}

// farRequest is what the far leg's INVITE carries of the call.
type farRequest struct {
	target string
	// who is the caller; hops the Max-Forwards the INVITE came with.
	who  identity
	hops *sip.MaxForwardsHeader
	// divertedFrom names the line the product diverts the call from (a new
	// Diversion entry); history are the Diversion entries passed on.
	divertedFrom string
	history      []string
	prefer       audio.Codec
}

// failure is how a far leg ended without being answered: the SIP code
// (0 when the call itself ended first).
type failure struct{ code int }

// dial places the far leg and waits until it is answered (nil) or fails.
// onProgress sees the far party's provisional responses. The leg is given
// up when ctx ends or the ring time is up: once the far side has answered
// anything, giving up sends CANCEL; before that there is nobody to cancel,
// and waiting for a first response from a dead next hop would hold the
// call for the whole transaction timeout.
func (l *farLeg) dial(ctx context.Context, fr farRequest, onProgress func(*sip.Response)) *failure {
	l.target = fr.target
	if err := l.open(fr.prefer); err != nil {
		l.log.Warn().Err(err).Msg("far leg")
		return &failure{503}
	}
	req, err := l.invite(fr)
	if err != nil {
		l.log.Error().Err(err).Msg("far leg INVITE")
		return &failure{500}
	}
	forget := l.s.ringing.add(fr.who.Number, fr.target, historyNumbers(l.sentHistory(fr)))
	defer forget()

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
	stopWatch := context.AfterFunc(ctx, func() { giveUp(false) })
	defer stopWatch()
	timer := time.AfterFunc(l.s.cfg.RingTimeout, func() { giveUp(true) })
	defer timer.Stop()

	dlg, err := l.s.dialogUA(l.transport).WriteInvite(rctx, req)
	if err != nil {
		l.log.Warn().Err(err).Str("target", fr.target).Msg("far leg INVITE not sent")
		return &failure{503}
	}
	l.dlg = dlg
	err = dlg.WaitAnswer(rctx, sipgo.AnswerOptions{OnResponse: func(r *sip.Response) error {
		heard.Store(true)
		if r.IsProvisional() && r.StatusCode != 100 {
			onProgress(r)
		}
		return nil
	}})
	if err != nil {
		return l.unanswered(ctx, rctx, heard.Load(), err)
	}
	return l.answered()
}

// open opens the far leg's RTP leg and our offer, preferring the caller's
// law so that no transcoding is needed when the far party takes it.
func (l *farLeg) open(prefer audio.Codec) error {
	leg, err := l.s.media.NewLeg(media.LegConfig{Timeout: l.s.cfg.MediaTimeout, HoldTimeout: true})
	if err != nil {
		return err
	}
	l.media = newBinding(leg, l.s.rtpIP)
	l.media.offer(prefer)
	return nil
}

// sentHistory are the Diversion entries the far leg's INVITE carries,
// most recent first: ours when we divert, then those passed on.
func (l *farLeg) sentHistory(fr farRequest) []string {
	var out []string
	if fr.divertedFrom != "" {
		out = append(out, "<sip:"+fr.divertedFrom+"@"+l.s.cfg.AdvertiseIP.String()+">;reason=unconditional;counter=1")
	}
	return append(out, fr.history...)
}

// invite builds the far leg's INVITE: the caller's identity and privacy,
// the Diversion history, the loop mark, Max-Forwards one less, our offer.
func (l *farLeg) invite(fr farRequest) (*sip.Request, error) {
	s := l.s
	uri, err := s.nextHopURI(fr.target)
	if err != nil {
		return nil, err
	}
	req := sip.NewRequest(sip.INVITE, uri)
	req.SetTransport(strings.ToUpper(l.transport))
	host := s.cfg.AdvertiseIP.String()
	from, identityHeaders := fr.who.identityHeaders(host)
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: fr.target, Host: uri.Host, Port: uri.Port}, Params: sip.NewParams()})
	hops := sip.MaxForwardsHeader(70)
	if fr.hops != nil && fr.hops.Val() > 0 {
		hops = sip.MaxForwardsHeader(fr.hops.Val() - 1)
	}
	req.AppendHeader(&hops)
	contact := s.contact(l.transport)
	req.AppendHeader(&contact)
	for _, h := range identityHeaders {
		req.AppendHeader(h)
	}
	for _, d := range l.sentHistory(fr) {
		req.AppendHeader(sip.NewHeader("Diversion", d))
	}
	req.AppendHeader(sip.NewHeader("Allow", allowed))
	req.AppendHeader(sip.NewHeader(LoopHeader, s.token))
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(l.media.current())
	return req, nil
}

// unanswered tells how a far leg that got no 2xx ended. A 2xx that
// crossed our CANCEL is acknowledged and hung up.
func (l *farLeg) unanswered(ctx, rctx context.Context, heard bool, err error) *failure {
	if res := l.dlg.InviteResponse; res != nil && res.IsSuccess() {
		bctx, cancel := bounded()
		if l.dlg.Ack(bctx) == nil {
			l.dlg.Bye(bctx)
		}
		cancel()
	}
	var de *sipgo.ErrDialogResponse
	switch {
	case errors.As(err, &de):
		return &failure{de.Res.StatusCode}
	case ctx.Err() != nil:
		return &failure{0}
	case rctx.Err() != nil && (errors.Is(context.Cause(rctx), errRingTimeout) || heard):
		l.log.Info().Str("target", l.target).Dur("after", l.s.cfg.RingTimeout).Msg("no answer")
		return &failure{408}
	case rctx.Err() != nil:
		l.log.Warn().Str("target", l.target).Msg("the next hop never answered the INVITE")
		return &failure{408}
	default:
		l.log.Warn().Err(err).Str("target", l.target).Msg("far leg failed")
		return &failure{503}
	}
}

// answered takes the far party's 2xx: its SDP answer, and our ACK. An
// answer we cannot use ends the leg with 488.
func (l *farLeg) answered() *failure {
	err := l.media.accept(l.dlg.InviteResponse.Body())
	ctx, cancel := bounded()
	defer cancel()
	if ackErr := l.dlg.Ack(ctx); ackErr != nil {
		l.log.Warn().Err(ackErr).Msg("ACK to the far party")
	}
	if err != nil {
		l.log.Warn().Err(err).Msg("far party's SDP answer unusable")
		l.dlg.Bye(ctx)
		return &failure{488}
	}
	return nil
}

// takeEarlyMedia applies the SDP of a 183 to the leg: the far party's
// early media. It reports whether the SDP was usable.
func (l *farLeg) takeEarlyMedia(res *sip.Response) bool {
	return len(res.Body()) > 0 && l.media.accept(res.Body()) == nil
}

// onAck takes the far party's ACK of our 200 to its re-INVITE.
func (l *farLeg) onAck(req *sip.Request) {
	if l.reoffer.CompareAndSwap(true, false) && len(req.Body()) > 0 {
		if err := l.media.accept(req.Body()); err != nil {
			l.log.Info().Err(err).Msg("unusable SDP answer in the far party's ACK")
		}
	}
}

// onRefresh answers the far party's re-INVITE or UPDATE.
func (l *farLeg) onRefresh(req *sip.Request, tx sip.ServerTransaction) {
	refresh(l.s, &l.dlg.Dialog, l.media, &l.reoffer, l.transport, req, tx, l.log)
}

// onBye takes the far party's BYE.
func (l *farLeg) onBye(req *sip.Request, tx sip.ServerTransaction) {
	if err := l.dlg.ReadBye(req, tx); err != nil {
		l.log.Debug().Err(err).Msg("BYE of the far party")
	}
}

// hangUp sends BYE to an answered far party.
func (l *farLeg) hangUp() {
	if l.dlg == nil || l.dlg.LoadState() != sip.DialogStateConfirmed {
		return
	}
	ctx, cancel := bounded()
	defer cancel()
	if err := l.dlg.Bye(ctx); err != nil {
		l.log.Debug().Err(err).Msg("BYE to the far party")
	}
}

// close releases the RTP leg.
func (l *farLeg) close() {
	if l.media != nil {
		l.media.leg.Close()
	}
}

// passedOn are the far leg's final failures a caller hears as they are;
// callerFailure maps the others.
var passedOn = map[int]string{
	404: "Not Found", 480: "Temporarily Unavailable", 484: "Address Incomplete", 486: "Busy Here",
	488: "Not Acceptable Here", 503: "Service Unavailable", 600: "Busy Everywhere", 603: "Decline",
	604: "Does Not Exist Anywhere",
}

// callerFailure is what a caller not yet answered hears of the far leg's
// final failure: one of a known set, never a response that means
// something only between us and the next hop (a 3xx we do not follow, a
// challenge for our credentials, 481, 491).
func callerFailure(code int) (int, string) {
	if reason, ok := passedOn[code]; ok {
		return code, reason
	}
	switch {
	case code == 403:
		return 603, "Decline"
	case code >= 300 && code < 500:
		// Redirects, our ring timeout (408, 487), and the next hop's
		// answers about our own requests (401, 407, 481, 491…).
		return 480, "Temporarily Unavailable"
	case code >= 600:
		return 603, "Decline"
	default:
		return 503, "Service Unavailable"
	}
}

// nextHopURI returns the URI of a number at the next hop.
func (s *Server) nextHopURI(number string) (sip.Uri, error) {
	host, portStr, err := net.SplitHostPort(s.cfg.NextHop)
	if err != nil {
		return sip.Uri{}, fmt.Errorf("sip: next hop %q: %w", s.cfg.NextHop, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return sip.Uri{}, fmt.Errorf("sip: next hop port %q", portStr)
	}
	u := sip.Uri{Scheme: "sip", User: number, Host: host, Port: port}
	if s.cfg.NextHopTransport != "udp" {
		u.UriParams = sip.NewParams()
		u.UriParams.Add("transport", s.cfg.NextHopTransport)
	}
	return u, nil
}
