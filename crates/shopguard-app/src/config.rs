//! A node's configuration.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use shopguard_core::audit::RecordClass;

/// A node's settings: one typed struct. Every field has a default; the binary fills them from
/// flags, then environment, then a config file (see `config/shopguard.example.toml`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on; loopback by default, so nothing is exposed without consent.
    pub listen: SocketAddr,
    /// Folder for the database, state snapshot and bootstrap key.
    pub data_dir: PathBuf,
    /// Policy file loaded at start; a new version is stored when it differs from the live one.
    pub policy_file: Option<PathBuf>,
    /// Most events in one batch request.
    pub max_batch_events: usize,
    /// Largest request body, in bytes (list imports may be 16 times larger).
    pub max_body_bytes: usize,
    /// Requests per second allowed per API key.
    pub rate_limit_per_second: u32,
    /// Days decisions and alerts are kept.
    pub decision_retention_days: u32,
    /// Days an idle user's profile is kept.
    pub profile_retention_days: u32,
    /// Seconds between engine state snapshots.
    pub snapshot_interval_seconds: u64,
    /// Seconds between expiry passes (idle feature keys, expired list entries, unanswered
    /// challenges), in whole ticks of the maintenance loop: 5 s at least, rounded down to a
    /// multiple of 5.
    pub expiry_interval_seconds: u64,
    /// Seconds an event may arrive behind the latest event time seen and still find every
    /// velocity count and list entry it would have found on time: expiry passes drop only
    /// what is idle or expired that long before the earlier of that time and the wall clock
    /// (decision 0035).
    pub allowed_lateness_seconds: u64,
    /// Decisions that may wait for the log writer before requests slow down.
    pub log_queue_capacity: usize,
    /// A decision-log segment is sealed (indexed) once it holds this many MiB.
    pub decision_segment_mib: u64,
    /// Flush each batch of the decision log to the disk before counting it written.
    pub decision_log_fsync: bool,
    /// When `POST /v1/events` (and the batch and challenge routes) answer: once the decision
    /// is on disk (`durable`, the default) or once it is queued for the log writer (`queued`).
    pub decision_ack: DecisionAck,
    /// Days the content of audit entries is kept, for every record class except
    /// registrations and logins, which are kept long-term (DB33/T 978-2015 §8.4.2 asks for
    /// at least a year: values below 365 are refused).
    pub audit_retention_days: u32,
    /// Days kept for particular record classes, overriding `audit_retention_days` (each at
    /// least 365; registrations and logins are kept long-term and cannot be shortened).
    pub audit_retention_days_by_class: std::collections::BTreeMap<RecordClass, u32>,
    /// Seconds between signed checkpoints of the audit log (taken only when it grew). Entries
    /// after the last checkpoint are protected only by the tree files, which someone who
    /// can write them can rewrite: keep this short.
    pub audit_checkpoint_seconds: u64,
    /// A checkpoint is also signed as soon as this many entries were added since the last
    /// one (and at a graceful stop, whatever the count).
    pub audit_checkpoint_every_entries: u64,
    /// Whether a policy version that adds or changes punitive rules (enforced rules that
    /// deny or add to a list) must be approved by someone other than its author before it
    /// goes live.
    pub require_rule_approval: bool,
    /// Hours an operator's login session lasts.
    pub operator_session_hours: u32,
    /// Minutes an operator's session may go without a request before it is refused (it
    /// then needs a new login); 0 for no idle limit. Activity is recorded once a minute,
    /// so a session may be refused up to a minute early.
    pub session_idle_minutes: u32,
    /// Login attempts allowed per operator name per minute.
    pub login_attempts_per_username_per_minute: u32,
    /// Failed logins allowed per client address per minute, whatever names they try
    /// (password spraying); further attempts from that address wait (decision 0035).
    pub login_failures_per_address_per_minute: u32,
    /// Failed logins allowed per minute across the node, from every address together; beyond
    /// it every login waits until the rate falls (a spray from many addresses).
    pub login_failures_per_minute: u32,
    /// Header that holds the client's address when the node sits behind a proxy you
    /// trust (`x-forwarded-for`: its last address, the one the proxy added; `x-real-ip`); none to use the
    /// connection's peer address. Never set it when clients reach the node directly: they
    /// could then choose their own address.
    pub client_address_header: Option<String>,
    /// Serve `POST /v1/noop`, which does nothing: the HTTP stack's ceiling for benchmarks.
    pub enable_noop_endpoint: bool,
    /// Serve the analysts' web console at `/console` (operators sign in with password and
    /// TOTP; `docs/console.md`).
    pub console: bool,
    /// PostgreSQL to keep keys, policies, lists, decisions, operators, data keys and the
    /// audit log in (`postgres://user@host:5432/database`); none for the embedded backend.
    /// Secrets (master key, audit signing key, bootstrap key) stay in `data_dir`.
    pub database_url: Option<String>,
    /// The PostgreSQL schema of this deployment (several may share one database).
    pub database_schema: String,
    /// Shortest IPv4 prefix a list entry may have without `force` (`/8`: a wider range,
    /// `0.0.0.0/0` above all, would match a large part of the Internet).
    pub list_min_ipv4_prefix: u8,
    /// Shortest IPv6 prefix a list entry may have without `force`.
    pub list_min_ipv6_prefix: u8,
    /// This node's name among several on one database (its velocity snapshot is kept
    /// under it); by default the host name and the listening port.
    pub node_id: Option<String>,
    /// Social-impact thresholds for grading incidents (DB33/T 978-2015 §6.3.4 a lets each
    /// platform set them; decision 0041).
    pub incident_grading: shopguard_core::incident::GradingConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8686)),
            data_dir: PathBuf::from("data"),
            policy_file: None,
            max_batch_events: 1_000,
            max_body_bytes: 4 * 1024 * 1024,
            rate_limit_per_second: 100_000,
            decision_retention_days: 365,
            profile_retention_days: 400,
            snapshot_interval_seconds: 30,
            expiry_interval_seconds: 5,
            allowed_lateness_seconds: 300,
            log_queue_capacity: 200_000,
            decision_segment_mib: 128,
            decision_log_fsync: true,
            decision_ack: DecisionAck::Durable,
            audit_retention_days: 365,
            audit_retention_days_by_class: std::collections::BTreeMap::new(),
            audit_checkpoint_seconds: 10,
            audit_checkpoint_every_entries: 256,
            operator_session_hours: 8,
            session_idle_minutes: 30,
            login_attempts_per_username_per_minute: 10,
            login_failures_per_address_per_minute: 20,
            login_failures_per_minute: 600,
            client_address_header: None,
            require_rule_approval: true,
            enable_noop_endpoint: false,
            console: true,
            database_url: None,
            database_schema: "shopguard".to_owned(),
            node_id: None,
            incident_grading: shopguard_core::incident::GradingConfig::default(),
            list_min_ipv4_prefix: 8,
            list_min_ipv6_prefix: 32,
        }
    }
}

/// When a decision's answer is sent (`decision_ack`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionAck {
    /// After the decision's log batch is written: on the embedded backend, after the
    /// `fdatasync` that the writer shares among every batch queued meanwhile; on PostgreSQL,
    /// after the transaction commits. An acknowledged decision survives a crash of the
    /// process or the machine.
    #[default]
    Durable,
    /// As soon as the decision is queued for the log writer. Faster under load, but a crash
    /// loses the decisions queued and not yet written (about 10 ms of traffic, more when the
    /// queue is backed up), although they were acknowledged.
    Queued,
}

/// Why a configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file is not valid TOML, or a setting has the wrong type or is unknown.
    #[error("{0}")]
    Invalid(String),
}

impl Config {
    /// This node's name: `node_id`, or the host name and listening port.
    pub fn node_name(&self) -> String {
        self.node_id.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/etc/hostname")
                .map(|name| name.trim().to_owned())
                .ok()
                .filter(|name| !name.is_empty())
                .unwrap_or_else(|| "node".to_owned());
            format!("{host}-{}", self.listen.port())
        })
    }

    /// Reads the configuration: `file` (TOML text) first, then every `SHOPGUARD_<SETTING>`
    /// variable that `environment` knows (for example `SHOPGUARD_DECISION_RETENTION_DAYS=400`)
    /// on top; command-line flags are applied by the caller last. Unknown settings in the
    /// file are refused; a variable's value is read as a TOML value (`true`, `30`,
    /// `"text"`), or as plain text when it is not one.
    pub fn load(
        file: Option<&str>,
        environment: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let invalid = |error: &dyn std::fmt::Display| ConfigError::Invalid(error.to_string());
        let mut table: toml::Table = match file {
            Some(text) => toml::from_str(text).map_err(|error| invalid(&error))?,
            None => toml::Table::new(),
        };
        // Every setting's name, optional ones included (JSON keeps a `null` where TOML
        // would leave an unset option out).
        let defaults = serde_json::to_value(Config::default()).map_err(|error| invalid(&error))?;
        let settings = defaults
            .as_object()
            .map(|object| object.keys())
            .into_iter()
            .flatten();
        for setting in settings {
            let variable = format!("SHOPGUARD_{}", setting.to_ascii_uppercase());
            let Some(raw) = environment(&variable) else {
                continue;
            };
            let value = toml::from_str::<toml::Table>(&format!("value = {raw}"))
                .ok()
                .and_then(|mut parsed| parsed.remove("value"))
                .unwrap_or(toml::Value::String(raw));
            table.insert(setting.clone(), value);
        }
        toml::Value::Table(table)
            .try_into()
            .map_err(|error| invalid(&error))
    }

    /// Refuses settings out of range, naming the setting.
    pub fn validate(&self) -> Result<(), String> {
        self.incident_grading
            .validate()
            .map_err(|error| format!("incident_grading: {error}"))?;
        if self.max_batch_events == 0 || self.max_body_bytes < 1024 {
            return Err(
                "max_batch_events must be positive and max_body_bytes at least 1024".into(),
            );
        }
        if self.rate_limit_per_second == 0 {
            return Err("rate_limit_per_second must be positive".into());
        }
        if self.audit_retention_days < 365 {
            return Err(
                "audit_retention_days must be at least 365 (DB33/T 978-2015 §8.4.2)".into(),
            );
        }
        if !(1..=24 * 30).contains(&self.operator_session_hours) {
            return Err("operator_session_hours must be between 1 and 720".into());
        }
        if self.session_idle_minutes > 24 * 60 {
            return Err(
                "session_idle_minutes must be at most 1440 (a day); 0 sets no idle limit".into(),
            );
        }
        for (class, days) in &self.audit_retention_days_by_class {
            if class.kept_long_term() {
                return Err(format!(
                    "audit_retention_days_by_class: {} records are kept long-term (DB33/T 978-2015 §8.4.2)",
                    class.as_str()
                ));
            }
            if *days < 365 {
                return Err(format!(
                    "audit_retention_days_by_class: {} must be kept at least 365 days",
                    class.as_str()
                ));
            }
        }
        if self.list_min_ipv4_prefix > 32 || self.list_min_ipv6_prefix > 128 {
            return Err(
                "list_min_ipv4_prefix must be at most 32 and list_min_ipv6_prefix at most 128"
                    .into(),
            );
        }
        if self.login_attempts_per_username_per_minute == 0
            || self.login_failures_per_address_per_minute == 0
            || self.login_failures_per_minute == 0
        {
            return Err("login_attempts_per_username_per_minute, login_failures_per_address_per_minute and login_failures_per_minute must be positive".into());
        }
        if self.allowed_lateness_seconds > 86_400 {
            return Err("allowed_lateness_seconds must be at most 86400 (a day)".into());
        }
        if self.audit_checkpoint_seconds == 0 {
            return Err("audit_checkpoint_seconds must be positive".into());
        }
        if self.audit_checkpoint_every_entries == 0 {
            return Err("audit_checkpoint_every_entries must be positive".into());
        }
        if self.decision_ack == DecisionAck::Durable
            && !self.decision_log_fsync
            && self.database_url.is_none()
        {
            return Err(
                "decision_ack = \"durable\" needs decision_log_fsync = true (a decision is durable once it is on disk); set decision_ack = \"queued\" to run without fdatasync".into(),
            );
        }
        if !(1..=4_096).contains(&self.decision_segment_mib) {
            return Err("decision_segment_mib must be between 1 and 4096".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_then_environment_then_file_then_defaults() {
        let file = "decision_retention_days = 400\nsnapshot_interval_seconds = 10\n";
        let environment = |name: &str| match name {
            "SHOPGUARD_SNAPSHOT_INTERVAL_SECONDS" => Some("20".to_owned()),
            "SHOPGUARD_DATA_DIR" => Some("/var/lib/shopguard".to_owned()),
            "SHOPGUARD_REQUIRE_RULE_APPROVAL" => Some("false".to_owned()),
            "SHOPGUARD_DATABASE_URL" => Some("postgres://db.example/shopguard".to_owned()),
            _ => None,
        };
        let config = Config::load(Some(file), &environment).unwrap();
        assert_eq!(config.decision_retention_days, 400, "from the file");
        assert_eq!(config.snapshot_interval_seconds, 20, "the environment wins");
        assert_eq!(config.data_dir, PathBuf::from("/var/lib/shopguard"));
        assert!(!config.require_rule_approval);
        assert_eq!(config.audit_retention_days, 365, "a default");
        assert_eq!(
            config.database_url.as_deref(),
            Some("postgres://db.example/shopguard"),
            "an optional setting"
        );
    }

    #[test]
    fn decisions_are_acknowledged_durably_unless_queued_is_asked_for() {
        assert_eq!(Config::default().decision_ack, DecisionAck::Durable);
        let queued = Config::load(Some("decision_ack = \"queued\"\n"), &|_| None).unwrap();
        assert_eq!(queued.decision_ack, DecisionAck::Queued);
        let from_environment = Config::load(None, &|name| {
            (name == "SHOPGUARD_DECISION_ACK").then(|| "queued".to_owned())
        })
        .unwrap();
        assert_eq!(from_environment.decision_ack, DecisionAck::Queued);
        let error = Config::load(Some("decision_ack = \"eventually\"\n"), &|_| None).unwrap_err();
        assert!(error.to_string().contains("eventually"), "{error}");
        // Without fdatasync nothing is durable: the combination is refused, by name.
        let unsynced = Config {
            decision_log_fsync: false,
            ..Config::default()
        };
        let refused = unsynced.validate().unwrap_err();
        assert!(refused.contains("decision_log_fsync"), "{refused}");
        assert!(Config {
            decision_ack: DecisionAck::Queued,
            ..unsynced
        }
        .validate()
        .is_ok());
    }

    #[test]
    fn unknown_or_mistyped_settings_are_refused_by_name() {
        let error = Config::load(Some("decision_retention_dayz = 3\n"), &|_| None).unwrap_err();
        assert!(
            error.to_string().contains("decision_retention_dayz"),
            "{error}"
        );
        let error = Config::load(None, &|name| {
            (name == "SHOPGUARD_SNAPSHOT_INTERVAL_SECONDS").then(|| "soon".to_owned())
        })
        .unwrap_err();
        assert!(
            error.to_string().contains("snapshot_interval_seconds"),
            "{error}"
        );
    }

    #[test]
    fn the_session_idle_limit_defaults_to_30_minutes_and_is_bounded() {
        assert_eq!(Config::default().session_idle_minutes, 30);
        let from_environment = Config::load(None, &|name| {
            (name == "SHOPGUARD_SESSION_IDLE_MINUTES").then(|| "0".to_owned())
        })
        .unwrap();
        assert_eq!(from_environment.session_idle_minutes, 0, "no idle limit");
        assert!(from_environment.validate().is_ok());
        let too_long = Config {
            session_idle_minutes: 24 * 60 + 1,
            ..Config::default()
        };
        let refused = too_long.validate().unwrap_err();
        assert!(refused.contains("session_idle_minutes"), "{refused}");
    }
}
