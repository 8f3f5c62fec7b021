//! Two `roster serve` processes on one PostgreSQL database, as behind a load
//! balancer: uniqueness holds across them, concurrent PATCHes lose nothing,
//! and a write on one is visible on the other at once. PostgreSQL only: with
//! `ROSTER_TEST_POSTGRES_URL` unset the test says it skipped.

mod common;
use common::*;
use reqwest::Method;
use serde_json::json;
use std::sync::Barrier;

fn skip() -> bool {
    if postgres_admin_url().is_some() {
        return false;
    }
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "skipping the two-instance test: it needs PostgreSQL and ROSTER_TEST_POSTGRES_URL is not set"
    );
    true
}

#[test]
fn two_instances_on_one_postgres_database() {
    if skip() {
        return;
    }
    let a = TestServer::start();
    assert!(a.is_postgres());
    let b = TestServer::start_sharing(&a);
    let servers = [&a, &b];

    // A user created on one instance is readable from the other at once.
    for round in 0..5 {
        let (writer, reader) = (servers[round % 2], servers[(round + 1) % 2]);
        let u = writer.create(&simple_user(&format!("visible{round}")));
        let id = u["id"].as_str().unwrap();
        let got = reader.get_user(id);
        assert_eq!(got["userName"], json!(format!("visible{round}")));
        let found = reader.filter(&enc(&format!("userName eq \"VISIBLE{round}\"")));
        assert_eq!(found["totalResults"], json!(1), "{found}");
    }

    // Concurrent creates of one userName across both: exactly one 201, the rest 409.
    const RACERS: usize = 10;
    let barrier = Barrier::new(RACERS);
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..RACERS)
            .map(|i| {
                let (srv, barrier) = (servers[i % 2], &barrier);
                s.spawn(move || {
                    barrier.wait();
                    srv.post("/Users", &simple_user("same.name")).status
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), RACERS - 1, "{statuses:?}");
    for srv in servers {
        assert_eq!(srv.filter(&enc("userName eq \"same.name\""))["totalResults"], json!(1));
    }

    // Concurrent PATCHes of one user across both, each adding its own phone number: none lost.
    const PATCHERS: usize = 10;
    let u = a.create(&simple_user("patched"));
    let id = u["id"].as_str().unwrap().to_string();
    let barrier = Barrier::new(PATCHERS);
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..PATCHERS)
            .map(|i| {
                let (srv, barrier, id) = (servers[i % 2], &barrier, &id);
                s.spawn(move || {
                    barrier.wait();
                    let ops =
                        json!([{"op": "add", "path": "phoneNumbers", "value": [{"value": format!("+1 555 01{i:02}")}]}]);
                    srv.patch_ops(id, ops).status
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    for srv in servers {
        let got = srv.get_user(&id);
        let phones = got["phoneNumbers"].as_array().unwrap();
        assert_eq!(phones.len(), PATCHERS, "{got}");
        assert_eq!(got["meta"]["version"], json!(format!("W/\"{}\"", 1 + PATCHERS)), "{got}");
    }
    // Both instances list the same users.
    let listed = b.req(Method::GET, "/Users?count=100", None).scim(200);
    assert_eq!(listed["totalResults"], json!(5 + 1 + 1));
}
