-- Leader leases: one row per lease name. The holder runs the background
-- work while expires_at (unix microseconds on the database's clock) is
-- ahead; term goes up by one on every new tenure.
CREATE TABLE leader_leases (
	name        TEXT PRIMARY KEY,
	holder      TEXT NOT NULL,
	term        BIGINT NOT NULL,
	acquired_at BIGINT NOT NULL,
	expires_at  BIGINT NOT NULL
);
