package admin

import (
	"encoding/json"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/phonediversions/phonediversions/routing"
)

// webRoutes registers the pages of the web GUI, each with the privilege
// of its tab.
func (s *Server) webRoutes(mux *http.ServeMux) {
	static, _ := fs.Sub(webFS, "web/static")
	files := http.FileServerFS(static)
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info(r).route = "/static/"
		securityHeaders(w.Header())
		if r.URL.Path == "" || strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r) // no listing of the folder
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=86400")
		files.ServeHTTP(w, r)
	})))
	mux.HandleFunc("GET /{$}", s.serveRoot)
	mux.HandleFunc("/", s.serveNotFound)
	mux.HandleFunc("GET /signin", s.serveSignIn)
	mux.HandleFunc("POST /signin", s.signIn)
	mux.HandleFunc("POST /signout", s.web(0, s.signOut))
	mux.HandleFunc("GET /password", s.web(0, s.passwordPage))
	mux.HandleFunc("POST /password", s.web(0, s.changePassword))
	mux.HandleFunc("GET /events", s.web(0, func(w http.ResponseWriter, r *http.Request, _ *webUser) { s.serveEvents(w, r) }))

	mux.HandleFunc("GET /state", s.web(routing.PrivState, s.statePage))
	mux.HandleFunc("POST /state/{id}", s.web(routing.PrivState, s.stateSwitch))

	mux.HandleFunc("GET /groups", s.web(routing.PrivGroups, s.groupsPage))
	mux.HandleFunc("GET /groups/new", s.web(routing.PrivGroups, s.groupNewPage))
	mux.HandleFunc("POST /groups", s.web(routing.PrivGroups, s.groupCreate))
	mux.HandleFunc("GET /groups/{id}", s.web(routing.PrivGroups, s.groupEditPage))
	mux.HandleFunc("POST /groups/{id}", s.web(routing.PrivGroups, s.groupUpdate))
	mux.HandleFunc("POST /groups/{id}/delete", s.web(routing.PrivGroups, s.groupDelete))
	mux.HandleFunc("POST /groups/{id}/schedule", s.web(routing.PrivGroups, s.groupSchedule))
	mux.HandleFunc("GET /holidays", s.web(routing.PrivGroups, s.holidaysPage))
	mux.HandleFunc("POST /holidays", s.web(routing.PrivGroups, s.holidayAdd))
	mux.HandleFunc("POST /holidays/{id}/delete", s.web(routing.PrivGroups, s.holidayDelete))
	mux.HandleFunc("GET /groups/{id}/lines", s.web(routing.PrivGroups, s.linesPage))
	mux.HandleFunc("POST /groups/{id}/lines", s.web(routing.PrivGroups, s.lineAdd))
	mux.HandleFunc("POST /groups/{id}/lines/{number}", s.web(routing.PrivGroups, s.lineRename))
	mux.HandleFunc("POST /groups/{id}/lines/{number}/delete", s.web(routing.PrivGroups, s.lineDelete))

	mux.HandleFunc("GET /callhandler", s.web(routing.PrivCallHandler, s.callHandlerPage))
	mux.HandleFunc("POST /callhandler", s.web(routing.PrivCallHandler, s.callHandlerSave))
	mux.HandleFunc("POST /callhandler/groups/{id}", s.web(routing.PrivCallHandler, s.groupAnnouncement))
	mux.HandleFunc("POST /announcements", s.web(routing.PrivCallHandler, s.announcementUpload))
	mux.HandleFunc("GET /announcements/{id}/audio", s.web(routing.PrivCallHandler, s.announcementAudio))
	mux.HandleFunc("GET /announcements/{id}/waveform", s.web(routing.PrivCallHandler, s.announcementWaveform))
	mux.HandleFunc("POST /announcements/{id}/delete", s.web(routing.PrivCallHandler, s.announcementDelete))

	mux.HandleFunc("GET /reports", s.web(routing.PrivReports, s.reportsPage))
	mux.HandleFunc("GET /reports/export", s.web(routing.PrivReports, s.reportsExport))
	mux.HandleFunc("GET /reports/chart", s.web(routing.PrivReports, s.reportsChart))

	mux.HandleFunc("GET /users", s.web(routing.PrivAdmin, s.usersPage))
	mux.HandleFunc("GET /users/new", s.web(routing.PrivAdmin, s.userNewPage))
	mux.HandleFunc("POST /users", s.web(routing.PrivAdmin, s.userCreate))
	mux.HandleFunc("GET /users/{id}", s.web(routing.PrivAdmin, s.userEditPage))
	mux.HandleFunc("POST /users/{id}", s.web(routing.PrivAdmin, s.userUpdate))
	mux.HandleFunc("POST /users/{id}/password", s.web(routing.PrivAdmin, s.userPassword))
	mux.HandleFunc("POST /users/{id}/delete", s.web(routing.PrivAdmin, s.userDelete))
}

// pathID reads the {id} of a path; a bad one answers 404.
func (s *Server) pathID(w http.ResponseWriter, r *http.Request, u *webUser) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 0 {
		s.errorPage(w, r, u, http.StatusNotFound, "There is no such page.")
		return 0, false
	}
	return id, true
}

// stateRow is a group as the State tab shows it.
type stateRow struct {
	routing.Group
	Owner string
	// Next is what the group's schedule does next ("ON until 13:00");
	// empty for a group without one.
	Next string
}

// groupRows returns every group with the owner of its destination.
func (s *Server) groupRows(r *http.Request) ([]stateRow, error) {
	groups, err := s.svc.Groups(r.Context(), routing.GroupFilter{})
	if err != nil {
		return nil, err
	}
	numbers := make([]string, len(groups))
	for i, g := range groups {
		numbers[i] = g.Destination
	}
	owners, err := s.svc.Owners(r.Context(), numbers)
	if err != nil {
		return nil, err
	}
	rows := make([]stateRow, len(groups))
	for i, g := range groups {
		rows[i] = stateRow{Group: g, Owner: owners[g.Destination]}
	}
	return rows, nil
}

// nextText says how long a group's state holds: "ON until 13:00", "OFF
// until Monday 08:00 (manual)", or for a manual switch the schedule will
// agree with, "OFF, manual until 13:00".
func (s *Server) nextText(g routing.Group, nc routing.NextChange, now time.Time) string {
	when := s.when(nc.At, now)
	switch {
	case nc.On == g.On && nc.Manual:
		return g.StateName() + ", manual until " + when
	case nc.On == g.On:
		return "schedule: " + routing.StateName(nc.On) + " " + atWhen(when)
	case nc.Manual:
		return g.StateName() + " until " + when + " (manual)"
	default:
		return g.StateName() + " until " + when
	}
}

func (s *Server) statePage(w http.ResponseWriter, r *http.Request, u *webUser) {
	rows, err := s.groupRows(r)
	if err != nil {
		s.internal(w, r, u, err)
		return
	}
	now := s.svc.Now()
	ncs, err := s.svc.NextChanges(r.Context(), now)
	if err != nil {
		s.internal(w, r, u, err)
		return
	}
	for i, row := range rows {
		if nc, ok := ncs[row.ID]; ok {
			rows[i].Next = s.nextText(row.Group, nc, now)
		}
	}
	s.render(w, r, http.StatusOK, "state", page{Title: "State", User: u, Data: rows})
}

// stateSwitch sets a group ON or OFF as the button said: the state the
// person saw and chose, not the opposite of whatever it became meanwhile.
func (s *Server) stateSwitch(w http.ResponseWriter, r *http.Request, u *webUser) {
	id, ok := s.pathID(w, r, u)
	if !ok {
		return
	}
	var on bool
	switch strings.ToUpper(r.PostFormValue("state")) {
	case "ON":
		on = true
	case "OFF":
	default:
		s.errorPage(w, r, u, http.StatusBadRequest, "The switch must say ON or OFF.")
		return
	}
	var g routing.Group
	var err error
	if v := r.PostFormValue("until"); v != "" {
		until, perr := parseTime("until", v, s.cfg.Location, false)
		if perr != nil {
			s.errorPage(w, r, u, http.StatusBadRequest, "The time to hold the switch until is not a date and time.")
			return
		}
		g, err = s.svc.SetStateUntil(r.Context(), id, on, until, u.actor(), routing.ChannelWeb)
	} else {
		g, err = s.svc.SetState(r.Context(), id, on, u.actor(), routing.ChannelWeb)
	}
	if err != nil {
		s.failed(w, r, u, err)
		return
	}
	if wantsJSONAnswer(r) {
		writeJSON(w, http.StatusOK, map[string]any{"id": g.ID, "state": g.StateName()})
		return
	}
	redirect(w, r, "/state#group-"+strconv.FormatInt(g.ID, 10), g.Name+" is "+g.StateName()+".")
}

// writeJSON answers the page's script.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
