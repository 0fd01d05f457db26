-- Signed checkpoints of the audit chain's head (shipgate.AuditCheckpoint).
-- The copies that matter are the ones published outside the database; these
-- let servers sharing a database sign once per head movement, and let a
-- server refuse to sign a head that no longer extends its last checkpoint.
CREATE TABLE audit_checkpoints (
	seq       BIGINT NOT NULL,
	hash      TEXT NOT NULL,
	at        BIGINT NOT NULL,
	key_id    TEXT NOT NULL,
	signature TEXT NOT NULL,
	PRIMARY KEY (key_id, seq)
);

CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN
	SELECT RAISE(ABORT, 'audit checkpoints are append-only');
END;
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN
	SELECT RAISE(ABORT, 'audit checkpoints are append-only');
END;
