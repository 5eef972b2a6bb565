//! The engine's state snapshot (feature counts, profiles) in the data folder, written
//! atomically: a temporary file is written and synced, then renamed over the old one.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{StoreError, StoreResult};

/// Name of the snapshot file in the data folder.
pub const SNAPSHOT_FILE: &str = "engine-state.snap";

/// Path of the snapshot in `data_dir`.
pub fn snapshot_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SNAPSHOT_FILE)
}

/// Writes the snapshot atomically.
pub fn write_snapshot(data_dir: &Path, bytes: &[u8]) -> StoreResult<()> {
    let io = |operation| move |source| StoreError::Io { operation, source };
    let final_path = snapshot_path(data_dir);
    let temporary = final_path.with_extension("snap.tmp");
    let mut file = File::create(&temporary).map_err(io("creating the snapshot"))?;
    file.write_all(bytes).map_err(io("writing the snapshot"))?;
    file.sync_all().map_err(io("syncing the snapshot"))?;
    fs::rename(&temporary, &final_path).map_err(io("replacing the snapshot"))?;
    if let Ok(folder) = File::open(data_dir) {
        let _ = folder.sync_all();
    }
    Ok(())
}

/// Reads the snapshot, if there is one.
pub fn read_snapshot(data_dir: &Path) -> StoreResult<Option<Vec<u8>>> {
    match fs::read(snapshot_path(data_dir)) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(StoreError::Io {
            operation: "reading the snapshot",
            source,
        }),
    }
}

/// Where a node keeps its engine snapshot (velocity counts and profiles). Velocity state
/// is per node, so each node has its own.
pub trait SnapshotStore: Send + Sync {
    /// Replaces the snapshot atomically: a reader sees the old one or the new one whole.
    fn write_snapshot(&self, bytes: &[u8]) -> StoreResult<()>;
    /// The snapshot, if one was written.
    fn read_snapshot(&self) -> StoreResult<Option<Vec<u8>>>;
}

/// Snapshots in a file of the data folder (the embedded backend's way).
#[derive(Clone, Debug)]
pub struct FileSnapshots {
    data_dir: PathBuf,
}

impl FileSnapshots {
    /// Snapshots in `data_dir`.
    pub fn new(data_dir: &Path) -> FileSnapshots {
        FileSnapshots {
            data_dir: data_dir.to_owned(),
        }
    }
}

impl SnapshotStore for FileSnapshots {
    fn write_snapshot(&self, bytes: &[u8]) -> StoreResult<()> {
        write_snapshot(&self.data_dir, bytes)
    }

    fn read_snapshot(&self) -> StoreResult<Option<Vec<u8>>> {
        read_snapshot(&self.data_dir)
    }
}
