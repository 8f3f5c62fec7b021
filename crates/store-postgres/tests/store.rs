//! The directory store suite on PostgreSQL, plus PostgreSQL-specific checks.
//! Runs when `ROSTER_TEST_POSTGRES_URL` names a server (e.g.
//! `postgres://postgres@127.0.0.1:5432/postgres`): every test gets a fresh
//! `roster_test_<random>` database, dropped afterwards. Without it every test
//! says it skipped, and `postgres_store_tests_skipped_ROSTER_TEST_POSTGRES_URL_unset`
//! names the reason in the test list.

use directory::store_suite;
use directory::Store;
use rand::Rng;
use std::sync::Arc;
use store_postgres::PostgresStore;

const ENV: &str = "ROSTER_TEST_POSTGRES_URL";

/// A fresh database on the test server; dropped with the guard.
struct TestDb {
    admin_url: String,
    name: String,
    url: String,
}

impl TestDb {
    fn create() -> Option<TestDb> {
        let Ok(admin_url) = std::env::var(ENV) else {
            say_skipped();
            return None;
        };
        let name = format!("roster_test_{:016x}", rand::thread_rng().gen::<u64>());
        let mut admin = postgres::Client::connect(&admin_url, postgres::NoTls).unwrap();
        admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        let url = with_database(&admin_url, &name);
        Some(TestDb { admin_url, name, url })
    }

    fn open(&self) -> Arc<dyn Store> {
        Arc::new(PostgresStore::open(&self.url).unwrap())
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut admin) = postgres::Client::connect(&self.admin_url, postgres::NoTls) {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}

/// `url` with its database name replaced.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

/// Says once, past the test harness's output capture, that the tests skip.
fn say_skipped() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "skipping PostgreSQL store tests: {ENV} is not set");
    });
}

#[test]
#[allow(non_snake_case)]
fn postgres_store_tests_skip_when_ROSTER_TEST_POSTGRES_URL_is_unset() {
    match std::env::var(ENV) {
        Ok(url) => println!("PostgreSQL store tests run against {url}"),
        Err(_) => say_skipped(),
    }
}

/// One `#[test]` per suite test, each on a fresh database.
macro_rules! suite {
    ($($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            let Some(db) = TestDb::create() else { return };
            let store = db.open();
            store_suite::$name(store.as_ref());
        }
    )*};
}

suite!(
    orgs_insert_get_list_update,
    api_keys_insert_lookup_list_revoke,
    users_insert_get_update_delete,
    users_are_scoped_by_org,
    uniqueness_conflicts,
    filters,
    pagination,
    deep_pages,
    cursor_paging,
    cursor_paging_under_concurrent_inserts,
    sorting,
    rollback_on_error,
    clear_manager_references,
    events_append_recent,
    groups_insert_get_update_delete,
    group_members_in_batches,
    group_queries,
    group_cursor_paging,
    groups_of_users_names_and_cascades,
);

#[test]
fn suite_covers_every_listed_test() {
    assert_eq!(store_suite::TESTS.len(), 14);
    assert_eq!(store_suite::GROUP_TESTS.len(), 5);
}

#[test]
fn run_all_on_fresh_databases() {
    if std::env::var(ENV).is_err() {
        say_skipped();
        return;
    }
    let dbs = std::sync::Mutex::new(Vec::new());
    store_suite::run_all(&|| {
        let db = TestDb::create().unwrap();
        let store = db.open();
        dbs.lock().unwrap().push(db);
        store
    });
}

#[test]
fn concurrent_unique_insert_from_separate_handles() {
    let Some(db) = TestDb::create() else { return };
    store_suite::concurrent_unique_insert(&|| db.open());
}

#[test]
fn concurrent_increments_lose_no_update() {
    let Some(db) = TestDb::create() else { return };
    store_suite::concurrent_increments(&|| db.open());
}

#[test]
fn data_survives_reopen() {
    let Some(db) = TestDb::create() else { return };
    store_suite::survives_reopen(&|| db.open());
}

#[test]
fn concurrent_first_open_migrates_once() {
    let Some(db) = TestDb::create() else { return };
    let versions: Vec<i32> = std::thread::scope(|s| {
        let handles: Vec<_> =
            (0..8).map(|_| s.spawn(|| PostgresStore::open(&db.url).unwrap().schema_version())).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(versions.iter().all(|v| *v == 7), "{versions:?}");
    let mut c = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    let n: i64 = c.query_one("SELECT count(*) FROM schema_migrations", &[]).unwrap().get(0);
    assert_eq!(n, 7);
}

#[test]
fn hostile_filter_values_are_data_not_sql() {
    use directory::store::{self, UserQuery};
    let Some(db) = TestDb::create() else { return };
    let s = db.open();
    let org_id = store_suite::new_org(s.as_ref(), "acme").id;
    let names = ["o'brien", r"back\slash", "100%_sure", r#"quote"d"#, "plain"];
    for (i, n) in names.iter().enumerate() {
        let u = store_suite::user(org_id, &format!("u{i}"), n, None);
        store::write(s.as_ref(), |tx| tx.insert_user(&u)).unwrap();
    }
    let ids = |f: &str| {
        let filter: scim::filter::Filter = f.parse().unwrap();
        let q = UserQuery {
            filter: Some(&filter),
            sort_by: None,
            sort_order: scim::list::SortOrder::Ascending,
            start_index: 1,
            count: 100,
            after: None,
        };
        store::read(s.as_ref(), |tx| tx.query_users(org_id, &q))
            .unwrap()
            .items
            .into_iter()
            .map(|u| u.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(r#"userName eq "O'Brien""#), vec!["u0"]);
    assert_eq!(ids(r#"userName co "'""#), vec!["u0"]);
    assert_eq!(ids(r#"userName co "\\""#), vec!["u1"]);
    assert_eq!(ids(r#"userName sw "100%""#), vec!["u2"]);
    assert_eq!(ids(r#"userName co "%""#), vec!["u2"]);
    assert_eq!(ids(r#"userName co "_""#), vec!["u2"]);
    assert!(ids(r#"userName sw "%""#).is_empty(), "% is no wildcard");
    assert_eq!(ids(r#"userName ew "\"d""#), vec!["u3"]);
    assert!(ids(r#"userName eq "x' OR '1'='1""#).is_empty());
    assert!(ids(r#"title co "'); DROP TABLE users; --""#).is_empty());
    assert_eq!(ids(r#"userName pr"#).len(), 5, "the table is still there");
}

#[test]
fn lookups_use_an_index() {
    let Some(db) = TestDb::create() else { return };
    let store = PostgresStore::open(&db.url).unwrap();
    // Enough rows that the planner prefers indexes over a scan of the table.
    let mut c = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    c.batch_execute(
        "INSERT INTO orgs (name, username_policy, scim_default_state, created) VALUES ('o', 'rfc', 'ACTIVATED', 'x');
         INSERT INTO users (id, org_id, user_name, user_name_folded, username, username_folded, email, external_id,
           state, activated, password_expired, scim, doc, created, last_modified, version)
         SELECT 'id-' || i, 1, 'u' || i, 'u' || i, 'u' || i, 'u' || i, 'u' || i || '@x', 'e' || i, 'ACTIVATED',
           true, false, '{}', '{}', 'x', 'x', 1 FROM generate_series(1, 20000) i;
         INSERT INTO user_emails SELECT 1, 'id-' || i, 'u' || i || '@x' FROM generate_series(1, 20000) i;
         ANALYZE;",
    )
    .unwrap();
    for f in [
        r#"userName eq "u5""#,
        r#"externalId eq "e5""#,
        r#"id eq "id-5""#,
        r#"emails[type eq "work" and value eq "u5@x"]"#,
        r#"meta.lastModified gt "2026-01-01T00:00:00Z""#,
    ] {
        let plan = store.explain(1, f).unwrap();
        assert!(plan.contains("Index"), "{f}: {plan}");
        assert!(!plan.contains("Seq Scan on users"), "{f}: {plan}");
        println!("filter: {f}\n{plan}\n");
    }
}

#[test]
fn counts_stay_exact_under_concurrent_writers_and_folds() {
    use directory::store::{self, UserQuery};
    let Some(db) = TestDb::create() else { return };
    let pg = Arc::new(PostgresStore::open(&db.url).unwrap());
    let s: Arc<dyn Store> = pg.clone();
    let org_id = store_suite::new_org(s.as_ref(), "acme").id;
    let total = || {
        let q = UserQuery {
            filter: None,
            sort_by: None,
            sort_order: scim::list::SortOrder::Ascending,
            start_index: 1,
            count: 0,
            after: None,
        };
        store::read(s.as_ref(), |tx| tx.query_users(org_id, &q)).unwrap().total
    };
    // Eight writers of one organisation, with folds running beside them.
    std::thread::scope(|scope| {
        for t in 0..8 {
            let s = s.clone();
            scope.spawn(move || {
                for i in 0..40 {
                    let u = store_suite::user(org_id, &format!("u{t}-{i}"), &format!("user{t}-{i}"), None);
                    store::write(s.as_ref(), |tx| tx.insert_user(&u)).unwrap();
                }
            });
        }
        let pg = pg.clone();
        scope.spawn(move || {
            for _ in 0..20 {
                pg.fold_count_deltas().unwrap();
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        });
    });
    assert_eq!(total(), 320);
    for i in 0..10 {
        assert!(store::write(s.as_ref(), |tx| tx.delete_user(org_id, &format!("u0-{i}"))).unwrap());
    }
    assert_eq!(total(), 310, "deletes count before a fold");
    pg.fold_count_deltas().unwrap();
    assert_eq!(total(), 310, "and after it");
    assert_eq!(pg.fold_count_deltas().unwrap(), 0, "a fold leaves no delta behind");
    let mut c = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    let stored: i64 = c.query_one("SELECT users FROM org_counts WHERE org_id = $1", &[&org_id]).unwrap().get(0);
    assert_eq!(stored, 310, "the counter row itself holds the folded count");
}

/// Assigning a manager while that manager is deleted, many times over: no
/// user may end with a manager id that names nobody (snapshot isolation alone
/// would allow it; the foreign key of migration 4 forbids it).
#[test]
fn a_manager_deleted_while_assigned_leaves_no_dangling_reference() {
    use directory::store;
    use directory::DirectoryError;
    let Some(db) = TestDb::create() else { return };
    let s = db.open();
    let org_id = store_suite::new_org(s.as_ref(), "acme").id;
    for round in 0..40 {
        let boss = format!("boss{round}");
        let emp = format!("emp{round}");
        for (id, name) in [(&boss, &boss), (&emp, &emp)] {
            let u = store_suite::user(org_id, id, name, None);
            store::write(s.as_ref(), |tx| tx.insert_user(&u)).unwrap();
        }
        let barrier = std::sync::Barrier::new(2);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                barrier.wait();
                // The directory's way: check that the manager exists, then assign.
                let _ = store::write(s.as_ref(), |tx| {
                    if tx.existing_user_ids(org_id, std::slice::from_ref(&boss))?.is_empty() {
                        return Err(DirectoryError::NotFound("no such manager".into()));
                    }
                    let mut u = tx.user_by_id(org_id, &emp)?.ok_or(DirectoryError::NotFound(emp.clone()))?;
                    u.manager_id = Some(boss.clone());
                    u.version += 1;
                    tx.update_user(&u)
                });
            });
            scope.spawn(|| {
                barrier.wait();
                store::write(s.as_ref(), |tx| {
                    tx.clear_manager_references(org_id, &boss)?;
                    tx.delete_user(org_id, &boss).map(drop)
                })
                .unwrap();
            });
        });
    }
    let mut c = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    let dangling: i64 = c
        .query_one(
            "SELECT count(*) FROM users u WHERE u.manager_id IS NOT NULL \
             AND NOT EXISTS (SELECT 1 FROM users m WHERE m.id = u.manager_id)",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(dangling, 0);
}
