//! Command-line definitions and the small admin commands.

use anyhow::{anyhow, Context, Result};
use clap::{Args, Parser, Subcommand};
use directory::{admin, Role, Store, UserState, UsernamePolicy};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Parser, Debug)]
#[command(name = "roster", version, about = "A self-hosted directory provisioned over SCIM 2.0 by Entra ID, Okta and others.")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct DatabaseArg {
    /// Database URL: `sqlite://roster.db` (created on first start) or
    /// `postgres://user[:password]@host[:port]/database` (migrated on start).
    #[arg(long, env = "ROSTER_DATABASE_URL", default_value = "sqlite://roster.db", global = true)]
    pub database: String,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Load users from a CSV (JumpCloud column names) or JSON Lines file.
    Import(ImportArgs),
    /// Run the server.
    Serve(ServeArgs),
    /// Manage organisations.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Manage service-account API keys.
    #[command(subcommand)]
    Apikey(ApikeyCommand),
    /// Replay Entra ID's provisioning against any SCIM endpoint (generate, test-connection, cycle).
    #[command(subcommand)]
    EntraSim(crate::entra_sim::EntraSimCommand),
    /// Show the newest provisioning log entries of an organisation.
    Log {
        #[arg(long)]
        org: String,
        /// How many entries (newest first).
        #[arg(long, default_value_t = 50)]
        limit: u64,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DatabaseArg,
    },
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The organisation to import into.
    #[arg(long)]
    pub org: String,
    /// The file: CSV with a header row of JumpCloud `systemusers` names
    /// (username, email, firstname, lastname, …) or JSON Lines of SCIM users or the same names.
    pub file: std::path::PathBuf,
    /// The format (default: from the file name, else from its first character).
    #[arg(long, value_enum)]
    pub format: Option<crate::import::Format>,
    /// Users per transaction (one provisioning log entry each).
    #[arg(long, default_value_t = directory::import::DEFAULT_BATCH_SIZE)]
    pub batch_size: usize,
    #[command(flatten)]
    pub db: DatabaseArg,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "ROSTER_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Public base URL that Tenant URLs, `Location` and `meta.location` are built from
    /// (default: http://<listen>, or https://<listen> with --tls-cert).
    #[arg(long, env = "ROSTER_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Memory for answers of repeated point reads (GET /Users/{id}, userName lookups), kept while
    /// nothing is committed (SQLite only); 0 turns the cache off.
    #[arg(long, env = "ROSTER_READ_CACHE_MB", default_value_t = server::DEFAULT_READ_CACHE_BYTES >> 20)]
    pub read_cache_mb: usize,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key). Without it, Roster serves
    /// plain HTTP for a reverse proxy to terminate TLS.
    #[arg(long, env = "ROSTER_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "ROSTER_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Seconds a client may take to send a request's headers, and a kept-alive connection may
    /// stay idle, before Roster closes the connection.
    #[arg(long, env = "ROSTER_HEADER_TIMEOUT_SECS", default_value_t = server::DEFAULT_HEADER_READ_TIMEOUT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout_secs: u64,
    /// How often, in seconds, the certificate files are checked for a renewal; 0: never.
    #[arg(long, env = "ROSTER_TLS_RELOAD_SECS", default_value_t = 60)]
    pub tls_reload_secs: u64,
    #[command(flatten)]
    pub db: DatabaseArg,
}

#[derive(Subcommand, Debug)]
pub enum OrgCommand {
    /// Create an organisation.
    Create {
        name: String,
        /// Username policy: strict, email-local-part or rfc.
        #[arg(long, default_value = "strict")]
        username_policy: String,
        /// State of users created over SCIM: activated or staged.
        #[arg(long, default_value = "activated")]
        scim_default_state: String,
        #[command(flatten)]
        db: DatabaseArg,
    },
    /// Change an organisation's settings.
    Set {
        name: String,
        #[arg(long)]
        username_policy: Option<String>,
        #[arg(long)]
        scim_default_state: Option<String>,
        #[command(flatten)]
        db: DatabaseArg,
    },
    /// List organisations.
    List {
        #[command(flatten)]
        db: DatabaseArg,
    },
}

#[derive(Subcommand, Debug)]
pub enum ApikeyCommand {
    /// Create a service-account key and print it (only the key) on stdout.
    Create {
        #[arg(long)]
        org: String,
        /// admin-with-billing, administrator, manager, help-desk or read-only.
        #[arg(long)]
        role: String,
        /// A label for the key, e.g. "Entra provisioning".
        #[arg(long)]
        name: Option<String>,
        /// Expire the key after this many days.
        #[arg(long)]
        expires_in_days: Option<u32>,
        #[command(flatten)]
        db: DatabaseArg,
    },
    /// List the keys of an organisation (never the keys themselves).
    List {
        #[arg(long)]
        org: String,
        #[command(flatten)]
        db: DatabaseArg,
    },
    /// Revoke a key by its id (from `apikey list`).
    Revoke {
        #[arg(long)]
        org: String,
        key_id: String,
        #[command(flatten)]
        db: DatabaseArg,
    },
}

/// Opens the store a database URL names: `postgres://…` / `postgresql://…`
/// (PostgreSQL) or `sqlite://…` (SQLite, the default).
pub fn open_store(url: &str) -> Result<Arc<dyn Store>> {
    if store_postgres::is_postgres_url(url) {
        let store = store_postgres::PostgresStore::open(url)
            .with_context(|| format!("opening PostgreSQL database {}", redact(url)))?;
        return Ok(Arc::new(store));
    }
    let store = store_sqlite::SqliteStore::open(url).with_context(|| format!("opening database {url}"))?;
    Ok(Arc::new(store))
}

/// A database URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

fn policy(s: &str) -> Result<UsernamePolicy> {
    UsernamePolicy::parse(s).ok_or_else(|| anyhow!("unknown username policy {s:?}: use strict, email-local-part or rfc"))
}

fn state(s: &str) -> Result<UserState> {
    match s.to_ascii_lowercase().as_str() {
        "activated" | "active" => Ok(UserState::Activated),
        "staged" => Ok(UserState::Staged),
        _ => Err(anyhow!("unknown state {s:?}: use activated or staged")),
    }
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve(args) => crate::serve::run(args),
        Command::EntraSim(cmd) => crate::entra_sim::run(cmd),
        Command::Log { org, limit, json, db } => {
            let store = open_store(&db.database)?;
            for e in admin::recent_events(store.as_ref(), &org, limit)? {
                if json {
                    println!("{}", serde_json::to_string(&e)?);
                    continue;
                }
                let fields: Vec<&str> = e
                    .changes
                    .as_array()
                    .map(|c| c.iter().filter_map(|c| c.get("field").and_then(|f| f.as_str())).collect())
                    .unwrap_or_default();
                println!(
                    "{}\t{}\t{}\t{} {}\t{}\t{}{}{}",
                    e.at,
                    e.event_type,
                    e.status,
                    e.resource_type,
                    e.resource_name.as_deref().or(e.resource_id.as_deref()).unwrap_or("-"),
                    e.actor,
                    if fields.is_empty() { String::new() } else { format!("changed: {}", fields.join(", ")) },
                    if e.ignored.is_empty() { String::new() } else { format!(" ignored: {}", e.ignored.join(", ")) },
                    e.error.as_deref().map(|d| format!(" error: {d}")).unwrap_or_default(),
                );
            }
            Ok(())
        }
        Command::Org(OrgCommand::Create { name, username_policy, scim_default_state, db }) => {
            let store = open_store(&db.database)?;
            let org = admin::create_org(store.as_ref(), &name, policy(&username_policy)?, state(&scim_default_state)?)?;
            println!("created organisation {} (username policy {})", org.name, org.username_policy.as_str());
            Ok(())
        }
        Command::Org(OrgCommand::Set { name, username_policy, scim_default_state, db }) => {
            let store = open_store(&db.database)?;
            let p = username_policy.as_deref().map(policy).transpose()?;
            let s = scim_default_state.as_deref().map(state).transpose()?;
            let org = admin::update_org(store.as_ref(), &name, p, s)?;
            println!(
                "organisation {}: username policy {}, SCIM users start {}",
                org.name,
                org.username_policy.as_str(),
                org.scim_default_state.as_str()
            );
            Ok(())
        }
        Command::Org(OrgCommand::List { db }) => {
            let store = open_store(&db.database)?;
            for org in admin::list_orgs(store.as_ref())? {
                println!(
                    "{}\t{}\tpolicy={}\tscim_default_state={}\tcreated={}",
                    org.id,
                    org.name,
                    org.username_policy.as_str(),
                    org.scim_default_state.as_str(),
                    org.created
                );
            }
            Ok(())
        }
        Command::Apikey(ApikeyCommand::Create { org, role, name, expires_in_days, db }) => {
            let role = Role::parse(&role).ok_or_else(|| {
                anyhow!("unknown role {role:?}: use admin-with-billing, administrator, manager, help-desk or read-only")
            })?;
            let store = open_store(&db.database)?;
            let expires_at = expires_in_days.map(|d| {
                directory::format_rfc3339(time::OffsetDateTime::now_utc() + time::Duration::days(i64::from(d)))
            });
            let issued = admin::create_api_key(store.as_ref(), &org, role, name.as_deref(), expires_at, None)?;
            println!("{}", issued.token);
            Ok(())
        }
        Command::Apikey(ApikeyCommand::List { org, db }) => {
            let store = open_store(&db.database)?;
            for k in admin::list_api_keys(store.as_ref(), &org)? {
                let status = if k.revoked_at.is_some() { "revoked" } else { "active" };
                println!(
                    "{}\t{}\t{}\t{}\t{}\tcreated={}\texpires={}",
                    k.id,
                    k.token_hint,
                    k.role.as_str(),
                    k.name,
                    status,
                    k.created,
                    k.expires_at.as_deref().unwrap_or("never")
                );
            }
            Ok(())
        }
        Command::Apikey(ApikeyCommand::Revoke { org, key_id, db }) => {
            let store = open_store(&db.database)?;
            admin::revoke_api_key(store.as_ref(), &org, &key_id)?;
            println!("revoked {key_id}");
            Ok(())
        }
        Command::Import(args) => {
            let store = open_store(&args.db.database)?;
            let summary = crate::import::run(store.as_ref(), &args.org, &args.file, args.format, args.batch_size)?;
            crate::import::print(&summary);
            Ok(())
        }
    }
}
