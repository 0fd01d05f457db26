-- Evidence attached to releases (issue 14): one row per item, the bytes
-- once per digest in evidence_blobs. Items are never updated or deleted:
-- evidence is immutable once attached. The same bytes attached to one
-- release as one type again are the same item (the unique index).
CREATE TABLE evidence_blobs (
	sha256  TEXT PRIMARY KEY,
	size    BIGINT NOT NULL,
	content BYTEA NOT NULL
);

CREATE TABLE evidence (
	id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	release_id BIGINT NOT NULL REFERENCES releases (id),
	type       TEXT NOT NULL,
	name       TEXT NOT NULL,
	sha256     TEXT NOT NULL REFERENCES evidence_blobs (sha256),
	size       BIGINT NOT NULL,
	summary    TEXT,
	job        TEXT NOT NULL DEFAULT '',
	attempt    INTEGER NOT NULL DEFAULT 0,
	added_by   TEXT NOT NULL,
	added_at   BIGINT NOT NULL
);
CREATE UNIQUE INDEX evidence_release_type_sha256 ON evidence (release_id, type, sha256);

-- Immutable once attached: nothing the application does changes or removes
-- an item or its bytes (someone with direct database access can drop these
-- triggers, which is why each item's digest is in the audit chain).
CREATE FUNCTION shipgate_evidence_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'evidence is immutable';
END;
$$;
CREATE TRIGGER evidence_immutable BEFORE UPDATE OR DELETE ON evidence
FOR EACH ROW EXECUTE FUNCTION shipgate_evidence_immutable();
CREATE TRIGGER evidence_blobs_immutable BEFORE UPDATE OR DELETE ON evidence_blobs
FOR EACH ROW EXECUTE FUNCTION shipgate_evidence_immutable();
