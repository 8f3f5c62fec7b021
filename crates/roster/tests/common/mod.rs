//! Test kit for the end-to-end suite: runs the real `roster` binary on a free
//! port over a temporary database and talks to it over HTTP.
//!
//! The database is SQLite, or, when `ROSTER_TEST_POSTGRES_URL` names a
//! PostgreSQL server, a fresh `roster_test_<random>` database on it that is
//! dropped when the last server using it is dropped. `.ci/run` runs the suite
//! both ways.
#![allow(dead_code)]

use reqwest::blocking::Client;
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};
use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub const USER_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENT_URN: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const PATCH_URN: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const LIST_URN: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const ERROR_URN: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const SCIM_JSON: &str = "application/scim+json";

const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// A random token of `n` hex characters (from /dev/urandom).
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n.div_ceil(2)];
    std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes)).expect("reading /dev/urandom");
    let mut s: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    s.truncate(n);
    s
}

/// A random GUID-shaped string, like the ones Entra's Test Connection sends.
pub fn guid() -> String {
    let h = random_hex(32);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// One running (or stopped) `roster serve`.
pub struct TestServer {
    /// The `--database` URL of every run.
    database: String,
    /// Keeps a PostgreSQL test database alive (shared by servers on one database).
    pg: Option<Arc<PgDatabase>>,
    dir: tempfile::TempDir,
    token: String,
    port: u16,
    public_url: Option<String>,
    /// More `roster serve` arguments, on every start.
    serve_args: Vec<String>,
    child: Option<Child>,
    stdout: Arc<Mutex<String>>,
    reader: Option<JoinHandle<()>>,
    /// The complete stdout of every finished run, oldest first.
    pub past_stdout: Vec<String>,
    pub client: Client,
    starts: usize,
}

/// An HTTP answer, read fully.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Resp {
    pub fn content_type(&self) -> &str {
        self.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("")
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
    }
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.text))
    }
    /// Asserts the status and the SCIM media type, and returns the JSON body.
    #[track_caller]
    pub fn scim(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.text);
        assert!(
            self.content_type().starts_with(SCIM_JSON),
            "Content-Type is {:?}, expected {SCIM_JSON}; body: {}",
            self.content_type(),
            self.text
        );
        self.json()
    }
    /// Asserts a SCIM error: status, media type, Error schema, `status` as a
    /// string, the `scimType` (or its absence) and a non-empty `detail`.
    #[track_caller]
    pub fn error(&self, status: u16, scim_type: Option<&str>) -> Value {
        let body = self.scim(status);
        assert_eq!(body["schemas"], json!([ERROR_URN]), "error body: {body}");
        assert_eq!(body["status"], json!(status.to_string()), "error body: {body}");
        match scim_type {
            Some(t) => assert_eq!(body["scimType"], json!(t), "error body: {body}"),
            None => assert!(body.get("scimType").is_none(), "unexpected scimType in {body}"),
        }
        let detail = body["detail"].as_str().unwrap_or_else(|| panic!("no detail in {body}"));
        assert!(!detail.trim().is_empty(), "empty detail in {body}");
        body
    }
    /// The `detail` of an error body.
    pub fn detail(&self) -> String {
        self.json()["detail"].as_str().unwrap_or_default().to_string()
    }
}

pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a free port");
    l.local_addr().expect("local addr").port()
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_roster")
}

/// An empty database for a test server: PostgreSQL when the tests have one,
/// else a SQLite file in `dir`.
fn fresh_database(dir: &tempfile::TempDir) -> (String, Option<Arc<PgDatabase>>) {
    match PgDatabase::create() {
        Some(pg) => (pg.url.clone(), Some(Arc::new(pg))),
        None => (format!("sqlite://{}", dir.path().join("roster.db").display()), None),
    }
}

impl TestServer {
    /// Starts `roster serve` on an empty database with a bootstrap token.
    pub fn start() -> TestServer {
        Self::start_with(None)
    }

    /// Like [`start`], with `--public-url`.
    pub fn start_with(public_url: Option<&str>) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let (database, pg) = fresh_database(&dir);
        Self::start_on(dir, database, pg, public_url)
    }

    /// Starts `roster serve` with more arguments, on an empty database.
    pub fn start_with_args(args: &[&str]) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let (database, pg) = fresh_database(&dir);
        let mut s = Self::start_on_deferred(dir, database, pg, None);
        s.serve_args = args.iter().map(|a| a.to_string()).collect();
        s.spawn();
        s
    }

    /// Another `roster serve` on the same database as `other` (its own port and
    /// bootstrap token), as a second instance behind a load balancer.
    pub fn start_sharing(other: &TestServer) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut s = Self::start_on_deferred(dir, other.database.clone(), other.pg.clone(), None);
        s.token = other.token.clone();
        s.spawn();
        s
    }

    fn start_on(
        dir: tempfile::TempDir,
        database: String,
        pg: Option<Arc<PgDatabase>>,
        public_url: Option<&str>,
    ) -> TestServer {
        let mut s = Self::start_on_deferred(dir, database, pg, public_url);
        s.spawn();
        s
    }

    fn start_on_deferred(
        dir: tempfile::TempDir,
        database: String,
        pg: Option<Arc<PgDatabase>>,
        public_url: Option<&str>,
    ) -> TestServer {
        let client = Client::builder().timeout(Duration::from_secs(60)).build().expect("http client");
        TestServer {
            database,
            pg,
            dir,
            token: format!("tok_{}", random_hex(40)),
            port: 0,
            public_url: public_url.map(str::to_string),
            serve_args: Vec::new(),
            child: None,
            stdout: Arc::new(Mutex::new(String::new())),
            reader: None,
            past_stdout: vec![],
            client,
            starts: 0,
        }
    }

    /// Whether this server runs on PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.pg.is_some()
    }
    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("roster.db")
    }
    pub fn db_url(&self) -> String {
        self.database.clone()
    }
    pub fn token(&self) -> &str {
        &self.token
    }
    pub fn port(&self) -> u16 {
        self.port
    }
    pub fn root(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
    /// `http://127.0.0.1:PORT/scim/v2`
    pub fn base(&self) -> String {
        format!("{}/scim/v2", self.root())
    }
    /// The base that `Location` and `meta.location` are built from.
    pub fn public_base(&self) -> String {
        match &self.public_url {
            Some(u) => format!("{}/scim/v2", u.trim_end_matches('/')),
            None => self.base(),
        }
    }
    /// What the current run printed on stdout so far.
    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }
    /// Waits until the current run's stdout contains `needle`.
    pub fn wait_stdout(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out = self.stdout();
            if out.contains(needle) || Instant::now() > deadline {
                return out;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("stderr-{}.log", self.starts))).unwrap_or_default()
    }

    fn spawn(&mut self) {
        announce_backend();
        for attempt in 0..3 {
            self.starts += 1;
            self.port = free_port();
            let listen = format!("127.0.0.1:{}", self.port);
            let stderr = std::fs::File::create(self.dir.path().join(format!("stderr-{}.log", self.starts)))
                .expect("stderr log file");
            let mut cmd = Command::new(bin());
            cmd.args(["serve", "--listen", &listen, "--database", &self.db_url()]);
            if let Some(u) = &self.public_url {
                cmd.args(["--public-url", u]);
            }
            cmd.args(&self.serve_args);
            cmd.env("ROSTER_BOOTSTRAP_TOKEN", &self.token)
                .env_remove("ROSTER_DATABASE_URL")
                .env_remove("ROSTER_PUBLIC_URL")
                .env_remove("ROSTER_LISTEN")
                .env_remove("ROSTER_READ_CACHE_MB")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::from(stderr));
            let mut child = cmd.spawn().expect("spawning roster serve");
            let mut out = child.stdout.take().expect("child stdout");
            let buf = Arc::new(Mutex::new(String::new()));
            let sink = buf.clone();
            let reader = std::thread::spawn(move || {
                let mut chunk = [0u8; 4096];
                loop {
                    match out.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => sink.lock().unwrap().push_str(&String::from_utf8_lossy(&chunk[..n])),
                    }
                }
            });
            self.stdout = buf;
            self.reader = Some(reader);
            self.child = Some(child);
            match self.wait_ready() {
                Ok(()) => return,
                Err(e) => {
                    self.kill_now();
                    if attempt == 2 {
                        panic!("roster serve did not become ready: {e}\nstderr:\n{}", self.server_log());
                    }
                }
            }
        }
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let url = format!("{}/healthz", self.root());
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!("roster serve exited early with {status}"));
                }
            }
            if let Ok(r) = self.client.get(&url).timeout(Duration::from_secs(2)).send() {
                if r.status().as_u16() == 200 {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(format!("GET /healthz did not answer 200 within {READY_TIMEOUT:?}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn finish_reader(&mut self) {
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        self.past_stdout.push(self.stdout());
    }

    fn kill_now(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
            self.finish_reader();
        }
    }

    /// Sends SIGTERM and waits for a clean exit; returns the exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("server is not running");
        let ok = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().map(|s| s.success());
        assert!(matches!(ok, Ok(true)), "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(s) = child.try_wait().expect("waiting for roster") {
                break s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("roster serve did not stop within 20 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        self.finish_reader();
        status
    }

    /// Stops (if running) and starts again on the same database.
    pub fn restart(&mut self) {
        if self.child.is_some() {
            let status = self.stop();
            assert!(status.success(), "roster serve exited with {status} after SIGTERM");
        }
        self.spawn();
    }

    // ---- CLI --------------------------------------------------------------

    /// Runs `roster ARGS --database <db>` and returns its output.
    pub fn roster_output(&self, args: &[&str]) -> Output {
        Command::new(bin())
            .args(args)
            .args(["--database", &self.db_url()])
            .env_remove("ROSTER_DATABASE_URL")
            .env_remove("ROSTER_BOOTSTRAP_TOKEN")
            .stdin(Stdio::null())
            .output()
            .expect("running roster")
    }

    /// Runs a CLI command that must succeed, and returns its stdout.
    #[track_caller]
    pub fn roster(&self, args: &[&str]) -> String {
        let out = self.roster_output(args);
        assert!(
            out.status.success(),
            "roster {args:?} failed with {}:\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// Creates an organisation and returns a key of `role` for it.
    pub fn org_with_key(&self, org: &str, policy: &str, role: &str) -> String {
        self.roster(&["org", "create", org, "--username-policy", policy]);
        self.new_key(org, role)
    }

    /// A new key of `role` in `org`.
    #[track_caller]
    pub fn new_key(&self, org: &str, role: &str) -> String {
        let out = self.roster(&["apikey", "create", "--org", org, "--role", role, "--name", "tests"]);
        let key = out.trim().to_string();
        assert!(key.starts_with("rst_") && !key.contains('\n'), "apikey create printed {out:?}");
        key
    }

    // ---- HTTP -------------------------------------------------------------

    /// A request to `base() + path` with `token` (None: no Authorization).
    pub fn send_raw(
        &self,
        method: Method,
        url: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Resp {
        let mut req = self.client.request(method, url);
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        if let Some(b) = body {
            req = req.header("Content-Type", content_type.unwrap_or(SCIM_JSON)).body(b);
        }
        let resp = req.send().unwrap_or_else(|e| panic!("request failed: {}", e.without_url()));
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().unwrap_or_default();
        Resp { status, headers, text }
    }

    /// A request relative to the SCIM base with the bootstrap token.
    pub fn req(&self, method: Method, path: &str, body: Option<&Value>) -> Resp {
        self.req_as(&self.token, method, path, body)
    }

    pub fn req_as(&self, token: &str, method: Method, path: &str, body: Option<&Value>) -> Resp {
        let url = format!("{}{}", self.base(), path);
        self.send_raw(method, &url, Some(token), None, body.map(|b| serde_json::to_vec(b).unwrap()))
    }

    pub fn get(&self, path: &str) -> Resp {
        self.req(Method::GET, path, None)
    }
    pub fn post(&self, path: &str, body: &Value) -> Resp {
        self.req(Method::POST, path, Some(body))
    }
    pub fn put(&self, path: &str, body: &Value) -> Resp {
        self.req(Method::PUT, path, Some(body))
    }
    pub fn patch(&self, path: &str, body: &Value) -> Resp {
        self.req(Method::PATCH, path, Some(body))
    }
    pub fn delete(&self, path: &str) -> Resp {
        self.req(Method::DELETE, path, None)
    }
    /// PATCH with a PatchOp body made of `ops`.
    pub fn patch_ops(&self, id: &str, ops: Value) -> Resp {
        self.patch(&format!("/Users/{id}"), &patch_body(ops))
    }

    /// Creates a user (must answer 201) and returns the body.
    #[track_caller]
    pub fn create(&self, body: &Value) -> Value {
        self.post("/Users", body).scim(201)
    }
    /// GET /Users/{id}, which must answer 200.
    #[track_caller]
    pub fn get_user(&self, id: &str) -> Value {
        self.get(&format!("/Users/{id}")).scim(200)
    }
    /// A filter query (raw, already URL-encoded) that must answer 200.
    #[track_caller]
    pub fn filter(&self, raw_filter: &str) -> Value {
        let body = self.get(&format!("/Users?filter={raw_filter}")).scim(200);
        assert_eq!(body["schemas"], json!([LIST_URN]), "{body}");
        body
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill_now();
    }
}

/// The PostgreSQL server the tests use, if `ROSTER_TEST_POSTGRES_URL` names one.
pub fn postgres_admin_url() -> Option<String> {
    std::env::var("ROSTER_TEST_POSTGRES_URL").ok().filter(|u| !u.trim().is_empty())
}

/// A fresh database on the test PostgreSQL server, dropped on drop.
pub struct PgDatabase {
    admin_url: String,
    name: String,
    pub url: String,
}

impl PgDatabase {
    /// `None` (SQLite) when `ROSTER_TEST_POSTGRES_URL` is unset.
    pub fn create() -> Option<PgDatabase> {
        let admin_url = postgres_admin_url()?;
        let name = format!("roster_test_{}", random_hex(16));
        let mut admin = postgres::Client::connect(&admin_url, postgres::NoTls).expect("connecting to PostgreSQL");
        admin.batch_execute(&format!("CREATE DATABASE {name}")).expect("creating a test database");
        let url = with_database(&admin_url, &name);
        Some(PgDatabase { admin_url, name, url })
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if let Ok(mut admin) = postgres::Client::connect(&self.admin_url, postgres::NoTls) {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}

/// `url` with its database name replaced.
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

/// Says once per test binary, past the harness's output capture, which backend the end-to-end tests use.
pub fn announce_backend() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        use std::io::Write;
        let line = match postgres_admin_url() {
            Some(_) => "end-to-end tests run on PostgreSQL (ROSTER_TEST_POSTGRES_URL is set)".to_string(),
            None => "end-to-end tests run on SQLite; skipping PostgreSQL: ROSTER_TEST_POSTGRES_URL is not set".into(),
        };
        let _ = writeln!(std::io::stderr(), "{line}");
    });
}

/// `{"schemas":[PatchOp],"Operations":ops}`
pub fn patch_body(ops: Value) -> Value {
    json!({"schemas": [PATCH_URN], "Operations": ops})
}

/// Entra's create body (wire spec §2.4), with a mailNickname-style userName.
pub fn entra_user(user_name: &str, email: &str) -> Value {
    json!({
        "schemas": [USER_URN, ENT_URN],
        "externalId": user_name,
        "userName": user_name,
        "active": true,
        "displayName": "Jane Doe",
        "title": "Engineer",
        "preferredLanguage": "en-US",
        "emails": [{"primary": true, "type": "work", "value": email}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "Jane Doe", "familyName": "Doe", "givenName": "Jane"},
        "phoneNumbers": [{"type": "work", "value": "+1 425 555 0100"}, {"type": "mobile", "value": "+1 425 555 0101"}],
        "addresses": [{"type": "work", "streetAddress": "1 Main St", "locality": "Redmond", "region": "WA",
                       "postalCode": "98052", "country": "US", "formatted": "1 Main St…", "primary": true}],
        ENT_URN: {"department": "R&D", "employeeNumber": format!("e-{user_name}")},
        "roles": []
    })
}

/// A minimal valid user for a strict organisation.
pub fn simple_user(user_name: &str) -> Value {
    json!({
        "schemas": [USER_URN],
        "userName": user_name,
        "active": true,
        "name": {"givenName": "Test", "familyName": user_name},
        "emails": [{"primary": true, "type": "work", "value": format!("{user_name}@contoso.com")}]
    })
}

/// The body with `id`, `meta` and `schemas` removed (for comparing states).
pub fn without_meta(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("meta");
    }
    v
}

/// URL-encodes a filter like a form (spaces as `+`).
pub fn enc(filter: &str) -> String {
    let mut out = String::new();
    for b in filter.bytes() {
        match b {
            b' ' => out.push('+'),
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Opens the database a test server runs on directly (SQLite or PostgreSQL, by its URL).
pub fn open_store(url: &str) -> std::sync::Arc<dyn directory::Store> {
    if store_postgres::is_postgres_url(url) {
        std::sync::Arc::new(store_postgres::PostgresStore::open(url).expect("opening the PostgreSQL test database"))
    } else {
        std::sync::Arc::new(store_sqlite::SqliteStore::open(url).expect("opening the SQLite test database"))
    }
}
