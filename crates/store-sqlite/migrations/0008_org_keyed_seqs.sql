-- Fewer B-trees on the write path (every create writes a user and an event).
--
-- Events: an event's seq carries its organisation in its high bits
-- (org_id << 40 | n), so an organisation's log is one range of the table's
-- own rowids and needs no (org_id, seq) index beside it. Old seqs are all
-- below 2^40, so the renumbered ones collide with neither.
UPDATE events SET seq = (org_id << 40) | seq;
DROP INDEX events_org_seq;

-- Users per organisation: the sum of the block counts that migration 5 keeps
-- anyway, instead of a second counter row rewritten by every create and delete.
DROP TRIGGER org_counts_user_insert;
DROP TRIGGER org_counts_user_delete;
ALTER TABLE org_counts DROP COLUMN users;

-- Users: the same keying (`crate::seq`), so an organisation's users are one
-- range of the table's rowids in insertion order and users_org_seq goes.
-- Their blocks (migration 5) are counted again from the new seqs. A list
-- cursor from before this migration starts again from the first user.
UPDATE users SET seq = (org_id << 40) | seq;
DELETE FROM user_blocks;
INSERT INTO user_blocks (org_id, block, n)
    SELECT org_id, seq >> 10, count(*) FROM users GROUP BY org_id, seq >> 10;
DROP INDEX users_org_seq;

-- Emails: user_emails becomes the lookup key alone, (org_id, value, user),
-- instead of a table keyed by user plus an index by value: one B-tree per
-- email instead of two. A user's row lists its keys (users.emails_folded, a
-- sorted JSON array), so updates and deletes find them without an index by
-- user, and no foreign key has to be checked on every insert.
ALTER TABLE users ADD COLUMN emails_folded TEXT NOT NULL DEFAULT '[]';
UPDATE users SET emails_folded = (
    SELECT json_group_array(value_folded ORDER BY value_folded) FROM user_emails e WHERE e.user_id = users.id
);
CREATE TABLE user_email_keys (
    org_id       INTEGER NOT NULL,
    value_folded TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    PRIMARY KEY (org_id, value_folded, user_id)
) WITHOUT ROWID;
INSERT INTO user_email_keys (org_id, value_folded, user_id)
    SELECT org_id, value_folded, user_id FROM user_emails;
DROP TABLE user_emails;
ALTER TABLE user_email_keys RENAME TO user_emails;
