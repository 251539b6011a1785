-- Failed sign-ins, counted per client (an address, an IPv6 /64, with a
-- username or without) in windows that start at the first failure:
-- every node of one store slows down the same guesser. Rows whose window
-- ended are removed as new failures come.
CREATE TABLE sign_in_failures (
	key     TEXT    PRIMARY KEY,
	count   INTEGER NOT NULL,
	started INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sign_in_failures_started ON sign_in_failures (started);
