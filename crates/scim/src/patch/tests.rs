//! PATCH tests: every body of `entra-okta-wire.md`, the error cases, and a
//! property test that `apply` never panics.

use super::*;
use crate::schema::{ENTERPRISE_USER_SCHEMA_URN as ENT, GROUP, USER};
use crate::ScimType;
use serde_json::json;

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn patch(resource: &Value, rt: &ResourceType, ops: Value) -> Result<PatchOutcome, ScimError> {
    let request: PatchRequest = serde_json::from_value(json!({"schemas": [PATCH_OP], "Operations": ops})).unwrap();
    request.apply(resource, rt)
}

fn ok(resource: &Value, rt: &ResourceType, ops: Value) -> PatchOutcome {
    match patch(resource, rt, ops) {
        Ok(o) => o,
        Err(e) => panic!("PATCH failed: {e}"),
    }
}

fn err(resource: &Value, rt: &ResourceType, ops: Value) -> ScimError {
    match patch(resource, rt, ops) {
        Ok(o) => panic!("PATCH succeeded: {}", o.resource),
        Err(e) => e,
    }
}

/// A stored user, as the server keeps it (with id, schemas and meta).
fn user() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENT],
        "id": "u1",
        "meta": {"resourceType": "User", "created": "2026-01-01T00:00:00Z"},
        "userName": "jdoe@contoso.com",
        "externalId": "jdoe",
        "active": true,
        "displayName": "Jane Doe",
        "name": {"formatted": "Jane Doe", "familyName": "Doe", "givenName": "Jane"},
        ENT: {"department": "R&D", "employeeNumber": "701984"}
    })
}

fn group(members: &[&str]) -> Value {
    let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "id": "g1",
           "displayName": "Sales", "externalId": "8aa1", "members": members})
}

fn members(outcome: &PatchOutcome) -> Value {
    outcome.resource.get("members").cloned().unwrap_or(json!([]))
}

// ---------------------------------------------------------------- Entra, no flag

#[test]
fn patch_entra_without_flag_one_op_per_attribute() {
    let out = ok(
        &user(),
        &USER,
        json!([
          {"op":"Replace","path":"displayName","value":"Pvlo"},
          {"op":"Replace","path":"emails[type eq \"work\"].value","value":"TestBcwqnm@test.microsoft.com"},
          {"op":"Replace","path":"name.givenName","value":"Gtfd"},
          {"op":"Replace","path":"name.familyName","value":"Pkqf"},
          {"op":"Replace","path":"externalId","value":"Eqpj"},
          {"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber","value":"Eqpj"}
        ]),
    );
    assert!(out.changed);
    assert_eq!(
        out.resource,
        json!({
            "externalId": "Eqpj", "userName": "jdoe@contoso.com", "active": true, "displayName": "Pvlo",
            "name": {"formatted": "Jane Doe", "familyName": "Pkqf", "givenName": "Gtfd"},
            "emails": [{"type": "work", "value": "TestBcwqnm@test.microsoft.com"}],
            ENT: {"department": "R&D", "employeeNumber": "Eqpj"}
        })
    );
}

#[test]
fn patch_entra_filtered_paths_update_existing_elements_case_insensitively() {
    let mut u = user();
    u["emails"] = json!([{"value": "a@x", "type": "work", "primary": true}, {"value": "b@x", "type": "other"}]);
    u["addresses"] = json!([{"type": "work", "postalCode": "1"}]);
    let out = ok(
        &u,
        &USER,
        json!([
          {"op":"Replace","path":"emails[type eq \"other\"].Value","value":"c@x"},
          {"op":"Replace","path":"emails[type eq \"work\"].value","value":"d@x"},
          {"op":"Add","path":"addresses[type eq \"work\"].postalCode","value":"98052"},
          {"op":"Add","path":"addresses[type eq \"other\"].Formatted","value":"1 Other St"},
          {"op":"Add","path":"phoneNumbers[type eq \"mobile\"].value","value":"+1 425 555 0101"}
        ]),
    );
    assert_eq!(
        out.resource["emails"],
        json!([{"value": "d@x", "type": "work", "primary": true}, {"value": "c@x", "type": "other"}])
    );
    assert_eq!(
        out.resource["addresses"],
        json!([{"type": "work", "postalCode": "98052"}, {"type": "other", "formatted": "1 Other St"}])
    );
    assert_eq!(out.resource["phoneNumbers"], json!([{"type": "mobile", "value": "+1 425 555 0101"}]));
}

#[test]
fn patch_entra_add_nickname_and_replace_username() {
    let out = ok(&user(), &USER, json!([{"op":"Add","path":"nickName","value":"Babs"}]));
    assert_eq!(out.resource["nickName"], "Babs");
    assert!(out.changed);
    let out = ok(&user(), &USER, json!([{"op":"Replace","path":"userName","value":"5b50@testuser.com"}]));
    assert_eq!(out.resource["userName"], "5b50@testuser.com");
    assert!(out.resource.get("id").is_none() && out.resource.get("meta").is_none());
}

#[test]
fn patch_entra_disable_and_reenable_in_every_spelling() {
    for v in [json!("False"), json!("false"), json!(false)] {
        let out = ok(&user(), &USER, json!([{"op":"Replace","path":"active","value":v}]));
        assert_eq!(out.resource["active"], json!(false), "{v}");
        assert!(out.changed);
    }
    let mut disabled = user();
    disabled["active"] = json!(false);
    for v in [json!("True"), json!("true"), json!(true)] {
        let out = ok(&disabled, &USER, json!([{"op":"Replace","path":"active","value":v}]));
        assert_eq!(out.resource["active"], json!(true), "{v}");
        assert!(out.changed);
    }
    // Disabling a disabled user changes nothing.
    let out = ok(&disabled, &USER, json!([{"op":"Replace","path":"active","value":"False"}]));
    assert!(!out.changed);
}

// ---------------------------------------------------------------- Entra, aadOptscim062020

#[test]
fn patch_entra_flag_no_path_replace_with_dotted_and_urn_keys() {
    let out = ok(
        &user(),
        &USER,
        json!([{"op":"replace","value":{"displayName":"Bjfe","name.givenName":"Kkom","name.familyName":"Unua",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber":"Aklq"}}]),
    );
    assert_eq!(
        out.resource,
        json!({
            "externalId": "jdoe", "userName": "jdoe@contoso.com", "active": true, "displayName": "Bjfe",
            "name": {"formatted": "Jane Doe", "familyName": "Unua", "givenName": "Kkom"},
            ENT: {"department": "R&D", "employeeNumber": "Aklq"}
        })
    );
    assert!(out.ignored.is_empty(), "{:?}", out.ignored);
}

#[test]
fn patch_entra_flag_lowercase_ops() {
    let out = ok(
        &user(),
        &USER,
        json!([{"op":"replace","path":"active","value":false}, {"op":"add","path":"nickName","value":"Babs"}]),
    );
    assert_eq!(out.resource["active"], json!(false));
    assert_eq!(out.resource["nickName"], json!("Babs"));
}

#[test]
fn patch_entra_flag_remove_member_by_filter() {
    let g = group(&["7f4bc1a3-285e-48ae-8202-5accb43efb0e", "u2"]);
    let out =
        ok(&g, &GROUP, json!([{"op":"remove","path":"members[value eq \"7f4bc1a3-285e-48ae-8202-5accb43efb0e\"]"}]));
    assert_eq!(out.resource, json!({"externalId": "8aa1", "displayName": "Sales", "members": [{"value": "u2"}]}));
    // Removing a member who is not there is not an error, and changes nothing.
    let out = ok(&g, &GROUP, json!([{"op":"remove","path":"members[value eq \"nobody\"]"}]));
    assert!(!out.changed);
}

// ---------------------------------------------------------------- Microsoft SCIM Validator

#[test]
fn patch_validator_replace_attributes_verbose() {
    let f = |attr: &str, ty: &str, sub: &str| format!("{attr}[type eq \"{ty}\"].{sub}");
    let ext = |a: &str| format!("{ENT}:{a}");
    let ops = json!([
        {"op":"replace","path":"userName","value":"dale.mohr@romaguera.uk"},
        {"op":"replace","path":"displayName","value":"Dale"},
        {"op":"replace","path":"nickName","value":"Dal"},
        {"op":"replace","path":"title","value":"CEO"},
        {"op":"replace","path":"userType","value":"Employee"},
        {"op":"replace","path":"preferredLanguage","value":"de-DE"},
        {"op":"replace","path":"locale","value":"de-DE"},
        {"op":"replace","path":"timezone","value":"America/Guayaquil"},
        {"op":"replace","path":"profileUrl","value":"https://example.com/dale"},
        {"op":"replace","path":"active","value":"True"},
        {"op":"replace","path":"externalId","value":"dale"},
        {"op":"replace","path":"name.givenName","value":"Dale"},
        {"op":"replace","path":"name.familyName","value":"Mohr"},
        {"op":"replace","path":"name.formatted","value":"Dale Mohr"},
        {"op":"replace","path":"name.middleName","value":"M"},
        {"op":"replace","path":"name.honorificPrefix","value":"Dr"},
        {"op":"replace","path":"name.honorificSuffix","value":"III"},
        {"op":"replace","path":f("emails","work","value"),"value":"dale@work.example"},
        {"op":"replace","path":f("emails","work","primary"),"value":"True"},
        {"op":"replace","path":f("phoneNumbers","work","value"),"value":"1"},
        {"op":"replace","path":f("phoneNumbers","mobile","value"),"value":"2"},
        {"op":"replace","path":f("phoneNumbers","fax","value"),"value":"3"},
        {"op":"replace","path":f("addresses","work","formatted"),"value":"1 Main St"},
        {"op":"replace","path":f("addresses","work","streetAddress"),"value":"1 Main"},
        {"op":"replace","path":f("addresses","work","locality"),"value":"Redmond"},
        {"op":"replace","path":f("addresses","work","region"),"value":"WA"},
        {"op":"replace","path":f("addresses","work","postalCode"),"value":"98052"},
        {"op":"replace","path":f("addresses","work","country"),"value":"US"},
        {"op":"replace","path":"roles[primary eq \"True\"].value","value":"Admin"},
        {"op":"replace","path":"roles[primary eq \"True\"].display","value":"Administrator"},
        {"op":"replace","path":"roles[primary eq \"True\"].type","value":"WindowsAzureActiveDirectoryRole"},
        {"op":"replace","path":ext("employeeNumber"),"value":"42"},
        {"op":"replace","path":ext("costCenter"),"value":"CC"},
        {"op":"replace","path":ext("organization"),"value":"Org"},
        {"op":"replace","path":ext("division"),"value":"Div"},
        {"op":"replace","path":ext("department"),"value":"Dep"}
    ]);
    assert_eq!(ops.as_array().map(Vec::len), Some(36));
    let out = ok(&user(), &USER, ops);
    assert_eq!(
        out.resource,
        json!({
            "externalId": "dale", "userName": "dale.mohr@romaguera.uk",
            "name": {"formatted": "Dale Mohr", "familyName": "Mohr", "givenName": "Dale", "middleName": "M",
                     "honorificPrefix": "Dr", "honorificSuffix": "III"},
            "displayName": "Dale", "nickName": "Dal", "profileUrl": "https://example.com/dale", "title": "CEO",
            "userType": "Employee", "preferredLanguage": "de-DE", "locale": "de-DE", "timezone": "America/Guayaquil",
            "active": true,
            "emails": [{"type": "work", "value": "dale@work.example", "primary": true}],
            "phoneNumbers": [{"type": "work", "value": "1"}, {"type": "mobile", "value": "2"}, {"type": "fax", "value": "3"}],
            "addresses": [{"type": "work", "formatted": "1 Main St", "streetAddress": "1 Main", "locality": "Redmond",
                           "region": "WA", "postalCode": "98052", "country": "US"}],
            "roles": [{"primary": true, "value": "Admin", "display": "Administrator", "type": "WindowsAzureActiveDirectoryRole"}],
            ENT: {"employeeNumber": "42", "costCenter": "CC", "organization": "Org", "division": "Div", "department": "Dep"}
        })
    );
}

#[test]
fn patch_validator_multiple_ops_on_same_attribute() {
    let out = ok(
        &user(),
        &USER,
        json!([
            {"op":"replace","path":"name.givenName","value":"A"},
            {"op":"replace","path":"name.givenName","value":"B"},
            {"op":"add","path":"emails[type eq \"work\"].value","value":"first@x"},
            {"op":"replace","path":"emails[type eq \"work\"].value","value":"second@x"},
            {"op":"replace","value":{"name.givenName":"C","name.familyName":"D"}}
        ]),
    );
    assert_eq!(out.resource["name"], json!({"formatted": "Jane Doe", "givenName": "C", "familyName": "D"}));
    assert_eq!(out.resource["emails"], json!([{"type": "work", "value": "second@x"}]));
}

#[test]
fn patch_validator_no_path_dotted_keys() {
    let out =
        ok(&user(), &USER, json!([{"op":"replace","value":{"name.givenName":"Oswaldo","name.familyName":"Rylan"}}]));
    assert_eq!(out.resource["name"], json!({"formatted": "Jane Doe", "givenName": "Oswaldo", "familyName": "Rylan"}));
}

#[test]
fn patch_validator_manager_add_replace_remove() {
    let path = format!("{ENT}:manager");
    let out = ok(&user(), &USER, json!([{"op":"add","path":path,"value":{"value":"XYMKVVRYDIOO"}}]));
    assert_eq!(
        out.resource[ENT],
        json!({"department": "R&D", "employeeNumber": "701984", "manager": {"value": "XYMKVVRYDIOO"}})
    );
    let with_manager = out.resource.clone();
    let out = ok(&with_manager, &USER, json!([{"op":"replace","path":path,"value":{"value":"OTHER"}}]));
    assert_eq!(out.resource[ENT]["manager"], json!({"value": "OTHER"}));
    let out = ok(&with_manager, &USER, json!([{"op":"replace","path":path,"value":{"value":""}}]));
    assert_eq!(out.resource[ENT], json!({"department": "R&D", "employeeNumber": "701984"}));
    assert!(out.changed);
}

#[test]
fn patch_validator_group_ops() {
    let g = group(&["u1"]);
    // Add Member (as replace of the list).
    let out = ok(&g, &GROUP, json!([{"op":"replace","path":"members","value":[{"value":"u9"}]}]));
    assert_eq!(members(&out), json!([{"value": "u9"}]));
    // Replace attributes / rename, no path.
    let out = ok(&g, &GROUP, json!([{"op":"replace","value":{"externalId":"new-ext"}}]));
    assert_eq!(out.resource, json!({"externalId": "new-ext", "displayName": "Sales", "members": [{"value": "u1"}]}));
    let out = ok(&g, &GROUP, json!([{"op":"replace","value":{"displayName":"Sales EMEA"}}]));
    assert_eq!(out.resource["displayName"], "Sales EMEA");
    // Add then remove of one member in one request.
    let out = ok(
        &g,
        &GROUP,
        json!([{"op":"add","path":"members","value":[{"value":"u5"}]},
               {"op":"remove","path":"members[value eq \"u5\"]"}]),
    );
    assert_eq!(members(&out), json!([{"value": "u1"}]));
    assert!(!out.changed);
}

// ---------------------------------------------------------------- Okta

#[test]
fn patch_okta_deactivate_without_path() {
    let out = ok(&user(), &USER, json!([{"op":"replace","value":{"active":false}}]));
    assert_eq!(out.resource["active"], json!(false));
    assert!(out.changed);
}

#[test]
fn patch_okta_group_rename_with_own_id() {
    let g = group(&[]);
    let out = ok(&g, &GROUP, json!([{"op":"replace","value":{"id":"g1","displayName":"Test SCIMv2"}}]));
    assert_eq!(out.resource, json!({"externalId": "8aa1", "displayName": "Test SCIMv2"}));
    let out = ok(&g, &GROUP, json!([{"op":"replace","value":{"id":"g1","displayName":"Sales"}}]));
    assert!(!out.changed);
    let e = err(&g, &GROUP, json!([{"op":"replace","value":{"id":"other","displayName":"X"}}]));
    assert_eq!(e.scim_type, Some(ScimType::Mutability));
    assert!(e.detail.contains("\"id\""), "{}", e.detail);
}

#[test]
fn patch_okta_membership_remove_by_filter_and_add() {
    let g = group(&["89bb", "keep"]);
    let out = ok(
        &g,
        &GROUP,
        json!([{"op":"remove","path":"members[value eq \"89bb\"]"},
               {"op":"add","path":"members","value":[{"value":"23a3","display":"test.user@okta.local"}]}]),
    );
    assert_eq!(members(&out), json!([{"value": "keep"}, {"value": "23a3"}]));
}

#[test]
fn patch_okta_full_member_replace() {
    let g = group(&["a", "b"]);
    let out = ok(
        &g,
        &GROUP,
        json!([{"op":"replace","path":"members","value":[{"value":"b","display":"B"},{"value":"c","display":"C"}]}]),
    );
    assert_eq!(members(&out), json!([{"value": "b"}, {"value": "c"}]));
    let out = ok(&g, &GROUP, json!([{"op":"replace","path":"members","value":[]}]));
    assert_eq!(out.resource, json!({"externalId": "8aa1", "displayName": "Sales"}));
}

// ---------------------------------------------------------------- Manager forms

#[test]
fn patch_manager_every_form() {
    let path = format!("{ENT}:manager");
    let expect = json!({"department": "R&D", "employeeNumber": "701984", "manager": {"value": "m1"}});
    let forms = [
        json!([{"op":"add","path":path,"value":"m1"}]),
        json!([{"op":"Add","path":path,"value":{"value":"m1"}}]),
        json!([{"op":"Replace","path":path,"value":[{"$ref":null,"value":"m1"}]}]),
        json!([{"op":"Add","path":"manager","value":[{"$ref":"http://x/scim/Users/m1","value":"m1"}]}]),
        json!([{"op":"replace","path":format!("{ENT}:manager.value"),"value":"m1"}]),
        json!([{"op":"replace","value":{format!("{ENT}:manager"):{"value":"m1"}}}]),
        json!([{"op":"replace","value":{ENT:{"Manager":{"Value":"m1"}}}}]),
        json!([{"op":"replace","path":ENT,"value":{"manager":"m1"}}]),
    ];
    for ops in forms {
        let out = ok(&user(), &USER, ops.clone());
        assert_eq!(out.resource[ENT], expect, "{ops}");
    }
    let mut managed = user();
    managed[ENT]["manager"] = json!({"value": "m0"});
    let cleared = json!({"department": "R&D", "employeeNumber": "701984"});
    let clears = [
        json!([{"op":"replace","path":path,"value":{"value":""}}]),
        json!([{"op":"Remove","path":path}]),
        json!([{"op":"remove","path":"manager"}]),
        json!([{"op":"replace","path":path,"value":""}]),
        json!([{"op":"replace","value":{format!("{ENT}:manager"):{"value":""}}}]),
    ];
    for ops in clears {
        let out = ok(&managed, &USER, ops.clone());
        assert_eq!(out.resource[ENT], cleared, "{ops}");
        assert!(out.changed);
    }
    // Replaced as a whole: the old `$ref` does not survive a new value.
    managed[ENT]["manager"] = json!({"value": "m0", "$ref": "http://x/Users/m0"});
    let out = ok(&managed, &USER, json!([{"op":"replace","path":path,"value":{"value":"m2"}}]));
    assert_eq!(out.resource[ENT]["manager"], json!({"value": "m2"}));
}

// ---------------------------------------------------------------- Group members, Entra default and Postman

#[test]
fn patch_entra_remove_members_with_value_array_removes_only_those() {
    let g = group(&["f648", "u2", "u3"]);
    let out =
        ok(&g, &GROUP, json!([{"op":"Remove","path":"members","value":[{"$ref":null,"value":"f648"},{"value":"u3"}]}]));
    assert_eq!(members(&out), json!([{"value": "u2"}]));
    // A value list that names no member removes nobody.
    let out = ok(&g, &GROUP, json!([{"op":"Remove","path":"members","value":[{"$ref":null,"value":""}]}]));
    assert!(!out.changed);
}

#[test]
fn patch_entra_add_members_with_null_ref_skips_existing() {
    let g = group(&["u1"]);
    let out = ok(
        &g,
        &GROUP,
        json!([{"op":"Add","path":"members","value":[{"$ref":null,"value":"u1"},{"$ref":null,"value":"f648"}]}]),
    );
    assert_eq!(members(&out), json!([{"value": "u1"}, {"value": "f648"}]));
    let out = ok(&g, &GROUP, json!([{"op":"Add","path":"members","value":[{"$ref":null,"value":"u1"}]}]));
    assert!(!out.changed);
}

#[test]
fn patch_remove_members_without_value_clears_all() {
    let out = ok(&group(&["a", "b"]), &GROUP, json!([{"op":"remove","path":"members"}]));
    assert_eq!(out.resource, json!({"externalId": "8aa1", "displayName": "Sales"}));
    assert!(out.changed);
}

#[test]
fn patch_postman_member_adds() {
    let g = group(&[]);
    let out = ok(
        &g,
        &GROUP,
        json!([{"op":"add","path":"members","name":"addMember","value":[{"displayName":"x","value":"u7"}]}]),
    );
    assert_eq!(members(&out), json!([{"value": "u7"}]));
    assert_eq!(out.ignored, vec!["members.displayName".to_string()]);
    let out = ok(&g, &GROUP, json!([{"op":"add","path":"members","value":[{"name":"addMember","value":"u7"}]}]));
    assert_eq!(members(&out), json!([{"value": "u7"}]));
    let out = ok(&g, &GROUP, json!([{"op":"add","path":"members","value":"u8"}]));
    assert_eq!(members(&out), json!([{"value": "u8"}]));
    let out = ok(&g, &GROUP, json!([{"op":"add","path":"members","value":["u8", "u9"]}]));
    assert_eq!(members(&out), json!([{"value": "u8"}, {"value": "u9"}]));
}

#[test]
fn patch_remove_with_value_on_other_multi_valued_attribute() {
    let mut u = user();
    u["emails"] = json!([{"value": "a@x", "type": "work"}, {"value": "b@x", "type": "home"}]);
    let out = ok(&u, &USER, json!([{"op":"Remove","path":"emails","value":[{"value":"b@x"}]}]));
    assert_eq!(out.resource["emails"], json!([{"value": "a@x", "type": "work"}]));
}

// ---------------------------------------------------------------- Semantics

#[test]
fn patch_primary_moves_to_the_new_value() {
    let mut u = user();
    u["emails"] = json!([{"value": "a@x", "type": "work", "primary": true}]);
    let out =
        ok(&u, &USER, json!([{"op":"add","path":"emails","value":{"value":"b@x","type":"home","Primary":"True"}}]));
    assert_eq!(
        out.resource["emails"],
        json!([{"value": "a@x", "type": "work", "primary": false}, {"value": "b@x", "type": "home", "primary": true}])
    );
}

#[test]
fn patch_filtered_replace_and_remove_elements() {
    let mut u = user();
    u["emails"] = json!([{"value": "a@x", "type": "work"}, {"value": "b@x", "type": "home"}]);
    let out = ok(
        &u,
        &USER,
        json!([{"op":"replace","path":"emails[type eq \"home\"]","value":{"value":"c@x","type":"home"}}]),
    );
    assert_eq!(out.resource["emails"], json!([{"value": "a@x", "type": "work"}, {"value": "c@x", "type": "home"}]));
    let out = ok(&u, &USER, json!([{"op":"remove","path":"emails[type eq \"home\"]"}]));
    assert_eq!(out.resource["emails"], json!([{"value": "a@x", "type": "work"}]));
    let out = ok(&u, &USER, json!([{"op":"remove","path":"emails[type eq \"home\"].value"}]));
    assert_eq!(out.resource["emails"], json!([{"value": "a@x", "type": "work"}, {"type": "home"}]));
    let e = err(&u, &USER, json!([{"op":"replace","path":"emails[type eq \"other\"]","value":{"value":"d@x"}}]));
    assert_eq!(e.scim_type, Some(ScimType::NoTarget));
    let e = err(&u, &USER, json!([{"op":"replace","path":"emails[value co \"zzz\"].type","value":"work"}]));
    assert_eq!(e.scim_type, Some(ScimType::NoTarget));
}

#[test]
fn patch_add_merges_complex_and_replace_sets_lists() {
    let out = ok(&user(), &USER, json!([{"op":"add","path":"name","value":{"middleName":"Q","GivenName":"J"}}]));
    assert_eq!(
        out.resource["name"],
        json!({"formatted": "Jane Doe", "familyName": "Doe", "givenName": "J", "middleName": "Q"})
    );
    let out = ok(&user(), &USER, json!([{"op":"replace","path":"name","value":{"givenName":"K"}}]));
    assert_eq!(out.resource["name"], json!({"formatted": "Jane Doe", "familyName": "Doe", "givenName": "K"}));
    let out = ok(&user(), &USER, json!([{"op":"remove","path":"name.formatted"}]));
    assert_eq!(out.resource["name"], json!({"familyName": "Doe", "givenName": "Jane"}));
    let out =
        ok(&user(), &USER, json!([{"op":"replace","path":"title","value":""}, {"op":"remove","path":"displayName"}]));
    assert!(out.resource.get("displayName").is_none());
}

#[test]
fn patch_whole_extension_path_and_urn_key() {
    let out = ok(&user(), &USER, json!([{"op":"replace","path":ENT,"value":{"department":"Ops","costCenter":"7"}}]));
    assert_eq!(out.resource[ENT], json!({"department": "Ops", "costCenter": "7", "employeeNumber": "701984"}));
    let out = ok(&user(), &USER, json!([{"op":"remove","path":ENT}]));
    assert!(out.resource.get(ENT).is_none());
    let out = ok(&user(), &USER, json!([{"op":"add","value":{ENT:{"division":"D"}}}]));
    assert_eq!(out.resource[ENT]["division"], "D");
}

#[test]
fn patch_unknown_keys_are_ignored_and_reported() {
    let out = ok(
        &user(),
        &USER,
        json!([{"op":"replace","value":{"schemas":["x"],"meta":{"a":1},"id":"u1","nonsense":1,
            "urn:example:custom:2.0:User:foo":"x","title":"T","groups":[{"value":"g"}]}}]),
    );
    assert_eq!(out.resource["title"], "T");
    assert!(out.resource.get("groups").is_none());
    assert_eq!(out.ignored, vec!["nonsense".to_string(), "urn:example:custom:2.0:User:foo".to_string()]);
}

#[test]
fn patch_no_op_request_is_unchanged() {
    let out = ok(
        &user(),
        &USER,
        json!([{"op":"Replace","path":"displayName","value":"Jane Doe"},
               {"op":"Replace","path":"active","value":"True"},
               {"op":"remove","path":"nickName"}]),
    );
    assert!(!out.changed);
    let out = ok(&user(), &USER, json!([]));
    assert!(!out.changed);
}

// ---------------------------------------------------------------- Errors

#[test]
fn patch_unknown_op_is_invalid_syntax() {
    let e = err(&user(), &USER, json!([{"op":"merge","path":"title","value":"x"}]));
    assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax));
    assert!(e.detail.contains("merge") && e.detail.contains("add, replace or remove"), "{}", e.detail);
}

#[test]
fn patch_read_only_writes_are_mutability_errors() {
    let cases = [
        (json!({"op":"replace","path":"id","value":"x"}), "id"),
        (json!({"op":"replace","path":"meta.created","value":"2026-01-01T00:00:00Z"}), "meta"),
        (json!({"op":"add","path":"groups","value":[{"value":"g"}]}), "groups"),
        (json!({"op":"replace","path":format!("{ENT}:manager.displayName"),"value":"Boss"}), "manager.displayName"),
        (json!({"op":"remove","path":"id"}), "id"),
    ];
    for (op, name) in cases {
        let e = err(&user(), &USER, json!([op.clone()]));
        assert_eq!(e.scim_type, Some(ScimType::Mutability), "{op}");
        assert!(e.detail.contains(name), "{}", e.detail);
    }
    let e =
        err(&group(&["u1"]), &GROUP, json!([{"op":"replace","path":"members[value eq \"u1\"].display","value":"x"}]));
    assert_eq!(e.scim_type, Some(ScimType::Mutability));
    assert!(e.detail.contains("members.display"), "{}", e.detail);
}

#[test]
fn patch_immutable_member_value_cannot_change() {
    let e =
        err(&group(&["u1"]), &GROUP, json!([{"op":"replace","path":"members[value eq \"u1\"].value","value":"u2"}]));
    assert_eq!(e.scim_type, Some(ScimType::Mutability));
}

#[test]
fn patch_removing_required_attributes_fails() {
    for ops in [
        json!([{"op":"remove","path":"userName"}]),
        json!([{"op":"Replace","path":"userName","value":""}]),
        json!([{"op":"replace","value":{"userName":null}}]),
    ] {
        let e = err(&user(), &USER, ops.clone());
        assert_eq!(e.scim_type, Some(ScimType::Mutability), "{ops}");
        assert!(e.detail.contains("userName"), "{}", e.detail);
    }
    let e = err(&group(&[]), &GROUP, json!([{"op":"remove","path":"displayName"}]));
    assert_eq!(e.scim_type, Some(ScimType::Mutability));
    assert!(e.detail.contains("displayName"));
}

#[test]
fn patch_path_and_value_errors() {
    let e = err(&user(), &USER, json!([{"op":"remove"}]));
    assert_eq!(e.scim_type, Some(ScimType::NoTarget));
    let e = err(&user(), &USER, json!([{"op":"replace","path":"emails[type eq","value":"x"}]));
    assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
    let e = err(&user(), &USER, json!([{"op":"replace","value":"x"}]));
    assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
    let e = err(&user(), &USER, json!([{"op":"replace","path":"active","value":"maybe"}]));
    assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
    assert!(e.detail.contains("active"));
}

#[test]
fn patch_is_all_or_nothing() {
    let e = err(
        &user(),
        &USER,
        json!([{"op":"replace","path":"displayName","value":"New"}, {"op":"replace","path":"active","value":"maybe"}]),
    );
    assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
    assert!(e.detail.starts_with("Operation 2"), "{}", e.detail);
}

#[test]
fn patch_paths_outside_every_schema_are_ignored_and_reported() {
    let request: PatchRequest = serde_json::from_value(json!({"Operations": [
        {"op": "Add", "path": "favouriteColour", "value": "teal"},
        {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User:costCode", "value": "7"},
        {"op": "Replace", "path": "displayName", "value": "New"}
    ]}))
    .unwrap();
    let out = request.apply(&user(), &USER).unwrap();
    assert_eq!(out.resource["displayName"], "New");
    assert!(out.resource.get("favouriteColour").is_none());
    assert_eq!(
        out.ignored,
        vec!["favouriteColour".to_string(), "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User:costCode".into()]
    );
}

#[test]
fn patch_lowercase_operations_key_is_accepted() {
    let request: PatchRequest =
        serde_json::from_value(json!({"operations": [{"op": "REPLACE", "path": "title", "value": "x"}]})).unwrap();
    let out = request.apply(&user(), &USER).unwrap();
    assert_eq!(out.resource["title"], "x");
}

// ---------------------------------------------------------------- Property test

mod fuzz_like {
    use super::*;
    use proptest::prelude::*;

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i32>().prop_map(|n| json!(n)),
            prop_oneof![
                Just("".to_string()),
                Just("False".to_string()),
                Just("True".to_string()),
                Just("work".to_string()),
                Just("u1".to_string()),
                "[a-zA-Z0-9 :.\\[\\]\"]{0,12}",
            ]
            .prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 5, |inner| {
            let key = prop_oneof![
                Just("value".to_string()),
                Just("type".to_string()),
                Just("primary".to_string()),
                Just("display".to_string()),
                Just("givenName".to_string()),
                Just("userName".to_string()),
                Just("emails".to_string()),
                Just("members".to_string()),
                Just("id".to_string()),
                Just("name.givenName".to_string()),
                Just("manager".to_string()),
                Just(ENT.to_string()),
                Just(format!("{ENT}:manager")),
                "[a-zA-Z$.:]{1,8}",
            ];
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(key, inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn path() -> impl Strategy<Value = Option<String>> {
        let paths = [
            "userName",
            "active",
            "name",
            "name.givenName",
            "emails",
            "emails.value",
            "emails[type eq \"work\"]",
            "emails[type eq \"work\"].value",
            "emails[type eq \"work\" and primary eq true].value",
            "emails[type eq \"work\" or type eq \"home\"].value",
            "emails[not (type eq \"work\")]",
            "roles[primary eq \"True\"].value",
            "members",
            "members[value eq \"u1\"]",
            "members[value eq \"u1\"].display",
            "members[display pr].value",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:core:2.0:Group:displayName",
            "manager",
            "displayName",
            "id",
            "meta.created",
            "groups",
            "bogus",
            "emails[",
            "emails]",
            "emails[type eq \"]\"]",
            "emails[]].x",
            "[x]",
            ":",
            "urn:",
            "a..b",
            "",
            "Њ2Њ",
            "émails",
            "urn:é:x",
            "emails[value eq \"Jöns\"].value",
        ];
        prop_oneof![
            Just(None),
            prop::sample::select(paths.to_vec()).prop_map(|p| Some(p.to_string())),
            "[a-zA-Z\\[\\]\". :]{0,20}".prop_map(Some),
        ]
    }

    fn operation() -> impl Strategy<Value = Value> {
        let op = prop_oneof![
            Just("add".to_string()),
            Just("Replace".to_string()),
            Just("REMOVE".to_string()),
            "[a-zA-Z]{0,7}",
        ];
        let value = prop_oneof![
            4 => json_value(),
            1 => ("[a-zÉЊü.:]{1,6}", json_value()).prop_map(|(k, v)| json!({ k: v })),
        ];
        (op, path(), prop::option::of(value)).prop_map(|(op, path, value)| {
            let mut o = json!({"op": op});
            if let Some(p) = path {
                o["path"] = json!(p);
            }
            if let Some(v) = value {
                o["value"] = v;
            }
            o
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn patch_apply_never_panics(
            resource in json_value(),
            ops in prop::collection::vec(operation(), 0..5),
            is_group in any::<bool>(),
        ) {
            let rt = if is_group { &GROUP } else { &USER };
            if let Ok(request) = serde_json::from_value::<PatchRequest>(json!({"Operations": ops})) {
                let _ = request.apply(&resource, rt);
                let _ = request.apply(&user(), rt);
                let _ = request.apply(&group(&["u1", "u2"]), rt);
            }
        }
    }
}
