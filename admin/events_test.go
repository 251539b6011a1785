package admin_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/phonediversions/phonediversions/admin"
	"github.com/phonediversions/phonediversions/routing"
)

// sse is one server-sent event.
type sse struct {
	id, event, data string
}

// stream follows /Rest/events over a real connection.
type stream struct {
	resp   *http.Response
	events chan sse
}

// follow connects to the event stream and returns once the server has
// subscribed (its first comment arrived).
func (f *fixture) follow(c *http.Client, headers ...string) *stream {
	f.t.Helper()
	req, err := http.NewRequest("GET", f.base+"/Rest/events", nil)
	if err != nil {
		f.t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	c.Timeout = 0
	resp, err := c.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		f.t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	s := &stream{resp: resp, events: make(chan sse, 100)}
	ready := make(chan struct{})
	go func() {
		defer close(s.events)
		sc := bufio.NewScanner(resp.Body)
		var cur sse
		first := true
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if first {
					close(ready)
				}
				if cur.event != "" || (cur.id != "" && !first) {
					s.events <- cur // an id alone marks an event not shown
				}
				first = false
				cur = sse{}
			case strings.HasPrefix(line, "id: "):
				cur.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				cur.event = line[7:]
			case strings.HasPrefix(line, "data: "):
				cur.data = line[6:]
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(5 * time.Second):
		f.t.Fatal("the event stream did not start")
	}
	return s
}

func (s *stream) next(t *testing.T) sse {
	t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			t.Fatal("the stream ended")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5 s")
	}
	return sse{}
}

// TestEventStreamFollowsEveryChannel switches a group through REST, the
// phone service and the service layer, and receives the three changes in
// commit order.
func TestEventStreamFollowsEveryChannel(t *testing.T) {
	f := newFixture(t)
	g := f.group("Front Desk", "1022", "")
	id := strconv.FormatInt(g.ID, 10)
	phone := f.phoneURL(g.ID, "SEP0A0B0C0D0E0F")
	s := f.follow(client("127.0.0.1"))
	if r := f.post("/Rest/toggleDiversion", url.Values{"groupId": {id}}); r.status != 200 {
		t.Fatal(r.body)
	}
	if r := f.get(phone); r.status != 200 {
		t.Fatal(r.body)
	}
	if _, err := f.svc.Toggle(ctx, g.ID, routing.Actor{Name: "tfarrow"}, routing.ChannelWeb); err != nil {
		t.Fatal(err)
	}
	want := []admin.EventData{
		{Action: "Diversion", Status: "Activated", State: "ON", Channel: "rest", Username: "localhost"},
		{Action: "Diversion", Status: "Deactivated", State: "OFF", Channel: "phone", Username: "phone SEP0A0B0C0D0E0F"},
		{Action: "Diversion", Status: "Activated", State: "ON", Channel: "web", Username: "tfarrow"},
	}
	var lastSeq uint64
	for i, w := range want {
		ev := s.next(t)
		if ev.event != "change" {
			t.Fatalf("event %d is %q", i, ev.event)
		}
		var d admin.EventData
		if err := json.Unmarshal([]byte(ev.data), &d); err != nil {
			t.Fatal(err)
		}
		if d.Action != w.Action || d.Status != w.Status || d.State != w.State || d.Channel != w.Channel ||
			d.Username != w.Username || d.GroupID != g.ID || d.Group != "Front Desk" {
			t.Errorf("event %d: %+v, want %+v", i, d, w)
		}
		if d.Seq <= lastSeq || !strings.HasSuffix(ev.id, "-"+strconv.FormatUint(d.Seq, 10)) {
			t.Errorf("event %d: seq %d id %q after %d", i, d.Seq, ev.id, lastSeq)
		}
		lastSeq = d.Seq
	}
}

// TestEventStreamResync reconnects with the id of the last event seen:
// nothing missed means no resync; events missed, or an id of another
// process, mean a resync event first.
func TestEventStreamResync(t *testing.T) {
	f := newFixture(t)
	g := f.group("Front Desk", "1022", "")
	s := f.follow(client("127.0.0.1"))
	f.svc.Toggle(ctx, g.ID, admin0, routing.ChannelWeb)
	ev := s.next(t)
	s.resp.Body.Close()

	// Reconnect having seen everything: the next event is the next change.
	s = f.follow(client("127.0.0.1"), "Last-Event-ID", ev.id)
	f.svc.Toggle(ctx, g.ID, admin0, routing.ChannelWeb)
	if next := s.next(t); next.event != "change" {
		t.Errorf("after a clean reconnect: %q", next.event)
	}
	s.resp.Body.Close()

	// Reconnect having missed a change: resync first.
	f.svc.Toggle(ctx, g.ID, admin0, routing.ChannelWeb)
	s = f.follow(client("127.0.0.1"), "Last-Event-ID", ev.id)
	if next := s.next(t); next.event != "resync" {
		t.Errorf("after missing a change: %q", next.event)
	}
	s.resp.Body.Close()

	// An id of another process (a restart) means resync too.
	s = f.follow(client("127.0.0.1"), "Last-Event-ID", "zzzzzzzz-1")
	if next := s.next(t); next.event != "resync" {
		t.Errorf("after a restart: %q", next.event)
	}
}

// TestEventStreamIsAuthorizedLikeREST refuses a follower from another
// address without credentials.
func TestEventStreamIsAuthorizedLikeREST(t *testing.T) {
	f := newFixture(t)
	r := f.do(client("127.0.0.2"), "GET", "/Rest/events", nil)
	if r.status != 401 || r.header.Get("WWW-Authenticate") != challenge {
		t.Errorf("unauthenticated follower: %d %q", r.status, r.header.Get("WWW-Authenticate"))
	}
	if r := f.post("/Rest/events", nil); r.status != 405 || r.header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST to the stream: %d Allow %q", r.status, r.header.Get("Allow"))
	}
}

// TestEventStreamOutlivesReadTimeout follows the stream for longer than
// the server's read timeout: it goes on.
func TestEventStreamOutlivesReadTimeout(t *testing.T) {
	f := newFixture(t, func(f *fixture) { f.cfg.ReadTimeout = 200 * time.Millisecond })
	g := f.group("Front Desk", "1022", "")
	s := f.follow(client("127.0.0.1"))
	time.Sleep(600 * time.Millisecond)
	f.svc.Toggle(ctx, g.ID, admin0, routing.ChannelWeb)
	if ev := s.next(t); ev.event != "change" {
		t.Errorf("after the read timeout: %q", ev.event)
	}
}
