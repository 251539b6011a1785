package admin_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/phonediversions/phonediversions/routing"
)

var update = flag.Bool("update", false, "rewrite the golden files of the REST answers")

// goldenData is the fixed data set of the golden answers: names outside
// Latin-1, inside it, and full of markup characters.
type goldenData struct {
	frontDesk, vladislav, room, lab routing.Group
}

func setUpGolden(t *testing.T, f *fixture) goldenData {
	t.Helper()
	if _, err := f.svc.CreateUser(ctx, admin0, routing.ChannelWeb, routing.NewUser{Username: "tfarrow",
		DisplayName: "Tamara Farrow", Department: "Sales", Lines: []string{"1022", "2001"}}); err != nil {
		t.Fatal(err)
	}
	var d goldenData
	d.frontDesk = f.group("Front Desk", "1022", "Diversion to the front desk phone")
	d.vladislav = f.group("Vladislav Jovanović", "+41 44 555 12 34", "Zürich office")
	d.room = f.group("会議室", "2000", "会議室の電話")
	d.lab = f.group(`R&D <Lab> "quoted" & 'single'`, "3000", "a < b && c > d")
	f.line(d.frontDesk.ID, "2001", "Reception left")
	f.line(d.frontDesk.ID, "2002", "Reception right")
	return d
}

// goldenStep is one request of the golden sequence; steps run in order,
// and those that change data change it for the steps after them.
type goldenStep struct {
	name   string
	method string
	path   string
	form   url.Values
	json   bool
	status int
}

func TestRESTGolden(t *testing.T) {
	f := newFixture(t)
	d := setUpGolden(t, f)
	id := func(g routing.Group) string { return strconv.FormatInt(g.ID, 10) }
	steps := []goldenStep{
		{name: "listGroups-all", path: "/Rest/listGroups.asp", status: 200},
		{name: "listGroups-all", path: "/Rest/listGroups", json: true, status: 200},
		{name: "listGroups-by-id", path: "/Rest/listGroups.asp?GroupId=" + id(d.vladislav), status: 200},
		{name: "listGroups-by-name", path: "/Rest/listGroups?groupName=" + url.QueryEscape("会議室"), status: 200},
		{name: "listGroups-by-name", path: "/Rest/listGroups?groupName=" + url.QueryEscape("会議室"), json: true, status: 200},
		{name: "listGroups-not-found", path: "/Rest/listGroups?groupID=999", status: 200},
		{name: "listGroups-not-found", path: "/Rest/listGroups?groupID=999", json: true, status: 200},
		{name: "setDiversion", method: "POST", path: "/Rest/setDiversion.asp", form: url.Values{"groupID": {id(d.frontDesk)}, "state": {"on"}}, status: 200},
		{name: "toggleDiversion", method: "POST", path: "/Rest/toggleDiversion", form: url.Values{"GroupId": {id(d.frontDesk)}}, json: true, status: 200},
		{name: "toggleDiversion", method: "POST", path: "/Rest/toggleDiversion?groupId=" + id(d.lab), status: 200},
		{name: "listLines", path: "/Rest/listLines?groupId=" + id(d.frontDesk), status: 200},
		{name: "listLines", path: "/Rest/listLines?groupId=" + id(d.frontDesk), json: true, status: 200},
		{name: "listLines-none", path: "/Rest/listLines?groupId=" + id(d.room), status: 200},
		{name: "addLine", method: "POST", path: "/Rest/addLine", form: url.Values{"groupId": {id(d.vladislav)}, "lineNumber": {"3001"}, "description": {"Büro Jovanović"}}, status: 200},
		{name: "updateLine", method: "POST", path: "/Rest/updateLine", form: url.Values{"groupId": {id(d.frontDesk)}, "lineNumber": {"2002"}, "description": {"Reception — right"}}, json: true, status: 200},
		{name: "deleteLine", method: "POST", path: "/Rest/deleteLine", form: url.Values{"groupId": {id(d.frontDesk)}, "lineNumber": {"2002"}}, status: 200},
		{name: "addGroup", method: "POST", path: "/Rest/addGroup", form: url.Values{"groupName": {"Lager Süd"}, "destination": {"+41 44 555 00 00"}}, json: true, status: 200},
		{name: "updateGroup", method: "POST", path: "/Rest/updateGroup", form: url.Values{"groupId": {id(d.room)}, "description": {"Sitzungszimmer"}}, status: 200},
		{name: "listReports", path: "/Rest/listReports?limit=4", status: 200},
		{name: "listReports", path: "/Rest/listReports?limit=4", json: true, status: 200},
		{name: "listReports-filtered", path: "/Rest/listReports?action=diversion&status=Activated&from=2026-11-28&to=2026-11-28", status: 200},
		{name: "listReports-none", path: "/Rest/listReports?search=nobody-at-all", status: 200},
		{name: "error-groupId-abc", method: "POST", path: "/Rest/toggleDiversion", form: url.Values{"groupId": {"abc"}}, status: 400},
		{name: "error-groupId-abc", method: "POST", path: "/Rest/toggleDiversion", form: url.Values{"groupId": {"abc"}}, json: true, status: 400},
		{name: "error-state-missing", method: "POST", path: "/Rest/setDiversion", form: url.Values{"groupId": {id(d.room)}}, status: 400},
		{name: "error-state-wrong", method: "POST", path: "/Rest/setDiversion", form: url.Values{"groupId": {id(d.room)}, "state": {"maybe"}}, status: 400},
		{name: "error-group-not-found", method: "POST", path: "/Rest/toggleDiversion", form: url.Values{"groupId": {"999"}}, status: 404},
		{name: "error-line-conflict", method: "POST", path: "/Rest/addLine", form: url.Values{"groupId": {id(d.vladislav)}, "lineNumber": {"2001"}}, status: 409},
		{name: "error-unknown-function", path: "/Rest/frobnicate.asp", status: 404},
		{name: "error-unknown-function", path: "/Rest/frobnicate", json: true, status: 404},
		{name: "error-method", path: "/Rest/setDiversion?groupId=1&state=ON", status: 405},
		{name: "error-from", path: "/Rest/listReports?from=yesterday", status: 400},
		{name: "error-limit", path: "/Rest/listReports?limit=5000", json: true, status: 400},
	}
	seen := map[string]bool{}
	for _, st := range steps {
		ext := ".xml"
		if st.json {
			ext = ".json"
		}
		file := filepath.Join("testdata", "golden", st.name+ext)
		if seen[file] {
			file = strings.TrimSuffix(file, ext) + "-2" + ext
		}
		seen[file] = true
		t.Run(filepath.Base(file), func(t *testing.T) {
			method := st.method
			if method == "" {
				method = http.MethodGet
			}
			var headers []string
			if st.json {
				headers = []string{"Accept", "application/json"}
			}
			r := f.do(local, method, st.path, st.form, headers...)
			if r.status != st.status {
				t.Errorf("status %d, want %d", r.status, st.status)
			}
			got := fmt.Sprintf("%d %s\n\n%s", r.status, r.header.Get("Content-Type"), r.body)
			if *update {
				if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run the test with -update to write it)", err)
			}
			if got != string(want) {
				t.Errorf("answer differs from %s\ngot:\n%s\nwant:\n%s", file, got, want)
			}
			if st.json {
				var v map[string]any
				if err := json.Unmarshal([]byte(r.body), &v); err != nil {
					t.Errorf("not JSON: %v", err)
				}
			} else if err := parseLatin1(r.body, new(callisto)); err != nil {
				t.Errorf("not well-formed ISO-8859-1 XML: %v", err)
			}
		})
	}
}

// callisto is the REST envelope as a script parses it.
type callisto struct {
	XMLName  xml.Name `xml:"Callisto"`
	Request  string   `xml:"Request"`
	Response struct {
		Text   string `xml:",chardata"`
		Groups []struct {
			GroupID     int64  `xml:"GroupID"`
			GroupName   string `xml:"GroupName"`
			Destination string `xml:"Destination"`
			State       string `xml:"State"`
			Description string `xml:"Description"`
		} `xml:"DiversionGroups>Group"`
		Lines []struct {
			LineNumber  string `xml:"LineNumber"`
			Description string `xml:"Description"`
			Username    string `xml:"Username"`
		} `xml:"Lines>Line"`
		Error struct {
			Code      string `xml:"Code"`
			Parameter string `xml:"Parameter"`
			Message   string `xml:"Message"`
		} `xml:"Error"`
	} `xml:"Response"`
}

// parseLatin1 parses an ISO-8859-1 XML document as a script would, with
// a decoder for the declared encoding.
func parseLatin1(body string, v any) error {
	dec := xml.NewDecoder(strings.NewReader(body))
	dec.CharsetReader = func(charset string, in io.Reader) (io.Reader, error) {
		if !strings.EqualFold(charset, "iso-8859-1") {
			return nil, fmt.Errorf("unexpected encoding %q", charset)
		}
		b, err := io.ReadAll(in)
		if err != nil {
			return nil, err
		}
		var out bytes.Buffer
		for _, c := range b {
			out.WriteRune(rune(c))
		}
		return &out, nil
	}
	return dec.Decode(v)
}

// TestRESTNamesReadBack parses the XML answers with an ISO-8859-1 decoder
// and finds every name as it was stored, whatever its script.
func TestRESTNamesReadBack(t *testing.T) {
	f := newFixture(t)
	d := setUpGolden(t, f)
	r := f.get("/Rest/listGroups")
	if !strings.HasPrefix(r.body, `<?xml version="1.0" encoding="iso-8859-1" ?>`) {
		t.Fatalf("prolog: %q", r.body[:min(len(r.body), 60)])
	}
	// Characters of Latin-1 are its bytes; the others are references.
	for _, want := range []string{"Z\xfcrich office", "Vladislav Jovanovi&#263;", "&#20250;&#35696;&#23460;"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("answer lacks %q", want)
		}
	}
	var doc callisto
	if err := parseLatin1(r.body, &doc); err != nil {
		t.Fatal(err)
	}
	want := map[int64]routing.Group{}
	for _, g := range []routing.Group{d.frontDesk, d.vladislav, d.room, d.lab} {
		want[g.ID] = g
	}
	if len(doc.Response.Groups) != len(want) {
		t.Fatalf("%d groups, want %d", len(doc.Response.Groups), len(want))
	}
	for _, g := range doc.Response.Groups {
		w := want[g.GroupID]
		if g.GroupName != w.Name || g.Description != w.Description || g.Destination != w.Destination || g.State != "OFF" {
			t.Errorf("group %d read back as %+v, stored %+v", g.GroupID, g, w)
		}
	}
	// The JSON answer carries the same names in UTF-8.
	var js struct {
		Response struct {
			DiversionGroups []struct {
				GroupID   int64
				GroupName string
			}
		}
	}
	if err := json.Unmarshal([]byte(f.get("/Rest/listGroups?format=json").body), &js); err != nil {
		t.Fatal(err)
	}
	for _, g := range js.Response.DiversionGroups {
		if g.GroupName != want[g.GroupID].Name {
			t.Errorf("JSON group %d: %q, want %q", g.GroupID, g.GroupName, want[g.GroupID].Name)
		}
	}
}

// TestAnswersMatchTheManual checks listGroups and NOT_FOUND against the
// manual's example bytes (../shared/SPEC.md, "REST API"), written here by
// hand, whitespace between elements aside: the golden files above were
// produced by the code, this is what the original product answered.
func TestAnswersMatchTheManual(t *testing.T) {
	f := newFixture(t)
	// The manual's group has id 27: make 26 groups before it.
	for i := range 26 {
		f.group(fmt.Sprintf("Filler %02d", i+1), "1000", "")
	}
	g := f.group("Front Desk", "1022", "Diversion to the front desk phone")
	if g.ID != 27 {
		t.Fatalf("the group has id %d, the manual's 27", g.ID)
	}
	if _, err := f.svc.SetState(ctx, g.ID, true, admin0, routing.ChannelWeb); err != nil {
		t.Fatal(err)
	}
	manual := `<?xml version="1.0" encoding="iso-8859-1" ?>
<Callisto>
  <Request>listGroups</Request>
  <Response>
    <DiversionGroups>
      <Group>
        <GroupID>27</GroupID>
        <GroupName>Front Desk</GroupName>
        <Destination>1022</Destination>
        <State>ON</State>
        <Description>Diversion to the front desk phone</Description>
      </Group>
    </DiversionGroups>
  </Response>
</Callisto>`
	notFound := `<?xml version="1.0" encoding="iso-8859-1" ?>
<Callisto>
  <Request>listGroups</Request>
  <Response>NOT_FOUND</Response>
</Callisto>`
	for _, c := range []struct{ path, want string }{
		{"/Rest/listGroups.asp?groupId=27", manual},
		{"/Rest/listGroups?groupName=Front%20Desk", manual},
		{"/Rest/listGroups.asp?groupId=28", notFound},
		{"/Rest/listGroups?groupName=Nobody", notFound},
	} {
		r := f.get(c.path)
		if r.status != 200 || !strings.HasPrefix(strings.ToLower(r.header.Get("Content-Type")), "text/xml") {
			t.Errorf("%s: %d %s", c.path, r.status, r.header.Get("Content-Type"))
		}
		if got, want := betweenElements(r.body), betweenElements(c.want); got != want {
			t.Errorf("%s answers\n%s\nthe manual's\n%s", c.path, r.body, c.want)
		}
	}
}

// betweenElements drops the whitespace between elements and at the ends.
func betweenElements(s string) string {
	return strings.TrimSpace(regexp.MustCompile(`>\s+<`).ReplaceAllString(s, "><"))
}
