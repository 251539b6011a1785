package admin_test

import (
	"bytes"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// TestBadInputChangesNothing sends wrong, malformed and hostile requests:
// each gets a clear answer naming what is wrong, and the store is the same
// after it as before.
func TestBadInputChangesNothing(t *testing.T) {
	f := newFixture(t)
	g := f.group("Front Desk", "1022", "the desk")
	f.line(g.ID, "2001", "Reception")
	id := strconv.FormatInt(g.ID, 10)
	if r := f.do(local, "POST", "/Rest/setSchedule", url.Values{"groupId": {id}, "ranges": {"Mon-Fri 12:00-13:00"}}); r.status != 200 {
		t.Fatalf("setSchedule: %d %s", r.status, r.body)
	}
	cases := []struct {
		name        string
		method      string
		path        string
		body        string
		contentType string
		status      int
		param       string // the parameter the error names
	}{
		{"unknown function", "GET", "/Rest/dropTables", "", "", 404, ""},
		{"unknown function .asp", "POST", "/Rest/setDiversions.asp", "groupId=" + id, "form", 404, ""},
		{"missing groupId", "POST", "/Rest/toggleDiversion", "", "form", 400, "groupId"},
		{"groupId -1", "POST", "/Rest/toggleDiversion", "groupId=-1", "form", 400, "groupId"},
		{"groupId 0", "POST", "/Rest/toggleDiversion", "groupId=0", "form", 400, "groupId"},
		{"groupId 1e9", "POST", "/Rest/toggleDiversion", "groupId=1e9", "form", 400, "groupId"},
		{"groupId abc", "POST", "/Rest/toggleDiversion", "groupId=abc", "form", 400, "groupId"},
		{"groupId overflow", "POST", "/Rest/toggleDiversion", "groupId=99999999999999999999", "form", 400, "groupId"},
		{"groupId unknown", "POST", "/Rest/setDiversion", "groupId=1000000000&state=ON", "form", 404, "groupId"},
		{"groupId twice, different", "POST", "/Rest/toggleDiversion?groupId=" + id, "GroupID=2", "form", 400, "GroupID"},
		{"state missing", "POST", "/Rest/setDiversion", "groupId=" + id, "form", 400, "state"},
		{"state wrong", "POST", "/Rest/setDiversion", "groupId=" + id + "&state=1", "form", 400, "state"},
		{"semicolons", "POST", "/Rest/setDiversion?groupId=" + id + ";state=ON", "", "form", 400, ""},
		{"bad escape", "POST", "/Rest/setDiversion?groupId=%zz", "", "form", 400, ""},
		{"body not a form", "POST", "/Rest/setDiversion", "groupId=%zz&state=ON", "form", 400, ""},
		{"declared UTF-8, is not", "POST", "/Rest/updateLine", "groupId=" + id + "&lineNumber=2001&description=%FF%FEabc", "application/x-www-form-urlencoded; charset=utf-8", 400, "description"},
		{"a charset not read", "POST", "/Rest/updateLine", "groupId=" + id + "&lineNumber=2001&description=abc", "application/x-www-form-urlencoded; charset=koi8-r", 415, ""},
		{"text/plain body", "POST", "/Rest/updateLine", "groupId=" + id + "&lineNumber=2001&description=abc", "text/plain", 415, ""},
		{"body without a type", "POST", "/Rest/updateLine", "groupId=" + id + "&lineNumber=2001&description=abc", "", 415, ""},
		{"JSON not an object", "POST", "/Rest/updateLine", `["groupId"]`, "application/json", 400, ""},
		{"JSON nested value", "POST", "/Rest/updateLine", `{"groupId":` + id + `,"lineNumber":"2001","description":{"a":1}}`, "application/json", 400, "description"},
		{"GET with a form body of a bad id", "GET", "/Rest/listGroups", "groupId=abc", "form", 400, "groupId"},
		{"control character", "POST", "/Rest/updateLine", "groupId=" + id + "&lineNumber=2001&description=a%00b", "form", 400, "description"},
		{"description too long", "POST", "/Rest/updateLine", "groupId=" + id + "&lineNumber=2001&description=" + strings.Repeat("x", 300), "form", 400, "description"},
		{"description missing", "POST", "/Rest/updateLine", "groupId=" + id + "&lineNumber=2001", "form", 400, "description"},
		{"line number not a number", "POST", "/Rest/addLine", "groupId=" + id + "&lineNumber=12ab", "form", 400, "lineNumber"},
		{"line number script", "POST", "/Rest/addLine", "groupId=" + id + "&lineNumber=%3Cscript%3E", "form", 400, "lineNumber"},
		{"line of another group", "POST", "/Rest/deleteLine", "groupId=999&lineNumber=2001", "form", 404, "groupId"},
		{"line already there", "POST", "/Rest/addLine", "groupId=" + id + "&lineNumber=2001", "form", 409, "lineNumber"},
		{"group name taken", "POST", "/Rest/addGroup", "groupName=front+desk&destination=1", "form", 409, "groupName"},
		{"destination not a number", "POST", "/Rest/updateGroup", "groupId=" + id + "&destination=call+me", "form", 400, "destination"},
		{"format unknown", "GET", "/Rest/listGroups?format=yaml", "", "", 400, "format"},
		{"report to before from", "GET", "/Rest/listReports?from=2026-11-28&to=2026-11-01", "", "", 400, "to"},
		{"report offset negative", "GET", "/Rest/listReports?offset=-1", "", "", 400, "offset"},
		{"report action unknown", "GET", "/Rest/listReports?action=Nope", "", "", 400, "action"},
		{"report status unknown", "GET", "/Rest/listReports?status=Exploded", "", "", 400, "status"},
		{"until not a time", "POST", "/Rest/setDiversion", "groupId=" + id + "&state=ON&until=soon", "form", 400, "until"},
		{"until in the past", "POST", "/Rest/setDiversion", "groupId=" + id + "&state=ON&until=2001-01-01T10:00", "form", 400, "until"},
		{"ranges missing", "POST", "/Rest/setSchedule", "groupId=" + id, "form", 400, "ranges"},
		{"ranges empty", "POST", "/Rest/setSchedule", "groupId=" + id + "&ranges=", "form", 400, "ranges"},
		{"range without times", "POST", "/Rest/setSchedule", "groupId=" + id + "&ranges=Mon", "form", 400, "ranges"},
		{"range day unknown", "POST", "/Rest/setSchedule", "groupId=" + id + "&ranges=Funday+12:00-13:00", "form", 400, "ranges"},
		{"range empty", "POST", "/Rest/setSchedule", "groupId=" + id + "&ranges=Mon+12:00-12:00", "form", 400, "ranges"},
		{"range hour 25", "POST", "/Rest/setSchedule", "groupId=" + id + "&ranges=Mon+25:00-26:00", "form", 400, "ranges"},
		{"ranges starting together", "POST", "/Rest/setSchedule", "groupId=" + id + "&ranges=Mon+12:00-13:00,Mon+12:00-14:00", "form", 400, "ranges"},
		{"range script", "POST", "/Rest/setSchedule", "groupId=" + id + "&ranges=%3Cscript%3E", "form", 400, "ranges"},
		{"schedule of no group", "POST", "/Rest/setSchedule", "groupId=999&ranges=Mon+12:00-13:00", "form", 404, "groupId"},
		{"clear schedule of no group", "POST", "/Rest/clearSchedule", "groupId=999", "form", 404, "groupId"},
		{"holiday without name", "POST", "/Rest/addHoliday", "first=2026-12-24", "form", 400, "name"},
		{"holiday date wrong", "POST", "/Rest/addHoliday", "name=X&first=24.12.2026", "form", 400, "first"},
		{"holiday backwards", "POST", "/Rest/addHoliday", "name=X&first=2026-12-26&last=2026-12-24", "form", 400, "last"},
		{"holiday of no group", "POST", "/Rest/addHoliday", "name=X&first=2026-12-24&groupIds=999", "form", 404, "groupId"},
		{"holiday group not a number", "POST", "/Rest/addHoliday", "name=X&first=2026-12-24&groupIds=1,x", "form", 400, "groupIds"},
		{"delete no holiday", "POST", "/Rest/deleteHoliday", "holidayId=999", "form", 404, "holidayId"},
		{"change on GET", "GET", "/Rest/toggleDiversion?groupId=" + id, "", "", 405, ""},
		{"DELETE", "DELETE", "/Rest/listGroups", "", "", 405, ""},
		{"PUT", "PUT", "/Rest/addLine", "groupId=" + id + "&lineNumber=2009", "form", 405, ""},
		{"oversized body", "POST", "/Rest/updateLine", "groupId=" + id + "&lineNumber=2001&description=" + strings.Repeat("x", 2<<20), "form", 413, ""},
		{"oversized multipart", "POST", "/Rest/updateLine", "--b\r\nContent-Disposition: form-data; name=\"description\"\r\n\r\n" + strings.Repeat("y", 2<<20) + "\r\n--b--\r\n", "multipart/form-data; boundary=b", 413, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := f.snapshot()
			req, err := http.NewRequest(c.method, f.base+c.path, strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			switch c.contentType {
			case "form":
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			case "":
			default:
				req.Header.Set("Content-Type", c.contentType)
			}
			resp, err := local.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var body bytes.Buffer
			_, _ = body.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Errorf("status %d, want %d: %s", resp.StatusCode, c.status, body.String())
			}
			if !strings.Contains(body.String(), "<Error>") || !strings.Contains(body.String(), "<Message>") {
				t.Errorf("no error in the envelope: %s", body.String())
			}
			if c.param != "" && !strings.Contains(body.String(), "<Parameter>"+c.param+"</Parameter>") {
				t.Errorf("the error does not name %s: %s", c.param, body.String())
			}
			if after := f.snapshot(); !reflect.DeepEqual(before, after) {
				t.Errorf("the store changed:\nbefore %+v\nafter  %+v", before, after)
			}
		})
	}
	// A form body declared ISO-8859-1 is decoded rather than refused.
	req, _ := http.NewRequest("POST", f.base+"/Rest/updateLine", strings.NewReader("groupId="+id+"&lineNumber=2001&description=B%FCro"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=ISO-8859-1")
	resp, err := local.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	lines, _ := f.svc.Lines(ctx, g.ID)
	if resp.StatusCode != 200 || lines[0].Description != "Büro" {
		t.Errorf("ISO-8859-1 form: %d, description %q", resp.StatusCode, lines[0].Description)
	}
	// A URL beyond the header limit is refused by the server itself.
	if r := f.get("/Rest/listGroups?groupName=" + strings.Repeat("a", 100<<10)); r.status != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("100 KiB URL: %d", r.status)
	}
}
