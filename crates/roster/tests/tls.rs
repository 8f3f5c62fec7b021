//! `roster serve --tls-cert/--tls-key`: HTTPS from certificate files, the
//! Tenant URL in https, a renewed certificate served without a restart, and
//! bad files refused at start with the file named.

mod common;
use common::*;
use reqwest::blocking::Client;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Pem {
    cert: String,
    key: String,
}

fn self_signed() -> Pem {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("certificate");
    Pem { cert: ck.cert.pem(), key: ck.signing_key.serialize_pem() }
}

/// A client that trusts only `pem`'s certificate and finds `localhost` on `port`.
fn client_trusting(pem: &Pem, port: u16) -> Client {
    let root = reqwest::Certificate::from_pem(pem.cert.as_bytes()).expect("root");
    Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(root)
        .resolve("localhost", SocketAddr::from(([127, 0, 0, 1], port)))
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client")
}

struct TlsServer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    token: String,
}

impl TlsServer {
    fn files(dir: &Path) -> (PathBuf, PathBuf) {
        (dir.join("cert.pem"), dir.join("key.pem"))
    }

    fn start(pem: &Pem) -> TlsServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let (cert, key) = Self::files(dir.path());
        std::fs::write(&cert, &pem.cert).unwrap();
        std::fs::write(&key, &pem.key).unwrap();
        let port = free_port();
        let token = format!("tls-test-{port}-token");
        let log = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
        let child = Command::new(bin())
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--database", &format!("sqlite://{}", dir.path().join("r.db").display())])
            .arg("--tls-cert")
            .arg(&cert)
            .arg("--tls-key")
            .arg(&key)
            .args(["--tls-reload-secs", "1"])
            .env("ROSTER_BOOTSTRAP_TOKEN", &token)
            .env_remove("ROSTER_PUBLIC_URL")
            .env_remove("ROSTER_DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawning roster serve");
        let server = TlsServer { child, port, dir, token };
        let client = client_trusting(pem, port);
        let ok = until(Duration::from_secs(20), || {
            client.get(server.url("/healthz")).send().is_ok_and(|r| r.status().as_u16() == 200)
        });
        assert!(ok, "no HTTPS answer; stderr:\n{}", server.log());
        server
    }

    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn serves_scim_over_https_and_reloads_a_renewed_certificate() {
    let first = self_signed();
    let server = TlsServer::start(&first);
    let client = client_trusting(&first, server.port);

    // SCIM over HTTPS; the default public URL is https.
    let body = serde_json::json!({"schemas": [USER_URN], "userName": "tlsuser",
        "emails": [{"type": "work", "primary": true, "value": "tlsuser@contoso.com"}]});
    let r = client.post(server.url("/scim/v2/Users")).bearer_auth(&server.token).json(&body).send().unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with(&format!("https://127.0.0.1:{}/scim/v2/Users/", server.port)), "{location}");

    // entra-sim trusts a self-signed endpoint only when told to.
    let (cert, _) = TlsServer::files(server.dir.path());
    let sim = |extra: &[&std::ffi::OsStr]| {
        Command::new(bin())
            .args(["entra-sim", "test-connection", &server.url("/scim/v2"), "--token", &server.token])
            .args(extra)
            .output()
            .expect("running entra-sim")
    };
    let trusted = sim(&["--ca-cert".as_ref(), cert.as_os_str()]);
    assert!(trusted.status.success(), "{}", String::from_utf8_lossy(&trusted.stdout));
    assert!(!sim(&[]).status.success());

    // Plain HTTP on the TLS port gets no HTTP answer.
    let plain = Client::builder().timeout(Duration::from_secs(3)).build().unwrap();
    assert!(plain.get(format!("http://127.0.0.1:{}/healthz", server.port)).send().is_err());

    // A client that trusts another certificate is refused.
    let second = self_signed();
    assert!(client_trusting(&second, server.port).get(server.url("/healthz")).send().is_err());

    // A half-written renewal keeps the current certificate.
    let key = TlsServer::files(server.dir.path()).1;
    std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\ntruncated").unwrap();
    assert!(until(Duration::from_secs(10), || server.log().contains("keeping the current TLS certificate")));
    assert_eq!(client.get(server.url("/healthz")).send().unwrap().status().as_u16(), 200);

    // The renewal completes: new connections get the new certificate.
    std::fs::write(&key, &second.key).unwrap();
    std::fs::write(&cert, &second.cert).unwrap();
    let renewed = until(Duration::from_secs(10), || {
        client_trusting(&second, server.port).get(server.url("/healthz")).send().is_ok()
    });
    assert!(renewed, "the renewed certificate was not served; stderr:\n{}", server.log());
    // The log is written in batches.
    assert!(until(Duration::from_secs(5), || server.log().contains("TLS certificate reloaded")));
    assert!(client_trusting(&first, server.port).get(server.url("/healthz")).send().is_err());
}

#[test]
fn bad_certificate_files_stop_the_start_and_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = TlsServer::files(dir.path());
    let pem = self_signed();
    let other = self_signed();
    let db = format!("sqlite://{}", dir.path().join("r.db").display());
    let serve = |cert: &Path, key: &Path| {
        Command::new(bin())
            .args(["serve", "--listen", &format!("127.0.0.1:{}", free_port()), "--database", &db])
            .arg("--tls-cert")
            .arg(cert)
            .arg("--tls-key")
            .arg(key)
            .env_remove("ROSTER_BOOTSTRAP_TOKEN")
            .stdin(Stdio::null())
            .output()
            .expect("running roster serve")
    };
    let cases: [(&str, &str, &str, &Path); 3] = [
        ("not a certificate", &pem.key, "TLS certificate", &cert),
        (&pem.cert, "not a key", "TLS private key", &key),
        (&pem.cert, &other.key, "does not belong to the certificate", &key),
    ];
    for (cert_text, key_text, says, names) in cases {
        std::fs::write(&cert, cert_text).unwrap();
        std::fs::write(&key, key_text).unwrap();
        let out = serve(&cert, &key);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "started with {says}");
        assert!(stderr.contains(says) && stderr.contains(&names.display().to_string()), "{stderr}");
    }
    // --tls-cert without --tls-key is a usage error.
    let out = Command::new(bin()).args(["serve", "--tls-cert"]).arg(&cert).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
}
