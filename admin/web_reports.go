package admin

import (
	"encoding/csv"
	"fmt"
	"html"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/phonediversions/phonediversions/routing"
)

// reportsPerPage is the length of a page of the Reports tab, and
// reportsCountUpTo how far it counts the matching entries ("more than
// 10,000").
const (
	reportsPerPage   = 50
	reportsCountUpTo = 10_000
)

// pickerLayout is the value format of <input type="datetime-local">.
const pickerLayout = "2006-01-02T15:04"

// reportsData is the data of the Reports tab.
type reportsData struct {
	Entries          []routing.ReportEntry
	Total            int
	AtLeast          bool
	First, Last      int // positions shown, 1 up
	Prev, Next       string
	ExportURL        template.URL // the export and the chart of the page's filter
	ChartURL         template.URL
	DateLayout       string // how times show (date_format)
	SortNewest       string // the same filter in each order
	SortOldest       string
	Newest           bool
	Actions          []routing.Action
	Statuses         []routing.Status
	Location         *time.Location
	Zone             string
	ChartDescription string
}

// zoneName names the time zone the page shows times in.
func zoneName(loc *time.Location, now time.Time) string {
	if loc.String() != "Local" {
		return loc.String()
	}
	return now.In(loc).Format("MST (UTC-07:00)")
}

// webReportFilter reads the filter of the Reports tab. The date pickers
// send local times of the configured zone.
func (s *Server) webReportFilter(q url.Values) (routing.ReportFilter, map[string]string) {
	var f routing.ReportFilter
	errs := map[string]string{}
	for _, bound := range []struct {
		name string
		dst  *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		v := strings.TrimSpace(q.Get(bound.name))
		if v == "" {
			continue
		}
		t, err := time.ParseInLocation(pickerLayout, v, s.cfg.Location)
		if err != nil {
			if t, err = parseTime(bound.name, v, s.cfg.Location, bound.name == "to"); err != nil {
				errs[bound.name] = "Give a date and time such as 2026-11-28T14:30."
				continue
			}
		} else if bound.name == "to" {
			t = t.Add(time.Minute - time.Nanosecond) // to the end of that minute
		}
		*bound.dst = t
	}
	if v := q.Get("action"); v != "" {
		var err error
		if f.Action, err = matchName("action", v, routing.Actions); err != nil {
			errs["action"] = "Choose an action from the list."
		}
	}
	if v := q.Get("status"); v != "" {
		var err error
		if f.Status, err = matchName("status", v, routing.Statuses); err != nil {
			errs["status"] = "Choose a status from the list."
		}
	}
	f.Search = strings.TrimSpace(q.Get("search"))
	f.OldestFirst = q.Get("order") == "oldest"
	f.Limit, f.CountUpTo = reportsPerPage, reportsCountUpTo
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1<<20 {
			errs["page"] = "There is no such page."
		} else {
			f.Offset = (n - 1) * reportsPerPage
		}
	}
	if len(errs) == 0 {
		if err := routing.ValidateReportFilter(&f); err != nil {
			errs[routing.ErrorField(err)] = sentence(routing.ErrorMessage(err)) + "."
		}
	}
	return f, errs
}

// filterQuery is the query of a filter, without the page.
func filterQuery(q url.Values, order string) url.Values {
	out := url.Values{}
	for _, k := range []string{"from", "to", "action", "status", "search"} {
		if v := q.Get(k); v != "" {
			out.Set(k, v)
		}
	}
	if order != "" {
		out.Set("order", order)
	}
	return out
}

func (s *Server) reportsPage(w http.ResponseWriter, r *http.Request, u *webUser) {
	q := r.URL.Query()
	f, errs := s.webReportFilter(q)
	fields := map[string]string{}
	for _, k := range []string{"from", "to", "action", "status", "search", "order"} {
		fields[k] = q.Get(k)
	}
	d := reportsData{Actions: routing.Actions, Statuses: routing.Statuses, Location: s.cfg.Location, Newest: !f.OldestFirst,
		DateLayout: s.cfg.DateFormat.layout(),
		Zone:       zoneName(s.cfg.Location, s.cfg.Now())}
	status := http.StatusOK
	if len(errs) == 0 {
		pg, err := s.svc.Reports(r.Context(), f)
		if err != nil {
			s.internal(w, r, u, err)
			return
		}
		d.Entries, d.Total, d.AtLeast = pg.Entries, pg.Total, pg.AtLeast
		d.First, d.Last = f.Offset+1, f.Offset+len(pg.Entries)
		order := q.Get("order")
		base := filterQuery(q, order)
		pageURL := func(n int) string {
			v := filterQuery(q, order)
			v.Set("page", strconv.Itoa(n))
			return "/reports?" + v.Encode()
		}
		n := f.Offset/reportsPerPage + 1
		if n > 1 {
			d.Prev = pageURL(n - 1)
		}
		if f.Offset+len(pg.Entries) < pg.Total || (pg.AtLeast && len(pg.Entries) == reportsPerPage) {
			d.Next = pageURL(n + 1)
		}
		d.ExportURL = template.URL("/reports/export?" + base.Encode())
		d.ChartURL = template.URL("/reports/chart?" + base.Encode())
		d.SortNewest = "/reports?" + filterQuery(q, "").Encode()
		d.SortOldest = "/reports?" + filterQuery(q, "oldest").Encode()
		from, to, perDay := chartRange(f, s.cfg.Now())
		d.ChartDescription = chartTitle(from, to, perDay, s.cfg.Location)
	} else {
		status = http.StatusUnprocessableEntity
	}
	s.render(w, r, status, "reports", page{Title: "Reports", User: u, Data: d, Fields: fields, Errors: errs})
}

// csvCell keeps a cell from being read as a formula by a spreadsheet:
// one that starts with =, @, a tab or a return, or with + or - and is no
// dial string, gets a leading apostrophe.
func csvCell(v string) string {
	if v == "" {
		return v
	}
	switch v[0] {
	case '=', '@', '\t', '\r':
		return "'" + v
	case '+', '-':
		// A plain number ("+41 44 555 12 34", "-3") stays; anything else
		// ("+1*2", "-2+3", "+cmd|...") would be computed.
		if !plainSignedNumber(v) {
			return "'" + v
		}
	}
	return v
}

// plainSignedNumber reports whether v is a sign followed by digits and
// spaces only, with at least one digit.
func plainSignedNumber(v string) bool {
	digits := 0
	for _, c := range v[1:] {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == ' ':
		default:
			return false
		}
	}
	return digits > 0
}

// reportsExport streams every entry of the filter as CSV, one at a time:
// a million entries take no more memory than ten.
func (s *Server) reportsExport(w http.ResponseWriter, r *http.Request, u *webUser) {
	f, errs := s.webReportFilter(r.URL.Query())
	if len(errs) > 0 {
		s.errorPage(w, r, u, http.StatusUnprocessableEntity, "The filter is not valid; correct it on the Reports tab.")
		return
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="reports-%s.csv"`, s.cfg.Now().In(s.cfg.Location).Format("20060102-1504")))
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"Time", "Action", "Status", "Username", "Caller", "Receiver", "Group", "Channel", "Detail"})
	n := 0
	err := s.svc.EachReport(r.Context(), f, func(e routing.ReportEntry) error {
		if n%1000 == 0 {
			_ = rc.SetWriteDeadline(time.Now().Add(time.Minute))
		}
		n++
		return cw.Write([]string{e.Time.In(s.cfg.Location).Format(s.cfg.DateFormat.layout()), string(e.Action), string(e.Status),
			csvCell(e.Username), csvCell(e.Caller), csvCell(e.Receiver), csvCell(e.Group), string(e.Channel), csvCell(e.Detail)})
	})
	cw.Flush()
	if err == nil {
		err = cw.Error()
	}
	if err != nil {
		// The answer has begun: all that can be done is to cut it short.
		s.log.Warn().Err(err).Int("rows", n).Msg("report export cut short")
		panic(http.ErrAbortHandler)
	}
}

// chartRange is the time range the chart shows: the filter's, or the
// last 7 days up to its end; per day beyond three days, else per hour.
func chartRange(f routing.ReportFilter, now time.Time) (time.Time, time.Time, bool) {
	to := f.To
	if to.IsZero() {
		to = now
	}
	from := f.From
	if from.IsZero() {
		from = to.AddDate(0, 0, -7)
	}
	return from, to, to.Sub(from) > 72*time.Hour
}

func chartTitle(from, to time.Time, perDay bool, loc *time.Location) string {
	unit := "hour"
	if perDay {
		unit = "day"
	}
	return fmt.Sprintf("Entries per %s by status, %s to %s", unit,
		from.In(loc).Format("2 Jan 2006 15:04"), to.In(loc).Format("2 Jan 2006 15:04"))
}

// statusColours are the chart's colours; the legend names each.
var statusColours = map[routing.Status]string{
	routing.StatusActivated: "#2e7d32", routing.StatusDeactivated: "#9e9e9e",
	routing.StatusConnected: "#1f5fa8", routing.StatusDirectAccess: "#00838f", routing.StatusTerminated: "#5e35b1",
	routing.StatusBusy: "#ef6c00", routing.StatusNoAnswer: "#f9a825", routing.StatusFailed: "#c62828", routing.StatusCancelled: "#6d4c41",
	routing.StatusCreated: "#558b2f", routing.StatusChanged: "#0277bd", routing.StatusDeleted: "#ad1457",
}

// Chart dimensions.
const chartW, chartH, chartTop, chartBottom, chartLeft = 760, 200, 10, 40, 40

// reportsChart draws the entries of the filtered range per hour or day,
// stacked by status, as SVG.
func (s *Server) reportsChart(w http.ResponseWriter, r *http.Request, u *webUser) {
	f, errs := s.webReportFilter(r.URL.Query())
	if len(errs) > 0 {
		http.Error(w, "invalid filter", http.StatusUnprocessableEntity)
		return
	}
	from, to, perDay := chartRange(f, s.cfg.Now())
	f.From, f.To = from, to
	counts, err := s.svc.ReportCounts(r.Context(), f, s.cfg.Location, perDay)
	if err != nil {
		s.internal(w, r, u, err)
		return
	}
	// The slots of the range, in the zone's hours or days.
	loc := s.cfg.Location
	var slots []time.Time
	start := from.In(loc)
	if perDay {
		start = time.Date(start.Year(), start.Month(), start.Day(), 0, 0, 0, 0, loc)
	} else {
		start = start.Truncate(time.Hour)
	}
	for t := start; !t.After(to); {
		slots = append(slots, t)
		if perDay {
			t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, loc)
		} else {
			t = t.Add(time.Hour)
		}
	}
	index := map[int64]int{}
	for i, t := range slots {
		index[t.Unix()] = i
	}
	stacks := make([]map[routing.Status]int, len(slots))
	peak, total := 1, 0
	seen := map[routing.Status]bool{}
	sums := make([]int, len(slots))
	for _, c := range counts {
		i, ok := index[c.Start.Unix()]
		if !ok {
			continue
		}
		if stacks[i] == nil {
			stacks[i] = map[routing.Status]int{}
		}
		stacks[i][c.Status] += c.Count
		sums[i] += c.Count
		peak = max(peak, sums[i])
		total += c.Count
		seen[c.Status] = true
	}
	title := chartTitle(from, to, perDay, loc)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" font-family="sans-serif" font-size="11">`,
		chartW, chartH, chartW, chartH)
	fmt.Fprintf(&b, `<title>%s: %d entries</title>`, html.EscapeString(title), total)
	plotW, plotH := float64(chartW-chartLeft-10), float64(chartH-chartTop-chartBottom)
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%d</text><line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#888"/>`,
		chartLeft-4, chartTop+8, peak, chartLeft, chartTop+int(plotH), chartW-10, chartTop+int(plotH))
	barW := plotW / float64(max(len(slots), 1))
	for i, t := range slots {
		x := float64(chartLeft) + float64(i)*barW
		y := float64(chartTop) + plotH
		for _, st := range routing.Statuses {
			n := stacks[i][st]
			if n == 0 {
				continue
			}
			h := plotH * float64(n) / float64(peak)
			y -= h
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %d</title></rect>`,
				x+barW*0.1, y, barW*0.8, h, statusColours[st], t.Format("2 Jan 15:04"), st, n)
		}
		if every := max(len(slots)/8, 1); i%every == 0 {
			label := t.Format("15:04")
			if perDay || t.Hour() == 0 {
				label = t.Format("2 Jan")
			}
			fmt.Fprintf(&b, `<text x="%.1f" y="%d">%s</text>`, x, chartTop+int(plotH)+14, label)
		}
	}
	lx := chartLeft
	for _, st := range routing.Statuses {
		if !seen[st] {
			continue
		}
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="10" height="10" fill="%s"/><text x="%d" y="%d">%s</text>`,
			lx, chartH-14, statusColours[st], lx+14, chartH-5, st)
		lx += 20 + 7*len(st)
	}
	if total == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">No entries in this range</text>`, chartW/2, chartH/2)
	}
	b.WriteString(`</svg>`)
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = io.WriteString(w, b.String())
}
