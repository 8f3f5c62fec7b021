-- Roster schema, version 1. Folded columns hold Rust `str::to_lowercase()`
-- of their source (computed by the application, not by SQLite's ASCII-only
-- lower()), so the same data works on PostgreSQL.

CREATE TABLE orgs (
    id                 INTEGER PRIMARY KEY,
    name               TEXT NOT NULL UNIQUE,
    username_policy    TEXT NOT NULL,
    scim_default_state TEXT NOT NULL,
    created            TEXT NOT NULL
);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    org_id      INTEGER NOT NULL REFERENCES orgs(id),
    name        TEXT NOT NULL,
    role        TEXT NOT NULL,
    principal   TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    token_hint  TEXT NOT NULL,
    created     TEXT NOT NULL,
    expires_at  TEXT,
    revoked_at  TEXT
);
CREATE INDEX api_keys_org ON api_keys (org_id);

CREATE TABLE users (
    seq                 INTEGER PRIMARY KEY,
    id                  TEXT NOT NULL UNIQUE,
    org_id              INTEGER NOT NULL REFERENCES orgs(id),
    user_name           TEXT NOT NULL,
    user_name_folded    TEXT NOT NULL,
    username            TEXT NOT NULL,
    username_folded     TEXT NOT NULL,
    email               TEXT,
    external_id         TEXT,
    employee_identifier TEXT,
    manager_id          TEXT,
    state               TEXT NOT NULL,
    activated           INTEGER NOT NULL,
    password_expired    INTEGER NOT NULL,
    scim                TEXT NOT NULL,
    fields              TEXT NOT NULL,
    created             TEXT NOT NULL,
    last_modified       TEXT NOT NULL,
    version             INTEGER NOT NULL
);
CREATE UNIQUE INDEX users_org_username ON users (org_id, username_folded);
CREATE UNIQUE INDEX users_org_email ON users (org_id, email) WHERE email IS NOT NULL;
CREATE UNIQUE INDEX users_org_employee ON users (org_id, employee_identifier) WHERE employee_identifier IS NOT NULL;
CREATE INDEX users_org_user_name ON users (org_id, user_name_folded);
CREATE INDEX users_org_external_id ON users (org_id, external_id);
CREATE INDEX users_org_manager ON users (org_id, manager_id);

-- Every scim.emails[*].value of a user, folded: the index behind email filters.
CREATE TABLE user_emails (
    org_id       INTEGER NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    value_folded TEXT NOT NULL,
    UNIQUE (user_id, value_folded)
);
-- user_id is included so that the email lookup is answered from the index alone.
CREATE INDEX user_emails_org_value ON user_emails (org_id, value_folded, user_id);

CREATE TABLE events (
    seq           INTEGER PRIMARY KEY,
    id            TEXT NOT NULL,
    at            TEXT NOT NULL,
    org_id        INTEGER NOT NULL,
    actor         TEXT NOT NULL,
    source        TEXT NOT NULL,
    event_type    TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id   TEXT,
    resource_name TEXT,
    changes       TEXT NOT NULL,
    ignored       TEXT NOT NULL,
    status        INTEGER NOT NULL,
    error         TEXT
);
CREATE INDEX events_org_seq ON events (org_id, seq);
