//! The tenant snapshot: users and groups as Entra ID holds them, read from
//! JSON Lines or CSV, written by `generate`, and diffed between two snapshots.
//!
//! Layout of `--tenant PATH`:
//! - a directory holding `users.jsonl` (or `users.csv`) and, optionally, `groups.jsonl`;
//! - a single `.jsonl` file whose lines carry `"kind": "user"` or `"kind": "group"`
//!   (a line without `kind` is a group when it has `members`, else a user);
//! - a single `.csv` file: users only.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    #[error("reading {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}, line {line}: {message}")]
    Line { path: PathBuf, line: usize, message: String },
    #[error("{path}: {message}")]
    Csv { path: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
}

/// An Entra user (the attributes the provisioning service reads).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub object_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_principal_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail_nickname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub surname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub employee_id: Option<String>,
    /// The manager's objectId.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manager: Option<String>,
    #[serde(default = "yes")]
    pub account_enabled: bool,
    #[serde(default)]
    pub is_soft_deleted: bool,
}

fn yes() -> bool {
    true
}

impl User {
    /// Entra's default `active` expression: `Switch([IsSoftDeleted], , "False", "True", "True", "False")`
    /// combined with accountEnabled, as product.md §3 recommends.
    pub fn active(&self) -> bool {
        self.account_enabled && !self.is_soft_deleted
    }

    /// A source attribute by its Entra name (case-insensitive); `None` when null.
    pub fn source(&self, name: &str) -> Option<String> {
        let v = match name.to_ascii_lowercase().as_str() {
            "objectid" => Some(&self.object_id),
            "userprincipalname" => self.user_principal_name.as_ref(),
            "mailnickname" => self.mail_nickname.as_ref(),
            "givenname" => self.given_name.as_ref(),
            "surname" => self.surname.as_ref(),
            "displayname" => self.display_name.as_ref(),
            "jobtitle" => self.job_title.as_ref(),
            "department" => self.department.as_ref(),
            "employeeid" => self.employee_id.as_ref(),
            "manager" => self.manager.as_ref(),
            _ => None,
        };
        v.filter(|s| !s.is_empty()).cloned()
    }
}

/// An Entra group: members are user objectIds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    pub object_id: String,
    pub display_name: String,
    #[serde(default)]
    pub members: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tenant {
    pub users: Vec<User>,
    pub groups: Vec<Group>,
}

#[derive(Deserialize)]
struct KindProbe {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    members: Option<serde_json::Value>,
}

impl Tenant {
    /// Reads a tenant from a directory, a `.jsonl` file or a users `.csv` file.
    pub fn load(path: &Path) -> Result<Tenant, TenantError> {
        let io = |source| TenantError::Io { path: path.to_path_buf(), source };
        let meta = std::fs::metadata(path).map_err(io)?;
        let tenant = if meta.is_dir() {
            let users_jsonl = path.join("users.jsonl");
            let users_csv = path.join("users.csv");
            let mut t = if users_jsonl.exists() {
                read_jsonl(&users_jsonl, Some("user"))?
            } else if users_csv.exists() {
                Tenant { users: read_users_csv(&users_csv)?, groups: vec![] }
            } else {
                return Err(TenantError::Invalid(format!(
                    "{} holds neither users.jsonl nor users.csv",
                    path.display()
                )));
            };
            let groups = path.join("groups.jsonl");
            if groups.exists() {
                t.groups.extend(read_jsonl(&groups, Some("group"))?.groups);
            }
            t
        } else if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) {
            Tenant { users: read_users_csv(path)?, groups: vec![] }
        } else {
            read_jsonl(path, None)?
        };
        tenant.check()?;
        Ok(tenant)
    }

    /// Rejects duplicate objectIds and empty ids (they would make the diff ambiguous).
    fn check(&self) -> Result<(), TenantError> {
        let mut seen = BTreeSet::new();
        for id in self.users.iter().map(|u| &u.object_id).chain(self.groups.iter().map(|g| &g.object_id)) {
            if id.is_empty() {
                return Err(TenantError::Invalid("an object has an empty objectId".into()));
            }
            if !seen.insert(id.as_str()) {
                return Err(TenantError::Invalid(format!("objectId {id} appears twice")));
            }
        }
        Ok(())
    }

    /// Writes `users.jsonl` (or `users.csv`) and `groups.jsonl` into `dir`.
    pub fn write_dir(&self, dir: &Path, csv_users: bool) -> Result<(), TenantError> {
        let io = |p: &Path| {
            let p = p.to_path_buf();
            move |source| TenantError::Io { path: p, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        if csv_users {
            let p = dir.join("users.csv");
            let mut w =
                csv::Writer::from_path(&p).map_err(|e| TenantError::Csv { path: p.clone(), message: e.to_string() })?;
            for u in &self.users {
                w.serialize(CsvUser::from(u))
                    .map_err(|e| TenantError::Csv { path: p.clone(), message: e.to_string() })?;
            }
            w.flush().map_err(io(&p))?;
        } else {
            let p = dir.join("users.jsonl");
            write_lines(&p, self.users.iter())?;
        }
        write_lines(&dir.join("groups.jsonl"), self.groups.iter())
    }

    pub fn user_map(&self) -> BTreeMap<&str, &User> {
        self.users.iter().map(|u| (u.object_id.as_str(), u)).collect()
    }
    pub fn group_map(&self) -> BTreeMap<&str, &Group> {
        self.groups.iter().map(|g| (g.object_id.as_str(), g)).collect()
    }
}

fn write_lines<'a, T: Serialize + 'a>(p: &Path, items: impl Iterator<Item = &'a T>) -> Result<(), TenantError> {
    let io = |source| TenantError::Io { path: p.to_path_buf(), source };
    let mut w = std::io::BufWriter::new(std::fs::File::create(p).map_err(io)?);
    for item in items {
        let line = serde_json::to_string(item).map_err(|e| TenantError::Invalid(e.to_string()))?;
        writeln!(w, "{line}").map_err(io)?;
    }
    w.flush().map_err(io)
}

/// Reads JSON Lines; `default_kind` applies to lines without a `kind`.
fn read_jsonl(path: &Path, default_kind: Option<&str>) -> Result<Tenant, TenantError> {
    let file = std::fs::File::open(path).map_err(|source| TenantError::Io { path: path.to_path_buf(), source })?;
    let mut t = Tenant::default();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|source| TenantError::Io { path: path.to_path_buf(), source })?;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let err =
            |e: serde_json::Error| TenantError::Line { path: path.to_path_buf(), line: i + 1, message: e.to_string() };
        let probe: KindProbe = serde_json::from_str(line).map_err(err)?;
        let kind = match (&probe.kind, default_kind) {
            (Some(k), _) => k.to_ascii_lowercase(),
            (None, Some(k)) => k.to_string(),
            (None, None) if probe.members.is_some() => "group".into(),
            (None, None) => "user".into(),
        };
        match kind.as_str() {
            "user" => t.users.push(serde_json::from_str(line).map_err(err)?),
            "group" => t.groups.push(serde_json::from_str(line).map_err(err)?),
            other => {
                return Err(TenantError::Line {
                    path: path.to_path_buf(),
                    line: i + 1,
                    message: format!("unknown kind {other:?} (use \"user\" or \"group\")"),
                })
            }
        }
    }
    Ok(t)
}

/// The CSV row: same column names as the JSON keys; empty cells are null.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CsvUser {
    object_id: String,
    #[serde(default)]
    user_principal_name: String,
    #[serde(default)]
    mail_nickname: String,
    #[serde(default)]
    given_name: String,
    #[serde(default)]
    surname: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    job_title: String,
    #[serde(default)]
    department: String,
    #[serde(default)]
    employee_id: String,
    #[serde(default)]
    manager: String,
    #[serde(default)]
    account_enabled: String,
    #[serde(default)]
    is_soft_deleted: String,
}

impl From<&User> for CsvUser {
    fn from(u: &User) -> Self {
        let s = |v: &Option<String>| v.clone().unwrap_or_default();
        CsvUser {
            object_id: u.object_id.clone(),
            user_principal_name: s(&u.user_principal_name),
            mail_nickname: s(&u.mail_nickname),
            given_name: s(&u.given_name),
            surname: s(&u.surname),
            display_name: s(&u.display_name),
            job_title: s(&u.job_title),
            department: s(&u.department),
            employee_id: s(&u.employee_id),
            manager: s(&u.manager),
            account_enabled: u.account_enabled.to_string(),
            is_soft_deleted: u.is_soft_deleted.to_string(),
        }
    }
}

fn parse_bool(s: &str, default: bool) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "" => Some(default),
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

fn read_users_csv(path: &Path) -> Result<Vec<User>, TenantError> {
    let csv_err = |e: csv::Error| TenantError::Csv { path: path.to_path_buf(), message: e.to_string() };
    let mut r = csv::Reader::from_path(path).map_err(csv_err)?;
    let mut users = vec![];
    for (i, row) in r.deserialize::<CsvUser>().enumerate() {
        let row = row.map_err(csv_err)?;
        let opt = |s: String| if s.is_empty() { None } else { Some(s) };
        let bad = |col: &str, v: &str| TenantError::Line {
            path: path.to_path_buf(),
            line: i + 2,
            message: format!("{col} is {v:?}, expected true or false"),
        };
        let account_enabled =
            parse_bool(&row.account_enabled, true).ok_or_else(|| bad("accountEnabled", &row.account_enabled))?;
        let is_soft_deleted =
            parse_bool(&row.is_soft_deleted, false).ok_or_else(|| bad("isSoftDeleted", &row.is_soft_deleted))?;
        users.push(User {
            object_id: row.object_id,
            user_principal_name: opt(row.user_principal_name),
            mail_nickname: opt(row.mail_nickname),
            given_name: opt(row.given_name),
            surname: opt(row.surname),
            display_name: opt(row.display_name),
            job_title: opt(row.job_title),
            department: opt(row.department),
            employee_id: opt(row.employee_id),
            manager: opt(row.manager),
            account_enabled,
            is_soft_deleted,
        });
    }
    Ok(users)
}

/// What changed between two snapshots (by objectId).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TenantDiff {
    /// Users only in the new snapshot.
    pub users_added: Vec<String>,
    /// Users in both whose attributes differ.
    pub users_changed: Vec<String>,
    /// Users only in the previous snapshot (hard-deleted in Entra).
    pub users_removed: Vec<String>,
    pub groups_added: Vec<String>,
    pub groups_changed: Vec<String>,
    pub groups_removed: Vec<String>,
}

impl TenantDiff {
    pub fn between(previous: &Tenant, current: &Tenant) -> TenantDiff {
        let (pu, cu) = (previous.user_map(), current.user_map());
        let (pg, cg) = (previous.group_map(), current.group_map());
        let mut d = TenantDiff::default();
        for (id, u) in &cu {
            match pu.get(id) {
                None => d.users_added.push(id.to_string()),
                Some(p) if *p != *u => d.users_changed.push(id.to_string()),
                Some(_) => {}
            }
        }
        d.users_removed = pu.keys().filter(|k| !cu.contains_key(*k)).map(|k| k.to_string()).collect();
        for (id, g) in &cg {
            match pg.get(id) {
                None => d.groups_added.push(id.to_string()),
                Some(p) if !same_group(p, g) => d.groups_changed.push(id.to_string()),
                Some(_) => {}
            }
        }
        d.groups_removed = pg.keys().filter(|k| !cg.contains_key(*k)).map(|k| k.to_string()).collect();
        d
    }
}

/// Membership order does not matter.
fn same_group(a: &Group, b: &Group) -> bool {
    let set = |g: &Group| g.members.iter().cloned().collect::<BTreeSet<_>>();
    a.display_name == b.display_name && set(a) == set(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str) -> User {
        User {
            object_id: id.into(),
            mail_nickname: Some(format!("n{id}")),
            account_enabled: true,
            ..Default::default()
        }
    }

    #[test]
    fn jsonl_with_kind_and_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.jsonl");
        std::fs::write(
            &p,
            "{\"kind\":\"user\",\"objectId\":\"u1\",\"mailNickname\":\"zoe\"}\n\n\
             {\"objectId\":\"g1\",\"displayName\":\"All\",\"members\":[\"u1\"]}\n\
             {\"objectId\":\"u2\",\"accountEnabled\":false}\n",
        )
        .unwrap();
        let t = Tenant::load(&p).unwrap();
        assert_eq!(t.users.len(), 2);
        assert!(t.users[0].account_enabled && !t.users[1].account_enabled);
        assert_eq!(t.groups[0].members, vec!["u1".to_string()]);
    }

    #[test]
    fn bad_line_names_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.jsonl");
        std::fs::write(&p, "{\"objectId\":\"u1\"}\n{not json\n").unwrap();
        let e = Tenant::load(&p).unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
        std::fs::write(&p, "{\"objectId\":\"u1\"}\n{\"objectId\":\"u1\"}\n").unwrap();
        assert!(Tenant::load(&p).unwrap_err().to_string().contains("twice"));
    }

    #[test]
    fn csv_round_trip_through_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let mut u = user("u1");
        u.given_name = Some("Zoë".into());
        u.is_soft_deleted = true;
        let t = Tenant {
            users: vec![u, user("u2")],
            groups: vec![Group { object_id: "g".into(), display_name: "G".into(), members: vec!["u2".into()] }],
        };
        t.write_dir(dir.path(), true).unwrap();
        assert!(dir.path().join("users.csv").exists());
        assert_eq!(Tenant::load(dir.path()).unwrap(), t);
        std::fs::write(dir.path().join("bad.csv"), "objectId,accountEnabled\nx,maybe\n").unwrap();
        assert!(Tenant::load(&dir.path().join("bad.csv")).unwrap_err().to_string().contains("accountEnabled"));
    }

    #[test]
    fn diff_finds_added_changed_removed() {
        let g = |id: &str, m: &[&str]| Group {
            object_id: id.into(),
            display_name: id.into(),
            members: m.iter().map(|s| s.to_string()).collect(),
        };
        let prev =
            Tenant { users: vec![user("a"), user("b"), user("c")], groups: vec![g("g1", &["a", "b"]), g("g2", &[])] };
        let mut b2 = user("b");
        b2.account_enabled = false;
        let cur = Tenant { users: vec![user("a"), b2, user("d")], groups: vec![g("g1", &["b", "a"]), g("g3", &["d"])] };
        let d = TenantDiff::between(&prev, &cur);
        assert_eq!(d.users_added, vec!["d"]);
        assert_eq!(d.users_changed, vec!["b"]);
        assert_eq!(d.users_removed, vec!["c"]);
        assert!(d.groups_changed.is_empty(), "member order is not a change");
        assert_eq!(d.groups_added, vec!["g3"]);
        assert_eq!(d.groups_removed, vec!["g2"]);
    }
}
