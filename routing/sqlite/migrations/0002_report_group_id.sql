-- The id of the group a report entry concerns (0: none), so that the
-- change feed and the web page can point at the group even after it is
-- renamed. Entries written before this migration keep 0.
ALTER TABLE reports ADD COLUMN group_id INTEGER NOT NULL DEFAULT 0;
