-- Roster schema, version 2: groups and their members.
--
-- Members live one row per membership, so that adding or removing a member
-- costs the same in a group of ten and in a group of 100 000, and a group's
-- attributes can be read without its members.

CREATE TABLE groups (
    seq                 INTEGER PRIMARY KEY,
    id                  TEXT NOT NULL UNIQUE,
    org_id              INTEGER NOT NULL REFERENCES orgs(id),
    display_name        TEXT NOT NULL,
    display_name_folded TEXT NOT NULL,
    external_id         TEXT,
    scim                TEXT NOT NULL,
    created             TEXT NOT NULL,
    last_modified       TEXT NOT NULL,
    version             INTEGER NOT NULL
);
CREATE UNIQUE INDEX groups_org_display_name ON groups (org_id, display_name_folded);
CREATE INDEX groups_org_external_id ON groups (org_id, external_id);

CREATE TABLE group_members (
    org_id    INTEGER NOT NULL,
    group_id  TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    member_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, member_id)
) WITHOUT ROWID;
-- A user's groups, and the cascade when a user is deleted: member_id leads
-- so that the foreign key's lookup uses it (ids are unique across orgs).
CREATE INDEX group_members_member ON group_members (member_id, org_id, group_id);
