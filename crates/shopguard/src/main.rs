//! The `shopguard` command: run the server, manage keys, policies and lists, simulate attacks,
//! generate load. Run `shopguard --help`, or `shopguard <command> --help`.

mod client;
mod load;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use hyper::Method;
use indicatif::{ProgressBar, ProgressStyle};
use shopguard_app::{Actor, App, ServiceError};
use shopguard_core::audit::Checkpoint;
use shopguard_core::{Engine, ListRegistry};
use shopguard_server::ServerConfig;
use shopguard_sim::{generate, seed_list_entries, LabelledEvent, Scoreboard, SimConfig};
use shopguard_storage::{audit_log, backup, Scope};

use client::{ApiClient, ServerArgs};

/// mimalloc instead of the system allocator: a request allocates and frees many small
/// buffers (event fields, the decision, its JSON), where glibc's malloc showed up as about a
/// tenth of the server's CPU in profiles (`docs/benchmarks.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The policy shipped with shopguard, used when no policy is stored or configured.
const DEFAULT_POLICY: &str = include_str!("../../../examples/marketplace.toml");

#[derive(Parser)]
#[command(
    name = "shopguard",
    version,
    about = "Security operations and transaction risk control for e-commerce platforms",
    long_about = "shopguard decides, for every sensitive action a platform reports (register, login, payment, withdrawal, ...), \
whether to allow it, challenge the user, send it to review or deny it, with reasons.\n\n\
Start here:\n  shopguard serve                      run on ./data with the shipped marketplace policy\n  \
shopguard simulate                   replay labelled attack traffic through the policy\n  \
shopguard policy test my-policy.toml run a policy's fixture tests"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API.
    Serve(ServeArgs),
    /// Create, list and revoke API keys (works on the data folder directly).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Check and test policy files; push, list and roll back versions on a running server.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Bulk-import list entries into a running server.
    #[command(subcommand)]
    Lists(ListsCommand),
    /// Generate labelled traffic (normal users and ten attack kinds) and score detection.
    Simulate(SimulateArgs),
    /// Load-test a running server (loopback only).
    Load(load::LoadArgs),
    /// Verify the tamper-evident audit log; print the key that signs its checkpoints.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Create and list operators (people who log in with password and TOTP).
    #[command(subcommand)]
    Operators(OperatorsCommand),
    /// Rotate the data key that encrypts personal fields, and re-encrypt the decision log,
    /// on a stopped node's data folder (on a running node: POST /v1/data-keys/rotate and
    /// /v1/data-keys/reencrypt).
    #[command(subcommand)]
    DataKeys(DataKeysCommand),
    /// Copy a data folder (online: a running node may keep writing) into a new folder with a
    /// manifest of hashes. The copy holds the audit signing key: keep it as safe as the node.
    Backup {
        #[command(flatten)]
        data: DataDirArgs,
        /// The folder to create (must not exist or be empty).
        #[arg(long)]
        out: PathBuf,
    },
    /// Check a backup (every file's hash, the audit log, the stores' contents) and, only if
    /// everything holds, restore it into a new, empty data folder.
    Restore {
        /// The backup folder.
        #[arg(long)]
        from: PathBuf,
        /// The data folder to create (must not exist or be empty).
        #[arg(long)]
        data_dir: PathBuf,
        /// Only check the backup; restore nothing.
        #[arg(long)]
        check_only: bool,
        /// The master key file of the node the backup came from (backups never hold it);
        /// it is placed in the new data folder. Without it, SHOPGUARD_MASTER_KEY is used.
        #[arg(long)]
        master_key_file: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum DataKeysCommand {
    /// Make a new data key the one that encrypts; older keys keep decrypting.
    Rotate {
        #[command(flatten)]
        data: DataDirArgs,
    },
    /// Re-encrypt every logged decision's personal fields with the newest data key (and
    /// encrypt any written in the clear), with a progress bar.
    Reencrypt {
        #[command(flatten)]
        data: DataDirArgs,
    },
}

#[derive(Subcommand)]
enum OperatorsCommand {
    /// Create an operator and print the TOTP secret for their authenticator app (shown once).
    ///
    /// The password is read from --password-file or SHOPGUARD_OPERATOR_PASSWORD (never from
    /// the command line, where it would stay in the shell history); it must have at least 12
    /// characters and be hard to guess.
    Create {
        /// Login name.
        #[arg(long)]
        username: String,
        /// Roles: viewer, analyst, responder, rule_author, approver, administrator, auditor
        /// (repeat for several; an auditor holds no other role).
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// A file holding the password.
        #[arg(long)]
        password_file: Option<PathBuf>,
        #[command(flatten)]
        data: DataDirArgs,
    },
    /// List operators and their roles.
    List {
        #[command(flatten)]
        data: DataDirArgs,
    },
    /// Disable an operator: their sessions stop working at once (on a running node too).
    Disable {
        /// Login name.
        #[arg(long)]
        username: String,
        #[command(flatten)]
        data: DataDirArgs,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute every entry, the Merkle tree and every signed checkpoint of a data folder
    /// (it may belong to a running node, or be a copy). Names the first entry that was
    /// edited, deleted, inserted or reordered; exits 1 when something is wrong.
    ///
    /// An auditor who saved checkpoints earlier (GET /v1/audit/checkpoints) passes them with
    /// --checkpoint, so that a history rewritten together with its stored checkpoints is
    /// still caught; with --public-key the signatures are checked against the key the
    /// auditor holds rather than the one in the folder.
    Verify {
        #[command(flatten)]
        data: DataDirArgs,
        /// A file holding checkpoints kept by the auditor: one checkpoint, an array of them,
        /// or a saved GET /v1/audit/checkpoints answer (repeat for several files).
        #[arg(long = "checkpoint")]
        checkpoints: Vec<PathBuf>,
        /// The Ed25519 public key (hex) that must have signed the checkpoints.
        #[arg(long)]
        public_key: Option<String>,
    },
    /// Print the public key that verifies the audit checkpoints, and its id.
    PublicKey {
        #[command(flatten)]
        data: DataDirArgs,
    },
}

#[derive(clap::Args)]
struct ServeArgs {
    /// TOML configuration file; flags and SHOPGUARD_* variables override it.
    #[arg(long, env = "SHOPGUARD_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8686].
    #[arg(long, env = "SHOPGUARD_LISTEN")]
    listen: Option<std::net::SocketAddr>,
    /// Data folder [default: ./data].
    #[arg(long, env = "SHOPGUARD_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Policy file to load at start (stored as a new version if it differs from the live one).
    #[arg(long, env = "SHOPGUARD_POLICY")]
    policy: Option<PathBuf>,
    /// Log format.
    #[arg(long, env = "SHOPGUARD_LOG_FORMAT", value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Serve POST /v1/noop, for measuring the HTTP stack's ceiling.
    #[arg(long)]
    enable_noop_endpoint: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(clap::Args)]
struct DataDirArgs {
    /// Data folder of the node.
    #[arg(long, env = "SHOPGUARD_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
}

impl DataDirArgs {
    /// The node's configuration for this data folder: SHOPGUARD_* variables (the database
    /// among them), then this flag.
    fn config(&self) -> Result<shopguard_app::Config> {
        let mut config = shopguard_app::Config::load(None, &|name| std::env::var(name).ok())
            .context("reading the configuration (SHOPGUARD_* variables)")?;
        config.data_dir = self.data_dir.clone();
        Ok(config)
    }
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key and print it (the only time it is shown).
    Create {
        /// Who or what will use it.
        #[arg(long)]
        name: String,
        /// Scopes: events:write, decisions:read, audit:read, admin (repeat for several).
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        #[command(flatten)]
        data: DataDirArgs,
    },
    /// List keys (ids, names, scopes; never secrets).
    List {
        #[command(flatten)]
        data: DataDirArgs,
    },
    /// Revoke a key by id (takes effect within 10 seconds on a running server).
    Revoke {
        /// The key id (the part after `sg_`, before the second `_`).
        key_id: String,
        #[command(flatten)]
        data: DataDirArgs,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
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

#[derive(Subcommand)]
enum ListsCommand {
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
        #[command(flatten)]
        server: ServerArgs,
    },
}

#[derive(clap::Args)]
struct SimulateArgs {
    /// Normal users.
    #[arg(long, default_value_t = 2_000)]
    users: usize,
    /// Days of normal history (attacks happen on the last day).
    #[arg(long, default_value_t = 10)]
    days: u32,
    /// Instances of each attack kind.
    #[arg(long, default_value_t = 20)]
    instances: usize,
    /// Seed: the same seed gives the same traffic.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Policy to score in process [default: the shipped policy].
    #[arg(long, conflicts_with = "drive")]
    policy: Option<PathBuf>,
    /// Write the labelled events as JSON lines to this file instead of scoring.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Send the traffic to a running server (batch endpoint) and score its answers.
    #[arg(long)]
    drive: bool,
    #[command(flatten)]
    server: ServerArgs,
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn progress(total: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(what.to_owned());
    bar
}

fn now_ms() -> i64 {
    shopguard_server::state::now_ms()
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(args).await,
        // Commands that use storage run off the async threads: the PostgreSQL driver
        // blocks on a runtime of its own, which must not nest in this one.
        Command::Keys(command) => tokio::task::spawn_blocking(move || keys(command)).await?,
        Command::Policy(command) => policy(command).await,
        Command::Lists(command) => lists(command).await,
        Command::Simulate(args) => simulate(args).await,
        Command::Load(args) => {
            let report = load::run_on_own_runtime(args).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        Command::Audit(command) => {
            tokio::task::spawn_blocking(move || audit_command(command)).await?
        }
        Command::Operators(command) => {
            tokio::task::spawn_blocking(move || operators_command(command)).await?
        }
        Command::DataKeys(command) => {
            tokio::task::spawn_blocking(move || data_keys_command(command)).await?
        }
        Command::Backup { data, out } => {
            if data.config()?.database_url.is_some() {
                anyhow::bail!(
                    "this node keeps its data in PostgreSQL (SHOPGUARD_DATABASE_URL): back up the \
                     database with pg_dump and the data folder's keys with a file copy; \
                     `shopguard backup` covers the embedded backend only for now"
                );
            }
            let bar = progress(0, "files");
            let manifest = backup::backup(&data.data_dir, &out, now_ms(), &mut |done, total| {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            })?;
            bar.finish_and_clear();
            let bytes: u64 = manifest.files.iter().map(|file| file.bytes).sum();
            println!(
                "backed up {} files ({:.1} MB) into {}: {} decisions, {} audit entries (root {}), {} API keys, {} policy versions",
                manifest.files.len(),
                bytes as f64 / 1e6,
                out.display(),
                manifest.decisions,
                manifest.audit_entries,
                manifest.audit_root,
                manifest.api_keys,
                manifest.policy_versions
            );
            Ok(())
        }
        Command::Restore {
            from,
            data_dir,
            check_only,
            master_key_file,
        } => {
            if check_only {
                let manifest = backup::check_backup(&from)?;
                println!(
                    "backup intact: {} files match the manifest ({} decisions, {} audit entries)",
                    manifest.files.len(),
                    manifest.decisions,
                    manifest.audit_entries
                );
                return Ok(());
            }
            let report = backup::restore(&from, &data_dir, master_key_file.as_deref())?;
            println!(
                "restored {} into {}: {} files checked, audit log verified ({} entries, {} checkpoints), {} decisions",
                from.display(),
                data_dir.display(),
                report.files_checked,
                report.manifest.audit_entries,
                report.audit_checkpoints_checked,
                report.manifest.decisions
            );
            Ok(())
        }
    }
}

fn data_keys_command(command: DataKeysCommand) -> Result<()> {
    let (DataKeysCommand::Rotate { data } | DataKeysCommand::Reencrypt { data }) = &command;
    let app = App::open_offline(data.config()?).context(
        "opening the data folder (is a node running on it? then use POST /v1/data-keys/...)",
    )?;
    let actor = Actor::cli();
    match command {
        DataKeysCommand::Rotate { .. } => {
            let active = app.data_keys.rotate(&actor)?;
            println!("data key {active} now encrypts personal fields; older keys still decrypt");
        }
        DataKeysCommand::Reencrypt { .. } => {
            let bar = progress(0, "segments");
            let changed = app.data_keys.reencrypt(&actor, &mut |done, total| {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            })?;
            bar.finish_and_clear();
            println!("{changed} logged decisions re-encrypted with the newest data key");
        }
    }
    Ok(())
}

fn operators_command(command: OperatorsCommand) -> Result<()> {
    match command {
        OperatorsCommand::Create {
            username,
            roles,
            password_file,
            data,
        } => {
            let roles = roles
                .iter()
                .map(|role| {
                    role.parse::<shopguard_core::rbac::Role>()
                        .map_err(anyhow::Error::msg)
                })
                .collect::<Result<Vec<_>>>()?;
            let password = match password_file {
                Some(path) => std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?
                    .trim_end_matches(['\r', '\n'])
                    .to_owned(),
                None => std::env::var("SHOPGUARD_OPERATOR_PASSWORD").context(
                    "give the password with --password-file or SHOPGUARD_OPERATOR_PASSWORD",
                )?,
            };
            let app = App::open_admin(data.config()?)?;
            let role_names: Vec<&str> = roles.iter().map(|role| role.as_str()).collect();
            let role_list = role_names.join(", ");
            let enrolment = app
                .operators
                .create(&username, &password, roles.clone(), &Actor::cli())
                .map_err(cli_error)?;
            println!("operator {username} created with roles {role_list}");
            println!("TOTP secret (add it to an authenticator app now; it is not shown again):");
            println!("  {}", enrolment.totp_base32);
            println!("  {}", enrolment.totp_uri);
            Ok(())
        }
        OperatorsCommand::Disable { username, data } => {
            let app = App::open_admin(data.config()?)?;
            app.operators
                .disable(&username, &Actor::cli())
                .map_err(cli_error)?;
            println!("operator {username} disabled; their sessions no longer work");
            Ok(())
        }
        OperatorsCommand::List { data } => {
            let app = App::open_admin(data.config()?)?;
            println!("{:<24} {:<40} status", "operator", "roles");
            for operator in app.operators.list()? {
                let roles: Vec<&str> = operator.roles.iter().map(|role| role.as_str()).collect();
                let status = if operator.disabled_at_ms.is_some() {
                    "disabled"
                } else {
                    "active"
                };
                println!("{:<24} {:<40} {status}", operator.username, roles.join(","));
            }
            Ok(())
        }
    }
}

/// A service's refusal as the command line says it: its message, without the error chain.
fn cli_error(error: ServiceError) -> anyhow::Error {
    anyhow::Error::msg(error.to_string())
}

/// Reads checkpoints from a file: one, an array, or a `GET /v1/audit/checkpoints` answer.
fn read_checkpoint_file(path: &PathBuf) -> Result<Vec<Checkpoint>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let list = match value {
        serde_json::Value::Object(mut object) if object.contains_key("checkpoints") => {
            object.remove("checkpoints").unwrap_or_default()
        }
        serde_json::Value::Array(_) => value,
        single => serde_json::Value::Array(vec![single]),
    };
    serde_json::from_value(list)
        .with_context(|| format!("{} does not hold checkpoints", path.display()))
}

fn audit_command(command: AuditCommand) -> Result<()> {
    match command {
        AuditCommand::Verify {
            data,
            checkpoints,
            public_key,
        } => {
            let key = match public_key {
                Some(hex) => {
                    let bytes = shopguard_core::audit::hex_decode::<32>(hex.trim())
                        .context("--public-key must be 64 hex digits")?;
                    ed25519_dalek::VerifyingKey::from_bytes(&bytes)
                        .context("--public-key is not an Ed25519 public key")?
                }
                None => audit_log::public_key_of(&data.data_dir)?,
            };
            let mut extra = Vec::new();
            for path in &checkpoints {
                extra.extend(read_checkpoint_file(path)?);
            }
            let config = data.config()?;
            let started = std::time::Instant::now();
            let spinner = ProgressBar::new_spinner();
            spinner.set_style(
                ProgressStyle::with_template("{spinner} {pos} entries verified ({per_sec})")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            let report = match &config.database_url {
                Some(url) => {
                    eprintln!(
                        "verifying the audit log in PostgreSQL schema {}",
                        config.database_schema
                    );
                    shopguard_storage::postgres_audit::verify_database_with_progress(
                        url,
                        &config.database_schema,
                        &key,
                        &extra,
                        &mut |entries| spinner.set_position(entries),
                    )?
                }
                None => {
                    eprintln!("verifying the audit log in {}", data.data_dir.display());
                    audit_log::verify_data_dir_with_progress(
                        &data.data_dir,
                        &key,
                        &extra,
                        &mut |entries| spinner.set_position(entries),
                    )?
                }
            };
            spinner.finish_and_clear();
            println!(
                "{} entries ({} purged at the end of retention), {} checkpoints checked, in {:.1} s",
                report.entries,
                report.purged,
                report.checkpoints_checked,
                started.elapsed().as_secs_f64()
            );
            println!("root {}", report.root);
            match report.first_problem {
                None => {
                    println!("intact: every entry, the tree and every checkpoint agree");
                    Ok(())
                }
                Some(problem) => {
                    println!(
                        "TAMPERED: first bad entry {}: {}",
                        problem.seq, problem.what
                    );
                    std::process::exit(1);
                }
            }
        }
        AuditCommand::PublicKey { data } => {
            let key = audit_log::public_key_of(&data.data_dir)?;
            println!(
                "public key {}",
                shopguard_core::audit::hex_encode(key.as_bytes())
            );
            println!("key id     {}", shopguard_core::audit::key_id(&key));
            Ok(())
        }
    }
}

async fn serve(args: ServeArgs) -> Result<()> {
    init_logging(args.log_format);
    let file = match &args.config {
        Some(path) => Some(
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        ),
        None => None,
    };
    let mut config = ServerConfig::load(file.as_deref(), &|name| std::env::var(name).ok())
        .with_context(|| match &args.config {
            Some(path) => format!(
                "reading the configuration ({} and SHOPGUARD_* variables)",
                path.display()
            ),
            None => "reading the configuration (SHOPGUARD_* variables)".to_owned(),
        })?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(data_dir) = args.data_dir {
        config.data_dir = data_dir;
    }
    if args.policy.is_some() {
        config.policy_file = args.policy;
    }
    config.enable_noop_endpoint |= args.enable_noop_endpoint;
    let listen = config.listen;
    let data_dir = config.data_dir.clone();
    let started =
        tokio::task::spawn_blocking(move || shopguard_server::start(config, DEFAULT_POLICY))
            .await??;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let policy = started.state.app.engine.policy();
    println!("shopguard listening on http://{}", listener.local_addr()?);
    println!("data folder: {}", data_dir.display());
    println!(
        "policy '{}' version {}: {} rules, {} features",
        policy.document.policy.name,
        policy.version,
        policy.rules.len(),
        policy.features.len()
    );
    match &started.bootstrap_key_file {
        Some(path) => println!(
            "first start: an admin API key was written to {} (readable by you only).\n\
             Use it as 'Authorization: Bearer <key>'; make narrower keys with\n  shopguard keys create --name checkout --scope events:write --data-dir {}",
            path.display(),
            data_dir.display()
        ),
        None => println!("API keys: shopguard keys list --data-dir {}", data_dir.display()),
    }
    shopguard_server::serve(started.state, listener, shutdown_signal()).await?;
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
    tracing::info!("shutting down: draining the decision log");
}

fn keys(command: KeysCommand) -> Result<()> {
    match command {
        KeysCommand::Create { name, scopes, data } => {
            let scopes = scopes
                .iter()
                .map(|scope| scope.parse::<Scope>().map_err(anyhow::Error::msg))
                .collect::<Result<Vec<_>>>()?;
            let app = App::open_admin(data.config()?)?;
            let key = app
                .keys
                .create(&name, scopes, &Actor::cli())
                .map_err(cli_error)?;
            println!("{}", key.token);
            eprintln!(
                "key id {} created; store the key now, it is not shown again",
                key.record.key_id
            );
        }
        KeysCommand::List { data } => {
            let app = App::open_admin(data.config()?)?;
            println!("{:<18} {:<24} {:<40} status", "key id", "name", "scopes");
            for key in app.keys.list()? {
                let scopes: Vec<&str> = key.scopes.iter().map(|scope| scope.as_str()).collect();
                let status = if key.revoked_at_ms.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                println!(
                    "{:<18} {:<24} {:<40} {status}",
                    key.key_id,
                    key.name,
                    scopes.join(",")
                );
            }
        }
        KeysCommand::Revoke { key_id, data } => {
            let app = App::open_admin(data.config()?)?;
            app.keys.revoke(&key_id, &Actor::cli()).map_err(cli_error)?;
            println!("revoked {key_id}");
        }
    }
    Ok(())
}

fn read_policy(file: &PathBuf) -> Result<String> {
    std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))
}

async fn policy(command: PolicyCommand) -> Result<()> {
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
            for version in list.versions {
                let marker = if version.active {
                    "*"
                } else if version.pending_approval {
                    "?"
                } else {
                    " "
                };
                println!(
                    "{marker} {:>4}  {}  {:<24} {}",
                    version.version,
                    &version.sha256[..12],
                    version.author,
                    version.comment
                );
            }
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

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

async fn lists(command: ListsCommand) -> Result<()> {
    let ListsCommand::Import {
        file,
        list,
        ttl_seconds,
        reason,
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

async fn simulate(args: SimulateArgs) -> Result<()> {
    let config = SimConfig {
        seed: args.seed,
        users: args.users,
        days: args.days.max(2),
        instances_per_attack: args.instances,
        // Recent enough for a server's clock checks, whatever the date.
        start_ms: now_ms() - i64::from(args.days.max(2)) * 86_400_000 - 3_600_000,
    };
    let events = generate(&config);
    eprintln!(
        "generated {} events ({} users, {} days, {} instances of each attack)",
        events.len(),
        config.users,
        config.days,
        config.instances_per_attack
    );
    if let Some(out) = &args.out {
        use std::io::Write;
        let mut file = std::io::BufWriter::new(
            std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?,
        );
        let bar = progress(events.len() as u64, "writing");
        for event in &events {
            serde_json::to_writer(&mut file, event)?;
            file.write_all(b"\n")?;
            bar.inc(1);
        }
        file.flush()?;
        bar.finish_and_clear();
        println!(
            "wrote {} labelled events to {}",
            events.len(),
            out.display()
        );
        return Ok(());
    }
    let scoreboard = if args.drive {
        drive_server(&args.server, events).await?
    } else {
        score_with_policy(args.policy.as_ref(), events)?
    };
    println!("{}", scoreboard.table());
    let rules = scoreboard.normal_flag_rules();
    if !rules.is_empty() {
        println!(
            "rules that flagged normal traffic: {}",
            rules
                .iter()
                .map(|(rule, count)| format!("{rule} ({count})"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}

fn score_with_policy(policy: Option<&PathBuf>, events: Vec<LabelledEvent>) -> Result<Scoreboard> {
    let source = match policy {
        Some(file) => read_policy(file)?,
        None => DEFAULT_POLICY.to_owned(),
    };
    let engine = Engine::new(&source, 0, Arc::new(ListRegistry::new()))?;
    shopguard_sim::seed_lists(&engine)?;
    let bar = progress(events.len() as u64, "deciding");
    let scoreboard =
        shopguard_sim::score_in_process(&engine, events, |done| bar.set_position(done as u64))?;
    bar.finish_and_clear();
    Ok(scoreboard)
}

async fn drive_server(server: &ServerArgs, events: Vec<LabelledEvent>) -> Result<Scoreboard> {
    let client = ApiClient::new(server)?;
    for (list, value) in seed_list_entries() {
        let body = serde_json::to_vec(&shopguard_api_types::AddListEntryRequest {
            value,
            ttl_seconds: None,
            reason: "simulation seed".into(),
        })?;
        client
            .call(
                Method::POST,
                &format!("/v1/lists/{list}/entries"),
                "application/json",
                body,
            )
            .await?;
    }
    let bar = progress(events.len() as u64, "sending");
    let mut scoreboard = Scoreboard::default();
    for chunk in events.chunks(500) {
        let request = shopguard_api_types::BatchRequest {
            events: chunk
                .iter()
                .map(|labelled| labelled.event.clone())
                .collect(),
        };
        let body = client
            .call(
                Method::POST,
                "/v1/events/batch",
                "application/json",
                serde_json::to_vec(&request)?,
            )
            .await?;
        let response: shopguard_api_types::BatchResponse = serde_json::from_slice(&body)?;
        for (labelled, decision) in chunk.iter().zip(&response.decisions) {
            scoreboard.record(labelled.label, decision);
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    scoreboard.finish();
    Ok(scoreboard)
}
