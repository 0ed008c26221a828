//! The generators' random draws.
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
}
