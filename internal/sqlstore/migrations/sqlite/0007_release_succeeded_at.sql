-- When a release succeeded. It stays set when the release is later rolled
-- back, so "this version was approved and succeeded here" survives, while a
-- release that failed and was rolled back never has it.
ALTER TABLE releases ADD COLUMN succeeded_at BIGINT;
UPDATE releases SET succeeded_at = finished_at WHERE state = 'succeeded';
