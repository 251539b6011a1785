package sip

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/phonediversions/phonediversions/media"
)

// callerLeg is the caller's side of a call: the INVITE we answer, its
// dialog and its media. The call's goroutine drives it; the caller's
// in-dialog requests (ACK, BYE, re-INVITE, UPDATE) reach it through the
// methods named on….
type callerLeg struct {
	s   *Server
	log *zerolog.Logger

	// req is the INVITE: as received until open, then the dialog's copy
	// (the same headers but for our To tag), so that the leg does not
	// keep the transaction's request once the transaction is over.
	req *sip.Request
	// tx is the INVITE's transaction, nil once our 200 is acknowledged
	// and the transaction ended.
	tx        sip.ServerTransaction
	dlg       *sipgo.DialogServerSession
	transport string
	media     *binding
	// delayed tells an INVITE without SDP: our offer goes in the 200 and
	// the caller's answer comes in the ACK.
	delayed bool
	timer   *sessionTimer

	// ackBody is the body of the ACK of our 200: the answer of a delayed
	// offer. Only the body is kept, not the whole ACK for the call's life.
	ackBody atomic.Pointer[[]byte]
	acked   chan struct{} // closed on that ACK
	ackOnce sync.Once
	sent200 atomic.Bool
	// reoffer is set while a re-INVITE without SDP has our offer in its
	// 200 and the caller's answer is to come in the ACK.
	reoffer atomic.Bool

	answered bool // 200 sent and acknowledged (or given up on, see unacked)
	unacked  bool // 200 never acknowledged: the BYE must end the transaction
	early    bool // 183 with SDP sent
	rang     bool // 180 sent
}

// open reads the INVITE into a dialog, adopts the dialog's tag for every
// response, and says 100 Trying. Errors: an INVITE sipgo cannot take as a
// dialog.
func (l *callerLeg) open() error {
	dlg, err := l.s.dialogUA(l.transport).ReadInvite(l.req, l.tx)
	if err != nil {
		return err
	}
	l.dlg = dlg
	adoptTag(l.req, dlg)
	l.s.respond(l.tx, l.req, 100, "Trying")
	l.req = dlg.InviteRequest
	return nil
}

// onGone calls gone when the caller leaves before its BYE could: it
// cancels the INVITE, or its transaction dies (a broken connection) before
// we answered. The dialog's own end is not used: the stack also ends it
// when the transaction's Timer L fires after an unacknowledged 200, and
// the caller is not gone then.
func (l *callerLeg) onGone(gone func()) {
	l.tx.OnCancel(func(*sip.Request) { gone() })
	l.tx.OnTerminate(func(string, error) {
		if !l.sent200.Load() {
			gone()
		}
	})
}

// bind opens the caller's RTP leg and prepares our SDP: the answer to
// the caller's offer, or our offer when the INVITE had none. Errors:
// media.ErrNoPorts, an offer to answer 488.
func (l *callerLeg) bind(cfg media.LegConfig) error {
	leg, err := l.s.media.NewLeg(cfg)
	if err != nil {
		return err
	}
	l.media = newBinding(leg, l.s.rtpIP)
	if len(l.req.Body()) == 0 {
		l.delayed = true
		l.media.offer(0)
		return nil
	}
	if _, err := l.media.answer(l.req.Body()); err != nil {
		leg.Close()
		return err
	}
	return nil
}

// leg returns the caller's RTP leg.
func (l *callerLeg) leg() *media.Leg { return l.media.leg }

// contact is our Contact on the caller's transport.
func (l *callerLeg) contact() *sip.ContactHeader {
	return l.s.responseContact(l.transport)
}

// ring tells the caller the far party is ringing (once).
func (l *callerLeg) ring() {
	if l.rang || l.answered || l.early {
		return
	}
	l.rang = true
	if err := l.dlg.Respond(180, "Ringing", nil, l.contact()); err != nil {
		l.log.Debug().Err(err).Msg("180 to the caller")
	}
}

// progress sends 183 with our SDP: early media (the announcement, or the
// far party's own early media relayed).
func (l *callerLeg) progress() error {
	err := l.dlg.Respond(183, "Session Progress", l.media.current(), l.contact(),
		sip.NewHeader("Content-Type", "application/sdp"))
	if err == nil {
		l.early = true
	}
	return err
}

// answer sends 200 with our SDP and waits for the ACK; for a delayed
// offer the caller's answer comes in the ACK. The 2xx, its
// retransmissions and a CANCEL crossing it are the stack's (stack.go).
// When no ACK comes within 64·T1 the call counts as answered, and its end
// sends BYE. ended ends the wait when the call ends first.
func (l *callerLeg) answer(ended <-chan struct{}, cause func() error) error {
	res := sip.NewSDPResponseFromRequest(l.dlg.InviteRequest, l.media.current())
	res.AppendHeader(l.contact())
	for _, h := range l.s.capabilities() {
		res.AppendHeader(h)
	}
	if l.timer != nil {
		for _, h := range l.timer.headers() {
			res.AppendHeader(h)
		}
	}
	l.dlg.InviteResponse = res
	l.sent200.Store(true)
	err := sendAccepted(l.tx, res, l.acked, ended, cause)
	switch {
	case errors.Is(err, errNoAck):
		l.answered, l.unacked = true, true
		return err
	case err != nil:
		return err
	}
	l.answered = true
	// The INVITE transaction is over: end it now rather than keeping it
	// in the stack's table for Timer L, and let it go with the INVITE
	// and responses it holds (the dialog keeps what the call needs).
	l.dlg.TerminateInvite()
	l.tx = nil
	// Of our 200 the dialog needs only its To, the From of the requests
	// we send in the dialog: keep that, not the whole response.
	kept := sip.NewResponse(res.StatusCode, res.Reason)
	kept.AppendHeader(res.To())
	l.dlg.InviteResponse = kept
	l.leg().ReleaseTimeout() // answered: from now on the caller sends RTP
	if !l.delayed {
		return nil
	}
	body := l.ackBody.Load()
	if body == nil || len(*body) == 0 {
		return errors.New("the ACK carries no SDP answer")
	}
	return l.media.accept(*body)
}

// refuse ends the call with a final failure to the INVITE. The transaction
// retransmits it and absorbs the ACK after the handler returns, so a lost
// ACK does not hold the call.
func (l *callerLeg) refuse(code int, reason string, headers ...sip.Header) {
	res := sip.NewResponseFromRequest(l.dlg.InviteRequest, code, reason, nil)
	for _, h := range headers {
		res.AppendHeader(h)
	}
	if err := l.tx.Respond(res); err != nil {
		l.log.Debug().Err(err).Msg("respond")
	}
}

// hangUp sends BYE to an answered caller.
func (l *callerLeg) hangUp(reason string) {
	ctx, cancel := bounded()
	defer cancel()
	var err error
	why := sip.NewHeader("Reason", reason)
	if l.unacked {
		err = hangUpUnacked(ctx, l.dlg, l.transport, why)
	} else {
		bye := sip.NewRequest(sip.BYE, l.dlg.InviteRequest.Contact().Address)
		bye.SetTransport(l.dlg.InviteRequest.Transport())
		bye.AppendHeader(why)
		err = l.dlg.WriteBye(ctx, bye)
	}
	if err != nil {
		l.log.Debug().Err(err).Msg("BYE to the caller")
	}
}

// onAck takes the caller's ACK: of our 200 (with the answer of a delayed
// offer), or of the 200 to a re-INVITE (with the answer to our offer in
// it when the re-INVITE brought no SDP).
func (l *callerLeg) onAck(req *sip.Request, tx sip.ServerTransaction) {
	if l.reoffer.CompareAndSwap(true, false) {
		if len(req.Body()) > 0 {
			if err := l.media.accept(req.Body()); err != nil {
				l.log.Info().Err(err).Msg("unusable SDP answer in the ACK of a refresh")
			}
		}
		return
	}
	if body := req.Body(); len(body) > 0 || l.ackBody.Load() == nil {
		l.ackBody.Store(&body)
	}
	if err := l.dlg.ReadAck(req, tx); err != nil {
		l.log.Debug().Err(err).Msg("ACK")
		return
	}
	l.ackOnce.Do(func() { close(l.acked) })
}

// onBye takes the caller's BYE.
func (l *callerLeg) onBye(req *sip.Request, tx sip.ServerTransaction) {
	if l.sent200.Load() {
		// The SIP stack handles each message on its own goroutine, so a
		// BYE sent right after the ACK can overtake it; a BYE means the
		// caller had the 200 all the same.
		l.ackOnce.Do(func() { close(l.acked) })
	}
	if err := l.dlg.ReadBye(req, tx); err != nil {
		l.log.Debug().Err(err).Msg("BYE")
	}
}

// onRefresh answers the caller's re-INVITE or UPDATE (a session timer
// refresh, hold, resume, a new address): the session timer restarts.
func (l *callerLeg) onRefresh(req *sip.Request, tx sip.ServerTransaction) {
	var extra []sip.Header
	if l.timer != nil {
		if rej := l.timer.refreshed(req); rej != nil {
			l.s.respond(tx, req, rej.code, rej.reason, rej.headers...)
			return
		}
		extra = l.timer.headers()
	}
	refresh(l.s, &l.dlg.Dialog, l.media, &l.reoffer, l.transport, req, tx, l.log, extra...)
}

// refresh answers a re-INVITE or UPDATE of either leg's dialog with the
// session as it is, or as the request changes it: an offer is applied
// (codec, address, hold and resume) and answered; a re-INVITE without SDP
// is answered with a full offer of ours, whose answer comes in the ACK.
func refresh(s *Server, dlg *sipgo.Dialog, b *binding, reoffer *atomic.Bool, transport string,
	req *sip.Request, tx sip.ServerTransaction, log *zerolog.Logger, extra ...sip.Header) {
	if err := dlg.ReadRequest(req, tx); err != nil {
		s.respond(tx, req, 500, "Server Internal Error", retryAfter(time.Second))
		return
	}
	var body []byte
	switch {
	case len(req.Body()) > 0:
		ans, err := b.answer(req.Body())
		if err != nil {
			log.Info().Err(err).Msg("refresh with an SDP we cannot take")
			s.respond(tx, req, 488, "Not Acceptable Here")
			return
		}
		body = ans
	case req.IsInvite():
		body = b.offer(b.leg.Format().Codec)
		reoffer.Store(true)
	}
	res := sip.NewResponseFromRequest(req, 200, "OK", body)
	if body != nil {
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	res.AppendHeader(s.responseContact(transport))
	for _, h := range append(s.capabilities(), extra...) {
		res.AppendHeader(h)
	}
	if err := tx.Respond(res); err != nil {
		log.Debug().Err(err).Msg("refresh")
	}
	log.Debug().Str("method", req.Method.String()).Bool("held", b.held()).Msg("session refreshed")
}

// sendRefresh refreshes the session ourselves (we are the session timer's
// refresher): an UPDATE with our SDP. Errors: the caller's refusal or
// silence.
func (l *callerLeg) sendRefresh() error {
	ctx, cancel := bounded()
	defer cancel()
	req := sip.NewRequest(sip.UPDATE, l.req.Contact().Address)
	req.SetTransport(l.req.Transport())
	contact := l.s.contact(l.transport) // a request's own: sipgo may change it
	req.AppendHeader(&contact)
	for _, h := range l.timer.headers() {
		req.AppendHeader(h)
	}
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(l.media.current())
	res, err := l.dlg.Do(ctx, req)
	if err != nil {
		return err
	}
	if !res.IsSuccess() {
		return &sipgo.ErrDialogResponse{Res: res}
	}
	return nil
}

// close stops the session timer and releases the RTP leg.
func (l *callerLeg) close() {
	if l.timer != nil {
		l.timer.stop()
	}
	if l.media != nil {
		l.media.leg.Close()
	}
}

// bounded returns a context for cleanup work that must finish even when
// the call's own context has ended.
func bounded() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), byeTimeout)
}

// byeTimeout bounds the wait for the answer to a request at the end of a
// call.
const byeTimeout = 5 * time.Second
