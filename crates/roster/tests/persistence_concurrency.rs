//! Restarts on the same database, and concurrent writers: no lost update, no
//! duplicate, no 5xx.

mod common;
use common::*;
use reqwest::Method;
use serde_json::json;
use std::sync::{Arc, Barrier};

#[test]
fn data_and_keys_survive_a_restart_and_bootstrap_runs_once() {
    let mut srv = TestServer::start();
    let first = srv.wait_stdout("Secret Token:");
    assert!(first.contains("Secret Token:"), "{first}");
    let u = srv.create(&entra_user("jdoe", "jdoe@contoso.com"));
    let id = u["id"].as_str().unwrap().to_string();
    let p = srv.patch_ops(&id, json!([{"op": "Replace", "path": "active", "value": "False"}])).scim(200);
    let acme = srv.org_with_key("acme", "rfc", "manager");
    let a = srv.req_as(&acme, Method::POST, "/Users", Some(&json!({"userName": "acme user"}))).scim(201);
    let revoked = srv.new_key("default", "administrator");
    let key_id = srv
        .roster(&["apikey", "list", "--org", "default"])
        .lines()
        .find(|l| l.contains("tests"))
        .and_then(|l| l.split('\t').next())
        .unwrap()
        .to_string();
    srv.roster(&["apikey", "revoke", "--org", "default", &key_id]);

    let status = srv.stop();
    assert!(status.success(), "roster serve exited with {status} after SIGTERM");
    srv.restart();
    let g = srv.get_user(&id);
    let mut expected = p.clone();
    expected["meta"]["location"] = json!(format!("{}/Users/{id}", srv.base()));
    assert_eq!(g, expected, "the user changed across a restart");
    assert_eq!(g["active"], json!(false));
    assert_eq!(srv.filter("userName+eq+%22JDOE%22")["totalResults"], json!(1));
    let ga = srv.req_as(&acme, Method::GET, &format!("/Users/{}", a["id"].as_str().unwrap()), None).scim(200);
    assert_eq!(ga["userName"], a["userName"]);
    assert_eq!(ga["meta"]["version"], a["meta"]["version"]);
    srv.req_as(&revoked, Method::GET, "/Users", None).error(401, None);
    let orgs = srv.roster(&["org", "list"]);
    assert_eq!(orgs.lines().count(), 2, "{orgs}");
    // Writes still work after the restart, and uniqueness still holds.
    srv.post("/Users", &entra_user("jdoe", "jdoe@contoso.com")).error(409, Some("uniqueness"));
    srv.create(&simple_user("after"));
    // A third start as well; the second run's complete stdout is known now.
    srv.restart();
    assert_eq!(srv.get("/Users").scim(200)["totalResults"], json!(2));
    assert_eq!(srv.past_stdout.len(), 2);
    assert!(srv.past_stdout[0].contains(&format!("Secret Token:  {}", srv.token())), "{}", srv.past_stdout[0]);
    for out in &srv.past_stdout[1..] {
        assert!(!out.contains("Secret Token"), "bootstrap ran again: {out}");
        assert!(!out.contains(srv.token()), "the token was printed again: {out}");
    }
    srv.stop();
    let third = srv.past_stdout.last().unwrap();
    assert!(!third.contains("Secret Token"), "bootstrap ran again: {third}");
}

#[test]
fn concurrent_creates_of_one_username_yield_one_user() {
    let srv = TestServer::start();
    let n = 10;
    let barrier = Arc::new(Barrier::new(n));
    let statuses: Vec<(u16, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let barrier = barrier.clone();
                let srv = &srv;
                s.spawn(move || {
                    // Same userName, different emails and employee numbers: only the username collides.
                    let mut body = entra_user("race", &format!("race{i}@contoso.com"));
                    body[ENT_URN]["employeeNumber"] = json!(format!("emp-{i}"));
                    barrier.wait();
                    let r = srv.post("/Users", &body);
                    (r.status, r.text)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let created = statuses.iter().filter(|(s, _)| *s == 201).count();
    let conflicts = statuses.iter().filter(|(s, _)| *s == 409).count();
    assert_eq!((created, conflicts), (1, n - 1), "{statuses:#?}");
    for (s, t) in &statuses {
        if *s == 409 {
            assert!(t.contains("\"uniqueness\""), "{t}");
        }
    }
    let l = srv.filter("userName+eq+%22race%22");
    assert_eq!(l["totalResults"], json!(1));
    assert_eq!(srv.get("/Users").scim(200)["totalResults"], json!(1));
}

#[test]
fn concurrent_creates_of_distinct_users_all_succeed() {
    let srv = TestServer::start();
    let n = 16;
    let barrier = Arc::new(Barrier::new(n));
    let statuses: Vec<(u16, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let barrier = barrier.clone();
                let srv = &srv;
                s.spawn(move || {
                    let body = simple_user(&format!("par{i}"));
                    barrier.wait();
                    let r = srv.post("/Users", &body);
                    (r.status, r.text)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(statuses.iter().all(|(s, _)| *s == 201), "{statuses:#?}");
    assert_eq!(srv.get("/Users").scim(200)["totalResults"], json!(n));
}

#[test]
fn concurrent_patch_adds_lose_no_update() {
    let srv = TestServer::start();
    let mut body = simple_user("multi");
    body["phoneNumbers"] = json!([{"type": "work", "value": "+1 000"}]);
    let id = srv.create(&body)["id"].as_str().unwrap().to_string();
    let n = 20;
    let barrier = Arc::new(Barrier::new(n));
    let statuses: Vec<(u16, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let barrier = barrier.clone();
                let (srv, id) = (&srv, &id);
                s.spawn(move || {
                    let ops =
                        json!([{"op": "add", "path": "phoneNumbers", "value": [{"value": format!("+1 555 {i:04}")}]}]);
                    barrier.wait();
                    let r = srv.patch_ops(id, ops);
                    (r.status, r.text)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(statuses.iter().all(|(s, _)| *s == 200), "{statuses:#?}");
    let u = srv.get_user(&id);
    let values: Vec<&str> =
        u["phoneNumbers"].as_array().unwrap().iter().map(|p| p["value"].as_str().unwrap()).collect();
    assert_eq!(values.len(), n + 1, "{values:?}");
    assert!(values.contains(&"+1 000"));
    for i in 0..n {
        let v = format!("+1 555 {i:04}");
        assert!(values.contains(&v.as_str()), "lost update: {v} missing from {values:?}");
    }
    assert_eq!(u["meta"]["version"], json!(format!("W/\"{}\"", n + 1)));
}

#[test]
fn cli_writes_while_the_server_is_busy() {
    let srv = TestServer::start();
    let n = 6;
    let barrier = Arc::new(Barrier::new(n * 2));
    let srv_ref = &srv;
    std::thread::scope(|s| {
        let mut handles = vec![];
        for i in 0..n {
            let (b, srv) = (barrier.clone(), srv_ref);
            handles.push(s.spawn(move || {
                b.wait();
                let key = srv.org_with_key(&format!("org{i}"), "strict", "administrator");
                let r = srv.req_as(&key, Method::POST, "/Users", Some(&simple_user("same")));
                assert_eq!(r.status, 201, "{}", r.text);
                let k2 = srv.new_key("default", "manager");
                srv.req_as(&k2, Method::GET, "/Users", None).scim(200);
            }));
            let (b, srv) = (barrier.clone(), srv_ref);
            handles.push(s.spawn(move || {
                b.wait();
                for j in 0..3 {
                    let r = srv.post("/Users", &simple_user(&format!("busy{i}x{j}")));
                    assert_eq!(r.status, 201, "{}", r.text);
                }
            }));
        }
        for h in handles {
            h.join().unwrap();
        }
    });
    let orgs = srv.roster(&["org", "list"]);
    assert_eq!(orgs.lines().count(), n + 1, "{orgs}");
    assert_eq!(srv.get("/Users").scim(200)["totalResults"], json!(n * 3));
    let keys = srv.roster(&["apikey", "list", "--org", "default"]);
    assert_eq!(keys.lines().count(), n + 1, "{keys}");
    // Creating an existing org fails cleanly.
    let o = srv.roster_output(&["org", "create", "org0"]);
    assert!(!o.status.success());
}

/// The per-request log line is batched in memory (crates/roster/src/log_output.rs):
/// it still reaches stderr, at the latest when the server stops, once per
/// request, without colour escapes in a file, and never with the token.
#[test]
fn request_log_lines_reach_stderr_by_shutdown_without_colour() {
    let mut srv = TestServer::start();
    srv.get("/Users?filter=userName+eq+%22nobody%22").scim(200);
    srv.req_as("rst_not_a_real_key_0000000000000000", Method::GET, "/Users", None).error(401, None);
    let status = srv.stop();
    assert!(status.success(), "roster serve exited with {status}");
    let log = srv.server_log();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("roster::http") && l.contains("/Users")).collect();
    assert_eq!(lines.len(), 2, "one line per request:\n{log}");
    assert!(lines.iter().any(|l| l.contains("status=200")), "{log}");
    assert!(lines.iter().any(|l| l.contains("status=401")), "{log}");
    assert!(!log.contains('\u{1b}'), "no ANSI escapes in a log file:\n{log}");
    assert!(!log.contains(srv.token()) && !log.contains("rst_not_a_real_key"), "no token in the log:\n{log}");
}

/// Another process holds SQLite's write lock for long: every write queued
/// behind it hears "busy" (503) about when a write of its own would have
/// timed out, not once every write before it has timed out in turn, and not
/// only when the lock is finally released.
#[test]
fn writes_behind_a_long_foreign_lock_are_answered_busy_without_waiting_for_it() {
    let srv = TestServer::start();
    if srv.is_postgres() {
        return; // SQLite's single-writer lock; PostgreSQL locks rows.
    }
    let n = 4;
    let holder = rusqlite::Connection::open(srv.db_path()).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let held_at = std::time::Instant::now();
    let answers: Vec<(u16, String, std::time::Duration)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let srv = &srv;
                s.spawn(move || {
                    let r = srv.post("/Users", &simple_user(&format!("blocked{i}")));
                    (r.status, r.text, held_at.elapsed())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let released_after = held_at.elapsed();
    holder.execute_batch("ROLLBACK").unwrap();
    for (status, text, after) in &answers {
        assert_eq!(*status, 503, "{text}");
        assert!(text.contains("busy"), "{text}");
        // One write waits the lock timeout (5 s); one more may start just
        // before the queue limit; the rest are refused at once.
        assert!(after.as_secs_f64() < 12.0, "answered after {after:?}");
    }
    assert!(released_after.as_secs_f64() < 12.5, "{released_after:?}");
    // Once the lock is free, writes go through again.
    srv.create(&simple_user("after-the-lock"));
}
