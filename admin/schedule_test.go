package admin_test

import (
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// A script sets a group's schedule, sees it, sees the group's next change
// after its description in listGroups, switches it by hand until a time,
// keeps a holiday calendar, and clears the schedule.
func TestRESTSchedules(t *testing.T) {
	f := newFixture(t) // the clock starts on Saturday 2026-11-28 09:00 in Zurich
	g := f.group("Front Desk", "1022", "the desk")
	id := strconv.FormatInt(g.ID, 10)
	post := func(path string, form url.Values, want int) string {
		t.Helper()
		r := f.do(local, "POST", path, form)
		if r.status != want {
			t.Fatalf("%s %v: %d, want %d\n%s", path, form, r.status, want, r.body)
		}
		return r.body
	}
	body := post("/Rest/setSchedule", url.Values{"groupId": {id}, "ranges": {"Mon-Fri 12:00-13:00; Sat 08:00-24:00"}}, 200)
	for _, want := range []string{"<Day>Mon</Day>", "<Day>Fri</Day>", "<Start>12:00</Start>", "<End>13:00</End>", "<Day>Sat</Day>", "<End>24:00</End>"} {
		if !strings.Contains(body, want) {
			t.Errorf("setSchedule answer lacks %s:\n%s", want, body)
		}
	}
	if list := f.get("/Rest/listSchedules").body; strings.Count(list, "<Range>") != 6 || !strings.Contains(list, "<GroupID>"+id+"</GroupID>") {
		t.Errorf("listSchedules:\n%s", list)
	}

	// Saturday from 08:00 the plan wants ON; the group follows its plan
	// from the next change (the scheduler runs in the program, not here):
	// listGroups shows that change after the description.
	groups := f.get("/Rest/listGroups").body
	desc, next := strings.Index(groups, "<Description>"), strings.Index(groups, "<NextChange>")
	if desc < 0 || next < desc {
		t.Fatalf("NextChange not after Description:\n%s", groups)
	}
	for _, want := range []string{"<Time>2026-11-29T00:00:00+01:00</Time>", "<State>OFF</State>", "<Manual>false</Manual>"} {
		if !strings.Contains(groups, want) {
			t.Errorf("listGroups lacks %s:\n%s", want, groups)
		}
	}

	body = post("/Rest/setDiversion", url.Values{"groupId": {id}, "state": {"OFF"}, "until": {"2026-11-28 18:00"}}, 200)
	for _, want := range []string{"<State>OFF</State>", "<Time>2026-11-28T18:00:00+01:00</Time>", "<State>ON</State>", "<Manual>true</Manual>"} {
		if !strings.Contains(body, want) {
			t.Errorf("setDiversion until 18:00 lacks %s:\n%s", want, body)
		}
	}

	body = post("/Rest/addHoliday", url.Values{"name": {"Christmas"}, "first": {"2026-12-24"}, "last": {"2026-12-26"}, "groupIds": {id}}, 200)
	if !strings.Contains(body, "<Name>Christmas</Name>") || !strings.Contains(body, "<First>2026-12-24</First>") {
		t.Errorf("addHoliday:\n%s", body)
	}
	hid := between(body, "<HolidayID>", "</HolidayID>")
	if list := f.get("/Rest/listHolidays?format=json").body; !strings.Contains(list, `"Name":"Christmas"`) || !strings.Contains(list, `"Last":"2026-12-26"`) {
		t.Errorf("listHolidays:\n%s", list)
	}
	post("/Rest/deleteHoliday", url.Values{"holidayId": {hid}}, 200)
	if list := f.get("/Rest/listHolidays").body; !strings.Contains(list, "NOT_FOUND") {
		t.Errorf("listHolidays after the delete:\n%s", list)
	}

	post("/Rest/clearSchedule", url.Values{"groupId": {id}}, 200)
	if groups := f.get("/Rest/listGroups").body; strings.Contains(groups, "<NextChange>") {
		t.Errorf("a group without a schedule has a next change:\n%s", groups)
	}
	if list := f.get("/Rest/listSchedules?groupId=" + id).body; !strings.Contains(list, "NOT_FOUND") {
		t.Errorf("listSchedules after the clear:\n%s", list)
	}
}

func between(s, from, to string) string {
	i := strings.Index(s, from)
	if i < 0 {
		return ""
	}
	s = s[i+len(from):]
	if j := strings.Index(s, to); j >= 0 {
		return s[:j]
	}
	return ""
}
