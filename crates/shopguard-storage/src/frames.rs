//! Checksummed frames: the unit of every append-only file shopguard writes.
//!
//! A frame is `[u32 LE payload length][u32 LE CRC-32 of the payload][payload]`. A reader that
//! meets a frame whose header runs past the end of the file, whose length exceeds
//! [`MAX_FRAME`], or whose checksum does not match, stops there: everything before that point
//! is intact, and what follows is a torn write from a crash (or damage, which the caller
//! reports). Writers only ever append whole frames, so truncating at the first bad frame
//! recovers the file.

use std::fs::File;
use std::io::{BufReader, Read};
use std::os::unix::fs::FileExt;

/// Bytes of a frame header.
pub const HEADER: usize = 8;
/// Largest payload a frame may carry (64 MiB); anything larger is damage.
pub const MAX_FRAME: u32 = 64 * 1024 * 1024;

/// Appends one frame holding `payload` to `buffer`.
pub fn push_frame(buffer: &mut Vec<u8>, payload: &[u8]) {
    debug_assert!(payload.len() <= MAX_FRAME as usize);
    buffer.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    buffer.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    buffer.extend_from_slice(payload);
}

/// Appends a frame whose payload the caller writes into `buffer` with `write`, without a
/// copy: the header is reserved first and filled in after.
pub fn push_frame_with(buffer: &mut Vec<u8>, write: impl FnOnce(&mut Vec<u8>)) {
    let written: Result<(), std::convert::Infallible> = try_push_frame_with(buffer, |out| {
        write(out);
        Ok(())
    });
    let Ok(()) = written;
}

/// As [`push_frame_with`], for a `write` that may fail: then nothing is appended.
pub fn try_push_frame_with<E>(
    buffer: &mut Vec<u8>,
    write: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
) -> Result<(), E> {
    let start = buffer.len();
    buffer.extend_from_slice(&[0; HEADER]);
    if let Err(error) = write(buffer) {
        buffer.truncate(start);
        return Err(error);
    }
    let length = (buffer.len() - start - HEADER) as u32;
    let checksum = crc32fast::hash(&buffer[start + HEADER..]);
    buffer[start..start + 4].copy_from_slice(&length.to_le_bytes());
    buffer[start + 4..start + HEADER].copy_from_slice(&checksum.to_le_bytes());
    Ok(())
}

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The file could not be read.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The frame is cut short, oversized or fails its checksum.
    #[error("bad frame at byte {offset}: {reason}")]
    Bad {
        /// Where the frame starts.
        offset: u64,
        /// What is wrong.
        reason: &'static str,
    },
}

/// Reads the frame that starts at `offset`; returns its payload.
pub fn read_frame_at(file: &File, offset: u64) -> Result<Vec<u8>, FrameError> {
    let mut header = [0u8; HEADER];
    file.read_exact_at(&mut header, offset)
        .map_err(|error| short_or_io(error, offset))?;
    let (length, checksum) = split_header(&header);
    if length > MAX_FRAME {
        return Err(FrameError::Bad {
            offset,
            reason: "length out of range",
        });
    }
    let mut payload = vec![0u8; length as usize];
    file.read_exact_at(&mut payload, offset + HEADER as u64)
        .map_err(|error| short_or_io(error, offset))?;
    if crc32fast::hash(&payload) != checksum {
        return Err(FrameError::Bad {
            offset,
            reason: "checksum mismatch",
        });
    }
    Ok(payload)
}

fn short_or_io(error: std::io::Error, offset: u64) -> FrameError {
    if error.kind() == std::io::ErrorKind::UnexpectedEof {
        FrameError::Bad {
            offset,
            reason: "cut short",
        }
    } else {
        FrameError::Io(error)
    }
}

fn split_header(header: &[u8; HEADER]) -> (u32, u32) {
    let length = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let checksum = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    (length, checksum)
}

/// Reads a file from its start by position, whatever its cursor (an appending handle's
/// cursor is at the end).
struct FromStart<'a> {
    file: &'a File,
    position: u64,
}

impl Read for FromStart<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let read = self.file.read_at(buffer, self.position)?;
        self.position += read as u64;
        Ok(read)
    }
}

/// How a sequential read of a frame file ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanEnd {
    /// Every byte belonged to a good frame.
    Clean,
    /// A bad or partial frame starts at this offset; the good data ends there.
    BadFrameAt {
        /// Offset of the first bad frame.
        offset: u64,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Reads a frame file from the start, calling `visit(offset, payload)` for each good frame,
/// and says where the good data ends.
pub fn scan_frames(
    file: &File,
    mut visit: impl FnMut(u64, &[u8]) -> Result<(), FrameError>,
) -> Result<ScanEnd, FrameError> {
    let length = file.metadata()?.len();
    let mut reader = BufReader::with_capacity(1 << 20, FromStart { file, position: 0 });
    let mut offset = 0u64;
    let mut payload = Vec::new();
    while offset < length {
        let mut header = [0u8; HEADER];
        if length - offset < HEADER as u64 {
            return Ok(ScanEnd::BadFrameAt {
                offset,
                reason: "header cut short",
            });
        }
        reader.read_exact(&mut header)?;
        let (frame_length, checksum) = split_header(&header);
        if frame_length > MAX_FRAME {
            return Ok(ScanEnd::BadFrameAt {
                offset,
                reason: "length out of range",
            });
        }
        if length - offset - (HEADER as u64) < u64::from(frame_length) {
            return Ok(ScanEnd::BadFrameAt {
                offset,
                reason: "payload cut short",
            });
        }
        payload.resize(frame_length as usize, 0);
        reader.read_exact(&mut payload)?;
        if crc32fast::hash(&payload) != checksum {
            return Ok(ScanEnd::BadFrameAt {
                offset,
                reason: "checksum mismatch",
            });
        }
        visit(offset, &payload)?;
        offset += HEADER as u64 + u64::from(frame_length);
    }
    Ok(ScanEnd::Clean)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn frames_round_trip_and_a_torn_tail_is_found() {
        let mut file = tempfile::tempfile().unwrap();
        let mut buffer = Vec::new();
        push_frame(&mut buffer, b"first");
        push_frame_with(&mut buffer, |out| out.extend_from_slice(b"second!"));
        file.write_all(&buffer).unwrap();
        let good_end = buffer.len() as u64;
        // A torn write: a header and half a payload.
        let mut torn = Vec::new();
        push_frame(&mut torn, b"never finished");
        file.write_all(&torn[..12]).unwrap();

        let mut seen = Vec::new();
        let end = scan_frames(&file, |offset, payload| {
            seen.push((offset, payload.to_vec()));
            Ok(())
        })
        .unwrap();
        assert_eq!(
            seen,
            vec![(0, b"first".to_vec()), (13, b"second!".to_vec())]
        );
        assert_eq!(
            end,
            ScanEnd::BadFrameAt {
                offset: good_end,
                reason: "payload cut short"
            }
        );
        assert_eq!(read_frame_at(&file, 13).unwrap(), b"second!");
        assert!(matches!(
            read_frame_at(&file, good_end),
            Err(FrameError::Bad { .. })
        ));
    }

    #[test]
    fn a_flipped_bit_fails_the_checksum() {
        let mut file = tempfile::tempfile().unwrap();
        let mut buffer = Vec::new();
        push_frame(&mut buffer, b"payload");
        buffer[10] ^= 1;
        file.write_all(&buffer).unwrap();
        let end = scan_frames(&file, |_, _| Ok(())).unwrap();
        assert_eq!(
            end,
            ScanEnd::BadFrameAt {
                offset: 0,
                reason: "checksum mismatch"
            }
        );
        assert!(matches!(
            read_frame_at(&file, 0),
            Err(FrameError::Bad {
                reason: "checksum mismatch",
                ..
            })
        ));
    }
}
