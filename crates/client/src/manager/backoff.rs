//! Bounded exponential backoff with jitter for initialization retries.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::ManagerConfig;

/// The delay before retry number `attempt + 1`: `base · 2^attempt`, capped at
/// `backoff_max`, with "equal jitter" (half fixed, half random) so many clients that
/// failed together do not retry together. A server's `Retry-After` is honoured up to
/// `backoff_max`.
pub(crate) fn delay(
    attempt: u32,
    config: &ManagerConfig,
    retry_after_secs: Option<u64>,
) -> Duration {
    let exponential = config.backoff_base.saturating_mul(1u32 << attempt.min(16));
    let capped = exponential.min(config.backoff_max);
    let jittered = capped / 2 + capped.mul_f64(jitter_fraction() / 2.0);
    match retry_after_secs {
        Some(seconds) => jittered
            .max(Duration::from_secs(seconds))
            .min(config.backoff_max),
        None => jittered,
    }
}

/// A number in [0, 1). Jitter needs spread, not secrecy: a splitmix64 sequence avoids
/// a random-number dependency that would need extra setup on wasm32.
fn jitter_fraction() -> f64 {
    static STATE: AtomicU64 = AtomicU64::new(0x9E37_79B9_7F4A_7C15);
    let mut z = STATE.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_stay_bounded_and_honour_retry_after() {
        let config = ManagerConfig::default();
        for attempt in 0..40 {
            let d = delay(attempt, &config, None);
            assert!(d <= config.backoff_max, "attempt {attempt}: {d:?}");
            let floor = config
                .backoff_base
                .saturating_mul(1 << attempt.min(16))
                .min(config.backoff_max)
                / 2;
            assert!(d >= floor, "attempt {attempt}: {d:?} < {floor:?}");
        }
        assert_eq!(delay(0, &config, Some(3)), Duration::from_secs(3));
        assert_eq!(delay(0, &config, Some(3600)), config.backoff_max);
    }
}
