-- The sha256 of each migration file's text as it was applied: every open
-- compares the embedded files with it, so a migration edited after it ran
-- is refused instead of leaving stores that differ silently. Rows applied
-- before this migration are filled from the embedded files at upgrade.
ALTER TABLE schema_migrations ADD COLUMN sha256 TEXT NOT NULL DEFAULT '';
