//! `roster import` end to end: CSV with JumpCloud column names and JSON
//! Lines, good rows imported through the SCIM rules, bad rows and duplicates
//! skipped and reported with their line numbers, one log entry per batch.

mod common;
use common::*;
use serde_json::json;

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn csv_import_validates_like_scim_and_reports_bad_rows_by_line() {
    let srv = TestServer::start();
    let existing = srv.create(&simple_user("taken"));
    let dir = tempfile::tempdir().unwrap();
    let csv = write(
        dir.path(),
        "users.csv",
        "username,email,firstname,lastname,displayname,jobTitle,department,employeeIdentifier,costCenter,company,manager\n\
         jdoe,JDoe@contoso.com,Jane,Doe,Jane Doe,Engineer,R&D,E1,CC1,Contoso,\n\
         asmith,asmith@contoso.com,Al,Smith,,,,E2,,,jdoe\n\
         9bad,bad@contoso.com,Bad,Name,,,,,,,\n\
         bwayne,not-an-email,Bruce,Wayne,,,,,,,\n\
         JDOE,other@contoso.com,Dup,User,,,,,,,\n\
         taken,taken2@contoso.com,Taken,User,,,,,,,\n\
         \"ckent\",\"ckent@contoso.com\",\"Clark, Jr.\",Kent,,,,,,,\n\
         nomgr,nomgr@contoso.com,No,Manager,,,,,,,ghost\n",
    );
    let out = srv.roster_output(&["import", "--org", "default", &csv, "--batch-size", "2"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("imported 3 users, skipped 5 rows"), "{stdout}\n{stderr}");
    assert!(stdout.contains("users/s"), "{stdout}");
    for line in [4, 5, 6, 7, 9] {
        assert!(stderr.contains(&format!("line {line}: skipped")), "line {line} not reported:\n{stderr}");
    }
    // JDOE is in a later batch than jdoe (batches of 2): the database already holds it.
    assert!(stderr.contains("line 6: skipped: userName \"JDOE\" is already taken"), "{stderr}");
    assert!(stderr.contains("already taken"), "{stderr}");
    assert!(!stderr.contains("line 2: skipped") && !stderr.contains("line 8: skipped"), "{stderr}");

    let jdoe = srv.filter(&enc("userName eq \"jdoe\""));
    assert_eq!(jdoe["totalResults"], json!(1), "{jdoe}");
    let jdoe = &jdoe["Resources"][0];
    assert_eq!(jdoe["emails"][0]["value"], json!("JDoe@contoso.com"));
    assert_eq!(jdoe["name"]["givenName"], json!("Jane"));
    assert_eq!(jdoe["title"], json!("Engineer"));
    assert_eq!(jdoe[ENT_URN]["department"], json!("R&D"));
    assert_eq!(jdoe[ENT_URN]["employeeNumber"], json!("E1"));
    let asmith = &srv.filter(&enc("userName eq \"asmith\""))["Resources"][0];
    assert_eq!(asmith[ENT_URN]["manager"]["value"], jdoe["id"], "a manager named by username becomes its id");
    let ckent = &srv.filter(&enc("userName eq \"ckent\""))["Resources"][0];
    assert_eq!(ckent["name"]["givenName"], json!("Clark, Jr."));
    assert_eq!(srv.get("/Users").scim(200)["totalResults"], json!(4));
    assert_eq!(srv.get_user(existing["id"].as_str().unwrap())["userName"], json!("taken"));

    // Importing the same file again imports nothing: every good row is now a duplicate.
    let again = srv.roster(&["import", "--org", "default", &csv]);
    assert!(again.contains("imported 0 users, skipped 8 rows"), "{again}");
}

#[test]
fn jsonl_import_takes_scim_objects_and_flat_fields() {
    let srv = TestServer::start();
    srv.roster(&["org", "create", "acme", "--username-policy", "rfc"]);
    let dir = tempfile::tempdir().unwrap();
    let jsonl = write(
        dir.path(),
        "users.jsonl",
        &[
            json!({"schemas": [USER_URN], "userName": "scim.user@acme.example", "active": false,
                   "emails": [{"value": "scim.user@acme.example", "type": "work"}]})
            .to_string(),
            json!({"username": "flat.user", "email": "flat@acme.example", "lastname": "Flat"}).to_string(),
            String::new(),
            "{not json".to_string(),
            json!(["an array"]).to_string(),
            json!({"userName": ""}).to_string(),
            json!({"username": "FLAT.user", "email": "flat2@acme.example"}).to_string(),
        ]
        .join("\n"),
    );
    let out = srv.roster(&["import", "--org", "acme", &jsonl]);
    assert!(out.contains("imported 2 users, skipped 4 rows"), "{out}");
    let stderr = String::from_utf8_lossy(&srv.roster_output(&["import", "--org", "acme", &jsonl]).stderr).to_string();
    assert!(stderr.contains("line 4: skipped: invalid JSON"), "{stderr}");
    assert!(stderr.contains("line 5: skipped: not a JSON object"), "{stderr}");
    assert!(stderr.contains("line 6: skipped"), "{stderr}");
    assert!(stderr.contains("line 7: skipped: userName \"flat.user\" duplicates line 2"), "{stderr}");
    let missing = srv.roster_output(&["import", "--org", "nope", &jsonl]);
    assert!(!missing.status.success());
}
