-- Roster schema on PostgreSQL, version 6: `startIndex` pages deep in a large
-- directory without counting every skipped user (issue 5; SQLite's
-- migration 5 does the same).
--
-- Users are counted per block of 1024 consecutive `seq` values. A page adds
-- up the organisation's block counts (about one row per 1024 users) to find
-- its block, then counts at most 1023 index entries inside it, where an
-- OFFSET walked every skipped entry (94 ms at depth 500 000). As with the
-- organisation counters (migration 4), writers only insert delta rows, so
-- concurrent inserts (which all land in the newest block) never contend for
-- a row; the store folds the deltas into `user_blocks` with the counters.
CREATE TABLE user_blocks (
    org_id BIGINT NOT NULL,
    block  BIGINT NOT NULL,
    n      BIGINT NOT NULL,
    PRIMARY KEY (org_id, block)
);
CREATE TABLE user_block_deltas (
    org_id BIGINT NOT NULL,
    block  BIGINT NOT NULL,
    n      BIGINT NOT NULL
);
CREATE INDEX user_block_deltas_org ON user_block_deltas (org_id, block);
INSERT INTO user_blocks (org_id, block, n)
    SELECT org_id, seq >> 10, count(*) FROM users GROUP BY org_id, seq >> 10;

CREATE FUNCTION user_blocks_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO user_block_deltas (org_id, block, n)
        SELECT org_id, seq >> 10, count(*) FROM new_rows GROUP BY org_id, seq >> 10;
    RETURN NULL;
END $$;
CREATE TRIGGER user_blocks_inserted AFTER INSERT ON users
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION user_blocks_inserted();

CREATE FUNCTION user_blocks_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO user_block_deltas (org_id, block, n)
        SELECT org_id, seq >> 10, -count(*) FROM old_rows GROUP BY org_id, seq >> 10;
    RETURN NULL;
END $$;
CREATE TRIGGER user_blocks_deleted AFTER DELETE ON users
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION user_blocks_deleted();
