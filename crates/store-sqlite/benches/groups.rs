//! Membership at scale (issue 4): adding one member to a group of 100 000
//! costs what it costs in a group of 10, and `excludedAttributes=members`
//! never reads the member list. Drives `directory::Directory` over a
//! `SqliteStore` on a temporary file (synchronous = FULL, as served).
//!
//! `cargo bench -p store-sqlite --bench groups -- --warm-up-time 1 --measurement-time 5`
//!
//! `add_one_member/*` is the whole PATCH through `Directory` (commit and its
//! fsync included); `add_one_member_rolled_back/*` is the store's part alone.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use directory::store::{self, Store};
use directory::{Actor, Directory, Org, UserRecord, UserState, UsernamePolicy};
use scim::patch::PatchRequest;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use store_sqlite::SqliteStore;

const BATCH: usize = 10_000;

fn user(org_id: i64, id: &str) -> UserRecord {
    UserRecord {
        id: id.into(),
        org_id,
        user_name: id.into(),
        username: id.into(),
        email: None,
        external_id: None,
        employee_identifier: None,
        manager_id: None,
        state: UserState::Activated,
        activated: false,
        password_expired: false,
        scim: json!({"userName": id, "displayName": format!("User {id}")}).into(),
        created: "2026-01-01T00:00:00.000Z".into(),
        last_modified: "2026-01-01T00:00:00.000Z".into(),
        version: 1,
    }
}

/// Users `{prefix}-{i}`, inserted in transactions of `BATCH`.
fn seed_users(s: &dyn Store, org_id: i64, prefix: &str, n: usize) -> Vec<String> {
    let ids: Vec<String> = (0..n).map(|i| format!("{prefix}-{i:06}")).collect();
    for chunk in ids.chunks(BATCH) {
        store::write(s, |tx| {
            for id in chunk {
                tx.insert_user(&user(org_id, id))?;
            }
            Ok(())
        })
        .expect("seeding users");
    }
    ids
}

fn patch(ops: serde_json::Value) -> PatchRequest {
    serde_json::from_value(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops}))
        .expect("patch body")
}

struct Fixture {
    _dir: tempfile::TempDir,
    dir: Directory,
    actor: Actor,
    /// (size, group id)
    groups: Vec<(usize, String)>,
    /// Users in no group, one per measured add.
    spare: Vec<String>,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().expect("temp dir");
    let url = tmp.path().join("bench.db").to_string_lossy().into_owned();
    let s: Arc<dyn Store> = Arc::new(SqliteStore::open(&url).expect("open"));
    let mut org = Org {
        id: 0,
        name: "bench".into(),
        username_policy: UsernamePolicy::Rfc,
        scim_default_state: UserState::Activated,
        created: "2026-01-01T00:00:00.000Z".into(),
    };
    org.id = store::write(s.as_ref(), |tx| tx.insert_org(&org)).expect("org");
    let started = Instant::now();
    let members = seed_users(s.as_ref(), org.id, "m", 100_000);
    let spare = seed_users(s.as_ref(), org.id, "s", 2_000);
    let dir = Directory::new(s.clone());
    let actor = Actor { org: org.clone(), key_id: "bench".into(), key_name: "bench".into(), source: "bench".into() };
    let mut groups = Vec::new();
    for size in [10usize, 100_000] {
        let g = dir.create_group(&actor, &json!({"displayName": format!("g{size}")})).expect("group");
        for chunk in members[..size].chunks(BATCH) {
            store::write(s.as_ref(), |tx| tx.add_members(org.id, &g.id, chunk).map(|_| ())).expect("members");
        }
        groups.push((size, g.id));
    }
    eprintln!("seeded 102 000 users and groups of 10 and 100 000 in {:?}", started.elapsed());
    Fixture { _dir: tmp, dir, actor, groups, spare }
}

fn bench(c: &mut Criterion) {
    let f = fixture();
    let mut next = 0usize;
    for (size, gid) in &f.groups {
        // Only the add is timed; removing the member again keeps the size constant.
        c.bench_function(&format!("add_one_member/{size}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let uid = f.spare[next % f.spare.len()].clone();
                    next += 1;
                    let add = patch(json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": uid}]}]));
                    let t = Instant::now();
                    let w = f.dir.patch_group(&f.actor, gid, &add).expect("add");
                    total += t.elapsed();
                    assert!(w.changed);
                    let rm = patch(json!([{"op": "Remove", "path": "members", "value": [{"value": uid}]}]));
                    f.dir.patch_group(&f.actor, gid, &rm).expect("remove");
                }
                total
            })
        });
        // The membership work alone, without the commit's fsync: add one member
        // inside a write transaction that is then rolled back.
        let store = f.dir.store.clone();
        let org_id = f.actor.org.id;
        c.bench_function(&format!("add_one_member_rolled_back/{size}"), |b| {
            b.iter(|| {
                let uid = vec![f.spare[0].clone()];
                let r = store.write(&mut |tx| {
                    let added = tx.add_members(org_id, gid, &uid)?;
                    assert_eq!(added.len(), 1);
                    Err(directory::DirectoryError::Store("roll back".into()))
                });
                assert!(r.is_err());
            })
        });
        c.bench_function(&format!("get_excluding_members/{size}"), |b| {
            b.iter(|| {
                let v = f.dir.get_group(f.actor.org.id, gid, false).expect("get");
                assert!(v.members.is_none());
            })
        });
    }
    // The full GET of the large group: read and render every member.
    let mut g = c.benchmark_group("get_with_members");
    g.sample_size(10);
    for (size, gid) in &f.groups {
        g.bench_function(format!("{size}"), |b| {
            b.iter_batched(
                || (),
                |()| {
                    let v = f.dir.get_group(f.actor.org.id, gid, true).expect("get");
                    let json = directory::groups::render_group(&v.group, v.members.as_deref(), "https://x/scim/v2");
                    serde_json::to_vec(&json).expect("json").len()
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
