-- Join tokens carry a scope: labels their agents must have (JSON object),
-- the environments whose jobs those agents may take (JSON array; empty:
-- all), and when the token stops registering new agents (NULL: never).
ALTER TABLE agent_tokens ADD COLUMN scope TEXT NOT NULL DEFAULT '{}';
ALTER TABLE agent_tokens ADD COLUMN envs TEXT NOT NULL DEFAULT '[]';
ALTER TABLE agent_tokens ADD COLUMN expires_at BIGINT;
