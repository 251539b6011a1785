package admin_test

import (
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/phonediversions/phonediversions/routing"
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

// The group page saves a typed schedule and shows it on the week grid;
// a wrong one comes back with what was typed and why; the State tab
// shows how long each state holds; the holidays page adds and deletes,
// and shows hostile names as text.
func TestWebSchedules(t *testing.T) {
	f := newFixture(t) // Saturday 2026-11-28, 09:00 in Zurich
	f.user("desk", "desk-password", routing.PrivState|routing.PrivGroups)
	g := f.group("Front Desk", "1022", "")
	id := strconv.FormatInt(g.ID, 10)
	b := f.signIn("desk", "desk-password")

	r := b.post("/groups/"+id+"/schedule", url.Values{"ranges": {"Sat 08:00-18:00, Mon-Fri 17:30-08:00"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("saving a schedule: %d %s", r.status, r.body)
	}
	page := b.get("/groups/" + id).body
	for _, want := range []string{
		`Mon-Fri 17:30-08:00, Sat 08:00-18:00`,        // the field, as saved
		`<td data-day="6" data-slot="16" class="on">`, // Saturday 08:00
		`<td data-day="6" data-slot="35" class="on">`, // Saturday 17:30
		`<td data-day="6" data-slot="36"></td>`,       // Saturday 18:00: OFF
		`<td data-day="2" data-slot="0" class="on">`,  // Tuesday 00:00, Monday's night
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the group page lacks %s", want)
		}
	}
	// The scheduler has not run here: the group is OFF, the plan wants ON
	// until 18:00.
	if !strings.Contains(page, "schedule: OFF at 18:00") {
		t.Errorf("the group page does not show the next change:\n%s", between(page, `id="schedule"`, "</section>"))
	}

	r = b.post("/groups/"+id+"/schedule", url.Values{"ranges": {"Mon 12:00-12:00 <b>"}})
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "Mon 12:00-12:00 &lt;b&gt;") || !strings.Contains(r.body, `aria-invalid="true"`) {
		t.Errorf("a wrong schedule: %d, the typed text and the error not shown", r.status)
	}
	if ranges, _ := f.svc.Schedule(ctx, g.ID); len(ranges) != 6 {
		t.Errorf("a refused schedule changed the saved one: %v", ranges)
	}

	if _, err := f.svc.SetState(ctx, g.ID, true, routing.Actor{Name: "x"}, routing.ChannelWeb); err != nil {
		t.Fatal(err)
	}
	if state := b.get("/state").body; !strings.Contains(state, "<span data-next>ON until 18:00</span>") {
		t.Errorf("the State tab does not say ON until 18:00:\n%s", between(state, "<tbody>", "</tbody>"))
	}
	// Switched OFF until a chosen time from the State tab; a time that is
	// not one changes nothing.
	before := f.snapshot()
	if r := b.post("/state/"+id, url.Values{"state": {"OFF"}, "until": {"tea time"}}); r.status != http.StatusBadRequest {
		t.Errorf("a wrong until: %d", r.status)
	}
	if !reflect.DeepEqual(f.snapshot(), before) {
		t.Error("a wrong until changed the store")
	}
	if r := b.post("/state/"+id, url.Values{"state": {"OFF"}, "until": {"2026-11-28T12:00"}}); r.status != http.StatusSeeOther {
		t.Fatalf("OFF until 12:00: %d %s", r.status, r.body)
	}
	if state := b.get("/state").body; !strings.Contains(state, "<span data-next>OFF until 12:00 (manual)</span>") {
		t.Errorf("the State tab does not say OFF until 12:00 (manual):\n%s", between(state, "<tbody>", "</tbody>"))
	}

	r = b.post("/holidays", url.Values{"name": {`<script>x</script>`}, "first": {"2026-12-24"}, "last": {"2026-12-26"}, "groupIds": {id}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("adding a holiday: %d %s", r.status, r.body)
	}
	hols := b.get("/holidays").body
	if strings.Contains(hols, "<script>x") || !strings.Contains(hols, "&lt;script&gt;x&lt;/script&gt;") || !strings.Contains(hols, "Front Desk") {
		t.Errorf("the holidays page:\n%s", between(hols, "<tbody>", "</tbody>"))
	}
	r = b.post("/holidays", url.Values{"name": {"Backwards"}, "first": {"2026-12-26"}, "last": {"2026-12-24"}, "groupIds": {id}})
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, `value="Backwards"`) || !strings.Contains(r.body, "checked") {
		t.Errorf("a refused holiday does not keep what was typed: %d", r.status)
	}
	list, _ := f.svc.Holidays(ctx)
	if len(list) != 1 {
		t.Fatalf("holidays: %+v", list)
	}
	if r := b.post("/holidays/"+strconv.FormatInt(list[0].ID, 10)+"/delete", nil); r.status != http.StatusSeeOther {
		t.Errorf("deleting the holiday: %d", r.status)
	}
	if list, _ := f.svc.Holidays(ctx); len(list) != 0 {
		t.Errorf("holidays after the delete: %+v", list)
	}
}
