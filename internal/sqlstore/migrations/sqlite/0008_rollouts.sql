-- The latest status each attempt of a rollout job reported (a JSON
-- shipgate.RolloutStatus, bounded), and the highest paused step a person
-- promoted it past (-1: none). seq is the report's own sequence number, so
-- a late or repeated report never overwrites a newer one.
CREATE TABLE rollouts (
	job_id           BIGINT NOT NULL REFERENCES jobs (id),
	attempt          INTEGER NOT NULL,
	seq              BIGINT NOT NULL,
	status           TEXT NOT NULL,
	promoted_through INTEGER NOT NULL DEFAULT -1,
	updated_at       BIGINT NOT NULL,
	PRIMARY KEY (job_id, attempt)
);
