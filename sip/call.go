package sip

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/phonediversions/phonediversions/audio"
	"github.com/phonediversions/phonediversions/media"
	"github.com/phonediversions/phonediversions/prompts"
	"github.com/phonediversions/phonediversions/routing"
)

// Router is what the call handler needs of the routing service.
type Router interface {
	DecideCall(ctx context.Context, call routing.Call) (routing.Decision, error)
	// RecordCall writes a call's report entry, filling in the username.
	RecordCall(ctx context.Context, e routing.ReportEntry) error
}

// Announcements gives the announcement to play; id 0 is the built-in one.
type Announcements interface {
	Get(id int64) (*prompts.Prompt, error)
	Builtin() *prompts.Prompt
}

// call is one call from its INVITE to its end: the caller's leg and, when
// the call is connected, the far leg. One goroutine at a time owns it:
// the INVITE's handler (run), then, for an announcement to an answered
// caller, the one that takes the call on from the announcement's end;
// requests of its dialogs reach it through the methods named on….
type call struct {
	s     *Server
	log   zerolog.Logger
	start time.Time
	// ctx ends when the call must end, for the reason given as its cause.
	ctx    context.Context
	cancel context.CancelCauseFunc

	caller *callerLeg
	far    *farLeg
	bridge *media.Bridge

	who    identity // the caller, as the trunk asserts
	called string
	red    redirection
	dec    routing.Decision
	status routing.Status
	// settled records for the overload control that the call is set up
	// (routed, its media bound) or refused.
	settled func(time.Time)
	// release gives the call's place back to the server once it is over:
	// the last thing the call does, from whichever goroutine ends it.
	release func()
}

func newCall(s *Server, req *sip.Request, tx sip.ServerTransaction) *call {
	c := &call{s: s, start: time.Now()}
	c.log = s.log.Hook(&callFields{id: callID(req)})
	c.ctx, c.cancel = context.WithCancelCause(context.Background())
	c.caller = &callerLeg{s: s, log: &c.log, req: req, tx: tx, transport: req.Transport(), acked: make(chan struct{})}
	return c
}

// callFields are the fields of every log line about a call, added by a
// hook to each line written: a logger with fields of its own (zerolog's
// With) reserves 500 bytes for them, kept for the call's life.
type callFields struct {
	id                      string
	identified              bool // caller, called and initial are known
	caller, called, initial string
}

// Run adds the call's fields to a log line.
func (f *callFields) Run(e *zerolog.Event, _ zerolog.Level, _ string) {
	e.Str("call_id", f.id)
	if f.identified {
		e.Str("caller", f.caller).Str("called", f.called).Str("initial", f.initial)
	}
}

// end ends the call for cause, from any goroutine.
func (c *call) end(cause error) { c.cancel(cause) }

// run handles the call from INVITE to its end, in the order it happens,
// on the INVITE's handler goroutine. An announcement to an answered
// caller plays without it: run returns, and the call goes on from the
// announcement's end (afterAnnouncement) on a goroutine of its own.
func (c *call) run() {
	if !c.begin() {
		c.over()
		return
	}
	switch c.dec.Verdict {
	case routing.VerdictAnnounceThenHangup, routing.VerdictAnnounceThenBridge:
		if c.announce() {
			return // goes on from the announcement's end
		}
	default:
		c.bridgeAtOnce()
	}
	c.finish()
	c.over()
}

// begin opens the caller's dialog, reads and routes the call and binds
// the caller's media; false when the call was refused or could not start.
func (c *call) begin() bool {
	if err := c.caller.open(); err != nil {
		c.s.respond(c.caller.tx, c.caller.req, 400, "Bad Request")
		c.settled(time.Now())
		return false
	}
	c.s.dialogs.register(c.caller.dlg.ID, c, false)
	c.caller.onGone(func() { c.end(errCallerGone) })
	ok := c.identify() && c.decide() && c.bindCaller()
	c.settled(time.Now())
	return ok
}

// over ends the call's life: its dialog no longer takes requests, its
// context ends, and the server counts it out.
func (c *call) over() {
	if c.caller.dlg != nil {
		c.s.dialogs.unregister(c.caller.dlg.ID)
	}
	c.cancel(nil)
	c.release()
}

// refuse answers the INVITE with a failure before the call is handled.
func (c *call) refuse(code int, reason string, headers ...sip.Header) {
	c.s.stats.Rejected.Add(1)
	c.log.Info().Int("code", code).Msg("call refused")
	c.caller.refuse(code, reason, headers...)
}

// identify reads who calls, whom, and where the call was first sent; a
// call that is one of our far legs forwarded back is refused (482).
func (c *call) identify() bool {
	req := c.caller.req
	c.who = callerIdentity(req)
	c.called = uriNumber(req.Recipient)
	c.red = parseRedirection(req)
	c.log = c.s.log.Hook(&callFields{id: callID(req), identified: true, caller: c.who.Number, called: c.called, initial: c.red.Initial})
	if c.red.Initial != "" && c.s.ringing.comesBack(c.who.Number, c.red.Initial, historyNumbers(c.red.Diversions)) {
		c.refuse(482, "Loop Detected")
		return false
	}
	timer, rej := negotiateTimer(req, c.s.cfg.SessionExpires, c.s.cfg.MinSE)
	if rej != nil {
		c.refuse(rej.code, rej.reason, rej.headers...)
		return false
	}
	c.caller.timer = timer
	return true
}

// decide asks routing what to do with the call; a refusal answers it.
func (c *call) decide() bool {
	var err error
	c.dec, err = c.s.router.DecideCall(c.ctx, routing.Call{Caller: c.who.Number, Called: c.called, Initial: c.red.Initial})
	switch {
	case err != nil:
		// Most likely the store does not answer: 503 lets the PBX try
		// another node (a route list advances on it), as OPTIONS do.
		c.log.Error().Err(err).Msg("routing failed")
		c.refuse(503, "Service Unavailable", sip.NewHeader("Retry-After", strconv.Itoa(optionsRetryAfter)))
		return false
	case c.dec.Verdict == routing.VerdictReject:
		code, reason := rejectCode(c.dec.Reason)
		c.refuse(code, reason)
		return false
	}
	return true
}

// rejectCode maps a routing refusal to its SIP answer.
func rejectCode(r routing.RejectReason) (int, string) {
	switch r {
	case routing.RejectLoop:
		return 482, "Loop Detected"
	case routing.RejectInvalid:
		return 484, "Address Incomplete"
	default:
		return 404, "Not Found"
	}
}

// bindCaller opens the caller's RTP leg with its SDP.
func (c *call) bindCaller() bool {
	err := c.caller.bind(media.LegConfig{Timeout: c.s.cfg.MediaTimeout, HoldTimeout: true,
		OnTimeout: func() { c.end(errMediaTimeout) }})
	if err != nil {
		c.log.Warn().Err(err).Msg("caller leg")
		if errors.Is(err, media.ErrNoPorts) {
			c.refuse(503, "Service Unavailable", retryAfter(5*time.Second))
		} else {
			c.refuse(488, "Not Acceptable Here", sip.NewHeader("Warning", `304 PhoneDiversions "`+err.Error()+`"`))
		}
		return false
	}
	return true
}

// announce answers the caller (or opens early media) and plays the
// announcement. To an answered caller it plays with no goroutine waiting
// for it: announce returns true, and afterAnnouncement takes the call
// on from the announcement's end (or the call's, which stops it). Early
// media keeps the handler (the INVITE transaction lives as long as it
// does) and is followed here; false then, and the call is over or
// connected when announce returns.
func (c *call) announce() (goesOn bool) {
	var err error
	if c.s.cfg.EarlyMedia && !c.caller.delayed {
		err = c.caller.progress()
	} else {
		err = c.answerCaller()
	}
	if err != nil {
		c.log.Info().Err(err).Msg("caller not answered")
		c.status = c.callerGoneStatus()
		return false
	}
	st := c.s.media.Play(c.caller.leg(), c.prompt(), false)
	if c.caller.early {
		select {
		case <-st.Done():
		case <-c.ctx.Done():
			st.Stop()
		}
		c.afterAnnouncement()
		return false
	}
	stop := context.AfterFunc(c.ctx, st.Stop)
	st.AfterDone(func() {
		stop()
		c.afterAnnouncement()
		c.finish()
		c.over()
	})
	return true
}

// afterAnnouncement takes the call on once the announcement has ended:
// the caller left meanwhile, or the call is hung up, or connected to the
// initial number while the caller hears ringback.
func (c *call) afterAnnouncement() {
	if c.ctx.Err() != nil {
		c.status = c.callerGoneStatus()
		return
	}
	if c.dec.Verdict == routing.VerdictAnnounceThenHangup {
		c.status = routing.StatusTerminated
		return
	}
	ring := c.s.media.Play(c.caller.leg(), c.s.ringback[ringIndex(c.caller.leg().Format().Codec)], true)
	c.connect("", ring)
}

// bridgeAtOnce connects the caller without announcement: the caller is
// answered only when the far party answers, and hears its progress.
func (c *call) bridgeAtOnce() {
	divertedFrom := ""
	if c.dec.Verdict == routing.VerdictDivert {
		divertedFrom = c.dec.DivertedFrom
	}
	c.connect(divertedFrom, nil)
}

// answerCaller answers the caller and starts the session timer.
func (c *call) answerCaller() error {
	err := c.caller.answer(c.ctx.Done(), func() error { return context.Cause(c.ctx) })
	if err != nil {
		return err
	}
	if t := c.caller.timer; t != nil {
		t.start(func() { c.end(errSessionExpired) }, func() {
			if err := c.caller.sendRefresh(); err != nil {
				c.log.Info().Err(err).Msg("session refresh refused")
				c.end(errSessionExpired)
				return
			}
			t.again()
		})
	}
	return nil
}

// prompt returns the frames of the decided announcement in the caller's
// codec, falling back to the built-in one when it cannot be had.
func (c *call) prompt() [][]byte {
	p, err := c.s.prompts.Get(c.dec.AnnouncementID)
	if err != nil {
		c.log.Warn().Err(err).Int64("announcement", c.dec.AnnouncementID).Msg("announcement missing: playing the built-in one")
		p = c.s.prompts.Builtin()
	}
	return p.Frames(c.caller.leg().Format().Codec)
}

func ringIndex(codec audio.Codec) int {
	if codec == audio.PCMA {
		return 1
	}
	return 0
}

// callerGoneStatus is the report status when the caller leaves first.
func (c *call) callerGoneStatus() routing.Status {
	if c.caller.answered {
		return routing.StatusTerminated
	}
	return routing.StatusCancelled
}

// connect places the far leg to the decided target and, once the far
// party answers, stops the ringback (when one plays), answers the caller
// if that is not done yet and relays the two legs until the call ends.
func (c *call) connect(divertedFrom string, ringback *media.Stream) {
	c.far = &farLeg{s: c.s, log: &c.log, target: c.dec.Target, transport: c.s.cfg.NextHopTransport}
	fail := c.far.dial(c.ctx, farRequest{target: c.dec.Target, who: c.who, hops: c.caller.req.MaxForwards(),
		divertedFrom: divertedFrom, history: c.red.Diversions, prefer: c.caller.leg().Format().Codec}, c.onFarProgress)
	if ringback != nil {
		ringback.Stop()
	}
	if fail != nil {
		c.farFailed(fail.code)
		return
	}
	c.s.dialogs.register(c.far.dlg.ID, c, true)
	if !c.caller.answered {
		if err := c.answerCaller(); err != nil {
			c.status = c.callerGoneStatus()
			return
		}
	}
	c.talk()
}

// onFarProgress passes the far leg's progress to a caller not yet
// answered: 180 as 180; 183 with SDP as early media when the caller made
// an offer (the relay starts before the answer).
func (c *call) onFarProgress(res *sip.Response) {
	if c.caller.answered || c.caller.early || c.dec.Verdict == routing.VerdictAnnounceThenBridge {
		return // an answered caller hears our ringback
	}
	if res.StatusCode == 183 && !c.caller.delayed && c.far.takeEarlyMedia(res) {
		c.bridge = c.s.media.Bridge(c.caller.leg(), c.far.media.leg)
		if err := c.caller.progress(); err != nil {
			c.log.Debug().Err(err).Msg("183 to the caller")
		}
		return
	}
	c.caller.ring()
}

// farFailed ends the call after the far leg failed with code (0: the
// call itself ended first).
func (c *call) farFailed(code int) {
	if code == 0 {
		if c.status == "" {
			c.status = c.callerGoneStatus()
		}
		return
	}
	c.status = failureStatus(code)
	if c.caller.answered {
		return // finish sends BYE
	}
	c.caller.refuse(callerFailure(code))
}

// hangUpReason is the Reason header (RFC 3326) of the product's BYE to
// the caller: why it ends the call, as a Q.850 cause, which a PBX maps to
// what the caller's phone shows, with the product's words.
func (c *call) hangUpReason() string {
	switch c.status {
	case routing.StatusBusy:
		return `Q.850;cause=17;text="the far party is busy"`
	case routing.StatusNoAnswer:
		return `Q.850;cause=19;text="the far party did not answer"`
	case routing.StatusFailed:
		return `Q.850;cause=41;text="the call could not be connected"`
	case routing.StatusTerminated:
		return `Q.850;cause=16;text="announcement played"`
	}
	return `Q.850;cause=16`
}

// failureStatus is the report status of a far leg's final failure.
func failureStatus(code int) routing.Status {
	switch code {
	case 486, 600:
		return routing.StatusBusy
	case 408, 480, 487:
		return routing.StatusNoAnswer
	default:
		return routing.StatusFailed
	}
}

// talk relays the two legs until one party hangs up or the call ends.
func (c *call) talk() {
	if c.bridge == nil {
		c.bridge = c.s.media.Bridge(c.caller.leg(), c.far.media.leg)
	}
	c.far.media.leg.ReleaseTimeout() // answered: from now on the far party sends RTP
	c.status = c.dec.Status
	if c.status == routing.StatusTerminated || c.status == "" {
		c.status = routing.StatusConnected
	}
	select {
	case <-c.ctx.Done():
	case <-c.far.dlg.Context().Done():
		c.end(errFarGone)
	}
}

// finish hangs up whatever is still up, releases the legs and writes the
// report entry and the log line.
func (c *call) finish() {
	cause := context.Cause(c.ctx)
	if c.ctx.Err() == nil {
		c.cancel(nil)
	}
	if c.far != nil {
		if !errors.Is(cause, errFarGone) {
			c.far.hangUp()
		}
		if c.far.dlg != nil {
			c.s.dialogs.unregister(c.far.dlg.ID)
		}
	}
	switch {
	case c.caller.answered && (c.caller.unacked || !errors.Is(cause, errCallerGone)):
		// An unacknowledged 200 ends the INVITE transaction at its Timer L,
		// which the stack takes for the caller gone: it is not.
		c.caller.hangUp(c.hangUpReason())
	case c.caller.early && !c.caller.answered && !errors.Is(cause, errCallerGone) && c.status != routing.StatusBusy &&
		c.status != routing.StatusNoAnswer && c.status != routing.StatusFailed:
		// An early-media announcement followed by hang-up: end the unanswered call.
		c.caller.refuse(480, "Temporarily Unavailable")
	}
	var quality [2]media.Quality
	quality[0] = c.caller.leg().Quality()
	if c.far != nil {
		if c.far.media != nil {
			quality[1] = c.far.media.leg.Quality()
		}
		c.far.close()
	}
	c.caller.close()
	if c.status == "" {
		c.status = routing.StatusFailed
	}
	c.report(cause, quality)
}

// The requests of the call's dialogs, from the SIP stack's goroutines.

func (c *call) onAck(req *sip.Request, tx sip.ServerTransaction, far bool) {
	if far {
		c.far.onAck(req)
		return
	}
	c.caller.onAck(req, tx)
}

func (c *call) onBye(req *sip.Request, tx sip.ServerTransaction, far bool) {
	if far {
		c.far.onBye(req, tx)
		c.end(errFarGone)
		return
	}
	c.caller.onBye(req, tx)
	c.end(errCallerGone)
}

func (c *call) onRefresh(req *sip.Request, tx sip.ServerTransaction, far bool) {
	if far {
		c.far.onRefresh(req, tx)
		return
	}
	c.caller.onRefresh(req, tx)
}

// The call's report entry and log line.

// report writes the call's report entry and log line: the outcome, and
// the quality of each leg's media as received and as its peer reported
// ours (RTCP).
func (c *call) report(cause error, quality [2]media.Quality) {
	receiver := c.red.Initial
	if receiver == "" {
		receiver = c.called
	}
	detail := c.dec.Verdict.String()
	if q := qualityText(quality); q != "" {
		detail += "; " + q
	}
	ctx, cancel := bounded()
	defer cancel()
	c.s.stats.countEnded(c.status)
	err := c.s.router.RecordCall(ctx, routing.ReportEntry{Status: c.status, Caller: c.who.Number,
		Receiver: receiver, Group: c.dec.Group, GroupID: c.dec.GroupID, Detail: detail})
	ev := c.log.Info()
	switch {
	case errors.Is(err, routing.ErrReportKept):
		ev = c.log.Warn().AnErr("report_error", err)
	case err != nil:
		ev = c.log.Error().AnErr("report_error", err)
	}
	if cause != nil {
		ev = ev.Str("cause", cause.Error())
	}
	for i, name := range [2]string{"caller", "far"} {
		q := quality[i]
		if q.Received == 0 && q.Reports == 0 {
			continue
		}
		ev = ev.Dict(name+"_media", zerologDict().Uint32("received", q.Received).Int64("lost", q.Lost).
			Dur("jitter", q.Jitter).Dur("rtt", q.RTT).Int32("peer_lost", q.PeerLost).Dur("peer_jitter", q.PeerJitter))
	}
	if c.bridge != nil {
		if ab, ba := c.bridge.DTMFDropped(); ab+ba > 0 {
			ev = ev.Uint64("dtmf_dropped_to_far", ab).Uint64("dtmf_dropped_to_caller", ba)
		}
	}
	ev.Str("verdict", c.dec.Verdict.String()).Str("outcome", string(c.status)).Str("target", c.dec.Target).
		Dur("duration", time.Since(c.start)).Msg("call ended")
}

// qualityText sums up the legs' media quality for the report entry:
// packets lost, jitter and round trip of each leg that carried media.
func qualityText(quality [2]media.Quality) string {
	var parts []string
	for i, name := range [2]string{"caller", "far"} {
		q := quality[i]
		if q.Received == 0 {
			continue
		}
		p := fmt.Sprintf("%s: %d lost of %d, jitter %.1f ms", name, max(q.Lost, 0), q.Received+uint32(max(q.Lost, 0)),
			float64(q.Jitter)/float64(time.Millisecond))
		if q.RTT > 0 {
			p += fmt.Sprintf(", rtt %.1f ms", float64(q.RTT)/float64(time.Millisecond))
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "; ")
}
