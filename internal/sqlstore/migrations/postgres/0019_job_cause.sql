-- Why a job's attempt ended, as a code the server acts on (lost,
-- step_failed, …), beside the sentence in reason. Jobs failed as lost
-- before this column existed are recognised by that sentence once, here.
ALTER TABLE jobs ADD COLUMN cause TEXT NOT NULL DEFAULT '';
UPDATE jobs SET cause = 'lost' WHERE state = 'failed' AND reason LIKE 'lease expired%';
