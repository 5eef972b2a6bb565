//! `shopguard policy`: check and test policy files offline; push, approve, list and roll back
//! versions on a running server.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;
use hyper::Method;
use shopguard_core::ListRegistry;

use crate::client::{ApiClient, ServerArgs};
use crate::common::{percent_encode, read_policy, utc_time};

#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Compile a policy file and report its size or its first error with line and column.
    Check {
        /// The TOML policy.
        file: PathBuf,
    },
    /// Run a policy file's fixture tests; exits non-zero if one fails.
    Test {
        /// The TOML policy.
        file: PathBuf,
    },
    /// Store a policy file as a new version on a running server and make it live.
    Push {
        /// The TOML policy.
        file: PathBuf,
        /// Why it changes.
        #[arg(long, default_value = "")]
        comment: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List the versions stored on a running server.
    Versions {
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Approve a stored version that waits for approval (it adds or changes punitive rules)
    /// and make it live; nobody approves their own.
    Approve {
        /// The version number.
        version: u64,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Make an earlier version live again on a running server.
    Rollback {
        /// The version number.
        version: u64,
        #[command(flatten)]
        server: ServerArgs,
    },
}

/// Runs a policy command.
pub async fn run(command: PolicyCommand) -> Result<()> {
    match command {
        PolicyCommand::Check { file } => {
            let source = read_policy(&file)?;
            let policy = shopguard_core::CompiledPolicy::compile(
                &source,
                0,
                &ListRegistry::new(),
                &Default::default(),
            )
            .map_err(|error| anyhow::anyhow!("{}: {error}", file.display()))?;
            println!(
                "{}: {} rules, {} features, {} lists, {} fixture tests",
                file.display(),
                policy.rules.len(),
                policy.features.len(),
                policy.document.lists.len(),
                policy.document.tests.len()
            );
        }
        PolicyCommand::Test { file } => {
            let source = read_policy(&file)?;
            let reports = shopguard_core::engine::run_fixtures(&source)
                .map_err(|error| anyhow::anyhow!("{}: {error}", file.display()))?;
            let mut failed = 0;
            for report in &reports {
                if report.passed() {
                    println!("ok    {} ({} events)", report.name, report.events);
                } else {
                    failed += 1;
                    println!("FAIL  {}", report.name);
                    for failure in &report.failures {
                        println!("        {failure}");
                    }
                }
            }
            println!("{} passed, {failed} failed", reports.len() - failed);
            if failed > 0 {
                std::process::exit(1);
            }
        }
        PolicyCommand::Push {
            file,
            comment,
            server,
        } => {
            let client = ApiClient::new(&server)?;
            let path = format!("/v1/policy?comment={}", percent_encode(&comment));
            let body = client
                .call(
                    Method::PUT,
                    &path,
                    "application/toml",
                    read_policy(&file)?.into_bytes(),
                )
                .await?;
            let answer: shopguard_api_types::PolicyCheckResponse = serde_json::from_slice(&body)?;
            let version = answer.version.unwrap_or(0);
            if answer.pending_approval {
                println!(
                    "version {version} stored; it adds or changes punitive rules ({}) and waits for approval by someone else:\n  shopguard policy approve {version}",
                    answer.punitive_rules.join(", ")
                );
            } else {
                println!(
                    "version {version} is live ({} rules, {} features)",
                    answer.rules, answer.features
                );
            }
        }
        PolicyCommand::Approve { version, server } => {
            let client = ApiClient::new(&server)?;
            client
                .call(
                    Method::POST,
                    &format!("/v1/policy/versions/{version}/approve"),
                    "application/json",
                    Vec::new(),
                )
                .await?;
            println!("version {version} approved and live");
        }
        PolicyCommand::Versions { server } => {
            let client = ApiClient::new(&server)?;
            let body = client
                .call(
                    Method::GET,
                    "/v1/policy/versions",
                    "application/json",
                    Vec::new(),
                )
                .await?;
            let list: shopguard_api_types::PolicyVersionList = serde_json::from_slice(&body)?;
            println!(
                "  {:>7}  {:<20} {:<12}  {:<24} comment",
                "version", "stored (UTC)", "sha256", "author"
            );
            for version in &list.versions {
                let marker = if version.active {
                    "*"
                } else if version.pending_approval {
                    "?"
                } else {
                    " "
                };
                println!(
                    "{marker} {:>7}  {:<20} {:<12}  {:<24} {}",
                    version.version,
                    utc_time(version.created_at_ms),
                    version.sha256.get(..12).unwrap_or(&version.sha256),
                    version.author,
                    version.comment
                );
            }
            println!("* live   ? waits for approval (shopguard policy approve VERSION)");
        }
        PolicyCommand::Rollback { version, server } => {
            let client = ApiClient::new(&server)?;
            let body = serde_json::to_vec(&shopguard_api_types::RollbackRequest { version })?;
            client
                .call(
                    Method::POST,
                    "/v1/policy/rollback",
                    "application/json",
                    body,
                )
                .await?;
            println!("version {version} is live");
        }
    }
    Ok(())
}
