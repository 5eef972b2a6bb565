//! Field encryption: data keys wrapped by a master key, AES-256-GCM, rotation.
//!
//! - The **master key** never encrypts data. It wraps data keys, and it stays out of the
//!   database. [`LocalMasterKey`] reads it from `SHOPGUARD_MASTER_KEY` (64 hex digits) or
//!   from `<data>/master.key`, creating that file (mode 0600) on first start. A KMS can
//!   replace it by implementing [`MasterKey`].
//! - **Data keys** are random 256-bit AES-GCM keys, stored wrapped in SQLite
//!   (`data_keys`). The newest one encrypts; all of them decrypt. Rotation adds a key and
//!   needs no downtime. Re-encryption moves old records to the newest key.
//! - A **sealed value** is text: `enc1.<data key id>.<base64url(nonce ‖ ciphertext ‖ tag)>`,
//!   with a fresh 96-bit random nonce each time.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use aes_gcm::aead::{Aead, AeadInPlace};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use base64::Engine as _;
use parking_lot::RwLock;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::files::io;
use crate::{StoreError, StoreResult};

/// Prefix of sealed values.
pub const SEALED_PREFIX: &str = "enc1.";
/// Environment variable that may hold the master key (64 hex digits).
pub const MASTER_KEY_VARIABLE: &str = "SHOPGUARD_MASTER_KEY";
/// File in the data folder that holds the master key when the variable is not set.
pub const MASTER_KEY_FILE: &str = "master.key";

fn corrupt(operation: &'static str, detail: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        operation,
        detail: detail.into(),
    }
}

/// What wraps and unwraps data keys: a local key, or a KMS.
pub trait MasterKey: Send + Sync {
    /// Names the master key (stored beside each wrapped data key).
    fn id(&self) -> String;
    /// Encrypts a data key.
    fn wrap(&self, data_key: &[u8; 32]) -> StoreResult<Vec<u8>>;
    /// Decrypts a data key.
    fn unwrap(&self, wrapped: &[u8]) -> StoreResult<[u8; 32]>;
}

/// A master key held locally (environment variable or file).
pub struct LocalMasterKey {
    cipher: Aes256Gcm,
    id: String,
}

impl std::fmt::Debug for LocalMasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalMasterKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl LocalMasterKey {
    /// The master key from `SHOPGUARD_MASTER_KEY`, else from `<data_dir>/master.key`
    /// (created on first use).
    pub fn load(data_dir: &Path) -> StoreResult<LocalMasterKey> {
        let operation = "loading the master key";
        let hex_key = match std::env::var(MASTER_KEY_VARIABLE) {
            Ok(value) => value,
            Err(_) => {
                let path = data_dir.join(MASTER_KEY_FILE);
                match fs::read_to_string(&path) {
                    Ok(text) => text,
                    Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                        let mut key = [0u8; 32];
                        rand::rngs::OsRng.fill_bytes(&mut key);
                        let text = hex::encode(key);
                        let mut options = fs::OpenOptions::new();
                        options.write(true).create_new(true);
                        #[cfg(unix)]
                        {
                            use std::os::unix::fs::OpenOptionsExt;
                            options.mode(0o600);
                        }
                        let mut file = options.open(&path).map_err(io(operation))?;
                        file.write_all(format!("{text}\n").as_bytes())
                            .and_then(|()| file.sync_all())
                            .map_err(io(operation))?;
                        tracing::warn!(
                            path = %path.display(),
                            "created a master key beside the data; in production set SHOPGUARD_MASTER_KEY or use a KMS"
                        );
                        text
                    }
                    Err(error) => return Err(io(operation)(error)),
                }
            }
        };
        LocalMasterKey::from_hex(&hex_key)
    }

    /// The master key in `path` (64 hex digits), which must exist.
    pub fn from_file(path: &Path) -> StoreResult<LocalMasterKey> {
        let text = fs::read_to_string(path).map_err(io("reading the master key file"))?;
        LocalMasterKey::from_hex(&text)
    }

    /// The master key from `SHOPGUARD_MASTER_KEY`, when it is set.
    pub fn from_environment() -> Option<StoreResult<LocalMasterKey>> {
        std::env::var(MASTER_KEY_VARIABLE)
            .ok()
            .map(|value| LocalMasterKey::from_hex(&value))
    }

    fn from_hex(text: &str) -> StoreResult<LocalMasterKey> {
        let bytes: [u8; 32] = hex::decode(text.trim())
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| {
                corrupt(
                    "loading the master key",
                    "the master key must be 64 hex digits",
                )
            })?;
        Ok(LocalMasterKey::from_bytes(&bytes))
    }

    /// A master key from its 32 bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> LocalMasterKey {
        let id = hex::encode(
            &Sha256::digest([b"shopguard-master-key-id".as_slice(), bytes].concat())[..8],
        );
        LocalMasterKey {
            cipher: Aes256Gcm::new(bytes.into()),
            id,
        }
    }
}

impl MasterKey for LocalMasterKey {
    fn id(&self) -> String {
        self.id.clone()
    }

    fn wrap(&self, data_key: &[u8; 32]) -> StoreResult<Vec<u8>> {
        seal_bytes(&self.cipher, data_key)
            .ok_or_else(|| corrupt("wrapping a data key", "encryption failed"))
    }

    fn unwrap(&self, wrapped: &[u8]) -> StoreResult<[u8; 32]> {
        let plain = open_bytes(&self.cipher, wrapped).ok_or_else(|| {
            corrupt(
                "unwrapping a data key",
                "wrong master key, or the wrapped key was altered",
            )
        })?;
        plain
            .try_into()
            .map_err(|_| corrupt("unwrapping a data key", "a data key is not 32 bytes"))
    }
}

/// `nonce || ciphertext || tag`, encrypted in place in one buffer (this runs for every logged
/// event with an email or a phone).
fn seal_bytes(cipher: &Aes256Gcm, plain: &[u8]) -> Option<Vec<u8>> {
    let mut sealed = Vec::with_capacity(12 + plain.len() + 16);
    sealed.resize(12, 0);
    rand::thread_rng().fill_bytes(&mut sealed);
    sealed.extend_from_slice(plain);
    let (nonce, text) = sealed.split_at_mut(12);
    let tag = cipher
        .encrypt_in_place_detached(Nonce::from_slice(nonce), b"", text)
        .ok()?;
    sealed.extend_from_slice(&tag);
    Some(sealed)
}

fn open_bytes(cipher: &Aes256Gcm, sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < 12 + 16 {
        return None;
    }
    let (nonce, ciphertext) = sealed.split_at(12);
    cipher.decrypt(Nonce::from_slice(nonce), ciphertext).ok()
}

/// A data key as stored: wrapped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataKeyRecord {
    /// Its id (grows with each rotation).
    pub id: u32,
    /// The key, wrapped by the master key.
    pub wrapped: Vec<u8>,
    /// Which master key wrapped it.
    pub master_id: String,
    /// When it was made.
    pub created_at_ms: i64,
}

/// The data keys in memory, ready to seal and open values.
pub struct Keyring {
    keys: RwLock<BTreeMap<u32, Aes256Gcm>>,
    active: AtomicU32,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("active", &self.active.load(Ordering::Relaxed))
            .field("keys", &self.keys.read().len())
            .finish()
    }
}

impl Keyring {
    /// Unwraps stored data keys; the newest becomes active.
    pub fn from_records(master: &dyn MasterKey, records: &[DataKeyRecord]) -> StoreResult<Keyring> {
        let mut keys = BTreeMap::new();
        for record in records {
            let key = master.unwrap(&record.wrapped)?;
            keys.insert(record.id, Aes256Gcm::new(&key.into()));
        }
        let active = keys.keys().next_back().copied().unwrap_or(0);
        Ok(Keyring {
            keys: RwLock::new(keys),
            active: AtomicU32::new(active),
        })
    }

    /// Makes a new data key, wrapped for storage; add it with [`Keyring::add`] once stored.
    pub fn new_data_key(
        master: &dyn MasterKey,
        id: u32,
        now_ms: i64,
    ) -> StoreResult<([u8; 32], DataKeyRecord)> {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        let record = DataKeyRecord {
            id,
            wrapped: master.wrap(&key)?,
            master_id: master.id(),
            created_at_ms: now_ms,
        };
        Ok((key, record))
    }

    /// Adds a stored data key and makes it the active one.
    pub fn add(&self, id: u32, key: &[u8; 32]) {
        self.keys.write().insert(id, Aes256Gcm::new(key.into()));
        self.active.fetch_max(id, Ordering::AcqRel);
    }

    /// The id of the key that seals new values (0 when there is none).
    pub fn active_id(&self) -> u32 {
        self.active.load(Ordering::Acquire)
    }

    /// Encrypts a value with the active key.
    pub fn seal(&self, plain: &str) -> StoreResult<String> {
        let id = self.active_id();
        let keys = self.keys.read();
        let cipher = keys
            .get(&id)
            .ok_or_else(|| corrupt("encrypting a field", "no data key"))?;
        let sealed = seal_bytes(cipher, plain.as_bytes())
            .ok_or_else(|| corrupt("encrypting a field", "encryption failed"))?;
        use std::fmt::Write as _;
        // Written into one string sized up front: this runs for every logged event that
        // carries a phone number or an email address.
        let mut token = String::with_capacity(SEALED_PREFIX.len() + 12 + sealed.len() * 4 / 3);
        token.push_str(SEALED_PREFIX);
        let _ = write!(token, "{id}.");
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_string(sealed, &mut token);
        Ok(token)
    }

    /// The id of the key that sealed `token`, when it is a sealed value.
    pub fn key_of(token: &str) -> Option<u32> {
        token
            .strip_prefix(SEALED_PREFIX)?
            .split_once('.')?
            .0
            .parse()
            .ok()
    }

    /// Decrypts a sealed value.
    pub fn open(&self, token: &str) -> StoreResult<String> {
        let operation = "decrypting a field";
        let (id, body) = token
            .strip_prefix(SEALED_PREFIX)
            .and_then(|rest| rest.split_once('.'))
            .ok_or_else(|| corrupt(operation, "not a sealed value"))?;
        let id: u32 = id.parse().map_err(|_| corrupt(operation, "bad key id"))?;
        let sealed = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| corrupt(operation, "bad encoding"))?;
        let keys = self.keys.read();
        let cipher = keys
            .get(&id)
            .ok_or_else(|| corrupt(operation, format!("data key {id} is unknown")))?;
        let plain = open_bytes(cipher, &sealed)
            .ok_or_else(|| corrupt(operation, "the value was altered or the key is wrong"))?;
        String::from_utf8(plain).map_err(|_| corrupt(operation, "not text"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_seal_open_and_survive_rotation() {
        let master = LocalMasterKey::from_bytes(&[9u8; 32]);
        let (first_key, first) = Keyring::new_data_key(&master, 1, 0).unwrap();
        let keyring = Keyring::from_records(&master, std::slice::from_ref(&first)).unwrap();
        assert_eq!(keyring.active_id(), 1);
        let sealed = keyring.seal("13812341234").unwrap();
        assert!(sealed.starts_with("enc1.1."));
        assert!(!sealed.contains("1381234"));
        assert_ne!(
            sealed,
            keyring.seal("13812341234").unwrap(),
            "fresh nonce each time"
        );
        assert_eq!(keyring.open(&sealed).unwrap(), "13812341234");

        let (second_key, second) = Keyring::new_data_key(&master, 2, 1).unwrap();
        keyring.add(2, &second_key);
        assert_eq!(keyring.active_id(), 2);
        assert_eq!(Keyring::key_of(&keyring.seal("x").unwrap()), Some(2));
        assert_eq!(
            keyring.open(&sealed).unwrap(),
            "13812341234",
            "old keys still open"
        );

        // Reloaded from storage, with the right master key only.
        let reloaded = Keyring::from_records(&master, &[first, second.clone()]).unwrap();
        assert_eq!(reloaded.open(&sealed).unwrap(), "13812341234");
        let wrong = LocalMasterKey::from_bytes(&[8u8; 32]);
        assert!(Keyring::from_records(&wrong, &[second]).is_err());
        assert_ne!(first_key, second_key);

        let mut altered = sealed.clone();
        altered.pop();
        altered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(keyring.open(&altered).is_err());
    }
}
