//! Roster's PostgreSQL storage: [`PostgresStore`] implements
//! [`directory::Store`] and [`directory::Tx`] with the synchronous `postgres`
//! client, so no async runtime leaks into the directory.
//!
//! Several Roster instances may share one database; nothing is cached in
//! memory but prepared statements. Every write runs in a `SERIALIZABLE`
//! transaction and is run again (with jittered back-off) when PostgreSQL
//! reports a serialization failure or deadlock, so read-modify-write never
//! loses an update, across instances too. Reads run in a `REPEATABLE READ
//! READ ONLY` snapshot. All SQL of this backend lives in this crate.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::todo)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod conn;
mod doc;
mod group_query;
mod migrate;
mod query;
mod tx;

pub use conn::MAX_CONNECTIONS;

use conn::{db_error, is_retryable, Conn, Pool};
use directory::{DirectoryError, Store, Tx};
use rand::Rng;
use std::time::{Duration, Instant};

/// How long a write keeps retrying after serialization failures before it gives up with `Busy`.
const RETRY_FOR: Duration = Duration::from_secs(10);

/// A PostgreSQL database holding one or more organisations.
pub struct PostgresStore {
    pool: Pool,
    schema_version: i32,
}

// The server shares one store between threads.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<PostgresStore>();
};

/// Whether `url` names a PostgreSQL database (`postgres://` or `postgresql://`).
pub fn is_postgres_url(url: &str) -> bool {
    let url = url.trim();
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

impl PostgresStore {
    /// Connects to the database named by `url` (`postgres://user@host:port/db`,
    /// any libpq-style URL the `postgres` crate accepts) and migrates it.
    pub fn open(url: &str) -> Result<PostgresStore, DirectoryError> {
        let config: postgres::Config =
            url.trim().parse().map_err(|e| DirectoryError::Store(format!("bad PostgreSQL URL: {e}")))?;
        let pool = Pool::new(config);
        let mut client = pool.connect()?;
        let schema_version = migrate::migrate(&mut client)?;
        Ok(PostgresStore { pool, schema_version })
    }

    /// The schema version this store migrated the database to.
    pub fn schema_version(&self) -> i32 {
        self.schema_version
    }

    /// `EXPLAIN` of the page query for `filter` in organisation `org_id`
    /// (for documentation and tests of index use).
    pub fn explain(&self, org_id: i64, filter: &str) -> Result<String, DirectoryError> {
        let filter: scim::filter::Filter =
            filter.parse().map_err(|e: scim::ScimError| DirectoryError::Store(e.detail))?;
        let mut b = query::Builder::default();
        let pred = b.predicate(org_id, Some(&filter));
        let (order, extra) = b.order_by(None, scim::list::SortOrder::Ascending);
        let sql = b.page_sql(&pred, &order, &extra, 100, 0);
        let mut conn = self.pool.take()?;
        let result = conn.client.query(&format!("EXPLAIN {sql}"), &query::Builder::bind(&b.params));
        self.pool.give_back(conn);
        let rows = result.map_err(db_error)?;
        Ok(rows.iter().filter_map(|r| r.try_get::<_, String>(0).ok()).collect::<Vec<_>>().join("\n"))
    }

    /// Runs `work` once in a transaction opened with `begin`. `Err(None)`: retry.
    fn attempt(
        &self,
        conn: &mut Conn,
        begin: &str,
        work: &mut dyn FnMut(&mut dyn Tx) -> Result<(), DirectoryError>,
    ) -> Result<(), Option<DirectoryError>> {
        conn.client.batch_execute(begin).map_err(|e| Some(db_error(e)))?;
        let mut tx = tx::PgTx::new(conn);
        let result = work(&mut tx);
        let retry = tx.retry;
        match result {
            Ok(()) => match conn.client.batch_execute("COMMIT") {
                Ok(()) => Ok(()),
                Err(e) => {
                    let _ = conn.client.batch_execute("ROLLBACK");
                    Err(if is_retryable(&e) { None } else { Some(db_error(e)) })
                }
            },
            Err(e) => {
                let _ = conn.client.batch_execute("ROLLBACK");
                Err(if retry { None } else { Some(e) })
            }
        }
    }

    fn run(
        &self,
        begin: &str,
        work: &mut dyn FnMut(&mut dyn Tx) -> Result<(), DirectoryError>,
    ) -> Result<(), DirectoryError> {
        let deadline = Instant::now() + RETRY_FOR;
        let mut backoff_ms = 1u64;
        loop {
            let mut conn = self.pool.take()?;
            let result = self.attempt(&mut conn, begin, work);
            self.pool.give_back(conn);
            match result {
                Ok(()) => return Ok(()),
                Err(Some(e)) => return Err(e),
                Err(None) if Instant::now() >= deadline => {
                    return Err(DirectoryError::Busy("too many concurrent writes to the same data".into()))
                }
                Err(None) => {
                    // Jitter keeps retrying writers from colliding again in lock step.
                    let sleep = rand::thread_rng().gen_range(0..=backoff_ms);
                    std::thread::sleep(Duration::from_millis(sleep));
                    backoff_ms = (backoff_ms * 2).min(100);
                }
            }
        }
    }
}

impl Store for PostgresStore {
    fn write(&self, work: &mut dyn FnMut(&mut dyn Tx) -> Result<(), DirectoryError>) -> Result<(), DirectoryError> {
        self.run("BEGIN ISOLATION LEVEL SERIALIZABLE", work)
    }

    fn read(&self, work: &mut dyn FnMut(&mut dyn Tx) -> Result<(), DirectoryError>) -> Result<(), DirectoryError> {
        self.run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", work)
    }
}
