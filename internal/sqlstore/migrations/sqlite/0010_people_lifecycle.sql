-- People and tokens have a lifecycle. A disabled user's tokens are refused
-- and their approvals stop counting; a token may expire; an approval whose
-- giver lost the power to give it is withdrawn (with why) and never
-- counts again, even if the power comes back.
ALTER TABLE users ADD COLUMN disabled_at BIGINT;
ALTER TABLE users ADD COLUMN disabled_by TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN expires_at BIGINT;
ALTER TABLE approvals ADD COLUMN withdrawn_at BIGINT;
ALTER TABLE approvals ADD COLUMN withdrawn_reason TEXT NOT NULL DEFAULT '';
-- Withdrawing looks up one person's approvals.
CREATE INDEX approvals_actor ON approvals (actor);
