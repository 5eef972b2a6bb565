//! Re-encryption: personal fields sealed again under the active data key, segment by segment.

use std::sync::Arc;

use shopguard_core::privacy::for_each_personal_field;
use shopguard_core::Event;

use super::payload::{decode, encode_body};
use super::rewrite::scan_records;
use super::DecisionSegments;
use crate::files::sync_folder;
use crate::keyring::Keyring;
use crate::record_format::Contacts;
use crate::{StoreError, StoreResult};

impl DecisionSegments {
    /// Re-encrypts the personal fields of every logged decision with the active data key
    /// (and encrypts those written in the clear before encryption was on). Returns how many
    /// records changed; `progress(done, total)` is called per segment.
    pub fn reencrypt(&self, progress: &mut dyn FnMut(usize, usize)) -> StoreResult<u64> {
        self.reencrypt_until(&mut |done, total| {
            progress(done, total);
            true
        })
    }

    /// [`DecisionSegments::reencrypt`] that stops after the segment at which
    /// `progress(done, total)` answers `false`. Each segment is rewritten whole (a new file
    /// renamed over the old), so a stop or a crash between segments leaves every record
    /// readable, and running it again changes only what is left.
    pub fn reencrypt_until(
        &self,
        progress: &mut dyn FnMut(usize, usize) -> bool,
    ) -> StoreResult<u64> {
        let Some(keyring) = self.keyring.clone() else {
            return Err(StoreError::Unavailable("field encryption (no keyring)"));
        };
        let _rewriting = self.rewriting.lock();
        {
            let mut appender = self.appender.lock();
            if !self.segments.read().open.index.offsets.is_empty() {
                self.seal_open(&mut appender)?;
            }
        }
        let sealed = self.segments.read().sealed.clone();
        let active = keyring.active_id();
        let mut changed = 0u64;
        for (done, segment) in sealed.iter().enumerate() {
            let mut changed_here = 0u64;
            let mut transform = |_: i64, body: &[u8]| -> StoreResult<Option<Vec<u8>>> {
                let mut record = decode(body)?;
                if !reseal_personal_fields(&mut record.event, &keyring, active)? {
                    return Ok(Some(body.to_vec()));
                }
                changed_here += 1;
                let mut resealed = Vec::with_capacity(body.len());
                encode_body(
                    &mut resealed,
                    &record.decision,
                    &record.event,
                    Contacts::default(),
                )?;
                Ok(Some(resealed))
            };
            // Only segments with something to change are rewritten.
            let mut needs = false;
            scan_records(segment, &mut |body| {
                if !needs {
                    needs = decode(body)
                        .is_ok_and(|mut record| needs_reseal(&mut record.event, active));
                }
            })?;
            if needs {
                let rewritten =
                    self.rewrite_segment(segment, "re-encrypting decisions", &mut transform)?;
                self.replace_sealed(segment.id, Some(Arc::new(rewritten)))?;
                changed += changed_here;
            }
            if !progress(done + 1, sealed.len()) {
                break;
            }
        }
        sync_folder(&self.folder, "syncing the decision log folder")?;
        Ok(changed)
    }
}

/// Whether any personal value of an event is in the clear or under another key than `active`
/// (a check without any cryptography).
pub(super) fn needs_reseal(event: &mut Event, active: u32) -> bool {
    let mut needs = false;
    let _ = for_each_personal_field::<std::convert::Infallible>(event, &mut |_, text| {
        needs |= Keyring::key_of(text) != Some(active);
        Ok(())
    });
    needs
}

/// Seals an event's personal values in the clear, and re-seals those under another key than
/// `active`; returns whether any changed.
pub(super) fn reseal_personal_fields(
    event: &mut Event,
    keyring: &Keyring,
    active: u32,
) -> StoreResult<bool> {
    let mut changed = false;
    for_each_personal_field(event, &mut |_, text| {
        if let Some(new_text) = resealed(keyring, active, text)? {
            *text = new_text;
            changed = true;
        }
        Ok::<(), StoreError>(())
    })?;
    Ok(changed)
}

/// A personal value sealed under `active`: `None` when it already is, its new text otherwise
/// (sealed when in the clear, opened and sealed again when under another key).
pub(super) fn resealed(keyring: &Keyring, active: u32, text: &str) -> StoreResult<Option<String>> {
    match Keyring::key_of(text) {
        Some(id) if id == active => Ok(None),
        Some(_) => Ok(Some(keyring.seal(&keyring.open(text)?)?)),
        None => Ok(Some(keyring.seal(text)?)),
    }
}
