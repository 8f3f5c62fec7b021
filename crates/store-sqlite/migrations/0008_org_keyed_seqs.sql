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
