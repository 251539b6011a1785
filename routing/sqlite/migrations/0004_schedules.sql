-- Schedules: a group's weekly ranges when its diversion is ON, the shared
-- holiday calendar, and on each group its manual override (until when a
-- manual switch holds; 0: none) and the moment of the last scheduled
-- change applied to it (0: none), which makes applying a change twice,
-- from two nodes on one database, a no-op.
CREATE TABLE schedule_ranges (
	group_id  INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
	day       INTEGER NOT NULL CHECK (day BETWEEN 0 AND 6),
	start_min INTEGER NOT NULL CHECK (start_min BETWEEN 0 AND 1439),
	end_min   INTEGER NOT NULL CHECK (end_min BETWEEN 0 AND 1440 AND end_min <> start_min),
	PRIMARY KEY (group_id, day, start_min)
) WITHOUT ROWID;

CREATE TABLE holidays (
	id         INTEGER PRIMARY KEY,
	name       TEXT    NOT NULL,
	first_day  TEXT    NOT NULL,
	last_day   TEXT    NOT NULL CHECK (last_day >= first_day),
	created_at INTEGER NOT NULL
);

CREATE TABLE holiday_groups (
	holiday_id INTEGER NOT NULL REFERENCES holidays(id) ON DELETE CASCADE,
	group_id   INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
	PRIMARY KEY (holiday_id, group_id)
) WITHOUT ROWID;
CREATE INDEX holiday_groups_group ON holiday_groups(group_id);

ALTER TABLE groups ADD COLUMN override_until   INTEGER NOT NULL DEFAULT 0;
ALTER TABLE groups ADD COLUMN schedule_applied INTEGER NOT NULL DEFAULT 0;
