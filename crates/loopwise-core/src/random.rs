//! One small deterministic pseudo-random generator, SplitMix64, for everything that must give
//! the same output for the same seed on every platform and every build: the demo organisation,
//! the benchmarks' generated data, the tests' fuzzers. A crate's generator may change its
//! algorithm between versions; SplitMix64's output is fixed and documented (Steele, Lea and
//! Flood, "Fast splittable pseudorandom number generators", 2014). Not for secrets.
//!
//! Pure: no I/O, no clock, no global state; the caller chooses the seed.

/// SplitMix64: a 64-bit state advanced by a fixed odd constant and mixed into each output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub const fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, n)`; 0 when `n` is 0. Multiply-shift, whose bias (at most `n / 2^64`)
    /// does not matter here.
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// Uniform in `[low, high)`; `low` when the range is empty. Any two values, even
    /// `i64::MIN` and `i64::MAX`.
    pub fn between(&mut self, low: i64, high: i64) -> i64 {
        if high <= low {
            return low;
        }
        let span = high.abs_diff(low);
        let offset = (u128::from(self.next_u64()) * u128::from(span)) >> 64;
        // `offset < span`, so `low + offset < high`: it fits, whatever the signs.
        low.wrapping_add(offset as u64 as i64)
    }

    /// Uniform in `[0, 1)`, with 53 bits of precision.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with the given probability (never for 0 or less, always for 1 or more).
    pub fn chance(&mut self, probability: f64) -> bool {
        self.unit() < probability
    }

    /// Exponentially distributed with the given mean.
    pub fn exponential(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.unit()).ln()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_reference_output() {
        // SplitMix64 seeded with 0, as the original Java and C code gives it.
        let mut random = SplitMix64::new(0);
        assert_eq!(random.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(random.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(random.next_u64(), 0x06C4_5D18_8009_454F);
    }

    #[test]
    fn the_same_seed_gives_the_same_draws_within_bounds() {
        let mut a = SplitMix64::new(42);
        let mut b = SplitMix64::new(42);
        for _ in 0..1000 {
            let below = a.below(7);
            assert_eq!(below, b.below(7));
            assert!(below < 7);
            let between = a.between(-5, 5);
            assert_eq!(between, b.between(-5, 5));
            assert!((-5..5).contains(&between));
            let unit = a.unit();
            assert_eq!(unit, b.unit());
            assert!((0.0..1.0).contains(&unit));
            let exponential = a.exponential(3.0);
            assert_eq!(exponential, b.exponential(3.0));
            assert!(exponential >= 0.0);
        }
        assert_ne!(SplitMix64::new(1).next_u64(), SplitMix64::new(2).next_u64());
    }

    #[test]
    fn draws_by_hand() {
        // The first output of seed 0 is 0xE220A8397B1DCDAF, 0.883... of 2^64.
        assert_eq!(SplitMix64::new(0).below(10), 8);
        assert_eq!(SplitMix64::new(0).between(100, 110), 108);
        assert_eq!(SplitMix64::new(0).between(-10, 0), -2);
        let unit = SplitMix64::new(0).unit();
        assert_eq!(
            unit,
            (0xE220_A839_7B1D_CDAF_u64 >> 11) as f64 / 2f64.powi(53)
        );
        assert!(SplitMix64::new(0).chance(0.9));
        assert!(!SplitMix64::new(0).chance(0.8));
    }

    #[test]
    fn empty_and_extreme_ranges() {
        let mut random = SplitMix64::new(7);
        assert_eq!(random.below(0), 0);
        assert_eq!(random.between(3, 3), 3);
        assert_eq!(random.between(5, -5), 5);
        assert!(!random.chance(0.0));
        assert!(random.chance(1.0));
        for _ in 0..1000 {
            let wide = random.between(i64::MIN, i64::MAX);
            assert!(wide < i64::MAX);
            assert_eq!(random.below(1), 0);
            assert_eq!(random.between(i64::MAX - 1, i64::MAX), i64::MAX - 1);
            assert!(random.below(usize::MAX) < usize::MAX);
        }
    }
}
