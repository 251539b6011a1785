package sip

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/phonediversions/phonediversions/media"
	"github.com/phonediversions/phonediversions/routing"
	"github.com/phonediversions/phonediversions/sip/sdp"
)

// Why a call ended, as its context's cause.
var (
	errCallerGone   = errors.New("the caller hung up")
	errFarGone      = errors.New("the far party hung up")
	errMediaTimeout = errors.New("no media from a party")
	errShutdown     = errors.New("the server is stopping")
)

// rejection is an INVITE refused before a call starts.
type rejection struct {
	code    int
	reason  string
	headers []sip.Header
}

// onInvite takes every INVITE: a re-INVITE goes to its call, a new INVITE
// is checked and becomes a call whose handler lives as long as the call
// (sipgo ends the transaction when the handler returns).
func (s *Server) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if to := req.To(); to != nil && to.Params.Has("tag") {
		s.inDialog(req, tx, func(d dialogRef) { d.c.onRefresh(req, tx, d.far) })
		return
	}
	s.respond(tx, req, 100, "Trying")
	if rej := s.admit(req); rej != nil {
		s.stats.Rejected.Add(1)
		s.respond(tx, req, rej.code, rej.reason, rej.headers...)
		return
	}
	s.active.Add(1)
	s.wg.Add(1)
	defer func() {
		s.active.Add(-1)
		s.wg.Done()
	}()
	s.stats.Calls.Add(1)
	c := newCall(s, req)
	s.mu.Lock()
	s.calls[c] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.calls, c)
		s.mu.Unlock()
	}()
	c.run(tx)
}

// admit applies the checks every new INVITE passes before routing: a
// trusted source, a sane request, Max-Forwards, the loop mark, capacity.
func (s *Server) admit(req *sip.Request) *rejection {
	log := s.log.With().Str("call_id", callID(req)).Str("source", req.Source()).Logger()
	if !s.trusted(req) {
		log.Warn().Msg("INVITE from an untrusted address refused")
		return &rejection{code: 403, reason: "Forbidden"}
	}
	if rej := invalid(req); rej != nil {
		return rej
	}
	if req.Contact() == nil {
		return &rejection{code: 400, reason: "Bad Request: Contact is required"}
	}
	if req.GetHeader(LoopHeader) != nil {
		log.Info().Msg("our own outbound call came back: loop refused")
		return &rejection{code: 482, reason: "Loop Detected"}
	}
	retry := retryAfter(5 * time.Second)
	if s.draining.Load() {
		return &rejection{code: 503, reason: "Service Unavailable", headers: []sip.Header{retry}}
	}
	if s.ActiveCalls() >= s.cfg.MaxCalls {
		log.Warn().Int("limit", s.cfg.MaxCalls).Msg("call limit reached")
		return &rejection{code: 503, reason: "Service Unavailable", headers: []sip.Header{retry}}
	}
	return nil
}

func callID(req *sip.Request) string {
	if id := req.CallID(); id != nil {
		return id.Value()
	}
	return ""
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

// failureStatus is the report status of an outbound leg's final failure.
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

// codecOf turns an SDP payload type into the media codec.
func codecOf(pt uint8) media.Codec {
	if pt == sdp.PCMA {
		return media.PCMA
	}
	return media.PCMU
}

// preferring returns PCMU and PCMA with first in front.
func preferring(first media.Codec) []uint8 {
	if first == media.PCMA {
		return []uint8{sdp.PCMA, sdp.PCMU}
	}
	return []uint8{sdp.PCMU, sdp.PCMA}
}

// byeTimeout bounds the wait for the answer to our BYE.
const byeTimeout = 5 * time.Second

func retryAfter(d time.Duration) sip.Header {
	return sip.NewHeader("Retry-After", strconv.Itoa(int(d.Seconds())))
}

// bounded returns a context for cleanup work that must finish even when
// the call's own context has ended.
func bounded() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), byeTimeout)
}
