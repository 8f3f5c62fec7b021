//! Groups and membership end to end (wire spec §3, §7, §9; issue 4): every
//! group request shape of Entra ID, the Microsoft SCIM Validator and Okta,
//! through the real server.

mod common;
use common::*;
use directory::store;
use directory::Store;
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::Arc;

const GROUP_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ADSCIM_URN: &str = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group";

/// A server with an `rfc` organisation and its key.
struct Org {
    srv: TestServer,
    key: String,
    name: String,
}

impl Org {
    fn start() -> Org {
        let srv = TestServer::start();
        let key = srv.org_with_key("acme", "rfc", "administrator");
        Org { srv, key, name: "acme".into() }
    }
    fn req(&self, method: Method, path: &str, body: Option<&Value>) -> Resp {
        self.srv.req_as(&self.key, method, path, body)
    }
    fn get(&self, path: &str) -> Resp {
        self.req(Method::GET, path, None)
    }
    fn post(&self, path: &str, body: &Value) -> Resp {
        self.req(Method::POST, path, Some(body))
    }
    fn patch(&self, path: &str, ops: Value) -> Resp {
        self.req(Method::PATCH, path, Some(&patch_body(ops)))
    }
    fn user(&self, name: &str) -> String {
        let u =
            self.post("/Users", &json!({"schemas": [USER_URN], "userName": name, "displayName": format!("D {name}")}));
        u.scim(201)["id"].as_str().unwrap().to_string()
    }
    fn group(&self, name: &str, members: &[&str]) -> String {
        let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
        let g = self.post("/Groups", &json!({"schemas": [GROUP_URN], "displayName": name, "members": members}));
        g.scim(201)["id"].as_str().unwrap().to_string()
    }
    /// The member ids of a group, sorted.
    fn members(&self, gid: &str) -> Vec<String> {
        let g = self.get(&format!("/Groups/{gid}")).scim(200);
        let mut ids: Vec<String> =
            g["members"].as_array().unwrap().iter().map(|m| m["value"].as_str().unwrap().to_string()).collect();
        ids.sort();
        ids
    }
    /// The provisioning log of the organisation, oldest first.
    fn events(&self) -> Vec<directory::events::Event> {
        let store: Arc<dyn Store> = open_store(&self.srv.db_url());
        let org = store::read(store.as_ref(), |tx| tx.org_by_name(&self.name)).unwrap().unwrap();
        let mut ev = store::read(store.as_ref(), |tx| tx.recent_events(org.id, 10_000)).unwrap();
        ev.reverse();
        ev
    }
}

fn sorted(ids: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

#[test]
fn entra_create_lookup_rename_and_delete() {
    let o = Org::start();
    // Create with the ADSCIM URN and no members (wire spec §3).
    let body = json!({"schemas": [GROUP_URN, ADSCIM_URN], "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
                      "displayName": "displayName", "meta": {"resourceType": "Group"}});
    let r = o.post("/Groups", &body);
    let g = r.scim(201);
    let gid = g["id"].as_str().unwrap().to_string();
    assert_eq!(g["schemas"], json!([GROUP_URN]));
    assert_eq!(g["members"], json!([]));
    assert_eq!(g["externalId"], json!("8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159"));
    assert_eq!(g["meta"]["resourceType"], json!("Group"));
    assert_eq!(r.header("location").unwrap(), format!("{}/Groups/{gid}", o.srv.base()));
    // Lookups, always excluding members.
    let g = o.get(&format!("/Groups/{gid}?excludedAttributes=members")).scim(200);
    assert!(g.get("members").is_none(), "{g}");
    assert_eq!(g["displayName"], json!("displayName"));
    let l = o
        .get(&format!("/Groups?excludedAttributes=members&filter={}", enc("displayName eq \"displayName\"")))
        .scim(200);
    assert_eq!(l["totalResults"], json!(1));
    assert!(l["Resources"][0].get("members").is_none());
    // Different case, and without excludedAttributes.
    let l = o.get(&format!("/Groups?filter={}", enc("displayName eq \"DISPLAYNAME\""))).scim(200);
    assert_eq!(l["totalResults"], json!(1));
    assert_eq!(l["Resources"][0]["members"], json!([]));
    let l =
        o.get(&format!("/Groups?filter={}", enc("externalId eq \"8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159\""))).scim(200);
    assert_eq!(l["totalResults"], json!(1));
    let l = o.get(&format!("/Groups?filter={}", enc("displayName eq \"nope\""))).scim(200);
    assert_eq!(l["totalResults"], json!(0));
    assert_eq!(l["Resources"], json!([]));
    // Rename → 204, empty body.
    let r = o.patch(
        &format!("/Groups/{gid}"),
        json!([{"op": "Replace", "path": "displayName", "value": "updatedDisplayName"}]),
    );
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(r.text.is_empty());
    assert_eq!(o.get(&format!("/Groups/{gid}")).scim(200)["displayName"], json!("updatedDisplayName"));
    // Delete twice; unknown group.
    assert_eq!(o.req(Method::DELETE, &format!("/Groups/{gid}"), None).status, 204);
    o.req(Method::DELETE, &format!("/Groups/{gid}"), None).error(404, None);
    o.get(&format!("/Groups/{gid}")).error(404, None);
    o.req(Method::DELETE, "/Groups/does-not-exist", None).error(404, None);
}

#[test]
fn duplicate_display_name_in_another_case_is_409() {
    let o = Org::start();
    let a = o.group("Sales", &[]);
    let e = o.post("/Groups", &json!({"schemas": [GROUP_URN], "displayName": "SALES"})).error(409, Some("uniqueness"));
    assert!(e["detail"].as_str().unwrap().contains("SALES"), "{e}");
    let b = o.group("Marketing", &[]);
    // A rename onto another group's name, and a PUT too.
    o.patch(&format!("/Groups/{b}"), json!([{"op": "replace", "value": {"displayName": "sales"}}]))
        .error(409, Some("uniqueness"));
    o.req(Method::PUT, &format!("/Groups/{b}"), Some(&json!({"schemas": [GROUP_URN], "displayName": "Sales"})))
        .error(409, Some("uniqueness"));
    // Changing only the case of its own name is fine.
    let r = o.patch(&format!("/Groups/{a}"), json!([{"op": "replace", "path": "displayName", "value": "SALES"}]));
    assert_eq!(r.status, 204, "{}", r.text);
    // Another organisation may use the name.
    let other = o.srv.org_with_key("globex", "rfc", "administrator");
    let r = o.srv.req_as(&other, Method::POST, "/Groups", Some(&json!({"displayName": "Sales"})));
    r.scim(201);
}

#[test]
fn entra_add_and_legacy_remove_remove_only_the_listed_members() {
    let o = Org::start();
    let (a, b, c, d) = (o.user("a"), o.user("b"), o.user("c"), o.user("d"));
    let g = o.group("G", &[]);
    let path = format!("/Groups/{g}");
    let r = o.patch(&path, json!([{"op": "Add", "path": "members", "value": [
        {"$ref": null, "value": a}, {"$ref": null, "value": b}, {"$ref": null, "value": c}, {"$ref": null, "value": d}]}]));
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(o.members(&g), sorted(&[&a, &b, &c, &d]));
    // Legacy removal (no flag): only the listed members go.
    let r = o.patch(
        &path,
        json!([{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": b}, {"$ref": null, "value": d}]}]),
    );
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(o.members(&g), sorted(&[&a, &c]));
    // With aadOptscim062020 on the Tenant URL: the RFC filter form.
    let r = o.patch(
        &format!("{path}?aadOptscim062020"),
        json!([{"op": "remove", "path": format!("members[value eq \"{a}\"]")}]),
    );
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(o.members(&g), sorted(&[&c]));
    // Rendered members.
    let full = o.get(&path).scim(200);
    assert_eq!(
        full["members"],
        json!([{"value": c, "$ref": format!("{}/Users/{c}", o.srv.base()), "display": "D c", "type": "User"}])
    );
    // Remove of `members` without a value clears the group.
    o.patch(&path, json!([{"op": "add", "path": "members", "value": [{"value": a}]}]));
    let r = o.patch(&path, json!([{"op": "remove", "path": "members"}]));
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(o.members(&g).is_empty());
}

#[test]
fn validator_group_tests() {
    let o = Org::start();
    let u = o.user("vu");
    let u2 = o.user("vu2");
    let g = o.group("ValidatorGroup", &[]);
    let path = format!("/Groups/{g}");
    // Patch Group - Replace Attributes / Update Group displayName (no path).
    assert_eq!(o.patch(&path, json!([{"op": "replace", "value": {"externalId": "ext-9"}}])).status, 204);
    assert_eq!(o.patch(&path, json!([{"op": "replace", "value": {"displayName": "Renamed"}}])).status, 204);
    let got = o.get(&format!("{path}?excludedAttributes=members")).scim(200);
    assert_eq!((got["externalId"].clone(), got["displayName"].clone()), (json!("ext-9"), json!("Renamed")));
    // Add Member as a replace of members.
    assert_eq!(o.patch(&path, json!([{"op": "replace", "path": "members", "value": [{"value": u}]}])).status, 204);
    assert_eq!(o.members(&g), vec![u.clone()]);
    assert_eq!(o.patch(&path, json!([{"op": "replace", "path": "members", "value": [{"value": u2}]}])).status, 204);
    assert_eq!(o.members(&g), vec![u2.clone()]);
    // Remove Member.
    let r = o.patch(&path, json!([{"op": "remove", "path": format!("members[value eq \"{u2}\"]")}]));
    assert_eq!(r.status, 204);
    assert!(o.members(&g).is_empty());
    // Multiple ops on the same attribute: add then remove of one member = no change.
    let r = o.patch(
        &path,
        json!([
            {"op": "add", "path": "members", "value": [{"value": u}]},
            {"op": "remove", "path": format!("members[value eq \"{u}\"]")}
        ]),
    );
    assert_eq!(r.status, 204);
    assert!(o.members(&g).is_empty());
    // Pagination of groups.
    for i in 0..4 {
        o.group(&format!("P{i}"), &[]);
    }
    let l = o.get("/Groups?startIndex=2&count=2&excludedAttributes=members").scim(200);
    assert_eq!(
        (l["totalResults"].clone(), l["startIndex"].clone(), l["itemsPerPage"].clone()),
        (json!(5), json!(2), json!(2))
    );
    let l = o.get("/Groups?sortBy=displayName&sortOrder=descending&attributes=displayName").scim(200);
    assert_eq!(l["Resources"][0]["displayName"], json!("Renamed"));
    assert!(l["Resources"][0].get("members").is_none());
    // POST /Groups/.search.
    let s = o
        .post("/Groups/.search", &json!({"filter": "displayName eq \"p1\"", "excludedAttributes": ["members"]}))
        .scim(200);
    assert_eq!(s["totalResults"], json!(1));
}

#[test]
fn okta_rename_with_id_membership_and_full_replace() {
    let o = Org::start();
    let (a, b, c) = (o.user("oa"), o.user("ob"), o.user("oc"));
    // Okta creates with "members": [].
    let g = o.post("/Groups", &json!({"schemas": [GROUP_URN], "displayName": "Test SCIMv2", "members": []})).scim(201);
    let gid = g["id"].as_str().unwrap().to_string();
    let path = format!("/Groups/{gid}");
    o.patch(&path, json!([{"op": "add", "path": "members", "value": [{"value": a, "display": "oa@okta.local"}]}]));
    // Rename whose value repeats the group's own id.
    let r = o.patch(&path, json!([{"op": "replace", "value": {"id": gid, "displayName": "Test SCIMv2 renamed"}}]));
    assert_eq!(r.status, 204, "{}", r.text);
    // A foreign id in the value is refused.
    o.patch(&path, json!([{"op": "replace", "value": {"id": "other", "displayName": "x"}}]))
        .error(400, Some("mutability"));
    // Membership change: remove one, add one.
    let r = o.patch(
        &path,
        json!([
            {"op": "remove", "path": format!("members[value eq \"{a}\"]")},
            {"op": "add", "path": "members", "value": [{"value": b, "display": "ob@okta.local"}]}
        ]),
    );
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(o.members(&gid), vec![b.clone()]);
    // Full replace, answered with the group when asked for attributes.
    let r = o.patch(
        &format!("{path}?attributes=members,displayName"),
        json!([{"op": "replace", "path": "members", "value": [{"value": a}, {"value": c}]}]),
    );
    let body = r.scim(200);
    assert_eq!(body["displayName"], json!("Test SCIMv2 renamed"));
    assert_eq!(body["members"].as_array().unwrap().len(), 2);
    assert_eq!(o.members(&gid), sorted(&[&a, &c]));
    // excludedAttributes also asks for a body.
    let r = o.patch(
        &format!("{path}?excludedAttributes=members"),
        json!([{"op": "replace", "path": "externalId", "value": "okta-1"}]),
    );
    let body = r.scim(200);
    assert!(body.get("members").is_none());
    assert_eq!(body["externalId"], json!("okta-1"));
    // PUT replaces attributes and members.
    let put = json!({"schemas": [GROUP_URN], "displayName": "Put Name", "members": [{"value": b}]});
    let r = o.req(Method::PUT, &path, Some(&put)).scim(200);
    assert_eq!(r["displayName"], json!("Put Name"));
    assert!(r.get("externalId").is_none());
    assert_eq!(o.members(&gid), vec![b.clone()]);
    // Postman forms: bare string value, an extra "name" field.
    let r = o.req(
        Method::PATCH,
        &path,
        Some(&json!({"schemas": [PATCH_URN], "Operations": [
        {"name": "addMember", "op": "add", "path": "members", "value": c}]})),
    );
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(o.members(&gid), sorted(&[&b, &c]));
}

#[test]
fn unknown_and_cross_org_members_are_refused_and_nothing_applies() {
    let o = Org::start();
    let a = o.user("ma");
    let other_key = o.srv.org_with_key("globex", "rfc", "administrator");
    let foreign = o.srv.req_as(&other_key, Method::POST, "/Users", Some(&json!({"userName": "f"}))).scim(201);
    let foreign = foreign["id"].as_str().unwrap().to_string();
    let g = o.group("G", &[]);
    let path = format!("/Groups/{g}");
    let e = o
        .patch(
            &path,
            json!([
                {"op": "replace", "path": "displayName", "value": "Changed"},
                {"op": "add", "path": "members", "value": [{"value": a}, {"value": foreign}]}
            ]),
        )
        .error(400, Some("invalidValue"));
    assert!(e["detail"].as_str().unwrap().contains(&foreign), "{e}");
    assert!(o.members(&g).is_empty(), "nothing of the request is applied");
    assert_eq!(o.get(&path).scim(200)["displayName"], json!("G"));
    o.patch(&path, json!([{"op": "add", "path": "members", "value": [{"value": "no-such-user"}]}]))
        .error(400, Some("invalidValue"));
    o.patch(&path, json!([{"op": "replace", "path": "members", "value": [{"value": a}, {"value": "nope"}]}]))
        .error(400, Some("invalidValue"));
    // On create, too.
    o.post("/Groups", &json!({"displayName": "H", "members": [{"value": foreign}]})).error(400, Some("invalidValue"));
    assert_eq!(o.get(&format!("/Groups?filter={}", enc("displayName eq \"H\""))).scim(200)["totalResults"], json!(0));
    // Another organisation's group is not found.
    o.srv.req_as(&other_key, Method::GET, &path, None).error(404, None);
    let r =
        o.srv.req_as(&other_key, Method::PATCH, &path, Some(&patch_body(json!([{"op": "remove", "path": "members"}]))));
    r.error(404, None);
}

#[test]
fn membership_filters_user_groups_and_user_deletion() {
    let o = Org::start();
    let (a, b) = (o.user("ua"), o.user("ub"));
    let g1 = o.group("Engineering", &[&a, &b]);
    let g2 = o.group("All", &[&a]);
    // Entra's membership check.
    let q = |f: &str| o.get(&format!("/Groups?excludedAttributes=members&filter={}", enc(f))).scim(200);
    assert_eq!(q(&format!("id eq \"{g1}\" and members eq \"{b}\""))["totalResults"], json!(1));
    assert_eq!(q(&format!("id eq \"{g2}\" and members eq \"{b}\""))["totalResults"], json!(0));
    assert_eq!(q(&format!("members[value eq \"{a}\"]"))["totalResults"], json!(2));
    assert_eq!(q(&format!("members.value eq \"{b}\""))["totalResults"], json!(1));
    assert_eq!(q(&format!("members eq \"{b}\" or displayName eq \"All\""))["totalResults"], json!(2));
    // The user's read-only groups attribute, on GET and list.
    let u = o.get(&format!("/Users/{a}")).scim(200);
    let groups = u["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2);
    assert_eq!(
        groups[0],
        json!({"value": g2, "$ref": format!("{}/Groups/{g2}", o.srv.base()), "display": "All", "type": "direct"})
    );
    let l = o.get(&format!("/Users?filter={}", enc("userName eq \"ub\""))).scim(200);
    assert_eq!(l["Resources"][0]["groups"][0]["value"], json!(g1));
    assert!(o.get(&format!("/Users/{a}?excludedAttributes=groups")).scim(200).get("groups").is_none());
    // groups is read-only: writes to it are ignored, not errors.
    let r = o.req(
        Method::PATCH,
        &format!("/Users/{b}"),
        Some(&patch_body(json!([{"op": "add", "path": "displayName", "value": "B"}]))),
    );
    assert_eq!(r.scim(200)["groups"][0]["display"], json!("Engineering"));
    // Deleting a user removes them from every group.
    assert_eq!(o.req(Method::DELETE, &format!("/Users/{a}"), None).status, 204);
    assert_eq!(o.members(&g1), vec![b.clone()]);
    assert!(o.members(&g2).is_empty());
    // Deleting a group leaves its users.
    assert_eq!(o.req(Method::DELETE, &format!("/Groups/{g1}"), None).status, 204);
    assert!(o.get(&format!("/Users/{b}")).scim(200).get("groups").is_none());
}

#[test]
fn provisioning_log_records_group_events() {
    let o = Org::start();
    let users: Vec<String> = (0..500).map(|i| o.user(&format!("l{i}"))).collect();
    let g = o.group("Logged", &[]);
    let path = format!("/Groups/{g}");
    let before = o.events().len();
    // Adding 500 members in one PATCH writes one entry listing them.
    let value: Vec<Value> = users.iter().map(|u| json!({"value": u})).collect();
    o.patch(&path, json!([{"op": "add", "path": "members", "value": value}]));
    let ev = o.events();
    assert_eq!(ev.len(), before + 1);
    let add = ev.last().unwrap();
    assert_eq!(add.event_type, "group_member_add");
    assert_eq!(add.resource_type, "Group");
    assert_eq!(add.changes[0]["to"].as_array().unwrap().len(), 500);
    assert_eq!(o.members(&g).len(), 500);
    // A no-op PATCH writes nothing.
    o.patch(&path, json!([{"op": "add", "path": "members", "value": [{"value": users[0]}]}]));
    o.patch(&path, json!([{"op": "replace", "path": "displayName", "value": "Logged"}]));
    assert_eq!(o.events().len(), before + 1);
    o.patch(&path, json!([{"op": "Remove", "path": "members", "value": [{"value": users[1]}]}, {"op": "replace", "path": "displayName", "value": "Logged2"}]));
    let ev = o.events();
    let kinds: Vec<&str> = ev[before + 1..].iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(kinds, vec!["group_update", "group_member_remove"]);
    assert_eq!(ev.last().unwrap().changes, json!([{"field": "members", "from": [users[1]], "to": null}]));
    // A failed request is logged with its status.
    o.patch(&path, json!([{"op": "add", "path": "members", "value": [{"value": "ghost"}]}]));
    let last = o.events().pop().unwrap();
    assert_eq!((last.event_type.as_str(), last.status), ("group_update", 400));
    assert!(last.error.unwrap().contains("ghost"));
    assert_eq!(o.req(Method::DELETE, &path, None).status, 204);
    let kinds: Vec<String> = o.events().iter().map(|e| e.event_type.clone()).collect();
    assert!(kinds.contains(&"group_create".to_string()) && kinds.contains(&"group_delete".to_string()), "{kinds:?}");
}

#[test]
fn discovery_announces_group_and_test_connection_probe_is_empty() {
    let o = Org::start();
    let rt = o.get("/ResourceTypes").scim(200);
    let names: Vec<&str> = rt["Resources"].as_array().unwrap().iter().filter_map(|r| r["name"].as_str()).collect();
    assert!(names.contains(&"Group"), "{rt}");
    o.get("/ResourceTypes/Group").scim(200);
    o.get(&format!("/Schemas/{GROUP_URN}")).scim(200);
    // Entra's Test Connection probe for groups.
    let l = o
        .get(&format!("/Groups?excludedAttributes=members&filter={}", enc(&format!("displayName eq \"{}\"", guid()))))
        .scim(200);
    assert_eq!(
        l,
        json!({"schemas": [LIST_URN], "totalResults": 0, "Resources": [], "startIndex": 1, "itemsPerPage": 0})
    );
    // Root search covers both resource types: users first, then groups.
    let u0 = o.user("Searchable");
    let g0 = o.group("Searchable", &[]);
    let s =
        o.post("/.search", &json!({"filter": "userName eq \"searchable\" or displayName eq \"searchable\""})).scim(200);
    assert_eq!(s["totalResults"], json!(2), "{s}");
    assert_eq!((s["Resources"][0]["id"].clone(), s["Resources"][1]["id"].clone()), (json!(u0), json!(g0)));
    let s =
        o.post("/.search", &json!({"filter": "displayName eq \"searchable\"", "startIndex": 1, "count": 1})).scim(200);
    assert_eq!((s["totalResults"].clone(), s["Resources"].as_array().unwrap().len()), (json!(1), 1));
    let s = o
        .post(
            "/.search",
            &json!({"filter": "userName eq \"searchable\" or displayName eq \"searchable\"", "startIndex": 2}),
        )
        .scim(200);
    assert_eq!(s["Resources"][0]["id"], json!(g0), "{s}");
    // A member without a displayName has no `display`.
    let bare = o.post("/Users", &json!({"userName": "bare"})).scim(201)["id"].as_str().unwrap().to_string();
    let gb = o.group("Bare", &[&bare]);
    assert_eq!(o.get(&format!("/Groups/{gb}")).scim(200)["members"][0].get("display"), None);
    // displayName is required.
    o.post("/Groups", &json!({"schemas": [GROUP_URN]})).error(400, Some("invalidValue"));
    // An exotic member filter goes through the full path and still works.
    let u = o.user("ex");
    let g = o.group("Exotic", &[&u]);
    let r = o.patch(&format!("/Groups/{g}"), json!([{"op": "remove", "path": "members[type eq \"User\"]"}]));
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(o.members(&g).is_empty());
}
