//! The directory store suite on SQLite, plus SQLite-specific checks:
//! URL forms, migrations, several handles on one file, query plans.

use directory::store_suite;
use directory::Store;
use std::sync::Arc;
use store_sqlite::SqliteStore;

fn temp_db() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("roster.db").to_string_lossy().into_owned();
    (dir, path)
}

fn open(path: &str) -> Arc<dyn Store> {
    Arc::new(SqliteStore::open(path).unwrap())
}

/// One `#[test]` per suite test, each on a fresh temp-file database.
macro_rules! suite {
    ($($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            let (_dir, path) = temp_db();
            let store = open(&path);
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
    // The macro above must list every test of the suite.
    assert_eq!(store_suite::TESTS.len(), 14);
    assert_eq!(store_suite::GROUP_TESTS.len(), 5);
}

#[test]
fn run_all_on_memory_databases() {
    store_suite::run_all(&|| Arc::new(SqliteStore::open("sqlite::memory:").unwrap()) as Arc<dyn Store>);
    store_suite::run_all_groups(&|| Arc::new(SqliteStore::open("sqlite::memory:").unwrap()) as Arc<dyn Store>);
}

#[test]
fn concurrent_unique_insert_from_separate_handles() {
    let (_dir, path) = temp_db();
    store_suite::concurrent_unique_insert(&|| open(&path));
}

#[test]
fn concurrent_increments_lose_no_update() {
    let (_dir, path) = temp_db();
    store_suite::concurrent_increments(&|| open(&path));
}

#[test]
fn concurrent_first_open_migrates_once() {
    let (_dir, path) = temp_db();
    let versions: Vec<u32> = std::thread::scope(|s| {
        let handles: Vec<_> =
            (0..8).map(|_| s.spawn(|| SqliteStore::open(&path).unwrap().schema_version().unwrap())).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(versions.iter().all(|v| *v == store_sqlite::SCHEMA_VERSION), "{versions:?}");
}

#[test]
fn data_survives_reopen() {
    let (_dir, path) = temp_db();
    store_suite::survives_reopen(&|| open(&path));
}

#[test]
fn url_forms() {
    let dir = tempfile::tempdir().unwrap();
    let abs = dir.path().join("a.db");
    let s = SqliteStore::open(&format!("sqlite://{}", abs.display())).unwrap();
    assert_eq!(s.location().path(), abs.as_path(), "sqlite:///abs keeps its leading slash");
    drop(s);
    assert!(abs.exists(), "the file is created on first open");
    for (url, file) in [
        (format!("sqlite:{}", dir.path().join("b.db").display()), "b.db"),
        (format!("{}", dir.path().join("c.db").display()), "c.db"),
        (format!("sqlite://{}?mode=rwc", dir.path().join("d.db").display()), "d.db"),
    ] {
        let s = SqliteStore::open(&url).unwrap();
        assert_eq!(s.location().path(), dir.path().join(file), "{url}");
        assert_eq!(s.schema_version().unwrap(), store_sqlite::SCHEMA_VERSION);
    }
    // Relative forms.
    assert_eq!(store_sqlite::Location::parse("sqlite://roster.db").unwrap().path(), std::path::Path::new("roster.db"));
    assert_eq!(store_sqlite::Location::parse("sqlite:roster.db").unwrap().path(), std::path::Path::new("roster.db"));
    assert!(SqliteStore::open("sqlite:").is_err());
    // A memory database is a temporary file shared by all connections, removed on drop.
    let mem = SqliteStore::open("sqlite::memory:").unwrap();
    let path = mem.location().path().to_path_buf();
    assert!(path.exists());
    drop(mem);
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.clone().into_os_string();
        name.push(suffix);
        assert!(!std::path::Path::new(&name).exists(), "{name:?} left behind");
    }
}

#[test]
fn lookups_use_an_index() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    let plans = store.explain_lookup_plans().unwrap();
    assert_eq!(plans.len(), 4);
    let mut doc = String::new();
    for p in &plans {
        assert!(
            p.plan.contains("USING INDEX") || p.plan.contains("USING COVERING INDEX") || p.plan.contains("PRIMARY KEY"),
            "{}: {}",
            p.filter,
            p.plan
        );
        assert!(!p.plan.lines().any(|l| l.trim() == "SCAN u" || l.contains("SCAN users")), "{}: {}", p.filter, p.plan);
        // Walking all users of the organisation is a scan too.
        assert!(
            !p.plan.lines().any(|l| l.starts_with("SEARCH u ") && l.ends_with("(org_id=?)")),
            "{}: {}",
            p.filter,
            p.plan
        );
        doc.push_str(&format!("filter: {}\nsql: {}\nplan:\n{}\n\n", p.filter, p.sql, p.plan));
    }
    // Printed for docs/query-plans.md (`cargo test -p store-sqlite lookups_use_an_index -- --nocapture`).
    println!("{doc}");
}

#[test]
fn list_pages_walk_insertion_order_without_sorting() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    let plans = store.explain_list_plans().unwrap();
    assert_eq!(plans.len(), 4);
    for (name, plan) in &plans {
        // The default order is the B-tree's own, not a sort of the org's rows:
        // the users' seq range of the organisation, the groups' (org_id, seq) index.
        assert!(!plan.contains("TEMP B-TREE"), "{name}: {plan}");
        let walks = if name.starts_with("users") { "INTEGER PRIMARY KEY (rowid>? AND rowid<?)" } else { "_org_seq" };
        assert!(plan.contains(walks), "{name}: {plan}");
        println!("{name}:\n{plan}\n");
    }
    let by_cursor = &plans[1].1;
    assert!(by_cursor.contains("(rowid>? AND rowid<?)"), "a cursor page seeks to its position: {by_cursor}");
}

#[test]
fn lookups_by_id_lists_seek_each_id() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    for (name, plan) in store.explain_id_list_plans().unwrap() {
        // Each id is looked up by its key; the org's users are never walked.
        assert!(plan.contains("(id=?)") || plan.contains("(member_id=?"), "{name}: {plan}");
        assert!(!plan.contains("SCAN u") && !plan.contains("(org_id=?)"), "{name}: {plan}");
    }
}

#[test]
fn lock_timeout_is_busy() {
    // Another handle (as another process would) holds the write lock longer than the busy timeout.
    let (_dir, path) = temp_db();
    let holder = SqliteStore::open(&path).unwrap();
    let waiter = SqliteStore::open(&path).unwrap();
    let (tx_locked, rx_locked) = std::sync::mpsc::channel();
    let (tx_done, rx_done) = std::sync::mpsc::channel::<()>();
    std::thread::scope(|s| {
        let holder = &holder;
        s.spawn(move || {
            holder
                .write(&mut |_| {
                    tx_locked.send(()).unwrap();
                    rx_done.recv().unwrap();
                    Ok(())
                })
                .unwrap();
        });
        rx_locked.recv().unwrap();
        let started = std::time::Instant::now();
        let result = waiter.write(&mut |_| Ok(()));
        // Reads are not blocked by a writer (WAL).
        let read = waiter.read(&mut |tx| tx.list_orgs().map(|_| ()));
        tx_done.send(()).unwrap();
        assert!(matches!(result, Err(directory::DirectoryError::Busy(_))), "{result:?}");
        assert!(started.elapsed() >= std::time::Duration::from_secs(4));
        assert!(read.is_ok(), "{read:?}");
    });
}

/// Authentication through the in-memory cache follows the database: a key
/// revoked by another handle (another process, in real use) is refused at
/// once, an expired key is refused though it was cached, and a changed
/// organisation is read afresh.
#[test]
fn cached_authentication_follows_revocation_expiry_and_org_changes() {
    use directory::admin::{self, AuthCache};
    use directory::{Role, UserState, UsernamePolicy};
    let dir = tempfile::tempdir().unwrap();
    let path = format!("sqlite://{}", dir.path().join("auth.db").display());
    let server = open(&path);
    let cli = open(&path);
    let cache = AuthCache::default();
    admin::create_org(cli.as_ref(), "acme", UsernamePolicy::Strict, UserState::Activated).unwrap();
    let key = admin::create_api_key(cli.as_ref(), "acme", Role::Administrator, Some("k"), None, None).unwrap();
    let auth = |token: &str| admin::authenticate(server.as_ref(), &cache, token).unwrap();
    assert_eq!(auth(&key.token).unwrap().org.username_policy, UsernamePolicy::Strict);
    assert!(auth(&key.token).is_some(), "served from the cache");
    assert!(auth("rst_wrong").is_none());
    admin::update_org(cli.as_ref(), "acme", Some(UsernamePolicy::Rfc), None).unwrap();
    assert_eq!(auth(&key.token).unwrap().org.username_policy, UsernamePolicy::Rfc, "org change seen");
    admin::revoke_api_key(cli.as_ref(), "acme", &key.record.id).unwrap();
    assert!(auth(&key.token).is_none(), "revocation seen at once");
    let expired = admin::create_api_key(
        cli.as_ref(),
        "acme",
        Role::Administrator,
        Some("old"),
        Some("2000-01-01T00:00:00.000Z".into()),
        None,
    )
    .unwrap();
    assert!(auth(&expired.token).is_none(), "an expired key is refused");
    assert!(auth(&expired.token).is_none(), "also once it is in the cache");
}

/// A new database at schema `version`, as the Roster of that version made it.
fn database_at_schema(path: &str, version: usize) -> rusqlite::Connection {
    const MIGRATIONS: [&str; 7] = [
        include_str!("../migrations/0001_init.sql"),
        include_str!("../migrations/0002_groups.sql"),
        include_str!("../migrations/0003_scale.sql"),
        include_str!("../migrations/0004_auth_generation.sql"),
        include_str!("../migrations/0005_user_blocks.sql"),
        include_str!("../migrations/0006_partial_indexes.sql"),
        include_str!("../migrations/0007_leaner_user_rows.sql"),
    ];
    // SQLite's allocator is set before this test's first connection.
    store_sqlite::initialize().unwrap();
    let c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch("PRAGMA journal_mode = WAL").unwrap();
    for sql in &MIGRATIONS[..version] {
        c.execute_batch(sql).unwrap();
    }
    c.execute_batch(&format!("PRAGMA user_version = {version}")).unwrap();
    c
}

/// A database of schema 6 (written as Roster 6 wrote it) keeps its users
/// and their email index through migration 7, which drops `users.fields`
/// and keys `user_emails` by (user_id, value).
#[test]
fn migration_7_keeps_users_and_their_emails() {
    let (_dir, path) = temp_db();
    {
        let c = database_at_schema(&path, 6);
        c.execute_batch(
            r#"INSERT INTO orgs (id, name, username_policy, scim_default_state, created)
                VALUES (1, 'acme', 'rfc', 'ACTIVATED', '2026-01-01T00:00:00.000Z');
            INSERT INTO users (id, org_id, user_name, user_name_folded, username, username_folded, email,
                external_id, employee_identifier, manager_id, state, activated, password_expired, scim, fields,
                created, last_modified, version)
            VALUES ('u1', 1, 'Ann', 'ann', 'ann', 'ann', 'ann@example.com', 'x1', NULL, NULL, 'ACTIVATED', 1, 0,
                '{"userName":"Ann","emails":[{"value":"Ann@Example.com","primary":true},{"value":"a2@example.com"}]}',
                '{"username":"ann"}', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', 1);
            INSERT INTO user_emails (org_id, user_id, value_folded) VALUES (1, 'u1', 'ann@example.com');
            INSERT INTO user_emails (org_id, user_id, value_folded) VALUES (1, 'u1', 'a2@example.com');"#,
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), store_sqlite::SCHEMA_VERSION);
    let user = directory::store::read(&store, |tx| tx.user_by_id(1, "u1")).unwrap().unwrap();
    assert_eq!(user.user_name, "Ann");
    for filter in [r#"emails.value eq "ANN@example.com""#, r#"emails.value eq "a2@example.com""#] {
        assert_eq!(store_suite::ids_matching(&store, 1, filter), ["u1"], "{filter}");
    }
    // Deleting the user still takes its email rows with it.
    directory::store::write(&store, |tx| tx.delete_user(1, "u1").map(drop)).unwrap();
    let c = rusqlite::Connection::open(&path).unwrap();
    let left: i64 = c.query_row("SELECT count(*) FROM user_emails", [], |r| r.get(0)).unwrap();
    assert_eq!(left, 0);
    let columns: Vec<String> = c
        .prepare("SELECT name FROM pragma_table_info('users')")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(!columns.iter().any(|c| c == "fields"), "{columns:?}");
}

/// A database of schema 7 keeps each organisation's log (newest first) and
/// its users (in insertion order, counted) through migration 8, which keys
/// events and users by organisation in their seq and counts users by block;
/// new events and users follow the old ones.
#[test]
fn migration_8_keeps_each_organisations_log_and_users_in_order() {
    let (_dir, path) = temp_db();
    {
        let c = database_at_schema(&path, 7);
        for (id, name) in [(1, "acme"), (2, "globex")] {
            c.execute(
                "INSERT INTO orgs (id, name, username_policy, scim_default_state, created)
                 VALUES (?, ?, 'rfc', 'ACTIVATED', '2026-01-01T00:00:00.000Z')",
                rusqlite::params![id, name],
            )
            .unwrap();
        }
        for (i, user) in ["ann", "bob", "cy"].iter().enumerate() {
            // Interleaved users too: acme's are ann, bob, cy; globex's gil-ann, gil-bob, gil-cy.
            for (org, name) in [(1, user.to_string()), (2, format!("gil-{user}"))] {
                c.execute(
                    "INSERT INTO users (id, org_id, user_name, user_name_folded, username, username_folded, state,
                        activated, password_expired, scim, created, last_modified, version)
                     VALUES (?1, ?2, ?1, ?1, ?1, ?1, 'ACTIVATED', 1, 0, '{}', '2026-01-01T00:00:00.000Z',
                        '2026-01-01T00:00:00.000Z', 1)",
                    rusqlite::params![name, org],
                )
                .unwrap();
            }
            // Interleaved logs: acme's events are seqs 1, 3, 5; globex's 2, 4, 6.
            for org in [1, 2] {
                c.execute(
                    "INSERT INTO events (id, at, org_id, actor, source, event_type, resource_type, changes, ignored, status)
                     VALUES (?, '2026-01-01T00:00:00.000Z', ?, 'cli', 'cli', 'user_create', 'User', '[]', '[]', 201)",
                    rusqlite::params![format!("e{org}-{i}"), org],
                )
                .unwrap();
            }
        }
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), store_sqlite::SCHEMA_VERSION);
    let log = |org: i64| -> Vec<String> {
        directory::store::read(&store, |tx| tx.recent_events(org, 10)).unwrap().into_iter().map(|e| e.id).collect()
    };
    assert_eq!(log(1), ["e1-2", "e1-1", "e1-0"]);
    assert_eq!(log(2), ["e2-2", "e2-1", "e2-0"]);
    let mut event = directory::store::read(&store, |tx| tx.recent_events(1, 1)).unwrap().remove(0);
    event.id = "e1-new".into();
    directory::store::write(&store, |tx| tx.append_event(&event)).unwrap();
    assert_eq!(log(1), ["e1-new", "e1-2", "e1-1", "e1-0"]);
    assert_eq!(log(2), ["e2-2", "e2-1", "e2-0"]);
    // Users: each organisation's, in insertion order, by index and by cursor;
    // a new user comes last.
    let user = directory::store::read(&store, |tx| tx.user_by_id(2, "gil-ann")).unwrap().unwrap();
    let mut added = user.clone();
    added.id = "gil-dee".into();
    added.user_name = "gil-dee".into();
    added.username = "gil-dee".into();
    directory::store::write(&store, |tx| tx.insert_user(&added)).unwrap();
    let page = |org: i64, start_index: u64, after: Option<i64>| {
        let q = directory::store::UserQuery { start_index, count: 10, after, ..Default::default() };
        let page = directory::store::read(&store, |tx| tx.query_users(org, &q)).unwrap();
        (page.total, page.items.into_iter().map(|u| u.id).collect::<Vec<_>>())
    };
    assert_eq!(page(1, 1, None), (3, vec!["ann".to_string(), "bob".into(), "cy".into()]));
    assert_eq!(page(1, 2, None), (3, vec!["bob".to_string(), "cy".into()]));
    assert_eq!(page(2, 1, None), (4, vec!["gil-ann".to_string(), "gil-bob".into(), "gil-cy".into(), "gil-dee".into()]));
    assert_eq!(page(2, 3, None), (4, vec!["gil-cy".to_string(), "gil-dee".into()]));
    // A cursor from before the migration (a small seq) starts from the first user.
    assert_eq!(page(2, 1, Some(0)).1, page(2, 1, None).1);
    assert_eq!(page(2, 1, Some(3)).1, page(2, 1, None).1);
    let c = rusqlite::Connection::open(&path).unwrap();
    for gone in ["events_org_seq", "users_org_seq"] {
        let n: i64 = c.query_row("SELECT count(*) FROM sqlite_schema WHERE name = ?", [gone], |r| r.get(0)).unwrap();
        assert_eq!(n, 0, "{gone} is gone");
    }
}
