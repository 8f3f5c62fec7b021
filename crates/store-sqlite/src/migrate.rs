//! Schema migrations: numbered SQL files in `migrations/`, applied in order
//! and recorded in `PRAGMA user_version`.
//!
//! Several processes may open a fresh database at once (the server and a CLI
//! command), so the check-and-apply runs in one `BEGIN IMMEDIATE` transaction:
//! the first opener migrates, the others wait and then find nothing to do.

use crate::conn::db_error;
use directory::DirectoryError;
use rusqlite::Connection;

/// `(version, SQL)`, in order. Never edit a released migration; add one.
const MIGRATIONS: &[(u32, &str)] = &[
    (1, include_str!("../migrations/0001_init.sql")),
    (2, include_str!("../migrations/0002_groups.sql")),
    (3, include_str!("../migrations/0003_scale.sql")),
    (4, include_str!("../migrations/0004_auth_generation.sql")),
    (5, include_str!("../migrations/0005_user_blocks.sql")),
    (6, include_str!("../migrations/0006_partial_indexes.sql")),
    (7, include_str!("../migrations/0007_leaner_user_rows.sql")),
    (8, include_str!("../migrations/0008_org_keyed_seqs.sql")),
];

/// The schema version this build migrates to.
pub const SCHEMA_VERSION: u32 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// Brings the database up to the newest schema.
pub fn migrate(conn: &mut Connection) -> Result<(), DirectoryError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(db_error)?;
    let current: u32 = tx.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(db_error)?;
    let newest = SCHEMA_VERSION;
    if current > newest {
        return Err(DirectoryError::Store(format!(
            "the database schema is version {current}, newer than this build knows ({newest}); upgrade Roster"
        )));
    }
    // An upgrade rewrites tables (schema 8 renumbers every user and event):
    // about ten seconds per million rows, so say so rather than sit silent.
    let upgrading = current > 0 && current < newest;
    let started = std::time::Instant::now();
    if upgrading {
        tracing::info!(from = current, to = newest, "upgrading the database schema; a large directory takes a while");
    }
    for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        tx.execute_batch(sql).map_err(|e| match db_error(e) {
            DirectoryError::Store(d) => DirectoryError::Store(format!("migration {version}: {d}")),
            other => other,
        })?;
        tx.execute_batch(&format!("PRAGMA user_version = {version}")).map_err(db_error)?;
    }
    tx.commit().map_err(db_error)?;
    if upgrading {
        tracing::info!(to = newest, seconds = started.elapsed().as_secs_f64(), "database schema upgraded");
    }
    Ok(())
}
