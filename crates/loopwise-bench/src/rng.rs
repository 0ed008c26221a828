//! The generators' random draws and a calendar helper.
//!
//! Every generated repository and data set must be the same for the same seed on every
//! platform and every build, so the draws come from the core's SplitMix64 (fixed, documented
//! output), the same generator as the demo's; the helpers here are the ones only the
//! benchmarks use.

pub use loopwise_core::random::SplitMix64;

/// Draws of the benchmarks' generators beyond the core's.
pub trait Draws {
    /// One element of a slice; `None` for an empty one.
    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T>;
}

impl Draws for SplitMix64 {
    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        items.get(self.below(items.len()))
    }
}

/// Civil date (year, month, day) of a Unix time, UTC (Howard Hinnant's `civil_from_days`).
pub fn civil_from_unix(secs: i64) -> (i64, u32, u32) {
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_within_the_slice_and_none_from_an_empty_one() {
        let mut rng = SplitMix64::new(0);
        // The first draw of seed 0 is 0.883... of the range.
        assert_eq!(rng.pick(&["a", "b", "c", "d"]), Some(&"d"));
        assert!(rng.pick::<u8>(&[]).is_none());
        let mut a = SplitMix64::new(42);
        let mut b = SplitMix64::new(42);
        for _ in 0..1000 {
            let picked = a.pick(&[1, 2, 3]);
            assert_eq!(picked, b.pick(&[1, 2, 3]));
            assert!(picked.is_some());
        }
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_unix(0), (1970, 1, 1));
        assert_eq!(civil_from_unix(951_782_400), (2000, 2, 29));
        assert_eq!(civil_from_unix(1_578_301_200), (2020, 1, 6));
        assert_eq!(civil_from_unix(-1), (1969, 12, 31));
    }
}
