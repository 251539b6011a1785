-- The announcements' audio, in its stored form (8 kHz µ-law and A-law),
-- kept with the rest of the data rather than in files beside it, so that
-- the store holds everything a node needs.
CREATE TABLE announcement_audio (
	announcement_id INTEGER PRIMARY KEY REFERENCES announcements(id) ON DELETE CASCADE,
	data            BLOB    NOT NULL,
	size            INTEGER NOT NULL -- the bytes of data, summed without reading it
);
