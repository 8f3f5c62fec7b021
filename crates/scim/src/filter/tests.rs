use super::*;
use crate::schema::{ENTERPRISE_USER_SCHEMA_URN, GROUP, USER};
use proptest::prelude::*;
use serde_json::json;

const ENT: &str = ENTERPRISE_USER_SCHEMA_URN;

fn p(s: &str) -> Filter {
    match s.parse::<Filter>() {
        Ok(f) => f,
        Err(e) => panic!("{s:?} did not parse: {}", e.detail),
    }
}

fn path(s: &str) -> AttrPath {
    AttrPath::parse(s).unwrap()
}

fn cmp(a: &str, op: CompareOp, v: CompValue) -> Filter {
    Filter::Compare(path(a), op, v)
}

fn s(v: &str) -> CompValue {
    CompValue::Str(v.to_string())
}

fn n(v: i64) -> CompValue {
    CompValue::Number(v.into())
}

fn and(a: Filter, b: Filter) -> Filter {
    Filter::And(Box::new(a), Box::new(b))
}

fn or(a: Filter, b: Filter) -> Filter {
    Filter::Or(Box::new(a), Box::new(b))
}

fn not(a: Filter) -> Filter {
    Filter::Not(Box::new(a))
}

fn vp(a: &str, f: Filter) -> Filter {
    Filter::ValuePath(path(a), Box::new(f))
}

fn err(s: &str) -> String {
    match s.parse::<Filter>() {
        Ok(f) => panic!("{s:?} parsed as {f:?}"),
        Err(e) => {
            assert_eq!(e.scim_type, Some(crate::ScimType::InvalidFilter));
            assert_eq!(e.status, 400);
            e.detail
        }
    }
}

fn user() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENT],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "externalId": "johnwong",
        "userName": "dale.mohr@romaguera.uk",
        "name": {"familyName": "Employee", "givenName": "Test"},
        "displayName": "Dale Mohr",
        "active": true,
        "emails": [
            {"value": "dale@example.com", "type": "work", "primary": true},
            {"value": "dale@home.org", "type": "home"}
        ],
        "roles": [{"value": "admin", "primary": "True"}],
        "meta": {"resourceType": "User", "created": "2011-08-01T18:29:49.793Z",
                 "lastModified": "2011-08-01T20:29:49+02:00"},
        ENT: {"department": "Sales", "manager": {"value": "MGR-1", "displayName": "Boss"}},
        "customThing": "Hello"
    })
}

fn group() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": "G1",
        "displayName": "Group1",
        "members": [{"value": "u1", "display": "User One"}, {"value": "U2"}]
    })
}

fn m(f: &str, resource: &Value, rt: &ResourceType) -> bool {
    p(f).matches(resource, rt)
}

// ---------------------------------------------------------------- wire spec

#[test]
fn wire_spec_lookups() {
    let u = json!({"id": "1", "userName": "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee"});
    let f = "userName eq \"Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee\"";
    assert_eq!(p(f), cmp("userName", CompareOp::Eq, s("Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee")));
    assert!(m(f, &u, &USER));
    // Test Connection probe: zero hits, no error.
    assert!(!m("userName eq \"f3b1c0de-6a1e-4c1b-9d8e-0a6c2d9e7b11\"", &u, &USER));

    assert_eq!(p("externalId eq \"johnwong\""), cmp("externalId", CompareOp::Eq, s("johnwong")));
    assert!(m("externalId eq \"johnwong\"", &user(), &USER));
    assert_eq!(
        p("userName eq \"dale.mohr@romaguera.uk\""),
        cmp("userName", CompareOp::Eq, s("dale.mohr@romaguera.uk"))
    );
    assert!(m("userName eq \"dale.mohr@romaguera.uk\"", &user(), &USER));
    assert!(m("userName eq \"test.user@okta.local\"", &json!({"userName": "test.user@okta.local"}), &USER));

    // Legacy unquoted value.
    assert_eq!(p("externalId eq jyoung"), cmp("externalId", CompareOp::Eq, s("jyoung")));
    assert!(m("externalId eq jyoung", &json!({"externalId": "jyoung"}), &USER));
    assert!(m("externalId eq johnwong", &user(), &USER));
}

#[test]
fn wire_spec_manager_reference() {
    let f = "id eq \"2819c223-7f76-453a-919d-413861904646\" and manager eq \"MGR-1\"";
    assert_eq!(
        p(f),
        and(
            cmp("id", CompareOp::Eq, s("2819c223-7f76-453a-919d-413861904646")),
            cmp("manager", CompareOp::Eq, s("MGR-1"))
        )
    );
    assert!(m(f, &user(), &USER));
    // manager.value is caseExact.
    assert!(!m("manager eq \"mgr-1\"", &user(), &USER));
    assert!(m(&format!("{ENT}:manager.value eq \"MGR-1\""), &user(), &USER));
    assert!(m(&format!("{ENT}:department eq \"sales\""), &user(), &USER));
    assert_eq!(
        p(&format!("{ENT}:manager.value eq \"x\"")),
        Filter::Compare(
            AttrPath { urn: Some(ENT.into()), attr: "manager".into(), sub_attr: Some("value".into()) },
            CompareOp::Eq,
            s("x")
        )
    );
    assert!(m("department eq \"Sales\"", &user(), &USER));
}

#[test]
fn wire_spec_groups() {
    assert_eq!(p("displayName eq \"Group1\""), cmp("displayName", CompareOp::Eq, s("Group1")));
    assert!(m("displayName eq \"Group1\"", &group(), &GROUP));
    // "Filter for existing group different case".
    assert!(m("displayName eq \"GROUP1\"", &group(), &GROUP));
    assert!(m("displayName eq \"displayName\"", &json!({"displayName": "displayName"}), &GROUP));

    assert_eq!(p("members[value eq \"u1\"]"), vp("members", cmp("value", CompareOp::Eq, s("u1"))));
    assert!(m("members[value eq \"u1\"]", &group(), &GROUP));
    assert!(!m("members[value eq \"U1\"]", &group(), &GROUP), "members.value is caseExact");
    let f = "id eq \"G1\" and members eq \"U2\"";
    assert_eq!(p(f), and(cmp("id", CompareOp::Eq, s("G1")), cmp("members", CompareOp::Eq, s("U2"))));
    assert!(m(f, &group(), &GROUP));
    assert!(!m("id eq \"G1\" and members eq \"u2\"", &group(), &GROUP));
    assert!(!m("id eq \"g1\"", &group(), &GROUP), "id is caseExact");

    let member = GROUP.resolve(None, "members").unwrap().attribute;
    let f = p("value eq \"7f4bc1a3-285e-48ae-8202-5accb43efb0e\"");
    assert!(f.matches_element(&json!({"value": "7f4bc1a3-285e-48ae-8202-5accb43efb0e"}), member));
    assert!(!f.matches_element(&json!({"value": "other"}), member));
}

#[test]
fn wire_spec_emails_value_path() {
    let f = "emails[type eq \"work\"].value eq \"dale@example.com\"";
    assert_eq!(
        p(f),
        vp("emails", and(cmp("type", CompareOp::Eq, s("work")), cmp("value", CompareOp::Eq, s("dale@example.com"))))
    );
    assert_eq!(p(f).to_string(), "emails[type eq \"work\" and value eq \"dale@example.com\"]");
    assert!(m(f, &user(), &USER));
    assert!(m("emails[type eq \"work\"].value eq \"DALE@example.com\"", &user(), &USER));
    // The work address is not the home one: the two conditions bind to one element.
    assert!(!m("emails[type eq \"work\"].value eq \"dale@home.org\"", &user(), &USER));
    assert!(m("emails[type eq \"work\" and primary eq true]", &user(), &USER));
    assert!(!m("emails[type eq \"home\" and primary eq true]", &user(), &USER));
    assert!(!m("emails[type eq \"home\"].display pr", &user(), &USER));
    assert_eq!(
        p("emails[type eq \"work\"].value pr"),
        vp("emails", and(cmp("type", CompareOp::Eq, s("work")), Filter::Present(path("value"))))
    );
    // Entra's string booleans.
    assert!(m("roles[primary eq \"True\"]", &user(), &USER));
    assert!(m("roles[primary eq true]", &user(), &USER));
    assert!(!m("roles[primary eq false]", &user(), &USER));
    let emails = USER.resolve(None, "emails").unwrap().attribute;
    assert!(p("type eq \"work\"").matches_element(&json!({"type": "Work", "value": "x"}), emails));
    assert!(p("primary eq \"true\"").matches_element(&json!({"primary": true}), emails));
}

#[test]
fn reference_code_queries() {
    let f = "name.FamilyName eq Employee and (emails.Value co \"example.com\" or emails.Value co \"example.org\")";
    assert_eq!(
        p(f),
        and(
            cmp("name.FamilyName", CompareOp::Eq, s("Employee")),
            or(
                cmp("emails.Value", CompareOp::Co, s("example.com")),
                cmp("emails.Value", CompareOp::Co, s("example.org"))
            )
        )
    );
    assert!(m(f, &user(), &USER));
    assert!(!m(&f.replace("Employee", "Boss"), &user(), &USER));

    assert_eq!(p("userName sw O"), cmp("userName", CompareOp::Sw, s("O")));
    assert!(m("userName sw O", &json!({"userName": "oscar"}), &USER));
    assert!(!m("userName sw O", &user(), &USER));

    let f = "meta.Created gt \"2011-05-13T04:42:34Z\"";
    assert_eq!(p(f), cmp("meta.Created", CompareOp::Gt, s("2011-05-13T04:42:34Z")));
    assert!(m(f, &user(), &USER));
    assert!(!m("meta.created lt \"2011-05-13T04:42:34Z\"", &user(), &USER));
    // By instant, not by text: 20:29:49+02:00 is 18:29:49Z.
    assert!(m("meta.lastModified eq \"2011-08-01T18:29:49Z\"", &user(), &USER));
    assert!(m("meta.lastModified lt \"2011-08-01T18:29:49.5Z\"", &user(), &USER));
    assert!(m("meta.lastModified ge \"2011-08-01T19:00:00+01:00\"", &user(), &USER));
    assert!(m("meta.lastModified le \"2011-08-01T18:29:49Z\"", &user(), &USER));
}

#[test]
fn not_precedence_and_case() {
    assert_eq!(p("not (active eq false)"), not(cmp("active", CompareOp::Eq, CompValue::Bool(false))));
    assert_eq!(p("NOT(active eq false)"), p("not (active eq false)"));
    assert!(m("not (active eq false)", &user(), &USER));
    assert!(!m("not (active eq true)", &user(), &USER));
    assert!(m("active eq \"True\"", &user(), &USER));

    assert_eq!(
        p("a eq 1 or b eq 2 and c eq 3"),
        or(cmp("a", CompareOp::Eq, n(1)), and(cmp("b", CompareOp::Eq, n(2)), cmp("c", CompareOp::Eq, n(3))))
    );
    assert_eq!(
        p("a eq 1 and b eq 2 or c eq 3"),
        or(and(cmp("a", CompareOp::Eq, n(1)), cmp("b", CompareOp::Eq, n(2))), cmp("c", CompareOp::Eq, n(3)))
    );
    assert_eq!(
        p("a eq 1 and b eq 2 and c eq 3"),
        and(and(cmp("a", CompareOp::Eq, n(1)), cmp("b", CompareOp::Eq, n(2))), cmp("c", CompareOp::Eq, n(3)))
    );
    assert_eq!(
        p("(a eq 1 or b eq 2) and not (c pr)"),
        and(or(cmp("a", CompareOp::Eq, n(1)), cmp("b", CompareOp::Eq, n(2))), not(Filter::Present(path("c"))))
    );
    assert_eq!(
        p("userName EQ \"x\" AND title Pr"),
        and(cmp("userName", CompareOp::Eq, s("x")), Filter::Present(path("title")))
    );
    assert_eq!(p("active eq True"), cmp("active", CompareOp::Eq, CompValue::Bool(true)));
    assert_eq!(p("x eq NULL"), cmp("x", CompareOp::Eq, CompValue::Null));
    assert_eq!(p("  \tuserName\n eq\r\n\"x\"  "), cmp("userName", CompareOp::Eq, s("x")));
    // `not` without a parenthesis is an attribute name.
    assert_eq!(p("not pr"), Filter::Present(path("not")));

    let u = json!({"userName": "jdoe", "externalId": "jdoe"});
    assert!(m("userName eq \"JDOE\"", &u, &USER));
    assert!(m("USERNAME eq \"JDoe\"", &u, &USER));
    assert!(!m("externalId eq \"JDOE\"", &u, &USER));
    assert!(m("externalId eq \"jdoe\"", &u, &USER));
}

#[test]
fn values() {
    assert_eq!(p(r#"x eq "a\"b\\c\u00e9\n\/""#), cmp("x", CompareOp::Eq, s("a\"b\\cé\n/")));
    assert_eq!(p(r#"x eq "\ud83d\ude00""#), cmp("x", CompareOp::Eq, s("😀")));
    assert_eq!(p("x eq -12"), cmp("x", CompareOp::Eq, n(-12)));
    assert_eq!(
        p("x eq 1.5e3"),
        cmp("x", CompareOp::Eq, CompValue::Number(serde_json::Number::from_f64(1500.0).unwrap()))
    );
    assert_eq!(p("x eq 01"), cmp("x", CompareOp::Eq, s("01")));
    assert_eq!(p("x eq 1."), cmp("x", CompareOp::Eq, s("1.")));
    assert_eq!(p("x eq 1e400"), cmp("x", CompareOp::Eq, s("1e400")));
    assert_eq!(p("x eq -0"), cmp("x", CompareOp::Eq, CompValue::Number(0.into())));
    assert_eq!(p("x eq 18446744073709551615"), cmp("x", CompareOp::Eq, CompValue::Number(u64::MAX.into())));
    assert_eq!(p("x eq -9223372036854775808"), cmp("x", CompareOp::Eq, CompValue::Number(i64::MIN.into())));
    assert!(err("é eq 1").contains("position 0"));
    assert!(err("%.6Ѩ eq 1").contains("position 0"));
    assert_eq!(p("x eq \"true\""), cmp("x", CompareOp::Eq, s("true")));
    assert_eq!(
        p("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq \"x\""),
        Filter::Compare(
            AttrPath { urn: Some(ENT.into()), attr: "department".into(), sub_attr: None },
            CompareOp::Eq,
            s("x")
        )
    );
}

#[test]
fn evaluation_semantics() {
    let u = user();
    // pr
    assert!(m("title pr", &json!({"title": "x"}), &USER));
    for absent in [json!({}), json!({"title": null}), json!({"title": ""})] {
        assert!(!m("title pr", &absent, &USER));
    }
    assert!(!m("emails pr", &json!({"emails": []}), &USER));
    assert!(m("emails pr", &u, &USER));
    assert!(m("name.givenName pr", &u, &USER));
    assert!(!m("name.middleName pr", &u, &USER));
    // ne / null
    assert!(m("title ne \"x\"", &u, &USER));
    assert!(m("title eq null", &u, &USER));
    assert!(!m("userName eq null", &u, &USER));
    assert!(m("userName ne null", &u, &USER));
    assert!(!m("userName ne \"DALE.MOHR@romaguera.uk\"", &u, &USER));
    // co / sw / ew
    assert!(m("userName co \"MOHR\"", &u, &USER));
    assert!(m("userName ew \".UK\"", &u, &USER));
    assert!(!m("externalId sw \"JOHN\"", &u, &USER));
    assert!(m("externalId sw \"john\"", &u, &USER));
    // ordering on strings
    assert!(m("userName gt \"A\"", &u, &USER));
    assert!(m("userName lt \"E\"", &u, &USER));
    // numbers
    let num = json!({"score": 10, "code": "12345"});
    assert!(m("score gt 9.5", &num, &USER));
    assert!(m("score eq 10", &num, &USER));
    assert!(m("score le 10", &num, &USER));
    assert!(!m("score lt 10", &num, &USER));
    assert!(m("code eq 12345", &num, &USER));
    assert!(m("code co 234", &num, &USER));
    // unknown attributes: case-insensitive key and value
    assert!(m("CUSTOMTHING eq \"hello\"", &u, &USER));
    assert!(m(&format!("{ENT}:nothing eq null"), &u, &USER));
    assert!(m("a.b eq 2", &json!({"a": [1, {"b": 2}]}), &USER));
    // booleans: only eq/ne
    assert!(!m("active gt false", &u, &USER));
    assert!(m("active ne false", &u, &USER));
    // weird shapes never panic
    let weird = json!({"userName": [1, null, {"x": []}], "emails": "str", "name": 5, "meta": []});
    for f in [
        "userName eq 1",
        "emails[type eq \"x\"]",
        "emails.value pr",
        "name.givenName eq \"x\"",
        "meta.created gt \"x\"",
    ] {
        let _ = m(f, &weird, &USER);
        let _ = m(f, &json!(null), &USER);
        let _ = m(f, &json!([1, 2]), &GROUP);
    }
}

#[test]
fn crate_doc_example() {
    let filter: Filter = "userName eq \"jdoe\" and active eq true".parse().unwrap();
    let user = json!({"schemas": [crate::schema::USER_SCHEMA_URN], "id": "1", "userName": "JDoe", "active": true});
    assert!(filter.matches(&user, &USER));
}

#[test]
fn instants() {
    assert_eq!(parse_instant("1970-01-01T00:00:00Z"), Some((0, 0)));
    assert_eq!(parse_instant("1970-01-01T01:00:00+01:00"), Some((0, 0)));
    assert_eq!(parse_instant("1969-12-31T23:59:59.5Z"), Some((-1, 500_000_000)));
    assert_eq!(parse_instant("2000-03-01T00:00:00Z"), Some((951_868_800, 0)));
    assert_eq!(parse_instant("2011-05-13T04:42:34"), Some((1_305_261_754, 0)));
    for bad in ["", "2011-02-30T00:00:00Z", "2011-05-13", "2011-05-13T04:42:34Q", "2011-05-13T04:42:34.Z", "x"] {
        assert_eq!(parse_instant(bad), None, "{bad}");
    }
}

// ------------------------------------------------------------------- errors

#[test]
fn error_positions() {
    assert_eq!(
        err("userName eq"),
        "Invalid filter at position 11: expected a value (a string, number, true, false or null), found end of input"
    );
    assert_eq!(
        err("userName equals \"x\""),
        "Invalid filter at position 9: expected a comparison operator (eq, ne, co, sw, ew, gt, lt, ge, le) or pr, \
         found \"equals\""
    );
    assert_eq!(
        err("(userName eq \"x\""),
        "Invalid filter at position 16: expected \"and\", \"or\" or \")\", found end of input"
    );
    assert_eq!(
        err("emails[type eq \"work\""),
        "Invalid filter at position 21: expected \"and\", \"or\" or \"]\", found end of input"
    );
    assert_eq!(
        err("\"unterminated"),
        "Invalid filter at position 0: expected an attribute path, \"(\" or \"not (\", found \"\\\"\""
    );
    assert_eq!(
        err("userName eq \"unterminated"),
        "Invalid filter at position 12: unterminated string (missing closing \")"
    );
    assert_eq!(err(""), "Invalid filter: the filter is empty");
    assert_eq!(err("   "), "Invalid filter: the filter is empty");
    assert!(
        err("userName eq \"x\" junk").starts_with("Invalid filter at position 16: expected \"and\", \"or\" or the end")
    );
    assert!(err("emails[value eq \"x\"] ]").contains("position 21"));
    assert!(err("emails[type eq \"w\"].").contains("position 20: expected a sub-attribute name"));
    assert!(err("emails[members[value eq \"x\"]]").contains("cannot be nested"));
    assert!(err("name.givenName[value eq \"x\"]").contains("sub-attribute"));
    assert!(err("1abc eq 1").starts_with("Invalid filter at position 0: expected an attribute path"));
    assert!(err("x eq \"\\q\"").contains("position 6: invalid escape"));
    assert!(err("x eq \"\\ud800\"").contains("unpaired surrogate"));
    assert!(err("x eq \"\\u12\"").contains("4 hex digits"));
    assert!(err("a eq 1 and").contains("position 10: expected an attribute path"));
    assert!(err("not (a pr").contains("position 9"));
    assert!(err("()").contains("position 1"));
}

#[test]
fn hostile_inputs_are_rejected_without_crashing() {
    let huge = "a".repeat(1 << 20);
    assert!(err(&huge).contains("at most 8192"));
    let huge_chain = vec!["a eq 1"; 4000].join(" and ");
    assert!(err(&huge_chain).contains("at most 8192"));

    let deep = format!("{}a pr{}", "(".repeat(4000), ")".repeat(4000));
    assert!(err(&deep).contains("nested more than 64"));
    let deep_open = "(".repeat(8192);
    assert!(err(&deep_open).contains("nested more than 64"));
    let deep_not = format!("{}a pr{}", "not (".repeat(100), ")".repeat(100));
    assert!(err(&deep_not).contains("nested more than 64"));

    // Within the length limit, but too many terms.
    let chain = vec!["a eq 1"; 700].join(" and ");
    assert!(chain.len() <= MAX_FILTER_LENGTH);
    assert!(err(&chain).contains("more than 256 attribute expressions"));
    let chain = vec!["a pr"; 1000].join(" or ");
    assert!(err(&chain).contains("more than 256"));

    // At the limits: everything works.
    let ok = format!("{}a pr{}", "(".repeat(MAX_FILTER_DEPTH), ")".repeat(MAX_FILTER_DEPTH));
    assert_eq!(p(&ok), Filter::Present(path("a")));
    let chain = vec!["a eq 1"; MAX_FILTER_TERMS].join(" and ");
    let f = p(&chain);
    assert_eq!(p(&f.to_string()), f.clone());
    assert!(!f.matches(&user(), &USER));
    assert_eq!(f.depth(), MAX_FILTER_TERMS);
    drop(f);
}

// ------------------------------------------------------------- round trips

#[test]
fn printer_is_canonical() {
    for (input, printed) in [
        ("userName EQ \"x\"", "userName eq \"x\""),
        ("a eq 1 or (b eq 2 or c eq 3)", "a eq 1 or (b eq 2 or c eq 3)"),
        ("(a eq 1 or b eq 2) or c eq 3", "a eq 1 or b eq 2 or c eq 3"),
        ("a eq 1 and (b eq 2 and c eq 3)", "a eq 1 and (b eq 2 and c eq 3)"),
        ("(a eq 1 or b eq 2) and c eq 3", "(a eq 1 or b eq 2) and c eq 3"),
        ("NOT(a pr)", "not (a pr)"),
        ("x eq jdoe", "x eq \"jdoe\""),
        ("x eq \"tab\there\u{1}\"", "x eq \"tab\\there\\u0001\""),
    ] {
        assert_eq!(p(input).to_string(), printed);
        assert_eq!(p(printed), p(input));
    }
}

const NAMES: &[&str] = &[
    "userName",
    "name.familyName",
    "displayName",
    "active",
    "emails.value",
    "meta.lastModified",
    "externalId",
    "id",
    "members",
    "not",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
    "urn:ietf:params:scim:schemas:core:2.0:User:userName",
];
const MULTI: &[&str] =
    &["emails", "members", "roles", "addresses", "urn:ietf:params:scim:schemas:core:2.0:User:emails"];
const SUBS: &[&str] = &["value", "type", "primary", "display", "$ref"];

fn arb_value() -> impl Strategy<Value = CompValue> {
    prop_oneof![
        Just(CompValue::Null),
        any::<bool>().prop_map(CompValue::Bool),
        any::<i64>().prop_map(|i| CompValue::Number(i.into())),
        any::<u64>().prop_map(|i| CompValue::Number(i.into())),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f).map(CompValue::Number)),
        "[a-z\"\\\\ é😀\t\n\u{0}-\u{1f}]{0,12}".prop_map(CompValue::Str),
        any::<String>().prop_map(CompValue::Str),
    ]
}

fn arb_op() -> impl Strategy<Value = CompareOp> {
    prop_oneof![
        Just(CompareOp::Eq),
        Just(CompareOp::Ne),
        Just(CompareOp::Co),
        Just(CompareOp::Sw),
        Just(CompareOp::Ew),
        Just(CompareOp::Gt),
        Just(CompareOp::Lt),
        Just(CompareOp::Ge),
        Just(CompareOp::Le),
    ]
}

fn arb_attr_exp(names: &'static [&'static str]) -> impl Strategy<Value = Filter> {
    let name = prop::sample::select(names).prop_map(path);
    prop_oneof![
        name.clone().prop_map(Filter::Present),
        (name, arb_op(), arb_value()).prop_map(|(p, o, v)| Filter::Compare(p, o, v)),
    ]
}

/// Logical combinations of `leaf`.
fn arb_logic(leaf: BoxedStrategy<Filter>) -> impl Strategy<Value = Filter> {
    leaf.prop_recursive(4, 24, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| and(a, b)),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| or(a, b)),
            inner.prop_map(not),
        ]
    })
}

fn arb_filter() -> impl Strategy<Value = Filter> {
    let value_path = (prop::sample::select(MULTI), arb_logic(arb_attr_exp(SUBS).boxed())).prop_map(|(a, f)| vp(a, f));
    let leaf = prop_oneof![3 => arb_attr_exp(NAMES), 1 => value_path].boxed();
    arb_logic(leaf)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn print_parse_round_trip(f in arb_filter()) {
        let printed = f.to_string();
        let parsed: Filter = printed.parse().map_err(|e: ScimError| TestCaseError::fail(format!("{printed}: {}", e.detail)))?;
        prop_assert_eq!(&parsed, &f, "printed as {}", printed);
        // Evaluation never panics.
        let _ = parsed.matches(&user(), &USER);
        let _ = parsed.matches(&group(), &GROUP);
    }

    #[test]
    fn parsing_arbitrary_strings_never_panics(input in any::<String>()) {
        if let Ok(f) = input.parse::<Filter>() {
            prop_assert_eq!(f.to_string().parse::<Filter>().ok(), Some(f.clone()));
            let _ = f.matches(&user(), &USER);
        }
    }

    #[test]
    fn parsing_filter_like_strings_never_panics(input in "[a-zA-Z.:()\\[\\]\" \\\\0-9]{0,60}|(not |and |or |eq |pr |\\(|\\)|\\[|\\]|\"|emails|\\.value|x )*") {
        if let Ok(f) = input.parse::<Filter>() {
            prop_assert_eq!(f.to_string().parse::<Filter>().ok(), Some(f.clone()));
            let _ = f.matches(&user(), &USER);
        }
    }
}

#[test]
fn printed_filters_reparse_even_when_printing_makes_them_longer() {
    // Unquoted legacy values gain quotes when printed.
    let term = format!("externalId eq {}", "a".repeat(16));
    let input = vec![term; 240].join(" or ");
    assert!(input.len() <= MAX_FILTER_LENGTH);
    let parsed: Filter = input.parse().unwrap();
    let printed = parsed.to_string();
    assert!(printed.len() > MAX_FILTER_LENGTH, "the case must exercise the relaxed bound");
    assert_eq!(Filter::parse_printed(&printed).unwrap(), parsed);
}
