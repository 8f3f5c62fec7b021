//! The Microsoft SCIM Validator's and Okta's request shapes (wire spec §7, §9).

mod common;
use common::*;
use serde_json::{json, Value};

fn id_of(u: &Value) -> String {
    u["id"].as_str().expect("id").to_string()
}

#[test]
fn duplicate_create_is_409_uniqueness_and_missing_filter_is_empty() {
    let srv = TestServer::start();
    srv.create(&entra_user("jdoe", "jdoe@contoso.com"));
    let e = srv.post("/Users", &entra_user("jdoe", "jdoe@contoso.com")).error(409, Some("uniqueness"));
    assert!(e["detail"].as_str().unwrap().contains("jdoe"), "{e}");
    let l = srv.filter(&enc(&format!("userName eq \"{}@contoso.com\"", guid())));
    assert_eq!(
        l,
        json!({"schemas": [LIST_URN], "totalResults": 0, "Resources": [], "startIndex": 1, "itemsPerPage": 0})
    );
    let l = srv.filter("userName+eq+%22JDOE%22");
    assert_eq!(l["totalResults"], json!(1));
}

#[test]
fn verbose_replace_of_many_attributes() {
    let srv = TestServer::start();
    let mut body = entra_user("vuser", "vuser@contoso.com");
    body["roles"] =
        json!([{"primary": "True", "display": "Admin", "value": "admin", "type": "WindowsAzureActiveDirectoryRole"}]);
    let u = srv.create(&body);
    let id = id_of(&u);
    let ops = json!([
        {"op": "replace", "path": "displayName", "value": "Disp New"},
        {"op": "replace", "path": "title", "value": "Boss"},
        {"op": "replace", "path": "name.givenName", "value": "Given"},
        {"op": "replace", "path": "name.familyName", "value": "Family"},
        {"op": "replace", "path": "name.middleName", "value": "Mid"},
        {"op": "replace", "path": "name.honorificPrefix", "value": "Dr"},
        {"op": "replace", "path": "name.formatted", "value": "Dr Given Mid Family"},
        {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "vuser.new@contoso.com"},
        {"op": "replace", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555 0199"},
        {"op": "replace", "path": "phoneNumbers[type eq \"fax\"].value", "value": "+1 555 0198"},
        {"op": "replace", "path": "addresses[type eq \"work\"].postalCode", "value": "10001"},
        {"op": "replace", "path": "addresses[type eq \"work\"].locality", "value": "New York"},
        {"op": "replace", "path": "roles[primary eq \"True\"].value", "value": "superadmin"},
        {"op": "replace", "path": "preferredLanguage", "value": "fr-FR"},
        {"op": "replace", "path": "locale", "value": "fr-FR"},
        {"op": "replace", "path": "timezone", "value": "America/Guayaquil"},
        {"op": "replace", "path": "userType", "value": "Contractor"},
        {"op": "replace", "path": "profileUrl", "value": "https://example.com/v"},
        {"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "value": "E-42"},
        {"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Ops"},
        {"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter", "value": "CC9"},
        {"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:organization", "value": "Contoso"},
        {"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:division", "value": "West"}
    ]);
    let p = srv.patch_ops(&id, ops).scim(200);
    assert_eq!(p["displayName"], json!("Disp New"));
    assert_eq!(p["title"], json!("Boss"));
    assert_eq!(
        p["name"],
        json!({"formatted": "Dr Given Mid Family", "familyName": "Family", "givenName": "Given",
               "middleName": "Mid", "honorificPrefix": "Dr"})
    );
    assert_eq!(p["emails"], json!([{"primary": true, "type": "work", "value": "vuser.new@contoso.com"}]));
    let phones = p["phoneNumbers"].as_array().unwrap();
    assert_eq!(phones.len(), 3, "{p}");
    assert!(phones.contains(&json!({"type": "work", "value": "+1 425 555 0100"})));
    assert!(phones.contains(&json!({"type": "mobile", "value": "+1 555 0199"})));
    assert!(phones.contains(&json!({"type": "fax", "value": "+1 555 0198"})));
    assert_eq!(p["addresses"][0]["postalCode"], json!("10001"));
    assert_eq!(p["addresses"][0]["locality"], json!("New York"));
    assert_eq!(p["addresses"][0]["streetAddress"], json!("1 Main St"));
    assert_eq!(p["roles"].as_array().unwrap().len(), 1, "{p}");
    assert_eq!(p["roles"][0]["value"], json!("superadmin"));
    assert_eq!(p["roles"][0]["display"], json!("Admin"));
    assert_eq!(p["preferredLanguage"], json!("fr-FR"));
    assert_eq!(p["locale"], json!("fr-FR"));
    assert_eq!(p["timezone"], json!("America/Guayaquil"));
    assert_eq!(p["userType"], json!("Contractor"));
    assert_eq!(p["profileUrl"], json!("https://example.com/v"));
    assert_eq!(
        p[ENT_URN],
        json!({"department": "Ops", "employeeNumber": "E-42", "costCenter": "CC9", "organization": "Contoso",
               "division": "West"})
    );
    assert_eq!(srv.get_user(&id), p);
    // The new email is what the user is found by now.
    let l = srv.filter(&enc("emails[type eq \"work\"].value eq \"vuser.new@contoso.com\""));
    assert_eq!(l["totalResults"], json!(1));
}

#[test]
fn manager_add_replace_remove() {
    let srv = TestServer::start();
    let m1 = id_of(&srv.create(&simple_user("mgrone")));
    let m2 = id_of(&srv.create(&simple_user("mgrtwo")));
    let id = id_of(&srv.create(&entra_user("emp", "emp@contoso.com")));
    let mpath = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager";

    let p = srv.patch_ops(&id, json!([{"op": "Add", "path": mpath, "value": {"value": m1}}])).scim(200);
    assert_eq!(p[ENT_URN]["manager"]["value"], json!(m1), "{p}");
    assert_eq!(p[ENT_URN]["department"], json!("R&D"));
    assert_eq!(srv.get_user(&id)[ENT_URN]["manager"]["value"], json!(m1));
    let l = srv.filter(&enc(&format!("id eq \"{id}\" and manager eq \"{m1}\"")));
    assert_eq!(l["totalResults"], json!(1));

    let p = srv.patch_ops(&id, json!([{"op": "Replace", "path": mpath, "value": m2}])).scim(200);
    assert_eq!(p[ENT_URN]["manager"]["value"], json!(m2), "bare string: {p}");
    let p =
        srv.patch_ops(&id, json!([{"op": "Replace", "path": mpath, "value": [{"$ref": null, "value": m1}]}])).scim(200);
    assert_eq!(p[ENT_URN]["manager"]["value"], json!(m1), "array form: {p}");
    let p = srv.patch_ops(&id, json!([{"op": "replace", "path": mpath, "value": {"value": m2}}])).scim(200);
    assert_eq!(p[ENT_URN]["manager"]["value"], json!(m2));

    // Remove = replace with an empty value.
    let p = srv.patch_ops(&id, json!([{"op": "replace", "path": mpath, "value": {"value": ""}}])).scim(200);
    assert!(p[ENT_URN].get("manager").is_none(), "manager not removed: {p}");
    assert_eq!(p[ENT_URN]["department"], json!("R&D"));
    assert!(srv.get_user(&id)[ENT_URN].get("manager").is_none());
    let l = srv.filter(&enc(&format!("id eq \"{id}\" and manager eq \"{m2}\"")));
    assert_eq!(l["totalResults"], json!(0));

    // And via a remove op.
    srv.patch_ops(&id, json!([{"op": "Add", "path": mpath, "value": {"value": m1}}])).scim(200);
    let p = srv.patch_ops(&id, json!([{"op": "Remove", "path": mpath}])).scim(200);
    assert!(p[ENT_URN].get("manager").is_none(), "{p}");

    // An unknown manager id is refused and nothing changes.
    let before = srv.get_user(&id);
    let e = srv
        .patch_ops(&id, json!([{"op": "Add", "path": mpath, "value": {"value": guid()}}]))
        .error(400, Some("invalidValue"));
    assert!(e["detail"].as_str().unwrap().contains("manager"), "{e}");
    assert_eq!(srv.get_user(&id), before);
    // Deleting the manager clears the reference.
    srv.patch_ops(&id, json!([{"op": "Add", "path": mpath, "value": {"value": m1}}])).scim(200);
    assert_eq!(srv.delete(&format!("/Users/{m1}")).status, 204);
    assert!(srv.get_user(&id)[ENT_URN].get("manager").is_none(), "dangling manager after delete");
}

#[test]
fn pagination_echoes_start_index() {
    let srv = TestServer::start();
    let mut ids = vec![];
    for i in 0..12 {
        ids.push(id_of(&srv.create(&simple_user(&format!("page{i:02}")))));
    }
    let mut seen = vec![];
    for start in [1, 6, 11] {
        let l = srv.get(&format!("/Users?startIndex={start}&count=5")).scim(200);
        assert_eq!(l["schemas"], json!([LIST_URN]));
        assert_eq!(l["startIndex"], json!(start), "{l}");
        assert_eq!(l["totalResults"], json!(12), "{l}");
        let expect = if start == 11 { 2 } else { 5 };
        assert_eq!(l["itemsPerPage"], json!(expect), "{l}");
        assert_eq!(l["Resources"].as_array().unwrap().len(), expect);
        for r in l["Resources"].as_array().unwrap() {
            seen.push(id_of(r));
        }
    }
    let mut a = seen.clone();
    a.sort();
    let mut b = ids.clone();
    b.sort();
    assert_eq!(a, b, "pages overlap or miss users");
    // Stable order: the same page twice is the same.
    let p1 = srv.get("/Users?startIndex=6&count=5").scim(200);
    let p2 = srv.get("/Users?startIndex=6&count=5").scim(200);
    assert_eq!(p1, p2);
    // Past the end.
    let l = srv.get("/Users?startIndex=50&count=5").scim(200);
    assert_eq!(l["startIndex"], json!(50));
    assert_eq!(l["totalResults"], json!(12));
    assert_eq!(l["itemsPerPage"], json!(0));
    assert_eq!(l["Resources"], json!([]));
    // count=0: only the total.
    let l = srv.get("/Users?count=0").scim(200);
    assert_eq!(l["totalResults"], json!(12));
    assert_eq!(l["itemsPerPage"], json!(0));
}

#[test]
fn attribute_projections_keep_id_and_schemas() {
    let srv = TestServer::start();
    let u = srv.create(&entra_user("proj", "proj@contoso.com"));
    let id = id_of(&u);
    let l = srv.get("/Users?attributes=userName,emails&filter=userName+eq+%22proj%22").scim(200);
    let r = &l["Resources"][0];
    let mut keys: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, vec!["emails", "id", "schemas", "userName"], "{r}");
    assert_eq!(r["emails"], u["emails"]);
    let g = srv.get(&format!("/Users/{id}?excludedAttributes=emails")).scim(200);
    assert!(g.get("emails").is_none(), "{g}");
    assert_eq!(g["id"], json!(id));
    assert_eq!(g["schemas"], u["schemas"]);
    assert_eq!(g["userName"], json!("proj"));
    assert_eq!(g["name"], u["name"]);
    let g = srv.get(&format!("/Users/{id}?attributes=name.givenName")).scim(200);
    assert_eq!(g["name"], json!({"givenName": "Jane"}), "{g}");
    assert_eq!(g["id"], json!(id));
    assert!(g.get("emails").is_none() && g.get("userName").is_none(), "{g}");
}

#[test]
fn okta_spec_test_flow() {
    let srv = TestServer::start();
    let body = json!({
        "schemas": [USER_URN], "userName": "okta.user", "externalId": "00u1",
        "name": {"givenName": "Okta", "familyName": "User"},
        "emails": [{"primary": true, "value": "okta.user@okta.local", "type": "work"}],
        "displayName": "Okta User", "locale": "en-US", "active": true,
        "password": "Sup3rS3cret!", "groups": []
    });
    let created = srv.create(&body);
    let id = id_of(&created);
    assert_eq!(created["active"], json!(true));
    assert!(created.get("password").is_none(), "password echoed: {created}");
    assert!(created.get("groups").is_none() || created["groups"] == json!([]), "{created}");
    srv.post("/Users", &body).error(409, Some("uniqueness"));

    let l = srv.get("/Users?count=1&startIndex=1").scim(200);
    assert!(l["totalResults"].is_u64() && l["startIndex"].is_u64() && l["itemsPerPage"].is_u64(), "{l}");
    assert_eq!(l["totalResults"], json!(1));
    assert_eq!(l["itemsPerPage"], json!(1));
    let r = &l["Resources"][0];
    assert_eq!(r["id"], json!(id));
    assert_eq!(r["name"]["familyName"], json!("User"));
    assert_eq!(r["emails"][0]["value"], json!("okta.user@okta.local"));
    assert_eq!(r["active"], json!(true));

    let l = srv.get("/Users?filter=userName%20eq%20%22OKTA.USER%22&startIndex=1&count=100").scim(200);
    assert_eq!(l["totalResults"], json!(1));
    let l = srv.get(&format!("/Users?filter=userName%20eq%20%22{}%40okta.local%22", guid())).scim(200);
    assert_eq!(l["totalResults"], json!(0));
    let e = srv.get(&format!("/Users/{}", guid())).error(404, None);
    assert!(e["detail"].as_str().unwrap().contains("not found"), "{e}");

    // Deactivate, then reactivate, with no path.
    let p = srv.patch_ops(&id, json!([{"op": "replace", "value": {"active": false}}])).scim(200);
    assert_eq!(p["active"], json!(false));
    assert_eq!(srv.get_user(&id)["active"], json!(false));
    let p = srv.patch_ops(&id, json!([{"op": "replace", "value": {"active": true}}])).scim(200);
    assert_eq!(p["active"], json!(true));

    // Full replace with PUT (after a GET, as Okta does).
    let mut full = srv.get_user(&id);
    full["name"]["givenName"] = json!("Renamed");
    full["title"] = json!("Lead");
    full.as_object_mut().unwrap().remove("displayName");
    let p = srv.put(&format!("/Users/{id}"), &full).scim(200);
    assert_eq!(p["name"]["givenName"], json!("Renamed"));
    assert_eq!(p["title"], json!("Lead"));
    assert!(p.get("displayName").is_none(), "PUT must replace, not merge: {p}");
    assert_eq!(p["id"], json!(id));
    assert_eq!(p["meta"]["created"], created["meta"]["created"]);
    assert_eq!(srv.get_user(&id), p);
    // PUT with active false suspends.
    let mut off = p.clone();
    off["active"] = json!(false);
    assert_eq!(srv.put(&format!("/Users/{id}"), &off).scim(200)["active"], json!(false));
    // PUT of an unknown id.
    srv.put(&format!("/Users/{}", guid()), &full).error(404, None);
    // Optional Groups list.
    let g = srv.get("/Groups").scim(200);
    assert_eq!(g["totalResults"], json!(0));
}

#[test]
fn discovery_documents() {
    let srv = TestServer::start();
    let spc = srv.get("/ServiceProviderConfig").scim(200);
    assert_eq!(spc["patch"]["supported"], json!(true), "{spc}");
    assert_eq!(spc["filter"]["supported"], json!(true), "{spc}");
    assert!(spc["filter"]["maxResults"].is_u64(), "{spc}");
    let rts = srv.get("/ResourceTypes").scim(200);
    let text = rts.to_string();
    assert!(text.contains("\"User\"") && text.contains(ENT_URN), "{rts}");
    let schemas = srv.get("/Schemas").scim(200);
    assert_eq!(schemas["schemas"], json!([LIST_URN]));
    let ids: Vec<&str> = schemas["Resources"].as_array().unwrap().iter().filter_map(|s| s["id"].as_str()).collect();
    assert!(ids.contains(&USER_URN) && ids.contains(&ENT_URN), "{ids:?}");
    assert!(!schemas.to_string().contains("null"), "no nulls in /Schemas");
    let u = srv.get(&format!("/Schemas/{USER_URN}")).scim(200);
    assert_eq!(u["id"], json!(USER_URN));
    srv.get("/Schemas/urn:nope").error(404, None);
}

#[test]
fn meta_timestamps_and_versions() {
    let srv = TestServer::start();
    let resp = srv.post("/Users", &simple_user("meta"));
    let u = resp.scim(201);
    let id = id_of(&u);
    assert_eq!(resp.header("etag"), u["meta"]["version"].as_str().map(str::to_string));
    let g = srv.get(&format!("/Users/{id}"));
    assert_eq!(g.header("etag"), u["meta"]["version"].as_str().map(str::to_string));
    let p = srv.patch_ops(&id, json!([{"op": "Replace", "path": "displayName", "value": "M"}])).scim(200);
    assert_eq!(p["meta"]["created"], u["meta"]["created"]);
    assert_ne!(p["meta"]["version"], u["meta"]["version"]);
    assert!(p["meta"]["lastModified"].as_str().unwrap() >= u["meta"]["lastModified"].as_str().unwrap());
    // A PATCH that changes nothing keeps the version.
    let same = srv.patch_ops(&id, json!([{"op": "Replace", "path": "displayName", "value": "M"}])).scim(200);
    assert_eq!(same["meta"]["version"], p["meta"]["version"]);
    assert_eq!(same, p);
    // Client-sent id and meta are ignored on create and PUT.
    let mut body = simple_user("meta2");
    body["id"] = json!("client-chosen");
    body["meta"] = json!({"created": "2000-01-01T00:00:00Z", "version": "W/\"99\""});
    let c = srv.create(&body);
    assert_ne!(c["id"], json!("client-chosen"));
    assert_ne!(c["meta"]["created"], json!("2000-01-01T00:00:00Z"));
    let mut put = c.clone();
    put["id"] = json!("other-id");
    let r = srv.put(&format!("/Users/{}", id_of(&c)), &put).scim(200);
    assert_eq!(r["id"], c["id"]);
}

#[test]
fn null_and_empty_updates_clear_optional_attributes() {
    let srv = TestServer::start();
    let id = id_of(&srv.create(&entra_user("nulls", "nulls@contoso.com")));
    for value in [json!(""), json!(null)] {
        srv.patch_ops(&id, json!([{"op": "Replace", "path": "title", "value": "T"}, {"op": "Replace", "path": "nickName", "value": "N"}]))
            .scim(200);
        let p = srv
            .patch_ops(&id, json!([{"op": "Replace", "path": "title", "value": value}, {"op": "replace", "value": {"nickName": value}}]))
            .scim(200);
        let g = srv.get_user(&id);
        assert_eq!(g, p);
        for k in ["title", "nickName"] {
            assert!(g.get(k).is_none() || g[k] == json!("") || g[k].is_null(), "{k} after {value}: {g}");
        }
    }
    let p = srv.patch_ops(&id, json!([{"op": "Remove", "path": "displayName"}, {"op": "Remove", "path": "phoneNumbers[type eq \"mobile\"]"}])).scim(200);
    assert!(p.get("displayName").is_none(), "{p}");
    assert_eq!(p["phoneNumbers"], json!([{"type": "work", "value": "+1 425 555 0100"}]));
}

/// scim2-tester removes `active` from a user it created with `active: false`:
/// afterwards the user must read without `active`, which only an unsuspended
/// user can.
#[test]
fn removing_active_unsuspends_and_drops_the_attribute() {
    let srv = TestServer::start();
    let mut body = entra_user("inactive1", "inactive1@contoso.com");
    body["active"] = json!(false);
    let u = srv.create(&body);
    assert_eq!(u["active"], json!(false));
    let id = id_of(&u);
    let after = srv.patch_ops(&id, json!([{"op": "remove", "path": "active"}])).scim(200);
    assert!(after.get("active").is_none(), "{after}");
    let got = srv.get(&format!("/Users/{id}")).scim(200);
    assert!(got.get("active").is_none(), "{got}");
    let l = srv.filter("userName+eq+%22inactive1%22+and+active+eq+true");
    assert_eq!(l["totalResults"], json!(1), "{l}");
}

/// Ids are UUIDv7 (RFC 9562): lower-case UUIDs whose leading timestamp makes
/// later resources sort after earlier ones, users and groups alike.
#[test]
fn ids_are_time_ordered_uuids() {
    let srv = TestServer::start();
    let ids: Vec<String> = (0..5)
        .map(|i| id_of(&srv.create(&simple_user(&format!("ordered{i}")))))
        .chain((0..2).map(|i| id_of(&srv.post("/Groups", &json!({"displayName": format!("Ordered {i}")})).scim(201))))
        .collect();
    for id in &ids {
        let groups: Vec<&str> = id.split('-').collect();
        assert_eq!(groups.iter().map(|g| g.len()).collect::<Vec<_>>(), [8, 4, 4, 4, 12], "{id}");
        assert!(id.chars().all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c)), "{id}");
        assert!(groups[2].starts_with('7'), "version 7: {id}");
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
}

/// Several values of one type: Entra sends several `roles` of type
/// `WindowsAzureActiveDirectoryRole` (AppRoleAssignmentsComplex), accepted
/// everywhere. Two work emails (Microsoft's reference suite) are refused by
/// the directory rules and kept as sent under the `rfc` policy.
#[test]
fn several_values_of_one_type() {
    let srv = TestServer::start();
    let mut body = entra_user("approles", "approles@contoso.com");
    let roles = json!([
        {"primary": false, "type": "WindowsAzureActiveDirectoryRole", "display": "Admin", "value": "Admin"},
        {"primary": false, "type": "WindowsAzureActiveDirectoryRole", "display": "Reader", "value": "Reader"}
    ]);
    body["roles"] = roles.clone();
    let u = srv.create(&body);
    assert_eq!(srv.get_user(&id_of(&u))["roles"], roles);

    let two_work = json!([
        {"type": "work", "primary": false, "value": "first@contoso.com"},
        {"type": "work", "primary": true, "value": "second@contoso.com"}
    ]);
    let mut body = entra_user("twomail", "second@contoso.com");
    body["emails"] = two_work.clone();
    let e = srv.post("/Users", &body).error(400, Some("invalidValue"));
    assert!(e["detail"].as_str().unwrap().contains("at most one per type"), "{e}");
    // The same through PATCH: nothing applies.
    let add = json!([{"op": "add", "path": "emails", "value": [{"type": "work", "value": "more@contoso.com"}]}]);
    srv.patch_ops(&id_of(&u), add).error(400, Some("invalidValue"));
    assert_eq!(srv.get_user(&id_of(&u))["emails"], json!([{"primary": true, "type": "work", "value": "approles@contoso.com"}]));

    let rfc = srv.org_with_key("generic", "rfc", "administrator");
    let body = json!({"schemas": [USER_URN], "userName": "twomail", "emails": two_work});
    let created = srv.req_as(&rfc, reqwest::Method::POST, "/Users", Some(&body)).scim(201);
    assert_eq!(created["emails"], two_work);
    let two_primaries = json!({"schemas": [USER_URN], "userName": "twoprim", "emails": [
        {"type": "work", "primary": true, "value": "p1@contoso.com"}, {"type": "home", "primary": true, "value": "p2@contoso.com"}]});
    let e = srv.req_as(&rfc, reqwest::Method::POST, "/Users", Some(&two_primaries)).error(400, Some("invalidValue"));
    assert!(e["detail"].as_str().unwrap().contains("primary"), "{e}");
}
