//! The SCIM HTTP client: bearer auth, Entra's filter encoding, the retry policy
//! (429 + Retry-After, bounded exponential back-off on 5xx and transport
//! errors) and the request counters the summary is built from.

use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub const SCIM_JSON: &str = "application/scim+json; charset=utf-8";

/// How hard to try one request.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// First back-off for 5xx / transport errors; doubled each time.
    pub base_backoff: Duration,
    /// Ceiling for any single wait, including a server's Retry-After.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { max_retries: 4, base_backoff: Duration::from_millis(200), max_wait: Duration::from_secs(30) }
    }
}

impl RetryPolicy {
    /// The wait before retry number `attempt` (0-based), or `None` to give up.
    pub fn wait(&self, attempt: u32, status: Option<u16>, retry_after: Option<&str>) -> Option<Duration> {
        if attempt >= self.max_retries {
            return None;
        }
        let wait = match status {
            Some(429) => retry_after
                .and_then(|s| s.trim().parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(Duration::from_secs_f64)
                .unwrap_or(Duration::from_secs(1)),
            Some(s) if s >= 500 => self.base_backoff.saturating_mul(1u32 << attempt.min(16)),
            None => self.base_backoff.saturating_mul(1u32 << attempt.min(16)),
            Some(_) => return None,
        };
        Some(wait.min(self.max_wait))
    }
}

/// The final answer to a request (after retries).
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status, or 0 when no answer came back.
    pub status: u16,
    pub body: Option<Value>,
    /// The server's error `detail` (or the transport error).
    pub detail: Option<String>,
    pub ms: u64,
    pub attempts: u32,
}

impl Answer {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

#[derive(Debug, Default)]
pub struct Counters {
    pub get: AtomicU64,
    pub post: AtomicU64,
    pub patch: AtomicU64,
    pub delete: AtomicU64,
    pub other: AtomicU64,
    /// Requests whose final answer was not 2xx (after retries).
    pub failed: AtomicU64,
    /// Extra attempts (429 and 5xx retries).
    pub retries: AtomicU64,
    pub throttled: AtomicU64,
}

impl Counters {
    pub fn writes(&self) -> u64 {
        self.post.load(Ordering::Relaxed) + self.patch.load(Ordering::Relaxed) + self.delete.load(Ordering::Relaxed)
    }
    pub fn total(&self) -> u64 {
        self.get.load(Ordering::Relaxed) + self.writes() + self.other.load(Ordering::Relaxed)
    }
}

/// The simulator's HTTP client settings, before any extra trusted roots.
pub fn http_builder(timeout: Duration) -> reqwest::blocking::ClientBuilder {
    reqwest::blocking::Client::builder()
        .timeout(timeout)
        .user_agent(concat!("roster-entra-sim/", env!("CARGO_PKG_VERSION")))
}

pub struct ScimClient {
    http: reqwest::blocking::Client,
    base: String,
    /// Query string of the Tenant URL (e.g. `aadOptscim062020`), appended to every request.
    tenant_query: Option<String>,
    token: String,
    pub policy: RetryPolicy,
    pub counters: Counters,
}

impl ScimClient {
    /// A client on an HTTP client of the caller's (e.g. trusting another CA).
    pub fn with_http(
        tenant_url: &str,
        token: &str,
        policy: RetryPolicy,
        http: reqwest::blocking::Client,
    ) -> ScimClient {
        let (base, query) = match tenant_url.split_once('?') {
            Some((b, q)) => (b, Some(q.to_string()).filter(|q| !q.is_empty())),
            None => (tenant_url, None),
        };
        ScimClient {
            http,
            base: base.trim_end_matches('/').to_string(),
            tenant_query: query,
            token: token.to_string(),
            policy,
            counters: Counters::default(),
        }
    }

    /// The URL for a path relative to the base (`/Users?filter=…`).
    pub fn url(&self, path: &str) -> String {
        let mut url = format!("{}{}", self.base, path);
        if let Some(q) = &self.tenant_query {
            url.push(if path.contains('?') { '&' } else { '?' });
            url.push_str(q);
        }
        url
    }

    /// Sends with retries; never fails: a transport error is an `Answer` with status 0.
    pub fn send(&self, method: &str, path: &str, body: Option<&Value>) -> Answer {
        let start = Instant::now();
        let counter = match method {
            "GET" => &self.counters.get,
            "POST" => &self.counters.post,
            "PATCH" => &self.counters.patch,
            "DELETE" => &self.counters.delete,
            _ => &self.counters.other,
        };
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let url = self.url(path);
        let mut attempt = 0u32;
        loop {
            counter.fetch_add(1, Ordering::Relaxed);
            let mut req =
                self.http.request(m.clone(), &url).bearer_auth(&self.token).header("Accept", "application/scim+json");
            if let Some(b) = body {
                req = req.header("Content-Type", SCIM_JSON).body(serde_json::to_vec(b).unwrap_or_default());
            }
            let (status, retry_after, parsed, detail) = match req.send() {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let retry_after =
                        resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
                    let text = resp.text().unwrap_or_default();
                    let parsed: Option<Value> = serde_json::from_str(&text).ok();
                    let detail =
                        if (200..300).contains(&status) { None } else { Some(error_detail(parsed.as_ref(), &text)) };
                    (Some(status), retry_after, parsed, detail)
                }
                Err(e) => (None, None, None, Some(format!("transport error: {}", e.without_url()))),
            };
            let done = matches!(status, Some(s) if s < 500 && s != 429);
            let wait = if done { None } else { self.policy.wait(attempt, status, retry_after.as_deref()) };
            match wait {
                Some(w) => {
                    if status == Some(429) {
                        self.counters.throttled.fetch_add(1, Ordering::Relaxed);
                    }
                    self.counters.retries.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(w);
                    attempt += 1;
                }
                None => {
                    let status = status.unwrap_or(0);
                    if !(200..300).contains(&status) {
                        self.counters.failed.fetch_add(1, Ordering::Relaxed);
                    }
                    return Answer {
                        status,
                        body: parsed,
                        detail,
                        ms: start.elapsed().as_millis() as u64,
                        attempts: attempt + 1,
                    };
                }
            }
        }
    }
}

/// The server's `detail` (SCIM error), else a short excerpt of the body.
fn error_detail(parsed: Option<&Value>, text: &str) -> String {
    if let Some(v) = parsed {
        for key in ["detail", "Detail", "message", "error"] {
            if let Some(s) = v.get(key).and_then(Value::as_str) {
                return s.to_string();
            }
        }
    }
    let t = text.trim();
    if t.is_empty() {
        "(empty body)".into()
    } else {
        t.chars().take(300).collect()
    }
}

/// `attr eq "value"` encoded as Entra does: spaces as `+`, quotes as `%22`.
pub fn filter_eq(attr: &str, value: &str) -> String {
    let mut out = String::new();
    for (i, part) in [attr, " eq \"", value, "\""].iter().enumerate() {
        for b in part.bytes() {
            match b {
                b' ' => out.push('+'),
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
                b':' if i == 0 => out.push(':'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;

    #[test]
    fn filter_is_form_encoded() {
        assert_eq!(
            filter_eq("userName", "f3b1c0de-6a1e-4c1b-9d8e-0a6c2d9e7b11"),
            "userName+eq+%22f3b1c0de-6a1e-4c1b-9d8e-0a6c2d9e7b11%22"
        );
        assert_eq!(filter_eq("displayName", "Research & Development"), "displayName+eq+%22Research+%26+Development%22");
        assert_eq!(filter_eq("userName", "zoë@x"), "userName+eq+%22zo%C3%AB%40x%22");
    }

    #[test]
    fn retry_policy_waits() {
        let p =
            RetryPolicy { max_retries: 3, base_backoff: Duration::from_millis(100), max_wait: Duration::from_secs(5) };
        assert_eq!(p.wait(0, Some(429), Some("2")), Some(Duration::from_secs(2)));
        assert_eq!(p.wait(0, Some(429), Some("600")), Some(Duration::from_secs(5)), "capped");
        assert_eq!(p.wait(0, Some(429), None), Some(Duration::from_secs(1)));
        assert_eq!(p.wait(0, Some(503), None), Some(Duration::from_millis(100)));
        assert_eq!(p.wait(2, Some(500), None), Some(Duration::from_millis(400)));
        assert_eq!(p.wait(1, None, None), Some(Duration::from_millis(200)));
        assert_eq!(p.wait(3, Some(500), None), None, "bounded");
        assert_eq!(p.wait(0, Some(404), None), None);
    }

    /// A one-thread HTTP stub answering the scripted responses in order.
    fn stub(script: Vec<(u16, &'static str, &'static str)>) -> (String, std::thread::JoinHandle<Vec<String>>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/scim", l.local_addr().unwrap());
        let h = std::thread::spawn(move || {
            let mut seen = vec![];
            for (status, extra, body) in script {
                let (mut s, _) = l.accept().unwrap();
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                seen.push(line.trim().to_string());
                let mut len = 0usize;
                loop {
                    let mut h = String::new();
                    r.read_line(&mut h).unwrap();
                    if h.trim().is_empty() {
                        break;
                    }
                    if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap();
                    }
                }
                let mut b = vec![0; len];
                r.read_exact(&mut b).unwrap();
                let resp = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/scim+json\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                s.write_all(resp.as_bytes()).unwrap();
            }
            seen
        });
        (url, h)
    }

    fn client(url: &str, policy: RetryPolicy) -> ScimClient {
        ScimClient::with_http(url, "t", policy, http_builder(Duration::from_secs(5)).build().unwrap())
    }

    #[test]
    fn honours_429_retry_after_then_succeeds() {
        let (url, h) = stub(vec![
            (429, "Retry-After: 1\r\n", r#"{"detail":"slow down"}"#),
            (503, "", ""),
            (200, "", r#"{"totalResults":0}"#),
        ]);
        let p =
            RetryPolicy { max_retries: 3, base_backoff: Duration::from_millis(10), max_wait: Duration::from_secs(5) };
        let c = client(&format!("{url}?aadOptscim062020"), p);
        let t = Instant::now();
        let a = c.send("GET", "/Users?filter=x", None);
        assert!(t.elapsed() >= Duration::from_secs(1), "waited for Retry-After");
        assert_eq!(a.status, 200);
        assert_eq!(a.attempts, 3);
        assert_eq!(a.body, Some(json!({"totalResults": 0})));
        assert_eq!(c.counters.get.load(Ordering::Relaxed), 3);
        assert_eq!(c.counters.throttled.load(Ordering::Relaxed), 1);
        assert_eq!(c.counters.failed.load(Ordering::Relaxed), 0);
        let seen = h.join().unwrap();
        assert_eq!(seen[0], "GET /scim/Users?filter=x&aadOptscim062020 HTTP/1.1");
    }

    #[test]
    fn gives_up_after_bounded_retries_with_the_detail() {
        let (url, h) = stub(vec![(500, "", r#"{"detail":"boom"}"#), (500, "", r#"{"detail":"boom again"}"#)]);
        let p =
            RetryPolicy { max_retries: 1, base_backoff: Duration::from_millis(10), max_wait: Duration::from_secs(1) };
        let c = client(&url, p);
        let a = c.send("POST", "/Users", Some(&json!({})));
        assert_eq!((a.status, a.detail.as_deref(), a.attempts), (500, Some("boom again"), 2));
        assert_eq!(c.counters.failed.load(Ordering::Relaxed), 1);
        h.join().unwrap();
        // 4xx is final at once.
        let (url, h) = stub(vec![(409, "", r#"{"detail":"dup"}"#)]);
        let c = client(&url, p);
        assert_eq!(c.send("POST", "/Users", Some(&json!({}))).attempts, 1);
        h.join().unwrap();
    }
}
