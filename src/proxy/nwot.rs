//! NWOT (Mellor et al.): log|det K| of the Hamming-agreement kernel of the
//! binary codes of all ReLU inputs.

use super::{NONE, ProxyInfo, req};
use crate::engine::probe::ProbeNeeds;

pub const INFO: ProxyInfo = ProxyInfo {
    name: "nwot",
    summary: "NWOT: log|det K|, K the agreement kernel of binary ReLU codes",
    requires: req(true, false, false),
    gradient_based: false,
    negated: false,
    needs: ProbeNeeds { nwot: true, ..NONE },
    compute: |rec| {
        let k = rec.nwot_kernel.as_ref()?;
        let s = (k.len() as f64).sqrt() as usize;
        log_abs_det(k.clone(), s)
    },
};

/// log|det A| by LU with partial pivoting in f64; `None` when singular.
pub fn log_abs_det(mut a: Vec<f64>, n: usize) -> Option<f64> {
    let mut logdet = 0.0;
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[i * n + col].abs().total_cmp(&a[j * n + col].abs()))?;
        let p = a[pivot * n + col];
        if p == 0.0 {
            return None;
        }
        if pivot != col {
            for c in 0..n {
                a.swap(pivot * n + c, col * n + c);
            }
        }
        logdet += p.abs().ln();
        for r in col + 1..n {
            let f = a[r * n + col] / p;
            if f != 0.0 {
                for c in col..n {
                    a[r * n + c] -= f * a[col * n + c];
                }
            }
        }
    }
    Some(logdet)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_det_of_small_matrices() {
        // det [[4, 2], [1, 3]] = 10; det of a permutation-needing matrix
        // [[0, 2], [3, 1]] = -6.
        assert!((log_abs_det(vec![4.0, 2.0, 1.0, 3.0], 2).unwrap() - 10f64.ln()).abs() < 1e-12);
        assert!((log_abs_det(vec![0.0, 2.0, 3.0, 1.0], 2).unwrap() - 6f64.ln()).abs() < 1e-12);
        assert_eq!(log_abs_det(vec![1.0, 2.0, 2.0, 4.0], 2), None);
    }
}
