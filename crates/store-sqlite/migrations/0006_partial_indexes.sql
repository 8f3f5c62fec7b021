-- Roster schema on SQLite, version 6: the indexes over optional user
-- attributes hold only the users that have them.
--
-- Every B-tree a create touches is at least one more 4 KiB WAL frame at its
-- batch's COMMIT (about 2.5 % of a create's CPU each, measured by dropping
-- indexes). Entra creates users without a manager and sets it in a second
-- pass, and Okta and the CLI may send no externalId: those users need no
-- entry. The queries that use these indexes compare the column with `=`,
-- which implies IS NOT NULL, so SQLite still uses them.
DROP INDEX users_org_manager;
CREATE INDEX users_org_manager ON users (org_id, manager_id) WHERE manager_id IS NOT NULL;
DROP INDEX users_org_external_id;
CREATE INDEX users_org_external_id ON users (org_id, external_id) WHERE external_id IS NOT NULL;
