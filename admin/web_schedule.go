package admin

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/phonediversions/phonediversions/routing"
)

// The schedule editor on a group's page: a week grid of half hours that
// shows the ranges (and, with the page's script, takes them from the
// mouse) and the text field the ranges are typed in, which is what is
// saved.

// gridDays are the grid's columns, Monday first.
var gridDays = []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday, time.Sunday}

const gridSlot = 30 // minutes per row

// scheduleEditor is the editor's data.
type scheduleEditor struct {
	Ranges string // the text field
	Days   []string
	Rows   []gridRow
	Next   string // the group's next change, when it has a schedule
}

// gridRow is a half hour of the week grid.
type gridRow struct {
	Label string // "08:00" on the full hours, else empty
	Slot  int
	Cells []gridCell
}

type gridCell struct {
	Day int // 0 Sunday … 6 Saturday, as routing.Range
	On  bool
}

// newScheduleEditor lays the ranges on the grid; text is the field's
// value (the saved ranges, or what was typed and refused).
func newScheduleEditor(ranges []routing.Range, text string) scheduleEditor {
	on := map[[2]int]bool{} // day, slot
	for _, r := range ranges {
		end := r.End
		if end <= r.Start {
			end += routing.MinutesPerDay
		}
		for m := r.Start / gridSlot * gridSlot; m < end; m += gridSlot {
			day := (int(r.Day) + m/routing.MinutesPerDay) % 7
			on[[2]int{day, m % routing.MinutesPerDay / gridSlot}] = true
		}
	}
	e := scheduleEditor{Ranges: text}
	for _, d := range gridDays {
		e.Days = append(e.Days, d.String()[:3])
	}
	for slot := 0; slot < routing.MinutesPerDay/gridSlot; slot++ {
		row := gridRow{Slot: slot}
		if slot%2 == 0 {
			row.Label = fmt.Sprintf("%02d:00", slot/2)
		}
		for _, d := range gridDays {
			row.Cells = append(row.Cells, gridCell{Day: int(d), On: on[[2]int{int(d), slot}]})
		}
		e.Rows = append(e.Rows, row)
	}
	return e
}

// scheduleFor builds a group's editor with its saved ranges and next
// change.
func (s *Server) scheduleFor(r *http.Request, g routing.Group) (scheduleEditor, error) {
	ranges, err := s.svc.Schedule(r.Context(), g.ID)
	if err != nil {
		return scheduleEditor{}, err
	}
	e := newScheduleEditor(ranges, routing.FormatRanges(ranges))
	now := s.svc.Now()
	ncs, err := s.svc.NextChanges(r.Context(), now)
	if err != nil {
		return scheduleEditor{}, err
	}
	if nc, ok := ncs[g.ID]; ok {
		e.Next = s.nextText(g, nc, now)
	}
	return e, nil
}

// holidayRow is a holiday as its page lists it.
type holidayRow struct {
	routing.Holiday
	Groups string // the names of the groups it names
}

// holidaysData is the data of the holidays page.
type holidaysData struct {
	Holidays []holidayRow
	Groups   []routing.Group
	Chosen   map[int64]bool // the groups ticked in the form
}

func (s *Server) holidaysPage(w http.ResponseWriter, r *http.Request, u *webUser) {
	s.renderHolidays(w, r, u, http.StatusOK, nil, nil, nil)
}

// renderHolidays shows the calendar and the form (again, with what was
// typed and why it was refused, when err is set).
func (s *Server) renderHolidays(w http.ResponseWriter, r *http.Request, u *webUser, status int, err error, fields map[string]string, chosen map[int64]bool) {
	hols, herr := s.svc.Holidays(r.Context())
	if herr != nil {
		s.internal(w, r, u, herr)
		return
	}
	groups, gerr := s.svc.Groups(r.Context(), routing.GroupFilter{})
	if gerr != nil {
		s.internal(w, r, u, gerr)
		return
	}
	names := map[int64]string{}
	for _, g := range groups {
		names[g.ID] = g.Name
	}
	d := holidaysData{Groups: groups, Chosen: chosen}
	for _, h := range hols {
		var ns []string
		for _, id := range h.GroupIDs {
			ns = append(ns, names[id])
		}
		slices.Sort(ns)
		d.Holidays = append(d.Holidays, holidayRow{Holiday: h, Groups: strings.Join(ns, ", ")})
	}
	p := page{Title: "Holidays", User: u, Data: d, Fields: fields}
	if err != nil {
		p.Errors, p.Error = fieldErrors(err, "name", "first", "last", "groupIds")
	}
	s.render(w, r, status, "holidays", p)
}

func (s *Server) holidayAdd(w http.ResponseWriter, r *http.Request, u *webUser) {
	fields := formValues(r, "name", "first", "last")
	chosen := map[int64]bool{}
	for _, v := range r.PostForm["groupIds"] {
		if id, err := strconv.ParseInt(v, 10, 64); err == nil {
			chosen[id] = true // ticked again when the form comes back
		}
	}
	h, err := holidayFrom(fields["name"], fields["first"], fields["last"], r.PostForm["groupIds"])
	if err == nil {
		h, err = s.svc.AddHoliday(r.Context(), u.actor(), routing.ChannelWeb, h)
	}
	if err != nil {
		s.renderHolidays(w, r, u, formStatus(err), err, fields, chosen)
		return
	}
	redirect(w, r, "/holidays", fmt.Sprintf("Holiday %s is added.", h.Name))
}

func (s *Server) holidayDelete(w http.ResponseWriter, r *http.Request, u *webUser) {
	id, ok := s.pathID(w, r, u)
	if !ok {
		return
	}
	if err := s.svc.DeleteHoliday(r.Context(), u.actor(), routing.ChannelWeb, id); err != nil {
		s.failed(w, r, u, err)
		return
	}
	redirect(w, r, "/holidays", "The holiday is deleted.")
}
