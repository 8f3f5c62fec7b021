//! Roster's PostgreSQL storage: [`PostgresStore`] implements
//! [`directory::Store`] and [`directory::Tx`] with the synchronous `postgres`
//! client, so no async runtime leaks into the directory.
//!
//! Several Roster instances may share one database; nothing is cached in
//! memory but prepared statements. Every write runs in a `REPEATABLE READ`
//! transaction and is run again (with jittered back-off) when PostgreSQL
//! reports a serialization failure or deadlock, so read-modify-write never
//! loses an update, across instances too; uniqueness is held by UNIQUE
//! indexes and references by foreign keys (migration 4 says why this is
//! enough). Reads run in a `REPEATABLE READ READ ONLY` snapshot. All SQL of
//! this backend lives in this crate.
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
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long a write keeps retrying after serialization failures before it gives up with `Busy`.
const RETRY_FOR: Duration = Duration::from_secs(10);

/// How often, at most, one store folds the organisations' counter deltas
/// into their counters (migration 4), after a write.
const FOLD_EVERY: Duration = Duration::from_millis(250);

/// A PostgreSQL database holding one or more organisations.
pub struct PostgresStore {
    pool: Pool,
    schema_version: i32,
    opened: Instant,
    /// Milliseconds after `opened` of the last fold of counter deltas.
    last_fold_ms: AtomicU64,
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
        Ok(PostgresStore { pool, schema_version, opened: Instant::now(), last_fold_ms: AtomicU64::new(0) })
    }

    /// Folds the committed counter deltas of every organisation into their
    /// counters, and the block deltas into the block counts; returns how many
    /// counter delta rows it folded. Runs under READ
    /// COMMITTED: it deletes only deltas that committed before it, so writers
    /// (who only insert deltas) never wait for it nor conflict with it, and
    /// two stores folding at once each fold the rows they deleted.
    pub fn fold_count_deltas(&self) -> Result<u64, DirectoryError> {
        const FOLD: &str = "WITH moved AS (DELETE FROM org_count_deltas RETURNING org_id, users, groups), \
            sums AS (SELECT org_id, count(*) AS n, sum(users)::bigint AS users, sum(groups)::bigint AS groups \
                     FROM moved GROUP BY org_id), \
            updated AS (UPDATE org_counts c SET users = c.users + s.users, groups = c.groups + s.groups \
                        FROM sums s WHERE c.org_id = s.org_id) \
            SELECT COALESCE(sum(n), 0)::bigint FROM sums";
        // The block counts of migration 6, folded the same way.
        const FOLD_BLOCKS: &str = "WITH moved AS (DELETE FROM user_block_deltas RETURNING org_id, block, n), \
            sums AS (SELECT org_id, block, sum(n)::bigint AS n FROM moved GROUP BY org_id, block) \
            INSERT INTO user_blocks (org_id, block, n) SELECT org_id, block, n FROM sums \
            ON CONFLICT (org_id, block) DO UPDATE SET n = user_blocks.n + EXCLUDED.n";
        let mut conn = self.pool.take()?;
        let result = (|| {
            conn.client.batch_execute("BEGIN ISOLATION LEVEL READ COMMITTED")?;
            let folded: i64 = conn.client.query_one(FOLD, &[])?.get(0);
            conn.client.execute(FOLD_BLOCKS, &[])?;
            conn.client.batch_execute("COMMIT")?;
            Ok(folded)
        })();
        if result.is_err() {
            let _ = conn.client.batch_execute("ROLLBACK");
        }
        self.pool.give_back(conn);
        result.map(|n: i64| u64::try_from(n).unwrap_or(0)).map_err(db_error)
    }

    /// Folds the counter deltas if no thread of this store did so lately.
    fn fold_count_deltas_now_and_then(&self) {
        let now = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        let last = self.last_fold_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) < FOLD_EVERY.as_millis() as u64 {
            return;
        }
        // One thread folds; the others go on.
        if self.last_fold_ms.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
            // A failed fold changes nothing; the deltas wait for the next one.
            let _ = self.fold_count_deltas();
        }
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
        // Why not SERIALIZABLE: migration 4.
        let result = self.run("BEGIN ISOLATION LEVEL REPEATABLE READ", work);
        if result.is_ok() {
            self.fold_count_deltas_now_and_then();
        }
        result
    }

    fn read(&self, work: &mut dyn FnMut(&mut dyn Tx) -> Result<(), DirectoryError>) -> Result<(), DirectoryError> {
        self.run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", work)
    }

    /// Each statement on its own (autocommit): no BEGIN and COMMIT round trips.
    fn read_latest(
        &self,
        work: &mut dyn FnMut(&mut dyn Tx) -> Result<(), DirectoryError>,
    ) -> Result<(), DirectoryError> {
        let mut conn = self.pool.take()?;
        let result = work(&mut tx::PgTx::new(&mut conn));
        self.pool.give_back(conn);
        result
    }
}
