//! `shopguard lists`: bulk-import list entries into a running server.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;
use hyper::Method;

use crate::client::{ApiClient, ServerArgs};
use crate::common::{percent_encode, progress};

#[derive(Subcommand)]
pub enum ListsCommand {
    /// Import a text file (one value per line, `#` comments) into a list, in chunks.
    Import {
        /// The file.
        file: PathBuf,
        /// The list.
        #[arg(long)]
        list: String,
        /// Lifetime of the entries, in seconds.
        #[arg(long)]
        ttl_seconds: Option<u64>,
        /// Why they are listed.
        #[arg(long, default_value = "bulk import")]
        reason: String,
        /// Add IP ranges wider than the server allows (`list_min_ipv4_prefix`,
        /// `list_min_ipv6_prefix`) all the same.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
}

/// Runs a lists command.
pub async fn run(command: ListsCommand) -> Result<()> {
    let ListsCommand::Import {
        file,
        list,
        ttl_seconds,
        reason,
        force,
        server,
    } = command;
    let text =
        std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let lines: Vec<&str> = text.lines().collect();
    let client = ApiClient::new(&server)?;
    let bar = progress(lines.len() as u64, "importing");
    let mut query = format!("reason={}", percent_encode(&reason));
    if let Some(ttl) = ttl_seconds {
        query.push_str(&format!("&ttl_seconds={ttl}"));
    }
    if force {
        query.push_str("&force=true");
    }
    let (mut added, mut invalid) = (0, 0);
    for chunk in lines.chunks(50_000) {
        let body = chunk.join("\n").into_bytes();
        let response = client
            .call(
                Method::POST,
                &format!("/v1/lists/{list}/import?{query}"),
                "text/plain",
                body,
            )
            .await?;
        let report: shopguard_api_types::ImportReport = serde_json::from_slice(&response)?;
        added += report.added;
        invalid += report.invalid_count;
        for problem in report.invalid.iter().take(5) {
            bar.println(format!("refused: {}", problem.message));
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    println!("{added} entries added to '{list}', {invalid} lines refused");
    Ok(())
}
