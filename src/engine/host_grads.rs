//! Per-split weight gradients on the host: im2col + `gemm` + rayon. On the
//! CPU backend this replaces burn's unfold (a one-hot convolution) and never
//! materialises more than one weight-sized buffer per split.

use rayon::prelude::*;

/// Row-major `dst[m, n] (+)= lhs * rhs` with explicit strides (in elements).
#[allow(clippy::too_many_arguments)]
fn gemm_acc(
    dst: &mut [f32],
    (m, n, k): (usize, usize, usize),
    lhs: &[f32],
    (lhs_rs, lhs_cs): (usize, usize),
    rhs: &[f32],
    (rhs_rs, rhs_cs): (usize, usize),
    accumulate: bool,
) {
    assert!(dst.len() >= m * n);
    assert!(m == 0 || k == 0 || lhs.len() > (m - 1) * lhs_rs + (k - 1) * lhs_cs);
    assert!(k == 0 || n == 0 || rhs.len() > (k - 1) * rhs_rs + (n - 1) * rhs_cs);
    // SAFETY: the asserts above bound every index gemm reads or writes.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// This machine's f32 GEMM throughput now, in GFLOP/s (2 n^3 per product):
/// `threads` products of `n` x `n` matrices at once, each on its own
/// thread as the probes of `score` run, best of `reps`. The peak the
/// probe's arithmetic is measured against (`bench`).
pub fn gemm_gflops(n: usize, threads: usize, reps: usize) -> f64 {
    let a: Vec<f32> = (0..n * n).map(|i| (i % 7) as f32 * 0.25).collect();
    let b: Vec<f32> = (0..n * n).map(|i| (i % 5) as f32 * 0.5).collect();
    let mut best = 0.0f64;
    for _ in 0..reps.max(1) {
        let t = std::time::Instant::now();
        (0..threads.max(1)).into_par_iter().for_each(|_| {
            let mut c = vec![0.0f32; n * n];
            gemm_acc(&mut c, (n, n, n), &a, (n, 1), &b, (n, 1), false);
            std::hint::black_box(&c);
        });
        let seconds = t.elapsed().as_secs_f64().max(1e-9);
        best = best.max(threads.max(1) as f64 * 2.0 * (n as f64).powi(3) / seconds / 1e9);
    }
    best
}

/// im2col of one sample: x [cin, h, w] -> cols [cin*k*k, ho*wo]. Each
/// output row is zeros, then the in-image run of its input row (a plain
/// copy at stride 1), then zeros.
fn im2col(
    x: &[f32],
    [cin, h, w]: [usize; 3],
    k: usize,
    stride: usize,
    pad: usize,
    [ho, wo]: [usize; 2],
    cols: &mut [f32],
) {
    let p = ho * wo;
    for c in 0..cin {
        let plane = &x[c * h * w..(c + 1) * h * w];
        for ki in 0..k {
            for kj in 0..k {
                let row = &mut cols[((c * k + ki) * k + kj) * p..][..p];
                // Output columns ox with 0 <= ox * stride + kj - pad < w.
                let first = pad.saturating_sub(kj).div_ceil(stride).min(wo);
                let end = (w + pad).saturating_sub(kj).div_ceil(stride).clamp(first, wo);
                for oy in 0..ho {
                    let iy = (oy * stride + ki) as isize - pad as isize;
                    let out = &mut row[oy * wo..(oy + 1) * wo];
                    if iy < 0 || iy >= h as isize {
                        out.fill(0.0);
                        continue;
                    }
                    let src = &plane[iy as usize * w..][..w];
                    out[..first].fill(0.0);
                    out[end..].fill(0.0);
                    if end == first {
                        continue;
                    }
                    let start = first * stride + kj - pad;
                    if stride == 1 {
                        out[first..end].copy_from_slice(&src[start..start + end - first]);
                    } else {
                        for (o, &v) in out[first..end].iter_mut().zip(src[start..].iter().step_by(stride)) {
                            *o = v;
                        }
                    }
                }
            }
        }
    }
}

/// Conv weight gradients per split: returns [splits, cout * cin * k * k].
/// x: [S, cin, h, w], dout: [S, cout, ho, wo].
pub fn conv_split_grads(
    x: &[f32],
    x_shape: [usize; 4],
    dout: &[f32],
    dout_shape: [usize; 4],
    (k, stride, pad): (usize, usize, usize),
    splits: usize,
) -> Vec<f32> {
    let [s, cin, h, w] = x_shape;
    let [_, cout, ho, wo] = dout_shape;
    let (p, ckk, per) = (ho * wo, cin * k * k, s / splits);
    let n = cout * ckk;
    let mut out = vec![0f32; splits * n];
    // A 1x1 convolution at stride 1 without padding is its own im2col.
    let identity = k == 1 && stride == 1 && pad == 0;
    out.par_chunks_mut(n).enumerate().for_each(|(j, dst)| {
        let mut cols = vec![0f32; if identity { 0 } else { ckk * p }];
        for (i, sample) in (j * per..(j + 1) * per).enumerate() {
            let xs = &x[sample * cin * h * w..][..cin * h * w];
            if !identity {
                im2col(xs, [cin, h, w], k, stride, pad, [ho, wo], &mut cols);
            }
            let d = &dout[sample * cout * p..][..cout * p];
            // dst[cout, ckk] += d[cout, p] * cols^T[p, ckk]
            gemm_acc(
                dst,
                (cout, ckk, p),
                d,
                (p, 1),
                if identity { xs } else { &cols },
                (1, p),
                i > 0,
            );
        }
    });
    out
}

/// Geometry of a grouped / dilated convolution: weight [cout, cin / groups,
/// kernel, kernel].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupedGeometry {
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
    pub dilation: usize,
    pub groups: usize,
}

/// im2col of `cin` channels of one sample with dilation: x [cin, h, w] ->
/// cols [cin*k*k, ho*wo], element by element (DARTS' depthwise layers have
/// one channel per group, too few for the run-copying `im2col` to pay).
fn im2col_dilated(x: &[f32], [cin, h, w]: [usize; 3], geo: GroupedGeometry, [ho, wo]: [usize; 2], cols: &mut [f32]) {
    let GroupedGeometry {
        kernel: k,
        stride,
        padding: pad,
        dilation: dil,
        ..
    } = geo;
    let p = ho * wo;
    for c in 0..cin {
        let plane = &x[c * h * w..(c + 1) * h * w];
        for ki in 0..k {
            for kj in 0..k {
                let row = &mut cols[((c * k + ki) * k + kj) * p..][..p];
                for oy in 0..ho {
                    let iy = (oy * stride + ki * dil) as isize - pad as isize;
                    let out = &mut row[oy * wo..(oy + 1) * wo];
                    if iy < 0 || iy >= h as isize {
                        out.fill(0.0);
                        continue;
                    }
                    let src = &plane[iy as usize * w..][..w];
                    for (ox, o) in out.iter_mut().enumerate() {
                        let ix = (ox * stride + kj * dil) as isize - pad as isize;
                        *o = if ix >= 0 && ix < w as isize {
                            src[ix as usize]
                        } else {
                            0.0
                        };
                    }
                }
            }
        }
    }
}

/// Grouped / dilated conv weight gradients per split: [splits, cout *
/// cin/groups * k * k]. x: [S, cin, h, w], dout: [S, cout, ho, wo]; output
/// channel o of group g = o / (cout / groups) pairs with that group's
/// input channels only.
pub fn grouped_conv_split_grads(
    x: &[f32],
    x_shape: [usize; 4],
    dout: &[f32],
    dout_shape: [usize; 4],
    geo: GroupedGeometry,
    splits: usize,
) -> Vec<f32> {
    let [s, cin, h, w] = x_shape;
    let [_, cout, ho, wo] = dout_shape;
    let g = geo.groups;
    let (cpg, opg, kk, p) = (cin / g, cout / g, geo.kernel * geo.kernel, ho * wo);
    let (per, block) = (s / splits, opg * cpg * kk);
    let n = g * block;
    let mut out = vec![0f32; splits * n];
    out.par_chunks_mut(n).enumerate().for_each(|(j, dst)| {
        let mut cols = vec![0f32; cpg * kk * p];
        for (i, sample) in (j * per..(j + 1) * per).enumerate() {
            for grp in 0..g {
                let xs = &x[(sample * cin + grp * cpg) * h * w..][..cpg * h * w];
                im2col_dilated(xs, [cpg, h, w], geo, [ho, wo], &mut cols);
                let d = &dout[(sample * cout + grp * opg) * p..][..opg * p];
                // dst_g[opg, cpg*kk] += d[opg, p] * cols^T[p, cpg*kk]
                gemm_acc(
                    &mut dst[grp * block..(grp + 1) * block],
                    (opg, cpg * kk, p),
                    d,
                    (p, 1),
                    &cols,
                    (1, p),
                    i > 0,
                );
            }
        }
    });
    out
}

/// Linear weight gradients per split: returns [splits, out * in].
/// x: [S * t, in], dout: [S * t, out] (t tokens per sample).
pub fn linear_split_grads(
    x: &[f32],
    dout: &[f32],
    rows: usize,
    (inp, outp): (usize, usize),
    splits: usize,
) -> Vec<f32> {
    let per = rows / splits;
    let n = outp * inp;
    let mut out = vec![0f32; splits * n];
    out.par_chunks_mut(n).enumerate().for_each(|(j, dst)| {
        let d = &dout[j * per * outp..][..per * outp];
        let xs = &x[j * per * inp..][..per * inp];
        // dst[out, in] = d^T[out, per] * xs[per, in]
        gemm_acc(dst, (outp, inp, per), d, (1, outp), xs, (inp, 1), false);
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct definition: g[o, c, ki, kj] = sum_{oy, ox} dout[o, oy, ox] * x[c, oy*s+ki-p, ox*s+kj-p].
    fn direct(
        x: &[f32],
        [cin, h, w]: [usize; 3],
        dout: &[f32],
        [cout, ho, wo]: [usize; 3],
        k: usize,
        st: usize,
        pad: usize,
    ) -> Vec<f32> {
        let mut g = vec![0f32; cout * cin * k * k];
        for o in 0..cout {
            for c in 0..cin {
                for ki in 0..k {
                    for kj in 0..k {
                        let mut acc = 0f32;
                        for oy in 0..ho {
                            for ox in 0..wo {
                                let iy = (oy * st + ki) as isize - pad as isize;
                                let ix = (ox * st + kj) as isize - pad as isize;
                                if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                                    acc += dout[(o * ho + oy) * wo + ox] * x[(c * h + iy as usize) * w + ix as usize];
                                }
                            }
                        }
                        g[((o * cin + c) * k + ki) * k + kj] = acc;
                    }
                }
            }
        }
        g
    }

    #[test]
    fn the_gemm_peak_is_a_real_rate() {
        // 2 * 128^3 flops per product: even an unoptimised core does well
        // over 0.1 GFLOP/s, and a zero time would give infinity.
        let one = gemm_gflops(128, 1, 2);
        assert!(one.is_finite() && one > 0.1, "{one}");
    }

    #[test]
    fn conv_grads_match_the_direct_sum_for_strides_and_kernels() {
        let (s, cin, h, w, cout) = (4, 3, 7, 6, 5);
        let x: Vec<f32> = (0..s * cin * h * w)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0)
            .collect();
        for (k, st, pad) in [
            (3, 1, 1),
            (3, 2, 1),
            (1, 1, 0),
            (1, 2, 0),
            (3, 1, 0),
            (3, 2, 2),
            (5, 1, 2),
            (3, 3, 4),
        ] {
            let (ho, wo) = ((h + 2 * pad - k) / st + 1, (w + 2 * pad - k) / st + 1);
            let dout: Vec<f32> = (0..s * cout * ho * wo)
                .map(|i| ((i * 53 % 89) as f32 - 44.0) / 44.0)
                .collect();
            let got = conv_split_grads(&x, [s, cin, h, w], &dout, [s, cout, ho, wo], (k, st, pad), s);
            let per_x = cin * h * w;
            let per_d = cout * ho * wo;
            for i in 0..s {
                let want = direct(
                    &x[i * per_x..][..per_x],
                    [cin, h, w],
                    &dout[i * per_d..][..per_d],
                    [cout, ho, wo],
                    k,
                    st,
                    pad,
                );
                let n = want.len();
                for (a, b) in got[i * n..(i + 1) * n].iter().zip(&want) {
                    assert!((a - b).abs() < 1e-4, "k={k} s={st}: {a} vs {b}");
                }
            }
            // Two splits sum their samples.
            let two = conv_split_grads(&x, [s, cin, h, w], &dout, [s, cout, ho, wo], (k, st, pad), 2);
            let n = cout * cin * k * k;
            for j in 0..n {
                let want = got[j] + got[n + j];
                assert!((two[j] - want).abs() < 1e-4);
            }
        }
    }

    #[test]
    fn linear_grads_are_outer_products() {
        // x = [[1, 2], [3, 4]], dout = [[1, 0, 2], [0, 1, 1]] per sample.
        let x = [1.0, 2.0, 3.0, 4.0];
        let d = [1.0, 0.0, 2.0, 0.0, 1.0, 1.0];
        let g = linear_split_grads(&x, &d, 2, (2, 3), 2);
        assert_eq!(g, vec![1.0, 2.0, 0.0, 0.0, 2.0, 4.0, 0.0, 0.0, 3.0, 4.0, 3.0, 4.0]);
        let g1 = linear_split_grads(&x, &d, 2, (2, 3), 1);
        assert_eq!(g1, vec![1.0, 2.0, 3.0, 4.0, 5.0, 8.0]);
    }
}
