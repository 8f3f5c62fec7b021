-- Roster schema on SQLite, version 4: a generation number for everything an
-- API key's authentication reads (the key, its organisation). Triggers bump
-- it in the same transaction as any change to either, from any process (a
-- `roster apikey revoke` included), so a server may keep authentications in
-- memory and check one integer per request instead of re-reading them.

CREATE TABLE auth_generation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  INTEGER NOT NULL
);
INSERT INTO auth_generation (id, n) VALUES (1, 1);

CREATE TRIGGER auth_generation_key_insert AFTER INSERT ON api_keys
BEGIN UPDATE auth_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER auth_generation_key_update AFTER UPDATE ON api_keys
BEGIN UPDATE auth_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER auth_generation_key_delete AFTER DELETE ON api_keys
BEGIN UPDATE auth_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER auth_generation_org_update AFTER UPDATE ON orgs
BEGIN UPDATE auth_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER auth_generation_org_delete AFTER DELETE ON orgs
BEGIN UPDATE auth_generation SET n = n + 1 WHERE id = 1; END;
