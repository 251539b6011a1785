package sqlite

import (
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/phonediversions/phonediversions/routing"
)

func (t *tx) AppendReport(e *routing.ReportEntry) error {
	if e.Time.IsZero() {
		e.Time = t.now()
	}
	res, err := t.exec(`INSERT INTO reports (at, action, status, username, caller, receiver, group_name, group_id, channel, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, e.Time.UnixNano(), string(e.Action), string(e.Status),
		e.Username, e.Caller, e.Receiver, e.Group, e.GroupID, string(e.Channel), e.Detail)
	if err != nil {
		return err
	}
	e.ID, err = res.LastInsertId()
	return err
}

// reportQuery is the FROM and WHERE of a report filter and the order of
// its entries. A search of three characters or more is driven by the
// trigram index, in the order entries were recorded (which is their time
// order): a word found in most entries yields its first page at once
// instead of gathering every match first. Columns are qualified with r.
type reportQuery struct {
	from, where, order string
	args               []any
}

func newReportQuery(f routing.ReportFilter) reportQuery {
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
		if utf8.RuneCountInString(s) >= 3 {
			// The trigram index finds substrings of three characters or more.
			q.from = " FROM reports_fts JOIN reports r ON r.id = reports_fts.rowid"
			conds = append([]string{"reports_fts MATCH ?"}, conds...)
			q.args = append([]any{`"` + strings.ReplaceAll(s, `"`, `""`) + `"`}, q.args...)
			q.order = " ORDER BY reports_fts.rowid" + dir
		} else {
			like := "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s) + "%"
			conds = append(conds, `(r.username LIKE ? ESCAPE '\' OR r.caller LIKE ? ESCAPE '\' OR r.receiver LIKE ? ESCAPE '\' OR r.group_name LIKE ? ESCAPE '\')`)
			q.args = append(q.args, like, like, like, like)
		}
	}
	if len(conds) > 0 {
		q.where = " WHERE " + strings.Join(conds, " AND ")
	}
	return q
}

func (t *tx) Reports(f routing.ReportFilter) (routing.ReportPage, error) {
	q := newReportQuery(f)
	var page routing.ReportPage
	count := `SELECT COUNT(*)` + q.from + q.where
	args := q.args
	if f.CountUpTo > 0 {
		count = `SELECT COUNT(*) FROM (SELECT 1` + q.from + q.where + ` LIMIT ?)`
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
	q := newReportQuery(f)
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
	q := newReportQuery(f)
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
