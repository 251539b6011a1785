-- Signed-in browsers, as SQLite's 0003. The id is the SHA-256 of the
-- token the browser holds. A user's sessions go with the user.
CREATE TABLE sessions (
	id         TEXT   PRIMARY KEY,
	user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	csrf       TEXT   NOT NULL,
	created_at BIGINT NOT NULL,
	seen_at    BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);
