-- Roster schema on PostgreSQL, version 2: groups and their members (as on
-- SQLite). One row per membership, so adding or removing a member costs the
-- same in a group of ten and of 100 000. `doc` is the group's filter
-- document without members (see 0001).

CREATE TABLE groups (
    seq                 BIGSERIAL PRIMARY KEY,
    id                  TEXT COLLATE "C" NOT NULL UNIQUE,
    org_id              BIGINT NOT NULL REFERENCES orgs(id),
    display_name        TEXT NOT NULL,
    display_name_folded TEXT COLLATE "C" NOT NULL,
    external_id         TEXT COLLATE "C",
    scim                TEXT NOT NULL,
    doc                 JSONB NOT NULL,
    created             TEXT COLLATE "C" NOT NULL,
    last_modified       TEXT COLLATE "C" NOT NULL,
    version             BIGINT NOT NULL
);
CREATE UNIQUE INDEX groups_org_display_name ON groups (org_id, display_name_folded);
CREATE INDEX groups_org_external_id ON groups (org_id, external_id);
CREATE INDEX groups_org_seq ON groups (org_id, seq);

CREATE TABLE group_members (
    org_id    BIGINT NOT NULL,
    group_id  TEXT COLLATE "C" NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    member_id TEXT COLLATE "C" NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, member_id)
);
CREATE INDEX group_members_member ON group_members (member_id, org_id, group_id);
