-- Roster schema on PostgreSQL, version 5: a generation number for everything
-- an API key's authentication reads (the key, its organisation). Triggers
-- bump it in the same transaction as any change to either, from any instance
-- or CLI, so an instance may keep authentications in memory and check one
-- integer per request instead of re-reading them. Keys and organisations
-- change rarely, so one row is no point of contention.

CREATE TABLE auth_generation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  BIGINT NOT NULL
);
INSERT INTO auth_generation (id, n) VALUES (1, 1);

CREATE FUNCTION auth_generation_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE auth_generation SET n = n + 1 WHERE id = 1;
    RETURN NULL;
END $$;
CREATE TRIGGER auth_generation_keys AFTER INSERT OR UPDATE OR DELETE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION auth_generation_bump();
CREATE TRIGGER auth_generation_orgs AFTER UPDATE OR DELETE ON orgs
    FOR EACH STATEMENT EXECUTE FUNCTION auth_generation_bump();
