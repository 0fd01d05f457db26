-- The identity of each key every server of the database must share: a
-- keyed fingerprint of it (never the key), so a server started with
-- another key is refused before it seals or opens anything.
CREATE TABLE server_keys (
	name   TEXT PRIMARY KEY,
	key_id TEXT NOT NULL,
	set_by TEXT NOT NULL,
	set_at BIGINT NOT NULL
);
