//! `roster entra-sim`: replays Microsoft Entra ID's provisioning service
//! against any SCIM 2.0 base URL (issue 6). This module owns the CLI surface
//! and wiring; `tenant` the snapshot files, `generate` synthetic tenants,
//! `mapping` attributes and request bodies, `client` HTTP and retries,
//! `cycle` the provisioning logic and `report` the outcome.

pub mod client;
pub mod cycle;
pub mod generate;
pub mod mapping;
pub mod report;
pub mod tenant;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Subcommand, Debug)]
pub enum EntraSimCommand {
    /// Write a synthetic tenant (users.jsonl + groups.jsonl) into a directory.
    Generate(GenerateArgs),
    /// Do what Entra's "Test Connection" does against a Tenant URL.
    TestConnection(ConnectionArgs),
    /// Run a provisioning cycle (initial, or incremental with --previous).
    Cycle(CycleArgs),
}

#[derive(Args, Debug)]
pub struct GenerateArgs {
    #[arg(long, default_value_t = 200)]
    pub users: usize,
    #[arg(long, default_value_t = 20)]
    pub groups: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output directory.
    #[arg(long, default_value = "tenant")]
    pub out: PathBuf,
    /// Domain of the userPrincipalNames.
    #[arg(long, default_value = "contoso.example")]
    pub domain: String,
    /// Write users as users.csv instead of users.jsonl.
    #[arg(long)]
    pub csv: bool,
}

#[derive(Args, Debug, Clone)]
pub struct EndpointArgs {
    /// The Tenant URL (SCIM base), e.g. http://127.0.0.1:8080/scim/v2 (a `?aadOptscim062020` suffix is kept on every request).
    pub url: String,
    /// The Secret Token (sent as `Authorization: Bearer`).
    #[arg(long, env = "ENTRA_SIM_TOKEN")]
    pub token: String,
    /// Matching attribute for users: userName or externalId.
    #[arg(long, default_value = "userName")]
    pub matching: String,
    /// Attribute-mapping overrides (JSON or TOML; see README).
    #[arg(long)]
    pub mapping: Option<PathBuf>,
    /// Do not provision groups (Entra's "Provision Microsoft Entra ID Groups" = No).
    #[arg(long)]
    pub no_groups: bool,
    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
    /// Also trust this PEM certificate: a private CA's, or a self-signed endpoint's. Entra itself
    /// trusts only public CAs.
    #[arg(long)]
    pub ca_cert: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ConnectionArgs {
    #[command(flatten)]
    pub endpoint: EndpointArgs,
}

#[derive(Args, Debug)]
pub struct CycleArgs {
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    /// Tenant snapshot: a directory (users.jsonl|users.csv + groups.jsonl), a .jsonl or a users .csv.
    #[arg(long)]
    pub tenant: PathBuf,
    /// The previous snapshot: makes this an incremental cycle that sends only the changes.
    #[arg(long)]
    pub previous: Option<PathBuf>,
    /// PATCH dialect: legacy (Entra's default) or aadOptscim062020.
    #[arg(long, default_value = "legacy")]
    pub patch_style: String,
    /// Requests in flight.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Write every request as JSON Lines.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// After the cycle, GET every object and report attributes that differ from what was sent.
    #[arg(long)]
    pub verify: bool,
    /// Retries for 429 and 5xx answers.
    #[arg(long, default_value_t = 4)]
    pub max_retries: u32,
    /// Members per group PATCH.
    #[arg(long, default_value_t = 100)]
    pub member_batch: usize,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Failures and differences listed in the summary.
    #[arg(long, default_value_t = 20)]
    pub max_listed: usize,
}

fn client(e: &EndpointArgs, max_retries: u32) -> Result<client::ScimClient> {
    let policy = client::RetryPolicy { max_retries, ..client::RetryPolicy::default() };
    let mut http = client::http_builder(Duration::from_secs(e.timeout.max(1)));
    if let Some(path) = &e.ca_cert {
        let pem = std::fs::read(path).with_context(|| format!("reading --ca-cert {}", path.display()))?;
        for root in reqwest::Certificate::from_pem_bundle(&pem)
            .with_context(|| format!("--ca-cert {}: not a PEM certificate", path.display()))?
        {
            http = http.add_root_certificate(root);
        }
    }
    Ok(client::ScimClient::with_http(&e.url, &e.token, policy, http.build()?))
}

pub fn run(cmd: EntraSimCommand) -> Result<()> {
    match cmd {
        EntraSimCommand::Generate(a) => {
            let t = generate::generate(a.users, a.groups, a.seed, &a.domain);
            t.write_dir(&a.out, a.csv)?;
            let disabled = t.users.iter().filter(|u| !u.active()).count();
            println!(
                "wrote {} users ({} disabled or soft-deleted) and {} groups to {}",
                t.users.len(),
                disabled,
                t.groups.len(),
                a.out.display()
            );
            Ok(())
        }
        EntraSimCommand::TestConnection(a) => {
            let m = mapping::Mapping::load(a.endpoint.mapping.as_deref(), &a.endpoint.matching)?;
            let c = client(&a.endpoint, 0)?;
            match cycle::test_connection(&c, &m, !a.endpoint.no_groups) {
                Ok(lines) => {
                    for l in lines {
                        println!("{l}");
                    }
                    println!(
                        "Test Connection succeeded: the supplied credentials are authorized to enable provisioning"
                    );
                    Ok(())
                }
                Err(e) => Err(anyhow!("Test Connection failed: {e}")),
            }
        }
        EntraSimCommand::Cycle(a) => run_cycle(a),
    }
}

fn run_cycle(a: CycleArgs) -> Result<()> {
    let style = mapping::PatchStyle::parse(&a.patch_style)
        .ok_or_else(|| anyhow!("unknown --patch-style {:?}: use legacy or aadOptscim062020", a.patch_style))?;
    if a.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    let m = mapping::Mapping::load(a.endpoint.mapping.as_deref(), &a.endpoint.matching)?;
    let tenant = tenant::Tenant::load(&a.tenant).with_context(|| format!("loading tenant {}", a.tenant.display()))?;
    let previous = match &a.previous {
        Some(p) => Some(tenant::Tenant::load(p).with_context(|| format!("loading previous tenant {}", p.display()))?),
        None => None,
    };
    let report_file = match &a.report {
        Some(p) => Some(std::fs::File::create(p).with_context(|| format!("creating report {}", p.display()))?),
        None => None,
    };
    let c = client(&a.endpoint, a.max_retries)?;
    let rec = report::Recorder::new(report_file);
    let opts = cycle::CycleOptions {
        style,
        concurrency: a.concurrency,
        member_batch: a.member_batch.max(1),
        groups: !a.endpoint.no_groups,
        progress: !a.quiet && std::io::stderr().is_terminal(),
    };
    let kind = if previous.is_some() { "incremental" } else { "initial" };
    println!(
        "entra-sim: {kind} cycle of {} users and {} groups against {} ({} PATCH, concurrency {})",
        tenant.users.len(),
        tenant.groups.len(),
        a.endpoint.url,
        if style == mapping::PatchStyle::Legacy { "legacy" } else { "aadOptscim062020" },
        a.concurrency
    );
    let cyc = cycle::Cycle::new(&c, &m, opts, &rec, &tenant, previous.as_ref());
    let start = Instant::now();
    match &previous {
        Some(p) => cyc.run_incremental(p),
        None => cyc.run_initial(),
    }
    let wall = start.elapsed();
    // The summary's figures are the cycle's; verify's GETs come after.
    let mut summary = rec.summary(&c.counters, wall);
    if a.verify {
        let before = c.counters.total();
        cyc.verify();
        let verified = rec.summary(&c.counters, wall);
        summary.differences = verified.differences;
        summary.failures = verified.failures;
        summary.counts = verified.counts;
        println!("verify: {} GET requests", c.counters.total() - before);
    }
    cyc.finish_progress();
    rec.flush().map_err(|e| anyhow!("writing the report: {e}"))?;
    print!("{}", summary.render(a.max_listed));
    let failed = summary.failed_objects();
    if failed > 0 || !summary.differences.is_empty() {
        bail!(
            "{failed} object(s) failed{}",
            if summary.differences.is_empty() {
                String::new()
            } else {
                format!(", {} attribute(s) differ after verify", summary.differences.len())
            }
        );
    }
    println!("result: success");
    Ok(())
}
