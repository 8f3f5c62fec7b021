//! Directory rules over HTTP (product spec §2–4): username policies, required
//! email, uniqueness, lenient input, lifecycle defaults.

mod common;
use common::*;
use serde_json::json;

#[test]
fn strict_org_rejects_email_username_naming_mail_nickname() {
    let srv = TestServer::start();
    let e = srv.post("/Users", &entra_user("jdoe@contoso.com", "jdoe@contoso.com")).error(400, Some("invalidValue"));
    let d = e["detail"].as_str().unwrap();
    assert!(d.contains("mailNickname"), "{d}");
    assert!(d.contains("email address"), "{d}");
    for bad in ["1abc", "j doe", "", "jdoe!"] {
        srv.post("/Users", &simple_user_named(bad)).error(400, Some("invalidValue"));
    }
    // Nothing was created.
    assert_eq!(srv.get("/Users").scim(200)["totalResults"], json!(0));
    // And a PATCH cannot sneak one in.
    let id = srv.create(&simple_user("jdoe"))["id"].as_str().unwrap().to_string();
    srv.patch_ops(&id, json!([{"op": "Replace", "path": "userName", "value": "jdoe@contoso.com"}]))
        .error(400, Some("invalidValue"));
    assert_eq!(srv.get_user(&id)["userName"], json!("jdoe"));
}

fn simple_user_named(user_name: &str) -> serde_json::Value {
    let mut u = simple_user("placeholder");
    u["userName"] = json!(user_name);
    u
}

#[test]
fn missing_or_invalid_email_is_rejected_with_the_mapping_to_fix() {
    let srv = TestServer::start();
    let mut u = simple_user("noemail");
    u.as_object_mut().unwrap().remove("emails");
    let e = srv.post("/Users", &u).error(400, Some("invalidValue"));
    assert!(e["detail"].as_str().unwrap().contains("emails[type eq \"work\"].value"), "{e}");
    u["emails"] = json!([{"type": "work", "value": "not-an-email"}]);
    let e = srv.post("/Users", &u).error(400, Some("invalidValue"));
    assert!(e["detail"].as_str().unwrap().contains("not-an-email"), "{e}");
    // Removing the only email by PATCH is refused too.
    let id = srv.create(&simple_user("hasemail"))["id"].as_str().unwrap().to_string();
    let before = srv.get_user(&id);
    srv.patch_ops(&id, json!([{"op": "Remove", "path": "emails"}])).error(400, Some("invalidValue"));
    assert_eq!(srv.get_user(&id), before);
}

#[test]
fn rfc_org_accepts_uuid_username_without_email() {
    let srv = TestServer::start();
    let key = srv.org_with_key("rfcorg", "rfc", "administrator");
    let name = guid();
    let body = json!({"schemas": [USER_URN], "userName": name, "active": true});
    let u = srv.req_as(&key, reqwest::Method::POST, "/Users", Some(&body)).scim(201);
    assert_eq!(u["userName"], json!(name));
    assert!(u.get("emails").is_none());
    // Also "anything @ anything" with spaces.
    let body = json!({"schemas": [USER_URN], "userName": "Some One @ anything"});
    srv.req_as(&key, reqwest::Method::POST, "/Users", Some(&body)).scim(201);
    // Uniqueness still holds, case-insensitively.
    let body = json!({"schemas": [USER_URN], "userName": name.to_uppercase()});
    srv.req_as(&key, reqwest::Method::POST, "/Users", Some(&body)).error(409, Some("uniqueness"));
    // The default org is still strict.
    srv.post("/Users", &json!({"schemas": [USER_URN], "userName": guid()})).error(400, Some("invalidValue"));
}

#[test]
fn email_local_part_org_accepts_email_username() {
    let srv = TestServer::start();
    let key = srv.org_with_key("okta", "email-local-part", "administrator");
    let u =
        srv.req_as(&key, reqwest::Method::POST, "/Users", Some(&entra_user("jdoe@contoso.com", "jdoe@contoso.com")));
    let u = u.scim(201);
    assert_eq!(u["userName"], json!("jdoe@contoso.com"), "userName is stored as sent");
    // The username is the local part: another domain with the same local part collides.
    let r =
        srv.req_as(&key, reqwest::Method::POST, "/Users", Some(&entra_user("JDoe@fabrikam.com", "jdoe@fabrikam.com")));
    r.error(409, Some("uniqueness"));
    let r = srv.req_as(&key, reqwest::Method::POST, "/Users", Some(&entra_user("j doe@contoso.com", "j2@contoso.com")));
    r.error(400, Some("invalidValue"));
    // `roster org set` switches the default org's policy at run time.
    srv.post("/Users", &entra_user("kim@contoso.com", "kim@contoso.com")).error(400, Some("invalidValue"));
    srv.roster(&["org", "set", "default", "--username-policy", "email-local-part"]);
    assert_eq!(
        srv.post("/Users", &entra_user("kim@contoso.com", "kim@contoso.com")).scim(201)["userName"],
        json!("kim@contoso.com")
    );
}

#[test]
fn uniqueness_of_username_email_and_employee_number() {
    let srv = TestServer::start();
    let first = srv.create(&entra_user("jdoe", "jdoe@contoso.com"));
    let cases = [
        ("username in another case", entra_user("JDoe", "other1@contoso.com"), "JDoe"),
        ("email in another case", entra_user("other2", "JDOE@contoso.com"), "jdoe@contoso.com"),
        (
            "employeeNumber",
            {
                let mut u = entra_user("other3", "other3@contoso.com");
                u[ENT_URN]["employeeNumber"] = json!("e-jdoe");
                u
            },
            "e-jdoe",
        ),
    ];
    for (what, body, needle) in cases {
        let e = srv.post("/Users", &body).error(409, Some("uniqueness"));
        let detail = e["detail"].as_str().unwrap();
        assert!(detail.contains(needle), "{what}: {e}");
        // The detail names who holds the value, so the admin can find them.
        assert!(detail.contains(first["id"].as_str().unwrap()), "{what}: {e}");
    }
    assert_eq!(srv.get("/Users").scim(200)["totalResults"], json!(1));
    // The same conflicts by PATCH and PUT.
    let second = srv.create(&entra_user("second", "second@contoso.com"));
    let id = second["id"].as_str().unwrap().to_string();
    for ops in [
        json!([{"op": "Replace", "path": "userName", "value": "JDOE"}]),
        json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "jdoe@contoso.com"}]),
        json!([{"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "value": "e-jdoe"}]),
    ] {
        srv.patch_ops(&id, ops.clone()).error(409, Some("uniqueness"));
        assert_eq!(srv.get_user(&id), second, "after {ops}");
    }
    let mut put = second.clone();
    put["userName"] = json!("jDoe");
    srv.put(&format!("/Users/{id}"), &put).error(409, Some("uniqueness"));
    assert_eq!(srv.get_user(&id), second);
    // A user keeps its own values on update (no conflict with itself).
    let fid = first["id"].as_str().unwrap();
    let p = srv.patch_ops(fid, json!([{"op": "Replace", "path": "userName", "value": "JDOE"}])).scim(200);
    assert_eq!(p["userName"], json!("JDOE"));
}

#[test]
fn attributes_outside_every_schema_are_accepted_and_ignored() {
    let srv = TestServer::start();
    let mut body = entra_user("stray", "stray@contoso.com");
    body["department"] = json!("Top-level stray");
    body["urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"] = json!({"costCode": "X1"});
    body["favouriteColour"] = json!("blue");
    let u = srv.create(&body);
    let id = u["id"].as_str().unwrap().to_string();
    let g = srv.get_user(&id);
    for k in ["department", "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User", "favouriteColour"] {
        assert!(u.get(k).is_none(), "{k} returned by POST: {u}");
        assert!(g.get(k).is_none(), "{k} returned by GET: {g}");
    }
    assert_eq!(g["schemas"], json!([USER_URN, ENT_URN]));
    assert_eq!(g[ENT_URN]["department"], json!("R&D"));
}

/// Entra sends custom-extension and unmapped attributes in PATCH too; they must
/// be ignored like in POST, never fail the whole update (product spec §3).
#[test]
fn patch_of_attributes_outside_every_schema_is_ignored() {
    let srv = TestServer::start();
    let id = srv.create(&entra_user("stray", "stray@contoso.com"))["id"].as_str().unwrap().to_string();
    let custom = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User";
    for (n, path) in ["department", "favouriteColour", &format!("{custom}:costCode")].iter().enumerate() {
        let display = format!("Still works {n}");
        let p = srv.patch_ops(
            &id,
            json!([{"op": "Add", "path": path, "value": "Y"},
                   {"op": "Replace", "path": "displayName", "value": display}]),
        );
        let p = p.scim(200);
        assert_eq!(p["displayName"], json!(display), "{path}");
        assert!(p.get("department").is_none() && p.get("favouriteColour").is_none() && p.get(custom).is_none(), "{p}");
    }
}

#[test]
fn no_path_patch_with_keys_outside_every_schema_is_ignored() {
    let srv = TestServer::start();
    let id = srv.create(&entra_user("stray", "stray@contoso.com"))["id"].as_str().unwrap().to_string();
    let custom = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User";
    let p = srv.patch_ops(
        &id,
        json!([{"op": "replace", "value": {format!("{custom}:costCode"): "Z", "department": "D", "title": "T"}}]),
    );
    let p = p.scim(200);
    assert_eq!(p["title"], json!("T"));
    assert!(p.get("department").is_none() && p.get(custom).is_none(), "{p}");
}

#[test]
fn case_insensitive_keys_and_string_booleans() {
    let srv = TestServer::start();
    let body = json!({
        "schemas": [USER_URN, ENT_URN], "UserName": "casey", "Active": "True",
        "Emails": [{"Primary": "True", "Type": "work", "Value": "casey@contoso.com"}],
        ENT_URN: {"Department": "Ops"}
    });
    let u = srv.create(&body);
    assert_eq!(u["userName"], json!("casey"));
    assert_eq!(u["active"], json!(true));
    assert_eq!(u["emails"], json!([{"primary": true, "type": "work", "value": "casey@contoso.com"}]));
    assert_eq!(u[ENT_URN]["department"], json!("Ops"));
    let created_inactive = srv.create(
        &json!({"userName": "inact", "active": "False", "emails": [{"type": "work", "value": "i@contoso.com"}]}),
    );
    assert_eq!(created_inactive["active"], json!(false));
}

#[test]
fn new_users_are_active_and_staged_is_not_suspended() {
    let srv = TestServer::start();
    let u = srv.create(&simple_user("fresh"));
    assert_eq!(u["active"], json!(true));
    let out = srv.roster(&["org", "set", "default", "--scim-default-state", "staged"]);
    assert!(out.contains("staged") || out.contains("STAGED"), "{out}");
    let s = srv.create(&simple_user("staged"));
    assert_eq!(s["active"], json!(true), "a staged user is not suspended");
    let id = s["id"].as_str().unwrap().to_string();
    assert_eq!(srv.get_user(&id)["active"], json!(true));
    // Suspend and restore a staged user.
    assert_eq!(
        srv.patch_ops(&id, json!([{"op": "Replace", "path": "active", "value": "False"}])).scim(200)["active"],
        json!(false)
    );
    assert_eq!(
        srv.patch_ops(&id, json!([{"op": "Replace", "path": "active", "value": "True"}])).scim(200)["active"],
        json!(true)
    );
    let list = srv.roster(&["org", "list"]);
    assert!(
        list.contains("default") && list.contains("scim_default_state=STAGED") || list.contains("staged"),
        "{list}"
    );
}
