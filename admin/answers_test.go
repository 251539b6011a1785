package admin_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/phonediversions/phonediversions/routing"
)

// TestAcceptQualityValues: XML unless Accept prefers JSON by its quality
// values, or ranks it equal to what XML answers and lists it first.
func TestAcceptQualityValues(t *testing.T) {
	f := newFixture(t)
	f.group("Front Desk", "1022", "")
	cases := []struct {
		accept string
		json   bool
	}{
		{"", false},
		{"*/*", false},
		{"application/xml", false},
		{"text/xml", false},
		{"application/json", true},
		{"application/json;q=0.5, application/xml", false},
		{"application/xml;q=0.5, application/json", true},
		{"application/json, text/plain, */*", true},
		{"application/xml, application/json", false},
		{"text/html, application/json;q=0.9, */*;q=0.8", true},
		{"application/json;q=0", false},
		{"application/json;q=0.8, */*", false},
		{"application/json;q=bogus", false},
	}
	for _, c := range cases {
		t.Run(c.accept, func(t *testing.T) {
			r := f.get("/Rest/listGroups", "Accept", c.accept)
			isJSON := strings.HasPrefix(r.header.Get("Content-Type"), "application/json") && strings.HasPrefix(r.body, "{")
			isXML := strings.HasPrefix(r.header.Get("Content-Type"), "text/xml") && strings.HasPrefix(r.body, "<?xml")
			if r.status != 200 || isJSON != c.json || isXML == c.json {
				t.Errorf("Accept %q: %d %s %.40q", c.accept, r.status, r.header.Get("Content-Type"), r.body)
			}
		})
	}
}

// TestGETWithAFormBody: the manual's curl example sends --data with GET;
// the parameters of the body count, never as if none were given.
func TestGETWithAFormBody(t *testing.T) {
	f := newFixture(t)
	f.group("Front Desk", "1022", "")
	g := f.group("Back Office", "1023", "")
	id := strconv.FormatInt(g.ID, 10)
	r := f.doRaw(local, "GET", "/Rest/listGroups", "groupId="+id, "Content-Type", "application/x-www-form-urlencoded")
	if r.status != 200 || !strings.Contains(r.body, "<GroupName>Back Office</GroupName>") || strings.Contains(r.body, "Front Desk") {
		t.Errorf("GET with groupId in the body: %d %s", r.status, r.body)
	}
	r = f.doRaw(local, "GET", "/Rest/listGroups", `{"groupName":"Front Desk"}`, "Content-Type", "application/json")
	if r.status != 200 || !strings.Contains(r.body, "<GroupName>Front Desk</GroupName>") || strings.Contains(r.body, "Back Office") {
		t.Errorf("GET with a JSON body: %d %s", r.status, r.body)
	}
	r = f.doRaw(local, "GET", "/Rest/listGroups", "groupId="+id, "Content-Type", "text/plain")
	if r.status != 415 || strings.Contains(r.body, "Front Desk") {
		t.Errorf("GET with a body of no form type: %d %s", r.status, r.body)
	}
}

// TestLatin1Parameters: scripts of the original product's era send
// ISO-8859-1 or Windows-1252 bytes; read them as Windows-1252 when they
// are not UTF-8 and nothing else is declared.
func TestLatin1Parameters(t *testing.T) {
	f := newFixture(t)
	zurich := f.group("Zürich", "1022", "")
	f.user("müller", "pässwörd-€uro", routing.PrivREST|routing.PrivGroups)
	id := strconv.FormatInt(zurich.ID, 10)
	if r := f.get("/Rest/listGroups?groupName=Z%FCrich"); r.status != 200 || !strings.Contains(r.body, "<GroupID>"+id+"</GroupID>") {
		t.Errorf("Latin-1 query: %d %s", r.status, r.body)
	}
	if r := f.get("/Rest/listGroups?groupName=Z%C3%BCrich"); r.status != 200 || !strings.Contains(r.body, "<GroupID>"+id+"</GroupID>") {
		t.Errorf("UTF-8 query: %d %s", r.status, r.body)
	}
	cases := []struct {
		name, contentType, body, want string
	}{
		{"no charset, Windows-1252 bytes", "application/x-www-form-urlencoded", "description=Caf%E9+%80+%93quoted%94", "Café € “quoted”"},
		{"declared windows-1252", "application/x-www-form-urlencoded; charset=windows-1252", "description=%80+%C3%A9", "€ Ã©"},
		{"declared iso-8859-1", "application/x-www-form-urlencoded; charset=ISO-8859-1", "description=B%FCro", "Büro"},
		{"no charset, UTF-8", "application/x-www-form-urlencoded", "description=B%C3%BCro+%E2%82%AC", "Büro €"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := f.doRaw(local, "POST", "/Rest/updateGroup?groupId="+id, c.body, "Content-Type", c.contentType)
			g, _ := f.svc.Group(ctx, zurich.ID)
			if r.status != 200 || g.Description != c.want {
				t.Errorf("%d, description %q, want %q: %s", r.status, g.Description, c.want, r.body)
			}
		})
	}
	// A basic-auth password sent in Windows-1252.
	cp1252 := "m\xfcller:p\xe4ssw\xf6rd-\x80uro"
	r := f.doRaw(client("127.0.0.2"), "GET", "/Rest/listGroups", "", "Authorization", "Basic "+b64(cp1252))
	if r.status != 200 {
		t.Errorf("Windows-1252 basic credentials: %d %s", r.status, r.body)
	}
}

// TestRESTPrefixAnyCase: the function name ignores case, and so does the
// prefix.
func TestRESTPrefixAnyCase(t *testing.T) {
	f := newFixture(t)
	f.group("Front Desk", "1022", "")
	for _, p := range []string{"/Rest/listGroups.asp", "/rest/listGroups.asp", "/REST/LISTGROUPS.ASP", "/rEsT/listgroups"} {
		if r := f.get(p); r.status != 200 || !strings.Contains(r.body, "<Request>listGroups</Request>") {
			t.Errorf("%s: %d %s", p, r.status, r.body)
		}
	}
	if r := f.get("/restless"); r.status != 404 {
		t.Errorf("/restless: %d", r.status)
	}
}
