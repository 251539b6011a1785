package admin

import (
	"strings"
	"time"
)

// when writes a coming moment as people say it, in the configured time
// zone: "13:00" today, "Monday 08:00" within the week, "2026-12-27 00:00"
// beyond.
func (s *Server) when(t, now time.Time) string {
	t, now = t.In(s.cfg.Location), now.In(s.cfg.Location)
	y, m, d := t.Date()
	ny, nm, nd := now.Date()
	today := time.Date(ny, nm, nd, 0, 0, 0, 0, s.cfg.Location)
	switch {
	case y == ny && m == nm && d == nd:
		return t.Format("15:04")
	case t.Before(today.AddDate(0, 0, 7)):
		return t.Format("Monday 15:04")
	default:
		return t.Format("2006-01-02 15:04")
	}
}

// atWhen puts "at" or "on" before a when: "at 13:00", "on Monday 08:00".
func atWhen(when string) string {
	if strings.Contains(when, " ") {
		return "on " + when
	}
	return "at " + when
}
