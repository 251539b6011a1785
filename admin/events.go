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

func (s *Server) eventData(ev routing.Event) EventData {
	d := EventData{Seq: ev.Seq, Time: ev.Time.In(s.cfg.Location).Format(time.RFC3339Nano),
		Action: string(ev.Action), Status: string(ev.Status), GroupID: ev.GroupID, Group: ev.Group,
		Receiver: ev.Receiver, Username: ev.Username, Channel: string(ev.Channel), Detail: ev.Detail}
	if ev.Action == routing.ActionDiversion {
		d.State = routing.StateName(ev.Status == routing.StatusActivated)
	}
	return d
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
func (s *Server) webEvents(w http.ResponseWriter, r *http.Request, _ *webUser) { s.serveEvents(w, r) }

// serveEvents streams committed changes as server-sent events: "change"
// events with EventData, and "resync" when the follower may have missed
// some (it fell behind, or reconnected after events it did not see) and
// must read the state again.
func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request) {
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
			data, _ := json.Marshal(s.eventData(ev)) // plain strings and numbers
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
