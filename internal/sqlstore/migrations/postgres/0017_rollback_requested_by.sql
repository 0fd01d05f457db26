-- Who held a rollback and why, and who fired it with `rollback now` and
-- why: kept on the rollback so the fire (rollback.fired, the rollback
-- release and its release.created) names the person and their reason.
ALTER TABLE rollbacks ADD COLUMN requested_by TEXT NOT NULL DEFAULT '';
ALTER TABLE rollbacks ADD COLUMN request_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE rollbacks ADD COLUMN held_by TEXT NOT NULL DEFAULT '';
ALTER TABLE rollbacks ADD COLUMN hold_reason TEXT NOT NULL DEFAULT '';
