-- The first schema: groups with their lines, users with the numbers they
-- own, call-handler settings, announcements and the report.

CREATE TABLE announcements (
	id          INTEGER PRIMARY KEY,
	name        TEXT    NOT NULL,
	file_name   TEXT    NOT NULL DEFAULT '',
	duration_ms INTEGER NOT NULL,
	uploaded_by TEXT    NOT NULL DEFAULT '',
	uploaded_at INTEGER NOT NULL
);

CREATE TABLE groups (
	id              INTEGER PRIMARY KEY,
	name            TEXT    NOT NULL UNIQUE COLLATE NOCASE,
	description     TEXT    NOT NULL DEFAULT '',
	destination     TEXT    NOT NULL,
	state_on        INTEGER NOT NULL DEFAULT 0,
	announcement_id INTEGER REFERENCES announcements(id),
	created_at      INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL
);

CREATE TABLE lines (
	number      TEXT    PRIMARY KEY,
	description TEXT    NOT NULL DEFAULT '',
	group_id    INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX lines_group ON lines(group_id, number);

CREATE TABLE users (
	id            INTEGER PRIMARY KEY,
	username      TEXT    NOT NULL UNIQUE COLLATE NOCASE,
	display_name  TEXT    NOT NULL DEFAULT '',
	department    TEXT    NOT NULL DEFAULT '',
	privileges    INTEGER NOT NULL DEFAULT 0,
	password_hash TEXT    NOT NULL DEFAULT '',
	created_at    INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL
);

CREATE TABLE user_lines (
	number  TEXT    PRIMARY KEY,
	user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX user_lines_user ON user_lines(user_id);

CREATE TABLE settings (
	id                INTEGER PRIMARY KEY CHECK (id = 1),
	connect_to_called INTEGER NOT NULL DEFAULT 1,
	direct_access     TEXT    NOT NULL DEFAULT '',
	announcement_id   INTEGER REFERENCES announcements(id)
);
INSERT INTO settings (id) VALUES (1);

CREATE TABLE reports (
	id         INTEGER PRIMARY KEY,
	at         INTEGER NOT NULL,
	action     TEXT    NOT NULL,
	status     TEXT    NOT NULL,
	username   TEXT    NOT NULL DEFAULT '',
	caller     TEXT    NOT NULL DEFAULT '',
	receiver   TEXT    NOT NULL DEFAULT '',
	group_name TEXT    NOT NULL DEFAULT '',
	channel    TEXT    NOT NULL DEFAULT '',
	detail     TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX reports_at ON reports(at);
CREATE INDEX reports_action_status_at ON reports(action, status, at);
CREATE INDEX reports_status_at ON reports(status, at);
CREATE INDEX reports_action_at ON reports(action, at);

-- Substring search over the names and numbers of the report.
CREATE VIRTUAL TABLE reports_fts USING fts5(
	username, caller, receiver, group_name,
	content='reports', content_rowid='id', tokenize='trigram'
);
CREATE TRIGGER reports_fts_insert AFTER INSERT ON reports BEGIN
	INSERT INTO reports_fts (rowid, username, caller, receiver, group_name)
	VALUES (new.id, new.username, new.caller, new.receiver, new.group_name);
END;
CREATE TRIGGER reports_fts_delete AFTER DELETE ON reports BEGIN
	INSERT INTO reports_fts (reports_fts, rowid, username, caller, receiver, group_name)
	VALUES ('delete', old.id, old.username, old.caller, old.receiver, old.group_name);
END;
