-- Roster schema on PostgreSQL, version 7: users.fields is dropped. It held the
-- directory fields derived from `scim` on every write and was never read
-- (SQLite's migration 7 drops it too).
ALTER TABLE users DROP COLUMN fields;
