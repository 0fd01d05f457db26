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

CREATE FUNCTION shipgate_audit_checkpoints_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'audit checkpoints are append-only';
END;
$$;
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
FOR EACH ROW EXECUTE FUNCTION shipgate_audit_checkpoints_append_only();
