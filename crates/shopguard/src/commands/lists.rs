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

/// Lines sent in one request.
const CHUNK_LINES: usize = 50_000;
/// Refused lines printed with their reason.
const SHOWN_PROBLEMS: usize = 20;

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
    let (mut added, mut invalid, mut shown) = (0, 0, 0);
    let mut first_line = 1;
    for chunk in lines.chunks(CHUNK_LINES) {
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
        for problem in &report.invalid {
            if shown < SHOWN_PROBLEMS {
                let line = first_line + problem.line.saturating_sub(1);
                let text = chunk
                    .get(problem.line.saturating_sub(1))
                    .copied()
                    .unwrap_or("");
                // Printed even when no bar is drawn (output not a terminal).
                bar.suspend(|| {
                    eprintln!(
                        "{}:{line}: refused {text:?}: {}",
                        file.display(),
                        problem.message
                    )
                });
                shown += 1;
            }
        }
        first_line += chunk.len();
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    match invalid {
        0 => println!("{added} entries added to '{list}'"),
        _ if invalid > shown => println!(
            "{added} entries added to '{list}'; {invalid} lines refused (the first {shown} above)"
        ),
        _ => println!("{added} entries added to '{list}'; {invalid} refused (above)"),
    }
    Ok(())
}
