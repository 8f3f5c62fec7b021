//! Roster's SQLite storage: [`SqliteStore`] implements [`directory::Store`]
//! and [`directory::Tx`] with rusqlite.
//!
//! One writer connection runs every write in `BEGIN IMMEDIATE` (so writers
//! queue on SQLite's lock, also across processes), with group commit for
//! concurrent writers (see [`writer`]); reads take a pooled connection and
//! run in a deferred transaction, a WAL snapshot.
//! All SQL of the project lives in this crate.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::todo)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod conn;
mod event_changes;
mod functions;
mod group_query;
mod memory;
mod migrate;
mod query;
mod seq;
mod tx;
mod wal_index;
mod wal_sync;
mod wal_writes;
mod writer;

pub use conn::{Location, SYNCHRONOUS};
pub use migrate::SCHEMA_VERSION;
pub use query::LookupPlan;

use directory::{ChangeStamp, DirectoryError, Store, SyncPoint, Tx};
use rusqlite::Connection;
use std::sync::Mutex;

/// Prepares SQLite for Roster in this process (allocator and VFS; see
/// `memory` and `wal_writes`). Opening a store does it. A program that opens
/// rusqlite connections of its own should call it first: SQLite takes its
/// allocator only before it first initialises, and not while another thread
/// is initialising it.
pub fn initialize() -> Result<(), DirectoryError> {
    conn::initialize()
}

/// The most idle read connections kept; more are opened under load and closed after.
const MAX_IDLE_READERS: usize = 8;

/// A SQLite database holding one or more organisations.
pub struct SqliteStore {
    /// The writer connection, with its view of the wal-index (change stamps).
    writer: writer::Writer,
    readers: Mutex<Vec<Connection>>,
    // Dropped last: a temporary database is removed after its connections close.
    location: Location,
}

// The server shares one store between threads.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<SqliteStore>();
};

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database named by `url`:
    /// `sqlite://roster.db`, `sqlite:roster.db`, `sqlite:///abs/path.db`, a
    /// plain path, or `sqlite::memory:` (a private temporary file, deleted
    /// when the store is dropped, so that all connections see one database).
    pub fn open(url: &str) -> Result<SqliteStore, DirectoryError> {
        let location = Location::parse(url)?;
        let mut writer = conn::open(location.path(), false)?;
        conn::retry_busy(|| migrate::migrate(&mut writer))?;
        // SAFETY: the writer connection is not shared yet, and the writer
        // keeps it open for as long as it keeps the wal index.
        let wal_index = unsafe { wal_index::WalIndex::of(&writer) };
        // Commits are made durable by our own fsync of the WAL where we can
        // open it (see `wal_sync`); otherwise SQLite syncs inside COMMIT.
        let sync = wal_sync::WalSync::open(location.path());
        if sync.is_some() {
            writer.execute_batch("PRAGMA synchronous = NORMAL").map_err(conn::db_error)?;
        }
        let writer = writer::Writer::new(writer, sync, wal_index);
        Ok(SqliteStore { writer, readers: Mutex::new(Vec::new()), location })
    }

    /// Where the database lives.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// The schema version (`PRAGMA user_version`) of the open database.
    pub fn schema_version(&self) -> Result<u32, DirectoryError> {
        self.writer
            .with_idle_connection(|c| c.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(conn::db_error))
    }

    /// `EXPLAIN QUERY PLAN` of the user lookups that `query_users` pushes down
    /// to an index (by `userName`, `externalId`, `id` and email), with their SQL.
    pub fn explain_lookup_plans(&self) -> Result<Vec<LookupPlan>, DirectoryError> {
        self.writer.with_idle_connection(query::explain_lookup_plans)
    }

    /// `EXPLAIN QUERY PLAN` of the unfiltered list pages (users and groups,
    /// by index and by cursor), as `(name, plan)`.
    pub fn explain_list_plans(&self) -> Result<Vec<(String, String)>, DirectoryError> {
        self.writer.with_idle_connection(query::explain_list_plans)
    }

    /// `EXPLAIN QUERY PLAN` of the lookups by a list of ids (managers' names,
    /// member checks, users' groups), as `(name, plan)`.
    pub fn explain_id_list_plans(&self) -> Result<Vec<(String, String)>, DirectoryError> {
        self.writer.with_idle_connection(query::explain_id_list_plans)
    }

    fn take_reader(&self) -> Result<Connection, DirectoryError> {
        let pooled = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match pooled {
            Some(c) => Ok(c),
            None => conn::open(self.location.path(), true),
        }
    }

    fn return_reader(&self, c: Connection) {
        // A connection still inside a transaction (a failed COMMIT/ROLLBACK) is not reused.
        if !c.is_autocommit() {
            return;
        }
        let mut pool = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < MAX_IDLE_READERS {
            pool.push(c);
        }
    }
}

/// Runs `work` inside an already begun transaction and ends it: COMMIT on
/// `Ok`, ROLLBACK otherwise (the work's error wins over a rollback error).
fn run_in_tx(
    c: &Connection,
    work: &mut dyn FnMut(&mut dyn Tx) -> Result<(), DirectoryError>,
) -> Result<(), DirectoryError> {
    let mut tx = tx::SqliteTx::new(c);
    match work(&mut tx) {
        Ok(()) => match conn::control(c, "COMMIT") {
            Ok(()) => Ok(()),
            Err(e) => {
                let _ = conn::control(c, "ROLLBACK");
                Err(conn::db_error(e))
            }
        },
        Err(e) => {
            if !c.is_autocommit() {
                let _ = conn::control(c, "ROLLBACK");
            }
            Err(e)
        }
    }
}

impl Store for SqliteStore {
    fn write(&self, work: &mut dyn FnMut(&mut dyn Tx) -> Result<(), DirectoryError>) -> Result<(), DirectoryError> {
        self.writer.write(work)
    }

    fn point_reads_are_local(&self) -> bool {
        true
    }

    fn batches_writes(&self) -> bool {
        true
    }

    fn write_batch(&self, jobs: &mut dyn FnMut()) -> Result<SyncPoint, DirectoryError> {
        self.writer.batch(jobs).map(SyncPoint)
    }

    fn sync(&self, upto: SyncPoint) -> Result<(), DirectoryError> {
        self.writer.wait_durable(upto.0)
    }

    fn change_stamp(&self) -> Option<ChangeStamp> {
        self.writer.stamp()
    }

    fn auth_generation_at(&self, stamp: &ChangeStamp) -> Option<i64> {
        self.writer.auth_generation_at(stamp)
    }

    fn read(&self, work: &mut dyn FnMut(&mut dyn Tx) -> Result<(), DirectoryError>) -> Result<(), DirectoryError> {
        if let Some(result) = self.writer.read_in_batch(work) {
            return result;
        }
        let reader = self.take_reader()?;
        let result = conn::control(&reader, "BEGIN").map_err(conn::db_error).and_then(|()| run_in_tx(&reader, work));
        self.return_reader(reader);
        result
    }

    /// Each statement in its own implicit transaction: no BEGIN and COMMIT.
    fn read_latest(
        &self,
        work: &mut dyn FnMut(&mut dyn Tx) -> Result<(), DirectoryError>,
    ) -> Result<(), DirectoryError> {
        if let Some(result) = self.writer.read_in_batch(work) {
            return result;
        }
        let reader = self.take_reader()?;
        let result = work(&mut tx::SqliteTx::new(&reader));
        self.return_reader(reader);
        result
    }
}
