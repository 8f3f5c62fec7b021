//! Entra ID's provisioning cycle against the real binary: Test Connection,
//! create, lookup, update, disable, re-enable, delete (wire spec §1, §2).

mod common;
use common::*;
use serde_json::{json, Value};

#[test]
fn test_connection_user_and_group_probes_answer_empty_list() {
    let srv = TestServer::start();
    let g = guid();
    let body = srv.get(&format!("/Users?filter=userName+eq+%22{g}%22")).scim(200);
    assert_eq!(
        body,
        json!({"schemas": [LIST_URN], "totalResults": 0, "Resources": [], "startIndex": 1, "itemsPerPage": 0})
    );
    let body = srv.get(&format!("/Groups?excludedAttributes=members&filter=displayName+eq+%22{g}%22")).scim(200);
    assert_eq!(
        body,
        json!({"schemas": [LIST_URN], "totalResults": 0, "Resources": [], "startIndex": 1, "itemsPerPage": 0})
    );
}

#[test]
fn bootstrap_prints_tenant_url_and_secret_token() {
    let srv = TestServer::start();
    let out = srv.wait_stdout("Secret Token:");
    let tenant = out.lines().find(|l| l.contains("Tenant URL:")).unwrap_or_else(|| panic!("no Tenant URL in {out:?}"));
    assert_eq!(tenant.split("Tenant URL:").nth(1).unwrap().trim(), srv.base());
    let secret =
        out.lines().find(|l| l.contains("Secret Token:")).unwrap_or_else(|| panic!("no Secret Token in {out:?}"));
    assert_eq!(secret.split("Secret Token:").nth(1).unwrap().trim(), srv.token());
}

#[test]
fn bootstrap_prints_the_public_url_and_locations_use_it() {
    let srv = TestServer::start_with(Some("https://roster.example.com/"));
    let out = srv.wait_stdout("Secret Token:");
    let tenant = out.lines().find(|l| l.contains("Tenant URL:")).unwrap_or_else(|| panic!("no Tenant URL in {out:?}"));
    assert_eq!(tenant.split("Tenant URL:").nth(1).unwrap().trim(), "https://roster.example.com/scim/v2");
    let resp = srv.post("/Users", &simple_user("pub"));
    let u = resp.scim(201);
    let loc = format!("https://roster.example.com/scim/v2/Users/{}", u["id"].as_str().unwrap());
    assert_eq!(resp.header("location").as_deref(), Some(loc.as_str()));
    assert_eq!(u["meta"]["location"], json!(loc));
}

/// Everything the client sent except what the server owns or ignores.
fn expected_echo(sent: &Value) -> Value {
    let mut v = sent.clone();
    let o = v.as_object_mut().unwrap();
    o.remove("meta");
    o.remove("roles");
    o.remove("schemas");
    v
}

#[test]
fn create_echoes_every_attribute_with_location_and_id() {
    let srv = TestServer::start();
    let sent = entra_user("jdoe", "jdoe@contoso.com");
    let resp = srv.post("/Users", &sent);
    let u = resp.scim(201);
    let id = u["id"].as_str().expect("id").to_string();
    assert!(!id.is_empty());
    assert_eq!(u["schemas"], json!([USER_URN, ENT_URN]));
    let loc = resp.header("location").expect("Location header");
    assert_eq!(loc, format!("{}/Users/{id}", srv.base()));
    assert_eq!(u["meta"]["location"], json!(loc));
    assert_eq!(u["meta"]["resourceType"], json!("User"));
    assert!(u["meta"]["created"].is_string() && u["meta"]["lastModified"].is_string(), "{u}");
    assert_eq!(u["active"], json!(true));
    // Every attribute as sent.
    for (k, v) in expected_echo(&sent).as_object().unwrap() {
        assert_eq!(&u[k], v, "attribute {k} not echoed as sent in {u}");
    }
    // Client meta and the empty roles are ignored: nothing beyond what was sent.
    let mut extra: Vec<&String> = u.as_object().unwrap().keys().filter(|k| sent.get(k.as_str()).is_none()).collect();
    extra.sort();
    assert_eq!(extra, vec!["id"], "unexpected attributes in {u}");
    assert!(u.get("roles").is_none() || u["roles"] == json!([]), "{u}");
    // GET returns the same representation.
    assert_eq!(srv.get_user(&id), u);
}

#[test]
fn create_accepts_nulls_and_the_legacy_body() {
    let srv = TestServer::start();
    let body = json!({
        "schemas": [USER_URN, "urn:ietf:params:scim:schemas:extension:enterprise:2.0User"],
        "externalId": "jnull", "userName": "jnull", "active": true,
        "addresses": null, "title": null, "manager": null, "department": "Sales",
        "emails": [{"primary": true, "type": "work", "value": "jnull@contoso.com"}],
        "name": {"givenName": "J", "familyName": "Null", "middleName": null},
        ENT_URN: {"manager": null, "department": null}
    });
    let u = srv.create(&body);
    for k in ["addresses", "title", "manager", "department"] {
        assert!(u.get(k).is_none(), "{k} should be absent: {u}");
    }
    assert_eq!(u["name"], json!({"givenName": "J", "familyName": "Null"}));
    assert_eq!(u["userName"], json!("jnull"));
}

#[test]
fn lookup_by_every_entra_filter_form() {
    let srv = TestServer::start();
    let mgr = srv.create(&simple_user("boss"));
    let mgr_id = mgr["id"].as_str().unwrap().to_string();
    let mut body = entra_user("jdoe", "jdoe@contoso.com");
    body[ENT_URN]["manager"] = json!({"value": mgr_id});
    let u = srv.create(&body);
    let id = u["id"].as_str().unwrap().to_string();
    let one = |raw: &str| {
        let l = srv.filter(raw);
        assert_eq!(l["totalResults"], json!(1), "filter {raw}: {l}");
        assert_eq!(l["itemsPerPage"], json!(1), "filter {raw}: {l}");
        assert_eq!(l["startIndex"], json!(1), "filter {raw}: {l}");
        assert_eq!(l["Resources"].as_array().unwrap().len(), 1, "filter {raw}: {l}");
        assert_eq!(l["Resources"][0], u, "filter {raw}: the full user is returned");
    };
    one("userName+eq+%22jdoe%22");
    one("userName+eq+%22JDOE%22");
    one("userName eq \"jdoe\"");
    one("externalId+eq+jdoe");
    one("externalId%20eq%20%22jdoe%22");
    one(&enc("emails[type eq \"work\"].value eq \"jdoe@contoso.com\""));
    one(&enc(&format!("id eq \"{id}\" and manager eq \"{mgr_id}\"")));
    one(&enc(&format!(
        "id eq \"{id}\" and urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager eq \"{mgr_id}\""
    )));
    let none = srv.filter(&enc(&format!("id eq \"{id}\" and manager eq \"{}\"", guid())));
    assert_eq!(none["totalResults"], json!(0));
    assert_eq!(none["Resources"], json!([]));
}

#[test]
fn update_with_pascal_case_replace_and_add() {
    let srv = TestServer::start();
    // No work email yet: the primary one is "other"; Replace must create the work element.
    let mut body = entra_user("jdoe", "jdoe@contoso.com");
    body["emails"] = json!([{"primary": true, "type": "other", "value": "jdoe@contoso.com"}]);
    let u = srv.create(&body);
    let id = u["id"].as_str().unwrap().to_string();
    let r = srv.patch_ops(
        &id,
        json!([
            {"op": "Replace", "path": "displayName", "value": "Pvlo"},
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "TestBcwqnm@test.microsoft.com"},
            {"op": "Replace", "path": "name.givenName", "value": "Gtfd"},
            {"op": "Replace", "path": "name.familyName", "value": "Pkqf"},
            {"op": "Replace", "path": "externalId", "value": "Eqpj"},
            {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "value": "Eqpj"}
        ]),
    );
    let p = r.scim(200);
    assert_eq!(p["displayName"], json!("Pvlo"));
    assert_eq!(p["name"]["givenName"], json!("Gtfd"));
    assert_eq!(p["name"]["familyName"], json!("Pkqf"));
    assert_eq!(p["name"]["formatted"], json!("Jane Doe"));
    assert_eq!(p["externalId"], json!("Eqpj"));
    assert_eq!(p[ENT_URN]["employeeNumber"], json!("Eqpj"));
    assert_eq!(p[ENT_URN]["department"], json!("R&D"));
    let emails = p["emails"].as_array().unwrap();
    assert_eq!(emails.len(), 2, "{p}");
    assert!(emails.contains(&json!({"primary": true, "type": "other", "value": "jdoe@contoso.com"})), "{p}");
    assert!(emails.contains(&json!({"type": "work", "value": "TestBcwqnm@test.microsoft.com"})), "{p}");
    assert_ne!(p["meta"]["version"], u["meta"]["version"]);
    assert_eq!(srv.get_user(&id), p);

    let p = srv.patch_ops(&id, json!([{"op": "Add", "path": "nickName", "value": "Babs"}])).scim(200);
    assert_eq!(p["nickName"], json!("Babs"));
    let p = srv.patch_ops(&id, json!([{"op": "Replace", "path": "userName", "value": "jdoe2"}])).scim(200);
    assert_eq!(p["userName"], json!("jdoe2"));
    assert_eq!(srv.filter("userName+eq+%22jdoe2%22")["totalResults"], json!(1));
    assert_eq!(srv.filter("userName+eq+%22jdoe%22")["totalResults"], json!(0));
}

#[test]
fn disable_reenable_and_delete() {
    let srv = TestServer::start();
    let u = srv.create(&entra_user("jdoe", "jdoe@contoso.com"));
    let id = u["id"].as_str().unwrap().to_string();
    for (off, on) in [(json!("False"), json!("True")), (json!("false"), json!("true")), (json!(false), json!(true))] {
        let p = srv.patch_ops(&id, json!([{"op": "Replace", "path": "active", "value": off}])).scim(200);
        assert_eq!(p["active"], json!(false), "after {off}: {p}");
        assert_eq!(srv.get_user(&id)["active"], json!(false));
        let l = srv.filter("userName+eq+%22jdoe%22");
        assert_eq!(l["totalResults"], json!(1), "a suspended user is still found: {l}");
        assert_eq!(l["Resources"][0]["active"], json!(false));
        // Everything else is unchanged.
        let mut a = without_meta(&p);
        let mut b = without_meta(&u);
        a.as_object_mut().unwrap().remove("active");
        b.as_object_mut().unwrap().remove("active");
        assert_eq!(a, b);
        let p = srv.patch_ops(&id, json!([{"op": "Replace", "path": "active", "value": on}])).scim(200);
        assert_eq!(p["active"], json!(true), "after {on}: {p}");
        assert_eq!(srv.get_user(&id)["active"], json!(true));
    }

    let r = srv.delete(&format!("/Users/{id}"));
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(r.text.is_empty(), "204 with a body: {:?}", r.text);
    let nf = srv.get(&format!("/Users/{id}")).error(404, None);
    assert!(nf["detail"].as_str().unwrap().contains(&id), "{nf}");
    srv.delete(&format!("/Users/{id}")).error(404, None);
    assert_eq!(srv.filter("userName+eq+%22jdoe%22")["totalResults"], json!(0));
    // The username is free again after a permanent delete.
    srv.create(&entra_user("jdoe", "jdoe@contoso.com"));
}

#[test]
fn aad_opt_flag_shapes() {
    let srv = TestServer::start();
    let u = srv.create(&entra_user("jdoe", "jdoe@contoso.com"));
    let id = u["id"].as_str().unwrap().to_string();
    // Tenant URL with the flag: Entra appends /Users to it.
    let l = srv.get("/Users?aadOptscim062020&filter=userName+eq+%22jdoe%22").scim(200);
    assert_eq!(l["totalResults"], json!(1));
    let l = srv.get("/Users?filter=userName+eq+%22jdoe%22&aadOptscim062020=&foo=bar").scim(200);
    assert_eq!(l["totalResults"], json!(1));
    // No-path replace with dotted and URN keys.
    let p = srv
        .patch_ops(
            &id,
            json!([{"op": "replace", "value": {
                "name.givenName": "Kkom",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Sales",
                "active": false
            }}]),
        )
        .scim(200);
    assert_eq!(p["name"]["givenName"], json!("Kkom"));
    assert_eq!(p["name"]["familyName"], json!("Doe"));
    assert_eq!(p[ENT_URN]["department"], json!("Sales"));
    assert_eq!(p[ENT_URN]["employeeNumber"], json!("e-jdoe"));
    assert_eq!(p["active"], json!(false));
    assert_eq!(srv.get_user(&id), p);
    let p = srv.patch_ops(&id, json!([{"op": "add", "path": "nickName", "value": "Babs"}])).scim(200);
    assert_eq!(p["nickName"], json!("Babs"));
    let p = srv.patch_ops(&id, json!([{"op": "replace", "path": "active", "value": true}])).scim(200);
    assert_eq!(p["active"], json!(true));
}

#[test]
fn trailing_and_double_slashes_route() {
    let srv = TestServer::start();
    let root = srv.root();
    let r = srv.send_raw(
        reqwest::Method::POST,
        &format!("{root}/scim/v2//Users"),
        Some(srv.token()),
        None,
        Some(serde_json::to_vec(&simple_user("slash")).unwrap()),
    );
    let u = r.scim(201);
    let id = u["id"].as_str().unwrap();
    for url in [
        format!("{root}/scim/v2/Users/"),
        format!("{root}/scim/v2//Users"),
        format!("{root}/scim/v2//Users?filter=userName+eq+%22slash%22"),
        format!("{root}/scim/v2/Users/?filter=userName+eq+%22slash%22"),
    ] {
        let l = srv.send_raw(reqwest::Method::GET, &url, Some(srv.token()), None, None).scim(200);
        assert_eq!(l["totalResults"], json!(1), "{url}: {l}");
    }
    let g = srv
        .send_raw(reqwest::Method::GET, &format!("{root}/scim/v2//Users/{id}/"), Some(srv.token()), None, None)
        .scim(200);
    assert_eq!(g["id"], json!(id));
}

#[test]
fn application_json_request_content_type_is_accepted() {
    let srv = TestServer::start();
    let url = format!("{}/Users", srv.base());
    for (i, ct) in ["application/json", "application/json; charset=utf-8", "application/scim+json; charset=utf-8"]
        .iter()
        .enumerate()
    {
        let body = serde_json::to_vec(&simple_user(&format!("ct{i}"))).unwrap();
        let u = srv.send_raw(reqwest::Method::POST, &url, Some(srv.token()), Some(ct), Some(body)).scim(201);
        let id = u["id"].as_str().unwrap();
        let patch = serde_json::to_vec(&patch_body(json!([{"op": "Add", "path": "nickName", "value": "N"}]))).unwrap();
        let p = srv
            .send_raw(reqwest::Method::PATCH, &format!("{url}/{id}"), Some(srv.token()), Some(ct), Some(patch))
            .scim(200);
        assert_eq!(p["nickName"], json!("N"), "{ct}");
    }
}

#[test]
fn search_endpoint() {
    let srv = TestServer::start();
    let u = srv.create(&simple_user("searchme"));
    srv.create(&simple_user("other"));
    let l = srv
        .post(
            "/Users/.search",
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": "userName eq \"SEARCHME\"", "startIndex": 1, "count": 10}),
        )
        .scim(200);
    assert_eq!(l["schemas"], json!([LIST_URN]));
    assert_eq!(l["totalResults"], json!(1));
    assert_eq!(l["Resources"], json!([u]));
    let l = srv.post("/Users/.search", &json!({"attributes": ["userName"], "count": 1})).scim(200);
    assert_eq!(l["totalResults"], json!(2));
    assert_eq!(l["itemsPerPage"], json!(1));
    let r = &l["Resources"][0];
    assert!(r.get("emails").is_none() && r["id"].is_string() && r["userName"].is_string(), "{r}");
}
