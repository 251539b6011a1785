package admin

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"

	"github.com/phonediversions/phonediversions/routing"
)

// groupFields are the fields of the group form.
var groupFields = []string{"groupName", "description", "destination"}

// groupRow is a group as the Groups tab shows it.
type groupRow struct {
	stateRow
	PhoneURL string
}

func (s *Server) groupsPage(w http.ResponseWriter, r *http.Request, u *webUser) {
	rows, err := s.groupRows(r)
	if err != nil {
		s.internal(w, r, u, err)
		return
	}
	secret, err := s.svc.PhoneSecret(r.Context())
	if err != nil {
		s.internal(w, r, u, err)
		return
	}
	data := groupsData{MenuURL: s.phoneServiceURL(secret, 0), CanRenew: u.Privileges.Has(routing.PrivAdmin),
		Groups: make([]groupRow, len(rows))}
	for i, row := range rows {
		data.Groups[i] = groupRow{stateRow: row, PhoneURL: s.phoneServiceURL(secret, row.ID)}
	}
	s.render(w, r, http.StatusOK, "groups", page{Title: "Groups", User: u, Data: data})
}

// groupsData is the Groups tab: the groups, the phone service URL of the
// menu of all groups, and whether the user may renew the URLs' key.
type groupsData struct {
	Groups   []groupRow
	MenuURL  string
	CanRenew bool
}

// renewPhoneKey gives the phone service a new secret: every phone service
// URL changes, and the old ones switch nothing any more.
func (s *Server) renewPhoneKey(w http.ResponseWriter, r *http.Request, u *webUser) {
	if err := s.svc.RenewPhoneSecret(r.Context(), u.actor(), routing.ChannelWeb); err != nil {
		s.internal(w, r, u, err)
		return
	}
	redirect(w, r, "/groups", "The phone service URLs are renewed. Give CUCM the new ones: the old URLs no longer switch anything.")
}

// groupForm is the data of the group form page.
type groupForm struct {
	ID       int64 // 0: a new group
	Schedule scheduleEditor
}

// groupAt reads the group the path names; when it cannot, the answer is
// written and ok is false.
func (s *Server) groupAt(w http.ResponseWriter, r *http.Request, u *webUser) (g routing.Group, ok bool) {
	id, ok := s.pathID(w, r, u)
	if !ok {
		return g, false
	}
	g, err := s.svc.Group(r.Context(), id)
	if err != nil {
		s.failed(w, r, u, err)
		return g, false
	}
	return g, true
}

func (s *Server) groupNewPage(w http.ResponseWriter, r *http.Request, u *webUser) {
	s.render(w, r, http.StatusOK, "group", page{Title: "New group", User: u, Data: groupForm{}, Fields: map[string]string{}})
}

func (s *Server) groupEditPage(w http.ResponseWriter, r *http.Request, u *webUser) {
	g, ok := s.groupAt(w, r, u)
	if !ok {
		return
	}
	sched, err := s.scheduleFor(r, g)
	if err != nil {
		s.internal(w, r, u, err)
		return
	}
	s.render(w, r, http.StatusOK, "group", page{Title: "Group " + g.Name, User: u, Data: groupForm{ID: g.ID, Schedule: sched},
		Fields: map[string]string{"groupName": g.Name, "description": g.Description, "destination": g.Destination, "ranges": sched.Ranges}})
}

// groupFormAgain shows the group form again with what was typed and why
// it was refused.
func (s *Server) groupFormAgain(w http.ResponseWriter, r *http.Request, u *webUser, id int64, err error) {
	errs, msg := fieldErrors(err, groupFields...)
	title := "New group"
	if id != 0 {
		title = "Group"
	}
	s.render(w, r, formStatus(err), "group", page{Title: title, User: u, Data: groupForm{ID: id},
		Fields: formValues(r, groupFields...), Errors: errs, Error: msg})
}

func (s *Server) groupCreate(w http.ResponseWriter, r *http.Request, u *webUser) {
	g, err := s.svc.CreateGroup(r.Context(), u.actor(), routing.ChannelWeb, routing.Group{Name: r.PostFormValue("groupName"),
		Description: r.PostFormValue("description"), Destination: r.PostFormValue("destination")})
	if err != nil {
		s.groupFormAgain(w, r, u, 0, err)
		return
	}
	redirect(w, r, "/groups/"+strconv.FormatInt(g.ID, 10)+"/lines", fmt.Sprintf("Group %s is created. Add its lines.", g.Name))
}

func (s *Server) groupUpdate(w http.ResponseWriter, r *http.Request, u *webUser) {
	id, ok := s.pathID(w, r, u)
	if !ok {
		return
	}
	name, desc, dest := r.PostFormValue("groupName"), r.PostFormValue("description"), r.PostFormValue("destination")
	g, err := s.svc.UpdateGroup(r.Context(), u.actor(), routing.ChannelWeb, id, routing.GroupUpdate{Name: &name, Description: &desc, Destination: &dest})
	if err != nil {
		s.groupFormAgain(w, r, u, id, err)
		return
	}
	redirect(w, r, "/groups", fmt.Sprintf("Group %s is saved.", g.Name))
}

// groupDelete deletes a group once confirmed; unconfirmed (a browser
// without script) it asks, saying how many lines go with it.
func (s *Server) groupDelete(w http.ResponseWriter, r *http.Request, u *webUser) {
	g, ok := s.groupAt(w, r, u)
	if !ok {
		return
	}
	id := g.ID
	if r.PostFormValue("confirm") != "yes" {
		lines, err := s.svc.Lines(r.Context(), id)
		if err != nil {
			s.failed(w, r, u, err)
			return
		}
		s.render(w, r, http.StatusOK, "confirm", page{Title: "Delete group", User: u, Data: map[string]any{
			"Question": deleteQuestion(g.Name, len(lines)), "Action": r.URL.Path, "Back": "/groups", "Button": "Delete group"}})
		return
	}
	if err := s.svc.DeleteGroup(r.Context(), u.actor(), routing.ChannelWeb, id); err != nil {
		s.failed(w, r, u, err)
		return
	}
	redirect(w, r, "/groups", fmt.Sprintf("Group %s is deleted.", g.Name))
}

// deleteQuestion asks whether to delete a group and its lines.
func deleteQuestion(name string, lines int) string {
	switch lines {
	case 0:
		return fmt.Sprintf("Delete group %s? It has no lines.", name)
	case 1:
		return fmt.Sprintf("Delete group %s and its line?", name)
	default:
		return fmt.Sprintf("Delete group %s and its %d lines?", name, lines)
	}
}

// linesData is the data of a group's Lines page.
type linesData struct {
	Group routing.Group
	Lines []routing.LineInfo
	// OtherGroup is the group a refused number already belongs to.
	OtherGroup *routing.Group
	// Editing is the line whose rename was refused.
	Editing string
}

// linesPage shows a group's lines; fields, errs and msg carry a refused
// form.
func (s *Server) linesPage(w http.ResponseWriter, r *http.Request, u *webUser) {
	s.showLines(w, r, u, http.StatusOK, page{})
}

func (s *Server) showLines(w http.ResponseWriter, r *http.Request, u *webUser, status int, p page) {
	g, ok := s.groupAt(w, r, u)
	if !ok {
		return
	}
	id := g.ID
	lines, err := s.svc.Lines(r.Context(), id)
	if err != nil {
		s.failed(w, r, u, err)
		return
	}
	d, _ := p.Data.(linesData)
	d.Group, d.Lines = g, lines
	p.Title, p.User, p.Data = "Lines of "+g.Name, u, d
	if p.Fields == nil {
		p.Fields = map[string]string{}
	}
	s.render(w, r, status, "lines", p)
}

// quotedGroup finds the group name in a refusal such as `line 1001
// already belongs to group "Front Desk"`.
var quotedGroup = regexp.MustCompile(`group "(.*)"$`)

func (s *Server) lineAdd(w http.ResponseWriter, r *http.Request, u *webUser) {
	id, ok := s.pathID(w, r, u)
	if !ok {
		return
	}
	l, err := s.svc.AddLine(r.Context(), u.actor(), routing.ChannelWeb, id, r.PostFormValue("lineNumber"), r.PostFormValue("description"))
	if err != nil {
		var d linesData
		if routing.ErrorCode(err) == routing.ECONFLICT {
			if m := quotedGroup.FindStringSubmatch(routing.ErrorMessage(err)); m != nil {
				if gs, gerr := s.svc.Groups(r.Context(), routing.GroupFilter{Name: m[1]}); gerr == nil && len(gs) == 1 {
					d.OtherGroup = &gs[0]
				}
			}
		}
		errs, msg := fieldErrors(err, "lineNumber", "description")
		s.showLines(w, r, u, formStatus(err), page{Fields: formValues(r, "lineNumber", "description"), Errors: errs, Error: msg, Data: d})
		return
	}
	redirect(w, r, r.URL.Path, "Line "+l.Number+" is added.")
}

func (s *Server) lineRename(w http.ResponseWriter, r *http.Request, u *webUser) {
	id, ok := s.pathID(w, r, u)
	if !ok {
		return
	}
	number := r.PathValue("number")
	l, err := s.svc.UpdateLine(r.Context(), u.actor(), routing.ChannelWeb, id, number, r.PostFormValue("description"))
	if err != nil {
		errs, msg := fieldErrors(err, "description")
		if errs != nil {
			errs = map[string]string{"rename": errs["description"]}
		}
		s.showLines(w, r, u, formStatus(err), page{Fields: map[string]string{"rename": r.PostFormValue("description")},
			Errors: errs, Error: msg, Data: linesData{Editing: number}})
		return
	}
	redirect(w, r, linesPath(id), "Line "+l.Number+" is renamed.")
}

func (s *Server) lineDelete(w http.ResponseWriter, r *http.Request, u *webUser) {
	id, ok := s.pathID(w, r, u)
	if !ok {
		return
	}
	number := r.PathValue("number")
	if err := s.svc.DeleteLine(r.Context(), u.actor(), routing.ChannelWeb, id, number); err != nil {
		s.failed(w, r, u, err)
		return
	}
	redirect(w, r, linesPath(id), "Line "+number+" is deleted.")
}

// groupSchedule saves a group's ranges from the text field; an empty
// field removes the schedule. A refusal shows the page again with what
// was typed.
func (s *Server) groupSchedule(w http.ResponseWriter, r *http.Request, u *webUser) {
	g, ok := s.groupAt(w, r, u)
	if !ok {
		return
	}
	text := r.PostFormValue("ranges")
	ranges, err := routing.ParseRanges(text, "ranges")
	if err == nil {
		_, err = s.svc.SetSchedule(r.Context(), u.actor(), routing.ChannelWeb, g.ID, ranges)
	}
	if err != nil {
		if routing.ErrorCode(err) != routing.EINVALID {
			s.failed(w, r, u, err)
			return
		}
		saved, serr := s.svc.Schedule(r.Context(), g.ID)
		if serr != nil {
			s.internal(w, r, u, serr)
			return
		}
		errs, msg := fieldErrors(err, "ranges")
		s.render(w, r, http.StatusUnprocessableEntity, "group", page{Title: "Group " + g.Name, User: u,
			Data:   groupForm{ID: g.ID, Schedule: newScheduleEditor(saved, text)},
			Fields: map[string]string{"groupName": g.Name, "description": g.Description, "destination": g.Destination},
			Errors: errs, Error: msg})
		return
	}
	msg := fmt.Sprintf("The schedule of %s is saved.", g.Name)
	if len(ranges) == 0 {
		msg = fmt.Sprintf("%s no longer follows a schedule.", g.Name)
	}
	redirect(w, r, "/groups/"+strconv.FormatInt(g.ID, 10)+"#schedule", msg)
}
