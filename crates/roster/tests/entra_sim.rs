//! `roster entra-sim` against the real `roster serve`: Test Connection, a clean
//! initial cycle, a zero-write second cycle with `--verify` clean, and an
//! incremental cycle that sends exactly the snapshot's changes (issue 6).

mod common;
use common::*;
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn sim(args: &[&str]) -> Output {
    Command::new(bin())
        .arg("entra-sim")
        .args(args)
        .env_remove("ENTRA_SIM_TOKEN")
        .stdin(Stdio::null())
        .output()
        .expect("running roster entra-sim")
}

fn text(o: &Output) -> String {
    format!("stdout:\n{}\nstderr:\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn read_jsonl(p: &Path) -> Vec<Value> {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

fn write_jsonl(p: &Path, items: &[Value]) {
    let s: String = items.iter().map(|v| format!("{v}\n")).collect();
    std::fs::write(p, s).expect("writing JSONL");
}

fn writes(report: &[Value]) -> Vec<&Value> {
    report.iter().filter(|r| r["request"]["method"] != json!("GET")).collect()
}

/// The line of the summary that starts with `prefix`.
fn summary_line(out: &Output, prefix: &str) -> String {
    let s = String::from_utf8_lossy(&out.stdout).to_string();
    s.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} line in\n{}", text(out)))
        .to_string()
}

/// Roster provisions groups (issue 4): a group POST must not answer 501.
fn assert_groups_supported(srv: &TestServer) {
    let r = srv
        .post("/Groups", &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "probe"}));
    let g = r.scim(201);
    let del = srv.delete(&format!("/Groups/{}", g["id"].as_str().expect("group id")));
    assert_eq!(del.status, 204, "{}", del.text);
}

fn user_by_name(srv: &TestServer, user_name: &str) -> Option<Value> {
    let body = srv.filter(&enc(&format!("userName eq \"{user_name}\"")));
    body["Resources"].as_array().and_then(|r| r.first().cloned())
}

#[test]
fn initial_cycle_is_clean_second_is_quiet_incremental_sends_exactly_the_changes() {
    let srv = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let t1 = dir.path().join("t1");
    let out = sim(&["generate", "--users", "200", "--groups", "20", "--seed", "7", "--out", t1.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let base = srv.base();
    let token = srv.token().to_string();

    let out = sim(&["test-connection", &base, "--token", &token]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Test Connection succeeded"));

    assert_groups_supported(&srv);

    // 1. Initial cycle.
    let r1 = dir.path().join("r1.jsonl");
    let mut args = vec!["cycle", &base, "--token", &token, "--tenant", t1.to_str().unwrap()];
    args.extend(["--report", r1.to_str().unwrap(), "--verify", "--concurrency", "4", "--quiet"]);
    let out = sim(&args);
    let users = summary_line(&out, "users:");
    assert!(users.contains(" created,") && users.ends_with(", 0 failed"), "{users}\n{}", text(&out));
    let report = read_jsonl(&r1);
    let user_failures: Vec<&Value> =
        report.iter().filter(|r| r["kind"] == json!("user") && r["status"].as_u64().unwrap_or(0) >= 400).collect();
    assert!(user_failures.is_empty(), "{user_failures:?}");
    let tenant_users = read_jsonl(&t1.join("users.jsonl"));
    let enabled = tenant_users
        .iter()
        .filter(|u| u["accountEnabled"] == json!(true) && u["isSoftDeleted"] == json!(false))
        .count();
    assert!(users.starts_with(&format!("users:  {enabled} created,")), "{users}");
    assert!(enabled < 200, "the generator disables some users");
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        summary_line(&out, "groups:"),
        "groups: 20 created, 0 updated, 0 disabled, 0 deleted, 0 skipped, 0 failed"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("differ"), "{}", text(&out));
    assert!(report.iter().all(|r| r["status"].as_u64().is_some_and(|s| s < 300)), "a request failed");
    // The POST body is Entra's (wire spec §2.4).
    let post = report.iter().find(|r| r["action"] == json!("create") && r["kind"] == json!("user")).expect("a POST");
    let body = &post["request"]["body"];
    assert_eq!(body["meta"], json!({"resourceType": "User"}));
    assert_eq!(body["emails"][0]["type"], json!("work"));
    assert_eq!(body["active"], json!(true));

    // 2. The same cycle again: nothing to write, and --verify is clean.
    let r2 = dir.path().join("r2.jsonl");
    let mut args = vec!["cycle", &base, "--token", &token, "--tenant", t1.to_str().unwrap()];
    args.extend(["--report", r2.to_str().unwrap(), "--verify", "--concurrency", "4", "--quiet"]);
    let out = sim(&args);
    assert!(out.status.success(), "{}", text(&out));
    let report = read_jsonl(&r2);
    assert!(writes(&report).is_empty(), "second cycle wrote: {:?}", writes(&report));
    assert!(summary_line(&out, "requests:").contains("writes: 0,"), "{}", text(&out));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("differ"), "{}", text(&out));

    // 3. Incremental: a title change, a rename, one disabled, one deleted and one new group member.
    let t2 = dir.path().join("t2");
    std::fs::create_dir_all(&t2).unwrap();
    let mut us = tenant_users.clone();
    let managers: std::collections::HashSet<String> =
        us.iter().filter_map(|u| u["manager"].as_str().map(str::to_string)).collect();
    let picks: Vec<usize> = (20..us.len())
        .filter(|i| {
            let u = &us[*i];
            u["accountEnabled"] == json!(true)
                && u["isSoftDeleted"] == json!(false)
                && !managers.contains(u["objectId"].as_str().unwrap())
        })
        .take(5)
        .collect();
    assert_eq!(picks.len(), 5);
    let nick = |u: &Value| u["mailNickname"].as_str().unwrap().to_string();
    let (a, b, c, d, e) =
        (nick(&us[picks[0]]), nick(&us[picks[1]]), nick(&us[picks[2]]), nick(&us[picks[3]]), nick(&us[picks[4]]));
    // Entra's op is `Add` when the attribute had no value (the generator leaves some titles null).
    let title_op = if us[picks[0]]["jobTitle"].is_string() { "Replace" } else { "Add" };
    us[picks[0]]["jobTitle"] = json!("Principal Engineer");
    us[picks[1]]["surname"] = json!("Żółć");
    us[picks[1]]["displayName"] = json!("Renée Żółć");
    us[picks[2]]["accountEnabled"] = json!(false);
    let gone = us[picks[3]]["objectId"].as_str().unwrap().to_string();
    let e_oid = us[picks[4]]["objectId"].as_str().unwrap().to_string();
    us.retain(|u| u["objectId"] != json!(gone));
    write_jsonl(&t2.join("users.jsonl"), &us);
    let mut gs = read_jsonl(&t1.join("groups.jsonl"));
    for g in &mut gs {
        if let Some(ms) = g["members"].as_array_mut() {
            ms.retain(|m| m != &json!(gone));
        }
    }
    let target_group = gs
        .iter()
        .position(|g| !g["members"].as_array().unwrap().contains(&json!(e_oid)))
        .expect("a group without user e");
    gs[target_group]["members"].as_array_mut().unwrap().push(json!(e_oid));
    write_jsonl(&t2.join("groups.jsonl"), &gs);

    let ids: Vec<String> = [&a, &b, &c, &d, &e]
        .iter()
        .map(|n| {
            user_by_name(&srv, n).unwrap_or_else(|| panic!("{n} was provisioned"))["id"].as_str().unwrap().to_string()
        })
        .collect();
    let r3 = dir.path().join("r3.jsonl");
    let mut args =
        vec!["cycle", &base, "--token", &token, "--tenant", t2.to_str().unwrap(), "--previous", t1.to_str().unwrap()];
    args.extend(["--report", r3.to_str().unwrap(), "--verify", "--quiet"]);
    let out = sim(&args);
    assert!(out.status.success(), "{}", text(&out));
    let report = read_jsonl(&r3);
    let mut sent: Vec<(String, String, Value)> = writes(&report)
        .iter()
        .map(|r| {
            let req = &r["request"];
            (
                req["method"].as_str().unwrap().to_string(),
                req["path"].as_str().unwrap().to_string(),
                req["body"]["Operations"].clone(),
            )
        })
        .collect();
    sent.sort_by(|x, y| (&x.0, &x.1).cmp(&(&y.0, &y.1)));
    let mut expected = vec![
        (
            "PATCH".to_string(),
            format!("/Users/{}", ids[0]),
            json!([{"op": title_op, "path": "title", "value": "Principal Engineer"}]),
        ),
        (
            "PATCH".to_string(),
            format!("/Users/{}", ids[1]),
            json!([{"op": "Replace", "path": "name.familyName", "value": "Żółć"},
                   {"op": "Replace", "path": "displayName", "value": "Renée Żółć"}]),
        ),
        (
            "PATCH".to_string(),
            format!("/Users/{}", ids[2]),
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
        ),
        ("DELETE".to_string(), format!("/Users/{}", ids[3]), Value::Null),
    ];
    {
        let gid = report
            .iter()
            .find(|r| r["object"] == gs[target_group]["objectId"] && r["action"] == json!("members-add"))
            .and_then(|r| r["request"]["path"].as_str())
            .expect("a member PATCH")
            .to_string();
        expected.push((
            "PATCH".to_string(),
            gid,
            json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": ids[4]}]}]),
        ));
    }
    expected.sort_by(|x, y| (&x.0, &x.1).cmp(&(&y.0, &y.1)));
    assert_eq!(sent, expected, "{}", text(&out));
    assert_eq!(
        summary_line(&out, "users:"),
        "users:  0 created, 2 updated, 1 disabled, 1 deleted, 0 skipped, 0 failed"
    );

    // The server reflects them.
    assert_eq!(user_by_name(&srv, &a).unwrap()["title"], json!("Principal Engineer"));
    assert_eq!(user_by_name(&srv, &b).unwrap()["name"]["familyName"], json!("Żółć"));
    assert_eq!(user_by_name(&srv, &c).unwrap()["active"], json!(false));
    assert!(user_by_name(&srv, &d).is_none());
    assert_eq!(srv.get(&format!("/Users/{}", ids[3])).status, 404);
    {
        let gid = expected.iter().find(|x| x.1.starts_with("/Groups/")).map(|x| x.1.clone()).unwrap();
        let g = srv.get(&gid).scim(200);
        let members: Vec<&str> = g["members"].as_array().unwrap().iter().filter_map(|m| m["value"].as_str()).collect();
        assert!(members.contains(&ids[4].as_str()), "{g}");
    }

    // And a cycle of the new snapshot against itself is quiet again.
    let r4 = dir.path().join("r4.jsonl");
    let mut args = vec!["cycle", &base, "--token", &token, "--tenant", t2.to_str().unwrap()];
    args.extend(["--report", r4.to_str().unwrap(), "--quiet"]);
    let out = sim(&args);
    assert!(out.status.success(), "{}", text(&out));
    assert!(writes(&read_jsonl(&r4)).is_empty(), "{:?}", writes(&read_jsonl(&r4)));
}

#[test]
fn flag_dialect_with_external_id_matching_and_csv_users() {
    let srv = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let t1 = dir.path().join("t1");
    let out =
        sim(&["generate", "--users", "30", "--groups", "4", "--seed", "3", "--csv", "--out", t1.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(t1.join("users.csv").exists());
    let url = format!("{}?aadOptscim062020", srv.base());
    let token = srv.token().to_string();
    let flags = ["--patch-style", "aadOptscim062020", "--matching", "externalId", "--quiet"];
    let run = |tenant: &Path, previous: Option<&Path>, report: &Path| {
        let mut args = vec!["cycle", &url, "--token", &token, "--tenant", tenant.to_str().unwrap()];
        if let Some(p) = previous {
            args.extend(["--previous", p.to_str().unwrap()]);
        }
        args.extend(["--report", report.to_str().unwrap(), "--verify"]);
        args.extend(flags);
        sim(&args)
    };
    let r1 = dir.path().join("r1.jsonl");
    let out = run(&t1, None, &r1);
    assert!(out.status.success(), "{}", text(&out));
    let lookup = read_jsonl(&r1).into_iter().find(|r| r["action"] == json!("lookup")).unwrap();
    assert!(lookup["request"]["path"].as_str().unwrap().starts_with("/Users?filter=externalId+eq+%22"), "{lookup}");
    let manager = read_jsonl(&r1).into_iter().find(|r| r["action"] == json!("manager")).expect("a manager PATCH");
    assert_eq!(manager["request"]["body"]["Operations"][0]["op"], json!("add"));

    // Disable one user and change two attributes of another: the flag's shapes.
    let csv = std::fs::read_to_string(t1.join("users.csv")).unwrap();
    let mut lines: Vec<String> = csv.lines().map(str::to_string).collect();
    let header: Vec<String> = lines[0].split(',').map(str::to_string).collect();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (enabled, title, display) = (col("accountEnabled"), col("jobTitle"), col("displayName"));
    let t2 = dir.path().join("t2");
    std::fs::create_dir_all(&t2).unwrap();
    // Rows 12 and 13 are ordinary users; generated names hold no commas.
    let mut row: Vec<String> = lines[12].split(',').map(str::to_string).collect();
    row[enabled] = "false".into();
    row[col("isSoftDeleted")] = "false".into();
    lines[12] = row.join(",");
    let mut row: Vec<String> = lines[13].split(',').map(str::to_string).collect();
    row[title] = "Staff Engineer".into();
    row[display] = "Zoë Q".into();
    row[enabled] = "true".into();
    row[col("isSoftDeleted")] = "false".into();
    lines[13] = row.join(",");
    std::fs::write(t2.join("users.csv"), lines.join("\n") + "\n").unwrap();
    // And one member who exists on the server (enabled in t1) leaves the last (project) group.
    let exists = |oid: &str| {
        let row: Vec<&str> = csv.lines().find(|l| l.starts_with(oid)).unwrap().split(',').collect();
        row[enabled] == "true" && row[col("isSoftDeleted")] == "false"
    };
    let mut gs = read_jsonl(&t1.join("groups.jsonl"));
    let last = gs.last_mut().unwrap()["members"].as_array_mut().unwrap();
    let at = last.iter().position(|m| exists(m.as_str().unwrap())).unwrap();
    last.remove(at);
    write_jsonl(&t2.join("groups.jsonl"), &gs);
    let r2 = dir.path().join("r2.jsonl");
    let out = run(&t2, Some(&t1), &r2);
    assert!(out.status.success(), "{}", text(&out));
    let ops: Vec<Value> = writes(&read_jsonl(&r2)).iter().map(|r| r["request"]["body"]["Operations"].clone()).collect();
    let removal = ops.iter().find(|o| o[0]["op"] == json!("remove")).unwrap_or_else(|| panic!("{ops:?}"));
    let path = removal[0]["path"].as_str().unwrap();
    assert!(path.starts_with("members[value eq \"") && removal[0].get("value").is_none(), "{removal}");
    assert!(ops.contains(&json!([{"op": "replace", "path": "active", "value": false}])), "{ops:?}");
    assert!(
        ops.iter().any(|o| o[0]["op"] == json!("replace")
            && o[0].get("path").is_none()
            && o[0]["value"]["title"] == json!("Staff Engineer")
            && o[0]["value"]["displayName"] == json!("Zoë Q")),
        "{ops:?}"
    );
}

#[test]
fn test_connection_reports_the_servers_detail_on_a_bad_token() {
    let srv = TestServer::start();
    let out = sim(&["test-connection", &srv.base(), "--token", "wrong"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Test Connection failed") && err.contains("401"), "{err}");
    // A cycle against a bad token fails every request: "would be quarantined".
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("t");
    assert!(sim(&["generate", "--users", "5", "--groups", "1", "--out", t.to_str().unwrap()]).status.success());
    let out = sim(&["cycle", &srv.base(), "--token", "wrong", "--tenant", t.to_str().unwrap(), "--quiet"]);
    assert!(!out.status.success());
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("would be quarantined") && s.contains("401"), "{}", text(&out));
}
