//! The enterprise `manager` attribute end to end (wire spec §2.5; issue 4):
//! every form Entra, the validator and the Logic App send, rendered as
//! `{"value", "$ref", "displayName"}`, refused across organisations, cleared
//! when the manager is deleted, and logged.

mod common;
use common::*;
use directory::store;
use directory::Store;
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::Arc;

const MANAGER_PATH: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager";

fn setup() -> (TestServer, String) {
    let srv = TestServer::start();
    let key = srv.org_with_key("acme", "rfc", "administrator");
    (srv, key)
}

fn user(srv: &TestServer, key: &str, name: &str, display: Option<&str>) -> String {
    let mut body = json!({"schemas": [USER_URN], "userName": name});
    if let Some(d) = display {
        body["displayName"] = json!(d);
    }
    srv.req_as(key, Method::POST, "/Users", Some(&body)).scim(201)["id"].as_str().unwrap().to_string()
}

fn patch(srv: &TestServer, key: &str, id: &str, ops: Value) -> Resp {
    srv.req_as(key, Method::PATCH, &format!("/Users/{id}"), Some(&patch_body(ops)))
}

fn manager_of(srv: &TestServer, key: &str, id: &str) -> Value {
    let u = srv.req_as(key, Method::GET, &format!("/Users/{id}"), None).scim(200);
    u[ENT_URN]["manager"].clone()
}

#[test]
fn every_manager_form_sets_and_clears() {
    let (srv, key) = setup();
    let boss = user(&srv, &key, "boss", Some("The Boss"));
    let boss2 = user(&srv, &key, "boss2", None);
    let emp = user(&srv, &key, "emp", None);
    let expected = json!({"value": boss, "$ref": format!("{}/Users/{boss}", srv.base()), "displayName": "The Boss"});
    // Real traffic: a bare string id.
    let r = patch(&srv, &key, &emp, json!([{"op": "add", "path": MANAGER_PATH, "value": boss}]));
    assert_eq!(r.scim(200)[ENT_URN]["manager"], expected);
    assert_eq!(manager_of(&srv, &key, &emp), expected);
    // Clear with the validator's empty value.
    let r = patch(&srv, &key, &emp, json!([{"op": "replace", "path": MANAGER_PATH, "value": {"value": ""}}]));
    assert!(r.scim(200).get(ENT_URN).is_none());
    // The old documented form: a list with $ref null, path "manager".
    let r =
        patch(&srv, &key, &emp, json!([{"op": "Add", "path": "manager", "value": [{"$ref": null, "value": boss}]}]));
    assert_eq!(r.scim(200)[ENT_URN]["manager"]["value"], json!(boss));
    // {"value": id} replaces it; a manager without a displayName has none.
    let r = patch(&srv, &key, &emp, json!([{"op": "replace", "path": MANAGER_PATH, "value": {"value": boss2}}]));
    assert_eq!(
        r.scim(200)[ENT_URN]["manager"],
        json!({"value": boss2, "$ref": format!("{}/Users/{boss2}", srv.base())})
    );
    // remove clears it.
    let r = patch(&srv, &key, &emp, json!([{"op": "remove", "path": MANAGER_PATH}]));
    assert!(r.scim(200).get(ENT_URN).is_none());
    // On create, and listed with displayName (batched for the page).
    let body = json!({"schemas": [USER_URN, ENT_URN], "userName": "emp2", ENT_URN: {"manager": {"value": boss}}});
    let created = srv.req_as(&key, Method::POST, "/Users", Some(&body)).scim(201);
    assert_eq!(created[ENT_URN]["manager"], expected);
    let l = srv.req_as(&key, Method::GET, &format!("/Users?filter={}", enc("userName eq \"emp2\"")), None).scim(200);
    assert_eq!(l["Resources"][0][ENT_URN]["manager"], expected);
    // The manager's name change shows on the next read.
    patch(&srv, &key, &boss, json!([{"op": "replace", "path": "displayName", "value": "New Boss"}])).scim(200);
    let emp2 = created["id"].as_str().unwrap();
    assert_eq!(manager_of(&srv, &key, emp2)["displayName"], json!("New Boss"));
}

#[test]
fn unknown_and_cross_org_managers_are_400_and_nothing_applies() {
    let (srv, key) = setup();
    let other = srv.org_with_key("globex", "rfc", "administrator");
    let foreign = user(&srv, &other, "foreign", Some("Foreign Boss"));
    let emp = user(&srv, &key, "emp", None);
    let e = patch(
        &srv,
        &key,
        &emp,
        json!([{"op": "replace", "path": "title", "value": "T"}, {"op": "add", "path": MANAGER_PATH, "value": foreign}]),
    )
    .error(400, Some("invalidValue"));
    assert!(e["detail"].as_str().unwrap().contains(&foreign), "{e}");
    let u = srv.req_as(&key, Method::GET, &format!("/Users/{emp}"), None).scim(200);
    assert!(u.get("title").is_none() && u.get(ENT_URN).is_none(), "nothing applied: {u}");
    patch(&srv, &key, &emp, json!([{"op": "add", "path": MANAGER_PATH, "value": "no-such-user"}]))
        .error(400, Some("invalidValue"));
    let body = json!({"schemas": [USER_URN], "userName": "x", ENT_URN: {"manager": foreign}});
    srv.req_as(&key, Method::POST, "/Users", Some(&body)).error(400, Some("invalidValue"));
}

#[test]
fn deleting_the_manager_clears_the_reference_and_changes_are_logged() {
    let (srv, key) = setup();
    let boss = user(&srv, &key, "boss", Some("Boss"));
    let emp = user(&srv, &key, "emp", None);
    patch(&srv, &key, &emp, json!([{"op": "add", "path": MANAGER_PATH, "value": boss}])).scim(200);
    // The change is in the provisioning log as a manager change.
    let store: Arc<dyn Store> = open_store(&srv.db_url());
    let org = store::read(store.as_ref(), |tx| tx.org_by_name("acme")).unwrap().unwrap();
    let events = store::read(store.as_ref(), |tx| tx.recent_events(org.id, 1)).unwrap();
    assert_eq!(events[0].event_type, "user_update");
    assert_eq!(
        events[0].changes,
        json!([{"field": format!("{ENT_URN}:manager"), "from": null, "to": {"value": boss}}])
    );
    assert_eq!(srv.req_as(&key, Method::DELETE, &format!("/Users/{boss}"), None).status, 204);
    let u = srv.req_as(&key, Method::GET, &format!("/Users/{emp}"), None).scim(200);
    assert!(u.get(ENT_URN).is_none(), "{u}");
}
