//! Schema migrations: numbered SQL files in `migrations/`, applied in order
//! and recorded in `schema_migrations`.
//!
//! Several instances may start at once on a fresh database, so the
//! check-and-apply runs in one transaction under a transaction-scoped
//! advisory lock: the first migrates, the others wait and find nothing to do.

use crate::conn::db_error;
use directory::DirectoryError;
use postgres::Client;

/// `(version, SQL)`, in order. Never edit a released migration; add one.
const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("../migrations/0001_init.sql")),
    (2, include_str!("../migrations/0002_groups.sql")),
    (3, include_str!("../migrations/0003_scale.sql")),
    (4, include_str!("../migrations/0004_concurrency.sql")),
    (5, include_str!("../migrations/0005_auth_generation.sql")),
    (6, include_str!("../migrations/0006_user_blocks.sql")),
    (7, include_str!("../migrations/0007_drop_user_fields.sql")),
];

/// The advisory lock key that serialises migrations ("roster" in ASCII).
const MIGRATION_LOCK: i64 = 0x726f_7374_6572;

/// Brings the database up to the newest schema; returns the version.
pub fn migrate(client: &mut Client) -> Result<i32, DirectoryError> {
    let mut tx = client.transaction().map_err(db_error)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).map_err(db_error)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (\
         version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    )
    .map_err(db_error)?;
    let current: i32 =
        tx.query_one("SELECT COALESCE(max(version), 0) FROM schema_migrations", &[]).map_err(db_error)?.get(0);
    let newest = MIGRATIONS.last().map_or(0, |m| m.0);
    if current > newest {
        return Err(DirectoryError::Store(format!(
            "the database schema is version {current}, newer than this build knows ({newest}); upgrade Roster"
        )));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        tx.batch_execute(sql).map_err(|e| DirectoryError::Store(format!("migration {version}: {e}")))?;
        tx.execute("INSERT INTO schema_migrations (version) VALUES ($1)", &[version]).map_err(db_error)?;
    }
    tx.commit().map_err(db_error)?;
    Ok(newest.max(current))
}
