-- Issue 14, governance: the ticks of manual checklist items (a person, an
-- evidence link; the newest tick of an item counts, none is ever changed),
-- freezes (a period in which releases do not start; '' service or
-- environment means every one), and the emergency overrides of freezes,
-- one per release, granted by a member of the server's override group.
CREATE TABLE checklist_ticks (
	id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	release_id BIGINT NOT NULL REFERENCES releases (id),
	item       TEXT NOT NULL,
	actor      TEXT NOT NULL,
	link       TEXT NOT NULL,
	comment    TEXT NOT NULL DEFAULT '',
	at         BIGINT NOT NULL
);
CREATE INDEX checklist_ticks_release ON checklist_ticks (release_id, id);

CREATE TABLE freezes (
	id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	service     TEXT NOT NULL DEFAULT '',
	environment TEXT NOT NULL DEFAULT '',
	from_at     BIGINT NOT NULL,
	to_at       BIGINT NOT NULL,
	reason      TEXT NOT NULL,
	created_by  TEXT NOT NULL,
	created_at  BIGINT NOT NULL,
	ended_at    BIGINT,
	ended_by    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX freezes_to ON freezes (to_at);

CREATE TABLE freeze_overrides (
	release_id   BIGINT PRIMARY KEY REFERENCES releases (id),
	reason       TEXT NOT NULL,
	requested_by TEXT NOT NULL,
	requested_at BIGINT NOT NULL,
	approved_by  TEXT NOT NULL DEFAULT '',
	approved_at  BIGINT
);
