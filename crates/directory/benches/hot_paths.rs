//! Hot paths of the directory core (issue 6 §5): rendering a stored user as
//! the server answers a GET (with links, with an `attributes=` projection,
//! serialised to bytes) and validating Entra's create body.
//!
//! `cargo bench -p directory --bench hot_paths -- --warm-up-time 1 --measurement-time 3`

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use directory::users::{render_user, render_user_linked, render_user_linked_json, UserLinks};
use directory::validate::validate_user;
use directory::{GroupRef, UserNames, UserRecord, UserState, UsernamePolicy};
use scim::projection::Projection;
use scim::schema::{normalize, USER};
use serde_json::{json, Value};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const BASE: &str = "https://roster.example/scim/v2";

/// The body of Entra's `POST /Users` with the default mapping.
fn entra_create_body() -> Value {
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
                     "organization": "Contoso", "division": "R&D",
                     "manager": {"value": "0b7d9f1e-aaaa-4bbb-8ccc-dddddddddddd"}}
    })
}

fn stored_user() -> UserRecord {
    let scim = normalize(&USER, &entra_create_body()).unwrap().resource;
    let v = validate_user(UsernamePolicy::Strict, &scim).unwrap();
    UserRecord {
        id: "3f0a2b5c-1111-4222-8333-944455556666".into(),
        org_id: 1,
        user_name: "jose.nunez".into(),
        username: v.username.clone(),
        email: v.email.clone(),
        external_id: Some("8c5b3a0e-2f4d-4f7e-9a61-0d3c2b1a9f88".into()),
        employee_identifier: Some("E104233".into()),
        manager_id: Some("0b7d9f1e-aaaa-4bbb-8ccc-dddddddddddd".into()),
        state: UserState::Activated,
        activated: true,
        password_expired: false,
        scim: scim.into(),
        created: "2024-01-01T00:00:00Z".into(),
        last_modified: "2024-03-01T12:00:00Z".into(),
        version: 3,
    }
}

fn links() -> UserLinks {
    UserLinks {
        groups: (0..3)
            .map(|i| GroupRef {
                user_id: "3f0a2b5c-1111-4222-8333-944455556666".into(),
                group_id: format!("9a9a9a9a-0000-4000-8000-00000000000{i}"),
                display_name: format!("Group {i}"),
            })
            .collect(),
        manager: Some(UserNames {
            id: "0b7d9f1e-aaaa-4bbb-8ccc-dddddddddddd".into(),
            user_name: "ana.lopez".into(),
            display_name: Some("Ana López".into()),
        }),
    }
}

fn render(c: &mut Criterion) {
    let mut g = c.benchmark_group("render");
    let user = stored_user();
    let links = links();
    g.bench_function("render_user", |b| b.iter(|| render_user(black_box(&user), BASE)));
    g.bench_function("render_user_linked", |b| b.iter(|| render_user_linked(black_box(&user), &links, BASE)));
    // What the server does for a GET: render, then serialise to the response body.
    g.bench_function("render_user_linked_to_bytes", |b| {
        b.iter(|| serde_json::to_vec(&render_user_linked(black_box(&user), &links, BASE)).unwrap())
    });
    // What a GET does since the stored text is copied: from the row's text to the body.
    let stored = UserRecord {
        scim: directory::Document::from_stored(&serde_json::to_string(&*user.scim).unwrap()).unwrap(),
        ..user.clone()
    };
    g.bench_function("user_from_stored_text_to_bytes", |b| {
        b.iter(|| {
            let read = UserRecord {
                scim: directory::Document::from_stored(black_box(stored.scim.stored_text().unwrap())).unwrap(),
                ..stored.clone()
            };
            render_user_linked_json(&read, &links, BASE)
        })
    });
    g.bench_function("user_from_stored_text_parsed_to_bytes", |b| {
        b.iter(|| {
            let read = UserRecord {
                scim: serde_json::from_str::<serde_json::Value>(black_box(stored.scim.stored_text().unwrap())).unwrap().into(),
                ..stored.clone()
            };
            serde_json::to_vec(&render_user_linked(&read, &links, BASE)).unwrap()
        })
    });
    let p = Projection::parse(&USER, Some("userName,emails,name.givenName,active"), None);
    let projected = p.apply(&USER, &render_user_linked(&user, &links, BASE));
    assert!(projected.get("title").is_none() && projected.get("userName").is_some());
    g.bench_function("render_user_linked_projected_attributes", |b| {
        b.iter(|| p.apply(&USER, &render_user_linked(black_box(&user), &links, BASE)))
    });
    g.finish();
}

fn validation(c: &mut Criterion) {
    let mut g = c.benchmark_group("validation");
    let body = entra_create_body();
    let normalized = normalize(&USER, &body).unwrap().resource;
    g.bench_function("validate_user_strict", |b| {
        b.iter(|| validate_user(UsernamePolicy::Strict, black_box(&normalized)).unwrap())
    });
    // The whole of a create before the store: normalise, then the directory rules.
    g.bench_function("normalize_and_validate_entra_create", |b| {
        b.iter(|| {
            let n = normalize(&USER, black_box(&body)).unwrap();
            validate_user(UsernamePolicy::Strict, &n.resource).unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, render, validation);
criterion_main!(benches);
