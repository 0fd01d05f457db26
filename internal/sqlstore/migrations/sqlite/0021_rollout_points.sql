-- The history of each rollout attempt: one row per status report stored,
-- so the rollout view can chart weight, traffic and the analyses' evidence
-- over time. data is compact JSON: {"traffic": [...], "progress": [...],
-- "decisions": [the decisions new in this report]}. mark = 1 records a
-- change (step, weight, phase, a new decision); past MaxRolloutPoints rows
-- per attempt every second unmarked row of the older half is deleted.
CREATE TABLE rollout_points (
	job_id  BIGINT NOT NULL REFERENCES jobs (id),
	attempt INTEGER NOT NULL,
	seq     BIGINT NOT NULL,
	at      BIGINT NOT NULL,
	step    INTEGER NOT NULL,
	weight  INTEGER NOT NULL,
	phase   TEXT NOT NULL,
	mark    INTEGER NOT NULL DEFAULT 0,
	data    TEXT NOT NULL,
	PRIMARY KEY (job_id, attempt, seq)
);
