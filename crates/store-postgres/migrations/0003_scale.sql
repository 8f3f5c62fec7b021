-- Roster schema on PostgreSQL, version 3: `totalResults` of an unfiltered
-- list without count(*) over the organisation (issue 5). The (org_id, seq)
-- indexes behind insertion-order and cursor pages exist since versions 1-2.
--
-- A counter per organisation, kept exact by statement-level triggers in the
-- same transaction as every insert and delete: a `roster import` batch (one
-- multi-row INSERT) updates the counter once, not once per row. Writers of
-- one organisation all update its counter row; under SERIALIZABLE a
-- concurrent writer is rolled back and retried by the store, as for any
-- other write conflict.

CREATE TABLE org_counts (
    org_id BIGINT PRIMARY KEY REFERENCES orgs(id),
    users  BIGINT NOT NULL DEFAULT 0,
    groups BIGINT NOT NULL DEFAULT 0
);
INSERT INTO org_counts (org_id, users, groups)
    SELECT o.id,
           (SELECT count(*) FROM users u WHERE u.org_id = o.id),
           (SELECT count(*) FROM groups g WHERE g.org_id = o.id)
    FROM orgs o;

CREATE FUNCTION org_counts_new_org() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO org_counts (org_id) SELECT id FROM new_rows;
    RETURN NULL;
END $$;
CREATE TRIGGER org_counts_new_org AFTER INSERT ON orgs
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION org_counts_new_org();

CREATE FUNCTION org_counts_users_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE org_counts c SET users = c.users + d.n
    FROM (SELECT org_id, count(*) AS n FROM new_rows GROUP BY org_id) d WHERE c.org_id = d.org_id;
    RETURN NULL;
END $$;
CREATE TRIGGER org_counts_users_inserted AFTER INSERT ON users
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION org_counts_users_inserted();

CREATE FUNCTION org_counts_users_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE org_counts c SET users = c.users - d.n
    FROM (SELECT org_id, count(*) AS n FROM old_rows GROUP BY org_id) d WHERE c.org_id = d.org_id;
    RETURN NULL;
END $$;
CREATE TRIGGER org_counts_users_deleted AFTER DELETE ON users
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION org_counts_users_deleted();

CREATE FUNCTION org_counts_groups_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE org_counts c SET groups = c.groups + d.n
    FROM (SELECT org_id, count(*) AS n FROM new_rows GROUP BY org_id) d WHERE c.org_id = d.org_id;
    RETURN NULL;
END $$;
CREATE TRIGGER org_counts_groups_inserted AFTER INSERT ON groups
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION org_counts_groups_inserted();

CREATE FUNCTION org_counts_groups_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE org_counts c SET groups = c.groups - d.n
    FROM (SELECT org_id, count(*) AS n FROM old_rows GROUP BY org_id) d WHERE c.org_id = d.org_id;
    RETURN NULL;
END $$;
CREATE TRIGGER org_counts_groups_deleted AFTER DELETE ON groups
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION org_counts_groups_deleted();
