//! jacov (Mellor et al., first version; NASLib's `jacov.py`, which made the
//! Suite-Zero values): the correlation matrix of the per-sample input
//! Jacobians of sum(logits), score `-sum_i (log(l_i + k) + 1 / (l_i + k))`
//! over its eigenvalues l_i, k = 1e-5.

use super::{NONE, ProxyInfo, req_input_grads};
use crate::engine::probe::ProbeNeeds;

/// The regulariser k of the score.
pub const K: f64 = 1e-5;

pub const INFO: ProxyInfo = ProxyInfo {
    name: "jacov",
    summary: "jacov: -sum(log(l + k) + 1/(l + k)) over eigenvalues of the correlation of per-sample input Jacobians",
    requires: req_input_grads(false),
    gradient_based: true,
    negated: false,
    needs: ProbeNeeds { jacobian: true, ..NONE },
    compute: |rec| jacov_score(rec.input_jacobian.as_ref()?, rec.labels.len()),
};

/// jacov of a row-major [samples, D] Jacobian; `None` when a sample's
/// Jacobian is constant (its correlations are undefined; NumPy gives NaN).
pub fn jacov_score(jacobian: &[f32], samples: usize) -> Option<f64> {
    let corr = row_correlations(jacobian, samples)?;
    let score = eigvals_sym(corr, samples)
        .into_iter()
        .map(|l| -((l + K).ln() + 1.0 / (l + K)))
        .sum();
    Some(score)
}

/// Pearson correlations between the rows of a row-major [rows, D] matrix
/// (`np.corrcoef(m)`), in f64, clipped to [-1, 1] as NumPy does; `None`
/// when a row has zero variance.
pub fn row_correlations(data: &[f32], rows: usize) -> Option<Vec<f64>> {
    if rows == 0 || !data.len().is_multiple_of(rows) {
        return None;
    }
    let d = data.len() / rows;
    let centred: Vec<Vec<f64>> = data
        .chunks_exact(d)
        .map(|r| {
            let mean = r.iter().map(|&v| v as f64).sum::<f64>() / d as f64;
            r.iter().map(|&v| v as f64 - mean).collect()
        })
        .collect();
    let norms: Vec<f64> = centred
        .iter()
        .map(|r| r.iter().map(|v| v * v).sum::<f64>().sqrt())
        .collect();
    if norms.iter().any(|&n| n == 0.0 || !n.is_finite()) {
        return None;
    }
    let mut c = vec![0.0; rows * rows];
    for i in 0..rows {
        for j in i..rows {
            let dot: f64 = centred[i].iter().zip(&centred[j]).map(|(a, b)| a * b).sum();
            let v = (dot / (norms[i] * norms[j])).clamp(-1.0, 1.0);
            c[i * rows + j] = v;
            c[j * rows + i] = v;
        }
    }
    Some(c)
}

/// Eigenvalues of a symmetric row-major n x n matrix by cyclic Jacobi
/// rotations (accurate to rounding for the small matrices here; unsorted).
pub fn eigvals_sym(mut a: Vec<f64>, n: usize) -> Vec<f64> {
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j] * a[i * n + j])
            .sum();
        let scale: f64 = (0..n).map(|i| a[i * n + i] * a[i * n + i]).sum::<f64>() + off;
        if off <= 1e-30 * scale.max(f64::MIN_POSITIVE) {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                // Rotation angle that zeroes a[p][q] (Golub & Van Loan 8.5.2).
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
            }
        }
    }
    (0..n).map(|i| a[i * n + i]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eigenvalues_of_known_matrices() {
        // [[2, 1], [1, 2]] has eigenvalues 1 and 3.
        let mut ev = eigvals_sym(vec![2.0, 1.0, 1.0, 2.0], 2);
        ev.sort_by(f64::total_cmp);
        assert!((ev[0] - 1.0).abs() < 1e-12 && (ev[1] - 3.0).abs() < 1e-12, "{ev:?}");
        // Q diag(1, 2, 5) Q^T with Q the Householder reflection of
        // v = (1, 1, 1)/sqrt(3): I - 2 v v^T, entries 1/3 and -2/3.
        let q = [
            [1.0 / 3.0, -2.0 / 3.0, -2.0 / 3.0],
            [-2.0 / 3.0, 1.0 / 3.0, -2.0 / 3.0],
            [-2.0 / 3.0, -2.0 / 3.0, 1.0 / 3.0],
        ];
        let d = [1.0, 2.0, 5.0];
        let mut a = vec![0.0; 9];
        for i in 0..3 {
            for j in 0..3 {
                a[i * 3 + j] = (0..3).map(|k| q[i][k] * d[k] * q[j][k]).sum();
            }
        }
        let mut ev = eigvals_sym(a, 3);
        ev.sort_by(f64::total_cmp);
        for (got, want) in ev.iter().zip(d) {
            assert!((got - want).abs() < 1e-12, "{ev:?}");
        }
    }

    #[test]
    fn correlations_and_score_of_two_rows() {
        // Rows (1, 2, 3) and (1, 3, 2): centred (-1, 0, 1), (-1, 1, 0),
        // correlation 1/2; eigenvalues 1/2 and 3/2.
        let c = row_correlations(&[1.0, 2.0, 3.0, 1.0, 3.0, 2.0], 2).unwrap();
        assert!((c[1] - 0.5).abs() < 1e-15 && (c[0] - 1.0).abs() < 1e-15);
        let want = -((0.5 + K).ln() + 1.0 / (0.5 + K) + (1.5 + K).ln() + 1.0 / (1.5 + K));
        let got = jacov_score(&[1.0, 2.0, 3.0, 1.0, 3.0, 2.0], 2).unwrap();
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        assert_eq!(row_correlations(&[1.0, 1.0, 1.0, 1.0, 3.0, 2.0], 2), None);
    }
}
