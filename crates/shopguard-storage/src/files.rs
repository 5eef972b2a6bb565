//! File helpers shared by the append-only logs: error mapping, folder syncs, append handles.

use std::fs::{File, OpenOptions};
use std::path::Path;

use crate::{StoreError, StoreResult};

/// Maps an I/O error to [`StoreError::Io`] naming the operation.
pub(crate) fn io(operation: &'static str) -> impl FnOnce(std::io::Error) -> StoreError {
    move |source| StoreError::Io { operation, source }
}

/// Flushes a folder's entries (new, renamed or removed files) to the disk.
pub(crate) fn sync_folder(folder: &Path, operation: &'static str) -> StoreResult<()> {
    File::open(folder)
        .and_then(|handle| handle.sync_all())
        .map_err(io(operation))
}

/// Opens a file for appending (and reading), creating it when missing.
pub(crate) fn open_append(path: &Path, operation: &'static str) -> StoreResult<File> {
    OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(path)
        .map_err(io(operation))
}
