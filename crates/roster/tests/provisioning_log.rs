//! The provisioning log, read back with `roster log`: every write and every
//! failed request is recorded with its changes; a PATCH that changes nothing
//! writes no entry; ignored attributes are named.

mod common;
use common::*;
use serde_json::{json, Value};

fn log(srv: &TestServer) -> Vec<Value> {
    srv.roster(&["log", "--org", "default", "--json", "--limit", "100"])
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON log line"))
        .collect()
}

#[test]
fn writes_failures_and_ignored_attributes_are_logged_and_no_ops_are_not() {
    let srv = TestServer::start();
    let mut body = entra_user("logged", "logged@contoso.com");
    body["department"] = json!("stray");
    let id = srv.create(&body)["id"].as_str().unwrap().to_string();

    // A no-op PATCH: same title as stored.
    srv.patch_ops(&id, json!([{"op": "Replace", "path": "title", "value": "Engineer"}])).scim(200);
    srv.patch_ops(&id, json!([{"op": "Replace", "path": "active", "value": "False"}])).scim(200);
    srv.post("/Users", &entra_user("bad@contoso.com", "bad@contoso.com")).error(400, Some("invalidValue"));

    let entries = log(&srv);
    let kinds: Vec<&str> = entries.iter().map(|e| e["event_type"].as_str().unwrap()).collect();
    // Newest first: the failed create, the suspension, the create. No entry for the no-op.
    assert_eq!(kinds, vec!["user_create", "user_suspended", "user_create"], "{entries:#?}");

    let failed = &entries[0];
    assert_eq!(failed["status"], json!(400));
    assert!(failed["error"].as_str().unwrap().contains("mailNickname"), "{failed}");
    assert_eq!(failed["resource_name"], json!("bad@contoso.com"));

    let suspended = &entries[1];
    assert_eq!(suspended["resource_id"], json!(id));
    let changes = suspended["changes"].as_array().unwrap();
    assert!(changes.contains(&json!({"field": "active", "from": true, "to": false})), "{changes:?}");
    assert!(changes.contains(&json!({"field": "state", "from": "ACTIVATED", "to": "SUSPENDED"})), "{changes:?}");

    let created = &entries[2];
    assert_eq!(created["status"], json!(201));
    assert_eq!(created["ignored"], json!(["department"]));
    assert!(created["actor"].as_str().unwrap().starts_with("key:"), "{created}");
    assert_eq!(created["source"], json!("scim"));
    // A create lists every attribute it set, each from nothing, in the order
    // and shape the directory made them (the SQLite store keeps them compact).
    let changes = created["changes"].as_array().unwrap();
    assert!(changes.contains(&json!({"field": "userName", "from": null, "to": "logged"})), "{changes:?}");
    assert!(
        changes.contains(&json!({"field": format!("{ENT_URN}:department"), "from": null, "to": "R&D"})),
        "{changes:?}"
    );
    assert!(changes.contains(&json!({"field": "state", "from": null, "to": "ACTIVATED"})), "{changes:?}");
    for change in changes {
        let keys: Vec<&String> = change.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["field", "from", "to"], "{change}");
        assert_eq!(change["from"], Value::Null, "{change}");
    }

    // The table form names the event and the changed fields.
    let table = srv.roster(&["log", "--org", "default"]);
    assert!(table.lines().next().unwrap().contains("user_create\t400"), "{table}");
    assert!(table.contains("user_suspended\t200"), "{table}");
}
