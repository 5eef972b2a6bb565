//! When to try a failed delivery again: exponential backoff with jitter, pure.
//!
//! The default schedule waits 5 s, 30 s, 2 min, 10 min, 30 min and 1 h after the first six
//! failures, so the seventh attempt is the last (about 1 h 43 min after the first). Each wait
//! is spread by ±20 % from the caller's random source, so that many deliveries failing at the
//! same moment (a receiver down) do not all come back at the same moment. A peer's
//! `Retry-After` (HTTP 429/503) lengthens the wait, up to one hour. A permanent failure is
//! never retried, and no attempt is scheduled after the policy's give-up time (the notice's
//! deadline, when the caller sets one with [`RetryPolicy::until`]).

use rand::Rng;

use crate::message::DeliveryError;

/// Longest wait a peer's `Retry-After` can impose, in milliseconds.
pub const MAX_RETRY_AFTER_MS: i64 = 60 * 60 * 1000;
/// Longest single wait a schedule may hold, in milliseconds (one day).
pub const MAX_DELAY_MS: i64 = 24 * 60 * 60 * 1000;
/// Most attempts a policy may allow.
pub const MAX_ATTEMPTS: u32 = 100;
/// Largest jitter, in percent of a wait.
pub const MAX_JITTER_PERCENT: u32 = 50;

/// The waits between attempts and when to give up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    delays_ms: Vec<i64>,
    max_attempts: u32,
    jitter_percent: u32,
    give_up_at_ms: Option<i64>,
}

/// Why a retry policy was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid retry policy: {0}")]
pub struct RetryPolicyError(&'static str);

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            delays_ms: vec![5_000, 30_000, 120_000, 600_000, 1_800_000, 3_600_000],
            max_attempts: 7,
            jitter_percent: 20,
            give_up_at_ms: None,
        }
    }
}

impl RetryPolicy {
    /// A policy with these waits (the last one repeats while attempts remain), at most
    /// `max_attempts` attempts in all (the first included) and ±`jitter_percent` spread.
    pub fn new(
        delays_ms: Vec<i64>,
        max_attempts: u32,
        jitter_percent: u32,
    ) -> Result<Self, RetryPolicyError> {
        if delays_ms.is_empty() {
            return Err(RetryPolicyError("at least one wait is required"));
        }
        if delays_ms
            .iter()
            .any(|&delay| delay <= 0 || delay > MAX_DELAY_MS)
        {
            return Err(RetryPolicyError("each wait must be 1 ms to 24 h"));
        }
        if max_attempts == 0 || max_attempts > MAX_ATTEMPTS {
            return Err(RetryPolicyError("max_attempts must be 1 to 100"));
        }
        if jitter_percent > MAX_JITTER_PERCENT {
            return Err(RetryPolicyError("jitter_percent must be 0 to 50"));
        }
        Ok(Self {
            delays_ms,
            max_attempts,
            jitter_percent,
            give_up_at_ms: None,
        })
    }

    /// The same policy, giving up at `give_up_at_ms` (Unix milliseconds): no attempt is
    /// scheduled after it.
    pub fn until(mut self, give_up_at_ms: i64) -> Self {
        self.give_up_at_ms = Some(give_up_at_ms);
        self
    }

    /// Most attempts in all, the first included.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// When to make the next attempt, in Unix milliseconds, after attempt `attempt_no`
    /// (1 for the first) failed with `last_error` at `now_ms`; `None` to give up.
    pub fn next_attempt(
        &self,
        attempt_no: u32,
        last_error: &DeliveryError,
        now_ms: i64,
        rng: &mut impl Rng,
    ) -> Option<i64> {
        if !last_error.is_retryable() || attempt_no >= self.max_attempts {
            return None;
        }
        let index = usize::try_from(attempt_no.max(1) - 1)
            .unwrap_or(usize::MAX)
            .min(self.delays_ms.len() - 1);
        let base = self.delays_ms[index];
        let spread = base * i64::from(self.jitter_percent) / 100;
        let jittered = if spread > 0 {
            base + rng.gen_range(-spread..=spread)
        } else {
            base
        };
        let wait = match last_error.retry_after_ms() {
            Some(asked) => jittered.max(asked.clamp(0, MAX_RETRY_AFTER_MS)),
            None => jittered,
        }
        .max(1);
        let at = now_ms.saturating_add(wait);
        match self.give_up_at_ms {
            Some(limit) if at > limit => None,
            _ => Some(at),
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;
    use crate::message::Retryability;

    fn timeout() -> DeliveryError {
        DeliveryError::Timeout("no answer".into())
    }

    #[test]
    fn the_default_schedule_backs_off_within_its_jitter() {
        let policy = RetryPolicy::default();
        let mut rng = StdRng::seed_from_u64(7);
        let expected = [5_000, 30_000, 120_000, 600_000, 1_800_000, 3_600_000];
        for seed_round in 0..200 {
            for (index, base) in expected.iter().enumerate() {
                let attempt = u32::try_from(index).unwrap() + 1;
                let at = policy
                    .next_attempt(attempt, &timeout(), 1_000, &mut rng)
                    .unwrap_or_else(|| panic!("round {seed_round} attempt {attempt} gave up"));
                let wait = at - 1_000;
                assert!(
                    wait >= base * 8 / 10 && wait <= base * 12 / 10,
                    "attempt {attempt}: {wait} ms is outside ±20 % of {base}"
                );
            }
        }
        // The seventh attempt is the last.
        assert_eq!(policy.next_attempt(7, &timeout(), 1_000, &mut rng), None);
    }

    #[test]
    fn jitter_spreads_the_waits() {
        let policy = RetryPolicy::default();
        let mut rng = StdRng::seed_from_u64(1);
        let waits: std::collections::BTreeSet<i64> = (0..50)
            .map(|_| policy.next_attempt(1, &timeout(), 0, &mut rng).unwrap())
            .collect();
        assert!(waits.len() > 25, "{waits:?}");
    }

    #[test]
    fn permanent_failures_are_not_retried() {
        let policy = RetryPolicy::default();
        let mut rng = StdRng::seed_from_u64(1);
        let refused = DeliveryError::Rejected {
            code: 400,
            message: "bad signature".into(),
            retryability: Retryability::Permanent,
            retry_after_ms: None,
        };
        assert_eq!(policy.next_attempt(1, &refused, 0, &mut rng), None);
        let forbidden = DeliveryError::TargetForbidden("loopback".into());
        assert_eq!(policy.next_attempt(1, &forbidden, 0, &mut rng), None);
    }

    #[test]
    fn retry_after_lengthens_the_wait_up_to_an_hour() {
        let policy = RetryPolicy::new(vec![1_000], 5, 0).unwrap();
        let mut rng = StdRng::seed_from_u64(1);
        let busy = |retry_after_ms| DeliveryError::Rejected {
            code: 429,
            message: String::new(),
            retryability: Retryability::Retryable,
            retry_after_ms: Some(retry_after_ms),
        };
        assert_eq!(
            policy.next_attempt(1, &busy(90_000), 0, &mut rng),
            Some(90_000)
        );
        assert_eq!(policy.next_attempt(1, &busy(10), 0, &mut rng), Some(1_000));
        assert_eq!(
            policy.next_attempt(1, &busy(i64::MAX), 0, &mut rng),
            Some(MAX_RETRY_AFTER_MS)
        );
    }

    #[test]
    fn the_last_wait_repeats_and_the_deadline_stops_it() {
        let policy = RetryPolicy::new(vec![100, 200], 10, 0).unwrap();
        let mut rng = StdRng::seed_from_u64(1);
        assert_eq!(policy.next_attempt(1, &timeout(), 0, &mut rng), Some(100));
        assert_eq!(policy.next_attempt(2, &timeout(), 0, &mut rng), Some(200));
        assert_eq!(policy.next_attempt(9, &timeout(), 0, &mut rng), Some(200));
        assert_eq!(policy.next_attempt(10, &timeout(), 0, &mut rng), None);
        let bounded = policy.until(1_150);
        assert_eq!(
            bounded.next_attempt(2, &timeout(), 950, &mut rng),
            Some(1_150)
        );
        assert_eq!(bounded.next_attempt(2, &timeout(), 951, &mut rng), None);
    }

    #[test]
    fn bad_policies_are_refused() {
        assert!(RetryPolicy::new(vec![], 3, 0).is_err());
        assert!(RetryPolicy::new(vec![0], 3, 0).is_err());
        assert!(RetryPolicy::new(vec![10], 0, 0).is_err());
        assert!(RetryPolicy::new(vec![10], 3, 51).is_err());
        assert!(RetryPolicy::new(vec![MAX_DELAY_MS + 1], 3, 0).is_err());
    }
}
