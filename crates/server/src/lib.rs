//! Roster's HTTP layer: a thin axum shell around the directory core.
//!
//! * `/scim/v2/…`: SCIM 2.0 (discovery, Users), authenticated by API key.
//! * `/healthz`: liveness.
//!
//! Every SCIM answer is `application/scim+json`; every failure is a SCIM
//! error body. Status codes are chosen here and nowhere else.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::todo)]

mod auth;
mod body;
mod error;
mod logging;
mod paths;
mod read_cache;
mod scim_routes;
pub mod tls;
mod write_queue;

use axum::Router;
use directory::{Directory, Store};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use error::ApiError;

/// The largest request body accepted (Entra sends far less).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Memory for point-read answers unless configured (`roster serve --read-cache-mb`).
pub const DEFAULT_READ_CACHE_BYTES: usize = 64 << 20;

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Base for Tenant URLs, `Location` and `meta.location`, without a trailing slash.
    pub public_url: String,
    pub list_limits: scim::list::ListLimits,
    pub max_body_bytes: usize,
    /// Bytes of point-read answers kept while nothing is committed; 0: none.
    pub read_cache_bytes: usize,
    /// How long a client may take to send a request's headers, how long a
    /// kept-alive connection may stay idle, and how long a body may pause.
    pub header_read_timeout: Duration,
}

impl ServerConfig {
    pub fn new(public_url: &str) -> Self {
        ServerConfig {
            public_url: public_url.trim_end_matches('/').to_string(),
            list_limits: scim::list::ListLimits::default(),
            max_body_bytes: MAX_BODY_BYTES,
            read_cache_bytes: DEFAULT_READ_CACHE_BYTES,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
        }
    }
    /// The SCIM base URL: the Tenant URL an admin pastes into Entra.
    pub fn scim_base(&self) -> String {
        format!("{}/scim/v2", self.public_url)
    }
}

/// Shared state of the handlers. One `Arc`: axum clones the state for
/// every request, and one reference count is cheaper than five.
#[derive(Clone)]
pub struct AppState(Arc<SharedState>);

/// What [`AppState`] shares.
pub struct SharedState {
    pub directory: Directory,
    pub config: Arc<ServerConfig>,
    /// Where SCIM writes run when the store batches them (SQLite).
    writes: Option<write_queue::WriteQueue>,
    /// Point reads' answers, kept while the store reports no commit.
    reads: Arc<read_cache::ReadCache>,
}

impl std::ops::Deref for AppState {
    type Target = SharedState;
    fn deref(&self) -> &SharedState {
        &self.0
    }
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, config: ServerConfig) -> Self {
        let directory = Directory::new(store);
        let writes = if directory.store.batches_writes() {
            write_queue::WriteQueue::start(directory.clone())
                .inspect_err(|e| tracing::warn!(error = %e, "no write thread; writes run on blocking threads"))
                .ok()
        } else {
            None
        };
        let reads = Arc::new(read_cache::ReadCache::new(config.read_cache_bytes));
        AppState(Arc::new(SharedState { directory, config: Arc::new(config), writes, reads }))
    }

    /// Runs directory work that writes: in the store's next write batch when
    /// it batches writes, else on a blocking thread. Returns once the writes
    /// are committed.
    pub(crate) async fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Directory) -> Result<T, directory::DirectoryError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let Some(queue) = &self.writes else { return self.blocking(work).await };
        match queue.run(work).await {
            Some(result) => result.map_err(ApiError::from),
            None => {
                tracing::error!("write task failed");
                Err(ApiError::internal())
            }
        }
    }

    /// Runs a point read (an indexed lookup by key, id or exact filter):
    /// inline when the store says such reads are local and quick (SQLite),
    /// else on a blocking thread. Saves a thread hand-off on the hottest path.
    pub(crate) async fn point_read<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Directory) -> Result<T, directory::DirectoryError> + Send + 'static,
    ) -> Result<T, ApiError> {
        if self.directory.store.point_reads_are_local() {
            work(&self.directory).map_err(ApiError::from)
        } else {
            self.blocking(work).await
        }
    }

    /// Runs blocking directory work off the async workers.
    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Directory) -> Result<T, directory::DirectoryError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let dir = self.directory.clone();
        match tokio::task::spawn_blocking(move || work(&dir)).await {
            Ok(result) => result.map_err(ApiError::from),
            Err(join) => {
                tracing::error!(error = %join, "directory task failed");
                Err(ApiError::internal())
            }
        }
    }
}

/// The whole application router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        // Routes under their full path rather than `nest`ed: a nested router
        // rebuilds every request's URI without its prefix (4.6 % of a cached GET).
        .merge(scim_routes::routes("/scim/v2"))
        .fallback(error::not_found)
        .layer(axum::middleware::from_fn(logging::log_request))
        .with_state(state)
}

/// How long a client may take to send a request's headers, how long a
/// kept-alive connection may wait idle for its next request, and how long a
/// request body may pause, unless configured. Without it, slow or idle
/// clients on an open port would hold connections without limit.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves until `shutdown` resolves, then finishes in-flight requests.
///
/// HTTP/1.1 through hyper directly rather than `axum::serve`, which sets no
/// timer and so no header-read timeout ([`ServerConfig::header_read_timeout`]).
pub async fn serve<L>(mut listener: L, state: AppState, shutdown: impl Future<Output = ()> + Send + 'static)
where
    L: axum::serve::Listener,
{
    let header_read_timeout = state.config.header_read_timeout;
    // Rewriting must happen before routing, so the layer wraps the router.
    let app = tower::Layer::layer(&tower::util::MapRequestLayer::new(paths::rewrite), router(state));
    let app = tower::ServiceExt::map_request(
        app,
        |req: http::Request<tower_http::timeout::TimeoutBody<hyper::body::Incoming>>| req.map(axum::body::Body::new),
    );
    // A body may not pause longer than a head may take (`body::ScimJson` answers 408).
    let app = tower_http::timeout::RequestBodyTimeout::new(app, header_read_timeout);
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1.timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(header_read_timeout);
    let connections = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (io, _peer) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let connection = connections.watch(http1.serve_connection(hyper_util::rt::TokioIo::new(io), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::trace!(error = %e, "connection ended with an error");
            }
        });
    }
    // No new connections; each open one finishes its request, then closes.
    drop(listener);
    connections.shutdown().await;
}
