//! Test Connection and the provisioning cycle, the way Entra's service runs
//! them (wire spec §1–§3): users (lookup → POST or compare + PATCH), managers
//! in a second pass, then groups; incremental cycles from a snapshot diff; and
//! `--verify`.
//!
//! Target ids are not cached between runs: like Entra with a cold cache, an
//! object's id is looked up by filter (matching attribute for users,
//! `displayName` for groups) and memoised for the rest of the run.

use super::client::{filter_eq, Answer, ScimClient};
use super::mapping::{self, get_ci, Change, Mapping, PatchStyle, Target};
use super::report::{Action, Difference, Kind, Recorder};
use super::tenant::{Group, Tenant, TenantDiff, User};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

#[derive(Debug, Clone)]
pub struct CycleOptions {
    pub style: PatchStyle,
    pub concurrency: usize,
    /// Members per `Add`/`Remove` PATCH.
    pub member_batch: usize,
    pub groups: bool,
    pub progress: bool,
}

/// Runs `f` over `items` on `n` threads (each thread has one request in flight).
fn parallel<T: Sync>(items: &[T], n: usize, f: impl Fn(&T) + Sync) {
    let next = AtomicUsize::new(0);
    let workers = n.clamp(1, items.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                f(item);
            });
        }
    });
}

/// A random GUID (v4 layout), as Test Connection sends.
pub fn random_guid() -> String {
    let b: [u8; 16] = rand::random();
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-4{}-a{}-{}-{}", &h[0..8], &h[9..12], &h[13..16], &h[16..20], &h[20..32])
}

fn resources(body: Option<&Value>) -> Vec<Value> {
    body.and_then(|b| get_ci(b, "Resources")).and_then(Value::as_array).cloned().unwrap_or_default()
}

fn id_of(v: &Value) -> Option<String> {
    match v.get("id") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

/// Entra's Test Connection; returns the lines to print, or the failure.
pub fn test_connection(client: &ScimClient, mapping: &Mapping, groups: bool) -> Result<Vec<String>, String> {
    let mut lines = vec![];
    let guid = random_guid();
    let mut probes = vec![("user", format!("/Users?filter={}", filter_eq(&mapping.matching.path(), &guid)))];
    if groups {
        probes
            .push(("group", format!("/Groups?excludedAttributes=members&filter={}", filter_eq("displayName", &guid))));
    }
    for (what, path) in probes {
        let a = client.send("GET", &path, None);
        if !a.ok() {
            return Err(format!("{what} probe GET {path} answered {}: {}", a.status, a.detail.unwrap_or_default()));
        }
        let hits = resources(a.body.as_ref()).len();
        let total = a.body.as_ref().and_then(|b| get_ci(b, "totalResults")).and_then(Value::as_u64);
        if a.body.is_none() || hits > 0 || total.is_some_and(|t| t > 0) {
            return Err(format!(
                "{what} probe GET {path} answered {} but not an empty ListResponse (Entra expects totalResults 0)",
                a.status
            ));
        }
        lines.push(format!("{what} probe: GET {path} → {} with an empty ListResponse ({} ms)", a.status, a.ms));
    }
    Ok(lines)
}

/// One run against one endpoint.
pub struct Cycle<'a> {
    pub client: &'a ScimClient,
    pub mapping: &'a Mapping,
    pub opts: CycleOptions,
    pub rec: &'a Recorder,
    tenant: &'a Tenant,
    user_ids: Mutex<UserIds>,
    /// objectId → the user in this snapshot, else in the previous one.
    users_by_object: HashMap<&'a str, &'a User>,
    /// objectId → the last resource the server returned.
    user_res: Mutex<HashMap<String, Value>>,
    group_ids: Mutex<HashMap<String, String>>,
    bar: ProgressBar,
}

/// objectId → target id (`None`: looked up, not there), with the target ids
/// counted, so that "is this member one of the tenant's users" is a lookup
/// rather than a copy of every id (once per group, that was quadratic).
#[derive(Default)]
struct UserIds {
    by_object: HashMap<String, Option<String>>,
    targets: HashMap<String, usize>,
}

impl UserIds {
    fn get(&self, oid: &str) -> Option<&Option<String>> {
        self.by_object.get(oid)
    }

    fn set(&mut self, oid: &str, id: Option<String>) {
        if let Some(Some(old)) = self.by_object.insert(oid.to_string(), id.clone()) {
            if let Some(n) = self.targets.get_mut(&old) {
                *n -= 1;
                if *n == 0 {
                    self.targets.remove(&old);
                }
            }
        }
        if let Some(new) = id {
            *self.targets.entry(new).or_insert(0) += 1;
        }
    }

    fn is_target(&self, id: &str) -> bool {
        self.targets.contains_key(id)
    }
}

impl<'a> Cycle<'a> {
    pub fn new(
        client: &'a ScimClient,
        mapping: &'a Mapping,
        opts: CycleOptions,
        rec: &'a Recorder,
        tenant: &'a Tenant,
        previous: Option<&'a Tenant>,
    ) -> Cycle<'a> {
        let bar = if opts.progress { ProgressBar::new(0) } else { ProgressBar::hidden() };
        if let Ok(style) = ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} {per_sec} ETA {eta}") {
            bar.set_style(style.progress_chars("=> "));
        }
        Cycle {
            client,
            mapping,
            opts,
            rec,
            tenant,
            user_ids: Mutex::new(UserIds::default()),
            users_by_object: index_users(tenant, previous),
            user_res: Mutex::new(HashMap::new()),
            group_ids: Mutex::new(HashMap::new()),
            bar,
        }
    }

    fn phase(&self, name: &'static str, len: usize) {
        self.bar.set_message(name);
        self.bar.set_position(0);
        self.bar.set_length(len as u64);
    }

    pub fn finish_progress(&self) {
        self.bar.finish_and_clear();
    }

    /// Sends one request and writes it to the report.
    fn call(&self, kind: Kind, object: &str, action: &str, method: &str, path: &str, body: Option<&Value>) -> Answer {
        let a = self.client.send(method, path, body);
        self.rec.request(kind, object, action, method, path, body, &a);
        a
    }

    fn set_user(&self, oid: &str, id: Option<String>, res: Option<Value>) {
        if let Ok(mut m) = self.user_ids.lock() {
            m.set(oid, id);
        }
        if let (Some(r), Ok(mut m)) = (res, self.user_res.lock()) {
            m.insert(oid.to_string(), r);
        }
    }

    fn user_resource(&self, oid: &str) -> Option<Value> {
        self.user_res.lock().ok().and_then(|m| m.get(oid).cloned())
    }

    /// GET /Users?filter=<matching> eq "<value>": `Ok(None)` for no hit.
    fn lookup_user(&self, oid: &str, value: &str) -> Result<Option<Value>, Answer> {
        let path = format!("/Users?filter={}", filter_eq(&self.mapping.matching.path(), value));
        let a = self.call(Kind::User, oid, "lookup", "GET", &path, None);
        if !a.ok() {
            return Err(a);
        }
        let hits = resources(a.body.as_ref());
        match hits.len() {
            0 => Ok(None),
            1 => match id_of(&hits[0]) {
                Some(_) => Ok(hits.into_iter().next()),
                None => Err(Answer { detail: Some("the matching resource has no id".into()), ..a }),
            },
            n => Err(Answer { detail: Some(format!("{n} resources match {value:?}; Entra needs exactly one")), ..a }),
        }
    }

    /// The target id of a user, looked up by filter when not known yet.
    fn resolve_user(&self, oid: &str) -> Option<String> {
        if let Some(known) = self.user_ids.lock().ok().and_then(|m| m.get(oid).cloned()) {
            return known;
        }
        let u = *self.users_by_object.get(oid)?;
        let value = self.mapping.matching_value(u)?;
        match self.lookup_user(oid, &value) {
            Ok(Some(res)) => {
                let id = id_of(&res);
                self.set_user(oid, id.clone(), Some(res));
                id
            }
            Ok(None) => {
                self.set_user(oid, None, None);
                None
            }
            Err(_) => None,
        }
    }

    fn fail_plain(&self, kind: Kind, oid: &str, step: &str, detail: &str) {
        let a = Answer { status: 0, body: None, detail: Some(detail.to_string()), ms: 0, attempts: 0 };
        self.rec.fail(kind, oid, step, &a);
    }

    /// Brings one user to its desired state (without the manager), looking it
    /// up by `lookup_value` (the previous matching value in an incremental cycle).
    fn sync_user(&self, u: &User, lookup_value: Option<String>) {
        let oid = u.object_id.as_str();
        let Some(value) = lookup_value.or_else(|| self.mapping.matching_value(u)) else {
            self.fail_plain(
                Kind::User,
                oid,
                "lookup",
                "the source attribute mapped to the matching attribute is empty",
            );
            return;
        };
        let desired = self.mapping.desired(u);
        let found = match self.lookup_user(oid, &value) {
            Ok(f) => f,
            Err(a) => return self.rec.fail(Kind::User, oid, "lookup", &a),
        };
        match found {
            None if !u.active() => {
                // Entra does not create users who are disabled or soft-deleted.
                self.set_user(oid, None, None);
                self.rec.outcome(Kind::User, oid, Action::Skipped);
            }
            None => {
                let body = mapping::user_post_body(&desired);
                let a = self.call(Kind::User, oid, "create", "POST", "/Users", Some(&body));
                if !a.ok() {
                    return self.rec.fail(Kind::User, oid, "create", &a);
                }
                match a.body.as_ref().and_then(id_of) {
                    Some(id) => {
                        self.set_user(oid, Some(id), a.body.clone());
                        self.rec.outcome(Kind::User, oid, Action::Created);
                    }
                    None => self.fail_plain(Kind::User, oid, "create", "201 without an id in the body"),
                }
            }
            Some(res) => {
                let id = id_of(&res).unwrap_or_default();
                let changes = mapping::user_changes(&desired, &res);
                if changes.is_empty() {
                    self.set_user(oid, Some(id), Some(res));
                    self.rec.outcome(Kind::User, oid, Action::Skipped);
                    return;
                }
                let body = mapping::user_patch(self.opts.style, &changes);
                let action = user_action(&changes);
                let path = format!("/Users/{id}");
                let a = self.call(Kind::User, oid, verb(action), "PATCH", &path, Some(&body));
                if !a.ok() {
                    self.set_user(oid, Some(id), Some(res));
                    return self.rec.fail(Kind::User, oid, "update", &a);
                }
                // A 200 carries the new resource; after a 204 the old one still tells the manager.
                let new_res = a.body.filter(|b| id_of(b).is_some()).unwrap_or(res);
                self.set_user(oid, Some(id), Some(new_res));
                self.rec.outcome(Kind::User, oid, action);
            }
        }
    }

    /// Second pass: the manager reference of one user.
    fn sync_manager(&self, u: &User, previous_manager: Option<&str>) {
        let Some(target) = self.mapping.manager_target() else { return };
        let oid = u.object_id.as_str();
        let Some(id) = self.user_ids.lock().ok().and_then(|m| m.get(oid).cloned()).flatten() else { return };
        let have = self.user_resource(oid).and_then(|r| target.read(&r)).and_then(|v| v.as_str().map(str::to_string));
        let want = match u.manager.as_deref().filter(|m| !m.is_empty()) {
            // A manager out of scope (not provisioned) is not written (MS-KNOWN).
            Some(m) => match self.resolve_user(m) {
                Some(mid) => Some(mid),
                None => return,
            },
            None => None,
        };
        let body = match (&want, &have) {
            (Some(w), Some(h)) if w == h => return,
            (Some(w), h) => mapping::manager_patch(self.opts.style, target, Some(w), h.is_some()),
            // Removal only when Entra had a manager before (nulls are otherwise skipped).
            (None, Some(_)) if previous_manager.is_some() => {
                mapping::manager_patch(self.opts.style, target, None, true)
            }
            (None, _) => return,
        };
        let a = self.call(Kind::User, oid, "manager", "PATCH", &format!("/Users/{id}"), Some(&body));
        if !a.ok() {
            return self.rec.fail(Kind::User, oid, "manager", &a);
        }
        if let Some(b) = a.body.filter(|b| id_of(b).is_some()) {
            self.set_user(oid, Some(id), Some(b));
        }
        self.rec.outcome(Kind::User, oid, Action::Updated);
    }

    /// GET /Groups?excludedAttributes=members&filter=displayName eq "…".
    fn lookup_group(&self, oid: &str, name: &str) -> Result<Option<String>, Answer> {
        let path = format!("/Groups?excludedAttributes=members&filter={}", filter_eq("displayName", name));
        let a = self.call(Kind::Group, oid, "lookup", "GET", &path, None);
        if !a.ok() {
            return Err(a);
        }
        let hits = resources(a.body.as_ref());
        match hits.len() {
            0 => Ok(None),
            1 => match id_of(&hits[0]) {
                Some(id) => {
                    if let Ok(mut m) = self.group_ids.lock() {
                        m.insert(oid.to_string(), id.clone());
                    }
                    self.check_group_attrs(oid, &id, &hits[0]);
                    Ok(Some(id))
                }
                None => Err(Answer { detail: Some("the matching group has no id".into()), ..a }),
            },
            n => Err(Answer { detail: Some(format!("{n} groups match {name:?}; Entra needs exactly one")), ..a }),
        }
    }

    /// Group attributes other than members: externalId ← objectId, displayName.
    fn check_group_attrs(&self, oid: &str, id: &str, res: &Value) {
        let Some(g) = self.tenant.groups.iter().find(|g| g.object_id == oid) else { return };
        for (attr, want) in [("displayName", g.display_name.as_str()), ("externalId", oid)] {
            if get_ci(res, attr).and_then(Value::as_str) == Some(want) {
                continue;
            }
            let body = mapping::group_replace(self.opts.style, attr, want);
            let a = self.call(Kind::Group, oid, "update", "PATCH", &format!("/Groups/{id}"), Some(&body));
            if a.ok() {
                self.rec.outcome(Kind::Group, oid, Action::Updated);
            } else {
                self.rec.fail(Kind::Group, oid, "update", &a);
            }
        }
    }

    /// Member target ids of a group that are provisioned (others are out of scope).
    fn member_ids(&self, members: &[String]) -> Vec<String> {
        let mut seen = BTreeSet::new();
        members.iter().filter_map(|m| self.resolve_user(m)).filter(|id| seen.insert(id.clone())).collect()
    }

    fn patch_members(&self, oid: &str, id: &str, ids: &[String], add: bool) -> bool {
        let mut ok = true;
        for chunk in ids.chunks(self.opts.member_batch.max(1)) {
            let body = if add {
                mapping::members_add(self.opts.style, chunk)
            } else {
                mapping::members_remove(self.opts.style, chunk)
            };
            let action = if add { "members-add" } else { "members-remove" };
            let a = self.call(Kind::Group, oid, action, "PATCH", &format!("/Groups/{id}"), Some(&body));
            if !a.ok() {
                self.rec.fail(Kind::Group, oid, action, &a);
                ok = false;
            }
        }
        ok
    }

    /// Current members of a group as the server returns them.
    fn read_members(&self, oid: &str, id: &str) -> Result<HashSet<String>, Answer> {
        let a = self.call(Kind::Group, oid, "read", "GET", &format!("/Groups/{id}"), None);
        if !a.ok() {
            return Err(a);
        }
        Ok(members_of(a.body.as_ref()))
    }

    /// Initial-cycle group: lookup, POST, then member PATCHes as deltas.
    fn sync_group(&self, g: &Group, lookup_name: &str) {
        let oid = g.object_id.as_str();
        let found = match self.lookup_group(oid, lookup_name) {
            Ok(f) => f,
            Err(a) => return self.rec.fail(Kind::Group, oid, "lookup", &a),
        };
        let desired = self.member_ids(&g.members);
        match found {
            None => {
                let body = mapping::group_post_body(oid, &g.display_name);
                let a = self.call(Kind::Group, oid, "create", "POST", "/Groups", Some(&body));
                if !a.ok() {
                    return self.rec.fail(Kind::Group, oid, "create", &a);
                }
                let Some(id) = a.body.as_ref().and_then(id_of) else {
                    return self.fail_plain(Kind::Group, oid, "create", "201 without an id in the body");
                };
                if let Ok(mut m) = self.group_ids.lock() {
                    m.insert(oid.to_string(), id.clone());
                }
                self.rec.outcome(Kind::Group, oid, Action::Created);
                self.patch_members(oid, &id, &desired, true);
            }
            Some(id) => {
                let current = match self.read_members(oid, &id) {
                    Ok(c) => c,
                    Err(a) => return self.rec.fail(Kind::Group, oid, "read", &a),
                };
                let add: Vec<String> = desired.iter().filter(|m| !current.contains(*m)).cloned().collect();
                // Only members Entra knows (tenant users) are removed; others are left alone.
                let want: HashSet<&String> = desired.iter().collect();
                let mut remove: Vec<String> = match self.user_ids.lock() {
                    Ok(ids) => current.iter().filter(|m| !want.contains(m) && ids.is_target(m)).cloned().collect(),
                    Err(_) => Vec::new(),
                };
                remove.sort();
                let wrote = !add.is_empty() || !remove.is_empty();
                let ok = self.patch_members(oid, &id, &add, true) & self.patch_members(oid, &id, &remove, false);
                self.rec.outcome(Kind::Group, oid, if wrote && ok { Action::Updated } else { Action::Skipped });
            }
        }
    }

    /// Incremental group change: rename and membership deltas from the snapshots.
    fn update_group(&self, old: &Group, new: &Group, deleted_users: &HashSet<&str>) {
        let oid = new.object_id.as_str();
        let id = match self.lookup_group(oid, &old.display_name) {
            Ok(Some(id)) => id,
            Ok(None) => return self.sync_group(new, &new.display_name),
            Err(a) => return self.rec.fail(Kind::Group, oid, "lookup", &a),
        };
        if old.display_name != new.display_name {
            let body = mapping::group_replace(self.opts.style, "displayName", &new.display_name);
            let a = self.call(Kind::Group, oid, "update", "PATCH", &format!("/Groups/{id}"), Some(&body));
            if !a.ok() {
                return self.rec.fail(Kind::Group, oid, "update", &a);
            }
        }
        let (o, n): (HashSet<&String>, HashSet<&String>) = (old.members.iter().collect(), new.members.iter().collect());
        let added: Vec<String> = new.members.iter().filter(|m| !o.contains(m)).cloned().collect();
        // A hard-deleted user leaves its groups with the DELETE: no member PATCH for it.
        let removed: Vec<String> =
            old.members.iter().filter(|m| !n.contains(m) && !deleted_users.contains(m.as_str())).cloned().collect();
        let add_ids = self.member_ids(&added);
        let remove_ids = self.member_ids(&removed);
        let wrote = old.display_name != new.display_name || !add_ids.is_empty() || !remove_ids.is_empty();
        let ok = self.patch_members(oid, &id, &add_ids, true) & self.patch_members(oid, &id, &remove_ids, false);
        self.rec.outcome(Kind::Group, oid, if wrote && ok { Action::Updated } else { Action::Skipped });
    }

    fn delete(&self, kind: Kind, oid: &str, id: &str) {
        let path = format!("/{}/{id}", if kind == Kind::User { "Users" } else { "Groups" });
        let a = self.call(kind, oid, "delete", "DELETE", &path, None);
        match a.status {
            s if (200..300).contains(&s) => self.rec.outcome(kind, oid, Action::Deleted),
            404 => self.rec.outcome(kind, oid, Action::Skipped),
            _ => self.rec.fail(kind, oid, "delete", &a),
        }
    }

    /// A full (initial) cycle over every object in the snapshot.
    pub fn run_initial(&self) {
        let users = &self.tenant.users;
        self.phase("users", users.len());
        parallel(users, self.opts.concurrency, |u| {
            self.sync_user(u, None);
            self.bar.inc(1);
        });
        self.phase("managers", users.len());
        parallel(users, self.opts.concurrency, |u| {
            self.sync_manager(u, None);
            self.bar.inc(1);
        });
        if self.opts.groups {
            self.phase("groups", self.tenant.groups.len());
            parallel(&self.tenant.groups, self.opts.concurrency, |g| {
                self.sync_group(g, &g.display_name);
                self.bar.inc(1);
            });
        }
    }

    /// An incremental cycle: only what changed between `previous` and the tenant.
    pub fn run_incremental(&self, previous: &Tenant) {
        let diff = TenantDiff::between(previous, self.tenant);
        let (cur, prev) = (self.tenant.user_map(), previous.user_map());
        let touched: Vec<&User> = diff
            .users_added
            .iter()
            .chain(diff.users_changed.iter())
            .filter_map(|id| cur.get(id.as_str()).copied())
            .collect();
        self.phase("users", touched.len());
        parallel(&touched, self.opts.concurrency, |u| {
            // Cold cache: find the object by its previous matching value.
            let old = prev.get(u.object_id.as_str()).and_then(|p| self.mapping.matching_value(p));
            self.sync_user(u, old);
            self.bar.inc(1);
        });
        self.phase("managers", touched.len());
        parallel(&touched, self.opts.concurrency, |u| {
            let old = prev.get(u.object_id.as_str()).and_then(|p| p.manager.as_deref());
            self.sync_manager(u, old);
            self.bar.inc(1);
        });
        self.phase("deletes", diff.users_removed.len());
        parallel(&diff.users_removed, self.opts.concurrency, |oid| {
            match self.resolve_user(oid) {
                Some(id) => self.delete(Kind::User, oid, &id),
                None => self.rec.outcome(Kind::User, oid, Action::Skipped),
            }
            if let Ok(mut m) = self.user_ids.lock() {
                m.set(oid, None);
            }
            self.bar.inc(1);
        });
        if !self.opts.groups {
            return;
        }
        let deleted: HashSet<&str> = diff.users_removed.iter().map(String::as_str).collect();
        let (gcur, gprev) = (self.tenant.group_map(), previous.group_map());
        let work: Vec<&String> =
            diff.groups_added.iter().chain(diff.groups_changed.iter()).chain(diff.groups_removed.iter()).collect();
        self.phase("groups", work.len());
        parallel(&work, self.opts.concurrency, |oid| {
            match (gprev.get(oid.as_str()), gcur.get(oid.as_str())) {
                (None, Some(g)) => self.sync_group(g, &g.display_name),
                (Some(old), Some(new)) => self.update_group(old, new, &deleted),
                (Some(old), None) => match self.lookup_group(oid, &old.display_name) {
                    Ok(Some(id)) => self.delete(Kind::Group, oid, &id),
                    Ok(None) => self.rec.outcome(Kind::Group, oid, Action::Skipped),
                    Err(a) => self.rec.fail(Kind::Group, oid, "lookup", &a),
                },
                (None, None) => {}
            }
            self.bar.inc(1);
        });
    }

    /// `--verify`: GET every object and report attributes that differ from the
    /// desired state (what Entra would re-send every cycle).
    pub fn verify(&self) {
        let users = &self.tenant.users;
        self.phase("verify", users.len() + if self.opts.groups { self.tenant.groups.len() } else { 0 });
        let manager_target = self.mapping.manager_target().cloned();
        parallel(users, self.opts.concurrency, |u| {
            self.bar.inc(1);
            let oid = u.object_id.as_str();
            let Some(id) = self.resolve_user(oid) else { return };
            let a = self.call(Kind::User, oid, "verify", "GET", &format!("/Users/{id}"), None);
            let Some(res) = a.body.filter(|_| (200..300).contains(&a.status)) else {
                return self.rec.fail(Kind::User, oid, "verify", &Answer { body: None, ..a });
            };
            let mut desired: Vec<(Target, Value)> = self.mapping.desired(u);
            if let (Some(t), Some(m)) = (&manager_target, u.manager.as_deref()) {
                if let Some(mid) = self.resolve_user(m) {
                    desired.push((t.clone(), Value::String(mid)));
                }
            }
            for Change { target, value, .. } in mapping::user_changes(&desired, &res) {
                self.rec.difference(Difference {
                    kind: Kind::User,
                    object: oid.to_string(),
                    attribute: target.path(),
                    returned: target.read(&res).unwrap_or(Value::Null),
                    sent: value,
                });
            }
        });
        if !self.opts.groups {
            return;
        }
        parallel(&self.tenant.groups, self.opts.concurrency, |g| {
            self.bar.inc(1);
            let oid = g.object_id.as_str();
            let known = self.group_ids.lock().ok().and_then(|m| m.get(oid).cloned());
            let id = match known {
                Some(id) => id,
                None => match self.lookup_group(oid, &g.display_name) {
                    Ok(Some(id)) => id,
                    _ => return,
                },
            };
            let a = self.call(Kind::Group, oid, "verify", "GET", &format!("/Groups/{id}"), None);
            let Some(res) = a.body.clone().filter(|_| a.ok()) else {
                return self.rec.fail(Kind::Group, oid, "verify", &a);
            };
            for (attr, want) in [("displayName", g.display_name.as_str()), ("externalId", oid)] {
                let got = get_ci(&res, attr).cloned().unwrap_or(Value::Null);
                if got != json!(want) {
                    self.rec.difference(Difference {
                        kind: Kind::Group,
                        object: oid.to_string(),
                        attribute: attr.into(),
                        sent: json!(want),
                        returned: got,
                    });
                }
            }
            let want: BTreeSet<String> = self.member_ids(&g.members).into_iter().collect();
            let got: BTreeSet<String> = members_of(Some(&res)).into_iter().collect();
            if want != got {
                let missing = want.difference(&got).count();
                let extra = got.difference(&want).count();
                self.rec.difference(Difference {
                    kind: Kind::Group,
                    object: oid.to_string(),
                    attribute: "members".into(),
                    sent: json!(format!("{} members", want.len())),
                    returned: json!(format!("{} members ({missing} missing, {extra} extra)", got.len())),
                });
            }
        });
    }
}

/// Users by objectId; the current snapshot's entry wins over the previous one's.
fn index_users<'a>(tenant: &'a Tenant, previous: Option<&'a Tenant>) -> HashMap<&'a str, &'a User> {
    let mut by_object = HashMap::new();
    for u in tenant.users.iter().chain(previous.iter().flat_map(|p| p.users.iter())) {
        by_object.entry(u.object_id.as_str()).or_insert(u);
    }
    by_object
}

fn members_of(body: Option<&Value>) -> HashSet<String> {
    body.and_then(|b| get_ci(b, "members"))
        .and_then(Value::as_array)
        .map(|ms| ms.iter().filter_map(|m| get_ci(m, "value").and_then(Value::as_str).map(str::to_string)).collect())
        .unwrap_or_default()
}

/// `disabled` when the PATCH sets active to false, else `updated`.
fn user_action(changes: &[Change]) -> Action {
    let disables = changes.iter().any(|c| c.target.is_active() && c.value == Value::Bool(false));
    if disables {
        Action::Disabled
    } else {
        Action::Updated
    }
}

/// The report's name for a user PATCH.
fn verb(a: Action) -> &'static str {
    match a {
        Action::Disabled => "disable",
        _ => "update",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_know_their_targets_through_changes() {
        let mut ids = UserIds::default();
        ids.set("o1", Some("t1".into()));
        ids.set("o2", Some("t1".into())); // a peer may answer two lookups with one user
        ids.set("o3", None);
        assert!(ids.is_target("t1") && !ids.is_target("o1"));
        assert_eq!(ids.get("o3"), Some(&None));
        ids.set("o1", Some("t2".into()));
        assert!(ids.is_target("t1"), "o2 still maps to t1");
        ids.set("o2", None);
        assert!(!ids.is_target("t1") && ids.is_target("t2"));
        assert_eq!(ids.get("o2"), Some(&None));
    }

    #[test]
    fn guid_shape() {
        let g = random_guid();
        let parts: Vec<usize> = g.split('-').map(str::len).collect();
        assert_eq!(parts, vec![8, 4, 4, 4, 12], "{g}");
        assert!(g.chars().all(|c| c.is_ascii_hexdigit() || c == '-'));
        assert_ne!(random_guid(), g);
    }

    #[test]
    fn parallel_visits_every_item_once() {
        let items: Vec<usize> = (0..1000).collect();
        let sum = AtomicUsize::new(0);
        parallel(&items, 8, |i| {
            sum.fetch_add(*i, Ordering::Relaxed);
        });
        assert_eq!(sum.load(Ordering::Relaxed), 999 * 1000 / 2);
        parallel(&[] as &[usize], 8, |_| {});
    }
}
