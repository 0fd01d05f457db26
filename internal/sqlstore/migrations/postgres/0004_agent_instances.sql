-- Each agent process has an instance id kept in its work dir: a second
-- process cannot take over a name that a live one uses, and a restarted
-- runner settles only the attempts its own instance claimed.
ALTER TABLE agents ADD COLUMN instance_id TEXT NOT NULL DEFAULT '';
-- The highest log seq stored for the job's current attempt: a chunk resent
-- after the log's front was dropped is still recognised as a repeat.
ALTER TABLE jobs ADD COLUMN log_attempt INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN log_seq BIGINT NOT NULL DEFAULT 0;
