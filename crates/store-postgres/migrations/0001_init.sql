-- Roster schema on PostgreSQL, version 1. The same tables as the SQLite
-- store. Folded columns hold Rust `str::to_lowercase()` of their source,
-- computed by the application (as on SQLite), so case-insensitive lookups
-- are plain btree equalities. Text that is sorted or compared uses the "C"
-- collation: byte order, as SQLite's BINARY.
--
-- `doc` is the filter document: the rendered SCIM resource (id, attributes,
-- active, meta) with every object key lower-cased and every string that is
-- not caseExact folded, date-times normalised to fixed-width UTC. Filters
-- are translated to SQL over it; it is never returned to clients (`scim`
-- keeps the attributes exactly as written, key order included).

CREATE TABLE orgs (
    id                 BIGSERIAL PRIMARY KEY,
    name               TEXT COLLATE "C" NOT NULL UNIQUE,
    username_policy    TEXT NOT NULL,
    scim_default_state TEXT NOT NULL,
    created            TEXT NOT NULL
);

CREATE TABLE api_keys (
    id          TEXT COLLATE "C" PRIMARY KEY,
    org_id      BIGINT NOT NULL REFERENCES orgs(id),
    name        TEXT NOT NULL,
    role        TEXT NOT NULL,
    principal   TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    token_hint  TEXT NOT NULL,
    created     TEXT COLLATE "C" NOT NULL,
    expires_at  TEXT,
    revoked_at  TEXT
);
CREATE INDEX api_keys_org ON api_keys (org_id);

CREATE TABLE users (
    seq                 BIGSERIAL PRIMARY KEY,
    id                  TEXT COLLATE "C" NOT NULL UNIQUE,
    org_id              BIGINT NOT NULL REFERENCES orgs(id),
    user_name           TEXT NOT NULL,
    user_name_folded    TEXT COLLATE "C" NOT NULL,
    username            TEXT NOT NULL,
    username_folded     TEXT COLLATE "C" NOT NULL,
    email               TEXT COLLATE "C",
    external_id         TEXT COLLATE "C",
    employee_identifier TEXT COLLATE "C",
    manager_id          TEXT COLLATE "C",
    state               TEXT NOT NULL,
    activated           BOOLEAN NOT NULL,
    password_expired    BOOLEAN NOT NULL,
    scim                TEXT NOT NULL,
    fields              TEXT NOT NULL,
    doc                 JSONB NOT NULL,
    created             TEXT COLLATE "C" NOT NULL,
    last_modified       TEXT COLLATE "C" NOT NULL,
    created_at          TIMESTAMPTZ,
    last_modified_at    TIMESTAMPTZ,
    version             BIGINT NOT NULL
);
CREATE UNIQUE INDEX users_org_username ON users (org_id, username_folded);
CREATE UNIQUE INDEX users_org_email ON users (org_id, email) WHERE email IS NOT NULL;
CREATE UNIQUE INDEX users_org_employee ON users (org_id, employee_identifier) WHERE employee_identifier IS NOT NULL;
CREATE INDEX users_org_seq ON users (org_id, seq);
CREATE INDEX users_org_user_name ON users (org_id, user_name_folded);
CREATE INDEX users_org_external_id ON users (org_id, external_id);
CREATE INDEX users_org_manager ON users (org_id, manager_id);
CREATE INDEX users_org_last_modified ON users (org_id, last_modified_at);

-- Every scim.emails[*].value of a user, folded: the index behind email filters.
CREATE TABLE user_emails (
    org_id       BIGINT NOT NULL,
    user_id      TEXT COLLATE "C" NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    value_folded TEXT COLLATE "C" NOT NULL,
    UNIQUE (user_id, value_folded)
);
CREATE INDEX user_emails_org_value ON user_emails (org_id, value_folded, user_id);

CREATE TABLE events (
    seq           BIGSERIAL PRIMARY KEY,
    id            TEXT NOT NULL,
    at            TEXT NOT NULL,
    org_id        BIGINT NOT NULL,
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
