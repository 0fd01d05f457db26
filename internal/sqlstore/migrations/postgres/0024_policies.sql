-- Policy gates (issue 14). A policy is a Rego module, versioned like a
-- service file; origin says whether it came from `policy apply` (api) or
-- the server's --policy-dir (dir).
CREATE TABLE policies (
	name       TEXT PRIMARY KEY,
	revision   INTEGER NOT NULL,
	digest     TEXT NOT NULL,
	origin     TEXT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE TABLE policy_revisions (
	name       TEXT NOT NULL REFERENCES policies (name),
	revision   INTEGER NOT NULL,
	digest     TEXT NOT NULL,
	filename   TEXT NOT NULL,
	source     TEXT NOT NULL,
	origin     TEXT NOT NULL,
	applied_by TEXT NOT NULL,
	applied_at BIGINT NOT NULL,
	PRIMARY KEY (name, revision)
);

-- Every bundle a decision ran, by the digest of its canonical JSON, kept
-- so a decision replays after its policies change.
CREATE TABLE policy_bundles (
	digest     TEXT PRIMARY KEY,
	content    TEXT NOT NULL,
	created_at BIGINT NOT NULL
);

-- Every decision: the input it saw (canonical JSON), the bundle it ran
-- and what it said. release_id is NULL for a refused create.
CREATE TABLE policy_decisions (
	id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	point         TEXT NOT NULL,
	release_id    BIGINT REFERENCES releases (id),
	service       TEXT NOT NULL,
	environment   TEXT NOT NULL,
	actor         TEXT NOT NULL,
	policies      TEXT NOT NULL,
	bundle_digest TEXT NOT NULL REFERENCES policy_bundles (digest),
	input_digest  TEXT NOT NULL,
	input         TEXT NOT NULL,
	result        TEXT NOT NULL,
	deny          TEXT NOT NULL,
	warn          TEXT NOT NULL,
	error         TEXT NOT NULL DEFAULT '',
	result_digest TEXT NOT NULL,
	at            BIGINT NOT NULL
);
CREATE INDEX policy_decisions_release ON policy_decisions (release_id, id);
