-- Finding the release ahead in an environment (running, or queued earlier)
-- must not scan every release the environment ever had.
CREATE INDEX releases_env_state ON releases (service, environment, state, id);
