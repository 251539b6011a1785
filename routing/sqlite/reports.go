package sqlite

import (
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

// reportWhere builds the WHERE clause of a report filter.
func reportWhere(f routing.ReportFilter) (string, []any) {
	var conds []string
	var args []any
	if !f.From.IsZero() {
		conds, args = append(conds, "at >= ?"), append(args, f.From.UnixNano())
	}
	if !f.To.IsZero() {
		conds, args = append(conds, "at <= ?"), append(args, f.To.UnixNano())
	}
	if f.Action != "" {
		conds, args = append(conds, "action = ?"), append(args, string(f.Action))
	}
	if f.Status != "" {
		conds, args = append(conds, "status = ?"), append(args, string(f.Status))
	}
	if s := f.Search; s != "" {
		if utf8.RuneCountInString(s) >= 3 {
			// The trigram index finds substrings of three characters or more.
			conds = append(conds, "id IN (SELECT rowid FROM reports_fts WHERE reports_fts MATCH ?)")
			args = append(args, `"`+strings.ReplaceAll(s, `"`, `""`)+`"`)
		} else {
			like := "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s) + "%"
			conds = append(conds, `(username LIKE ? ESCAPE '\' OR caller LIKE ? ESCAPE '\' OR receiver LIKE ? ESCAPE '\' OR group_name LIKE ? ESCAPE '\')`)
			args = append(args, like, like, like, like)
		}
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

func (t *tx) Reports(f routing.ReportFilter) (routing.ReportPage, error) {
	where, args := reportWhere(f)
	var page routing.ReportPage
	if err := t.queryRow(`SELECT COUNT(*) FROM reports`+where, args...).Scan(&page.Total); err != nil {
		return page, err
	}
	rows, err := t.query(`SELECT `+reportColumns+` FROM reports`+where+reportOrder(f)+` LIMIT ? OFFSET ?`,
		append(args, f.Limit, f.Offset)...)
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

const reportColumns = `id, at, action, status, username, caller, receiver, group_name, group_id, channel, detail`

func scanReport(s scanner) (routing.ReportEntry, error) {
	var e routing.ReportEntry
	var at int64
	err := s.Scan(&e.ID, &at, &e.Action, &e.Status, &e.Username, &e.Caller, &e.Receiver, &e.Group, &e.GroupID, &e.Channel, &e.Detail)
	e.Time = time.Unix(0, at)
	return e, err
}

func reportOrder(f routing.ReportFilter) string {
	if f.OldestFirst {
		return " ORDER BY at, id"
	}
	return " ORDER BY at DESC, id DESC"
}

func (t *tx) EachReport(f routing.ReportFilter, fn func(routing.ReportEntry) error) error {
	where, args := reportWhere(f)
	rows, err := t.query(`SELECT `+reportColumns+` FROM reports`+where+reportOrder(f), args...)
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
	where, args := reportWhere(f)
	rows, err := t.query(`SELECT at / ?, status, COUNT(*) FROM reports`+where+` GROUP BY 1, 2 ORDER BY 1`,
		append([]any{slot.Nanoseconds()}, args...)...)
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
