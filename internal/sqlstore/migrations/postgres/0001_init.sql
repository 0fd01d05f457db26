-- Times are unix microseconds (BIGINT) in every engine, so comparisons and
-- the audit hash agree byte for byte between SQLite and PostgreSQL.

CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);

CREATE TABLE services (
	name       TEXT PRIMARY KEY,
	revision   INTEGER NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);

CREATE TABLE service_revisions (
	service    TEXT NOT NULL REFERENCES services (name),
	revision   INTEGER NOT NULL,
	digest     TEXT NOT NULL,
	spec       TEXT NOT NULL,
	filename   TEXT NOT NULL,
	source     TEXT NOT NULL,
	applied_by TEXT NOT NULL,
	applied_at BIGINT NOT NULL,
	PRIMARY KEY (service, revision)
);

CREATE TABLE users (
	name       TEXT PRIMARY KEY,
	roles      TEXT NOT NULL,
	created_at BIGINT NOT NULL
);

CREATE TABLE group_members (
	group_name TEXT NOT NULL,
	user_name  TEXT NOT NULL REFERENCES users (name),
	added_at   BIGINT NOT NULL,
	PRIMARY KEY (group_name, user_name)
);

CREATE TABLE tokens (
	id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	user_name    TEXT NOT NULL REFERENCES users (name),
	name         TEXT NOT NULL,
	hash         TEXT NOT NULL UNIQUE,
	prefix       TEXT NOT NULL,
	created_at   BIGINT NOT NULL,
	created_by   TEXT NOT NULL,
	last_used_at BIGINT,
	revoked_at   BIGINT
);

CREATE TABLE releases (
	id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	service     TEXT NOT NULL REFERENCES services (name),
	environment TEXT NOT NULL,
	version     TEXT NOT NULL,
	kind        TEXT NOT NULL,
	artifact_sha256 TEXT NOT NULL,
	content     TEXT NOT NULL,
	digest      TEXT NOT NULL,
	state       TEXT NOT NULL,
	reason      TEXT NOT NULL DEFAULT '',
	wait_until  BIGINT,
	run         INTEGER NOT NULL DEFAULT 0,
	created_by  TEXT NOT NULL,
	created_at  BIGINT NOT NULL,
	updated_at  BIGINT NOT NULL,
	finished_at BIGINT,
	generation  BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX releases_state ON releases (state);
CREATE INDEX releases_lookup ON releases (service, environment, version, state);

-- What was approved must never change underneath the approvals.
CREATE FUNCTION shipgate_release_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'release content is immutable';
END;
$$;
CREATE TRIGGER releases_immutable BEFORE UPDATE OF service, environment, version, kind, artifact_sha256, content, digest, created_by, created_at ON releases
FOR EACH ROW WHEN (OLD.content IS DISTINCT FROM NEW.content OR OLD.digest IS DISTINCT FROM NEW.digest OR OLD.service IS DISTINCT FROM NEW.service
	OR OLD.environment IS DISTINCT FROM NEW.environment OR OLD.version IS DISTINCT FROM NEW.version OR OLD.kind IS DISTINCT FROM NEW.kind
	OR OLD.artifact_sha256 IS DISTINCT FROM NEW.artifact_sha256 OR OLD.created_by IS DISTINCT FROM NEW.created_by OR OLD.created_at IS DISTINCT FROM NEW.created_at)
EXECUTE FUNCTION shipgate_release_immutable();

CREATE TABLE release_secrets (
	release_id BIGINT NOT NULL REFERENCES releases (id),
	name       TEXT NOT NULL,
	sealed     BYTEA NOT NULL,
	PRIMARY KEY (release_id, name)
);

CREATE TABLE approvals (
	id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	release_id BIGINT NOT NULL REFERENCES releases (id),
	actor      TEXT NOT NULL,
	decision   TEXT NOT NULL,
	digest     TEXT NOT NULL,
	comment    TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL,
	expires_at BIGINT,
	expired_at BIGINT
);
CREATE INDEX approvals_release ON approvals (release_id);

CREATE TABLE jobs (
	id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	release_id   BIGINT NOT NULL REFERENCES releases (id),
	run          INTEGER NOT NULL,
	name         TEXT NOT NULL,
	position     INTEGER NOT NULL,
	state        TEXT NOT NULL,
	runs_on      TEXT NOT NULL DEFAULT '{}',
	attempt      INTEGER NOT NULL DEFAULT 0,
	max_attempts INTEGER NOT NULL,
	runner       TEXT NOT NULL DEFAULT '',
	lease_until  BIGINT,
	exit_code    INTEGER,
	reason       TEXT NOT NULL DEFAULT '',
	queued_at    BIGINT,
	started_at   BIGINT,
	finished_at  BIGINT,
	UNIQUE (release_id, run, name)
);
CREATE INDEX jobs_state ON jobs (state);

CREATE TABLE job_logs (
	id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	job_id  BIGINT NOT NULL REFERENCES jobs (id),
	attempt INTEGER NOT NULL,
	seq     BIGINT NOT NULL,
	stream  TEXT NOT NULL,
	data    TEXT NOT NULL,
	at      BIGINT NOT NULL,
	UNIQUE (job_id, attempt, seq)
);

CREATE TABLE audit_events (
	seq        BIGINT PRIMARY KEY,
	at         BIGINT NOT NULL,
	actor      TEXT NOT NULL,
	action     TEXT NOT NULL,
	subject    TEXT NOT NULL,
	release_id BIGINT,
	details    TEXT NOT NULL,
	prev_hash  TEXT NOT NULL,
	hash       TEXT NOT NULL
);
CREATE INDEX audit_events_release ON audit_events (release_id);
CREATE INDEX audit_events_at ON audit_events (at);

-- The head of the chain, updated with every append: it lets verification
-- notice events cut from the end, and in PostgreSQL its row lock serialises
-- appends.
CREATE TABLE audit_head (
	id   INTEGER PRIMARY KEY CHECK (id = 1),
	seq  BIGINT NOT NULL,
	hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Audit events are append-only for the application. Someone with direct
-- database access can drop these triggers, which is why the chain exists.
CREATE FUNCTION shipgate_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'audit events are append-only';
END;
$$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
FOR EACH ROW EXECUTE FUNCTION shipgate_audit_append_only();
