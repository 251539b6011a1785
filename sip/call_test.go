package sip

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"
	"github.com/rs/zerolog"
	"github.com/zaf/g711"

	"github.com/phonediversions/phonediversions/audio"
	"github.com/phonediversions/phonediversions/media"
	"github.com/phonediversions/phonediversions/prompts"
	"github.com/phonediversions/phonediversions/routing"
	"github.com/phonediversions/phonediversions/routing/sqlite"
	"github.com/phonediversions/phonediversions/sip/sdp"
)

var admin = routing.Actor{Name: "admin"}

// fixture is the product's call handler on loopback with a real store,
// a real announcement, a real media engine, and a far party (the PBX that
// outbound legs reach) played by a sipgo phone.
type fixture struct {
	t         *testing.T
	db        routing.Store
	svc       *routing.Service
	lib       *prompts.Library
	srv       *Server
	far       *phone
	annFrames int // 20 ms packets of the announcement, from the WAV file's duration
	sales     routing.Group
	logs      *logBuffer
}

// logBuffer keeps the call handler's log lines for a test to read.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// framesOf returns how many 20 ms packets play a WAV file: its duration
// (the data chunk's bytes over the format's bytes a second, read here
// from the file's chunks), rounded up to whole packets.
func framesOf(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		t.Fatalf("%s: not a WAV file", path)
	}
	var perSecond, data int
	for i := 12; i+8 <= len(b); {
		id, size := string(b[i:i+4]), int(binary.LittleEndian.Uint32(b[i+4:i+8]))
		switch id {
		case "fmt ":
			perSecond = int(binary.LittleEndian.Uint32(b[i+16 : i+20])) // average bytes a second
		case "data":
			data = size
		}
		i += 8 + size + size%2
	}
	if perSecond == 0 || data == 0 {
		t.Fatalf("%s: no format or no data", path)
	}
	duration := time.Duration(data) * time.Second / time.Duration(perSecond)
	return int((duration + 20*time.Millisecond - 1) / (20 * time.Millisecond))
}

// all returns every log line.
func (l *logBuffer) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.FieldsFunc(l.b.String(), func(r rune) bool { return r == '\n' })
}

// lines returns the log lines with the message.
func (l *logBuffer) lines(message string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range strings.Split(l.b.String(), "\n") {
		if strings.Contains(line, `"message":"`+message+`"`) {
			out = append(out, line)
		}
	}
	return out
}

func newFixture(t *testing.T, mod func(*Config)) *fixture {
	t.Helper()
	return newFixtureWith(t, mod, nil)
}

// newFixtureWith is newFixture with before, when not nil, called with the
// server before it listens.
func newFixtureWith(t *testing.T, mod func(*Config), before func(*Server)) *fixture {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	db := sqlite.New(filepath.Join(t.TempDir(), "pd.db"))
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	svc := routing.NewService(db, routing.WithPasswordCost(4))
	lib, err := prompts.New(svc, prompts.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, db: db, svc: svc, lib: lib}
	wav, err := os.Open(filepath.Join("..", "prompts", "testdata", "ulaw-8k.wav"))
	if err != nil {
		t.Fatal(err)
	}
	defer wav.Close()
	id, _, err := lib.Add(ctx, wav, func(d time.Duration, stored []byte) (int64, error) {
		a, err := svc.AddAnnouncement(ctx, admin, routing.ChannelWeb, routing.Announcement{Name: "short", Duration: d}, stored)
		return a.ID, err
	})
	if err != nil {
		t.Fatal(err)
	}
	f.annFrames = framesOf(t, filepath.Join("..", "prompts", "testdata", "ulaw-8k.wav"))
	on := true
	if _, err := svc.UpdateSettings(ctx, admin, routing.ChannelWeb, routing.SettingsUpdate{
		ConnectToCalled: &on, AnnouncementID: &id, DirectAccess: &[]string{"2001"}}); err != nil {
		t.Fatal(err)
	}
	f.sales = f.group("Sales", "5000", false, "1001", "1002")
	f.group("Night", "7000", true, "3001")
	f.group("Day", "7001", false, "3002")

	engine, err := media.New(media.Config{IP: netip.MustParseAddr("127.0.0.1"), PortMin: 50000, PortMax: 59998})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(engine.Close)
	f.far = newPhone(t, "far", audio.PCMU, 0x22)
	cfg := Config{ListenIP: netip.MustParseAddr("127.0.0.1"), Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		NextHop: hostPort(f.far.port), RingTimeout: 5 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	f.logs = &logBuffer{}
	var out io.Writer = f.logs
	if testing.Verbose() {
		out = zerolog.MultiLevelWriter(f.logs, zerolog.NewTestWriter(t))
	}
	// As the program's: its component named, at debug level.
	log := zerolog.New(out).Level(zerolog.DebugLevel).With().Str("component", "sip").Logger()
	if f.srv, err = New(cfg, svc, lib, engine, log); err != nil {
		t.Fatal(err)
	}
	if before != nil {
		before(f.srv)
	}
	if err := f.srv.Listen(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.srv.Close() })
	return f
}

func (f *fixture) group(name, dest string, on bool, lines ...string) routing.Group {
	f.t.Helper()
	ctx := context.Background()
	g, err := f.svc.CreateGroup(ctx, admin, routing.ChannelWeb, routing.Group{Name: name, Destination: dest, On: on})
	if err != nil {
		f.t.Fatal(err)
	}
	for _, l := range lines {
		if _, err := f.svc.AddLine(ctx, admin, routing.ChannelWeb, g.ID, l, ""); err != nil {
			f.t.Fatal(err)
		}
	}
	return g
}

// call has a PCMU phone with the number call the product at to, and
// returns the phone, its dialog and a context that ends with the test.
func (f *fixture) call(number, to string, headers ...sip.Header) (*phone, *sipgo.DialogClientSession, context.Context) {
	f.t.Helper()
	caller := newPhone(f.t, number, audio.PCMU, 0x11)
	ctx, cancel := context.WithCancel(context.Background())
	f.t.Cleanup(cancel)
	dlg, err := caller.invite(ctx, f.srv.UDPPort(), to, caller.sdp(), headers...)
	if err != nil {
		f.t.Fatal(err)
	}
	return caller, dlg, ctx
}

func (f *fixture) settings(up routing.SettingsUpdate) {
	f.t.Helper()
	if _, err := f.svc.UpdateSettings(context.Background(), admin, routing.ChannelWeb, up); err != nil {
		f.t.Fatal(err)
	}
}

// longAnnouncement makes a silent announcement of the given length the
// one callers hear.
func (f *fixture) longAnnouncement(length time.Duration) {
	f.t.Helper()
	var wav bytes.Buffer // silence, 8 kHz
	if err := prompts.WriteWAV(&wav, 8000, make([]int16, int(length.Seconds()*8000))); err != nil {
		f.t.Fatal(err)
	}
	ctx := context.Background()
	id, _, err := f.lib.Add(ctx, &wav, func(d time.Duration, stored []byte) (int64, error) {
		a, err := f.svc.AddAnnouncement(ctx, admin, routing.ChannelWeb, routing.Announcement{Name: "long", Duration: d}, stored)
		return a.ID, err
	})
	if err != nil {
		f.t.Fatal(err)
	}
	f.settings(routing.SettingsUpdate{AnnouncementID: &id})
}

// report waits for the report entry of the call and returns it.
func (f *fixture) report() routing.ReportEntry {
	f.t.Helper()
	var e routing.ReportEntry
	eventually(f.t, 10*time.Second, "report entry", func() bool {
		page, err := f.svc.Reports(context.Background(), routing.ReportFilter{Action: routing.ActionCallHandler})
		if err != nil || page.Total == 0 {
			return false
		}
		e = page.Entries[0]
		return true
	})
	eventually(f.t, 10*time.Second, "call cleaned up", func() bool { return f.srv.ActiveCalls() == 0 })
	return e
}

func diversion(number string) sip.Header {
	return sip.NewHeader("Diversion", "<sip:"+number+"@cucm.example>;reason=unconditional;privacy=off;screen=no")
}

// answered waits for the final answer to an INVITE and ACKs a 200,
// returning the product's SDP.
func answered(t *testing.T, dlg *sipgo.DialogClientSession, codes *[]int) sdp.Media {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err := dlg.WaitAnswer(ctx, sipgo.AnswerOptions{OnResponse: func(r *sip.Response) error {
		if codes != nil {
			*codes = append(*codes, r.StatusCode)
		}
		return nil
	}})
	if err != nil {
		t.Fatalf("INVITE not answered: %v", err)
	}
	m, err := sdp.Parse(dlg.InviteResponse.Body())
	if err != nil {
		t.Fatalf("answer SDP: %v", err)
	}
	if err := dlg.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	return m
}

// hangUp sends the caller's BYE and waits at most 5 s for its answer.
func hangUp(t *testing.T, ctx context.Context, dlg *sipgo.DialogClientSession) {
	t.Helper()
	bctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := dlg.Bye(bctx); err != nil {
		t.Fatal(err)
	}
}

// checkContinuous asserts one RTP stream as a phone checks it: one SSRC,
// sequence numbers without gaps, timestamps that never go back.
func checkContinuous(t *testing.T, pkts []rtp.Packet) {
	t.Helper()
	for i := 1; i < len(pkts); i++ {
		a, b := pkts[i-1].Header, pkts[i].Header
		if a.SSRC != b.SSRC || b.SequenceNumber != a.SequenceNumber+1 || int32(b.Timestamp-a.Timestamp) <= 0 {
			t.Fatalf("packet %d breaks the stream: %+v after %+v", i, b, a)
		}
	}
}

// heardAnnouncement waits until the caller has read the announcement's
// packets to its last frame (the packets were sent before the BYE; their
// reader may lag it) and checks what it heard: one unbroken stream whose
// RTP timestamps span the announcement's frames exactly. Frames the
// pacer skipped after a stall of a busy machine keep their timestamps
// and are not sent; at most a tenth of them may be missing.
func heardAnnouncement(t *testing.T, caller *phone, frames int) []rtp.Packet {
	t.Helper()
	span := func(pkts []rtp.Packet) int {
		return int(pkts[len(pkts)-1].Timestamp-pkts[0].Timestamp)/audio.FrameSamples + 1
	}
	eventually(t, 5*time.Second, "the announcement's last frame read", func() bool {
		pkts := caller.packets()
		return len(pkts) > 0 && span(pkts) >= frames
	})
	pkts := caller.packets()
	checkContinuous(t, pkts)
	if span(pkts) != frames || len(pkts) < frames-frames/10 {
		t.Fatalf("caller heard %d packets over %d frames, the announcement has %d frames", len(pkts), span(pkts), frames)
	}
	if len(pkts) < frames {
		t.Logf("%d of the announcement's %d frames not heard (skipped after a stall)", frames-len(pkts), frames)
	}
	return pkts
}

func TestAnnounceThenHangUp(t *testing.T) {
	f := newFixture(t, nil)
	off := false
	f.settings(routing.SettingsUpdate{ConnectToCalled: &off})
	caller, dlg, ctx := f.call("0791234567", "5000", diversion("1002"), diversion("1001"))
	m := answered(t, dlg, nil)
	caller.talk(ctx, m.Addr)
	bye := caller.waitBye(10 * time.Second)
	// The BYE says why (RFC 3326): normal clearing, the announcement played.
	if h := bye.GetHeader("Reason"); h == nil || h.Value() != `Q.850;cause=16;text="announcement played"` {
		t.Errorf("BYE with Reason %v", h)
	}
	// The BYE is of the caller's dialog (RFC 3261 12.2.1.1): its From is
	// the To of our 200 with our tag, its To the caller's From with the
	// caller's tag, the same Call-ID.
	ourTag, _ := dlg.InviteResponse.To().Params.Get("tag")
	callerTag, _ := dlg.InviteRequest.From().Params.Get("tag")
	fromTag, _ := bye.From().Params.Get("tag")
	toTag, _ := bye.To().Params.Get("tag")
	if ourTag == "" || fromTag != ourTag || toTag != callerTag || bye.CallID().Value() != dlg.InviteRequest.CallID().Value() {
		t.Errorf("BYE From tag %q To tag %q Call-ID %q, want %q, %q, %q", fromTag, toTag, bye.CallID().Value(),
			ourTag, callerTag, dlg.InviteRequest.CallID().Value())
	}
	pkts := heardAnnouncement(t, caller, f.annFrames)
	if !pkts[0].Marker || pkts[0].PayloadType != 0 {
		t.Fatalf("first packet %+v", pkts[0].Header)
	}
	e := f.report()
	if e.Status != routing.StatusTerminated || e.Caller != "0791234567" || e.Receiver != "1001" || e.Group != "Sales" {
		t.Fatalf("report %+v", e)
	}
	select {
	case in := <-f.far.invites:
		t.Fatalf("a far leg was placed: %s", in.req.StartLine())
	default:
	}
}

func TestAnnounceThenConnect(t *testing.T) {
	f := newFixture(t, nil)
	caller := newPhone(t, "0791234567", audio.PCMA, 0x11) // the far party speaks PCMU: the relay transcodes
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dlg, err := caller.invite(ctx, f.srv.UDPPort(), "5000", caller.sdp(), diversion("1001"))
	if err != nil {
		t.Fatal(err)
	}
	m := answered(t, dlg, nil)
	caller.talk(ctx, m.Addr)

	in := f.far.nextInvite(10 * time.Second)
	if in.req.Recipient.User != "1001" || in.req.From().Address.User != "0791234567" {
		t.Fatalf("outbound leg %s from %s", in.req.Recipient.String(), in.req.From().Address.String())
	}
	if in.req.GetHeader(LoopHeader) == nil || !strings.Contains(in.req.GetHeader("Diversion").Value(), "sip:1001@") {
		t.Fatalf("outbound leg lacks the loop mark or the Diversion:\n%s", in.req.String())
	}
	// The INVITE may overtake the last announcement packet or two still
	// on their way through loopback to the caller's reader.
	heardBefore := len(caller.packets())
	if heardBefore < f.annFrames-2 {
		t.Fatalf("far leg placed before the announcement ended (%d of %d packets)", heardBefore, f.annFrames)
	}
	time.Sleep(300 * time.Millisecond) // the caller hears ringback meanwhile
	f.far.answer(ctx, in)
	eventually(t, 5*time.Second, "caller hears the far party", func() bool { return caller.heardFrom(g711.Ulaw2AlawFrame(0x22)) > 20 })
	eventually(t, 5*time.Second, "far party hears the caller", func() bool { return f.far.heardFrom(g711.Alaw2UlawFrame(0x11)) > 20 })
	pkts := caller.packets()
	checkContinuous(t, pkts)
	if len(pkts) < f.annFrames+10 {
		t.Fatalf("no ringback: %d packets before the far party's audio", len(pkts))
	}
	// The caller hangs up: the far party gets BYE.
	byeCtx, byeCancel := context.WithTimeout(ctx, 5*time.Second)
	defer byeCancel()
	if err := dlg.Bye(byeCtx); err != nil {
		t.Fatal(err)
	}
	f.far.waitBye(5 * time.Second)
	if e := f.report(); e.Status != routing.StatusConnected || e.Receiver != "1001" {
		t.Fatalf("report %+v", e)
	}
}

func TestDirectAccess(t *testing.T) {
	f := newFixture(t, nil)
	caller, dlg, ctx := f.call("2001", "5000", diversion("1001"))
	in := f.far.nextInvite(5 * time.Second)
	f.far.answer(ctx, in)
	var codes []int
	m := answered(t, dlg, &codes)
	if !contains(codes, 180) {
		t.Fatalf("the far party's 180 was not relayed: %v", codes)
	}
	caller.talk(ctx, m.Addr)
	eventually(t, 5*time.Second, "caller hears the far party", func() bool { return caller.heardFrom(0x22) > 10 })
	for _, p := range caller.packets() {
		if p.Payload[0] != 0x22 {
			t.Fatal("a direct-access caller heard something else than the far party (announcement or ringback)")
		}
	}
	// The far party hangs up: the caller gets BYE.
	byeCtx, byeCancel := context.WithTimeout(ctx, 5*time.Second)
	defer byeCancel()
	if err := in.dlg.Bye(byeCtx); err != nil {
		t.Fatal(err)
	}
	caller.waitBye(5 * time.Second)
	if e := f.report(); e.Status != routing.StatusDirectAccess {
		t.Fatalf("report %+v", e)
	}
}

func contains(codes []int, c int) bool {
	for _, x := range codes {
		if x == c {
			return true
		}
	}
	return false
}

// finalCode waits for the final failure of an INVITE.
func finalCode(t *testing.T, dlg *sipgo.DialogClientSession) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err := dlg.WaitAnswer(ctx, sipgo.AnswerOptions{})
	var de *sipgo.ErrDialogResponse
	if !errors.As(err, &de) {
		t.Fatalf("want a failure response, got %v", err)
	}
	return de.Res.StatusCode
}

func TestFarLegFailures(t *testing.T) {
	tests := []struct {
		name     string
		caller   string
		far      func(in *incoming)
		wantCode int // to a direct-access caller, who was not answered
		status   routing.Status
		reason   string // of the BYE to a caller who was answered: a Q.850 cause (RFC 3326)
	}{
		{"busy", "2001", func(in *incoming) { in.dlg.Respond(486, "Busy Here", nil) }, 486, routing.StatusBusy, ""},
		{"declined", "2001", func(in *incoming) { in.dlg.Respond(603, "Decline", nil) }, 603, routing.StatusFailed, ""},
		{"server error", "2001", func(in *incoming) { in.dlg.Respond(500, "Server Internal Error", nil) }, 503, routing.StatusFailed, ""},
		{"redirect without Contact", "2001", func(in *incoming) { in.dlg.Respond(302, "Moved Temporarily", nil) }, 480, routing.StatusFailed, ""},
		{"challenge without credentials to give", "2001", func(in *incoming) { in.dlg.Respond(407, "Proxy Authentication Required", nil) }, 480, routing.StatusFailed, ""},
		{"481 of the next hop", "2001", func(in *incoming) { in.dlg.Respond(481, "Call/Transaction Does Not Exist", nil) }, 480, routing.StatusFailed, ""},
		{"491 of the next hop", "2001", func(in *incoming) { in.dlg.Respond(491, "Request Pending", nil) }, 480, routing.StatusFailed, ""},
		{"forbidden", "2001", func(in *incoming) { in.dlg.Respond(403, "Forbidden", nil) }, 603, routing.StatusFailed, ""},
		{"never answers", "2001", func(in *incoming) { in.dlg.Respond(180, "Ringing", nil) }, 480, routing.StatusNoAnswer, ""},
		{"busy after the announcement", "0791234567", func(in *incoming) { in.dlg.Respond(486, "Busy Here", nil) }, 0, routing.StatusBusy, "Q.850;cause=17;"},
		{"no answer after the announcement", "0791234567", func(in *incoming) { in.dlg.Respond(180, "Ringing", nil) }, 0, routing.StatusNoAnswer, "Q.850;cause=19;"},
		{"refused after the announcement", "0791234567", func(in *incoming) { in.dlg.Respond(403, "Forbidden", nil) }, 0, routing.StatusFailed, "Q.850;cause=41;"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, func(c *Config) { c.RingTimeout = 700 * time.Millisecond })
			caller := newPhone(t, tt.caller, audio.PCMU, 0x11)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			dlg, err := caller.invite(ctx, f.srv.UDPPort(), "5000", caller.sdp(), diversion("1001"))
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantCode == 0 {
				m := answered(t, dlg, nil)
				caller.talk(ctx, m.Addr)
			}
			in := f.far.nextInvite(10 * time.Second)
			tt.far(in)
			if tt.wantCode != 0 {
				if code := finalCode(t, dlg); code != tt.wantCode {
					t.Fatalf("caller got %d, want %d", code, tt.wantCode)
				}
			} else {
				bye := caller.waitBye(5 * time.Second)
				if h := bye.GetHeader("Reason"); h == nil || !strings.HasPrefix(h.Value(), tt.reason) {
					t.Errorf("BYE with Reason %v, want %s…", h, tt.reason)
				}
			}
			if tt.status == routing.StatusNoAnswer {
				eventually(t, 5*time.Second, "far leg cancelled", func() bool { return in.dlg.Context().Err() != nil })
			}
			if e := f.report(); e.Status != tt.status {
				t.Fatalf("report %+v, want %s", e, tt.status)
			}
		})
	}
}

func TestCancel(t *testing.T) {
	t.Run("while the far leg rings", func(t *testing.T) {
		f := newFixture(t, nil)
		caller := newPhone(t, "2001", audio.PCMU, 0x11)
		ctx, cancel := context.WithCancel(context.Background())
		dlg, err := caller.invite(ctx, f.srv.UDPPort(), "5000", caller.sdp(), diversion("1001"))
		if err != nil {
			t.Fatal(err)
		}
		in := f.far.nextInvite(5 * time.Second)
		in.dlg.Respond(180, "Ringing", nil)
		go func() {
			time.Sleep(200 * time.Millisecond)
			cancel()
		}()
		dlg.WaitAnswer(ctx, sipgo.AnswerOptions{})
		eventually(t, 10*time.Second, "far leg cancelled", func() bool { return in.dlg.Context().Err() != nil })
		if e := f.report(); e.Status != routing.StatusCancelled {
			t.Fatalf("report %+v", e)
		}
	})
	t.Run("during an early-media announcement", func(t *testing.T) {
		f := newFixture(t, func(c *Config) { c.EarlyMedia = true })
		caller := newPhone(t, "0791234567", audio.PCMU, 0x11)
		ctx, cancel := context.WithCancel(context.Background())
		dlg, err := caller.invite(ctx, f.srv.UDPPort(), "5000", caller.sdp(), diversion("1001"))
		if err != nil {
			t.Fatal(err)
		}
		got183 := make(chan struct{}, 1)
		go dlg.WaitAnswer(ctx, sipgo.AnswerOptions{OnResponse: func(r *sip.Response) error {
			if r.StatusCode == 183 {
				got183 <- struct{}{}
			}
			return nil
		}})
		select {
		case <-got183:
		case <-time.After(5 * time.Second):
			t.Fatal("no 183")
		}
		eventually(t, 5*time.Second, "early media", func() bool { return len(caller.packets()) > 5 })
		cancel()
		if e := f.report(); e.Status != routing.StatusCancelled {
			t.Fatalf("report %+v", e)
		}
		n := len(caller.packets())
		time.Sleep(200 * time.Millisecond)
		if len(caller.packets()) > n+2 {
			t.Fatal("the announcement went on after CANCEL")
		}
		select {
		case in := <-f.far.invites:
			t.Fatalf("a far leg was placed: %s", in.req.StartLine())
		default:
		}
	})
}

func TestDelayedOfferAndReinvite(t *testing.T) {
	f := newFixture(t, func(c *Config) {})
	off := false
	f.settings(routing.SettingsUpdate{ConnectToCalled: &off})
	caller := newPhone(t, "0791234567", audio.PCMA, 0x11)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dlg, err := caller.invite(ctx, f.srv.UDPPort(), "5000", nil, diversion("1001"))
	if err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := dlg.WaitAnswer(wctx, sipgo.AnswerOptions{}); err != nil {
		t.Fatal(err)
	}
	offer, err := sdp.Parse(dlg.InviteResponse.Body())
	if err != nil || len(offer.Codecs) != 2 {
		t.Fatalf("the 200 of a delayed offer must carry our offer: %+v %v", offer, err)
	}
	ack := sip.NewRequest(sip.ACK, dlg.InviteResponse.Contact().Address)
	ack.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	ack.SetBody(sdp.Answer(sdp.Session{ID: 1, Version: 1, Addr: caller.rtpAddr()}, offer, sdp.AnswerLocal(offer, audio.PCMA)))
	if err := dlg.WriteAck(wctx, ack); err != nil {
		t.Fatal(err)
	}
	caller.talk(ctx, offer.Addr)
	eventually(t, 5*time.Second, "announcement in A-law", func() bool { return len(caller.packets()) > 5 })
	if pt := caller.packets()[0].PayloadType; pt != 8 {
		t.Fatalf("payload type %d: the answer in the ACK chose PCMA", pt)
	}
	// A session refresh in the middle of the announcement.
	re := sip.NewRequest(sip.INVITE, dlg.InviteResponse.Contact().Address)
	re.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	re.SetBody(sdp.Offer(sdp.Session{ID: 1, Version: 2, Addr: caller.rtpAddr()}, sdp.Local{Codecs: []audio.Codec{audio.PCMA, audio.PCMU}, DTMF: 101}))
	res, err := dlg.Do(wctx, re)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("re-INVITE: %v %v", res, err)
	}
	ans, err := sdp.Parse(res.Body())
	if err != nil || ans.Addr != offer.Addr || len(ans.Codecs) != 1 || ans.Codecs[0] != audio.PCMA {
		t.Fatalf("re-INVITE answer %+v %v: want the same session", ans, err)
	}
	reAck := sip.NewRequest(sip.ACK, dlg.InviteResponse.Contact().Address)
	reAck.AppendHeader(&sip.CSeqHeader{SeqNo: res.CSeq().SeqNo, MethodName: sip.ACK})
	dlg.WriteRequest(reAck)
	caller.waitBye(10 * time.Second)
	heardAnnouncement(t, caller, f.annFrames)
	if e := f.report(); e.Status != routing.StatusTerminated {
		t.Fatalf("report %+v", e)
	}
}

func sipgoAnswer() sipgo.AnswerOptions { return sipgo.AnswerOptions{} }

// sipgoAnswerWith reports every response of an INVITE to seen.
func sipgoAnswerWith(seen func(*sip.Response)) sipgo.AnswerOptions {
	return sipgo.AnswerOptions{OnResponse: func(r *sip.Response) error { seen(r); return nil }}
}

// responseCode returns the status code of a failed INVITE, 0 otherwise.
func responseCode(err error) int {
	var de *sipgo.ErrDialogResponse
	if errors.As(err, &de) {
		return de.Res.StatusCode
	}
	return 0
}

func TestCallerHangsUpDuringAnnouncement(t *testing.T) {
	f := newFixture(t, nil)
	caller, dlg, ctx := f.call("0791234567", "5000", diversion("1001"))
	m := answered(t, dlg, nil)
	caller.talk(ctx, m.Addr)
	eventually(t, 5*time.Second, "announcement playing", func() bool { return len(caller.packets()) >= 5 })
	// A session-timer refresh by UPDATE, without SDP, is answered 200.
	upd := sip.NewRequest(sip.UPDATE, dlg.InviteResponse.Contact().Address)
	res, err := dlg.Do(ctx, upd)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("UPDATE: %v %v", res, err)
	}
	hangUp(t, ctx, dlg)
	if e := f.report(); e.Status != routing.StatusTerminated {
		t.Fatalf("report %+v", e)
	}
	n := len(caller.packets())
	if n >= f.annFrames {
		t.Fatalf("the whole announcement played (%d packets) despite the BYE", n)
	}
	time.Sleep(100 * time.Millisecond)
	if len(caller.packets()) > n+1 {
		t.Fatal("the announcement went on after BYE")
	}
	select {
	case in := <-f.far.invites:
		t.Fatalf("a far leg was placed after the caller left: %s", in.req.StartLine())
	default:
	}
}
