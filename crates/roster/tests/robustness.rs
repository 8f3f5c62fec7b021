//! Hostile and malformed input: every bad request is a 4xx SCIM error with the
//! right scimType and a detail, never a 500 or a crash, and never a
//! half-written user.

mod common;
use common::*;
use reqwest::Method;
use serde_json::{json, Value};

fn setup() -> (TestServer, String, Value) {
    let srv = TestServer::start();
    let u = srv.create(&entra_user("jdoe", "jdoe@contoso.com"));
    let id = u["id"].as_str().unwrap().to_string();
    (srv, id, u)
}

/// Sends a raw HTTP/1.1 GET (for URLs longer than the client accepts) and
/// returns the status code, or None when the server closed without answering.
fn raw_get_status(srv: &TestServer, path_and_query: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", srv.port())).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
    let req = format!(
        "GET {path_and_query} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        srv.token()
    );
    // The server may answer and close before reading everything.
    let _ = s.write_all(req.as_bytes());
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let status = text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()?;
    Some(status)
}

fn raw(srv: &TestServer, m: Method, path: &str, body: &[u8]) -> Resp {
    srv.send_raw(m, &format!("{}{path}", srv.base()), Some(srv.token()), None, Some(body.to_vec()))
}

#[track_caller]
fn assert_unchanged(srv: &TestServer, id: &str, before: &Value) {
    assert_eq!(&srv.get_user(id), before, "the user changed after a rejected request");
    assert_eq!(srv.get("/Users").scim(200)["totalResults"], json!(1), "a user was created by a rejected request");
}

#[test]
fn malformed_bodies_are_invalid_syntax() {
    let (srv, id, before) = setup();
    let upath = format!("/Users/{id}");
    for (m, path) in [(Method::POST, "/Users"), (Method::PATCH, upath.as_str()), (Method::PUT, upath.as_str())] {
        for body in [&b"{\"userName\": "[..], b"{not json}", b"[]", b"\"x\"", b"", b"   ", b"null", b"42", b"\xff\xfe"]
        {
            let r = raw(&srv, m.clone(), path, body);
            r.error(400, Some("invalidSyntax"));
        }
    }
    let r = raw(&srv, Method::POST, "/Users/.search", b"[1,2]");
    r.error(400, Some("invalidSyntax"));
    assert_unchanged(&srv, &id, &before);
}

#[test]
fn wrong_types_are_invalid_value() {
    let (srv, id, before) = setup();
    let mut bad = simple_user("other");
    bad["userName"] = json!(5);
    srv.post("/Users", &bad).error(400, Some("invalidValue"));
    for (k, v) in [
        ("emails", json!("jdoe@contoso.com")),
        ("name", json!("Jane")),
        ("active", json!("maybe")),
        ("displayName", json!({"a": 1})),
        ("userName", json!(["a"])),
    ] {
        let mut b = simple_user("other");
        b[k] = v.clone();
        let e = srv.post("/Users", &b).error(400, Some("invalidValue"));
        assert!(!e["detail"].as_str().unwrap().is_empty(), "{k}={v}");
        // The same through PATCH.
        let r = srv.patch_ops(&id, json!([{"op": "replace", "path": k, "value": v}]));
        assert!(r.status == 400, "PATCH {k}={v}: {} {}", r.status, r.text);
        r.error(400, Some(r.json()["scimType"].as_str().unwrap_or("invalidValue")));
    }
    assert_unchanged(&srv, &id, &before);
}

#[test]
fn bad_patch_messages() {
    let (srv, id, before) = setup();
    srv.patch_ops(&id, json!([{"op": "frobnicate", "path": "displayName", "value": "x"}]))
        .error(400, Some("invalidSyntax"));
    srv.patch(&format!("/Users/{id}"), &json!({"schemas": [PATCH_URN]})).error(400, Some("invalidSyntax"));
    srv.patch(&format!("/Users/{id}"), &json!({"schemas": [PATCH_URN], "Operations": "x"}))
        .error(400, Some("invalidSyntax"));
    srv.patch_ops(&id, json!([{"path": "displayName", "value": "x"}])).error(400, Some("invalidSyntax"));
    srv.patch_ops(&id, json!([{"op": "replace", "path": "emails[type eq", "value": "x"}]))
        .error(400, Some("invalidPath"));
    // A good op followed by a bad one: nothing is applied.
    srv.patch_ops(
        &id,
        json!([{"op": "Replace", "path": "displayName", "value": "Half"}, {"op": "frobnicate", "path": "title", "value": "x"}]),
    )
    .error(400, Some("invalidSyntax"));
    let r = srv.patch_ops(
        &id,
        json!([{"op": "Replace", "path": "displayName", "value": "Half"}, {"op": "Replace", "path": "userName", "value": "bad@name"}]),
    );
    r.error(400, Some("invalidValue"));
    let r = srv.patch_ops(
        &id,
        json!([{"op": "Replace", "path": "displayName", "value": "Half"}, {"op": "Remove", "path": "userName"}]),
    );
    assert_eq!(r.status, 400, "{}", r.text);
    assert_unchanged(&srv, &id, &before);
    // A PATCH of an unknown user.
    srv.patch_ops(&guid(), json!([{"op": "Replace", "path": "displayName", "value": "x"}])).error(404, None);
}

#[test]
fn invalid_filters_are_invalid_filter() {
    let (srv, _id, _before) = setup();
    for f in [
        "userName eq",
        "userName eq \"a",
        "userName zz \"a\"",
        "(userName eq \"a\"",
        "userName eq \"a\" and",
        "\"a\" eq userName",
    ] {
        let r = srv.get(&format!("/Users?filter={}", enc(f)));
        r.error(400, Some("invalidFilter"));
        let r = srv.post("/Users/.search", &json!({"filter": f}));
        r.error(400, Some("invalidFilter"));
    }
    srv.get("/Users?startIndex=abc").error(400, Some("invalidValue"));
    srv.get("/Users?count=-5").scim(200);
}

#[test]
fn hostile_filters_do_not_crash_the_server() {
    let (srv, id, before) = setup();
    // 100 000 opening parentheses, in the query string and in a search body.
    let parens = "(".repeat(100_000);
    let status = raw_get_status(&srv, &format!("/scim/v2/Users?filter={}", enc(&parens)));
    assert!(matches!(status, Some(400 | 413 | 414 | 431)), "100 000 '(' in the URL: {status:?}");
    let status = raw_get_status(&srv, &format!("/scim/v2/Users?filter={}", "(".repeat(30_000)));
    assert!(matches!(status, Some(400 | 413 | 414 | 431)), "30 000 '(' in the URL: {status:?}");
    srv.post("/Users/.search", &json!({"filter": parens})).error(400, Some("invalidFilter"));
    let nested = format!("{}userName eq \"jdoe\"{}", "(".repeat(50_000), ")".repeat(50_000));
    let r = srv.post("/Users/.search", &json!({"filter": nested}));
    assert!(r.status == 400 || r.status == 200, "{} {}", r.status, r.text);
    let nots = format!("{}(userName eq \"jdoe\")", "not ".repeat(50_000));
    let r = srv.post("/Users/.search", &json!({"filter": nots}));
    assert!(r.status == 400 || r.status == 200, "{} {}", r.status, r.text);
    let valpath = format!("emails[{}value eq \"x\"{}]", "(".repeat(50_000), ")".repeat(50_000));
    let r = srv.post("/Users/.search", &json!({"filter": valpath}));
    assert!(r.status == 400 || r.status == 200, "{} {}", r.status, r.text);
    // A 1 MiB filter in the URL.
    let big = format!("userName eq \"{}\"", "a".repeat(1024 * 1024));
    let status = raw_get_status(&srv, &format!("/scim/v2/Users?filter={}", enc(&big)));
    assert!(matches!(status, Some(400 | 413 | 414 | 431)), "1 MiB filter in the URL: {status:?}");
    // A long but legal filter (under the 8 KiB and 256-expression limits): many `or`s.
    let many = (0..200).map(|i| format!("userName eq \"u{i}\"")).collect::<Vec<_>>().join(" or ");
    let r = srv.post("/Users/.search", &json!({"filter": format!("{many} or userName eq \"jdoe\"")}));
    assert_eq!(r.scim(200)["totalResults"], json!(1));
    // Still alive.
    let h = srv.client.get(format!("{}/healthz", srv.root())).send().unwrap();
    assert_eq!(h.status().as_u16(), 200);
    assert_unchanged(&srv, &id, &before);
    // Deeply nested JSON bodies.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    raw(&srv, Method::POST, "/Users", deep.as_bytes()).error(400, Some("invalidSyntax"));
    let deep_obj = format!("{{\"userName\":\"x\",\"a\":{}1{}}}", "{\"b\":".repeat(50_000), "}".repeat(50_000));
    let r = raw(&srv, Method::POST, "/Users", deep_obj.as_bytes());
    assert_eq!(r.status, 400, "{}", r.text);
    let h = srv.client.get(format!("{}/healthz", srv.root())).send().unwrap();
    assert_eq!(h.status().as_u16(), 200);
    assert_unchanged(&srv, &id, &before);
}

#[test]
fn bodies_over_one_mebibyte_are_413() {
    let (srv, id, before) = setup();
    let mut big = simple_user("big");
    big["displayName"] = json!("x".repeat(1024 * 1024 + 10));
    srv.post("/Users", &big).error(413, None);
    let patch = patch_body(json!([{"op": "Replace", "path": "displayName", "value": "y".repeat(1024 * 1024)}]));
    srv.patch(&format!("/Users/{id}"), &patch).error(413, None);
    srv.post("/Users/.search", &json!({"filter": format!("userName eq \"{}\"", "a".repeat(1024 * 1024))}))
        .error(413, None);
    // Just under the limit is fine as far as size goes (rejected for length instead).
    let mut under = simple_user("under");
    under["displayName"] = json!("x".repeat(1025));
    let e = srv.post("/Users", &under).error(400, Some("invalidValue"));
    assert!(e["detail"].as_str().unwrap().contains("displayName"), "{e}");
    assert_unchanged(&srv, &id, &before);
}

#[test]
fn unknown_routes_and_methods() {
    let (srv, id, before) = setup();
    srv.get("/Nope").error(404, None);
    let r = srv.req(Method::DELETE, "/Users", None);
    assert_eq!(r.status, 405, "{}", r.text);
    r.error(405, None);
    srv.req(Method::PUT, "/Groups", Some(&json!({"displayName": "g"}))).error(405, None);
    assert_unchanged(&srv, &id, &before);
}
