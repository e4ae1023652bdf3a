//! Information theory for LIBRA (SPEC.md): equal-width discretisation,
//! plug-in entropy, conditional entropy and the information gain
//! `IG(h | z1) = H(y | z1) - H(y | z1, h)`.
//!
//! - Discretisation reproduces `numpy.histogram(values, bins)`: `bins`
//!   equal-width bins over [min, max], edges `min + i * (max - min) / bins`,
//!   each bin half-open `[e_i, e_{i+1})` except the last, which includes
//!   `max`; a constant column spans `[v - 0.5, v + 0.5]` as in numpy.
//! - Entropies are plug-in estimates in nats (natural log):
//!   `H = -sum_c (n_c / n) ln(n_c / n)` over the occupied cells.
//! - Joint cells are tuples of per-variable bins; conditional entropy is
//!   `H(Y | X) = H(Y, X) - H(X)`.

use serde::{Deserialize, Serialize};

use super::AnalysisError;
use super::ranks::{check_len, is_missing};

/// How many equal-width bins a variable gets, from the number of rows N.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BinRule {
    /// NAS-Bench-Suite-Zero's code: `round(1 + 3.322 * ln N)` with the
    /// natural log (it reads like Sturges with log10 but is not). The default.
    #[default]
    SuiteZero,
    /// True Sturges: `ceil(log2 N) + 1`.
    Sturges,
    /// A fixed number of bins (at least 1).
    Fixed(usize),
}

impl BinRule {
    /// Number of bins for `n` rows, at least 1.
    pub fn bins(self, n: usize) -> usize {
        match self {
            BinRule::SuiteZero if n == 0 => 1,
            // f64::round rounds half away from zero where Python rounds half
            // to even; 1 + 3.322 ln N is never exactly k + 0.5 for integer N
            // in range, so the two agree.
            BinRule::SuiteZero => ((1.0 + 3.322 * (n as f64).ln()).round() as usize).max(1),
            BinRule::Sturges => n.max(1).next_power_of_two().trailing_zeros() as usize + 1,
            BinRule::Fixed(k) => k.max(1),
        }
    }

    /// Short name for tables.
    pub fn describe(self) -> String {
        match self {
            BinRule::SuiteZero => "round(1 + 3.322 ln N)".to_string(),
            BinRule::Sturges => "ceil(log2 N) + 1".to_string(),
            BinRule::Fixed(k) => format!("{k} fixed"),
        }
    }
}

/// One variable cut into equal-width bins.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Discretised {
    /// Bin index 0..bins of every row.
    pub codes: Vec<u32>,
    /// The `bins + 1` edges.
    pub edges: Vec<f64>,
    pub bins: usize,
}

/// Cuts finite `values` into `bins` equal-width bins exactly as
/// `numpy.histogram(values, bins)` assigns them (see the module docs).
pub fn discretise(values: &[f64], bins: usize) -> Result<Discretised, AnalysisError> {
    if let Some((row, &value)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(AnalysisError::NonFinite {
            what: "discretise".to_string(),
            row,
            value,
        });
    }
    if bins == 0 || bins > u32::MAX as usize {
        return Err(AnalysisError::BadSetting {
            what: "bins".to_string(),
            value: bins.to_string(),
            expected: "1 <= bins < 2^32".to_string(),
        });
    }
    let (mut first, mut last) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
        (lo.min(v), hi.max(v))
    });
    if values.is_empty() {
        (first, last) = (0.0, 1.0);
    }
    if first == last {
        first -= 0.5;
        last += 0.5;
    }
    // numpy.linspace: start + i * step, the last edge set to stop exactly.
    let step = (last - first) / bins as f64;
    let mut edges: Vec<f64> = (0..=bins).map(|i| first + i as f64 * step).collect();
    edges[bins] = last;

    let width = last - first;
    let codes = values
        .iter()
        .map(|&v| {
            // numpy's fast path, then its one-ULP corrections against the
            // edges, so values on an edge land where numpy puts them.
            let mut i = (((v - first) / width) * bins as f64) as usize;
            if i >= bins {
                i = bins - 1;
            }
            if v < edges[i] {
                i = i.saturating_sub(1);
            }
            if v >= edges[i + 1] && i != bins - 1 {
                i += 1;
            }
            i as u32
        })
        .collect();
    Ok(Discretised { codes, edges, bins })
}

/// Plug-in joint entropy (nats) of the given discretised variables over
/// their common rows; 0 for no variables or no rows.
pub fn entropy(vars: &[&Discretised]) -> Result<f64, AnalysisError> {
    let Some(first) = vars.first() else {
        return Ok(0.0);
    };
    let n = first.codes.len();
    for var in vars {
        check_len("entropy: variables", var.codes.len(), n)?;
    }
    if n == 0 {
        return Ok(0.0);
    }
    let mut keys: Vec<u64> = first.codes.iter().map(|&c| u64::from(c)).collect();
    let mut radix = first.bins as u64;
    for var in &vars[1..] {
        let width = var.bins as u64;
        if radix.checked_mul(width).is_none() {
            // Relabel the cells seen so far densely (< n labels) so the
            // mixed-radix key never overflows, whatever the bin counts.
            radix = relabel_dense(&mut keys);
        }
        for (key, &c) in keys.iter_mut().zip(&var.codes) {
            *key = *key * width + u64::from(c);
        }
        radix *= width;
    }
    keys.sort_unstable();
    let total = n as f64;
    let mut h = 0.0;
    let mut start = 0;
    while start < keys.len() {
        let end = start + keys[start..].partition_point(|&k| k == keys[start]);
        let p = (end - start) as f64 / total;
        h -= p * p.ln();
        start = end;
    }
    Ok(h)
}

/// Replaces keys by dense labels 0..m and returns m.
fn relabel_dense(keys: &mut [u64]) -> u64 {
    let mut distinct = keys.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    for key in keys.iter_mut() {
        // The key is in `distinct` by construction.
        *key = distinct.partition_point(|&d| d < *key) as u64;
    }
    distinct.len() as u64
}

/// `H(target | given) = H(target, given) - H(given)` in nats.
pub fn conditional_entropy(target: &Discretised, given: &[&Discretised]) -> Result<f64, AnalysisError> {
    let mut all = Vec::with_capacity(given.len() + 1);
    all.push(target);
    all.extend_from_slice(given);
    Ok(entropy(&all)? - entropy(given)?)
}

/// `IG(h | z1) = H(y | z1) - H(y | z1, h)` of already discretised variables.
pub fn information_gain_of(y: &Discretised, z1: &Discretised, h: &Discretised) -> Result<f64, AnalysisError> {
    Ok(conditional_entropy(y, &[z1])? - conditional_entropy(y, &[z1, h])?)
}

/// Information gain of a proxy `h` over `z1` about the ground truth.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct InfoGain {
    /// `H(y | z1) - H(y | z1, h)`, nats, >= 0.
    pub value: f64,
    pub h_y_given_z1: f64,
    pub h_y_given_z1_h: f64,
    /// Rows where y, z1 and h are all present.
    pub n: usize,
    pub dropped: usize,
    /// Bins per variable.
    pub bins: usize,
}

/// Rows (indices) where every column is present.
pub(crate) fn listwise_rows(columns: &[&[f64]]) -> Vec<usize> {
    let n = columns.first().map_or(0, |c| c.len());
    (0..n).filter(|&i| columns.iter().all(|c| !is_missing(c[i]))).collect()
}

fn take(column: &[f64], rows: &[usize]) -> Vec<f64> {
    rows.iter().map(|&i| column[i]).collect()
}

/// `IG(h | z1)` about `truth` on the rows where all three are present, each
/// variable cut into `rule.bins(n)` equal-width bins over those rows.
pub fn information_gain(truth: &[f64], z1: &[f64], h: &[f64], rule: BinRule) -> Result<InfoGain, AnalysisError> {
    check_len("information_gain: z1 vs truth", z1.len(), truth.len())?;
    check_len("information_gain: h vs truth", h.len(), truth.len())?;
    let rows = listwise_rows(&[truth, z1, h]);
    let n = rows.len();
    if n == 0 {
        return Err(AnalysisError::TooFewRows {
            what: "information_gain".to_string(),
            needed: 1,
            found: 0,
        });
    }
    let bins = rule.bins(n);
    let y = discretise(&take(truth, &rows), bins)?;
    let z = discretise(&take(z1, &rows), bins)?;
    let hh = discretise(&take(h, &rows), bins)?;
    let h_y_given_z1 = conditional_entropy(&y, &[&z])?;
    let h_y_given_z1_h = conditional_entropy(&y, &[&z, &hh])?;
    Ok(InfoGain {
        value: h_y_given_z1 - h_y_given_z1_h,
        h_y_given_z1,
        h_y_given_z1_h,
        n,
        dropped: truth.len() - n,
        bins,
    })
}

/// Information gain of every proxy over every other.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IgMatrix {
    pub names: Vec<String>,
    /// `values[i][j] = IG(z_j | z_i) = H(y | z_i) - H(y | z_i, z_j)`; the
    /// diagonal is 0 by definition.
    pub values: Vec<Vec<f64>>,
    /// Rows where the truth and every column are present (listwise, as
    /// LIBRA uses them).
    pub n: usize,
    pub dropped: usize,
    pub bins: usize,
}

/// The full IG matrix of a task, on the rows where the truth and every
/// column are present.
pub fn ig_matrix(
    names: &[String],
    columns: &[&[f64]],
    truth: &[f64],
    rule: BinRule,
) -> Result<IgMatrix, AnalysisError> {
    check_len("ig_matrix: names vs columns", names.len(), columns.len())?;
    for column in columns {
        check_len("ig_matrix: column vs truth", column.len(), truth.len())?;
    }
    let mut all: Vec<&[f64]> = vec![truth];
    all.extend_from_slice(columns);
    let rows = listwise_rows(&all);
    let n = rows.len();
    if n == 0 {
        return Err(AnalysisError::TooFewRows {
            what: "ig_matrix".to_string(),
            needed: 1,
            found: 0,
        });
    }
    let bins = rule.bins(n);
    let y = discretise(&take(truth, &rows), bins)?;
    let cut = columns
        .iter()
        .map(|c| discretise(&take(c, &rows), bins))
        .collect::<Result<Vec<_>, _>>()?;
    let mut values = vec![vec![0.0; columns.len()]; columns.len()];
    for (i, zi) in cut.iter().enumerate() {
        // H(y | z_i) is shared by the whole row.
        let h_given_i = conditional_entropy(&y, &[zi])?;
        for (j, zj) in cut.iter().enumerate() {
            if i != j {
                values[i][j] = h_given_i - conditional_entropy(&y, &[zi, zj])?;
            }
        }
    }
    Ok(IgMatrix {
        names: names.to_vec(),
        values,
        n,
        dropped: truth.len() - n,
        bins,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(got: f64, want: f64) {
        assert!((got - want).abs() < 1e-12, "got {got}, want {want}");
    }

    fn codes(values: &[u32], bins: usize) -> Discretised {
        Discretised {
            codes: values.to_vec(),
            edges: vec![],
            bins,
        }
    }

    #[test]
    fn bin_rules_give_the_documented_counts() {
        // python: round(1 + 3.322 * np.log(N)), int(np.ceil(np.log2(N))) + 1
        let want = [
            (1, 1, 1),
            (2, 3, 2),
            (3, 5, 3),
            (10, 9, 5),
            (100, 16, 8),
            (500, 22, 10),
            (725, 23, 11),
            (1000, 24, 11),
            (15625, 33, 15),
        ];
        for (n, suite_zero, sturges) in want {
            assert_eq!(BinRule::SuiteZero.bins(n), suite_zero, "n = {n}");
            assert_eq!(BinRule::Sturges.bins(n), sturges, "n = {n}");
        }
        assert_eq!(BinRule::Fixed(0).bins(10), 1);
        assert_eq!(BinRule::default(), BinRule::SuiteZero);
    }

    #[test]
    fn discretisation_puts_edge_values_where_numpy_histogram_does() {
        // np.histogram(np.arange(11) / 10, 10): edges 0, 0.1, 0.2,
        // 0.30000000000000004, ..., codes [0,1,2,2,4,5,5,6,8,9,9].
        let v: Vec<f64> = (0..11).map(|i| i as f64 / 10.0).collect();
        let d = discretise(&v, 10).unwrap();
        assert_eq!(d.codes, vec![0, 1, 2, 2, 4, 5, 5, 6, 8, 9, 9]);
        assert_eq!(d.edges[3], 0.30000000000000004);
        assert_eq!(d.edges[10], 1.0);
        // np.histogram(np.arange(11), 5) counts [2, 2, 2, 2, 3]: the last
        // bin includes the maximum.
        let ints: Vec<f64> = (0..11).map(f64::from).collect();
        let d = discretise(&ints, 5).unwrap();
        assert_eq!(d.codes, vec![0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 4]);
        // A constant column is one bin of [v - 0.5, v + 0.5], as numpy.
        let d = discretise(&[2.0, 2.0, 2.0], 4).unwrap();
        assert_eq!(d.codes, vec![2, 2, 2]);
        assert_eq!(d.edges, vec![1.5, 1.75, 2.0, 2.25, 2.5]);
        assert!(discretise(&[1.0, f64::NAN], 2).is_err());
        assert!(discretise(&[1.0, 2.0], 0).is_err());
    }

    #[test]
    fn entropies_match_hand_computation() {
        let y = codes(&[0, 0, 1, 1], 2);
        let x = codes(&[0, 1, 0, 1], 2);
        let ln2 = std::f64::consts::LN_2;
        close(entropy(&[&y]).unwrap(), ln2);
        close(entropy(&[&y, &x]).unwrap(), 2.0 * ln2);
        // Independent: conditioning leaves H(y); on itself: nothing left.
        close(conditional_entropy(&y, &[&x]).unwrap(), ln2);
        close(conditional_entropy(&y, &[&y]).unwrap(), 0.0);
        // p = (1/2, 1/4, 1/4): H = 1.5 ln 2.
        let z = codes(&[0, 0, 1, 2], 3);
        close(entropy(&[&z]).unwrap(), 1.5 * ln2);
        // XOR: y = x1 ^ x2. Neither x alone tells anything, both tell all,
        // so IG(x2 | x1) = H(y|x1) - H(y|x1,x2) = ln 2 - 0.
        let x1 = codes(&[0, 0, 1, 1], 2);
        let x2 = codes(&[0, 1, 0, 1], 2);
        let xor = codes(&[0, 1, 1, 0], 2);
        close(information_gain_of(&xor, &x1, &x2).unwrap(), ln2);
        close(information_gain_of(&xor, &x1, &x1).unwrap(), 0.0);
        assert!(entropy(&[&y, &codes(&[0], 1)]).is_err());
    }

    #[test]
    fn entropy_survives_bin_products_beyond_u64() {
        // Four variables of 2^20 declared bins overflow a u64 mixed-radix
        // key; the relabelling path must still count cells right.
        let a = codes(&[0, 1, 0, 1, 1_000_000], 1 << 20);
        let h = entropy(&[&a, &a, &a, &a]).unwrap();
        // Cells: {0:2, 1:2, 1e6:1} -> -(2 * 0.4 ln 0.4 + 0.2 ln 0.2).
        close(h, -(2.0 * 0.4 * 0.4f64.ln() + 0.2 * 0.2f64.ln()));
    }

    /// The LCG the numpy reference used: s = (1664525 s + 1013904223) mod
    /// 2^32, u = s / 2^32 (exact in f64 both sides).
    fn lcg(seed: u64, n: usize) -> Vec<f64> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = (1664525 * s + 1013904223) % (1 << 32);
                s as f64 / 4294967296.0
            })
            .collect()
    }

    #[test]
    fn information_gain_matches_numpy_histogramdd() {
        // python: u1, u2, u3 = lcg(1|2|3, 300); z1 = u1; h = u2;
        // y = u1 + 0.5 u2 + 0.25 u3; entropies from np.histogram /
        // np.histogramdd counts with k bins over each variable's [min, max].
        let (u1, u2, u3) = (lcg(1, 300), lcg(2, 300), lcg(3, 300));
        close(u1[0], 0.23645552527159452);
        let y: Vec<f64> = (0..300).map(|i| u1[i] + 0.5 * u2[i] + 0.25 * u3[i]).collect();

        // N = 300: Suite-Zero rule gives 20 bins, Sturges 10.
        let ig = information_gain(&y, &u1, &u2, BinRule::SuiteZero).unwrap();
        assert_eq!((ig.bins, ig.n, ig.dropped), (20, 300, 0));
        close(ig.h_y_given_z1, 1.7194457655995325);
        close(ig.h_y_given_z1_h, 0.08326800188971539);
        close(ig.value, 1.6361777637098172);
        let ig = information_gain(&y, &u1, &u2, BinRule::Sturges).unwrap();
        assert_eq!(ig.bins, 10);
        close(ig.h_y_given_z1, 1.2976242588254228);
        close(ig.value, 1.0027093906589823);

        // The matrix holds both directions: [0][1] = IG(h | z1),
        // [1][0] = IG(z1 | h) = 1.8837997993435707 with 20 bins.
        let names = vec!["z1".to_string(), "h".to_string()];
        let m = ig_matrix(&names, &[&u1, &u2], &y, BinRule::SuiteZero).unwrap();
        close(m.values[0][1], 1.6361777637098172);
        close(m.values[1][0], 1.8837997993435707);
        assert_eq!((m.values[0][0], m.values[1][1]), (0.0, 0.0));
    }

    #[test]
    fn information_gain_drops_missing_rows_listwise() {
        let (u1, u2) = (lcg(1, 50), lcg(2, 50));
        let y: Vec<f64> = (0..50).map(|i| u1[i] + u2[i]).collect();
        let mut h = u2.clone();
        h[3] = f64::NAN;
        let mut y2 = y.clone();
        y2[7] = f64::NAN;
        let with_gaps = information_gain(&y2, &u1, &h, BinRule::Sturges).unwrap();
        assert_eq!((with_gaps.n, with_gaps.dropped), (48, 2));
        // Same as deleting the two rows by hand.
        let keep: Vec<usize> = (0..50).filter(|&i| i != 3 && i != 7).collect();
        let pick = |v: &[f64]| keep.iter().map(|&i| v[i]).collect::<Vec<_>>();
        let by_hand = information_gain(&pick(&y), &pick(&u1), &pick(&u2), BinRule::Sturges).unwrap();
        close(with_gaps.value, by_hand.value);
        assert!(information_gain(&[f64::NAN], &[1.0], &[1.0], BinRule::Sturges).is_err());
    }
}
