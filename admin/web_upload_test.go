package admin_test

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"os"
	"reflect"
	"strings"
	"testing"

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
