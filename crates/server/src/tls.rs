//! HTTPS without a reverse proxy: TLS (rustls, TLS 1.2 and 1.3) from PEM
//! certificate and key files, which are read again when they change, so a
//! renewed certificate (certbot, acme.sh, an internal CA) is served without
//! a restart.
//!
//! Handshakes run in their own tasks with a time limit, so a client that
//! stalls its handshake delays nobody else's connection.

use rustls::crypto::ring as provider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// How long a client may take to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections handshaken and not yet taken by the server.
const ACCEPTED_BACKLOG: usize = 256;

/// Why the certificate files could not be used. Each message names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading the TLS certificate {path}: {reason}")]
    Certificate { path: PathBuf, reason: String },
    #[error("reading the TLS private key {path}: {reason}")]
    Key { path: PathBuf, reason: String },
    #[error("serving TLS on the listening socket: {0}")]
    Socket(std::io::Error),
}

/// Where the certificate chain and its private key live (PEM).
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub certificate: PathBuf,
    pub private_key: PathBuf,
}

/// A certificate read from its files, ready to serve ([`TlsListener::new`]).
pub struct TlsCertificate {
    files: TlsFiles,
    key: Arc<CertifiedKey>,
}

impl TlsFiles {
    /// Reads and checks both files, once at start: a bad file stops the
    /// start before anything else happens.
    pub fn open(self) -> Result<TlsCertificate, TlsError> {
        let key = self.load()?;
        Ok(TlsCertificate { files: self, key })
    }

    /// Reads and checks both files: the chain is not empty and the key is
    /// one that rustls can sign with and that matches the certificate.
    fn load(&self) -> Result<Arc<CertifiedKey>, TlsError> {
        let cert_error = |reason: String| TlsError::Certificate { path: self.certificate.clone(), reason };
        let key_error = |reason: String| TlsError::Key { path: self.private_key.clone(), reason };
        let chain = CertificateDer::pem_file_iter(&self.certificate)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| cert_error(e.to_string()))?;
        if chain.is_empty() {
            return Err(cert_error("no PEM \"CERTIFICATE\" block in the file".into()));
        }
        let key = PrivateKeyDer::from_pem_file(&self.private_key).map_err(|e| key_error(e.to_string()))?;
        let signing_key = provider::sign::any_supported_type(&key).map_err(|e| key_error(e.to_string()))?;
        let certified = CertifiedKey::new(chain, signing_key);
        certified.keys_match().map_err(|e| key_error(format!("it does not belong to the certificate ({e})")))?;
        Ok(Arc::new(certified))
    }

    /// The files' modification times, to notice a renewal.
    fn stamps(&self) -> (Option<SystemTime>, Option<SystemTime>) {
        let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        (modified(&self.certificate), modified(&self.private_key))
    }
}

/// The certificate every handshake is answered with; replaced on renewal.
#[derive(Debug)]
struct CurrentCertificate(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for CurrentCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.read().map_or_else(|poisoned| poisoned.into_inner().clone(), |k| k.clone()))
    }
}

impl CurrentCertificate {
    fn replace(&self, key: Arc<CertifiedKey>) {
        match self.0.write() {
            Ok(mut current) => *current = key,
            Err(poisoned) => *poisoned.into_inner() = key,
        }
    }
}

/// A listener that hands the server TLS connections (an
/// [`axum::serve::Listener`]).
pub struct TlsListener {
    accepted: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local_addr: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl TlsListener {
    /// Serves TLS on `tcp` with `certificate`, checking its files for
    /// changes every `reload_every` (`None`: never).
    pub fn new(
        tcp: TcpListener,
        certificate: TlsCertificate,
        reload_every: Option<Duration>,
    ) -> Result<TlsListener, TlsError> {
        let TlsCertificate { files, key } = certificate;
        let current = Arc::new(CurrentCertificate(RwLock::new(key)));
        let mut config = ServerConfig::builder_with_provider(Arc::new(provider::default_provider()))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| TlsError::Socket(std::io::Error::other(e)))?
            .with_no_client_auth()
            .with_cert_resolver(current.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let local_addr = tcp.local_addr().map_err(TlsError::Socket)?;
        let (sender, accepted) = mpsc::channel(ACCEPTED_BACKLOG);
        let mut tasks = vec![tokio::spawn(accept_loop(tcp, TlsAcceptor::from(Arc::new(config)), sender))];
        if let Some(every) = reload_every {
            tasks.push(tokio::spawn(reload_loop(files, current, every)));
        }
        Ok(TlsListener { accepted, local_addr, tasks })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.accepted.recv().await {
            Some(connection) => connection,
            // The accept loop only ends when the listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}

async fn accept_loop(
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    accepted: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    loop {
        let (stream, peer) = match tcp.accept().await {
            Ok(connection) => connection,
            Err(e) => {
                // Out of file descriptors and the like: wait rather than spin.
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (acceptor, accepted) = (acceptor.clone(), accepted.clone());
        tokio::spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    let _ = accepted.send((tls, peer)).await;
                }
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
}

/// Re-reads the files when either one's modification time changes. A file
/// caught half-written, or a bad one, keeps the certificate being served
/// and is tried again at the next change.
async fn reload_loop(files: TlsFiles, current: Arc<CurrentCertificate>, every: Duration) {
    let mut seen = files.stamps();
    loop {
        tokio::time::sleep(every).await;
        let stamps = files.stamps();
        if stamps == seen {
            continue;
        }
        match files.load() {
            Ok(key) => {
                current.replace(key);
                seen = stamps;
                tracing::info!(certificate = %files.certificate.display(), "TLS certificate reloaded");
            }
            Err(e) => {
                // Not marked seen: a writer still busy with the files is
                // retried next time, the old certificate meanwhile.
                tracing::warn!(error = %e, "keeping the current TLS certificate");
            }
        }
    }
}
