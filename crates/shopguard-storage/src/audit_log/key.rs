//! The key that signs checkpoints, kept in the data folder.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;

use ed25519_dalek::{SigningKey, VerifyingKey};
use rand::RngCore;
use shopguard_core::audit;

use super::{corrupt, SIGNING_KEY_FILE};
use crate::files::io;
use crate::StoreResult;

/// Loads the signing key from the data folder, creating it (mode 0600) on first use.
pub fn load_or_create_signing_key(data_dir: &Path) -> StoreResult<SigningKey> {
    let path = data_dir.join(SIGNING_KEY_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => {
            let seed = audit::hex_decode::<32>(text.trim())
                .ok_or_else(|| corrupt("reading the audit signing key", "not 64 hex digits"))?;
            Ok(SigningKey::from_bytes(&seed))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let mut seed = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut seed);
            let mut options = OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            let mut file = options
                .open(&path)
                .map_err(io("creating the audit signing key"))?;
            file.write_all(format!("{}\n", hex::encode(seed)).as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(io("creating the audit signing key"))?;
            Ok(SigningKey::from_bytes(&seed))
        }
        Err(error) => Err(io("reading the audit signing key")(error)),
    }
}

/// The public key stored in a data folder.
pub fn public_key_of(data_dir: &Path) -> StoreResult<VerifyingKey> {
    let text = fs::read_to_string(data_dir.join(SIGNING_KEY_FILE))
        .map_err(io("reading the audit signing key"))?;
    let seed = audit::hex_decode::<32>(text.trim())
        .ok_or_else(|| corrupt("reading the audit signing key", "not 64 hex digits"))?;
    Ok(SigningKey::from_bytes(&seed).verifying_key())
}
