-- Browser sessions of the web UI. A session is opened with one of a user's
-- API tokens (method 'token'; other login methods, such as OIDC, add their
-- own method and leave token_id empty) and acts as that user. It ends at
-- logout, at expires_at, and as soon as its token or its user stops being
-- valid. Only the sha256 of the cookie's secret is kept.
CREATE TABLE ui_sessions (
	id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	hash       TEXT NOT NULL UNIQUE,
	user_name  TEXT NOT NULL REFERENCES users (name),
	method     TEXT NOT NULL,
	token_id   BIGINT REFERENCES tokens (id),
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	ended_at   BIGINT
);
