-- Issue 15, feature flags: the live definition of every flag of a service
-- in an environment (flags), every change of one, applied at once or
-- waiting for approval (flag_changes, flag_change_approvals), a counter
-- per environment that moves with every change so evaluators know when to
-- reload (flag_generations), and the read-only SDK keys OpenFeature
-- clients present to the OFREP endpoints (only their hashes).
CREATE TABLE flags (
	service     TEXT NOT NULL,
	environment TEXT NOT NULL,
	key         TEXT NOT NULL,
	definition  TEXT NOT NULL,
	version     BIGINT NOT NULL,
	declared    INTEGER NOT NULL DEFAULT 0,
	file_digest TEXT NOT NULL DEFAULT '',
	updated_by  TEXT NOT NULL,
	updated_at  BIGINT NOT NULL,
	PRIMARY KEY (service, environment, key)
);
CREATE INDEX flags_env ON flags (environment, service, key);

CREATE TABLE flag_changes (
	id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	service      TEXT NOT NULL,
	environment  TEXT NOT NULL,
	key          TEXT NOT NULL,
	op           TEXT NOT NULL,
	state        TEXT NOT NULL,
	reason       TEXT NOT NULL DEFAULT '',
	before_def   TEXT,
	after_def    TEXT,
	base_version BIGINT NOT NULL,
	release_id   BIGINT NOT NULL DEFAULT 0,
	requested_by TEXT NOT NULL,
	requested_at BIGINT NOT NULL,
	decided_by   TEXT NOT NULL DEFAULT '',
	decided_at   BIGINT
);
CREATE INDEX flag_changes_flag ON flag_changes (service, environment, key, id);
CREATE INDEX flag_changes_state ON flag_changes (state, id);
CREATE INDEX flag_changes_release ON flag_changes (release_id);

CREATE TABLE flag_change_approvals (
	change_id BIGINT NOT NULL REFERENCES flag_changes (id),
	approver  TEXT NOT NULL,
	comment   TEXT NOT NULL DEFAULT '',
	at        BIGINT NOT NULL,
	PRIMARY KEY (change_id, approver)
);

CREATE TABLE flag_generations (
	environment TEXT PRIMARY KEY,
	generation  BIGINT NOT NULL
);

CREATE TABLE sdk_keys (
	id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	environment  TEXT NOT NULL,
	name         TEXT NOT NULL,
	prefix       TEXT NOT NULL,
	hash         TEXT NOT NULL UNIQUE,
	created_by   TEXT NOT NULL,
	created_at   BIGINT NOT NULL,
	revoked_by   TEXT NOT NULL DEFAULT '',
	revoked_at   BIGINT,
	last_used_at BIGINT
);
