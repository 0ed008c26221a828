//! Order statistics used by every duration metric.

/// The `p`-quantile (0 ≤ p ≤ 1) of `sorted` (ascending), interpolated linearly between the two
/// closest ranks: with `h = (n - 1) p`, the value is `x[⌊h⌋] + (h - ⌊h⌋)(x[⌊h⌋+1] - x[⌊h⌋])`.
/// This is Hyndman and Fan's type 7, the default of numpy, R and PostgreSQL's `percentile_cont`.
/// `None` for an empty slice.
pub fn quantile_sorted(sorted: &[f64], p: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let p = p.clamp(0.0, 1.0);
    let rank = last as f64 * p;
    let lower = rank.floor() as usize;
    let upper = (lower + 1).min(last);
    let fraction = rank - lower as f64;
    Some(sorted[lower] + fraction * (sorted[upper] - sorted[lower]))
}

/// Median, p90 and mean of a sample, or `None` when it is empty.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub count: usize,
    pub median: f64,
    pub p90: f64,
    pub mean: f64,
}

impl Summary {
    /// Summarises `values` in any order. Linear time: the two quantiles are found by
    /// selection, not by sorting (a window of a large organisation holds millions of lead
    /// times), with the same interpolation as [`quantile_sorted`].
    pub fn of(mut values: Vec<f64>) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        let last = values.len() - 1;
        let p90 = quantile_unsorted(&mut values, 0.9)?;
        // The p90 selection leaves the smallest ranks up to its own in front: the median's two
        // ranks are among them (unless the sample is tiny), so the second selection needs only
        // that part.
        let p90_rank = (last as f64 * 0.9).floor() as usize;
        let median_rank = last as f64 * 0.5;
        let median = if (median_rank.floor() as usize) < p90_rank {
            value_at_rank(&mut values[..=p90_rank], median_rank)?
        } else {
            quantile_unsorted(&mut values, 0.5)?
        };
        Some(Self {
            count: values.len(),
            median,
            p90,
            mean,
        })
    }
}

/// [`quantile_sorted`] of `values` in any order, which it reorders; linear time.
pub fn quantile_unsorted(values: &mut [f64], p: f64) -> Option<f64> {
    let last = values.len().checked_sub(1)?;
    value_at_rank(values, last as f64 * p.clamp(0.0, 1.0))
}

/// The value at the fractional `rank` of `values` (any order, reordered), interpolated between
/// the two closest ranks; both must lie in `values` (the next rank only if `rank` has a fraction).
fn value_at_rank(values: &mut [f64], rank: f64) -> Option<f64> {
    let lower = rank.floor() as usize;
    if lower >= values.len() {
        return None;
    }
    let fraction = rank - lower as f64;
    let (_, &mut lower_value, above) = values.select_nth_unstable_by(lower, f64::total_cmp);
    // The next rank's value is the smallest of those above the selected one.
    let upper_value = above
        .iter()
        .copied()
        .min_by(f64::total_cmp)
        .unwrap_or(lower_value);
    Some(lower_value + fraction * (upper_value - lower_value))
}

/// The interpolated median of any sample.
pub fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    quantile_sorted(&values, 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn selection_equals_sorting(values in proptest::collection::vec(-1e9f64..1e9, 1..200), p in 0.0f64..=1.0) {
            let mut sorted = values.clone();
            sorted.sort_by(f64::total_cmp);
            let mut scratch = values.clone();
            proptest::prop_assert_eq!(quantile_unsorted(&mut scratch, p), quantile_sorted(&sorted, p));
        }

        #[test]
        fn summaries_equal_sorted_quantiles(values in proptest::collection::vec(-1e9f64..1e9, 1..300)) {
            let mut sorted = values.clone();
            sorted.sort_by(f64::total_cmp);
            let summary = Summary::of(values).unwrap();
            proptest::prop_assert_eq!(Some(summary.median), quantile_sorted(&sorted, 0.5));
            proptest::prop_assert_eq!(Some(summary.p90), quantile_sorted(&sorted, 0.9));
        }
    }

    #[test]
    fn quantiles_by_hand() {
        let values = [1.0, 2.0, 3.0, 4.0];
        // h = 3 * 0.5 = 1.5 → 2 + 0.5 * (3 - 2)
        assert_eq!(quantile_sorted(&values, 0.5), Some(2.5));
        // h = 3 * 0.9 = 2.7 → 3 + 0.7 * (4 - 3)
        let p90 = quantile_sorted(&values, 0.9).unwrap();
        assert!((p90 - 3.7).abs() < 1e-12);
        assert_eq!(quantile_sorted(&values, 0.0), Some(1.0));
        assert_eq!(quantile_sorted(&values, 1.0), Some(4.0));
        assert_eq!(quantile_sorted(&[7.0], 0.9), Some(7.0));
        assert_eq!(quantile_sorted(&[], 0.5), None);
    }

    #[test]
    fn summary_is_order_independent_and_exact() {
        let summary = Summary::of(vec![10.0, 0.0, 30.0, 20.0, 40.0]).unwrap();
        assert_eq!(summary.count, 5);
        assert_eq!(summary.median, 20.0);
        assert_eq!(summary.p90, 36.0); // h = 3.6 → 30 + 0.6 * 10
        assert_eq!(summary.mean, 20.0);
        assert_eq!(Summary::of(vec![]), None);
    }
}
