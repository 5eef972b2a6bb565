//! `shopguard audit`: verify the audit log (files or PostgreSQL), export its checkpoints for an
//! auditor to keep, and print its public key.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use shopguard_core::audit::Checkpoint;
use shopguard_storage::audit_log;

use crate::common::DataDirArgs;

#[derive(Subcommand)]
pub enum AuditCommand {
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
    /// The signed checkpoints, for an auditor to keep.
    Checkpoints {
        #[command(subcommand)]
        command: CheckpointsCommand,
    },
}

#[derive(Subcommand)]
pub enum CheckpointsCommand {
    /// Copy the signed checkpoints of a data folder, or of the PostgreSQL schema its
    /// configuration names (SHOPGUARD_DATABASE_URL), into a file the auditor keeps. A file
    /// that exists already keeps every checkpoint it holds and gains the new ones, so
    /// checkpoints later deleted from the node stay in it. Give the file to
    /// `audit verify --checkpoint`: a log cut below any of them is then always caught.
    /// Reads only; the node may be running.
    Export {
        #[command(flatten)]
        data: DataDirArgs,
        /// The file to write (or add to).
        #[arg(long)]
        out: PathBuf,
    },
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

/// Adds the checkpoints of the data folder (or its PostgreSQL schema) to the file `out`.
fn export_checkpoints(data: &DataDirArgs, out: &PathBuf) -> Result<()> {
    let config = data.config()?;
    let found = match &config.database_url {
        Some(url) => shopguard_storage::postgres_audit::read_database_checkpoints(
            url,
            &config.database_schema,
        )?,
        None => audit_log::read_checkpoints_of(&data.data_dir)?,
    };
    let mut kept = if out.exists() {
        read_checkpoint_file(out)?
    } else {
        Vec::new()
    };
    let before = kept.len();
    for checkpoint in found {
        if !kept.contains(&checkpoint) {
            kept.push(checkpoint);
        }
    }
    kept.sort_by_key(|checkpoint| (checkpoint.size, checkpoint.at_ms));
    let added = kept.len() - before;
    let public_key = audit_log::public_key_of(&data.data_dir)
        .ok()
        .map(|key| shopguard_core::audit::hex_encode(key.as_bytes()));
    let document = serde_json::json!({ "public_key": public_key, "checkpoints": kept });
    let text = serde_json::to_string_pretty(&document)?;
    let temporary = out.with_extension("tmp");
    std::fs::write(&temporary, format!("{text}\n"))
        .and_then(|()| std::fs::rename(&temporary, out))
        .with_context(|| format!("writing {}", out.display()))?;
    println!(
        "{} holds {} checkpoints ({added} new)",
        out.display(),
        kept.len()
    );
    Ok(())
}

/// Runs an audit command.
pub fn run(command: AuditCommand) -> Result<()> {
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
                "{} entries ({} purged at the end of retention, each covered by a purge record), {} checkpoints checked, in {:.1} s",
                report.entries,
                report.purged,
                report.checkpoints_checked,
                started.elapsed().as_secs_f64()
            );
            if report.purged_before_records > 0 {
                println!(
                    "{} of the purged entries were purged before purges were recorded, and accepted as found when the log was upgraded",
                    report.purged_before_records
                );
            }
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
        AuditCommand::Checkpoints {
            command: CheckpointsCommand::Export { data, out },
        } => export_checkpoints(&data, &out),
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
