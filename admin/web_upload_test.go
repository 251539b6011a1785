package admin_test

import (
	"bytes"
	"io"
	"math"
	"mime/multipart"
	"net/http"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/phonediversions/phonediversions/prompts"
	"github.com/phonediversions/phonediversions/routing"
)

// upload sends a file through the announcement form as a browser without
// script does (the token the form's first field); extra headers go with
// it.
func (b *browser) upload(name, file string, content []byte, headers ...string) response {
	b.t.Helper()
	return b.uploadForm("", []string{"csrf", b.csrf, "name", name}, file, content, headers...)
}

// uploadForm posts to /announcements?query a form of the fields (name,
// value pairs) followed by the file.
func (b *browser) uploadForm(query string, fields []string, file string, content []byte, headers ...string) response {
	b.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for i := 0; i+1 < len(fields); i += 2 {
		mw.WriteField(fields[i], fields[i+1])
	}
	fw, _ := mw.CreateFormFile("file", file)
	fw.Write(content)
	mw.Close()
	req, _ := http.NewRequest("POST", b.f.base+"/announcements"+query, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Origin", b.f.base)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return b.do(req)
}

// TestUploadTokenNotInTheURL is door 8's upload: the form's token went in
// its URL (into logs, history and Referer). It is the form's first field
// now; a token in the URL, after the file, or wrong stores nothing.
func TestUploadTokenNotInTheURL(t *testing.T) {
	f := newFixture(t)
	f.user("boss", "boss-password", routing.PrivCallHandler)
	b := f.signIn("boss", "boss-password")
	page := b.get("/callhandler")
	if strings.Contains(page.body, "?csrf=") || !strings.Contains(page.body, `action="/announcements" enctype="multipart/form-data" data-upload class="upload">
<input type="hidden" name="csrf"`) {
		t.Errorf("the upload form does not carry its token as its first field:\n%s", page.body)
	}
	wav, err := os.ReadFile("../prompts/testdata/s16-48k-stereo.wav")
	if err != nil {
		t.Fatal(err)
	}
	refused := []struct {
		name   string
		query  string
		fields []string
	}{
		{"the token in the URL", "?csrf=" + b.csrf, []string{"name", "Welcome"}},
		{"the token after the name", "", []string{"name", "Welcome", "csrf", b.csrf}},
		{"a wrong token", "", []string{"csrf", "x" + b.csrf, "name", "Welcome"}},
		{"no token", "", []string{"name", "Welcome"}},
	}
	for _, c := range refused {
		before := f.snapshot()
		if r := b.uploadForm(c.query, c.fields, "welcome.wav", wav); r.status != 403 {
			t.Errorf("%s: %d", c.name, r.status)
		}
		if after := f.snapshot(); !reflect.DeepEqual(after, before) {
			t.Errorf("%s: the store changed", c.name)
		}
	}
	if r := b.upload("Welcome", "welcome.wav", wav); r.status != http.StatusSeeOther {
		t.Errorf("the page's form: %d %s", r.status, r.body)
	}
}

// TestRefusedUploadIsAnsweredNotReset: a browser whose form token has
// expired sends its whole file before it reads the answer. The refusal
// must reach it as the page that says why, not as a connection reset:
// a file of 8 MiB is far more than the HTTP server discards on its own
// before closing a connection whose handler did not read the body.
func TestRefusedUploadIsAnsweredNotReset(t *testing.T) {
	f := newFixture(t)
	f.user("boss", "boss-password", routing.PrivCallHandler)
	b := f.signIn("boss", "boss-password")
	big := make([]byte, 8<<20)
	for range 3 {
		before := f.snapshot()
		r := b.uploadForm("", []string{"csrf", "x" + b.csrf, "name", "Welcome"}, "welcome.wav", big)
		if r.status != http.StatusForbidden || !strings.Contains(r.body, "The form has expired") {
			t.Fatalf("expired token and a large file: %d %q, want 403 and the page saying why", r.status, r.body)
		}
		if after := f.snapshot(); !reflect.DeepEqual(after, before) {
			t.Fatal("the store changed")
		}
	}
}

func TestAnnouncementUploadPage(t *testing.T) {
	f := newFixture(t)
	f.user("boss", "boss-password", routing.PrivCallHandler)
	b := f.signIn("boss", "boss-password")
	wav, err := os.ReadFile("../prompts/testdata/s16-48k-stereo.wav")
	if err != nil {
		t.Fatal(err)
	}
	r := b.upload("Welcome", "welcome.wav", wav)
	if r.status != http.StatusSeeOther {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	page := b.get("/callhandler")
	if !strings.Contains(page.body, `aria-label="Play Welcome"`) || !strings.Contains(page.body, "is uploaded") {
		t.Fatalf("the page after the upload: %s", page.body)
	}
	r = b.upload("Welcome", "welcome.wav", wav, "Accept", "application/json", "X-CSRF-Token", b.csrf)
	if r.status != 200 || !strings.Contains(r.body, `"message"`) {
		t.Fatalf("upload from the script: %d %s", r.status, r.body)
	}
}

// TestUploadsAreBounded is door 7: uploads had no bound on how many were
// converted at once nor on what they stored in all. One is converted at a
// time and the next is refused with 503 and Retry-After; an upload past
// announcement_max_total is refused with how much is used. Neither
// stores anything.
func TestUploadsAreBounded(t *testing.T) {
	f := newFixture(t, func(f *fixture) {
		var err error
		lim := prompts.DefaultLimits
		lim.MaxTotal = 3 * (12 + 2*8000) // three one-second announcements
		if f.prompts, err = prompts.New(f.svc, lim); err != nil {
			t.Fatal(err)
		}
	})
	f.user("boss", "boss-password", routing.PrivCallHandler)
	f.group("Front Desk", "1022", "")
	b := f.signIn("boss", "boss-password")
	second := sineWAV(16000, 16000) // one second
	// An upload whose file is still on its way holds the turn.
	var finish []func() response
	for range 1 {
		pr, pw := io.Pipe()
		t.Cleanup(func() { pw.Close() })
		var head bytes.Buffer
		mw := multipart.NewWriter(&head)
		mw.WriteField("csrf", b.csrf)
		mw.CreateFormFile("file", "slow.wav")
		req, _ := http.NewRequest("POST", f.base+"/announcements", pr)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.Header.Set("Origin", f.base)
		result := make(chan response, 1)
		go func() { result <- b.do(req) }()
		pw.Write(head.Bytes())
		pw.Write(second[:1000])
		finish = append(finish, func() response {
			pw.Write(second[1000:])
			pw.Write([]byte("\r\n--" + mw.Boundary() + "--\r\n"))
			pw.Close()
			return <-result
		})
	}
	waitMetric(t, f, "phonediversions_announcement_uploads_converting 1")
	before := f.snapshot()
	r := b.upload("Second", "second.wav", second, "Accept", "application/json", "X-CSRF-Token", b.csrf)
	if r.status != 503 || r.header.Get("Retry-After") == "" || !strings.Contains(r.body, "being converted") {
		t.Errorf("a second upload at once: %d Retry-After %q %s", r.status, r.header.Get("Retry-After"), r.body)
	}
	if after := f.snapshot(); !reflect.DeepEqual(after, before) {
		t.Error("the refused upload stored something")
	}
	for i, fin := range finish {
		if r := fin(); r.status != http.StatusSeeOther {
			t.Errorf("the held upload %d: %d %s", i+1, r.status, r.body)
		}
	}
	// Two more fit; a fourth passes announcement_max_total.
	for _, name := range []string{"Second", "Third"} {
		if r := b.upload(name, name+".wav", second); r.status != http.StatusSeeOther {
			t.Fatalf("%s after the first: %d %s", name, r.status, r.body)
		}
	}
	before = f.snapshot()
	r = b.upload("Fourth", "fourth.wav", second)
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "delete announcements no longer used") {
		t.Errorf("past the total: %d %s", r.status, r.body)
	}
	if after := f.snapshot(); !reflect.DeepEqual(after, before) {
		t.Error("the upload past the total stored something")
	}
}

// waitMetric waits until /metrics shows the line.
func waitMetric(t *testing.T, f *fixture, line string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if r := f.get("/metrics"); strings.Contains(r.body, "\n"+line+"\n") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics never showed %q", line)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sineWAV is a 16-bit mono WAV file of a 440 Hz tone.
func sineWAV(rate, frames int) []byte {
	pcm := make([]int16, frames)
	for i := range pcm {
		pcm[i] = int16(8000 * math.Sin(2*math.Pi*440*float64(i)/float64(rate)))
	}
	var buf bytes.Buffer
	prompts.WriteWAV(&buf, rate, pcm)
	return buf.Bytes()
}
