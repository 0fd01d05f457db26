-- The web UI's audit page browses the chain newest first, filtered by
-- actor or subject: these keep a filtered page of a long chain (100,000
-- events and more) an index walk instead of a scan of the whole log.
CREATE INDEX audit_events_actor ON audit_events (actor, seq);
CREATE INDEX audit_events_subject ON audit_events (subject, seq);
