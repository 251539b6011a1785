package admin_test

import (
	"encoding/csv"
	"html"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/phonediversions/phonediversions/admin"
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

var exportLink = regexp.MustCompile(`<a href="(/reports/export[^"]*)">`)
var chartImage = regexp.MustCompile(`<img src="(/reports/chart[^"]*)"`)

// TestReportsExportAndChartFollowTheFilter: the export link escaped the
// whole query and delivered every entry, and the chart showed every
// entry under a caption naming the filter. Both follow exactly the
// filter of the page.
func TestReportsExportAndChartFollowTheFilter(t *testing.T) {
	f := newFixture(t)
	f.user("boss", "boss-password", routing.AllPrivileges)
	g := f.group("Front Desk", "1022", "")
	f.line(g.ID, "2001", "")
	if _, err := f.svc.Toggle(ctx, g.ID, admin0, routing.ChannelWeb); err != nil {
		t.Fatal(err)
	}
	for _, st := range []routing.Status{routing.StatusConnected, routing.StatusTerminated, routing.StatusConnected} {
		if err := f.svc.RecordCall(ctx, routing.ReportEntry{Status: st, Caller: "0441234567", Receiver: "2001", Time: f.clock.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	b := f.signIn("boss", "boss-password")
	page := b.get("/reports?" + url.Values{"action": {"Call Handler"}, "status": {"Connected"}, "from": {"2026-11-28T00:00"}, "to": {"2026-11-28T23:59"}}.Encode())
	if page.status != 200 {
		t.Fatalf("Reports: %d", page.status)
	}
	m := exportLink.FindStringSubmatch(page.body)
	if m == nil {
		t.Fatalf("no export link:\n%s", page.body)
	}
	r := b.get(html.UnescapeString(m[1]))
	rows, err := csv.NewReader(strings.NewReader(r.body)).ReadAll()
	if err != nil || r.status != 200 {
		t.Fatalf("export %s: %d %v", m[1], r.status, err)
	}
	if len(rows) != 3 {
		t.Errorf("the export of 2 connected calls has %d rows (header included): %q", len(rows), rows)
	}
	for _, row := range rows[1:] {
		if row[1] != "Call Handler" || row[2] != "Connected" {
			t.Errorf("exported row outside the filter: %q", row)
		}
	}
	m = chartImage.FindStringSubmatch(page.body)
	if m == nil {
		t.Fatal("no chart")
	}
	chart := b.get(html.UnescapeString(m[1]))
	if chart.status != 200 || !strings.Contains(chart.body, "Connected: 2") || strings.Contains(chart.body, "Terminated") || strings.Contains(chart.body, "Activated") {
		t.Errorf("the chart of the filter: %d\n%s", chart.status, chart.body)
	}
}

// TestCallHandlerFormKeepsWhatWasSent: the connect switch came back
// ticked after a refusal although it was sent unticked.
func TestCallHandlerFormKeepsWhatWasSent(t *testing.T) {
	f := newFixture(t)
	f.user("boss", "boss-password", routing.PrivCallHandler)
	on := true
	if _, err := f.svc.UpdateSettings(ctx, admin0, routing.ChannelWeb, routing.SettingsUpdate{ConnectToCalled: &on}); err != nil {
		t.Fatal(err)
	}
	b := f.signIn("boss", "boss-password")
	b.get("/callhandler")
	before := f.snapshot()
	r := b.post("/callhandler", url.Values{"directAccess": {"1001\nnot a number"}, "announcementId": {"0"}}) // connect unticked
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("a wrong number: %d", r.status)
	}
	if strings.Contains(r.body, `name="connect" type="checkbox" checked`) || !strings.Contains(r.body, `name="connect" type="checkbox">`) {
		t.Errorf("the connect switch sent unticked comes back ticked")
	}
	if !strings.Contains(r.body, "1001\nnot a number</textarea>") {
		t.Errorf("the numbers typed are not kept")
	}
	if after := f.snapshot(); !reflect.DeepEqual(after.Settings, before.Settings) {
		t.Errorf("a refused form changed the settings: %+v", after.Settings)
	}
	// Ticked, it comes back ticked.
	r = b.post("/callhandler", url.Values{"connect": {"on"}, "directAccess": {"x"}, "announcementId": {"0"}})
	if !strings.Contains(r.body, `name="connect" type="checkbox" checked`) {
		t.Errorf("the connect switch sent ticked comes back unticked")
	}
}

// TestReportRowsSayWhatTheyAreAbout: a "User Created" row did not say
// which user.
func TestReportRowsSayWhatTheyAreAbout(t *testing.T) {
	f := newFixture(t)
	f.user("boss", "boss-password", routing.AllPrivileges)
	b := f.signIn("boss", "boss-password")
	b.get("/users/new")
	if r := b.post("/users", url.Values{"username": {"newbie"}, "password": {"a long enough password"}, "privileges": {"State"}}); r.status != http.StatusSeeOther {
		t.Fatalf("create a user: %d %s", r.status, r.body)
	}
	page := b.get("/reports?action=User&status=Created")
	row := regexp.MustCompile(`<tr><td>[^<]*</td><td>User</td><td>Created</td><td>boss</td>.*?</tr>`).FindString(page.body)
	if !strings.Contains(row, "<td>newbie</td>") {
		t.Errorf("the User Created row does not name the user: %q", row)
	}
}

// TestDateFormat: the original product's dd.mm.yyyy HH:MM:SS, as a
// setting for the Reports tab and its export; listReports takes it in
// from and to whatever the setting.
func TestDateFormat(t *testing.T) {
	f := newFixture(t, func(f *fixture) { f.cfg.DateFormat = admin.DateDMY })
	f.user("boss", "boss-password", routing.AllPrivileges)
	g := f.group("Front Desk", "1022", "")
	if _, err := f.svc.Toggle(ctx, g.ID, admin0, routing.ChannelWeb); err != nil {
		t.Fatal(err)
	}
	e := f.lastReport()
	want := e.Time.In(zurich).Format("02.01.2006 15:04:05")
	b := f.signIn("boss", "boss-password")
	if page := b.get("/reports?action=Diversion"); !strings.Contains(page.body, "<td>"+want+"</td>") {
		t.Errorf("the Reports tab does not show %s", want)
	}
	if r := b.get("/reports/export?action=Diversion"); !strings.Contains(r.body, "\n"+want+",Diversion,") {
		t.Errorf("the export does not write %s:\n%s", want, r.body)
	}
	day := e.Time.In(zurich).Format("02.01.2006")
	for _, q := range []url.Values{
		{"from": {day}, "to": {day}},
		{"from": {day + " 00:00"}, "to": {day + " 23:59:59"}},
		{"from": {e.Time.In(zurich).Format("2006-01-02")}},
	} {
		q.Set("action", "Diversion")
		r := f.get("/Rest/listReports?" + q.Encode())
		if r.status != 200 || !strings.Contains(r.body, "<Total>1</Total>") {
			t.Errorf("listReports %s: %d %s", q.Encode(), r.status, r.body)
		}
	}
}
