//! Hot paths of the SCIM protocol core (issue 6 §5): filter parse, PATCH
//! apply, projection and body normalisation, on the shapes Entra ID sends
//! (`../shared/spec/entra-okta-wire.md` §2–§5).
//!
//! `cargo bench -p scim --bench hot_paths -- --warm-up-time 1 --measurement-time 3`

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use scim::filter::Filter;
use scim::patch::members::split_members;
use scim::patch::PatchRequest;
use scim::projection::Projection;
use scim::schema::{normalize, GROUP, USER};
use serde_json::{json, Value};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// The body of Entra's `POST /Users` with the default mapping.
pub fn entra_create_body() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
        "externalId": "8c5b3a0e-2f4d-4f7e-9a61-0d3c2b1a9f88",
        "userName": "jose.nunez",
        "active": true,
        "displayName": "José Núñez",
        "title": "Staff Engineer",
        "emails": [{"primary": true, "type": "work", "value": "jose.nunez@contoso.example"}],
        "preferredLanguage": "es-ES",
        "name": {"formatted": "José Núñez", "familyName": "Núñez", "givenName": "José"},
        "addresses": [{"type": "work", "primary": true, "streetAddress": "1 Main St", "locality": "Madrid",
                       "postalCode": "28001", "country": "ES", "formatted": "1 Main St, 28001 Madrid"}],
        "phoneNumbers": [{"type": "work", "value": "+34 91 000 0000"}, {"type": "mobile", "value": "+34 600 000 000"}],
        ENTERPRISE: {"employeeNumber": "E104233", "department": "Platform", "costCenter": "CC-17",
                     "organization": "Contoso", "division": "R&D"}
    })
}

/// The stored resource the PATCH benchmarks start from (normalised create body).
fn stored_user() -> Value {
    let mut v = normalize(&USER, &entra_create_body()).unwrap().resource;
    v["id"] = json!("3f0a2b5c-1111-4222-8333-944455556666");
    v
}

fn filters(c: &mut Criterion) {
    let mut g = c.benchmark_group("filter_parse");
    let cases = [
        ("entra_username_eq", r#"userName eq "jose.nunez@contoso.example""#),
        ("entra_externalid_eq", r#"externalId eq "8c5b3a0e-2f4d-4f7e-9a61-0d3c2b1a9f88""#),
        ("entra_group_displayname_eq", r#"displayName eq "Platform Engineering (Madrid)""#),
        (
            "complex",
            r#"(userName sw "j" or emails[type eq "work" and value co "@contoso"]) and not (active eq false) and meta.lastModified gt "2024-01-01T00:00:00Z" and urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "Platform""#,
        ),
    ];
    for (name, text) in cases {
        // Fail loudly if a case stops parsing: the figure would be an error path.
        text.parse::<Filter>().unwrap_or_else(|e| panic!("{name}: {e:?}"));
        g.bench_function(name, |b| b.iter(|| black_box(text).parse::<Filter>().unwrap()));
    }
    g.finish();
}

fn patches(c: &mut Criterion) {
    let mut g = c.benchmark_group("patch_apply");
    let user = stored_user();

    // Entra without the flag: PascalCase ops, one per attribute, string booleans.
    let legacy: PatchRequest = serde_json::from_value(json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            {"op": "Replace", "path": "displayName", "value": "José Núñez García"},
            {"op": "Replace", "path": "title", "value": "Principal Engineer"},
            {"op": "Replace", "path": "name.familyName", "value": "Núñez García"},
            {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "jose.garcia@contoso.example"},
            {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Core Platform"},
            {"op": "Replace", "path": "active", "value": "False"}
        ]
    }))
    .unwrap();
    // aadOptscim062020: one lower-case replace without a path, dotted keys, real booleans.
    let no_path: PatchRequest = serde_json::from_value(json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "value": {
            "displayName": "José Núñez García",
            "title": "Principal Engineer",
            "name.familyName": "Núñez García",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Core Platform",
            "active": false
        }}]
    }))
    .unwrap();
    for (name, req) in [("entra_legacy_multi_op", &legacy), ("entra_aadoptscim062020_no_path", &no_path)] {
        let out = req.apply(&user, &USER).unwrap();
        assert!(out.changed, "{name} must change the user");
        g.bench_function(name, |b| b.iter(|| req.apply(black_box(&user), &USER).unwrap()));
    }
    // The same legacy body from its JSON text, as the server receives it.
    let legacy_text = serde_json::to_vec(&json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            {"op": "Replace", "path": "displayName", "value": "José Núñez García"},
            {"op": "Replace", "path": "title", "value": "Principal Engineer"},
            {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Core Platform"}
        ]
    }))
    .unwrap();
    g.bench_function("entra_legacy_parse_and_apply", |b| {
        b.iter(|| {
            let req: PatchRequest = serde_json::from_slice(black_box(&legacy_text)).unwrap();
            req.apply(&user, &USER).unwrap()
        })
    });

    // A group member add, as Entra sends it: split into the member delta
    // (which the store applies without reading the member list).
    let add_member: PatchRequest = serde_json::from_value(json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Add", "path": "members", "value": [{"value": "3f0a2b5c-1111-4222-8333-944455556666"}]}]
    }))
    .unwrap();
    let split = split_members(&add_member).unwrap().expect("a member add needs no member list");
    assert_eq!(split.members.add.len(), 1);
    g.bench_function("entra_group_member_add", |b| b.iter(|| split_members(black_box(&add_member)).unwrap()));
    let group = json!({"id": "g1", "displayName": "Platform Engineering", "externalId": "5e1c"});
    let rename: PatchRequest = serde_json::from_value(json!({
        "Operations": [{"op": "Replace", "path": "displayName", "value": "Platform Engineering (Madrid)"}]
    }))
    .unwrap();
    g.bench_function("entra_group_rename", |b| b.iter(|| rename.apply(black_box(&group), &GROUP).unwrap()));
    g.finish();
}

fn projection(c: &mut Criterion) {
    let mut g = c.benchmark_group("projection");
    let mut user = stored_user();
    user["meta"] = json!({"resourceType": "User", "created": "2024-01-01T00:00:00Z",
                          "lastModified": "2024-01-01T00:00:00Z", "location": "https://x/scim/v2/Users/3f0a", "version": "W/\"1\""});
    g.bench_function("parse_attributes", |b| {
        b.iter(|| Projection::parse(&USER, Some(black_box("userName,emails,name.givenName,active")), None))
    });
    let p = Projection::parse(&USER, Some("userName,emails,name.givenName,active"), None);
    assert!(!p.is_default());
    g.bench_function("apply_attributes", |b| b.iter(|| p.apply(&USER, black_box(&user))));
    let ex = Projection::parse(&USER, None, Some("emails,addresses,phoneNumbers"));
    g.bench_function("apply_excluded", |b| b.iter(|| ex.apply(&USER, black_box(&user))));
    g.finish();
}

fn validation(c: &mut Criterion) {
    let mut g = c.benchmark_group("validation");
    let body = entra_create_body();
    let text = serde_json::to_vec(&body).unwrap();
    g.bench_function("normalize_entra_create", |b| b.iter(|| normalize(&USER, black_box(&body)).unwrap()));
    g.bench_function("parse_json_and_normalize_entra_create", |b| {
        b.iter(|| {
            let v: Value = serde_json::from_slice(black_box(&text)).unwrap();
            normalize(&USER, &v).unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, filters, patches, projection, validation);
criterion_main!(benches);
