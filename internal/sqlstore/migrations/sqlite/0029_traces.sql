-- Issue 16, traces: the random secret every trace and span id of a release
-- is derived from (so spans emitted hours apart, by any server, after any
-- restart, join one trace), and how far the span emitter has read the
-- audit chain (so a restart neither drops nor repeats spans).
CREATE TABLE trace_state (
	id         INTEGER PRIMARY KEY CHECK (id = 1),
	secret     TEXT NOT NULL,
	cursor_seq BIGINT NOT NULL
);
