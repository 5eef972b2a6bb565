//! `shopguard keys`: create, list and revoke API keys on a node's storage.

use anyhow::Result;
use clap::Subcommand;
use shopguard_app::{Actor, App};
use shopguard_storage::Scope;

use crate::common::{cli_error, DataDirArgs};

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it (the only time it is shown).
    Create {
        /// Who or what will use it.
        #[arg(long)]
        name: String,
        /// What the key may do (repeat for several): events:write sends events,
        /// decisions:read reads decisions and alerts, audit:read reads the audit log,
        /// pii:unmask sees personal data unmasked, lists:write changes lists, policy:write
        /// changes policies, policy:approve approves punitive policy changes, alerts:write
        /// works the alert queue (acknowledge, assign, note, resolve), admin does all.
        #[arg(long = "scope", required = true, value_parser = scope_names())]
        scopes: Vec<String>,
        #[command(flatten)]
        data: DataDirArgs,
    },
    /// List keys (ids, names, scopes; never secrets).
    List {
        #[command(flatten)]
        data: DataDirArgs,
    },
    /// Revoke a key by id (running nodes refuse it within a second).
    Revoke {
        /// The key id (the part after `sg_`, before the second `_`).
        key_id: String,
        #[command(flatten)]
        data: DataDirArgs,
    },
}

/// The scope names clap accepts and lists in `--help`: every scope there is.
fn scope_names() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(Scope::ALL.map(Scope::as_str))
}

/// Runs a keys command.
pub fn run(command: KeysCommand) -> Result<()> {
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
