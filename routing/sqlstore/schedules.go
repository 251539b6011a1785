package sqlstore

import (
	"github.com/phonediversions/phonediversions/routing"
)

// Schedules.

func (t *tx) Schedule(groupID int64) ([]routing.Range, error) {
	all, err := t.schedules(`WHERE group_id = ?`, groupID)
	return all[groupID], err
}

func (t *tx) Schedules() (map[int64][]routing.Range, error) {
	return t.schedules(``)
}

func (t *tx) schedules(where string, args ...any) (map[int64][]routing.Range, error) {
	rows, err := t.query(`SELECT group_id, day, start_min, end_min FROM schedule_ranges `+where+` ORDER BY group_id, day, start_min`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64][]routing.Range{}
	for rows.Next() {
		var id int64
		var r routing.Range
		if err := rows.Scan(&id, &r.Day, &r.Start, &r.End); err != nil {
			return nil, err
		}
		out[id] = append(out[id], r)
	}
	return out, rows.Err()
}

func (t *tx) SetSchedule(groupID int64, ranges []routing.Range) error {
	if _, err := t.exec(`DELETE FROM schedule_ranges WHERE group_id = ?`, groupID); err != nil {
		return err
	}
	for _, r := range ranges {
		if _, err := t.exec(`INSERT INTO schedule_ranges (group_id, day, start_min, end_min) VALUES (?, ?, ?, ?)`,
			groupID, int(r.Day), r.Start, r.End); err != nil {
			return t.conflict(err, "ranges", "two ranges start on %s", r.String())
		}
	}
	return nil
}

// Holidays.

func (t *tx) Holidays() ([]routing.Holiday, error) {
	rows, err := t.query(`SELECT id, name, first_day, last_day FROM holidays ORDER BY first_day, id`)
	if err != nil {
		return nil, err
	}
	var out []routing.Holiday
	for rows.Next() {
		var h routing.Holiday
		var first, last string
		if err := rows.Scan(&h.ID, &h.Name, &first, &last); err != nil {
			rows.Close()
			return nil, err
		}
		if h.First, err = routing.ParseDate(first); err != nil {
			rows.Close()
			return nil, err
		}
		if h.Last, err = routing.ParseDate(last); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, h)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	byID := map[int64]*routing.Holiday{}
	for i := range out {
		byID[out[i].ID] = &out[i]
	}
	gr, err := t.query(`SELECT holiday_id, group_id FROM holiday_groups ORDER BY holiday_id, group_id`)
	if err != nil {
		return nil, err
	}
	defer gr.Close()
	for gr.Next() {
		var hid, gid int64
		if err := gr.Scan(&hid, &gid); err != nil {
			return nil, err
		}
		if h := byID[hid]; h != nil {
			h.GroupIDs = append(h.GroupIDs, gid)
		}
	}
	return out, gr.Err()
}

func (t *tx) InsertHoliday(h *routing.Holiday) error {
	_, ns := t.stamp()
	var err error
	if h.ID, err = t.insert(`INSERT INTO holidays (name, first_day, last_day, created_at) VALUES (?, ?, ?, ?)`,
		h.Name, h.First.String(), h.Last.String(), ns); err != nil {
		return err
	}
	for _, g := range h.GroupIDs {
		if _, err := t.exec(`INSERT INTO holiday_groups (holiday_id, group_id) VALUES (?, ?)`, h.ID, g); err != nil {
			return t.conflict(err, "groupIds", "group %d is named twice", g)
		}
	}
	return nil
}

func (t *tx) DeleteHoliday(id int64) error {
	res, err := t.exec(`DELETE FROM holidays WHERE id = ?`, id)
	return mustAffect(res, err, "holidayId", "holiday %d does not exist", id)
}
