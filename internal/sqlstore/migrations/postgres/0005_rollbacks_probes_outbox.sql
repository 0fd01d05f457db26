-- The rollback of a failed release: pending for delay_seconds, then fired
-- (a linked rollback release), called off, held, or unavailable.
CREATE TABLE rollbacks (
	release_id       BIGINT PRIMARY KEY REFERENCES releases (id),
	state            TEXT NOT NULL,
	reason           TEXT NOT NULL DEFAULT '',
	triggered_by     TEXT NOT NULL,
	target_id        BIGINT,
	target_version   TEXT NOT NULL DEFAULT '',
	fires_at         BIGINT,
	rollback_release BIGINT,
	created_at       BIGINT NOT NULL,
	updated_at       BIGINT NOT NULL
);
CREATE INDEX rollbacks_state ON rollbacks (state);

ALTER TABLE releases ADD COLUMN rollback_of BIGINT;

-- Each probe of a health check, as the runner reported it.
CREATE TABLE probes (
	id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	job_id     BIGINT NOT NULL REFERENCES jobs (id),
	attempt    INTEGER NOT NULL,
	seq        BIGINT NOT NULL,
	at         BIGINT NOT NULL,
	latency_ms BIGINT NOT NULL,
	ok         INTEGER NOT NULL,
	reason     TEXT NOT NULL DEFAULT '',
	watch      INTEGER NOT NULL DEFAULT 0,
	UNIQUE (job_id, attempt, seq)
);

-- Notifications to deliver, written in the same transaction as the change
-- they announce, delivered (and retried) by a worker.
CREATE TABLE outbox (
	id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	sink            TEXT NOT NULL,
	event_type      TEXT NOT NULL,
	subject         TEXT NOT NULL,
	audit_seq       BIGINT NOT NULL,
	payload         TEXT NOT NULL,
	state           TEXT NOT NULL,
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at BIGINT NOT NULL,
	lease_until     BIGINT,
	last_error      TEXT NOT NULL DEFAULT '',
	created_at      BIGINT NOT NULL,
	delivered_at    BIGINT
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
