//! What several commands share: the data-folder argument, progress bars, the shipped policy.

use std::path::PathBuf;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use shopguard_app::ServiceError;

/// The policy shipped with shopguard, used when no policy is stored or configured.
pub const DEFAULT_POLICY: &str = include_str!("../../../examples/marketplace.toml");

#[derive(clap::Args)]
pub struct DataDirArgs {
    /// Data folder of the node.
    #[arg(long, env = "SHOPGUARD_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
}

impl DataDirArgs {
    /// The node's configuration for this data folder: SHOPGUARD_* variables (the database
    /// among them), then this flag.
    pub fn config(&self) -> Result<shopguard_app::Config> {
        let mut config = shopguard_app::Config::load(None, &|name| std::env::var(name).ok())
            .context("reading the configuration (SHOPGUARD_* variables)")?;
        config.data_dir = self.data_dir.clone();
        Ok(config)
    }
}

/// A progress bar for `total` items of `what`.
pub fn progress(total: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(what.to_owned());
    bar
}

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    shopguard_server::state::now_ms()
}

/// A service's refusal as the command line says it: its message, without the error chain.
pub fn cli_error(error: ServiceError) -> anyhow::Error {
    anyhow::Error::msg(error.to_string())
}

/// Reads a policy file.
pub fn read_policy(file: &PathBuf) -> Result<String> {
    std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))
}

/// Percent-encodes a query parameter value.
pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}
