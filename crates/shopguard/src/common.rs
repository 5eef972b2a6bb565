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

/// `ms` since the Unix epoch as a UTC date and time, `2026-12-03 12:04:18`.
pub fn utc_time(ms: i64) -> String {
    let seconds = ms.div_euclid(1000);
    let (days, second_of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_date(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01, counted in 400-year eras of
/// 146,097 days whose years start in March (so that the leap day ends a year).
fn civil_date(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468; // days from 0000-03-01 to 1970-01-01
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::utc_time;

    #[test]
    fn utc_times_match_known_dates() {
        assert_eq!(utc_time(0), "1970-01-01 00:00:00");
        assert_eq!(utc_time(951_782_400_000), "2000-02-29 00:00:00");
        assert_eq!(utc_time(1_796_299_458_999), "2026-12-03 12:04:18");
        assert_eq!(utc_time(-1_000), "1969-12-31 23:59:59");
        assert_eq!(utc_time(4_107_542_400_000), "2100-03-01 00:00:00");
    }
}
