//! Tenancy and roles (product spec §2): keys see only their organisation, only
//! provisioning roles may use SCIM, revoked/missing/wrong tokens are refused.

mod common;
use common::*;
use reqwest::Method;
use serde_json::json;

#[test]
fn apikey_create_prints_only_the_key() {
    let srv = TestServer::start();
    let out = srv.roster(&["apikey", "create", "--org", "default", "--role", "administrator"]);
    assert!(out.ends_with('\n'), "{out:?}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{out:?}");
    assert!(lines[0].starts_with("rst_") && lines[0].len() > 20, "{out:?}");
    assert!(!lines[0].contains(' '), "{out:?}");
    // Two keys differ, and each works.
    let other = srv.new_key("default", "administrator");
    assert_ne!(other, lines[0]);
    for k in [lines[0], other.as_str()] {
        srv.req_as(k, Method::GET, "/Users", None).scim(200);
    }
    // An unknown org or role fails without printing a key.
    let o = srv.roster_output(&["apikey", "create", "--org", "nope", "--role", "administrator"]);
    assert!(!o.status.success());
    assert!(!String::from_utf8_lossy(&o.stdout).contains("rst_"));
    let o = srv.roster_output(&["apikey", "create", "--org", "default", "--role", "god"]);
    assert!(!o.status.success());
}

#[test]
fn organisations_are_isolated() {
    let srv = TestServer::start();
    let u = srv.create(&entra_user("jdoe", "jdoe@contoso.com"));
    let id = u["id"].as_str().unwrap().to_string();
    let acme = srv.org_with_key("acme", "strict", "administrator");

    srv.req_as(&acme, Method::GET, &format!("/Users/{id}"), None).error(404, None);
    let patch = patch_body(json!([{"op": "Replace", "path": "displayName", "value": "Hacked"}]));
    srv.req_as(&acme, Method::PATCH, &format!("/Users/{id}"), Some(&patch)).error(404, None);
    let mut put = u.clone();
    put["displayName"] = json!("Hacked");
    srv.req_as(&acme, Method::PUT, &format!("/Users/{id}"), Some(&put)).error(404, None);
    srv.req_as(&acme, Method::DELETE, &format!("/Users/{id}"), None).error(404, None);
    for q in [
        format!("/Users?filter={}", enc(&format!("id eq \"{id}\""))),
        "/Users?filter=userName+eq+%22jdoe%22".to_string(),
        format!("/Users?filter={}", enc("emails[type eq \"work\"].value eq \"jdoe@contoso.com\"")),
        "/Users".to_string(),
        "/Users?startIndex=1&count=100".to_string(),
    ] {
        let l = srv.req_as(&acme, Method::GET, &q, None).scim(200);
        assert_eq!(l["totalResults"], json!(0), "{q}: {l}");
        assert_eq!(l["Resources"], json!([]), "{q}");
    }
    let s = srv.req_as(&acme, Method::POST, "/Users/.search", Some(&json!({"filter": "userName eq \"jdoe\""})));
    assert_eq!(s.scim(200)["totalResults"], json!(0));
    // The default org's user is untouched.
    assert_eq!(srv.get_user(&id), u);

    // The same userName, email and employeeNumber are free in another org.
    let a = srv.req_as(&acme, Method::POST, "/Users", Some(&entra_user("jdoe", "jdoe@contoso.com"))).scim(201);
    let aid = a["id"].as_str().unwrap().to_string();
    assert_ne!(aid, id);
    // A manager from another org is refused.
    let mpath = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager";
    let mp = patch_body(json!([{"op": "Add", "path": mpath, "value": {"value": id}}]));
    srv.req_as(&acme, Method::PATCH, &format!("/Users/{aid}"), Some(&mp)).error(400, Some("invalidValue"));
    // And the default org's key does not see acme's user.
    srv.get(&format!("/Users/{aid}")).error(404, None);
    assert_eq!(srv.filter("userName+eq+%22jdoe%22")["Resources"][0]["id"], json!(id));
    assert_eq!(srv.get("/Users").scim(200)["totalResults"], json!(1));
}

#[test]
fn roles_that_cannot_provision_get_403() {
    let srv = TestServer::start();
    let u = srv.create(&simple_user("target"));
    let id = u["id"].as_str().unwrap().to_string();
    let group = srv.post("/Groups", &json!({"displayName": "Staff"})).scim(201);
    let gid = group["id"].as_str().unwrap().to_string();
    for role in ["help-desk", "read-only"] {
        let key = srv.new_key("default", role);
        for (m, path, body) in [
            (Method::GET, "/Users".to_string(), None),
            (Method::GET, format!("/Users/{id}"), None),
            // Point reads authenticate inside their read: the same refusal.
            (Method::GET, "/Users?filter=userName+eq+%22target%22".to_string(), None),
            (Method::GET, "/Groups?filter=displayName+eq+%22Staff%22&excludedAttributes=members".to_string(), None),
            (Method::GET, format!("/Groups/{gid}?excludedAttributes=members"), None),
            (Method::GET, format!("/Groups/{gid}"), None),
            (Method::POST, "/Users".to_string(), Some(simple_user("nope"))),
            (
                Method::PATCH,
                format!("/Users/{id}"),
                Some(patch_body(json!([{"op": "Replace", "path": "active", "value": false}]))),
            ),
            (Method::DELETE, format!("/Users/{id}"), None),
        ] {
            let e = srv.req_as(&key, m.clone(), &path, body.as_ref()).error(403, None);
            assert!(e["detail"].as_str().unwrap().contains(role), "{role} {m} {path}: {e}");
        }
    }
    assert_eq!(srv.get_user(&id), u);
    for role in ["manager", "admin-with-billing", "administrator"] {
        let key = srv.new_key("default", role);
        let body = simple_user(&format!("by-{role}"));
        srv.req_as(&key, Method::POST, "/Users", Some(&body)).scim(201);
        srv.req_as(&key, Method::GET, &format!("/Users/{id}"), None).scim(200);
        let found = srv.req_as(&key, Method::GET, "/Users?filter=userName+eq+%22target%22", None).scim(200);
        assert_eq!(found["Resources"][0]["id"], json!(id));
        let path = format!("/Groups/{gid}?excludedAttributes=members");
        assert_eq!(srv.req_as(&key, Method::GET, &path, None).scim(200)["displayName"], json!("Staff"));
    }
}

#[test]
fn missing_wrong_and_revoked_tokens_get_401() {
    let srv = TestServer::start();
    let url = format!("{}/Users", srv.base());
    let r = srv.send_raw(Method::GET, &url, None, None, None);
    r.error(401, None);
    assert!(r.header("www-authenticate").is_some_and(|h| h.starts_with("Bearer")), "{:?}", r.headers);
    srv.req_as("rst_not_a_real_key_0000000000000000", Method::GET, "/Users", None).error(401, None);
    srv.req_as(&format!("{}x", srv.token()), Method::GET, "/Users", None).error(401, None);
    // A wrong key learns nothing, not even that its filter is malformed.
    srv.req_as("rst_not_a_real_key_0000000000000000", Method::GET, "/Users?filter=userName+eq", None).error(401, None);
    srv.req_as("rst_not_a_real_key_0000000000000000", Method::GET, "/Groups?filter=(", None).error(401, None);
    let target = srv.create(&simple_user("target"));
    let target_path = format!("/Users/{}", target["id"].as_str().unwrap());
    srv.req_as("rst_not_a_real_key_0000000000000000", Method::GET, &target_path, None).error(401, None);
    let lookup = "/Users?filter=userName+eq+%22target%22";
    srv.req_as("rst_not_a_real_key_0000000000000000", Method::GET, lookup, None).error(401, None);
    // Okta's "bad Authorization value" step: a non-Bearer scheme.
    let r = srv.client.get(&url).header("Authorization", "Basic dXNlcjpwYXNz").send().unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = srv.client.get(&url).header("Authorization", "Bearer").send().unwrap();
    assert_eq!(r.status().as_u16(), 401);
    // Writes too, and nothing is written.
    srv.send_raw(Method::POST, &url, None, None, Some(serde_json::to_vec(&simple_user("x")).unwrap())).error(401, None);
    assert_eq!(srv.get("/Users").scim(200)["totalResults"], json!(1));
    // Revocation, seen by every kind of read (cached authentication included).
    let key = srv.new_key("default", "administrator");
    srv.req_as(&key, Method::GET, "/Users", None).scim(200);
    srv.req_as(&key, Method::GET, lookup, None).scim(200);
    srv.req_as(&key, Method::GET, &target_path, None).scim(200);
    // Writes: after the server's own commit the second is admitted without
    // reading the key again (the store knows the state it just made).
    for name in ["by-key-1", "by-key-2"] {
        srv.req_as(&key, Method::POST, "/Users", Some(&simple_user(name))).scim(201);
    }
    let list = srv.roster(&["apikey", "list", "--org", "default"]);
    assert!(!list.contains(&key), "apikey list shows a key: {list}");
    let hint_line = list.lines().filter(|l| l.contains("tests")).collect::<Vec<_>>();
    assert_eq!(hint_line.len(), 1, "{list}");
    let key_id = hint_line[0].split('\t').next().unwrap();
    srv.roster(&["apikey", "revoke", "--org", "default", key_id]);
    // A revocation by another process is a commit the server did not make:
    // the next write reads the key again, is refused, and writes nothing.
    srv.req_as(&key, Method::POST, "/Users", Some(&simple_user("by-key-3"))).error(401, None);
    assert_eq!(srv.get("/Users").scim(200)["totalResults"], json!(3));
    for path in ["/Users", lookup, &target_path] {
        let e = srv.req_as(&key, Method::GET, path, None).error(401, None);
        assert!(e["detail"].as_str().unwrap().contains("revoked"), "{path}: {e}");
    }
    assert!(srv.roster(&["apikey", "list", "--org", "default"]).contains("revoked"));
    // The bootstrap key still works; revoking twice fails.
    srv.get("/Users").scim(200);
    assert!(!srv.roster_output(&["apikey", "revoke", "--org", "default", key_id]).status.success());
    // x-api-key is accepted as well.
    let r = srv.client.get(&url).header("x-api-key", srv.token()).send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

#[test]
fn key_with_a_future_expiry_works() {
    let srv = TestServer::start();
    let out = srv.roster(&["apikey", "create", "--org", "default", "--role", "manager", "--expires-in-days", "30"]);
    srv.req_as(out.trim(), Method::GET, "/Users", None).scim(200);
}
