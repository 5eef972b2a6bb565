//! `shopguard playbook`: show, export, import and activate response playbook versions on a
//! running server (`/v1/playbooks`).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;
use hyper::Method;
use serde_json::json;
use shopguard_api_types::{
    ActivePlaybookView, Playbook, PlaybookTasks, PlaybookVersionView, ResponseLevel,
};

use crate::client::{ApiClient, ServerArgs};

#[derive(Subcommand)]
pub enum PlaybookCommand {
    /// Show the active playbook's tasks for a level (cumulative), or all its levels.
    Show {
        /// I, II, III or IV.
        #[arg(long)]
        level: Option<ResponseLevel>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Print a version (default: the active one) as JSON, to edit and import.
    Export {
        /// The version.
        #[arg(long)]
        version: Option<i64>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Add a version from a JSON file (as `export` prints it); it is not activated.
    Import {
        /// The file.
        file: PathBuf,
        /// Why.
        #[arg(long, default_value = "")]
        comment: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Make a version the active one.
    Activate {
        /// The version.
        version: i64,
        /// The version you saw active (refused if another was activated meanwhile).
        #[arg(long)]
        expected_active: i64,
        #[command(flatten)]
        server: ServerArgs,
    },
}

async fn send(
    server: &ServerArgs,
    method: Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> Result<bytes::Bytes> {
    let client = ApiClient::new(server)?;
    let bytes = body
        .map(|body| body.to_string().into_bytes())
        .unwrap_or_default();
    client.call(method, path, "application/json", bytes).await
}

/// Runs a playbook command.
pub async fn run(command: PlaybookCommand) -> Result<()> {
    match command {
        PlaybookCommand::Show { level, server } => {
            let levels = match level {
                Some(level) => vec![level],
                None => ResponseLevel::UPWARD.to_vec(),
            };
            for level in levels {
                let body = send(
                    &server,
                    Method::GET,
                    &format!("/v1/playbooks/active/tasks?level={level}"),
                    None,
                )
                .await?;
                let tasks: PlaybookTasks = serde_json::from_slice(&body)?;
                println!("level {level} (playbook version {}):", tasks.version);
                for task in tasks.tasks {
                    println!(
                        "  [{}] {:<28} {:<18} due +{} min  {} / {}",
                        task.level,
                        task.task.key,
                        task.task.group.as_str(),
                        task.task.due_after_minutes,
                        task.task.title_zh,
                        task.task.title_en
                    );
                }
            }
        }
        PlaybookCommand::Export { version, server } => {
            let playbook = match version {
                Some(version) => {
                    let body = send(
                        &server,
                        Method::GET,
                        &format!("/v1/playbooks/{version}"),
                        None,
                    )
                    .await?;
                    serde_json::from_slice::<PlaybookVersionView>(&body)?.playbook
                }
                None => {
                    let body = send(&server, Method::GET, "/v1/playbooks/active", None).await?;
                    serde_json::from_slice::<ActivePlaybookView>(&body)?
                        .version
                        .playbook
                }
            };
            println!("{}", serde_json::to_string_pretty(&playbook)?);
        }
        PlaybookCommand::Import {
            file,
            comment,
            server,
        } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let playbook: Playbook = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a playbook", file.display()))?;
            let body = send(
                &server,
                Method::POST,
                "/v1/playbooks",
                Some(json!({ "playbook": playbook, "comment": comment })),
            )
            .await?;
            let created: PlaybookVersionView = serde_json::from_slice(&body)?;
            println!(
                "added playbook version {} (not active; `shopguard playbook activate {} --expected-active N`)",
                created.version, created.version
            );
        }
        PlaybookCommand::Activate {
            version,
            expected_active,
            server,
        } => {
            let body = send(
                &server,
                Method::POST,
                &format!("/v1/playbooks/{version}/activate"),
                Some(json!({ "expected_active": expected_active })),
            )
            .await?;
            let active: ActivePlaybookView = serde_json::from_slice(&body)?;
            println!("playbook version {} is active", active.version.version);
        }
    }
    Ok(())
}
