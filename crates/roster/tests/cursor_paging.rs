//! Cursor paging over HTTP (RFC 9865): `cursor`/`count` on GET and in
//! `/.search` bodies, the `nextCursor` chain, `invalidCursor`, and the
//! announcement in `/ServiceProviderConfig`.

mod common;
use common::*;
use serde_json::{json, Value};

fn ids(l: &Value) -> Vec<String> {
    l["Resources"].as_array().expect("Resources").iter().map(|r| r["id"].as_str().expect("id").to_string()).collect()
}

/// Follows `nextCursor` from the first page; returns the ids and the number of pages.
fn walk(srv: &TestServer, first: &str, next: impl Fn(&str) -> String) -> (Vec<String>, usize) {
    let mut l = srv.get(first).scim(200);
    let mut all = Vec::new();
    let mut pages = 0;
    loop {
        pages += 1;
        assert_eq!(l["schemas"], json!([LIST_URN]));
        assert!(l.get("startIndex").is_none(), "no startIndex in cursor mode: {l}");
        assert_eq!(l["itemsPerPage"], json!(l["Resources"].as_array().unwrap().len()));
        all.extend(ids(&l));
        match l.get("nextCursor").and_then(Value::as_str) {
            Some(c) => l = srv.get(&next(c)).scim(200),
            None => return (all, pages),
        }
        assert!(pages < 100, "the nextCursor chain does not end");
    }
}

#[test]
fn users_page_by_cursor_over_get_and_search() {
    announce_backend();
    let srv = TestServer::start();
    let created: Vec<String> = (0..12)
        .map(|i| srv.create(&simple_user(&format!("cursor{i:02}")))["id"].as_str().unwrap().to_string())
        .collect();

    // GET: `cursor` with an empty value is the first page; every user once, in creation order.
    let (seen, pages) = walk(&srv, "/Users?cursor&count=5", |c| format!("/Users?cursor={c}&count=5"));
    assert_eq!(seen, created);
    assert_eq!(pages, 3);
    let first = srv.get("/Users?cursor=&count=5").scim(200);
    assert_eq!(first["totalResults"], json!(12));
    assert_eq!(first["itemsPerPage"], json!(5));

    // Inserted during the walk: lands after the cursor, nothing repeats.
    let page1 = srv.get("/Users?cursor=&count=6").scim(200);
    let late = srv.create(&simple_user("cursor-late"))["id"].as_str().unwrap().to_string();
    let cursor = page1["nextCursor"].as_str().unwrap();
    let page2 = srv.get(&format!("/Users?cursor={cursor}&count=6")).scim(200);
    let mut both = ids(&page1);
    both.extend(ids(&page2));
    assert_eq!(both, created, "{page2}");
    let cursor = page2["nextCursor"].as_str().expect("the late user is on a third page");
    assert_eq!(ids(&srv.get(&format!("/Users?cursor={cursor}&count=6")).scim(200)), vec![late.clone()]);

    // With a filter, through POST /Users/.search (`cursor` in the body).
    let filter = r#"userName sw "cursor0""#;
    let mut body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                          "filter": filter, "cursor": "", "count": 4});
    let mut seen = Vec::new();
    loop {
        let l = srv.post("/Users/.search", &body).scim(200);
        assert_eq!(l["totalResults"], json!(10), "{l}");
        assert!(l.get("startIndex").is_none());
        seen.extend(ids(&l));
        match l.get("nextCursor") {
            Some(c) => body["cursor"] = c.clone(),
            None => break,
        }
    }
    assert_eq!(seen, created[..10].to_vec());

    // A cursor that was altered, or issued for another filter, is 400 invalidCursor.
    let good = first["nextCursor"].as_str().unwrap().to_string();
    let mut tampered = good.clone().into_bytes();
    tampered[3] = if tampered[3] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    for bad in [tampered.as_str(), "not-a-cursor", "%25%25"] {
        let e = srv.get(&format!("/Users?cursor={bad}&count=5")).error(400, Some("invalidCursor"));
        assert!(e["detail"].as_str().unwrap().contains("cursor"), "{e}");
    }
    srv.get(&format!("/Users?cursor={good}&filter={}", enc("active eq true"))).error(400, Some("invalidCursor"));
    // Mixing the two ways to page, sorting a cursor walk, or a cursor on the root search: 400 invalidValue.
    srv.get("/Users?cursor=&startIndex=1").error(400, Some("invalidValue"));
    srv.get("/Users?cursor=&sortBy=userName").error(400, Some("invalidValue"));
    srv.post("/.search", &json!({"cursor": ""})).error(400, Some("invalidValue"));

    // Index paging is unchanged.
    let l = srv.get("/Users?startIndex=11&count=5").scim(200);
    assert_eq!((l["startIndex"].clone(), l["totalResults"].clone()), (json!(11), json!(13)));
    assert!(l.get("nextCursor").is_none());
}

#[test]
fn groups_page_by_cursor_and_config_announces_both_methods() {
    announce_backend();
    let srv = TestServer::start();
    let created: Vec<String> = (0..7)
        .map(|i| {
            let g =
                json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": format!("Team {i}")});
            srv.post("/Groups", &g).scim(201)["id"].as_str().unwrap().to_string()
        })
        .collect();
    let (seen, pages) = walk(&srv, "/Groups?cursor=&count=3&excludedAttributes=members", |c| {
        format!("/Groups?cursor={c}&count=3&excludedAttributes=members")
    });
    assert_eq!((seen, pages), (created.clone(), 3));
    let l = srv.post("/Groups/.search", &json!({"cursor": "", "count": 100})).scim(200);
    assert_eq!(ids(&l), created);
    assert!(l.get("nextCursor").is_none(), "last page: {l}");
    // A Users cursor is not a Groups cursor.
    let users_cursor = {
        for i in 0..3 {
            srv.create(&simple_user(&format!("u{i}")));
        }
        srv.get("/Users?cursor=&count=1").scim(200)["nextCursor"].as_str().unwrap().to_string()
    };
    srv.get(&format!("/Groups?cursor={users_cursor}")).error(400, Some("invalidCursor"));

    let spc = srv.get("/ServiceProviderConfig").scim(200);
    let p = &spc["pagination"];
    assert_eq!((p["cursor"].clone(), p["index"].clone()), (json!(true), json!(true)), "{spc}");
    assert_eq!(p["defaultPaginationMethod"], json!("index"));
    assert!(p["maxPageSize"].as_u64().unwrap() >= p["defaultPageSize"].as_u64().unwrap());
}
