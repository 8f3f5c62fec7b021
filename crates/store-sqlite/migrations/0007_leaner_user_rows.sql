-- Roster schema on SQLite, version 7: fewer bytes and B-trees per user.
--
-- A create's cost is mostly the pages its batch's COMMIT writes to the WAL
-- (docs/benchmarks.md, "Durable creates"):
--  * users.fields held the directory fields derived from `scim` on every
--    write and was never read (about a quarter of a user row);
--  * user_emails kept its rows twice, in a rowid table and in the unique
--    index on (user_id, value_folded); keyed by that pair instead, the
--    table is that index.
ALTER TABLE users DROP COLUMN fields;

CREATE TABLE user_emails_keyed (
    org_id       INTEGER NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    value_folded TEXT NOT NULL,
    PRIMARY KEY (user_id, value_folded)
) WITHOUT ROWID;
INSERT INTO user_emails_keyed (org_id, user_id, value_folded)
    SELECT org_id, user_id, value_folded FROM user_emails;
DROP TABLE user_emails;
ALTER TABLE user_emails_keyed RENAME TO user_emails;
-- user_id is included so that the email lookup is answered from the index alone.
CREATE INDEX user_emails_org_value ON user_emails (org_id, value_folded, user_id);
