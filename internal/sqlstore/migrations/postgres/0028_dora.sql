-- DORA metrics (internal/dora) read these facts of every release without
-- decoding its content: the commit time (RFC 3339, as the content holds
-- it), the owner group (the team), the release a hotfix fixes, and the
-- flags it introduces (a JSON array). Copied from the content, which stays
-- the record; releases created from now on get them when inserted.
ALTER TABLE releases ADD COLUMN committed_at TEXT;
ALTER TABLE releases ADD COLUMN owner TEXT;
ALTER TABLE releases ADD COLUMN hotfix_of BIGINT;
ALTER TABLE releases ADD COLUMN flags TEXT;
UPDATE releases SET committed_at = content::jsonb #>> '{source,committed_at}', owner = content::jsonb ->> 'owner',
	hotfix_of = (content::jsonb ->> 'hotfix_of')::bigint, flags = content::jsonb ->> 'flags';
-- The metrics read the audit events of a few actions over a time range.
CREATE INDEX audit_events_action_at ON audit_events (action, at);
