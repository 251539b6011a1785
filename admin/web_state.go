package admin

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/phonediversions/phonediversions/routing"
)

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
