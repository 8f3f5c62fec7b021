//! Point reads (`GET /Users/{id}`, `userName eq` lookups) may be answered
//! from answers kept in memory (SQLite). A kept answer must never outlive a
//! commit: here a second `roster serve` on the same database and the CLI
//! (other processes) change what the first server has just answered twice,
//! and its next answer must show the change at once. On PostgreSQL nothing
//! is kept; the same checks hold.

mod common;
use common::*;
use reqwest::Method;
use serde_json::{json, Value};

const GROUP_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// Asks `srv` twice (the second answer may be a kept one) and checks that
/// both answers are the same, headers included.
#[track_caller]
fn read_twice(srv: &TestServer, path: &str) -> Value {
    let first = srv.get(path);
    let second = srv.get(path);
    assert_eq!(first.status, 200, "{path}: {}", first.text);
    assert_eq!((second.status, &second.text), (first.status, &first.text), "{path}");
    for header in ["etag", "content-type"] {
        assert_eq!(second.header(header), first.header(header), "{path}: {header}");
    }
    second.scim(200)
}

#[test]
fn kept_answers_never_outlive_a_commit_by_any_process() {
    let a = TestServer::start();
    let b = TestServer::start_sharing(&a);
    let boss = a.create(&entra_user("kept.boss", "kept.boss@contoso.com"));
    let boss_id = boss["id"].as_str().unwrap().to_string();
    let mut body = entra_user("kept.one", "kept.one@contoso.com");
    body[ENT_URN]["manager"] = json!({"value": boss_id});
    let user = a.create(&body);
    let id = user["id"].as_str().unwrap().to_string();
    let by_id = format!("/Users/{id}");
    let lookup = format!("/Users?filter={}", enc("userName eq \"kept.one\""));
    let first_etag = a.get(&by_id).header("etag");

    // A PATCH through the other server.
    read_twice(&a, &by_id);
    read_twice(&a, &lookup);
    b.patch_ops(&id, json!([{"op": "Replace", "path": "title", "value": "Changed by b"}])).scim(200);
    assert_eq!(read_twice(&a, &by_id)["title"], json!("Changed by b"));
    assert_eq!(read_twice(&a, &lookup)["Resources"][0]["title"], json!("Changed by b"));
    assert_ne!(a.get(&by_id).header("etag"), first_etag, "the ETag follows the version");

    // A change of another record that the answer shows: the manager's name, a group.
    b.patch_ops(&boss_id, json!([{"op": "Replace", "path": "displayName", "value": "Renamed Boss"}])).scim(200);
    assert_eq!(read_twice(&a, &by_id)[ENT_URN]["manager"]["displayName"], json!("Renamed Boss"));
    let group = json!({"schemas": [GROUP_URN], "displayName": "Kept Group", "members": [{"value": id}]});
    b.post("/Groups", &group).scim(201);
    assert_eq!(read_twice(&a, &by_id)["groups"][0]["display"], json!("Kept Group"));
    assert_eq!(read_twice(&a, &lookup)["Resources"][0]["groups"][0]["display"], json!("Kept Group"));

    // A delete through the other server: gone on the first at once.
    b.delete(&by_id);
    a.get(&by_id).error(404, None);
    assert_eq!(a.get(&lookup).scim(200)["totalResults"], json!(0));

    // A key revoked by the CLI is refused at once, though its answers were kept.
    let key = a.new_key("default", "administrator");
    let boss_path = format!("/Users/{boss_id}");
    for _ in 0..2 {
        a.req_as(&key, Method::GET, &boss_path, None).scim(200);
    }
    let list = a.roster(&["apikey", "list", "--org", "default"]);
    let line = list.lines().find(|l| l.contains("tests")).expect("the new key is listed");
    a.roster(&["apikey", "revoke", "--org", "default", line.split('\t').next().unwrap()]);
    a.req_as(&key, Method::GET, &boss_path, None).error(401, None);
    // Another key of the same organisation reads what the first one was answered.
    read_twice(&a, &boss_path);
}

#[test]
fn kept_answers_are_per_organisation() {
    let srv = TestServer::start();
    let other_key = srv.org_with_key("kept-other", "strict", "administrator");
    let user = srv.create(&simple_user("kept.org"));
    let path = format!("/Users/{}", user["id"].as_str().unwrap());
    read_twice(&srv, &path);
    // The same request with another organisation's key: that organisation has no such user.
    srv.req_as(&other_key, Method::GET, &path, None).error(404, None);
    let lookup = format!("/Users?filter={}", enc("userName eq \"kept.org\""));
    read_twice(&srv, &lookup);
    let theirs = srv.req_as(&other_key, Method::GET, &lookup, None).scim(200);
    assert_eq!(theirs["totalResults"], json!(0), "{theirs}");
}

/// Reading SQLite's change stamp must leave SQLite's locks alone: if the
/// server dropped its hold on the wal-index, the next process to open the
/// database would rebuild it under the running server, which then fails
/// (before the fix: the connection reset mid-test, the server killed by SIGBUS).
#[test]
fn other_processes_opening_the_database_leave_the_server_running() {
    let srv = TestServer::start();
    let user = srv.create(&simple_user("kept.locks"));
    let id = user["id"].as_str().unwrap().to_string();
    let path = format!("/Users/{id}");
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let readers: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    let mut reads = 0;
                    while !done.load(std::sync::atomic::Ordering::Relaxed) {
                        assert_eq!(srv.get(&path).status, 200);
                        reads += 1;
                    }
                    reads
                })
            })
            .collect();
        let writer = s.spawn(|| {
            for i in 0..20 {
                srv.post("/Users", &simple_user(&format!("kept.locks{i}"))).scim(201);
            }
        });
        // Each CLI command is a process of its own that opens the database.
        for round in 0..6 {
            assert!(srv.roster(&["org", "list"]).contains("default"), "round {round}");
            srv.new_key("default", "manager");
        }
        writer.join().unwrap();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        for r in readers {
            assert!(r.join().unwrap() > 0);
        }
    });
    let patched = srv.patch_ops(&id, json!([{"op": "Replace", "path": "title", "value": "Still here"}]));
    assert_eq!(patched.scim(200)["title"], json!("Still here"));
    assert_eq!(read_twice(&srv, &path)["title"], json!("Still here"));
}

/// `--read-cache-mb 0` turns kept answers off; reads stay right.
#[test]
fn kept_answers_can_be_turned_off() {
    let srv = TestServer::start_with_args(&["--read-cache-mb", "0"]);
    let user = srv.create(&simple_user("kept.off"));
    let id = user["id"].as_str().unwrap();
    let path = format!("/Users/{id}");
    read_twice(&srv, &path);
    srv.patch_ops(id, json!([{"op": "Replace", "path": "title", "value": "Uncached"}])).scim(200);
    assert_eq!(read_twice(&srv, &path)["title"], json!("Uncached"));
    let lookup = format!("/Users?filter={}", enc("userName eq \"kept.off\""));
    assert_eq!(read_twice(&srv, &lookup)["Resources"][0]["title"], json!("Uncached"));
}
