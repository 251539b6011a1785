-- The id of the group a report entry concerns (0: none), as SQLite's 0002.
ALTER TABLE reports ADD COLUMN group_id BIGINT NOT NULL DEFAULT 0;
