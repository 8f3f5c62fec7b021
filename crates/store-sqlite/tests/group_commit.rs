//! Group commit: concurrent writers share COMMITs, and a failing write rolls
//! back only its own changes.

use directory::model::{Org, UserState, UsernamePolicy};
use directory::store::{self, Store};
use directory::DirectoryError;
use std::sync::Arc;
use store_sqlite::SqliteStore;

/// A store on a new database file, with the folder that holds it (keep it
/// alive) and the file's URL (to open it again).
fn fresh_store() -> (tempfile::TempDir, String, Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/roster.db", dir.path().display());
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&url).unwrap());
    (dir, url, store)
}

fn org(name: String) -> Org {
    Org {
        id: 0,
        name,
        username_policy: UsernamePolicy::Strict,
        scim_default_state: UserState::Activated,
        created: directory::now_rfc3339(),
    }
}

#[test]
fn concurrent_writes_commit_and_failures_roll_back_alone() {
    let (_dir, url, store) = fresh_store();
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..25 {
                    let name = format!("org-{t}-{i}");
                    let fail = i % 3 == 0;
                    let result = store::write(store.as_ref(), |tx| {
                        tx.insert_org(&org(name.clone()))?;
                        if fail {
                            return Err(DirectoryError::Conflict("refused after writing".into()));
                        }
                        Ok(())
                    });
                    assert_eq!(result.is_ok(), !fail, "{name}: {result:?}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let expected: usize = 16 * (0..25).filter(|i| i % 3 != 0).count();
    let names = |s: &dyn Store| -> Vec<String> {
        let mut v: Vec<String> = store::read(s, |tx| tx.list_orgs()).unwrap().into_iter().map(|o| o.name).collect();
        v.sort();
        v
    };
    let seen = names(store.as_ref());
    assert_eq!(seen.len(), expected);
    assert!(seen.iter().all(|n| n.rsplit('-').next().unwrap().parse::<u32>().unwrap() % 3 != 0));
    // Durable: a fresh open sees the same.
    drop(store);
    let reopened = SqliteStore::open(&url).unwrap();
    assert_eq!(names(&reopened), seen);
}

/// Adds an organisation named `name` through `s`.
fn add_org(s: &dyn Store, name: &str) -> Result<(), DirectoryError> {
    store::write(s, |tx| tx.insert_org(&org(name.into())).map(drop))
}

fn org_names(s: &dyn Store) -> Vec<String> {
    let mut v: Vec<String> = store::read(s, |tx| tx.list_orgs()).unwrap().into_iter().map(|o| o.name).collect();
    v.sort();
    v
}

#[test]
fn a_write_batch_commits_at_its_end_and_shows_its_writes_only_to_itself() {
    let (_dir, url, store) = fresh_store();
    assert!(store.batches_writes());
    let mut results = Vec::new();
    let committed = store.write_batch(&mut || {
        for (name, fail) in [("a", false), ("b", true), ("c", false)] {
            results.push(store::write(store.as_ref(), |tx| {
                tx.insert_org(&org(name.into()))?;
                if fail {
                    return Err(DirectoryError::Conflict("refused after writing".into()));
                }
                Ok(())
            }));
        }
        // Inside the batch, this thread reads its own writes...
        assert_eq!(org_names(store.as_ref()), ["a", "c"]);
        // ...while another thread still sees only what is committed.
        let other = store.clone();
        let seen_elsewhere = std::thread::spawn(move || org_names(other.as_ref())).join().unwrap();
        assert!(seen_elsewhere.is_empty(), "{seen_elsewhere:?}");
    });
    let point = committed.unwrap();
    assert!(results[0].is_ok() && results[1].is_err() && results[2].is_ok(), "{results:?}");
    store.sync(point).unwrap();
    let other = store.clone();
    assert_eq!(std::thread::spawn(move || org_names(other.as_ref())).join().unwrap(), ["a", "c"]);
    // Durable: a fresh open sees the same.
    drop(store);
    assert_eq!(org_names(&SqliteStore::open(&url).unwrap()), ["a", "c"]);
}

#[test]
fn writes_from_other_threads_during_a_batch_are_committed_too() {
    let (_dir, _, store) = fresh_store();
    let committed = store.write_batch(&mut || {
        add_org(store.as_ref(), "in-batch").unwrap();
        // A write from elsewhere joins the open transaction and commits it
        // (with the batch's write) before it returns.
        let other = store.clone();
        std::thread::spawn(move || add_org(other.as_ref(), "outside")).join().unwrap().unwrap();
        add_org(store.as_ref(), "after").unwrap();
    });
    committed.unwrap();
    assert_eq!(org_names(store.as_ref()), ["after", "in-batch", "outside"]);
}

#[test]
fn a_read_nested_in_a_write_inside_a_batch_does_not_deadlock() {
    let (_dir, _, store) = fresh_store();
    add_org(store.as_ref(), "committed").unwrap();
    let (done, finished) = std::sync::mpsc::channel();
    let batch_store = store.clone();
    std::thread::spawn(move || {
        let s = batch_store.as_ref();
        let mut seen = Vec::new();
        let committed = s.write_batch(&mut || {
            store::write(s, |tx| {
                tx.insert_org(&org("in-batch".into()))?;
                // Nested: takes a reader connection, which sees committed data only.
                seen = org_names(s);
                Ok(())
            })
            .unwrap();
        });
        let _ = done.send((committed.is_ok(), seen));
    });
    let (committed, seen) = finished
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("a read nested in a write inside a batch deadlocked");
    assert!(committed);
    assert_eq!(seen, ["committed"]);
    assert_eq!(org_names(store.as_ref()), ["committed", "in-batch"]);
}

#[test]
fn a_batch_is_visible_when_it_returns_and_its_point_orders_it_among_commits() {
    let (_dir, url, store) = fresh_store();
    let first = store.write_batch(&mut || {
        add_org(store.as_ref(), "one").unwrap();
    });
    let first = first.unwrap();
    // Committed (other connections see it) before anyone waited for the disk.
    let other = store.clone();
    assert_eq!(std::thread::spawn(move || org_names(other.as_ref())).join().unwrap(), ["one"]);
    let second = store
        .write_batch(&mut || {
            add_org(store.as_ref(), "two").unwrap();
        })
        .unwrap();
    assert!(second > first, "{first:?} {second:?}");
    store.sync(second).unwrap();
    store.sync(first).unwrap();
    drop(store);
    assert_eq!(org_names(&SqliteStore::open(&url).unwrap()), ["one", "two"]);
}
