-- Secrets the product generates once and keeps, as SQLite's 0005: the key
-- under which the phone service URLs are signed, shared by every node.
CREATE TABLE secrets (
	name  TEXT  PRIMARY KEY,
	value BYTEA NOT NULL
);
