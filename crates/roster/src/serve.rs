//! `roster serve`: open the store, bootstrap an empty database, serve until
//! SIGTERM or Ctrl-C.

use crate::cli::{open_store, ServeArgs};
use crate::log_output::BatchedStderr;
use anyhow::{Context, Result};
use directory::admin;
use server::tls::{TlsFiles, TlsListener};
use server::{AppState, ServerConfig};
use std::time::Duration;

pub fn run(args: ServeArgs) -> Result<()> {
    let log = init_tracing();
    let result = serve(args);
    log.flush_buffer();
    result
}

fn serve(args: ServeArgs) -> Result<()> {
    // Before anything else happens: a bad certificate file stops the start here.
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(certificate), Some(private_key)) => {
            Some(TlsFiles { certificate: certificate.clone(), private_key: private_key.clone() }.open()?)
        }
        _ => None,
    };
    let store = open_store(&args.db.database)?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let public_url = args.public_url.clone().unwrap_or_else(|| format!("{scheme}://{}", args.listen));
    let mut config = ServerConfig::new(&public_url);
    config.read_cache_bytes = args.read_cache_mb.saturating_mul(1 << 20);
    config.header_read_timeout = Duration::from_secs(args.header_timeout_secs);

    // On an empty database only: the first organisation and its Secret Token.
    let bootstrap_token = std::env::var("ROSTER_BOOTSTRAP_TOKEN").ok().filter(|t| !t.is_empty());
    if let Some((org, key)) = admin::bootstrap(store.as_ref(), bootstrap_token)? {
        println!("Roster created the organisation \"{}\" and a provisioning key.", org.name);
        println!();
        println!("  Tenant URL:    {}", config.scim_base());
        println!("  Secret Token:  {}", key.token);
        println!();
        println!("Paste both into Entra ID (Enterprise application → Provisioning → Admin Credentials)");
        println!("and click Test Connection. The token is shown only this once.");
    }

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(async move {
        let listener =
            tokio::net::TcpListener::bind(&args.listen).await.with_context(|| format!("listening on {}", args.listen))?;
        tracing::info!(listen = %args.listen, tenant_url = %config.scim_base(), tls = tls.is_some(), "roster is serving");
        let state = AppState::new(store, config);
        match tls {
            Some(certificate) => {
                let reload = (args.tls_reload_secs > 0).then(|| Duration::from_secs(args.tls_reload_secs));
                server::serve(TlsListener::new(listener, certificate, reload)?, state, shutdown_signal()).await;
            }
            None => server::serve(listener, state, shutdown_signal()).await,
        }
        tracing::info!("roster stopped");
        Ok(())
    })
}

fn init_tracing() -> BatchedStderr {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("ROSTER_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let out = BatchedStderr::start();
    // Colour escapes only for a person at a terminal, not into log files.
    let at_terminal = std::io::stderr().is_terminal();
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(at_terminal).with_writer(out.clone());
    if std::env::var("ROSTER_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().init();
    } else if at_terminal {
        builder.init();
    } else {
        // The same line, written faster (see `log_format`).
        builder.event_format(crate::log_format::PlainLine).init();
    }
    out
}

/// Resolves on SIGTERM or Ctrl-C; in-flight requests then finish.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
