-- Failed sign-ins, as SQLite's 0007: counted per client in windows that
-- start at the first failure, shared by every node.
CREATE TABLE sign_in_failures (
	key     TEXT    PRIMARY KEY,
	count   INTEGER NOT NULL,
	started BIGINT  NOT NULL
);
CREATE INDEX sign_in_failures_started ON sign_in_failures (started);
