//! EPE-NAS (Lopes et al.; NASLib's `epe_nas.py`): per class, the correlation
//! matrix of the input Jacobians of the samples of that class, scored
//! `s_c = sum_ij log(|corr_ij| + k)`, k = 1e-5; the result is sum_c |s_c|
//! for at most 100 classes, else (with s_c divided by the class's sample
//! count) sum_c sum_c' |s_c - s_c'| / (classes seen).

use super::jacov::{K, row_correlations};
use super::{NONE, ProxyInfo, req_input_grads};
use crate::engine::probe::ProbeNeeds;

pub const INFO: ProxyInfo = ProxyInfo {
    name: "epe_nas",
    summary: "EPE-NAS: per-class correlation of input Jacobians, sum over classes",
    requires: req_input_grads(true),
    gradient_based: true,
    negated: false,
    needs: ProbeNeeds { jacobian: true, ..NONE },
    compute: |rec| epe_score(rec.input_jacobian.as_ref()?, &rec.labels, rec.num_classes),
};

/// EPE-NAS of a row-major [S, D] Jacobian with the samples' labels and the
/// network's number of outputs; `None` when a correlation is undefined (a
/// constant Jacobian row, which NumPy turns into NaN).
pub fn epe_score(jacobian: &[f32], labels: &[usize], num_classes: usize) -> Option<f64> {
    let s = labels.len();
    if s == 0 || !jacobian.len().is_multiple_of(s) {
        return None;
    }
    let d = jacobian.len() / s;
    // Classes in order of first appearance (the order does not change the
    // result; it keeps the computation deterministic).
    let mut classes: Vec<(usize, Vec<usize>)> = Vec::new();
    for (i, &l) in labels.iter().enumerate() {
        match classes.iter_mut().find(|(c, _)| *c == l) {
            Some((_, rows)) => rows.push(i),
            None => classes.push((l, vec![i])),
        }
    }
    let many = num_classes > 100;
    let mut scores = Vec::with_capacity(classes.len());
    for (_, rows) in &classes {
        let data: Vec<f32> = rows
            .iter()
            .flat_map(|&i| jacobian[i * d..(i + 1) * d].iter().copied())
            .collect();
        let corr = row_correlations(&data, rows.len())?;
        if rows.len() == 1 {
            // NumPy's corrcoef of one row is the scalar 1; with more than 100
            // classes NASLib then divides by len() of a 0-d array, which
            // raises, and its `except: continue` drops the class.
            if !many {
                scores.push((1.0 + K).ln());
            }
            continue;
        }
        let mut sc: f64 = corr.iter().map(|c| (c.abs() + K).ln()).sum();
        if many {
            sc /= rows.len() as f64;
        }
        scores.push(sc);
    }
    if !many {
        return Some(scores.iter().map(|v| v.abs()).sum());
    }
    if scores.is_empty() {
        return Some(0.0);
    }
    let pairs: f64 = scores
        .iter()
        .flat_map(|a| scores.iter().map(move |b| (a - b).abs()))
        .sum();
    Some(pairs / scores.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_classes_by_hand() {
        // Samples 0 and 2 are class 7 with rows (1, 2, 3), (1, 3, 2):
        // correlation 1/2; sample 1 is class 4, alone.
        let jac = [1.0, 2.0, 3.0, 5.0, 1.0, 4.0, 1.0, 3.0, 2.0];
        let labels = [7, 4, 7];
        let s7 = 2.0 * (1.0 + K).ln() + 2.0 * (0.5 + K).ln();
        let s4 = (1.0 + K).ln();
        let got = epe_score(&jac, &labels, 10).unwrap();
        assert!((got - (s7.abs() + s4.abs())).abs() < 1e-12, "{got}");
        // More than 100 classes: the single-sample class is dropped, class 7
        // is divided by its 2 samples, and one class gives |s - s| = 0.
        assert_eq!(epe_score(&jac, &labels, 120), Some(0.0));
        // Two multi-sample classes over 100: (|a - b| + |b - a|) / 2.
        let jac4 = [1.0, 2.0, 3.0, 5.0, 1.0, 4.0, 1.0, 3.0, 2.0, 4.0, 1.0, 5.0];
        let labels4 = [7, 4, 7, 4];
        // Class 4 rows (5, 1, 4), (4, 1, 5): centred (5/3, -7/3, 2/3),
        // (2/3, -7/3, 5/3); dot 10/9 + 49/9 + 10/9 = 69/9, norms^2 78/9.
        let r4: f64 = 69.0 / 78.0;
        let a = s7 / 2.0;
        let b = (2.0 * (1.0 + K).ln() + 2.0 * (r4 + K).ln()) / 2.0;
        let got = epe_score(&jac4, &labels4, 120).unwrap();
        assert!((got - (a - b).abs()).abs() < 1e-12, "{got} vs {}", (a - b).abs());
    }
}
