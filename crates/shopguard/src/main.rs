//! The `shopguard` command: run the server, manage keys, policies and lists, simulate attacks,
//! generate load. Run `shopguard --help`, or `shopguard <command> --help`.

mod client;
mod commands;
mod common;
mod load;

use anyhow::Result;
use clap::{Parser, Subcommand};

use commands::{
    audit::AuditCommand, backup, data_keys::DataKeysCommand, directory::DirectoryCommand,
    incidents::IncidentCommand, keys::KeysCommand, lists::ListsCommand,
    operators::OperatorsCommand, playbook::PlaybookCommand, policy::PolicyCommand,
    serve::ServeArgs, simulate::SimulateArgs,
};

/// mimalloc instead of the system allocator: a request allocates and frees many small
/// buffers (event fields, the decision, its JSON), where glibc's malloc showed up as about a
/// tenth of the server's CPU in profiles (`docs/benchmarks.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Report, list, show, triage, grade and move incidents (DB33/T 978-2015) on the data
    /// folder or database directly, as the command-line actor.
    #[command(subcommand)]
    Incident(IncidentCommand),
    /// Rotate the data key that encrypts personal fields, and re-encrypt the decision log,
    /// on a stopped node's data folder (on a running node: POST /v1/data-keys/rotate and
    /// /v1/data-keys/reencrypt).
    #[command(subcommand)]
    DataKeys(DataKeysCommand),
    /// Copy a data folder (online: a running node may keep writing) into a new folder with a
    /// manifest of hashes. The copy holds the audit signing key: keep it as safe as the node.
    Backup(backup::BackupArgs),
    /// The security organisation's directory on a running server: members of the four
    /// response groups, external contacts, escalation chains.
    #[command(subcommand)]
    Directory(DirectoryCommand),
    /// Response playbooks on a running server: show the tasks by level, export, import and
    /// activate versions.
    #[command(subcommand)]
    Playbook(PlaybookCommand),
    /// Check a backup (every file's hash, the audit log, the stores' contents) and, only if
    /// everything holds, restore it into a new, empty data folder.
    Restore(backup::RestoreArgs),
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    // Commands that use storage run off the async threads: the PostgreSQL driver blocks on a
    // runtime of its own, which must not nest in this one.
    match cli.command {
        Command::Serve(args) => commands::serve::run(args).await,
        Command::Keys(command) => blocking(move || commands::keys::run(command)).await,
        Command::Policy(command) => commands::policy::run(command).await,
        Command::Lists(command) => commands::lists::run(command).await,
        Command::Simulate(args) => commands::simulate::run(args).await,
        Command::Load(args) => {
            let report = load::run_on_own_runtime(args).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        Command::Audit(command) => blocking(move || commands::audit::run(command)).await,
        Command::Operators(command) => blocking(move || commands::operators::run(command)).await,
        Command::Incident(command) => blocking(move || commands::incidents::run(command)).await,
        Command::DataKeys(command) => blocking(move || commands::data_keys::run(command)).await,
        Command::Backup(args) => blocking(move || backup::backup(args)).await,
        Command::Restore(args) => blocking(move || backup::restore(args)).await,
        Command::Directory(command) => commands::directory::run(command).await,
        Command::Playbook(command) => commands::playbook::run(command).await,
    }
}

/// Runs a command that touches storage on a blocking thread.
async fn blocking(command: impl FnOnce() -> Result<()> + Send + 'static) -> Result<()> {
    tokio::task::spawn_blocking(command).await?
}
