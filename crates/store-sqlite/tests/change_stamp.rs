//! The change stamp (the wal-index header): equal while nothing is committed,
//! different after any COMMIT, whether through the store or through a
//! connection the store knows nothing of.

use directory::model::{Org, UserState, UsernamePolicy};
use directory::store::{self, Store};
use store_sqlite::SqliteStore;

fn org(name: &str) -> Org {
    Org {
        id: 0,
        name: name.into(),
        username_policy: UsernamePolicy::Strict,
        scim_default_state: UserState::Activated,
        created: directory::now_rfc3339(),
    }
}

#[test]
fn the_stamp_changes_with_every_commit_and_only_then() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let store = SqliteStore::open(&format!("sqlite://{}", path.display())).unwrap();
    let before = store.change_stamp().expect("a WAL database has a change stamp");

    // Reads commit nothing. (A write that fails may still move the stamp: its
    // batch commits the pages it touched and restored. A stamp may change
    // without a change of data, never the other way round.)
    store::read(&store, |tx| tx.org_by_name("nobody")).unwrap();
    store::read(&store, |tx| tx.org_by_name("nobody else")).unwrap();
    assert_eq!(store.change_stamp(), Some(before));

    // A write through the store.
    store::write(&store, |tx| tx.insert_org(&org("one"))).unwrap();
    let after_store_write = store.change_stamp().unwrap();
    assert_ne!(after_store_write, before);

    // A write through a connection of its own, as another process would make.
    let other = rusqlite::Connection::open(&path).unwrap();
    other.execute("UPDATE orgs SET name = 'renamed' WHERE name = 'one'", []).unwrap();
    let after_foreign_write = store.change_stamp().unwrap();
    assert_ne!(after_foreign_write, after_store_write);
    assert_eq!(store.change_stamp(), Some(after_foreign_write), "no commit, no change");

    // A checkpoint that restarts the log changes no data; the stamp may move, never back.
    other.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
    store::write(&store, |tx| tx.insert_org(&org("two"))).unwrap();
    let after_restart = store.change_stamp().unwrap();
    for earlier in [before, after_store_write, after_foreign_write] {
        assert_ne!(after_restart, earlier);
    }
}

#[test]
fn the_auth_generation_after_the_stores_own_commit_is_known_until_anyone_else_commits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let store = SqliteStore::open(&format!("sqlite://{}", path.display())).unwrap();
    let generation = |store: &SqliteStore| store::read(store, |tx| tx.auth_generation()).unwrap();

    // A write that leaves authentication alone.
    let org_id = store::write(&store, |tx| tx.insert_org(&org("one"))).unwrap();
    let first = store.change_stamp().unwrap();
    assert_eq!(store.auth_generation_at(&first), Some(generation(&store)));

    // A write that changes it (an organisation is part of what a key resolves to).
    store::write(&store, |tx| {
        let mut o = tx.org_by_id(org_id)?.unwrap();
        o.name = "renamed".into();
        tx.update_org(&o)
    })
    .unwrap();
    let second = store.change_stamp().unwrap();
    let bumped = generation(&store);
    assert_eq!(store.auth_generation_at(&second), Some(bumped));
    assert_ne!(first, second);
    assert_eq!(store.auth_generation_at(&first), None, "only the latest state is known");

    // Another process changes it (`roster apikey revoke`, say): the new state
    // is unknown, so authentication reads the generation again.
    let other = rusqlite::Connection::open(&path).unwrap();
    other.execute("UPDATE orgs SET name = 'again' WHERE id = ?", [org_id]).unwrap();
    let foreign = store.change_stamp().unwrap();
    assert_eq!(store.auth_generation_at(&foreign), None);
    assert!(generation(&store) > bumped);
}
