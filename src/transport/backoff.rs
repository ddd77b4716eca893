//! The one backoff formula: how long to wait after failures in a row.
//! Unary rounds, health probes and every stream's reopening use it, each
//! with its own bounds.

use std::time::Duration;

/// Exponential backoff: `first`, doubling up to `max`, with an optional
/// ±20 % jitter so that many clients do not retry in lockstep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Backoff {
    first: Duration,
    max: Duration,
    jitter: bool,
}

impl Backoff {
    /// `first`, doubling up to `max`, from the first failure on.
    pub(crate) const fn new(first: Duration, max: Duration) -> Backoff {
        Backoff { first, max, jitter: false }
    }

    /// The same, with pauses no longer than `cap`.
    pub(crate) fn capped(self, cap: Duration) -> Backoff {
        Backoff { max: self.max.min(cap), first: self.first.min(cap), ..self }
    }

    /// Spread each pause by ±20 %.
    pub(crate) const fn jittered(self) -> Backoff {
        Backoff { jitter: true, ..self }
    }

    /// The pause after `failures` failures in a row (1 for the first; 0
    /// means none).
    pub(crate) fn pause(&self, failures: u32) -> Duration {
        let Some(exponent) = failures.checked_sub(1) else {
            return Duration::ZERO;
        };
        let base = self.first.saturating_mul(1u32 << exponent.min(16)).min(self.max);
        if !self.jitter {
            return base;
        }
        base.mul_f64(0.8 + 0.4 * spread())
    }
}

/// A number in [0, 1) from the clock: enough spread, no dependency.
fn spread() -> f64 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    f64::from((nanos.wrapping_mul(2_654_435_761) >> 8) % 1000) / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn doubles_from_first_to_max() {
        let backoff = Backoff::new(50 * MS, 400 * MS);
        let pauses: Vec<Duration> = (0..=6).map(|n| backoff.pause(n)).collect();
        assert_eq!(pauses, [Duration::ZERO, 50 * MS, 100 * MS, 200 * MS, 400 * MS, 400 * MS, 400 * MS]);
        assert_eq!(backoff.pause(u32::MAX), 400 * MS);
    }

    #[test]
    fn jitter_stays_within_a_fifth() {
        let backoff = Backoff::new(100 * MS, Duration::from_secs(5)).jittered();
        for failures in 1..40 {
            let plain = Backoff::new(100 * MS, Duration::from_secs(5)).pause(failures);
            let pause = backoff.pause(failures);
            assert!(pause >= plain.mul_f64(0.8) && pause <= plain.mul_f64(1.2), "{failures}: {pause:?} vs {plain:?}");
        }
    }
}
