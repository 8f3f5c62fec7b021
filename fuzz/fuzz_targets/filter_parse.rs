//! Parses arbitrary UTF-8 as a SCIM filter. Whatever parses must print,
//! re-parse to the same AST and evaluate without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scim::filter::Filter;
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(filter) = text.parse::<Filter>() else { return };
    let printed = filter.to_string();
    // Printing may lengthen a filter (escapes), so re-parse as Roster does its own output.
    let reparsed: Filter = match Filter::parse_printed(&printed) {
        Ok(f) => f,
        Err(e) => panic!("{text:?} printed as {printed:?}, which does not parse: {}", e.detail),
    };
    assert_eq!(reparsed, filter, "{text:?} printed as {printed:?}");
    let user = json!({
        "schemas": [scim::schema::USER_SCHEMA_URN, scim::schema::ENTERPRISE_USER_SCHEMA_URN],
        "id": "2819c223", "externalId": "jdoe", "userName": "JDoe@example.com",
        "name": {"familyName": "Doe", "givenName": "Jane"}, "active": true,
        "emails": [{"value": "jdoe@example.com", "type": "work", "primary": true}, {"value": "x@y", "type": "home"}],
        "roles": [{"value": "admin", "primary": "True"}],
        "meta": {"created": "2011-08-01T18:29:49.793Z", "lastModified": "2011-08-01T20:29:49+02:00"},
        scim::schema::ENTERPRISE_USER_SCHEMA_URN: {"department": "Sales", "manager": {"value": "M1"}},
        "custom": [1, "two", null, {"value": 3}]
    });
    let _ = filter.matches(&user, &scim::schema::USER);
    let _ = filter.matches(&user, &scim::schema::GROUP);
});
