//! The engine snapshot's file format: a versioned header around the state's bytes.
//!
//! # Layout
//! Every version starts with the magic `SGSNAP` and two ASCII digits, the format version.
//!
//! - **Version 1** (`SGSNAP01`, written until this module existed): the body follows the
//!   header directly. It carried no length or checksum, and its enums were written by
//!   declaration index; those indices are the explicit codes of [`crate::codes`] today, so
//!   the body reads as version 2's does.
//! - **Version 2** (`SGSNAP02`, written now): the body's length (`u64` LE) and its CRC-32
//!   (`u32` LE, IEEE), then the body.
//!
//! The body is postcard: the feature states (a count, then per state its window shape and its
//! `(key, series)` entries), then the profiles (`(user hash, profile)` entries). Enums in it
//! are written as their stored codes.
//!
//! # Migration
//! A build reads every version older than the one it writes. A change to anything in the
//! body (a new profile field, a new kind of series) takes the next version: the types as they
//! were are copied into a frozen reader for the old version, which converts what it reads
//! into today's types, and a golden file of the new version is added beside the old ones
//! (`crates/shopguard-storage/tests/golden/`). Golden files are never regenerated.

/// Magic that starts every snapshot, before the two version digits.
pub const MAGIC: &[u8; 6] = b"SGSNAP";
/// The version this build writes.
pub const CURRENT_VERSION: u8 = 2;
/// Bytes of the header: magic and version digits, plus for version 2 the body's length and
/// checksum.
const HEADER_V2: usize = 8 + 8 + 4;

/// Why a snapshot could not be taken or loaded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// The bytes do not start with `SGSNAP` and two digits.
    #[error("not an engine snapshot: it lacks the SGSNAP header")]
    NotASnapshot,
    /// Written by a newer build, in a version this one does not know.
    #[error("engine snapshot version {found} is newer than this build reads (up to {newest})")]
    Newer {
        /// The file's version.
        found: u8,
        /// The newest version this build reads.
        newest: u8,
    },
    /// The file ends inside its header.
    #[error("engine snapshot version {version} ends inside its header")]
    Truncated {
        /// The file's version.
        version: u8,
    },
    /// The body is shorter or longer than its header says.
    #[error(
        "engine snapshot version {version} holds {actual} body bytes, its header says {expected}"
    )]
    Length {
        /// The file's version.
        version: u8,
        /// Body bytes the header announces.
        expected: u64,
        /// Body bytes present.
        actual: u64,
    },
    /// The body's checksum does not match: the file was damaged.
    #[error("engine snapshot version {version} is damaged: its checksum does not match")]
    Checksum {
        /// The file's version.
        version: u8,
    },
    /// The body does not decode as its version's layout.
    #[error("engine snapshot version {version} does not decode: {reason}")]
    Body {
        /// The file's version.
        version: u8,
        /// What the decoder said.
        reason: String,
    },
    /// The state could not be encoded.
    #[error("engine snapshot could not be encoded: {0}")]
    Encode(String),
}

/// Starts a snapshot of the current version: the header, with room for the body's length
/// and checksum, which [`finish`] fills in.
pub(crate) fn start() -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEADER_V2);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&version_digits(CURRENT_VERSION));
    bytes.extend_from_slice(&[0; 12]);
    bytes
}

/// Fills in the length and checksum of the body appended after [`start`].
pub(crate) fn finish(bytes: &mut [u8]) {
    debug_assert!(bytes.len() >= HEADER_V2 && bytes.starts_with(MAGIC));
    let (header, body) = bytes.split_at_mut(HEADER_V2);
    header[8..16].copy_from_slice(&(body.len() as u64).to_le_bytes());
    header[16..20].copy_from_slice(&crc32fast::hash(body).to_le_bytes());
}

/// The version of a snapshot, from its header.
pub fn version_of(bytes: &[u8]) -> Result<u8, SnapshotError> {
    let digits = bytes
        .strip_prefix(MAGIC.as_slice())
        .and_then(|rest| rest.get(..2))
        .ok_or(SnapshotError::NotASnapshot)?;
    match (digits[0], digits[1]) {
        (tens @ b'0'..=b'9', ones @ b'0'..=b'9') if digits != b"00" => {
            Ok((tens - b'0') * 10 + (ones - b'0'))
        }
        _ => Err(SnapshotError::NotASnapshot),
    }
}

/// The version and body of a snapshot of any version this build reads, its checksum checked.
pub(crate) fn body_of(bytes: &[u8]) -> Result<(u8, &[u8]), SnapshotError> {
    let version = version_of(bytes)?;
    match version {
        1 => Ok((1, &bytes[8..])),
        2 => {
            if bytes.len() < HEADER_V2 {
                return Err(SnapshotError::Truncated { version });
            }
            let (header, body) = bytes.split_at(HEADER_V2);
            let mut length = [0u8; 8];
            length.copy_from_slice(&header[8..16]);
            let mut checksum = [0u8; 4];
            checksum.copy_from_slice(&header[16..20]);
            let expected = u64::from_le_bytes(length);
            if expected != body.len() as u64 {
                return Err(SnapshotError::Length {
                    version,
                    expected,
                    actual: body.len() as u64,
                });
            }
            if crc32fast::hash(body) != u32::from_le_bytes(checksum) {
                return Err(SnapshotError::Checksum { version });
            }
            Ok((version, body))
        }
        found => Err(SnapshotError::Newer {
            found,
            newest: CURRENT_VERSION,
        }),
    }
}

fn version_digits(version: u8) -> [u8; 2] {
    debug_assert!(version < 100);
    [b'0' + version / 10, b'0' + version % 10]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn current(body: &[u8]) -> Vec<u8> {
        let mut bytes = start();
        bytes.extend_from_slice(body);
        finish(&mut bytes);
        bytes
    }

    #[test]
    fn the_header_names_its_version_and_guards_its_body() {
        let bytes = current(b"state");
        assert_eq!(&bytes[..8], b"SGSNAP02");
        assert_eq!(version_of(&bytes), Ok(2));
        assert_eq!(body_of(&bytes), Ok((2, b"state".as_slice())));
        let mut damaged = bytes.clone();
        *damaged.last_mut().unwrap() ^= 1;
        assert_eq!(
            body_of(&damaged),
            Err(SnapshotError::Checksum { version: 2 })
        );
        assert_eq!(
            body_of(&bytes[..bytes.len() - 1]),
            Err(SnapshotError::Length {
                version: 2,
                expected: 5,
                actual: 4
            })
        );
        assert_eq!(
            body_of(&bytes[..12]),
            Err(SnapshotError::Truncated { version: 2 })
        );
    }

    #[test]
    fn version_one_has_no_length_or_checksum() {
        assert_eq!(body_of(b"SGSNAP01body"), Ok((1, b"body".as_slice())));
        assert_eq!(body_of(b"SGSNAP01"), Ok((1, b"".as_slice())));
    }

    #[test]
    fn unknown_headers_and_newer_versions_are_named() {
        assert_eq!(
            body_of(b"SGSNAP03...."),
            Err(SnapshotError::Newer {
                found: 3,
                newest: 2
            })
        );
        assert_eq!(body_of(b"SGSNAP"), Err(SnapshotError::NotASnapshot));
        assert_eq!(body_of(b"SGSNAPx1"), Err(SnapshotError::NotASnapshot));
        assert_eq!(body_of(b"SGSNAP00"), Err(SnapshotError::NotASnapshot));
        assert_eq!(body_of(b""), Err(SnapshotError::NotASnapshot));
        assert_eq!(
            body_of(b"\x00\x01postcard"),
            Err(SnapshotError::NotASnapshot)
        );
    }
}
