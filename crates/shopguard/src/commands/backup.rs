//! `shopguard backup` and `shopguard restore`: copy a data folder (or, on PostgreSQL, dump
//! the node's schema and copy its key files) with a manifest of hashes, check a copy, and
//! restore it into a new folder (and new schema).

use std::path::PathBuf;

use anyhow::{Context, Result};
use shopguard_storage::backup as folder_backup;
use shopguard_storage::postgres_backup;

use crate::common::{now_ms, progress, DataDirArgs};

/// Arguments of `shopguard backup`.
#[derive(clap::Args)]
pub struct BackupArgs {
    #[command(flatten)]
    data: DataDirArgs,
    /// The folder to create (must not exist or be empty).
    #[arg(long)]
    out: PathBuf,
}

/// Arguments of `shopguard restore`.
#[derive(clap::Args)]
pub struct RestoreArgs {
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
    /// For a PostgreSQL backup: the database to restore into.
    #[arg(long, env = "SHOPGUARD_DATABASE_URL")]
    database_url: Option<String>,
    /// For a PostgreSQL backup: the schema to restore into (new, or without tables).
    #[arg(long, env = "SHOPGUARD_DATABASE_SCHEMA")]
    database_schema: Option<String>,
}

/// Copies the data folder into a new backup folder.
pub fn backup(args: BackupArgs) -> Result<()> {
    let BackupArgs { data, out } = args;
    let config = data.config()?;
    if let Some(url) = &config.database_url {
        let schema = &config.database_schema;
        let manifest = postgres_backup::backup(url, schema, &data.data_dir, &out, now_ms())
            .with_context(|| format!("backing up PostgreSQL schema {schema}"))?;
        println!(
            "backed up PostgreSQL schema {schema} into {} (pg_dump, verified snapshot): {} decisions, {} audit entries (root {}), {} API keys, {} policy versions",
            out.display(),
            manifest.decisions,
            manifest.audit_entries,
            manifest.audit_root,
            manifest.api_keys,
            manifest.policy_versions
        );
        return Ok(());
    }
    let bar = progress(0, "files");
    let manifest = folder_backup::backup(&data.data_dir, &out, now_ms(), &mut |done, total| {
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

/// Checks a backup and, unless only checking, restores it into a new data folder.
pub fn restore(args: RestoreArgs) -> Result<()> {
    let RestoreArgs {
        from,
        data_dir,
        check_only,
        master_key_file,
        database_url,
        database_schema,
    } = args;
    if postgres_backup::is_postgres_backup(&from) {
        let manifest = postgres_backup::check_backup(&from)?;
        if check_only {
            println!(
                "backup intact: {} files match the manifest (PostgreSQL schema {}: {} decisions, {} audit entries)",
                manifest.files.len(),
                manifest.schema,
                manifest.decisions,
                manifest.audit_entries
            );
            return Ok(());
        }
        let (Some(url), Some(schema)) = (database_url, database_schema) else {
            anyhow::bail!(
                "this is a PostgreSQL backup: name the database and the new schema to restore \
                 into (--database-url and --database-schema, or SHOPGUARD_DATABASE_URL and \
                 SHOPGUARD_DATABASE_SCHEMA)"
            );
        };
        let report =
            postgres_backup::restore(&from, &url, &schema, &data_dir, master_key_file.as_deref())?;
        println!(
            "restored {} into PostgreSQL schema {schema} and {}: {} files checked, audit log verified ({} entries, {} checkpoints), {} decisions",
            from.display(),
            data_dir.display(),
            report.files_checked,
            report.manifest.audit_entries,
            report.audit_checkpoints_checked,
            report.manifest.decisions
        );
        return Ok(());
    }
    if check_only {
        let manifest = folder_backup::check_backup(&from)?;
        println!(
            "backup intact: {} files match the manifest ({} decisions, {} audit entries)",
            manifest.files.len(),
            manifest.decisions,
            manifest.audit_entries
        );
        return Ok(());
    }
    let report = folder_backup::restore(&from, &data_dir, master_key_file.as_deref())?;
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
