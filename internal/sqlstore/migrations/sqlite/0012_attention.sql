-- A release's waits for a person (approval, promote), with the
-- re-notifications and escalation sent for each: the durable state of those
-- timers. At most one wait per release and reason is open.
CREATE TABLE attentions (
	release_id     BIGINT NOT NULL REFERENCES releases (id),
	reason         TEXT NOT NULL,
	-- which wait of that reason: for promote, the job, attempt and pause
	wait_key       TEXT NOT NULL DEFAULT '',
	opened_at      BIGINT NOT NULL,
	reminders      INTEGER NOT NULL DEFAULT 0,
	last_notice_at BIGINT,
	escalated_at   BIGINT,
	closed_at      BIGINT,
	PRIMARY KEY (release_id, reason, opened_at)
);
CREATE UNIQUE INDEX attentions_open ON attentions (release_id, reason) WHERE closed_at IS NULL;

-- PagerDuty incidents a sink was sent a trigger for, so that a resolve goes
-- only to a sink that has the incident. Filled from the outbox for the
-- incidents opened before this table existed.
CREATE TABLE notify_incidents (
	sink        TEXT NOT NULL,
	dedup_key   TEXT NOT NULL,
	opened_at   BIGINT NOT NULL,
	resolved_at BIGINT,
	PRIMARY KEY (sink, dedup_key)
);
INSERT INTO notify_incidents (sink, dedup_key, opened_at)
SELECT o.sink, json_extract(o.payload, '$.dedup_key'), o.created_at FROM outbox o
WHERE json_valid(o.payload) AND json_extract(o.payload, '$.event_action') = 'trigger'
	AND o.id = (SELECT MAX(l.id) FROM outbox l WHERE l.sink = o.sink AND json_valid(l.payload)
		AND json_extract(l.payload, '$.dedup_key') = json_extract(o.payload, '$.dedup_key'));
