-- Roster schema on SQLite, version 5: `startIndex` pages deep in a large
-- directory without counting every skipped user (issue 5).
--
-- An OFFSET walks the (org_id, seq) index entry by entry: ~45 ms per page at
-- an average depth of 500 000 (Okta's imports page through the whole
-- directory this way). Users are counted per block of 1024 consecutive
-- `seq` values instead, kept exact by triggers in the same transaction as
-- every insert and delete: a page finds its block by adding up the
-- organisation's block counts (about one row per 1024 users), then counts
-- at most 1023 index entries inside it.
CREATE TABLE user_blocks (
    org_id INTEGER NOT NULL,
    block  INTEGER NOT NULL,
    n      INTEGER NOT NULL,
    PRIMARY KEY (org_id, block)
) WITHOUT ROWID;
INSERT INTO user_blocks (org_id, block, n)
    SELECT org_id, seq >> 10, count(*) FROM users GROUP BY org_id, seq >> 10;

CREATE TRIGGER user_blocks_insert AFTER INSERT ON users BEGIN
    INSERT INTO user_blocks (org_id, block, n) VALUES (NEW.org_id, NEW.seq >> 10, 1)
        ON CONFLICT (org_id, block) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER user_blocks_delete AFTER DELETE ON users BEGIN
    UPDATE user_blocks SET n = n - 1 WHERE org_id = OLD.org_id AND block = OLD.seq >> 10;
END;
