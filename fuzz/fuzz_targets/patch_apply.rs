//! Applies arbitrary PATCH requests to fixed users and groups. Input that is a
//! PATCH body (JSON) is applied as is; any other UTF-8 is used as a path with
//! every op and a few value shapes. `apply` must never panic, and a success
//! must be a normalised object that normalises to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scim::patch::PatchRequest;
use scim::schema::{normalize, ResourceType, ENTERPRISE_USER_SCHEMA_URN as ENT, GROUP, USER};
use serde_json::{json, Value};

fn check(request: &PatchRequest, resource: &Value, rt: &ResourceType) {
    let Ok(outcome) = request.apply(resource, rt) else { return };
    assert!(outcome.resource.is_object());
    let again = match normalize(rt, &outcome.resource) {
        Ok(n) => n.resource,
        Err(e) => panic!("PATCH output does not normalise: {e}: {}", outcome.resource),
    };
    assert_eq!(again, outcome.resource, "PATCH output is not normalised");
}

fuzz_target!(|data: &[u8]| {
    let user = json!({
        "schemas": [scim::schema::USER_SCHEMA_URN, ENT], "id": "u1", "userName": "jdoe", "active": true,
        "name": {"givenName": "Jane", "familyName": "Doe"},
        "emails": [{"value": "a@x", "type": "work", "primary": true}, {"value": "b@x", "type": "home"}],
        "roles": [{"value": "admin", "primary": true}],
        ENT: {"department": "Sales", "manager": {"value": "m1"}}
    });
    let group = json!({"id": "g1", "displayName": "G", "members": [{"value": "u1"}, {"value": "u2"}]});
    let requests: Vec<PatchRequest> = match serde_json::from_slice::<PatchRequest>(data) {
        Ok(r) => vec![r],
        Err(_) => {
            let Ok(path) = std::str::from_utf8(data) else { return };
            let values = [
                json!("x"),
                json!({"value": "u3", "type": "work", "primary": "True"}),
                json!([{"value": "u1"}]),
                json!(false),
            ];
            ["add", "Replace", "remove"]
                .iter()
                .flat_map(|op| {
                    values.iter().map(move |v| json!({"Operations": [{"op": op, "path": path, "value": v}]}))
                })
                .filter_map(|body| serde_json::from_value(body).ok())
                .collect()
        }
    };
    for request in &requests {
        check(request, &user, &USER);
        check(request, &group, &GROUP);
    }
});
