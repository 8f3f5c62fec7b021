//! Group commit: concurrent writers share COMMITs, and a failing write rolls
//! back only its own changes.

use directory::model::{Org, UserState, UsernamePolicy};
use directory::store::{self, Store};
use directory::DirectoryError;
use std::sync::Arc;
use store_sqlite::SqliteStore;

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
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/g.db", dir.path().display());
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&url).unwrap());
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
