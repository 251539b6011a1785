-- The announcements' audio, in its stored form (8 kHz µ-law and A-law),
-- as SQLite's 0006: every node reads it from the store.
CREATE TABLE announcement_audio (
	announcement_id BIGINT PRIMARY KEY REFERENCES announcements(id) ON DELETE CASCADE,
	data            BYTEA  NOT NULL,
	size            BIGINT NOT NULL -- the bytes of data, summed without reading it
);
