//! Rank statistics: average ranks, Spearman, Kendall tau-b, Pearson, and the
//! two top-of-ranking measures NASLib reports (precision at top-k, best rank
//! at k).
//!
//! Conventions shared by every function here:
//! - `NaN` is "missing". Each statistic drops a row when either of its two
//!   values is missing (pairwise deletion) and reports how many it dropped.
//! - A statistic that the data cannot define (fewer than two pairs, a
//!   constant column) comes back as `value: None` with the reason, never as a
//!   silent `NaN`.
//! - `-0.0` and `0.0` are the same value (they tie).

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use super::AnalysisError;

/// Why a statistic has no value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Undefined {
    /// Fewer than two complete pairs.
    TooFewPairs,
    /// The first column is constant over the complete pairs.
    ConstantFirst,
    /// The second column is constant over the complete pairs.
    ConstantSecond,
    /// An infinite value where the statistic needs finite ones (Pearson).
    NonFinite,
    /// The arithmetic over- or underflowed (e.g. variances below 1e-308).
    Degenerate,
}

impl Undefined {
    /// Short human wording for tables.
    pub fn describe(self) -> &'static str {
        match self {
            Undefined::TooFewPairs => "fewer than two complete pairs",
            Undefined::ConstantFirst => "first column constant",
            Undefined::ConstantSecond => "second column constant",
            Undefined::NonFinite => "infinite values",
            Undefined::Degenerate => "numerically degenerate",
        }
    }
}

/// A correlation coefficient with its sample size.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Correlation {
    /// The coefficient in [-1, 1]; `None` when undefined (see `undefined`).
    pub value: Option<f64>,
    /// Number of complete pairs it was computed on.
    pub n: usize,
    /// Rows dropped because a value was missing.
    pub dropped: usize,
    /// Why `value` is `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undefined: Option<Undefined>,
}

impl Correlation {
    pub(crate) fn from_result(result: Result<f64, Undefined>, n: usize, dropped: usize) -> Self {
        match result {
            // Rounding can push |r| a hair above 1.
            Ok(v) => Correlation {
                value: Some(v.clamp(-1.0, 1.0)),
                n,
                dropped,
                undefined: None,
            },
            Err(why) => Correlation {
                value: None,
                n,
                dropped,
                undefined: Some(why),
            },
        }
    }
}

/// `true` for a missing value.
pub fn is_missing(v: f64) -> bool {
    v.is_nan()
}

pub(crate) fn check_len(what: &str, left: usize, right: usize) -> Result<(), AnalysisError> {
    if left == right {
        Ok(())
    } else {
        Err(AnalysisError::LengthMismatch {
            what: what.to_string(),
            left,
            right,
        })
    }
}

/// The pairs where both values are present, and the number of rows dropped.
pub fn complete_pairs(x: &[f64], y: &[f64]) -> Result<(Vec<f64>, Vec<f64>, usize), AnalysisError> {
    check_len("complete_pairs", x.len(), y.len())?;
    let (xs, ys): (Vec<f64>, Vec<f64>) = x
        .iter()
        .zip(y)
        .filter(|(a, b)| !is_missing(**a) && !is_missing(**b))
        .map(|(a, b)| (*a, *b))
        .unzip();
    let dropped = x.len() - xs.len();
    Ok((xs, ys, dropped))
}

/// Maps an f64 to a u64 whose unsigned order is the numeric order (`-0.0`
/// folded onto `0.0`), so sorting keys is cheap and ties compare equal.
pub(crate) fn order_key(v: f64) -> u64 {
    let bits = (v + 0.0).to_bits();
    if bits >> 63 == 1 { !bits } else { bits | (1 << 63) }
}

fn numeric_cmp(a: f64, b: f64) -> Ordering {
    // Callers never pass NaN; adding 0.0 folds -0.0 onto 0.0 so they tie.
    (a + 0.0).total_cmp(&(b + 0.0))
}

/// Average ranks (1-based; tied values share the mean of their positions),
/// as `scipy.stats.rankdata(method="average")`. Missing values keep a `NaN`
/// rank; the others are ranked among themselves.
pub fn average_ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).filter(|&i| !is_missing(values[i])).collect();
    order.sort_unstable_by(|&i, &j| numeric_cmp(values[i], values[j]));
    let mut ranks = vec![f64::NAN; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && numeric_cmp(values[order[start]], values[order[end]]).is_eq() {
            end += 1;
        }
        // Positions start+1 ..= end share their mean.
        let rank = (start + 1 + end) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = rank;
        }
        start = end;
    }
    ranks
}

fn is_constant(values: &[f64]) -> bool {
    values
        .first()
        .is_none_or(|&first| values.iter().all(|&v| numeric_cmp(v, first).is_eq()))
}

fn check_pairs(x: &[f64], y: &[f64]) -> Result<(), Undefined> {
    if x.len() < 2 {
        Err(Undefined::TooFewPairs)
    } else if is_constant(x) {
        Err(Undefined::ConstantFirst)
    } else if is_constant(y) {
        Err(Undefined::ConstantSecond)
    } else {
        Ok(())
    }
}

/// Pearson r of complete, non-constant data.
fn pearson_core(x: &[f64], y: &[f64]) -> Result<f64, Undefined> {
    check_pairs(x, y)?;
    if x.iter().chain(y).any(|v| v.is_infinite()) {
        return Err(Undefined::NonFinite);
    }
    let n = x.len() as f64;
    let mx = x.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let (mut sxx, mut syy, mut sxy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        let (dx, dy) = (a - mx, b - my);
        sxx += dx * dx;
        syy += dy * dy;
        sxy += dx * dy;
    }
    let r = sxy / (sxx.sqrt() * syy.sqrt());
    if r.is_finite() {
        Ok(r)
    } else {
        Err(Undefined::Degenerate)
    }
}

/// Pearson correlation coefficient, missing values dropped pairwise.
/// Infinite values make it undefined (`NonFinite`).
pub fn pearson(x: &[f64], y: &[f64]) -> Result<Correlation, AnalysisError> {
    let (xs, ys, dropped) = complete_pairs(x, y)?;
    Ok(Correlation::from_result(pearson_core(&xs, &ys), xs.len(), dropped))
}

/// Spearman rho: Pearson of the average ranks (scipy's `spearmanr`), missing
/// values dropped pairwise. Infinite values are ranked like any other.
pub fn spearman(x: &[f64], y: &[f64]) -> Result<Correlation, AnalysisError> {
    let (xs, ys, dropped) = complete_pairs(x, y)?;
    Ok(Correlation::from_result(spearman_core(&xs, &ys), xs.len(), dropped))
}

/// Spearman of complete data.
pub(crate) fn spearman_core(x: &[f64], y: &[f64]) -> Result<f64, Undefined> {
    check_pairs(x, y)?;
    pearson_core(&average_ranks(x), &average_ranks(y))
}

/// Kendall tau-b (scipy's `kendalltau`, variant "b"), missing values dropped
/// pairwise. O(n log n) by Knight's algorithm, so 15,625 architectures are
/// cheap.
pub fn kendall_tau_b(x: &[f64], y: &[f64]) -> Result<Correlation, AnalysisError> {
    let (xs, ys, dropped) = complete_pairs(x, y)?;
    Ok(Correlation::from_result(kendall_core(&xs, &ys), xs.len(), dropped))
}

/// Dense ranks 0.. (equal values share one), for exact tie tests.
fn dense_ranks(values: &[f64]) -> Vec<u32> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_unstable_by(|&i, &j| numeric_cmp(values[i], values[j]));
    let mut ranks = vec![0u32; values.len()];
    let mut current = 0u32;
    for w in 0..order.len() {
        if w > 0 && numeric_cmp(values[order[w - 1]], values[order[w]]).is_lt() {
            current += 1;
        }
        ranks[order[w]] = current;
    }
    ranks
}

fn tied_pairs(run: u64) -> u64 {
    run * run.saturating_sub(1) / 2
}

/// Number of pairs i < j with `a[i] > a[j]` (strict), by merge sort.
fn count_inversions(a: &mut [u32], buffer: &mut Vec<u32>) -> u64 {
    let n = a.len();
    if n < 2 {
        return 0;
    }
    let mid = n / 2;
    let mut count = count_inversions(&mut a[..mid], buffer) + count_inversions(&mut a[mid..], buffer);
    buffer.clear();
    let (mut i, mut j) = (0, mid);
    while i < mid && j < n {
        // Equal values go left first: ties are not discordant.
        if a[j] < a[i] {
            count += (mid - i) as u64;
            buffer.push(a[j]);
            j += 1;
        } else {
            buffer.push(a[i]);
            i += 1;
        }
    }
    buffer.extend_from_slice(&a[i..mid]);
    buffer.extend_from_slice(&a[j..n]);
    a.copy_from_slice(buffer);
    count
}

fn kendall_core(x: &[f64], y: &[f64]) -> Result<f64, Undefined> {
    check_pairs(x, y)?;
    let (rx, ry) = (dense_ranks(x), dense_ranks(y));
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_unstable_by_key(|&i| (rx[i], ry[i]));

    // Ties in x and joint ties are runs in the (x, y)-sorted order.
    let (mut x_ties, mut joint_ties) = (0u64, 0u64);
    let (mut x_run, mut joint_run) = (1u64, 1u64);
    for w in 1..order.len() {
        let (p, q) = (order[w - 1], order[w]);
        if rx[p] == rx[q] {
            x_run += 1;
            if ry[p] == ry[q] {
                joint_run += 1;
            } else {
                joint_ties += tied_pairs(joint_run);
                joint_run = 1;
            }
        } else {
            x_ties += tied_pairs(x_run);
            joint_ties += tied_pairs(joint_run);
            x_run = 1;
            joint_run = 1;
        }
    }
    x_ties += tied_pairs(x_run);
    joint_ties += tied_pairs(joint_run);

    let mut y_counts = vec![0u64; x.len()];
    for &r in &ry {
        y_counts[r as usize] += 1;
    }
    let y_ties: u64 = y_counts.iter().map(|&c| tied_pairs(c)).sum();

    // Sorted by x then y, so a strict y-inversion is a discordant pair.
    let mut ys: Vec<u32> = order.iter().map(|&i| ry[i]).collect();
    let discordant = count_inversions(&mut ys, &mut Vec::with_capacity(x.len()));

    let total = tied_pairs(x.len() as u64);
    let numerator = total as f64 - x_ties as f64 - y_ties as f64 + joint_ties as f64 - 2.0 * discordant as f64;
    let tau = numerator / ((total - x_ties) as f64).sqrt() / ((total - y_ties) as f64).sqrt();
    if tau.is_finite() {
        Ok(tau)
    } else {
        Err(Undefined::Degenerate)
    }
}

/// Precision at the top k%.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TopPrecision {
    /// Fraction in [0, 1] of the true top-k among the predicted top-k.
    pub value: Option<f64>,
    /// The percentage asked for.
    pub percent: f64,
    /// `k = ceil(n * percent / 100)`, at least 1.
    pub k: usize,
    pub n: usize,
    pub dropped: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undefined: Option<Undefined>,
}

/// Probability that each value is in the top `k` when ties at the boundary
/// are broken uniformly at random: 1 above the k-th largest value, the share
/// of remaining slots for values equal to it, 0 below.
fn top_membership(values: &[f64], k: usize) -> Vec<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable_by(|a, b| numeric_cmp(*b, *a));
    let threshold = sorted[k - 1];
    let above = values.iter().filter(|&&v| numeric_cmp(v, threshold).is_gt()).count();
    let equal = values.iter().filter(|&&v| numeric_cmp(v, threshold).is_eq()).count();
    let share = (k - above) as f64 / equal as f64;
    values
        .iter()
        .map(|&v| match numeric_cmp(v, threshold) {
            Ordering::Greater => 1.0,
            Ordering::Equal => share,
            Ordering::Less => 0.0,
        })
        .collect()
}

/// Precision at top-`percent`% (NASLib's `p_at_topk`): the fraction of the
/// true top-k architectures found among the predicted top-k, with
/// `k = ceil(n * percent / 100)` on the complete pairs, at least 1. Higher
/// is better in both columns.
///
/// Ties: NASLib breaks them by `argsort` order, which depends on row order.
/// Here a tie at the boundary of either top-k is broken uniformly at random
/// and the *expected* precision is returned (`sum_i P(i in pred top-k) *
/// P(i in true top-k) / k`), so the result does not depend on row order.
/// Without ties at the boundaries this is exactly NASLib's number.
pub fn precision_at_top_percent(predicted: &[f64], truth: &[f64], percent: f64) -> Result<TopPrecision, AnalysisError> {
    if !(percent > 0.0 && percent <= 100.0) {
        return Err(AnalysisError::BadSetting {
            what: "percent".to_string(),
            value: percent.to_string(),
            expected: "0 < percent <= 100".to_string(),
        });
    }
    let (p, t, dropped) = complete_pairs(predicted, truth)?;
    let n = p.len();
    // The small epsilon keeps 10% of 1000 at 100 despite binary fractions.
    let k = ((n as f64 * percent / 100.0 - 1e-9).ceil() as usize).clamp(1, n.max(1));
    if n == 0 {
        return Ok(TopPrecision {
            value: None,
            percent,
            k,
            n,
            dropped,
            undefined: Some(Undefined::TooFewPairs),
        });
    }
    let (in_pred, in_true) = (top_membership(&p, k), top_membership(&t, k));
    let overlap: f64 = in_pred.iter().zip(&in_true).map(|(a, b)| a * b).sum();
    Ok(TopPrecision {
        value: Some(overlap / k as f64),
        percent,
        k,
        n,
        dropped,
        undefined: None,
    })
}

/// Best true rank among the predicted top-k.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BestRank {
    /// 1-based true rank of the best architecture among the predicted top-k
    /// (1 = the true best).
    pub best_rank: Option<usize>,
    /// `best_rank / n`, what NASLib reports as `br_at_k`.
    pub fraction: Option<f64>,
    /// k actually used (clamped to n).
    pub k: usize,
    pub n: usize,
    pub dropped: usize,
}

/// Best rank at k (NASLib's `minmax_n_at_k`, `br_at_k`): take the k
/// architectures with the highest predicted score and report the best true
/// rank among them; `fraction = best_rank / n`.
///
/// Definitions where NASLib relies on argsort order:
/// - true rank = 1 + number of architectures with strictly higher truth
///   (ties share the best rank, `rankdata(method="min")` on -truth);
/// - predicted ties at the k boundary are broken pessimistically (the tied
///   architecture with the lower truth enters first), so a proxy gains
///   nothing from ties.
pub fn best_rank_at(predicted: &[f64], truth: &[f64], k: usize) -> Result<BestRank, AnalysisError> {
    if k == 0 {
        return Err(AnalysisError::BadSetting {
            what: "k".to_string(),
            value: "0".to_string(),
            expected: "k >= 1".to_string(),
        });
    }
    let (p, t, dropped) = complete_pairs(predicted, truth)?;
    let n = p.len();
    let k = k.min(n);
    if n == 0 {
        return Ok(BestRank {
            best_rank: None,
            fraction: None,
            k,
            n,
            dropped,
        });
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_unstable_by(|&i, &j| {
        numeric_cmp(p[j], p[i])
            .then_with(|| numeric_cmp(t[i], t[j]))
            .then(i.cmp(&j))
    });
    let best_truth = order[..k]
        .iter()
        .map(|&i| t[i])
        .fold(f64::NEG_INFINITY, |a, b| if numeric_cmp(b, a).is_gt() { b } else { a });
    let best_rank = 1 + t.iter().filter(|&&v| numeric_cmp(v, best_truth).is_gt()).count();
    Ok(BestRank {
        best_rank: Some(best_rank),
        fraction: Some(best_rank as f64 / n as f64),
        k,
        n,
        dropped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAN: f64 = f64::NAN;

    fn close(got: Option<f64>, want: f64) {
        let got = got.expect("defined");
        assert!((got - want).abs() < 1e-12, "got {got}, want {want}");
    }

    // Data set A: ties in both columns, one missing value in each (rows 8
    // and 10), so 10 complete pairs.
    const XA: [f64; 12] = [3.1, 1.2, 4.4, 1.2, 5.0, 2.2, 4.4, 0.5, 3.1, 3.1, NAN, 7.0];
    const YA: [f64; 12] = [10.0, 12.0, 9.0, 7.0, 15.0, 11.0, 11.0, 6.0, NAN, 13.0, 4.0, 11.0];

    // Data set B: small integers, heavy ties; made with
    // `rng = np.random.default_rng(7); x = rng.integers(0, 5, 30);
    //  y = x + rng.integers(0, 4, 30)`.
    const XB: [f64; 30] = [
        4., 3., 3., 4., 2., 3., 4., 1., 0., 1., 1., 4., 4., 0., 2., 4., 0., 3., 0., 2., 4., 1., 1., 1., 3., 1., 4., 2.,
        2., 2.,
    ];
    const YB: [f64; 30] = [
        6., 5., 5., 7., 5., 6., 6., 3., 1., 4., 2., 4., 7., 0., 5., 6., 0., 3., 1., 2., 4., 3., 4., 2., 6., 4., 7., 4.,
        3., 4.,
    ];

    #[test]
    fn average_ranks_match_scipy_rankdata_and_keep_missing_missing() {
        // scipy.stats.rankdata(XA without the NaN) =
        // [6, 2.5, 8.5, 2.5, 10, 4, 8.5, 1, 6, 6, 11]
        let want = [6.0, 2.5, 8.5, 2.5, 10.0, 4.0, 8.5, 1.0, 6.0, 6.0, NAN, 11.0];
        let got = average_ranks(&XA);
        for (g, w) in got.iter().zip(want) {
            assert!(g == &w || (g.is_nan() && w.is_nan()), "{got:?}");
        }
        // -0.0 and 0.0 tie.
        assert_eq!(average_ranks(&[0.0, -0.0, 1.0]), vec![1.5, 1.5, 3.0]);
    }

    #[test]
    fn correlations_with_ties_and_missing_match_scipy() {
        // scipy 1.17 on the complete pairs of A: spearmanr, kendalltau
        // (tau-b), pearsonr.
        let s = spearman(&XA, &YA).unwrap();
        assert_eq!((s.n, s.dropped), (10, 2));
        close(s.value, 0.45201455020000836);
        let k = kendall_tau_b(&XA, &YA).unwrap();
        assert_eq!((k.n, k.dropped), (10, 2));
        close(k.value, 0.35714285714285715);
        close(pearson(&XA, &YA).unwrap().value, 0.4972802446355912);

        // B: scipy spearmanr / kendalltau / pearsonr.
        close(spearman(&XB, &YB).unwrap().value, 0.819387334130448);
        close(kendall_tau_b(&XB, &YB).unwrap().value, 0.7258635782792111);
        close(pearson(&XB, &YB).unwrap().value, 0.8344232079124667);
    }

    #[test]
    fn correlations_are_symmetric_and_sign_flips_with_negation() {
        let neg: Vec<f64> = YB.iter().map(|v| -v).collect();
        for f in [spearman, kendall_tau_b, pearson] {
            let a = f(&XB, &YB).unwrap().value.unwrap();
            let b = f(&YB, &XB).unwrap().value.unwrap();
            let c = f(&XB, &neg).unwrap().value.unwrap();
            assert!((a - b).abs() < 1e-12 && (a + c).abs() < 1e-12);
        }
    }

    #[test]
    fn constant_or_tiny_input_is_undefined_not_nan() {
        let x = [1.0, 2.0, 3.0, 4.0];
        let c = [0.1, 0.1, 0.1, 0.1];
        for f in [spearman, kendall_tau_b, pearson] {
            let r = f(&x, &c).unwrap();
            assert_eq!((r.value, r.undefined), (None, Some(Undefined::ConstantSecond)));
            let r = f(&c, &x).unwrap();
            assert_eq!((r.value, r.undefined), (None, Some(Undefined::ConstantFirst)));
            // Two complete pairs are enough.
            let r = f(&[1.0, 2.0, NAN], &[5.0, 6.0, 7.0]).unwrap();
            assert_eq!((r.n, r.dropped), (2, 1));
            close(r.value, 1.0);
            // Constant once the missing row is dropped.
            let r = f(&[1.0, 2.0, 3.0], &[5.0, 5.0, NAN]).unwrap();
            assert_eq!(r.undefined, Some(Undefined::ConstantSecond));
            let r = f(&[1.0, NAN], &[NAN, 2.0]).unwrap();
            assert_eq!((r.undefined, r.n, r.dropped), (Some(Undefined::TooFewPairs), 0, 2));
        }
        // Undefined serialises as null plus a reason.
        let json = serde_json::to_string(&spearman(&x, &c).unwrap()).unwrap();
        assert_eq!(
            json,
            r#"{"value":null,"n":4,"dropped":0,"undefined":"constant_second"}"#
        );
    }

    #[test]
    fn infinities_rank_but_make_pearson_undefined() {
        let x = [f64::NEG_INFINITY, 1.0, 2.0, f64::INFINITY];
        let y = [0.0, 1.0, 3.0, 2.0];
        // Ranks x = [1, 2, 3, 4], y = [1, 2, 4, 3]: rho = 1 - 6*2/(4*15) = 0.8.
        close(spearman(&x, &y).unwrap().value, 0.8);
        assert_eq!(pearson(&x, &y).unwrap().undefined, Some(Undefined::NonFinite));
    }

    #[test]
    fn mismatched_lengths_are_an_error() {
        assert!(matches!(
            spearman(&[1.0, 2.0], &[1.0]),
            Err(AnalysisError::LengthMismatch { left: 2, right: 1, .. })
        ));
    }

    #[test]
    fn kendall_matches_the_quadratic_definition_on_random_ties() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        for _ in 0..20 {
            let n = rng.random_range(2..60);
            let x: Vec<f64> = (0..n).map(|_| rng.random_range(0..6) as f64).collect();
            let y: Vec<f64> = (0..n).map(|_| rng.random_range(0..6) as f64).collect();
            // tau-b = (C - D) / sqrt((P - Tx)(P - Ty)) by counting every pair.
            let (mut c, mut d, mut tx, mut ty) = (0.0, 0.0, 0.0, 0.0);
            for i in 0..n {
                for j in i + 1..n {
                    let s = (x[i] - x[j]) * (y[i] - y[j]);
                    if s > 0.0 {
                        c += 1.0;
                    } else if s < 0.0 {
                        d += 1.0;
                    }
                    tx += f64::from(x[i] == x[j]);
                    ty += f64::from(y[i] == y[j]);
                }
            }
            let p = (n * (n - 1) / 2) as f64;
            let got = kendall_tau_b(&x, &y).unwrap();
            if tx == p || ty == p {
                assert!(got.value.is_none());
            } else {
                close(got.value, (c - d) / ((p - tx) * (p - ty)).sqrt());
            }
        }
    }

    // Data set C (no ties): `rng = np.random.default_rng(3);
    // pred = round(rng.normal(size=20), 4); true = round(pred/2 +
    // rng.normal(size=20), 4)`.
    const PC: [f64; 20] = [
        2.0409, -2.5557, 0.4181, -0.5678, -0.4526, -0.2156, -2.02, -0.2319, -0.8652, 3.323, 0.2258, -0.3526, -0.2813,
        -0.668, -1.0552, -0.3908, 0.4819, -0.2386, 0.9578, -0.1998,
    ];
    const TC: [f64; 20] = [
        1.0447, 0.268, 0.7542, -0.7891, -0.4091, 0.4327, 0.9251, -0.3856, -0.6762, 2.6638, -0.7736, -0.468, 0.7419,
        0.2464, -0.4361, 0.4747, -2.5872, 0.902, -0.4807, -1.7685,
    ];

    #[test]
    fn precision_at_top_matches_naslib_without_ties() {
        // NASLib's p_at_tb_k(pred, true, ks=[k]) with k = 2, 5, 10.
        for (percent, k, want) in [(10.0, 2, 1.0), (25.0, 5, 0.6), (50.0, 10, 0.5)] {
            let got = precision_at_top_percent(&PC, &TC, percent).unwrap();
            assert_eq!(got.k, k);
            close(got.value, want);
        }
        // k rounds up and is at least 1.
        assert_eq!(precision_at_top_percent(&PC, &TC, 0.1).unwrap().k, 1);
        assert_eq!(precision_at_top_percent(&PC, &TC, 12.0).unwrap().k, 3);
        assert!(precision_at_top_percent(&PC, &TC, 0.0).is_err());
    }

    #[test]
    fn precision_at_top_with_ties_is_the_expectation_over_tie_breaks() {
        // Expected precision averaged over all 8! tie-break orders of each
        // column (python, itertools.permutations): k=2 -> 2/3, k=3 -> 5/9.
        let p = [5.0, 3.0, 3.0, 3.0, 1.0, 0.0, 2.0, 2.0, NAN];
        let t = [9.0, 9.0, 7.0, 1.0, 8.0, 2.0, 2.0, 0.0, 1.0];
        let got = precision_at_top_percent(&p, &t, 25.0).unwrap();
        assert_eq!((got.k, got.n, got.dropped), (2, 8, 1));
        close(got.value, 0.6666666666666666);
        let got = precision_at_top_percent(&p, &t, 37.5).unwrap();
        assert_eq!(got.k, 3);
        close(got.value, 0.5555555555555555);
    }

    #[test]
    fn best_rank_matches_naslib_and_is_pessimistic_on_ties() {
        // Data set E: `rng = np.random.default_rng(11)`, pred and true
        // = round(rng.normal(size=15), 3); NASLib's minmax_n_at_k gives
        // br@1 = 10, br@2 = br@4 = br@8 = 1 (as a rank, before / n).
        let pe = [
            0.034, 1.36, 1.225, -0.51, -0.298, -0.527, 0.57, -0.056, 0.747, -1.847, 1.567, -0.096, 0.68, -0.137, -0.379,
        ];
        let te = [
            0.463, 0.825, -0.203, -0.153, 0.686, -0.87, -1.514, 0.395, -0.671, -1.92, -0.814, -0.468, -1.193, -1.492,
            0.037,
        ];
        for (k, want) in [(1, 10), (2, 1), (4, 1), (8, 1)] {
            let got = best_rank_at(&pe, &te, k).unwrap();
            assert_eq!(got.best_rank, Some(want), "k = {k}");
            close(got.fraction, want as f64 / 15.0);
        }
        // Ties: the worst best-rank over every tie-break order (python,
        // itertools.permutations, true rank = rankdata(-t, "min")):
        // k = 1, 2, 3, 4 -> 4, 4, 3, 1.
        let p = [5.0, 3.0, 3.0, 3.0, 1.0, 0.0, 2.0, 2.0];
        let t = [4.0, 9.0, 1.0, 5.0, 8.0, 3.0, 2.0, 0.0];
        for (k, want) in [(1, 4), (2, 4), (3, 3), (4, 1)] {
            assert_eq!(best_rank_at(&p, &t, k).unwrap().best_rank, Some(want), "k = {k}");
        }
        assert_eq!(best_rank_at(&p, &t, 100).unwrap().k, 8);
        assert!(best_rank_at(&p, &t, 0).is_err());
    }
}
