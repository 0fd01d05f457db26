-- DORA metrics (internal/dora) read these facts of every release without
-- decoding its content: the commit time (RFC 3339, as the content holds
-- it), the owner group (the team), the release a hotfix fixes, and the
-- flags it introduces (a JSON array). Copied from the content, which stays
-- the record; releases created from now on get them when inserted.
ALTER TABLE releases ADD COLUMN committed_at TEXT;
ALTER TABLE releases ADD COLUMN owner TEXT;
ALTER TABLE releases ADD COLUMN hotfix_of BIGINT;
ALTER TABLE releases ADD COLUMN flags TEXT;
UPDATE releases SET committed_at = json_extract(content, '$.source.committed_at'), owner = json_extract(content, '$.owner'),
	hotfix_of = json_extract(content, '$.hotfix_of'), flags = json_extract(content, '$.flags');
-- When a release was first started, and last queued before that (its
-- approvals complete): written with its release.started / release.queued
-- events from now on, filled in from them here.
ALTER TABLE releases ADD COLUMN queued_at BIGINT;
ALTER TABLE releases ADD COLUMN started_at BIGINT;
UPDATE releases SET started_at = (SELECT MIN(e.at) FROM audit_events e WHERE e.release_id = releases.id AND e.action = 'release.started');
UPDATE releases SET queued_at = (SELECT MAX(e.at) FROM audit_events e WHERE e.release_id = releases.id AND e.action = 'release.queued'
	AND (releases.started_at IS NULL OR e.at <= releases.started_at));
-- The metrics read the audit events of a few actions over a time range.
CREATE INDEX audit_events_action_at ON audit_events (action, at);
