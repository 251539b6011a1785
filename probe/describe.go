package probe

import (
	"fmt"
	"strings"
	"time"
)

// Text tells what happened in a person's words, a line a fact.
func (r *Result) Text() string {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line("Call to %s", r.Target)
	switch r.Path {
	case Refused:
		line("Refused: %d %s, after %s.", r.Code, r.Reason, secs(r.Setup))
	case Unanswered:
		line("Not answered: %s.", r.Failure)
	case Silent:
		line("Answered (%d %s) after %s, but no audio came in %s.", r.Code, r.Reason, secs(r.Setup), r.HungUpBy)
	case Connected:
		line("Connected without an announcement (a direct-access caller, or a line the product passes on): it rang, then was answered after %s.", secs(r.Setup))
	case AnnouncementThenHangUp, AnnouncementThenConnect:
		line("Answered after %s; the caller heard an announcement of %s at %.1f dBFS.", secs(r.Setup), secs(r.Announcement.Duration), r.Announcement.Level)
		switch {
		case r.Path == AnnouncementThenHangUp:
			line("Then the product hung up: announcement then hang-up.")
		case r.FarParty == "answered":
			line("Then the product connected the call: %s of ringback, and the far party answered (%s heard of it).", secs(r.Ringback), secs(r.Talk))
		case r.FarParty == "did not answer":
			line("Then the product tried to connect the call: %s of ringback, the far party did not answer and the product hung up.", secs(r.Ringback))
		case r.FarParty == "busy":
			line("Then the product tried to connect the call: the far party was busy and the product hung up.")
		case r.FarParty == "could not be reached":
			line("Then the product tried to connect the call, but the far party could not be reached (the PBX refused or did not answer the product's call); the product hung up.")
		default:
			line("Then the product tried to connect the call: still ringing after %s when the probe hung up.", secs(r.Ringback))
		}
	}
	if r.Codec != "" {
		line("Audio: %s. Received %d packets, %d lost, jitter %s; sent %d, the product reported %d lost, jitter %s; round trip %s.",
			r.Codec, r.Received.Packets, r.Received.Lost, ms(r.Received.Jitter), r.Sent.Packets, r.Sent.Lost, ms(r.Sent.Jitter), rtt(r.RTT))
	}
	switch {
	case r.HangUpReason != "":
		line("Hung up by the %s (Reason: %s).", r.HungUpBy, r.HangUpReason)
	case r.HungUpBy != "":
		line("Hung up by the %s.", r.HungUpBy)
	}
	if r.Failure != "" && r.Path != Unanswered {
		line("Note: %s.", r.Failure)
	}
	return b.String()
}

func secs(s Seconds) string {
	if time.Duration(s) < time.Second {
		return ms(s)
	}
	return fmt.Sprintf("%.2f s", time.Duration(s).Seconds())
}
func ms(s Seconds) string {
	return fmt.Sprintf("%.1f ms", float64(time.Duration(s))/float64(time.Millisecond))
}

func rtt(s Seconds) string {
	if s == 0 {
		return "not measured (no report came back)"
	}
	return fmt.Sprintf("%.2f ms", float64(time.Duration(s))/float64(time.Millisecond))
}
