-- Agents: runners on hosts, joined with a revocable agent token. Each
-- registration hands the agent its own secret (stored hashed).
CREATE TABLE agent_tokens (
	id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	name       TEXT NOT NULL,
	hash       TEXT NOT NULL UNIQUE,
	prefix     TEXT NOT NULL,
	created_by TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	revoked_at BIGINT
);

CREATE TABLE agents (
	id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	name          TEXT NOT NULL UNIQUE,
	token_id      BIGINT NOT NULL REFERENCES agent_tokens (id),
	secret_hash   TEXT NOT NULL UNIQUE,
	labels        TEXT NOT NULL,
	version       TEXT NOT NULL,
	hostname      TEXT NOT NULL,
	draining      INTEGER NOT NULL DEFAULT 0,
	registered_at BIGINT NOT NULL,
	last_seen     BIGINT NOT NULL
);

-- claim_id makes a retried claim return the assignment already made.
ALTER TABLE jobs ADD COLUMN claim_id TEXT NOT NULL DEFAULT '';
-- Logs are bounded per job: bytes kept, and bytes dropped from the front.
ALTER TABLE jobs ADD COLUMN log_bytes BIGINT NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN log_truncated BIGINT NOT NULL DEFAULT 0;
