package admin_test

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/phonediversions/phonediversions/routing"
)

// upload sends a file through the announcement form as a browser without
// script does (the token in the form's URL); extra headers go with it.
func (b *browser) upload(name, file string, content []byte, headers ...string) response {
	b.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("name", name)
	fw, _ := mw.CreateFormFile("file", file)
	fw.Write(content)
	mw.Close()
	req, _ := http.NewRequest("POST", b.f.base+"/announcements?csrf="+b.csrf, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Origin", b.f.base)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return b.do(req)
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
