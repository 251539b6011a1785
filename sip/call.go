package sip

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/phonediversions/phonediversions/media"
	"github.com/phonediversions/phonediversions/prompts"
	"github.com/phonediversions/phonediversions/routing"
	"github.com/phonediversions/phonediversions/sip/sdp"
)

// call is one inbound call and, when it has one, its outbound leg. Its
// handler goroutine (run) owns it; SIP requests of its dialogs reach it
// through the methods named on….
type call struct {
	s     *Server
	log   zerolog.Logger
	req   *sip.Request
	start time.Time

	// ctx ends when the call must end, for the reason given as its cause.
	ctx    context.Context
	cancel context.CancelCauseFunc

	caller, called string
	red            redirection
	dec            routing.Decision

	tx      sip.ServerTransaction
	dlg     *sipgo.DialogServerSession
	a, b    *media.Leg
	offer   *sdp.Media // the caller's offer; nil for a delayed offer
	ack     atomic.Pointer[sip.Request]
	acked   chan struct{} // closed on the caller's first ACK of the 200
	ackOnce sync.Once
	sent200 atomic.Bool // the 200 has gone to the caller

	mu    sync.Mutex // guards the SDPs, which refreshes read
	sessA sdp.Session
	sdpA  []byte
	sessB sdp.Session
	sdpB  []byte

	answered bool // 200 sent to the caller
	early    bool // 183 with SDP sent to the caller
	out      *sipgo.DialogClientSession
	status   routing.Status
}

func newCall(s *Server, req *sip.Request) *call {
	c := &call{s: s, req: req, start: time.Now(), acked: make(chan struct{})}
	c.log = s.log.With().Str("call_id", callID(req)).Logger()
	c.ctx, c.cancel = context.WithCancelCause(context.Background())
	return c
}

// abort ends the call for cause, from any goroutine.
func (c *call) abort(cause error) { c.cancel(cause) }

// reject answers the INVITE with a failure and ends the call.
func (c *call) reject(tx sip.ServerTransaction, code int, reason string) {
	c.s.stats.Rejected.Add(1)
	c.log.Info().Int("code", code).Str("caller", c.caller).Str("called", c.called).Msg("call refused")
	if c.dlg != nil {
		c.respondLater(code, reason)
		return
	}
	c.s.respond(tx, c.req, code, reason)
}

// run handles the call from INVITE to its end.
func (c *call) run(tx sip.ServerTransaction) {
	s := c.s
	defer c.cancel(nil)
	c.tx = tx
	dlg, err := s.dua.ReadInvite(c.req, tx)
	if err != nil {
		c.reject(tx, 400, "Bad Request")
		return
	}
	c.dlg = dlg
	s.register(dlg.ID, c, false)
	defer s.unregister(dlg.ID)
	context.AfterFunc(dlg.Context(), func() { c.cancel(errCallerGone) })

	c.caller = uriNumber(c.req.From().Address)
	c.called = uriNumber(c.req.Recipient)
	c.red = parseRedirection(c.req)
	c.log = c.log.With().Str("caller", c.caller).Str("called", c.called).Str("initial", c.red.Initial).Logger()
	if c.red.Initial != "" && s.isRinging(ringKey(c.caller, c.red.Initial)) {
		// A PBX forwarded our own outbound leg back to us: it carries no
		// mark of ours, but it is the same caller to the same number.
		c.reject(tx, 482, "Loop Detected")
		return
	}
	c.dec, err = s.router.DecideCall(c.ctx, routing.Call{Caller: c.caller, Called: c.called, Initial: c.red.Initial})
	if err != nil {
		c.log.Error().Err(err).Msg("routing failed")
		c.reject(tx, 500, "Server Internal Error")
		return
	}
	if c.dec.Verdict == routing.VerdictReject {
		code, reason := rejectCode(c.dec.Reason)
		c.reject(tx, code, reason)
		return
	}
	if err := c.openCallerLeg(); err != nil {
		c.log.Warn().Err(err).Msg("caller leg")
		if errors.Is(err, media.ErrNoPorts) {
			c.reject(tx, 503, "Service Unavailable")
		} else {
			c.reject(tx, 488, "Not Acceptable Here")
		}
		return
	}
	defer c.a.Close()

	switch c.dec.Verdict {
	case routing.VerdictAnnounceThenHangup, routing.VerdictAnnounceThenBridge:
		c.announceCall()
	default:
		c.bridgeCall()
	}
	c.finish()
}

// openCallerLeg opens the caller's RTP leg and prepares our SDP for it: an
// answer to the caller's offer, or our offer when the INVITE had none.
func (c *call) openCallerLeg() error {
	var f media.Format
	var peer netip.AddrPort
	if body := c.req.Body(); len(body) > 0 {
		offer, err := sdp.Parse(body)
		if err != nil {
			return err
		}
		pt, err := sdp.Choose(offer, []uint8{sdp.PCMU, sdp.PCMA})
		if err != nil {
			return err
		}
		c.offer = &offer
		f = media.Format{Codec: codecOf(pt), DTMF: offer.DTMF}
		peer = offer.Addr
	}
	a, err := c.s.media.NewLeg(media.LegConfig{Format: f, Peer: peer, Timeout: c.s.cfg.MediaTimeout,
		HoldTimeout: true, OnTimeout: func() { c.abort(errMediaTimeout) }})
	if err != nil {
		return err
	}
	c.a = a
	c.sessA = sdp.Session{ID: rand.Uint64() >> 1, Version: 1, Addr: netip.AddrPortFrom(c.s.rtpIP, uint16(a.Port()))}
	if c.offer != nil {
		c.sdpA = sdp.Answer(c.sessA, *c.offer, uint8(f.Codec))
	} else {
		c.sdpA = sdp.Offer(c.sessA, []uint8{sdp.PCMU, sdp.PCMA}, sdp.DefaultDTMF)
	}
	return nil
}

// answer sends 200 with our SDP and waits for the ACK; for a delayed offer
// the caller's answer comes in the ACK.
//
// The 200 is sent and retransmitted here (RFC 3261 13.3.1.4: from T1,
// doubling up to T2, until the ACK, for at most 64·T1) rather than through
// the INVITE transaction, and the transaction is ended on the ACK. The SIP
// stack would keep an accepted INVITE transaction, with the call's INVITE,
// 200 and dialog, for 32 s after the ACK even when told to end it: at a
// few hundred calls per second that half minute of finished calls was most
// of the program's memory.
func (c *call) answer() error {
	c.mu.Lock()
	body := c.sdpA
	c.mu.Unlock()
	res := sip.NewSDPResponseFromRequest(c.dlg.InviteRequest, body)
	contact := c.s.contact()
	res.AppendHeader(&contact)
	c.dlg.InviteResponse = res
	c.sent200.Store(true)
	send := c.s.srv.WriteResponse
	if tc, ok := c.tx.(interface{ Connection() sip.Connection }); ok && tc.Connection() != nil {
		send = func(r *sip.Response) error { return tc.Connection().WriteMsg(r) } // the INVITE's own connection
	}
	if err := send(res); err != nil {
		return err
	}
	interval, waited := sip.T1, time.Duration(0)
	timer := time.NewTimer(interval)
	defer timer.Stop()
	for acked := false; !acked; {
		select {
		case <-c.acked:
			acked = true
		case <-c.ctx.Done():
			select {
			case <-c.acked: // the ACK came just before the BYE: the call was answered
				acked = true
			default:
				return context.Cause(c.ctx)
			}
		case <-timer.C:
			waited += interval
			if waited >= 64*sip.T1 {
				c.answered = true // the call is up as far as the caller knows: finish sends BYE
				return errors.New("no ACK for the 200")
			}
			if err := send(res); err != nil {
				return err
			}
			interval = min(2*interval, sip.T2)
			timer.Reset(interval)
		}
	}
	c.tx.Terminate()
	c.answered = true
	c.a.ReleaseTimeout() // answered: from now on the caller sends RTP
	if c.offer != nil {
		return nil
	}
	ack := c.ack.Load()
	if ack == nil || len(ack.Body()) == 0 {
		return errors.New("the ACK carries no SDP answer")
	}
	ans, err := sdp.Parse(ack.Body())
	if err != nil {
		return err
	}
	pt, err := sdp.Choose(ans, []uint8{sdp.PCMU, sdp.PCMA})
	if err != nil {
		return err
	}
	c.a.SetFormat(media.Format{Codec: codecOf(pt), DTMF: ans.DTMF})
	c.a.SetPeer(ans.Addr)
	return nil
}

// progress sends 183 with our SDP answer: early media.
func (c *call) progress() error {
	err := c.dlg.Respond(183, "Session Progress", c.sdpA, sip.NewHeader("Content-Type", "application/sdp"))
	if err == nil {
		c.early = true
	}
	return err
}

// prompt returns the frames of the decided announcement in the caller's
// codec, falling back to the built-in one when it cannot be had.
func (c *call) prompt() [][]byte {
	p, err := c.s.prompts.Get(c.dec.AnnouncementID)
	if err != nil {
		c.log.Warn().Err(err).Int64("announcement", c.dec.AnnouncementID).Msg("announcement missing: playing the built-in one")
		p = c.s.prompts.Builtin()
	}
	if c.a.Format().Codec == media.PCMA {
		return p.Frames(prompts.PCMA)
	}
	return p.Frames(prompts.PCMU)
}

// play plays frames to the caller until they end (true) or the call does
// (false).
func (c *call) play(frames [][]byte, loop bool) (*media.Stream, bool) {
	st := c.s.media.Play(c.a, frames, loop)
	if loop {
		return st, true
	}
	select {
	case <-st.Done():
		return st, true
	case <-c.ctx.Done():
		st.Stop()
		return st, false
	}
}

// callerGoneStatus is the report status when the caller leaves first.
func (c *call) callerGoneStatus() routing.Status {
	if c.answered {
		return routing.StatusTerminated
	}
	return routing.StatusCancelled
}

// announceCall answers (or opens early media), plays the announcement,
// then hangs up or connects the caller to the initial number.
func (c *call) announceCall() {
	var err error
	if c.s.cfg.EarlyMedia && c.offer != nil {
		err = c.progress()
	} else {
		err = c.answer()
	}
	if err != nil {
		c.log.Info().Err(err).Msg("caller not answered")
		c.status = c.callerGoneStatus()
		return
	}
	if _, ok := c.play(c.prompt(), false); !ok {
		c.status = c.callerGoneStatus()
		return
	}
	if c.dec.Verdict == routing.VerdictAnnounceThenHangup {
		c.status = routing.StatusTerminated
		return
	}
	ring, _ := c.play(c.s.ringback[ringIndex(c.a.Format().Codec)], true)
	c.connect(c.dec.Target, "", ring)
}

// connect places the outbound leg and, once the far party answers, stops
// the ringback (when one plays), answers the caller if that is not done
// yet and relays the two legs until the call ends.
func (c *call) connect(target, divertedFrom string, ringback *media.Stream) {
	ok, code := c.dial(target, divertedFrom)
	if ringback != nil {
		ringback.Stop()
	}
	if !ok {
		c.failCaller(code)
		return
	}
	if !c.answered {
		if err := c.answer(); err != nil {
			c.status = c.callerGoneStatus()
			return
		}
	}
	c.talk()
}

func ringIndex(codec media.Codec) int {
	if codec == media.PCMA {
		return 1
	}
	return 0
}

// bridgeCall connects the caller without announcement: the caller is
// answered only when the far party answers.
func (c *call) bridgeCall() {
	divertedFrom := ""
	if c.dec.Verdict == routing.VerdictDivert {
		divertedFrom = c.dec.DivertedFrom
	}
	c.connect(c.dec.Target, divertedFrom, nil)
}

// failCaller ends the call after the far leg failed with code (0: the
// call itself ended first).
func (c *call) failCaller(code int) {
	if code == 0 {
		if c.status == "" {
			c.status = c.callerGoneStatus()
		}
		return
	}
	c.status = failureStatus(code)
	if c.answered {
		return // finish sends BYE
	}
	// The caller was never answered: pass the far leg's failure back.
	reason := reasonPhrase(code)
	if code == 487 || code == 408 {
		// Our own ring timeout (or the far side's): the callee did not answer.
		code, reason = 480, "Temporarily Unavailable"
	}
	c.respondLater(code, reason)
}

// respondLater sends a final failure to the caller without waiting for
// its ACK: the transaction layer retransmits the response and absorbs the
// ACK (it keeps the transaction after the handler returns), so a lost ACK
// does not hold the call for the transaction timeout.
func (c *call) respondLater(code int, reason string) {
	res := sip.NewResponseFromRequest(c.dlg.InviteRequest, code, reason, nil)
	if err := c.tx.Respond(res); err != nil {
		c.log.Debug().Err(err).Msg("respond")
	}
}

// talk relays the two legs until one party hangs up or the call ends.
func (c *call) talk() {
	c.s.media.Bridge(c.a, c.b)
	c.b.ReleaseTimeout() // answered: from now on the far party sends RTP
	c.status = c.dec.Status
	if c.status == routing.StatusTerminated || c.status == "" {
		c.status = routing.StatusConnected
	}
	select {
	case <-c.ctx.Done():
	case <-c.out.Context().Done():
		c.cancel(errFarGone)
	}
}

// finish hangs up whatever is still up, releases the legs and writes the
// report entry and the log line.
func (c *call) finish() {
	cause := context.Cause(c.ctx)
	if c.ctx.Err() == nil {
		c.cancel(nil)
	}
	if c.out != nil {
		if !errors.Is(cause, errFarGone) && c.out.LoadState() == sip.DialogStateConfirmed {
			ctx, cancel := bounded()
			if err := c.out.Bye(ctx); err != nil {
				c.log.Debug().Err(err).Msg("BYE to the far party")
			}
			cancel()
		}
		c.s.unregister(c.out.ID)
	}
	if c.answered && !errors.Is(cause, errCallerGone) {
		ctx, cancel := bounded()
		if err := c.dlg.Bye(ctx); err != nil {
			c.log.Debug().Err(err).Msg("BYE to the caller")
		}
		cancel()
	} else if c.early && !c.answered && !errors.Is(cause, errCallerGone) && c.status != routing.StatusBusy &&
		c.status != routing.StatusNoAnswer && c.status != routing.StatusFailed {
		// An early-media announcement followed by hang-up: end the unanswered call.
		c.respondLater(480, "Temporarily Unavailable")
	}
	if c.b != nil {
		c.b.Close()
	}
	if c.status == "" {
		c.status = routing.StatusFailed
	}
	c.report(cause)
	c.shed()
}

// shed empties the messages of a finished call that the SIP stack keeps
// for half a minute after their transactions have ended: it leaves the
// timer of an accepted INVITE transaction (RFC 6026 Timer L, and M on the
// client side) running after the transaction is terminated, and the timer
// holds the transaction, its INVITE, its 200 and the dialog. Emptied, the
// half minute of finished calls costs a few hundred bytes each instead of
// several kilobytes. Only transactions that are over are touched: an
// answered caller's (terminated on its ACK) and an answered far leg's.
func (c *call) shed() {
	if c.answered && c.dlg.InviteResponse != nil {
		emptyMessage(c.req)
		emptyMessage(c.dlg.InviteRequest)
		emptyMessage(c.dlg.InviteResponse)
	}
	if c.out != nil && c.out.InviteResponse != nil && c.out.InviteResponse.IsSuccess() {
		emptyMessage(c.out.InviteRequest)
		emptyMessage(c.out.InviteResponse)
	}
}

// message is what emptyMessage needs of a request or a response.
type message interface {
	Headers() []sip.Header
	RemoveHeader(name string) bool
	SetBody(body []byte)
}

// emptyMessage removes the headers and body of a SIP message.
func emptyMessage(m message) {
	for hs := m.Headers(); len(hs) > 0; hs = m.Headers() {
		if !m.RemoveHeader(hs[0].Name()) {
			return
		}
	}
	m.SetBody(nil)
}

// report writes the call's report entry and log line.
func (c *call) report(cause error) {
	receiver := c.red.Initial
	if receiver == "" {
		receiver = c.called
	}
	ctx, cancel := bounded()
	defer cancel()
	c.s.stats.countEnded(c.status)
	err := c.s.router.RecordCall(ctx, routing.ReportEntry{Status: c.status, Caller: c.caller,
		Receiver: receiver, Group: c.dec.Group, GroupID: c.dec.GroupID, Detail: c.dec.Verdict.String()})
	ev := c.log.Info()
	if err != nil {
		ev = c.log.Error().AnErr("report_error", err)
	}
	if cause != nil {
		ev = ev.Str("cause", cause.Error())
	}
	ev.Str("verdict", c.dec.Verdict.String()).Str("outcome", string(c.status)).Str("target", c.dec.Target).
		Dur("duration", time.Since(c.start)).Msg("call ended")
}
