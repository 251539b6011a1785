package sip

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/phonediversions/phonediversions/media"
	"github.com/phonediversions/phonediversions/routing"
)

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
