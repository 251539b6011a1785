-- Secrets the product generates once and keeps: the key under which the
-- phone service URLs are signed. Every node of one store shares them.
CREATE TABLE secrets (
	name  TEXT PRIMARY KEY,
	value BLOB NOT NULL
) WITHOUT ROWID;
