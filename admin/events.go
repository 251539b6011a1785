package admin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/phonediversions/phonediversions/routing"
)

// Event stream settings.
const (
	// eventBuffer is how many events a follower may be behind before it
	// is told to resynchronize.
	eventBuffer = 256
	// keepAlive is how often an idle stream sends a comment, so that
	// proxies and the follower know it is alive.
	keepAlive = 15 * time.Second
	// eventWriteTimeout bounds each write to a follower.
	eventWriteTimeout = 10 * time.Second
	// retryMillis is the reconnection delay the stream asks for.
	retryMillis = 1000
)

// EventData is the JSON of a change event on the stream: the report
// entry of the change, and for a switch the group's new state.
type EventData struct {
	Seq      uint64 `json:"Seq"`
	Time     string `json:"Time"`
	Action   string `json:"Action"`
	Status   string `json:"Status"`
	GroupID  int64  `json:"GroupID,omitempty"`
	Group    string `json:"Group,omitempty"`
	State    string `json:"State,omitempty"`
	Receiver string `json:"Receiver,omitempty"`
	Username string `json:"Username"`
	Channel  string `json:"Channel"`
	Detail   string `json:"Detail,omitempty"`
}

// eventData is the event as a follower with privs receives it: the
// username and detail of a change other than a switch are the report's,
// for those who may read the report.
func (s *Server) eventData(ev routing.Event, privs routing.Privileges) EventData {
	if !privs.Has(routing.PrivReports) && ev.Action != routing.ActionDiversion {
		ev.Username, ev.Detail = "", ""
	} else if !privs.Has(routing.PrivReports) {
		ev.Detail = ""
	}
	d := EventData{Seq: ev.Seq, Time: ev.Time.In(s.cfg.Location).Format(time.RFC3339Nano),
		Action: string(ev.Action), Status: string(ev.Status), GroupID: ev.GroupID, Group: ev.Group,
		Receiver: ev.Receiver, Username: ev.Username, Channel: string(ev.Channel), Detail: ev.Detail}
	if ev.Action == routing.ActionDiversion {
		d.State = routing.StateName(ev.Status == routing.StatusActivated)
	}
	return d
}

// eventVisible reports whether a follower with privs receives the event:
// only what its privileges let it read elsewhere. Switches and changes of
// groups reach the State and Groups tabs, lines the Groups tab, settings
// (schedules, holidays, the call handler, the phone service key) the tabs
// they change, announcements the Call Handler tab, users administrators,
// and handled calls the Reports tab, which may read every entry.
func eventVisible(privs routing.Privileges, ev routing.Event) bool {
	if privs.Has(routing.PrivReports) {
		return true
	}
	switch ev.Action {
	case routing.ActionDiversion, routing.ActionGroup:
		return privs.Has(routing.PrivState) || privs.Has(routing.PrivGroups)
	case routing.ActionLine:
		return privs.Has(routing.PrivGroups)
	case routing.ActionSettings:
		return privs.Has(routing.PrivState) || privs.Has(routing.PrivGroups) || privs.Has(routing.PrivCallHandler)
	case routing.ActionAnnouncement:
		return privs.Has(routing.PrivCallHandler)
	case routing.ActionUser:
		return privs.Has(routing.PrivAdmin)
	}
	return false // calls, and actions to come: the Reports tab's
}

// eventID is the SSE id of an event: this process's epoch and the
// sequence number, so that a follower reconnecting to another process (or
// after a restart) is told to resynchronize.
func (s *Server) eventID(seq uint64) string { return s.epoch + "-" + strconv.FormatUint(seq, 10) }

// lastSeen reads the Last-Event-ID a reconnecting follower sends: the
// sequence number when it is one of this process's ids.
func (s *Server) lastSeen(r *http.Request) (uint64, bool) {
	id := r.Header.Get("Last-Event-ID")
	epoch, seq, ok := strings.Cut(id, "-")
	if !ok || epoch != s.epoch {
		return 0, false
	}
	n, err := strconv.ParseUint(seq, 10, 64)
	return n, err == nil
}

// webEvents is the change feed of the web page.
func (s *Server) webEvents(w http.ResponseWriter, r *http.Request, u *webUser) {
	s.serveEvents(w, r, u.Privileges)
}

// serveEvents streams to a follower with privs the committed changes it
// may see, as server-sent events: "change" events with EventData (of a
// change it may not see, the id alone), and "resync" when the follower
// may have missed some (it fell behind, or reconnected after events it did
// not see) and must read the state again.
func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request, privs routing.Privileges) {
	rc := http.NewResponseController(w)
	feed := s.svc.Events()
	sub := feed.Subscribe(eventBuffer)
	defer func() { sub.Close() }()
	seen := feed.Seq()
	resync := true
	if last, ok := s.lastSeen(r); ok && last == seen {
		resync = false
	} else if r.Header.Get("Last-Event-ID") == "" {
		resync = false // a new follower reads the state itself
	}

	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	write := func(format string, args ...any) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(eventWriteTimeout))
		if _, err := fmt.Fprintf(w, format, args...); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write("retry: %d\nid: %s\n: following changes\n\n", retryMillis, s.eventID(seen)) {
		return
	}
	if resync && !write("id: %s\nevent: resync\ndata: {\"Seq\":%d}\n\n", s.eventID(seen), seen) {
		return
	}
	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	for {
		select {
		case ev, ok := <-sub.C():
			if !ok {
				// Fell behind: follow anew and tell the follower to read
				// the state again.
				sub = feed.Subscribe(eventBuffer)
				seen = feed.Seq()
				if !write("id: %s\nevent: resync\ndata: {\"Seq\":%d}\n\n", s.eventID(seen), seen) {
					return
				}
				continue
			}
			if ev.Seq <= seen {
				continue // published between subscribing and reading Seq
			}
			seen = ev.Seq
			if !eventVisible(privs, ev) {
				// The id alone: the follower's Last-Event-ID stays current
				// (a reconnection needs no resync), and no event fires.
				if !write("id: %s\n\n", s.eventID(ev.Seq)) {
					return
				}
				continue
			}
			data, _ := json.Marshal(s.eventData(ev, privs)) // plain strings and numbers
			if !write("id: %s\nevent: change\ndata: %s\n\n", s.eventID(ev.Seq), data) {
				return
			}
		case <-tick.C:
			if !write(": keep-alive\n\n") {
				return
			}
		case <-r.Context().Done():
			return
		case <-s.stop:
			return
		}
	}
}
