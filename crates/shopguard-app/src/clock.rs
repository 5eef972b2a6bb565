//! The wall clock, read in one place.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

/// Where a service reads the time: the wall clock, or (in tests) a clock that moves only
/// when told to, so that idle limits and expiries are tested without waiting.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    manual: Option<std::sync::Arc<std::sync::atomic::AtomicI64>>,
}

impl Clock {
    /// The wall clock ([`now_ms`]).
    pub fn system() -> Clock {
        Clock { manual: None }
    }

    /// A clock standing at `start_ms` until [`Clock::advance`] moves it.
    pub fn manual(start_ms: i64) -> Clock {
        Clock {
            manual: Some(std::sync::Arc::new(std::sync::atomic::AtomicI64::new(
                start_ms,
            ))),
        }
    }

    /// Milliseconds since the Unix epoch, by this clock.
    pub fn now_ms(&self) -> i64 {
        match &self.manual {
            Some(manual) => manual.load(std::sync::atomic::Ordering::SeqCst),
            None => now_ms(),
        }
    }

    /// Moves a manual clock forward by `ms` (every copy of it); the wall clock ignores it.
    pub fn advance(&self, ms: i64) {
        if let Some(manual) = &self.manual {
            manual.fetch_add(ms, std::sync::atomic::Ordering::SeqCst);
        }
    }
}
