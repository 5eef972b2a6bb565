//! `shopguard operators`: create, list and disable operators on a node's storage.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;
use shopguard_app::{Actor, App};

use crate::common::{cli_error, DataDirArgs};

#[derive(Subcommand)]
pub enum OperatorsCommand {
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
    /// Print the current TOTP code of a base32 secret read from standard input (for scripts,
    /// drills and first tests; an operator reads their code from their authenticator app).
    /// The secret is never taken from the command line, where it would stay in the history.
    TotpCode,
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

/// Runs an operators command.
pub fn run(command: OperatorsCommand) -> Result<()> {
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
        OperatorsCommand::TotpCode => {
            let mut secret = String::new();
            std::io::stdin()
                .take(4096)
                .read_to_string(&mut secret)
                .context("reading the secret from standard input")?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .context("the system clock is before 1970")?
                .as_secs();
            let code = shopguard_core::credentials::totp_code_from_base32(&secret, now).context(
                "standard input does not hold a base32 TOTP secret (as `operators create` prints it)",
            )?;
            println!("{code}");
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
