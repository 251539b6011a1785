package sqlstore

import (
	"slices"
	"strings"
	"time"

	"github.com/phonediversions/phonediversions/routing"
)

func (t *tx) AppendReport(e *routing.ReportEntry) error {
	if e.Time.IsZero() {
		e.Time = t.now()
	}
	change := e.Action != routing.ActionCallHandler
	if change {
		if err := t.d.BeforeChange(t.ctx, t.q); err != nil {
			return err
		}
	}
	var err error
	e.ID, err = t.insert(`INSERT INTO reports (at, action, status, username, caller, receiver, group_name, group_id, channel, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, e.Time.UnixNano(), string(e.Action), string(e.Status),
		e.Username, e.Caller, e.Receiver, e.Group, e.GroupID, string(e.Channel), e.Detail)
	if err == nil && change {
		err = t.d.AfterChange(t.ctx, t.q, e.ID)
	}
	return err
}

func (t *tx) LastChange() (int64, error) {
	var id int64
	err := t.queryRow(`SELECT COALESCE(MAX(id), 0) FROM reports WHERE action <> ?`, string(routing.ActionCallHandler)).Scan(&id)
	return id, err
}

func (t *tx) ChangesAfter(id int64, limit int) ([]routing.ReportEntry, error) {
	rows, err := t.query(`SELECT `+reportColumns+` FROM reports r WHERE r.id > ? AND r.action <> ? ORDER BY r.id LIMIT ?`,
		id, string(routing.ActionCallHandler), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []routing.ReportEntry
	for rows.Next() {
		e, err := scanReport(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// reportQuery is the FROM and WHERE of a report filter and the order of
// its entries. A search is the dialect's: an index of its own may drive
// it, in its own order. Columns are qualified with r.
type reportQuery struct {
	from, where, order string
	args               []any
}

func (t *tx) newReportQuery(f routing.ReportFilter) reportQuery {
	q := reportQuery{from: " FROM reports r"}
	var conds []string
	if !f.From.IsZero() {
		conds, q.args = append(conds, "r.at >= ?"), append(q.args, f.From.UnixNano())
	}
	if !f.To.IsZero() {
		conds, q.args = append(conds, "r.at <= ?"), append(q.args, f.To.UnixNano())
	}
	if f.Action != "" {
		conds, q.args = append(conds, "r.action = ?"), append(q.args, string(f.Action))
	}
	if f.Status != "" {
		conds, q.args = append(conds, "r.status = ?"), append(q.args, string(f.Status))
	}
	dir := " DESC"
	if f.OldestFirst {
		dir = ""
	}
	q.order = " ORDER BY r.at" + dir + ", r.id" + dir
	if s := f.Search; s != "" {
		from, cond, order, args := t.d.Search(s, !f.OldestFirst)
		if from != "" {
			// The search's index drives the query: its condition and
			// arguments come first.
			q.from, q.order = from, order
			conds, q.args = append([]string{cond}, conds...), append(args, q.args...)
		} else {
			conds, q.args = append(conds, cond), append(q.args, args...)
		}
	}
	if len(conds) > 0 {
		q.where = " WHERE " + strings.Join(conds, " AND ")
	}
	return q
}

// LikePattern is a LIKE pattern that finds s anywhere, its wildcards
// escaped with \.
func LikePattern(s string) string {
	return "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s) + "%"
}

func (t *tx) Reports(f routing.ReportFilter) (routing.ReportPage, error) {
	q := t.newReportQuery(f)
	var page routing.ReportPage
	count := `SELECT COUNT(*)` + q.from + q.where
	args := q.args
	if f.CountUpTo > 0 {
		count = `SELECT COUNT(*) FROM (SELECT 1` + q.from + q.where + ` LIMIT ?) AS page`
		args = append(slices.Clip(args), f.CountUpTo+1)
	}
	if err := t.queryRow(count, args...).Scan(&page.Total); err != nil {
		return page, err
	}
	if f.CountUpTo > 0 && page.Total > f.CountUpTo {
		page.Total, page.AtLeast = f.CountUpTo, true
	}
	rows, err := t.query(`SELECT `+reportColumns+q.from+q.where+q.order+` LIMIT ? OFFSET ?`,
		append(slices.Clip(q.args), f.Limit, f.Offset)...)
	if err != nil {
		return page, err
	}
	defer rows.Close()
	page.Entries = make([]routing.ReportEntry, 0, f.Limit)
	for rows.Next() {
		e, err := scanReport(rows)
		if err != nil {
			return page, err
		}
		page.Entries = append(page.Entries, e)
	}
	return page, rows.Err()
}

const reportColumns = `r.id, r.at, r.action, r.status, r.username, r.caller, r.receiver, r.group_name, r.group_id, r.channel, r.detail`

func scanReport(s scanner) (routing.ReportEntry, error) {
	var e routing.ReportEntry
	var at int64
	err := s.Scan(&e.ID, &at, &e.Action, &e.Status, &e.Username, &e.Caller, &e.Receiver, &e.Group, &e.GroupID, &e.Channel, &e.Detail)
	e.Time = time.Unix(0, at)
	return e, err
}

func (t *tx) EachReport(f routing.ReportFilter, fn func(routing.ReportEntry) error) error {
	q := t.newReportQuery(f)
	rows, err := t.query(`SELECT `+reportColumns+q.from+q.where+q.order, q.args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanReport(rows)
		if err != nil {
			return err
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (t *tx) ReportCounts(f routing.ReportFilter, slot time.Duration) ([]routing.ReportCount, error) {
	q := t.newReportQuery(f)
	rows, err := t.query(`SELECT r.at / ?, r.status, COUNT(*)`+q.from+q.where+` GROUP BY 1, 2 ORDER BY 1`,
		append([]any{slot.Nanoseconds()}, q.args...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []routing.ReportCount
	for rows.Next() {
		var n int64
		var c routing.ReportCount
		if err := rows.Scan(&n, &c.Status, &c.Count); err != nil {
			return nil, err
		}
		c.Start = time.Unix(0, n*slot.Nanoseconds())
		out = append(out, c)
	}
	return out, rows.Err()
}
