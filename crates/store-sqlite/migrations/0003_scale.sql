-- Roster schema, version 3: list pages whose cost does not grow with the
-- directory (issue 5).
--
-- The default list order is insertion order (`seq`). Without an index that
-- starts (org_id, seq) SQLite walked the org's users through another
-- (org_id, …) index and sorted them in a temporary B-tree: seconds per page
-- at 1M users. With it, a page reads only its rows (and OFFSET the skipped
-- ones); a cursor page (`seq > ?`) seeks straight to its first row.
CREATE INDEX users_org_seq ON users (org_id, seq);
CREATE INDEX groups_org_seq ON groups (org_id, seq);

-- `totalResults` of an unfiltered list without count(*) over the org: a
-- counter per organisation, kept exact by triggers in the same transaction
-- as every insert and delete (single rows, `roster import` batches, cascades).
CREATE TABLE org_counts (
    org_id INTEGER PRIMARY KEY REFERENCES orgs(id),
    users  INTEGER NOT NULL DEFAULT 0,
    groups INTEGER NOT NULL DEFAULT 0
);
INSERT INTO org_counts (org_id, users, groups)
    SELECT o.id,
           (SELECT count(*) FROM users u WHERE u.org_id = o.id),
           (SELECT count(*) FROM groups g WHERE g.org_id = o.id)
    FROM orgs o;

CREATE TRIGGER org_counts_new_org AFTER INSERT ON orgs BEGIN
    INSERT INTO org_counts (org_id) VALUES (NEW.id);
END;
CREATE TRIGGER org_counts_user_insert AFTER INSERT ON users BEGIN
    UPDATE org_counts SET users = users + 1 WHERE org_id = NEW.org_id;
END;
CREATE TRIGGER org_counts_user_delete AFTER DELETE ON users BEGIN
    UPDATE org_counts SET users = users - 1 WHERE org_id = OLD.org_id;
END;
CREATE TRIGGER org_counts_group_insert AFTER INSERT ON groups BEGIN
    UPDATE org_counts SET groups = groups + 1 WHERE org_id = NEW.org_id;
END;
CREATE TRIGGER org_counts_group_delete AFTER DELETE ON groups BEGIN
    UPDATE org_counts SET groups = groups - 1 WHERE org_id = OLD.org_id;
END;
