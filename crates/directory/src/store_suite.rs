//! A backend-independent test suite for [`Store`] implementations. It uses
//! only the traits, so the SQLite and PostgreSQL stores run the same checks:
//! each test in [`TESTS`] gets a fresh, empty store; the `concurrent_*` and
//! [`survives_reopen`] tests get a function that opens (another handle to)
//! one shared database, as separate processes would.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::events::Event;
use crate::keys::ApiKeyRecord;
use crate::store::{self, Store, UniqueField, UserQuery};
use crate::{DirectoryError, GroupRecord, MemberRef, Org, Role, UserRecord, UserState, UsernamePolicy};
use scim::filter::Filter;
use scim::list::SortOrder;
use scim::schema::{AttrPath, ENTERPRISE_USER_SCHEMA_URN};
use serde_json::{json, Value};
use std::sync::{Arc, Barrier};

/// A suite test on a fresh store.
pub type StoreTest = fn(&dyn Store);

/// Every test that needs only a fresh store, by name.
pub const TESTS: &[(&str, StoreTest)] = &[
    ("orgs_insert_get_list_update", orgs_insert_get_list_update),
    ("api_keys_insert_lookup_list_revoke", api_keys_insert_lookup_list_revoke),
    ("users_insert_get_update_delete", users_insert_get_update_delete),
    ("users_are_scoped_by_org", users_are_scoped_by_org),
    ("uniqueness_conflicts", uniqueness_conflicts),
    ("filters", filters),
    ("pagination", pagination),
    ("deep_pages", deep_pages),
    ("cursor_paging", cursor_paging),
    ("cursor_paging_under_concurrent_inserts", cursor_paging_under_concurrent_inserts),
    ("sorting", sorting),
    ("rollback_on_error", rollback_on_error),
    ("clear_manager_references", clear_manager_references),
    ("events_append_recent", events_append_recent),
];

/// The group and membership tests (issue 4), kept apart from [`TESTS`] so
/// that a backend adds them when it implements the group methods of `Tx`.
pub const GROUP_TESTS: &[(&str, StoreTest)] = &[
    ("groups_insert_get_update_delete", groups_insert_get_update_delete),
    ("group_members_in_batches", group_members_in_batches),
    ("group_queries", group_queries),
    ("group_cursor_paging", group_cursor_paging),
    ("groups_of_users_names_and_cascades", groups_of_users_names_and_cascades),
];

/// Runs every test of [`GROUP_TESTS`], each on a store from `make`.
pub fn run_all_groups(make: &dyn Fn() -> Arc<dyn Store>) {
    for (_, test) in GROUP_TESTS {
        let store = make();
        test(store.as_ref());
    }
}

/// Runs every test of [`TESTS`], each on a store from `make`.
pub fn run_all(make: &dyn Fn() -> Arc<dyn Store>) {
    for (_, test) in TESTS {
        let store = make();
        test(store.as_ref());
    }
}

// ---- helpers ----

fn w<T>(s: &dyn Store, work: impl FnMut(&mut dyn crate::Tx) -> Result<T, DirectoryError>) -> T {
    store::write(s, work).unwrap()
}

fn r<T>(s: &dyn Store, work: impl FnMut(&mut dyn crate::Tx) -> Result<T, DirectoryError>) -> T {
    store::read(s, work).unwrap()
}

/// A new `rfc`-policy organisation named `name`.
pub fn new_org(s: &dyn Store, name: &str) -> Org {
    let mut org = Org {
        id: 0,
        name: name.into(),
        username_policy: UsernamePolicy::Rfc,
        scim_default_state: UserState::Activated,
        created: "2026-01-01T00:00:00.000Z".into(),
    };
    org.id = w(s, |tx| tx.insert_org(&org));
    org
}

/// A user whose directory fields agree with its SCIM attributes.
pub fn user(org_id: i64, id: &str, user_name: &str, email: Option<&str>) -> UserRecord {
    let mut scim = json!({"userName": user_name, "displayName": format!("User {user_name}")});
    if let Some(e) = email {
        scim["emails"] = json!([{"value": e, "type": "work", "primary": true}]);
    }
    UserRecord {
        id: id.into(),
        org_id,
        user_name: user_name.into(),
        username: user_name.into(),
        email: email.map(str::to_lowercase),
        external_id: None,
        employee_identifier: None,
        manager_id: None,
        state: UserState::Activated,
        activated: true,
        password_expired: false,
        scim: scim.into(),
        created: "2026-01-01T00:00:00.000Z".into(),
        last_modified: "2026-01-01T00:00:00.000Z".into(),
        version: 1,
    }
}

fn insert(s: &dyn Store, u: &UserRecord) {
    w(s, |tx| tx.insert_user(u));
}

fn parse(f: &str) -> Filter {
    f.parse().unwrap_or_else(|e: scim::ScimError| panic!("{f:?}: {}", e.detail))
}

fn query_ids(
    s: &dyn Store,
    org_id: i64,
    filter: Option<&str>,
    sort: Option<&str>,
    order: SortOrder,
    start: u64,
    count: u64,
) -> (u64, Vec<String>) {
    let filter = filter.map(parse);
    let sort = sort.map(|p| AttrPath::parse(p).unwrap());
    let q = UserQuery {
        filter: filter.as_ref(),
        sort_by: sort.as_ref(),
        sort_order: order,
        start_index: start,
        count,
        after: None,
    };
    let page = r(s, |tx| tx.query_users(org_id, &q));
    (page.total, page.items.into_iter().map(|u| u.id).collect())
}

/// The ids of the users of `org_id` that `filter` matches, in order.
pub fn ids_matching(s: &dyn Store, org_id: i64, filter: &str) -> Vec<String> {
    let (total, ids) = query_ids(s, org_id, Some(filter), None, SortOrder::Ascending, 1, 1000);
    assert_eq!(total as usize, ids.len(), "total for {filter}");
    ids
}

fn conflict(result: Result<(), DirectoryError>, needle: &str) {
    match result {
        Err(DirectoryError::Conflict(d)) => assert!(d.contains(needle), "conflict detail {d:?} should name {needle}"),
        other => panic!("expected a Conflict naming {needle}, got {other:?}"),
    }
}

fn event(org_id: i64, n: u32) -> Event {
    Event {
        id: format!("ev-{n}"),
        at: format!("2026-01-01T00:00:{n:02}.000Z"),
        org_id,
        actor: "cli".into(),
        source: "scim".into(),
        event_type: "user_create".into(),
        resource_type: "User".into(),
        resource_id: Some(format!("u-{n}")),
        resource_name: None,
        changes: json!([{"field": "userName", "from": null, "to": format!("user{n}")}]),
        ignored: vec!["urn:x:foo".into()],
        status: 201,
        error: if n & 1 == 0 { Some("detail".into()) } else { None },
    }
}

// ---- tests on a fresh store ----

pub fn orgs_insert_get_list_update(s: &dyn Store) {
    let a = new_org(s, "acme");
    let b = new_org(s, "globex");
    assert_ne!(a.id, b.id);
    assert_eq!(r(s, |tx| tx.org_by_name("acme")), Some(a.clone()));
    assert_eq!(r(s, |tx| tx.org_by_id(b.id)), Some(b.clone()));
    assert_eq!(r(s, |tx| tx.org_by_name("nope")), None);
    assert_eq!(r(s, |tx| tx.list_orgs()), vec![a.clone(), b.clone()]);
    let mut a2 = a.clone();
    a2.username_policy = UsernamePolicy::EmailLocalPart;
    a2.scim_default_state = UserState::Staged;
    w(s, |tx| tx.update_org(&a2));
    assert_eq!(r(s, |tx| tx.org_by_id(a.id)), Some(a2));
    let dup = Org { id: 0, ..b.clone() };
    conflict(store::write(s, |tx| tx.insert_org(&dup).map(|_| ())), "globex");
}

pub fn api_keys_insert_lookup_list_revoke(s: &dyn Store) {
    let org = new_org(s, "acme");
    let other = new_org(s, "globex");
    let key = |id: &str, org_id: i64, hash: &str| ApiKeyRecord {
        id: id.into(),
        org_id,
        name: format!("key {id}"),
        role: Role::Administrator,
        principal: "svc-entra".into(),
        token_hash: hash.into(),
        token_hint: "rst_abcd…".into(),
        created: format!("2026-01-01T00:00:0{}.000Z", id.len()),
        expires_at: Some("2027-01-01T00:00:00.000Z".into()),
        revoked_at: None,
    };
    let k1 = key("k1", org.id, "h1");
    let k2 = ApiKeyRecord { role: Role::ReadOnly, expires_at: None, ..key("k22", org.id, "h2") };
    let k3 = key("k3", other.id, "h3");
    let generation = || r(s, |tx| tx.auth_generation());
    let before_keys = generation();
    for k in [&k1, &k2, &k3] {
        w(s, |tx| tx.insert_api_key(k));
    }
    let with_keys = generation();
    assert_ne!(with_keys, before_keys, "a new key changes the auth generation");
    insert(s, &user(org.id, "u1", "someone", None));
    assert_eq!(generation(), with_keys, "a user does not");
    let renamed = Org { name: "acme2".into(), ..org.clone() };
    w(s, |tx| tx.update_org(&renamed));
    let with_org_change = generation();
    assert_ne!(with_org_change, with_keys, "a changed organisation does");
    assert_eq!(r(s, |tx| tx.api_key_by_hash("h2")), Some(k2.clone()));
    assert_eq!(r(s, |tx| tx.api_key_by_hash("zz")), None);
    assert_eq!(r(s, |tx| tx.list_api_keys(org.id)), vec![k1.clone(), k2.clone()]);
    assert_eq!(r(s, |tx| tx.list_api_keys(other.id)), vec![k3.clone()]);
    // Another organisation cannot revoke the key.
    assert!(!w(s, |tx| tx.revoke_api_key(other.id, "k1", "2026-02-01T00:00:00.000Z")));
    assert!(w(s, |tx| tx.revoke_api_key(org.id, "k1", "2026-02-01T00:00:00.000Z")));
    assert_ne!(generation(), with_org_change, "a revocation does");
    assert!(!w(s, |tx| tx.revoke_api_key(org.id, "k1", "2026-03-01T00:00:00.000Z")));
    let revoked = r(s, |tx| tx.api_key_by_hash("h1")).unwrap();
    assert_eq!(revoked.revoked_at.as_deref(), Some("2026-02-01T00:00:00.000Z"));
    assert!(store::write(s, |tx| tx.insert_api_key(&key("k9", org.id, "h1"))).is_err(), "duplicate token hash");
}

pub fn users_insert_get_update_delete(s: &dyn Store) {
    let org = new_org(s, "acme");
    let mut u = user(org.id, "u1", "Alice", Some("alice@example.com"));
    u.external_id = Some("ext-1".into());
    u.employee_identifier = Some("E1".into());
    u.scim["externalId"] = json!("ext-1");
    u.scim[ENTERPRISE_USER_SCHEMA_URN] = json!({"employeeNumber": "E1", "department": "R&D"});
    insert(s, &u);
    assert_eq!(r(s, |tx| tx.user_by_id(org.id, "u1")), Some(u.clone()));
    assert_eq!(r(s, |tx| tx.user_by_id(org.id, "nope")), None);

    let mut u2 = u.clone();
    u2.user_name = "Alice2".into();
    u2.username = "alice2".into();
    u2.scim["userName"] = json!("Alice2");
    u2.scim["emails"] = json!([{"value": "alice2@example.com", "type": "work"}]);
    u2.email = Some("alice2@example.com".into());
    u2.state = UserState::Suspended;
    u2.password_expired = true;
    u2.version = 2;
    u2.last_modified = "2026-01-02T00:00:00.000Z".into();
    w(s, |tx| tx.update_user(&u2));
    assert_eq!(r(s, |tx| tx.user_by_id(org.id, "u1")), Some(u2.clone()));
    // The email index follows the update.
    assert!(ids_matching(s, org.id, r#"emails.value eq "alice@example.com""#).is_empty());
    assert_eq!(ids_matching(s, org.id, r#"emails.value eq "ALICE2@example.com""#), vec!["u1"]);
    // An update that leaves the emails alone keeps them findable, and one
    // that changes a single indexed column (externalId) moves only it.
    let mut u3 = u2.clone();
    u3.scim["title"] = json!("Engineer");
    u3.version = 3;
    w(s, |tx| tx.update_user(&u3));
    assert_eq!(r(s, |tx| tx.user_by_id(org.id, "u1")), Some(u3.clone()));
    assert_eq!(ids_matching(s, org.id, r#"emails.value eq "alice2@example.com""#), vec!["u1"]);
    let mut u4 = u3.clone();
    u4.external_id = Some("ext-4".into());
    u4.scim["externalId"] = json!("ext-4");
    u4.version = 4;
    w(s, |tx| tx.update_user(&u4));
    assert_eq!(r(s, |tx| tx.user_by_id(org.id, "u1")), Some(u4.clone()));
    assert_eq!(ids_matching(s, org.id, r#"externalId eq "ext-4""#), vec!["u1"]);
    assert_eq!(ids_matching(s, org.id, r#"userName eq "alice2""#), vec!["u1"]);
    assert_eq!(ids_matching(s, org.id, r#"emails.value eq "alice2@example.com""#), vec!["u1"]);

    let missing = user(org.id, "ghost", "ghost", None);
    assert!(matches!(store::write(s, |tx| tx.update_user(&missing)), Err(DirectoryError::NotFound(_))));

    assert!(w(s, |tx| tx.delete_user(org.id, "u1")));
    assert!(!w(s, |tx| tx.delete_user(org.id, "u1")));
    assert_eq!(r(s, |tx| tx.user_by_id(org.id, "u1")), None);
    assert!(ids_matching(s, org.id, r#"emails.value eq "alice2@example.com""#).is_empty());
    // The freed username and email can be used again.
    insert(s, &user(org.id, "u3", "alice2", Some("alice2@example.com")));
}

pub fn users_are_scoped_by_org(s: &dyn Store) {
    let a = new_org(s, "acme");
    let b = new_org(s, "globex");
    insert(s, &user(a.id, "ua", "jdoe", Some("jdoe@example.com")));
    // The same username and email are fine in another organisation.
    insert(s, &user(b.id, "ub", "jdoe", Some("jdoe@example.com")));
    assert!(r(s, |tx| tx.user_by_id(b.id, "ua")).is_none());
    assert!(r(s, |tx| tx.user_by_id(a.id, "ua")).is_some());
    assert!(ids_matching(s, b.id, r#"id eq "ua""#).is_empty());
    assert_eq!(ids_matching(s, a.id, r#"userName eq "jdoe""#), vec!["ua"]);
    assert_eq!(ids_matching(s, b.id, r#"emails eq "jdoe@example.com""#), vec!["ub"]);
    assert_eq!(query_ids(s, a.id, None, None, SortOrder::Ascending, 1, 10), (1, vec!["ua".to_string()]));
    // Another organisation can neither update nor delete the user.
    let mut foreign = user(b.id, "ua", "x", None);
    foreign.org_id = b.id;
    assert!(matches!(store::write(s, |tx| tx.update_user(&foreign)), Err(DirectoryError::NotFound(_))));
    assert!(!w(s, |tx| tx.delete_user(b.id, "ua")));
    assert_eq!(r(s, |tx| tx.unique_holder(b.id, UniqueField::Username, "JDOE", None)), Some("ub".to_string()));
}

pub fn uniqueness_conflicts(s: &dyn Store) {
    let org = new_org(s, "acme");
    let mut u = user(org.id, "u1", "Jdoe", Some("jdoe@example.com"));
    u.employee_identifier = Some("E-1".into());
    insert(s, &u);

    conflict(store::write(s, |tx| tx.insert_user(&user(org.id, "u2", "JDOE", None))), "userName");
    conflict(store::write(s, |tx| tx.insert_user(&user(org.id, "u2", "other", Some("JDoe@Example.com")))), "email");
    let mut e = user(org.id, "u2", "other", None);
    e.employee_identifier = Some("E-1".into());
    conflict(store::write(s, |tx| tx.insert_user(&e)), "employee");
    // Employee identifiers are case-exact.
    e.employee_identifier = Some("e-1".into());
    insert(s, &e);
    // An update into a taken value conflicts too.
    let mut e2 = e.clone();
    e2.username = "jdoe".into();
    conflict(store::write(s, |tx| tx.update_user(&e2)), "userName");

    let holder = |field, value: &str, except: Option<&str>| {
        let value = value.to_string();
        let except = except.map(str::to_string);
        r(s, move |tx| tx.unique_holder(org.id, field, &value, except.as_deref()))
    };
    assert_eq!(holder(UniqueField::Username, "jDOE", None), Some("u1".into()));
    assert_eq!(holder(UniqueField::Username, "jdoe", Some("u1")), None);
    assert_eq!(holder(UniqueField::Email, "JDOE@example.com", None), Some("u1".into()));
    assert_eq!(holder(UniqueField::EmployeeIdentifier, "E-1", None), Some("u1".into()));
    assert_eq!(holder(UniqueField::EmployeeIdentifier, "E-1", Some("u1")), None);
    assert_eq!(holder(UniqueField::EmployeeIdentifier, "nobody", None), None);
}

/// Four users with varied attributes, for the filter tests.
fn filter_fixture(s: &dyn Store, org_id: i64) {
    let mut a = user(org_id, "a", "Alice", Some("alice@work.example"));
    a.scim["emails"] = json!([
        {"value": "alice@work.example", "type": "work", "primary": true},
        {"value": "Alice@Home.example", "type": "home"}
    ]);
    a.external_id = Some("EXT-a".into());
    a.scim["externalId"] = json!("EXT-a");
    a.scim["title"] = json!("Engineer");
    a.last_modified = "2026-03-01T00:00:00.000Z".into();

    let mut b = user(org_id, "b", "bob", Some("bob@work.example"));
    b.state = UserState::Suspended;
    b.scim["title"] = json!("Manager");
    b.last_modified = "2026-01-15T00:00:00.000Z".into();

    let mut c = user(org_id, "c", "carol", None);
    c.password_expired = true;
    c.scim["emails"] = json!([{"value": "carol@home.example", "type": "home"}]);
    c.last_modified = "2026-02-01T00:00:00.000Z".into();

    let mut d = user(org_id, "d", "dave", Some("dave@work.example"));
    d.scim["title"] = json!("engineer");
    for u in [&a, &b, &c, &d] {
        insert(s, u);
    }
}

pub fn filters(s: &dyn Store) {
    let org = new_org(s, "acme");
    filter_fixture(s, org.id);
    let ids = |f: &str| ids_matching(s, org.id, f);
    assert_eq!(ids(r#"userName eq "ALICE""#), vec!["a"]);
    assert_eq!(ids(r#"username EQ "alice""#), vec!["a"]);
    assert_eq!(ids(r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "Bob""#), vec!["b"]);
    assert_eq!(ids(r#"externalId eq "EXT-a""#), vec!["a"]);
    assert!(ids(r#"externalId eq "ext-a""#).is_empty(), "externalId is case-exact");
    assert_eq!(ids(r#"id eq "c""#), vec!["c"]);
    assert_eq!(ids(r#"emails[type eq "work"].value eq "ALICE@work.example""#), vec!["a"]);
    assert!(ids(r#"emails[type eq "work"].value eq "alice@home.example""#).is_empty());
    assert_eq!(ids(r#"emails[type eq "home" and value eq "alice@home.example"]"#), vec!["a"]);
    assert_eq!(ids(r#"emails.value eq "carol@home.example""#), vec!["c"]);
    assert_eq!(ids(r#"emails eq "alice@home.EXAMPLE""#), vec!["a"]);
    assert_eq!(ids(r#"emails[type eq "work"]"#), vec!["a", "b", "d"]);
    assert_eq!(ids(r#"userName co "O""#), vec!["b", "c"]);
    assert_eq!(ids(r#"userName sw "a""#), vec!["a"]);
    assert_eq!(ids(r#"emails.value ew "@home.example""#), vec!["a", "c"]);
    assert_eq!(ids(r#"externalId pr"#), vec!["a"]);
    assert_eq!(ids(r#"title pr and not (userName eq "bob")"#), vec!["a", "d"]);
    assert_eq!(ids(r#"title eq "engineer" and userName eq "dave""#), vec!["d"]);
    assert_eq!(ids(r#"title eq "engineer" or userName eq "carol""#), vec!["a", "c", "d"]);
    assert_eq!(ids(r#"meta.lastModified gt "2026-01-20T00:00:00Z""#), vec!["a", "c"]);
    assert_eq!(ids(r#"meta.lastModified le "2026-01-15T00:00:00.000Z""#), vec!["b", "d"]);
    assert_eq!(ids(r#"active eq false"#), vec!["b", "c"]);
    assert_eq!(ids(r#"active eq true"#), vec!["a", "d"]);
    assert_eq!(ids(r#"meta.resourceType eq "User" and id eq "d""#), vec!["d"]);
    assert!(ids(r#"userName eq "alice" and id eq "b""#).is_empty());
    assert!(ids(r#"nonexistent eq "x""#).is_empty());
}

pub fn pagination(s: &dyn Store) {
    let org = new_org(s, "acme");
    let all: Vec<String> = (0..7).map(|i| format!("u{i}")).collect();
    for (i, id) in all.iter().enumerate() {
        insert(s, &user(org.id, id, &format!("user{}", 7 - i), None));
    }
    let page = |start, count| query_ids(s, org.id, None, None, SortOrder::Ascending, start, count);
    // Default order: insertion order.
    assert_eq!(page(1, 100), (7, all.clone()));
    assert_eq!(page(1, 3), (7, all[0..3].to_vec()));
    assert_eq!(page(4, 3), (7, all[3..6].to_vec()));
    assert_eq!(page(7, 3), (7, all[6..7].to_vec()));
    assert_eq!(page(8, 3), (7, vec![]));
    assert_eq!(page(0, 2), (7, all[0..2].to_vec()), "startIndex below 1 reads as 1");
    assert_eq!(page(1, 0), (7, vec![]), "count 0: total only");
    let (total, ids) = query_ids(s, org.id, Some(r#"userName sw "user""#), None, SortOrder::Ascending, 2, 2);
    assert_eq!((total, ids), (7, all[1..3].to_vec()));
    let (total, ids) = query_ids(s, org.id, Some(r#"userName eq "user3""#), None, SortOrder::Ascending, 1, 0);
    assert_eq!((total, ids.len()), (1, 0));
    // Another organisation's users in between change no page.
    let other = new_org(s, "other");
    for i in 0..3 {
        insert(s, &user(other.id, &format!("o{i}"), &format!("x{i}"), None));
    }
    insert(s, &user(org.id, "u7", "user0", None));
    let all: Vec<String> = all.into_iter().chain(["u7".to_string()]).collect();
    assert_eq!(page(6, 3), (8, all[5..8].to_vec()));
    assert_eq!(page(8, 3), (8, all[7..8].to_vec()));
}

/// `startIndex` pages across many insertion blocks, with another
/// organisation's users in between and deleted users in the middle: every
/// page is the slice of the remaining users at its position.
pub fn deep_pages(s: &dyn Store) {
    let org = new_org(s, "acme");
    let other = new_org(s, "other");
    let mut ours = Vec::new();
    let mut batch = Vec::new();
    for i in 0..3000 {
        let (org_id, id) = if i % 3 == 2 { (other.id, format!("o{i}")) } else { (org.id, format!("u{i:04}")) };
        if org_id == org.id {
            ours.push(id.clone());
        }
        batch.push(user(org_id, &id, &format!("name{i}"), None));
        if batch.len() == 500 {
            w(s, |tx| tx.insert_users(&batch));
            batch.clear();
        }
    }
    for id in ours.iter().skip(700).take(300).step_by(2) {
        assert!(w(s, |tx| tx.delete_user(org.id, id)));
    }
    let mut deleted = ours.iter().skip(700).take(300).step_by(2).cloned().collect::<Vec<_>>();
    deleted.sort();
    ours.retain(|id| deleted.binary_search(id).is_err());
    let total = ours.len() as u64;
    for start in [1, 2, 500, 699, 700, 701, 1024, 1025, 1500, 1849, 1850, total - 1, total, total + 1, 5000] {
        let from = usize::try_from(start - 1).unwrap().min(ours.len());
        let to = (from + 100).min(ours.len());
        let (t, ids) = query_ids(s, org.id, None, None, SortOrder::Ascending, start, 100);
        assert_eq!((t, ids), (total, ours[from..to].to_vec()), "startIndex {start}");
    }
}

/// A cursor walk (RFC 9865 keyset paging): pages of `count` users after
/// position `after` until no next position is given. Returns the ids in
/// order and checks that every page reports `total`.
fn cursor_walk(
    s: &dyn Store,
    org_id: i64,
    filter: Option<&str>,
    count: u64,
    each_page: &mut dyn FnMut(),
) -> (Vec<u64>, Vec<String>) {
    let filter = filter.map(parse);
    let mut after = 0;
    let mut ids = Vec::new();
    let mut totals = Vec::new();
    for _ in 0..10_000 {
        let q = UserQuery { filter: filter.as_ref(), count, after: Some(after), ..UserQuery::default() };
        let page = r(s, |tx| tx.query_users(org_id, &q));
        assert!(page.items.len() as u64 <= count);
        totals.push(page.total);
        ids.extend(page.items.into_iter().map(|u| u.id));
        match page.next {
            Some(next) => {
                assert!(next > after, "positions grow");
                after = next;
            }
            None => return (totals, ids),
        }
        each_page();
    }
    panic!("the cursor walk did not end");
}

pub fn cursor_paging(s: &dyn Store) {
    let org = new_org(s, "acme");
    let other = new_org(s, "globex");
    let all: Vec<String> = (0..25).map(|i| format!("u{i:02}")).collect();
    for (i, id) in all.iter().enumerate() {
        insert(s, &user(org.id, id, &format!("user{}", 25 - i), None));
        insert(s, &user(other.id, &format!("o{i}"), &format!("other{i}"), None));
    }
    // Every user exactly once, in insertion order, whatever the page size.
    for count in [1, 4, 5, 24, 25, 26, 1000] {
        let (totals, ids) = cursor_walk(s, org.id, None, count, &mut || {});
        assert_eq!(ids, all, "count {count}");
        assert!(totals.iter().all(|t| *t == 25), "count {count}: {totals:?}");
        // The last page carries no next position: an exact multiple ends without an empty page.
        assert_eq!(totals.len() as u64, 25u64.div_ceil(count), "count {count}");
    }
    // With a filter: its matches only, and their count.
    let (totals, ids) = cursor_walk(s, org.id, Some(r#"userName ew "5" or userName ew "0""#), 2, &mut || {});
    assert_eq!(ids, strings(&["u00", "u05", "u10", "u15", "u20"]), "user25, user20, … user5");
    assert!(totals.iter().all(|t| *t == 5), "{totals:?}");
    // count 0: the total only.
    let q = UserQuery { count: 0, after: Some(0), ..UserQuery::default() };
    let page = r(s, |tx| tx.query_users(org.id, &q));
    assert_eq!((page.total, page.items.len(), page.next), (25, 0, None));
    // A position whose row was deleted still works: paging resumes after it.
    let q = UserQuery { count: 3, after: Some(0), ..UserQuery::default() };
    let first = r(s, |tx| tx.query_users(org.id, &q));
    let next = first.next.unwrap();
    assert!(w(s, |tx| tx.delete_user(org.id, "u02")));
    let q = UserQuery { count: 3, after: Some(next), ..UserQuery::default() };
    let second = r(s, |tx| tx.query_users(org.id, &q));
    assert_eq!(second.items.iter().map(|u| u.id.as_str()).collect::<Vec<_>>(), vec!["u03", "u04", "u05"]);
    // The unfiltered total follows inserts and deletes (single and batched), per organisation.
    assert_eq!(second.total, 24);
    let batch: Vec<UserRecord> = (0..7).map(|i| user(org.id, &format!("b{i}"), &format!("batch{i}"), None)).collect();
    w(s, |tx| tx.insert_users(&batch));
    let q = UserQuery { count: 0, after: Some(0), ..UserQuery::default() };
    assert_eq!(r(s, |tx| tx.query_users(org.id, &q)).total, 31);
    assert_eq!(query_ids(s, org.id, None, None, SortOrder::Ascending, 1, 0).0, 31);
    assert_eq!(query_ids(s, other.id, None, None, SortOrder::Ascending, 1, 0).0, 25);
    // A rolled-back insert leaves the total alone.
    let _ = store::write(s, |tx| {
        tx.insert_user(&user(org.id, "gone", "gone", None))?;
        Err::<(), _>(DirectoryError::Conflict("refused".into()))
    });
    assert_eq!(query_ids(s, org.id, None, None, SortOrder::Ascending, 1, 0).0, 31);
    // Far past the end: an empty last page.
    let q = UserQuery { count: 10, after: Some(i64::MAX), ..UserQuery::default() };
    let page = r(s, |tx| tx.query_users(org.id, &q));
    assert_eq!((page.total, page.items.len(), page.next), (31, 0, None));
}

/// Pagination stays stable while users are inserted: a cursor walk sees each
/// user that existed when it started exactly once, in order, and never a
/// duplicate; users inserted meanwhile land after the cursor.
pub fn cursor_paging_under_concurrent_inserts(s: &dyn Store) {
    let org = new_org(s, "acme");
    let before: Vec<String> = (0..40).map(|i| format!("pre{i:02}")).collect();
    for id in &before {
        insert(s, &user(org.id, id, id, None));
    }
    let inserted = std::sync::atomic::AtomicUsize::new(0);
    let (_, seen) = std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            for i in 0..30 {
                insert(s, &user(org.id, &format!("new{i:02}"), &format!("new{i:02}"), None));
                inserted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        });
        // Also insert between pages, so that some inserts surely happen mid-walk.
        let mut n = 0;
        let walk = cursor_walk(s, org.id, None, 3, &mut || {
            n += 1;
            insert(s, &user(org.id, &format!("mid{n:02}"), &format!("mid{n:02}"), None));
        });
        writer.join().unwrap();
        walk
    });
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "no user twice: {seen:?}");
    let pre_seen: Vec<String> = seen.iter().filter(|id| id.starts_with("pre")).cloned().collect();
    assert_eq!(pre_seen, before, "every pre-existing user once, in order");
    assert!(seen.iter().any(|id| id.starts_with("mid")), "inserts after the cursor are reached by the walk");
    assert_eq!(inserted.load(std::sync::atomic::Ordering::SeqCst), 30);
}

pub fn sorting(s: &dyn Store) {
    let org = new_org(s, "acme");
    let mut a = user(org.id, "id-3", "bravo", Some("z@example.com"));
    a.scim["title"] = json!("b");
    a.created = "2026-01-03T00:00:00.000Z".into();
    let mut b = user(org.id, "id-1", "Alpha", None);
    b.created = "2026-01-02T00:00:00.000Z".into();
    b.scim["title"] = json!("C");
    let mut c = user(org.id, "id-2", "charlie", Some("a@example.com"));
    c.created = "2026-01-01T00:00:00.000Z".into();
    c.external_id = Some("x".into());
    c.scim["externalId"] = json!("x");
    c.scim["title"] = json!("a");
    for u in [&a, &b, &c] {
        insert(s, u);
    }
    let sorted = |by: &str, order| query_ids(s, org.id, None, Some(by), order, 1, 10).1;
    use SortOrder::{Ascending as Asc, Descending as Desc};
    assert_eq!(sorted("userName", Asc), vec!["id-1", "id-3", "id-2"], "case-insensitive");
    assert_eq!(sorted("USERNAME", Desc), vec!["id-2", "id-3", "id-1"]);
    assert_eq!(sorted("id", Asc), vec!["id-1", "id-2", "id-3"]);
    assert_eq!(sorted("meta.created", Asc), vec!["id-2", "id-1", "id-3"]);
    assert_eq!(sorted("meta.created", Desc), vec!["id-3", "id-1", "id-2"]);
    assert_eq!(sorted("title", Asc), vec!["id-2", "id-3", "id-1"]);
    assert_eq!(sorted("title", Desc), vec!["id-1", "id-3", "id-2"]);
    assert_eq!(sorted("displayName", Asc), vec!["id-1", "id-3", "id-2"]);
    // Unassigned values sort last either way; ties keep insertion order.
    assert_eq!(sorted("emails", Asc), vec!["id-2", "id-3", "id-1"]);
    assert_eq!(sorted("emails.value", Desc), vec!["id-3", "id-2", "id-1"]);
    assert_eq!(sorted("externalId", Asc), vec!["id-2", "id-3", "id-1"]);
    assert_eq!(sorted("nickName", Desc), vec!["id-3", "id-1", "id-2"]);
    // Sorting and paging together.
    assert_eq!(query_ids(s, org.id, None, Some("userName"), Asc, 2, 1), (3, vec!["id-3".to_string()]));
}

pub fn rollback_on_error(s: &dyn Store) {
    let org = new_org(s, "acme");
    let result = s.write(&mut |tx| {
        tx.insert_user(&user(org.id, "u1", "alice", None))?;
        tx.append_event(&event(org.id, 1))?;
        Err(DirectoryError::Invalid(scim::ScimError::status(400, "nope")))
    });
    assert!(matches!(result, Err(DirectoryError::Invalid(_))));
    assert_eq!(r(s, |tx| tx.user_by_id(org.id, "u1")), None);
    assert!(r(s, |tx| tx.recent_events(org.id, 10)).is_empty());
    // A failed conflict leaves earlier work of the same transaction undone too.
    insert(s, &user(org.id, "u2", "bob", None));
    let result = s.write(&mut |tx| {
        tx.insert_user(&user(org.id, "u3", "carol", None))?;
        tx.insert_user(&user(org.id, "u4", "BOB", None))
    });
    assert!(matches!(result, Err(DirectoryError::Conflict(_))));
    assert_eq!(r(s, |tx| tx.user_by_id(org.id, "u3")), None);
    // The store is usable after a rollback.
    insert(s, &user(org.id, "u3", "carol", None));
}

pub fn clear_manager_references(s: &dyn Store) {
    let org = new_org(s, "acme");
    let other = new_org(s, "globex");
    insert(s, &user(org.id, "boss", "boss", None));
    let managed = |org_id: i64, id: &str, extra: Value| {
        let mut u = user(org_id, id, id, None);
        let mut ext = json!({"manager": {"value": "boss", "displayName": "Boss"}});
        if let (Some(e), Some(x)) = (ext.as_object_mut(), extra.as_object()) {
            e.extend(x.clone());
        }
        u.scim[ENTERPRISE_USER_SCHEMA_URN] = ext;
        u.manager_id = Some("boss".into());
        u
    };
    let e1 = managed(org.id, "e1", json!({}));
    let e2 = managed(org.id, "e2", json!({"department": "R&D"}));
    let foreign = managed(other.id, "f1", json!({}));
    for u in [&e1, &e2, &foreign] {
        insert(s, u);
    }
    w(s, |tx| tx.clear_manager_references(org.id, "boss"));
    let e1 = r(s, |tx| tx.user_by_id(org.id, "e1")).unwrap();
    assert_eq!(e1.manager_id, None);
    assert_eq!(e1.scim.get(ENTERPRISE_USER_SCHEMA_URN), None, "an emptied extension object is dropped");
    assert_eq!(e1.version, 2);
    assert!(e1.last_modified.as_str() > "2026-01-01T00:00:00.000Z");
    let e2 = r(s, |tx| tx.user_by_id(org.id, "e2")).unwrap();
    assert_eq!(e2.manager_id, None);
    assert_eq!(e2.scim[ENTERPRISE_USER_SCHEMA_URN], json!({"department": "R&D"}));
    assert!(ids_matching(s, org.id, r#"manager.value eq "boss""#).is_empty());
    let boss = r(s, |tx| tx.user_by_id(org.id, "boss")).unwrap();
    assert_eq!(boss.version, 1, "unrelated users are untouched");
    let f1 = r(s, |tx| tx.user_by_id(other.id, "f1")).unwrap();
    assert_eq!(f1.manager_id.as_deref(), Some("boss"), "other organisations are untouched");
}

pub fn events_append_recent(s: &dyn Store) {
    let org = new_org(s, "acme");
    let other = new_org(s, "globex");
    for n in 1..=5 {
        w(s, |tx| tx.append_event(&event(org.id, n)));
    }
    w(s, |tx| tx.append_event(&event(other.id, 9)));
    let recent = r(s, |tx| tx.recent_events(org.id, 3));
    assert_eq!(recent.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), vec!["ev-5", "ev-4", "ev-3"]);
    assert_eq!(recent[0], event(org.id, 5));
    assert_eq!(recent[1], event(org.id, 4));
    assert_eq!(r(s, |tx| tx.recent_events(org.id, 100)).len(), 5);
    assert_eq!(r(s, |tx| tx.recent_events(other.id, 100)), vec![event(other.id, 9)]);
}

// ---- tests on one database opened several times ----

/// `open` returns a new handle to the same database each call. 8 threads,
/// each with its own handle, insert the same username: exactly one wins.
pub fn concurrent_unique_insert(open: &(dyn Fn() -> Arc<dyn Store> + Sync)) {
    let setup = open();
    let org = new_org(setup.as_ref(), "race");
    let barrier = Barrier::new(8);
    let results: Vec<Result<(), DirectoryError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    let s = open();
                    let u = user(org.id, &format!("racer-{i}"), "Same.Name", None);
                    store::write(s.as_ref(), |tx| tx.insert_user(&u))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{results:?}");
    for r in results.iter().filter(|r| r.is_err()) {
        assert!(matches!(r, Err(DirectoryError::Conflict(_))), "{r:?}");
    }
    let (total, _) = query_ids(setup.as_ref(), org.id, None, None, SortOrder::Ascending, 1, 0);
    assert_eq!(total, 1);
}

/// 8 threads, each with its own handle, increment one user's version by
/// read-modify-write inside `write`: no update is lost.
pub fn concurrent_increments(open: &(dyn Fn() -> Arc<dyn Store> + Sync)) {
    const THREADS: i64 = 8;
    const ROUNDS: i64 = 10;
    let setup = open();
    let org = new_org(setup.as_ref(), "counter");
    insert(setup.as_ref(), &user(org.id, "counter", "counter", None));
    std::thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                let s = open();
                for _ in 0..ROUNDS {
                    w(s.as_ref(), |tx| {
                        let mut u =
                            tx.user_by_id(org.id, "counter")?.ok_or(DirectoryError::NotFound("counter".into()))?;
                        u.version += 1;
                        tx.update_user(&u)
                    });
                }
            });
        }
    });
    let u = r(setup.as_ref(), |tx| tx.user_by_id(org.id, "counter")).unwrap();
    assert_eq!(u.version, 1 + THREADS * ROUNDS);
}

/// Data written through one handle is there after it is dropped and the database reopened.
pub fn survives_reopen(open: &dyn Fn() -> Arc<dyn Store>) {
    let org_id;
    {
        let s = open();
        org_id = new_org(s.as_ref(), "durable").id;
        insert(s.as_ref(), &user(org_id, "keep", "keeper", Some("keep@example.com")));
        w(s.as_ref(), |tx| tx.append_event(&event(org_id, 1)));
    }
    let s = open();
    assert_eq!(r(s.as_ref(), |tx| tx.org_by_name("durable")).map(|o| o.id), Some(org_id));
    assert_eq!(
        r(s.as_ref(), |tx| tx.user_by_id(org_id, "keep")),
        Some(user(org_id, "keep", "keeper", Some("keep@example.com")))
    );
    assert_eq!(ids_matching(s.as_ref(), org_id, r#"emails eq "KEEP@example.com""#), vec!["keep"]);
    assert_eq!(r(s.as_ref(), |tx| tx.recent_events(org_id, 10)).len(), 1);
}

// ---- groups ----

fn group(org_id: i64, id: &str, name: &str) -> GroupRecord {
    GroupRecord {
        id: id.into(),
        org_id,
        display_name: name.into(),
        external_id: None,
        scim: json!({"displayName": name}),
        created: "2026-01-01T00:00:00.000Z".into(),
        last_modified: "2026-01-01T00:00:00.000Z".into(),
        version: 1,
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn member_list(s: &dyn Store, org_id: i64, gid: &str) -> Vec<MemberRef> {
    r(s, |tx| {
        let mut out = Vec::new();
        tx.for_each_member(org_id, gid, &mut |m| {
            out.push(m);
            Ok(())
        })?;
        Ok(out)
    })
}

fn member_ids(s: &dyn Store, org_id: i64, gid: &str) -> Vec<String> {
    member_list(s, org_id, gid).into_iter().map(|m| m.id).collect()
}

fn group_ids(
    s: &dyn Store,
    org_id: i64,
    filter: Option<&str>,
    sort: Option<&str>,
    start: u64,
    count: u64,
) -> (u64, Vec<String>) {
    let filter = filter.map(parse);
    let sort = sort.map(|p| AttrPath::parse(p).unwrap());
    let q = crate::store::GroupQuery {
        filter: filter.as_ref(),
        sort_by: sort.as_ref(),
        sort_order: SortOrder::Ascending,
        start_index: start,
        count,
        after: None,
    };
    let page = r(s, |tx| tx.query_groups(org_id, &q));
    (page.total, page.items.into_iter().map(|g| g.id).collect())
}

pub fn groups_insert_get_update_delete(s: &dyn Store) {
    let org = new_org(s, "acme");
    let other = new_org(s, "globex");
    let mut g = group(org.id, "g1", "Sales");
    g.external_id = Some("ext-1".into());
    g.scim = json!({"externalId": "ext-1", "displayName": "Sales"});
    w(s, |tx| tx.insert_group(&g));
    assert_eq!(r(s, |tx| tx.group_by_id(org.id, "g1")), Some(g.clone()));
    assert_eq!(r(s, |tx| tx.group_by_id(other.id, "g1")), None, "groups are scoped by org");
    // displayName is unique per org, case-insensitively.
    assert_eq!(r(s, |tx| tx.group_name_holder(org.id, "SALES", None)), Some("g1".to_string()));
    assert_eq!(r(s, |tx| tx.group_name_holder(org.id, "sales", Some("g1"))), None);
    assert_eq!(r(s, |tx| tx.group_name_holder(other.id, "Sales", None)), None);
    conflict(store::write(s, |tx| tx.insert_group(&group(org.id, "g2", "sALES"))), "sALES");
    w(s, |tx| tx.insert_group(&group(other.id, "g3", "Sales")));
    let mut g2 = g.clone();
    g2.display_name = "Marketing".into();
    g2.scim = json!({"displayName": "Marketing"});
    g2.external_id = None;
    g2.version = 2;
    w(s, |tx| tx.update_group(&g2));
    assert_eq!(r(s, |tx| tx.group_by_id(org.id, "g1")), Some(g2));
    w(s, |tx| tx.insert_group(&group(org.id, "g4", "Ops")));
    let mut clash = group(org.id, "g4", "MARKETING");
    clash.version = 2;
    conflict(store::write(s, |tx| tx.update_group(&clash)), "MARKETING");
    assert!(w(s, |tx| tx.delete_group(org.id, "g1")));
    assert!(!w(s, |tx| tx.delete_group(org.id, "g1")));
    assert!(!w(s, |tx| tx.delete_group(org.id, "g3")), "another org's group is not deleted");
    assert_eq!(r(s, |tx| tx.group_by_id(org.id, "g1")), None);
}

pub fn group_members_in_batches(s: &dyn Store) {
    let org = new_org(s, "acme");
    let other = new_org(s, "globex");
    for id in ["a", "b", "c", "d"] {
        insert(s, &user(org.id, id, id, None));
    }
    insert(s, &user(other.id, "x", "x", None));
    w(s, |tx| tx.insert_group(&group(org.id, "g", "G")));
    assert_eq!(r(s, |tx| tx.existing_user_ids(org.id, &strings(&["a", "x", "zz", "c"]))).len(), 2);
    let mut known = r(s, |tx| tx.existing_user_ids(org.id, &strings(&["a", "x", "zz", "c"])));
    known.sort();
    assert_eq!(known, strings(&["a", "c"]), "other orgs' and unknown ids are not users here");
    assert_eq!(w(s, |tx| tx.add_members(org.id, "g", &strings(&["c", "a", "b"]))), strings(&["c", "a", "b"]));
    assert_eq!(w(s, |tx| tx.add_members(org.id, "g", &strings(&["a", "d"]))), strings(&["d"]), "only new members");
    assert_eq!(member_ids(s, org.id, "g"), strings(&["a", "b", "c", "d"]), "ordered by member id");
    assert_eq!(member_list(s, org.id, "g")[0], MemberRef { id: "a".into(), display: Some("User a".into()) });
    assert_eq!(w(s, |tx| tx.remove_members(org.id, "g", &strings(&["b", "zz", "d"]))), strings(&["b", "d"]));
    assert_eq!(member_ids(s, org.id, "g"), strings(&["a", "c"]));
    assert!(member_ids(s, other.id, "g").is_empty(), "scoped by org");
    let mut cleared = w(s, |tx| tx.clear_members(org.id, "g"));
    cleared.sort();
    assert_eq!(cleared, strings(&["a", "c"]));
    assert!(member_ids(s, org.id, "g").is_empty());
    assert!(w(s, |tx| tx.clear_members(org.id, "g")).is_empty());
    // A rolled-back member change leaves nothing behind.
    let failed = store::write(s, |tx| {
        tx.add_members(org.id, "g", &strings(&["a"]))?;
        Err::<(), _>(DirectoryError::Store("abort".into()))
    });
    assert!(failed.is_err());
    assert!(member_ids(s, org.id, "g").is_empty());
    // Large batches.
    let many: Vec<String> = (0..1500).map(|i| format!("u{i:04}")).collect();
    w(s, |tx| {
        for id in &many {
            tx.insert_user(&user(org.id, id, id, None))?;
        }
        Ok(())
    });
    assert_eq!(r(s, |tx| tx.existing_user_ids(org.id, &many)).len(), 1500);
    assert_eq!(w(s, |tx| tx.add_members(org.id, "g", &many)).len(), 1500);
    assert_eq!(member_ids(s, org.id, "g").len(), 1500);
    assert_eq!(w(s, |tx| tx.remove_members(org.id, "g", &many[..700])).len(), 700);
    assert_eq!(member_ids(s, org.id, "g").len(), 800);
}

pub fn group_queries(s: &dyn Store) {
    let org = new_org(s, "acme");
    for id in ["a", "b"] {
        insert(s, &user(org.id, id, id, None));
    }
    let mut g1 = group(org.id, "g1", "Engineering");
    g1.external_id = Some("E1".into());
    g1.scim = json!({"externalId": "E1", "displayName": "Engineering"});
    w(s, |tx| tx.insert_group(&g1));
    w(s, |tx| tx.insert_group(&group(org.id, "g2", "all staff")));
    w(s, |tx| tx.insert_group(&group(org.id, "g3", "Board")));
    w(s, |tx| tx.add_members(org.id, "g1", &strings(&["a", "b"])));
    w(s, |tx| tx.add_members(org.id, "g2", &strings(&["a"])));
    let ids = |f: &str| {
        let (total, mut ids) = group_ids(s, org.id, Some(f), None, 1, 100);
        assert_eq!(total as usize, ids.len(), "{f}");
        ids.sort();
        ids
    };
    assert_eq!(ids(r#"displayName eq "ENGINEERING""#), strings(&["g1"]));
    assert_eq!(ids(r#"externalId eq "E1""#), strings(&["g1"]));
    assert!(ids(r#"externalId eq "e1""#).is_empty(), "externalId is caseExact");
    assert_eq!(ids(r#"id eq "g1" and members eq "b""#), strings(&["g1"]));
    assert!(ids(r#"id eq "g2" and members eq "b""#).is_empty());
    assert_eq!(ids(r#"members[value eq "a"]"#), strings(&["g1", "g2"]));
    assert_eq!(ids(r#"members.value eq "b""#), strings(&["g1"]));
    assert_eq!(ids(r#"members eq "b" or displayName eq "board""#), strings(&["g1", "g3"]));
    assert_eq!(ids(r#"not (members pr)"#), strings(&["g3"]));
    assert_eq!(ids(r#"displayName sw "b" and meta.resourceType eq "Group""#), strings(&["g3"]));
    let (total, page) = group_ids(s, org.id, None, Some("displayName"), 2, 1);
    assert_eq!((total, page), (3, strings(&["g3"])), "sorted by displayName, case-insensitively");
    assert_eq!(group_ids(s, org.id, None, None, 1, 0), (3, vec![]));
}

pub fn group_cursor_paging(s: &dyn Store) {
    let org = new_org(s, "acme");
    insert(s, &user(org.id, "a", "a", None));
    let all: Vec<String> = (0..11).map(|i| format!("g{i:02}")).collect();
    for (i, id) in all.iter().enumerate() {
        w(s, |tx| tx.insert_group(&group(org.id, id, &format!("Team {}", 11 - i))));
    }
    w(s, |tx| tx.add_members(org.id, "g03", &strings(&["a"])));
    w(s, |tx| tx.add_members(org.id, "g07", &strings(&["a"])));
    let walk = |filter: Option<&Filter>, count: u64| {
        let mut after = 0;
        let mut ids = Vec::new();
        loop {
            let q = crate::store::GroupQuery { filter, count, after: Some(after), ..UserQuery::default() };
            let page = r(s, |tx| tx.query_groups(org.id, &q));
            ids.extend(page.items.into_iter().map(|g| (g.id, page.total)));
            match page.next {
                Some(next) => after = next,
                None => return ids,
            }
        }
    };
    for count in [1, 3, 11, 100] {
        let ids = walk(None, count);
        assert_eq!(ids.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>(), all, "count {count}");
        assert!(ids.iter().all(|(_, total)| *total == 11));
    }
    let members = parse(r#"members eq "a""#);
    assert_eq!(walk(Some(&members), 1), vec![("g03".to_string(), 2), ("g07".to_string(), 2)]);
    // The unfiltered total follows deletes.
    assert!(w(s, |tx| tx.delete_group(org.id, "g05")));
    assert_eq!(group_ids(s, org.id, None, None, 1, 0).0, 10);
    assert_eq!(walk(None, 4).len(), 10);
}

pub fn groups_of_users_names_and_cascades(s: &dyn Store) {
    let org = new_org(s, "acme");
    for id in ["a", "b", "c"] {
        insert(s, &user(org.id, id, id, None));
    }
    let mut no_display = user(org.id, "n", "nameless", None);
    no_display.scim = json!({"userName": "nameless"}).into();
    insert(s, &no_display);
    w(s, |tx| tx.insert_group(&group(org.id, "g1", "Zeta")));
    w(s, |tx| tx.insert_group(&group(org.id, "g2", "alpha")));
    w(s, |tx| tx.add_members(org.id, "g1", &strings(&["a", "b", "n"])));
    w(s, |tx| tx.add_members(org.id, "g2", &strings(&["a"])));
    let refs = r(s, |tx| tx.groups_of_users(org.id, &strings(&["a", "b", "c"])));
    let pairs: Vec<(String, String, String)> =
        refs.into_iter().map(|g| (g.user_id, g.group_id, g.display_name)).collect();
    assert_eq!(
        pairs,
        vec![
            ("a".into(), "g2".into(), "alpha".into()),
            ("a".into(), "g1".into(), "Zeta".into()),
            ("b".into(), "g1".into(), "Zeta".into())
        ]
    );
    let mut names = r(s, |tx| tx.user_names(org.id, &strings(&["a", "n", "zz"])));
    names.sort_by(|x, y| x.id.cmp(&y.id));
    assert_eq!(names.len(), 2);
    assert_eq!(names[0].display_name.as_deref(), Some("User a"));
    assert_eq!((names[1].user_name.as_str(), names[1].display_name.as_deref()), ("nameless", None));
    assert_eq!(member_list(s, org.id, "g1")[2], MemberRef { id: "n".into(), display: None });
    // Deleting a user removes them from every group; deleting a group keeps its users.
    w(s, |tx| tx.delete_user(org.id, "a"));
    assert_eq!(member_ids(s, org.id, "g1"), strings(&["b", "n"]));
    assert!(member_ids(s, org.id, "g2").is_empty());
    w(s, |tx| tx.delete_group(org.id, "g1"));
    assert!(r(s, |tx| tx.groups_of_users(org.id, &strings(&["b", "n"]))).is_empty());
    assert!(r(s, |tx| tx.user_by_id(org.id, "b")).is_some());
    // Deleting a group with members, then re-creating the name, starts empty.
    w(s, |tx| tx.insert_group(&group(org.id, "g3", "Zeta")));
    assert!(member_ids(s, org.id, "g3").is_empty());
}
