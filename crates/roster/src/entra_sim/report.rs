//! What a cycle did: per-object outcomes (Entra's provisioning-log actions),
//! the `--report` JSON Lines writer, and the end-of-run summary.

use super::client::{Answer, Counters};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::Duration;

/// The action recorded for an object, ordered by how much it says (a later,
/// stronger action replaces a weaker one: skipped < updated < … < failed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    Skipped,
    Updated,
    Disabled,
    Created,
    Deleted,
    Failed,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Skipped => "skipped",
            Action::Updated => "updated",
            Action::Disabled => "disabled",
            Action::Created => "created",
            Action::Deleted => "deleted",
            Action::Failed => "failed",
        }
    }
    pub const ALL: [Action; 6] =
        [Action::Created, Action::Updated, Action::Disabled, Action::Deleted, Action::Skipped, Action::Failed];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    User,
    Group,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::User => "user",
            Kind::Group => "group",
        }
    }
}

/// A failure as Entra's log shows it: the object, the step and the server's detail.
#[derive(Debug, Clone)]
pub struct Failure {
    pub kind: Kind,
    pub object: String,
    pub step: String,
    pub status: u16,
    pub detail: String,
}

#[derive(Debug, Clone)]
pub struct Difference {
    pub kind: Kind,
    pub object: String,
    pub attribute: String,
    pub sent: Value,
    pub returned: Value,
}

/// The strongest successful action of an object, and whether a step failed.
type Outcome = (Option<Action>, bool);

/// Collects outcomes from worker threads and writes `--report`.
pub struct Recorder {
    /// Per object: the strongest successful action, and whether any step failed.
    outcomes: Mutex<BTreeMap<(Kind, String), Outcome>>,
    failures: Mutex<Vec<Failure>>,
    differences: Mutex<Vec<Difference>>,
    report: Option<Mutex<std::io::BufWriter<std::fs::File>>>,
    report_error: Mutex<Option<String>>,
}

impl Recorder {
    pub fn new(report: Option<std::fs::File>) -> Recorder {
        Recorder {
            outcomes: Mutex::new(BTreeMap::new()),
            failures: Mutex::new(vec![]),
            differences: Mutex::new(vec![]),
            report: report.map(|f| Mutex::new(std::io::BufWriter::new(f))),
            report_error: Mutex::new(None),
        }
    }

    /// Records an object's action (a stronger one wins). An object that was,
    /// say, created but whose manager PATCH failed counts as created and failed.
    pub fn outcome(&self, kind: Kind, object: &str, action: Action) {
        if let Ok(mut m) = self.outcomes.lock() {
            let e = m.entry((kind, object.to_string())).or_insert((None, false));
            if action == Action::Failed {
                e.1 = true;
            } else {
                match e.0 {
                    Some(a) if a >= action => {}
                    _ => e.0 = Some(action),
                }
            }
        }
    }

    pub fn fail(&self, kind: Kind, object: &str, step: &str, answer: &Answer) {
        self.outcome(kind, object, Action::Failed);
        if let Ok(mut f) = self.failures.lock() {
            f.push(Failure {
                kind,
                object: object.to_string(),
                step: step.to_string(),
                status: answer.status,
                detail: answer.detail.clone().unwrap_or_else(|| format!("unexpected answer {}", answer.status)),
            });
        }
    }

    pub fn difference(&self, d: Difference) {
        if let Ok(mut v) = self.differences.lock() {
            v.push(d);
        }
    }

    /// One line of `--report`.
    #[allow(clippy::too_many_arguments)]
    pub fn request(
        &self,
        kind: Kind,
        object: &str,
        action: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
        a: &Answer,
    ) {
        let Some(w) = &self.report else { return };
        let line = json!({
            "object": object,
            "kind": kind.as_str(),
            "action": action,
            "request": {"method": method, "path": path, "body": body},
            "status": a.status,
            "detail": a.detail,
            "ms": a.ms,
            "attempts": a.attempts,
        });
        if let Ok(mut w) = w.lock() {
            if let Err(e) = writeln!(w, "{line}") {
                if let Ok(mut slot) = self.report_error.lock() {
                    slot.get_or_insert_with(|| e.to_string());
                }
            }
        }
    }

    pub fn flush(&self) -> Result<(), String> {
        if let Some(w) = &self.report {
            if let Ok(mut w) = w.lock() {
                w.flush().map_err(|e| e.to_string())?;
            }
        }
        match self.report_error.lock().ok().and_then(|s| s.clone()) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    pub fn summary(&self, counters: &Counters, wall: Duration) -> Summary {
        let mut counts: BTreeMap<(Kind, Action), u64> = BTreeMap::new();
        if let Ok(m) = self.outcomes.lock() {
            for ((kind, _), (action, failed)) in m.iter() {
                if let Some(a) = action {
                    *counts.entry((*kind, *a)).or_default() += 1;
                }
                if *failed {
                    *counts.entry((*kind, Action::Failed)).or_default() += 1;
                }
            }
        }
        let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        Summary {
            counts,
            get: load(&counters.get),
            post: load(&counters.post),
            patch: load(&counters.patch),
            delete: load(&counters.delete),
            failed_requests: load(&counters.failed),
            retries: load(&counters.retries),
            throttled: load(&counters.throttled),
            wall,
            failures: self.failures.lock().map(|f| f.clone()).unwrap_or_default(),
            differences: self.differences.lock().map(|d| d.clone()).unwrap_or_default(),
        }
    }
}

/// The end-of-run figures.
#[derive(Debug, Clone)]
pub struct Summary {
    pub counts: BTreeMap<(Kind, Action), u64>,
    pub get: u64,
    pub post: u64,
    pub patch: u64,
    pub delete: u64,
    pub failed_requests: u64,
    pub retries: u64,
    pub throttled: u64,
    pub wall: Duration,
    pub failures: Vec<Failure>,
    pub differences: Vec<Difference>,
}

impl Summary {
    pub fn count(&self, kind: Kind, action: Action) -> u64 {
        self.counts.get(&(kind, action)).copied().unwrap_or(0)
    }
    pub fn requests(&self) -> u64 {
        self.get + self.post + self.patch + self.delete
    }
    pub fn writes(&self) -> u64 {
        self.post + self.patch + self.delete
    }
    pub fn failed_objects(&self) -> u64 {
        self.count(Kind::User, Action::Failed) + self.count(Kind::Group, Action::Failed)
    }
    /// Entra's rule (MS-QUAR): more than 40 % of requests failing.
    pub fn would_quarantine(&self) -> bool {
        self.requests() > 0 && self.failed_requests * 100 > self.requests() * 40
    }

    /// The text printed at the end of a run.
    pub fn render(&self, max_listed: usize) -> String {
        let mut s = String::new();
        let secs = self.wall.as_secs_f64().max(1e-9);
        for kind in [Kind::User, Kind::Group] {
            let label = if kind == Kind::User { "users: " } else { "groups:" };
            let parts: Vec<String> =
                Action::ALL.iter().map(|a| format!("{} {}", self.count(kind, *a), a.as_str())).collect();
            s.push_str(&format!("{label} {}\n", parts.join(", ")));
        }
        s.push_str(&format!(
            "requests: {} (GET {}, POST {}, PATCH {}, DELETE {}), writes: {}, failed requests: {}, retries: {} ({} throttled)\n",
            self.requests(),
            self.get,
            self.post,
            self.patch,
            self.delete,
            self.writes(),
            self.failed_requests,
            self.retries,
            self.throttled
        ));
        s.push_str(&format!("wall time: {:.2} s, {:.1} requests/s\n", secs, self.requests() as f64 / secs));
        if self.would_quarantine() {
            s.push_str(&format!(
                "would be quarantined: {} of {} requests failed (> 40 %)\n",
                self.failed_requests,
                self.requests()
            ));
        }
        if !self.failures.is_empty() {
            s.push_str(&format!("failures ({}; escrowed, Entra retries them next cycle):\n", self.failures.len()));
            for f in self.failures.iter().take(max_listed) {
                let detail = f.detail.split_whitespace().collect::<Vec<_>>().join(" ");
                s.push_str(&format!("  {} {} [{}] {}: {}\n", f.kind.as_str(), f.object, f.step, f.status, detail));
            }
            if self.failures.len() > max_listed {
                s.push_str(&format!("  … and {} more (see --report)\n", self.failures.len() - max_listed));
            }
        }
        if !self.differences.is_empty() {
            s.push_str(&format!(
                "verify: {} attribute(s) differ from what was sent (Entra re-sends them every cycle):\n",
                self.differences.len()
            ));
            for d in self.differences.iter().take(max_listed) {
                s.push_str(&format!(
                    "  {} {} {}: sent {}, got {}\n",
                    d.kind.as_str(),
                    d.object,
                    d.attribute,
                    d.sent,
                    d.returned
                ));
            }
            if self.differences.len() > max_listed {
                s.push_str(&format!("  … and {} more\n", self.differences.len() - max_listed));
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stronger_action_wins_and_quarantine_rule() {
        let r = Recorder::new(None);
        r.outcome(Kind::User, "a", Action::Skipped);
        r.outcome(Kind::User, "a", Action::Updated);
        r.outcome(Kind::User, "a", Action::Skipped);
        let a = Answer { status: 501, body: None, detail: Some("no groups".into()), ms: 1, attempts: 1 };
        r.fail(Kind::Group, "g", "create", &a);
        let c = Counters::default();
        c.get.store(5, Ordering::Relaxed);
        c.post.store(5, Ordering::Relaxed);
        c.failed.store(4, Ordering::Relaxed);
        let s = r.summary(&c, Duration::from_secs(1));
        assert_eq!(s.count(Kind::User, Action::Updated), 1);
        assert_eq!(s.count(Kind::User, Action::Skipped), 0);
        r.outcome(Kind::User, "a", Action::Failed);
        let s = r.summary(&c, Duration::from_secs(1));
        assert_eq!((s.count(Kind::User, Action::Updated), s.count(Kind::User, Action::Failed)), (1, 1));
        assert!(!s.would_quarantine(), "40 % is not more than 40 %");
        let text = s.render(10);
        assert!(text.contains("groups: 0 created, 0 updated, 0 disabled, 0 deleted, 0 skipped, 1 failed"), "{text}");
        assert!(text.contains("group g [create] 501: no groups"), "{text}");
        c.failed.store(5, Ordering::Relaxed);
        assert!(r.summary(&c, Duration::from_secs(1)).would_quarantine());
    }
}
