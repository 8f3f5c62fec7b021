//! Command-line definitions and the small admin commands.

use anyhow::{anyhow, Context, Result};
use clap::{Args, Parser, Subcommand};
use directory::{admin, Role, Store, UserState, UsernamePolicy};
use std::sync::Arc;

#[derive(Parser, Debug)]
#[command(name = "roster", version, about = "A self-hosted directory provisioned over SCIM 2.0 by Entra ID, Okta and others.")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct DatabaseArg {
    /// Database URL: `sqlite://roster.db` (created on first start).
    #[arg(long, env = "ROSTER_DATABASE_URL", default_value = "sqlite://roster.db", global = true)]
    pub database: String,
}

#[derive(Subcommand, Debug)]
pub enum Command {
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
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "ROSTER_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Public base URL that Tenant URLs, `Location` and `meta.location` are built from
    /// (default: http://<listen>).
    #[arg(long, env = "ROSTER_PUBLIC_URL")]
    pub public_url: Option<String>,
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

/// Opens the store a database URL names.
pub fn open_store(url: &str) -> Result<Arc<dyn Store>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Err(anyhow!("PostgreSQL is not supported by this build yet; use a sqlite:// URL"));
    }
    let store = store_sqlite::SqliteStore::open(url).with_context(|| format!("opening database {url}"))?;
    Ok(Arc::new(store))
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
    }
}
