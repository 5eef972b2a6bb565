//! `shopguard data-keys`: rotate the data key and re-encrypt the decision log offline.

use anyhow::{Context, Result};
use clap::Subcommand;
use shopguard_app::{Actor, App};

use crate::common::{progress, DataDirArgs};

#[derive(Subcommand)]
pub enum DataKeysCommand {
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

/// Runs a data-keys command.
pub fn run(command: DataKeysCommand) -> Result<()> {
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
