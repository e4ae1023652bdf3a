//! Per-split weight gradients on the host: im2col + `gemm` + rayon. On the
//! CPU backend this replaces burn's unfold (a one-hot convolution) and never
//! materialises more than one weight-sized buffer per split.

use rayon::prelude::*;

/// The element types of the host kernels: f32, and f64 for the passes
/// that run in double precision (synflow, grasp).
pub trait Real:
    Copy
    + Send
    + Sync
    + 'static
    + PartialOrd
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Div<Output = Self>
    + std::ops::AddAssign
    + std::iter::Sum
{
    const ZERO: Self;
    const ONE: Self;
    fn to_f64(self) -> f64;
    fn from_f64(v: f64) -> Self;
}

impl Real for f32 {
    const ZERO: f32 = 0.0;
    const ONE: f32 = 1.0;
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn from_f64(v: f64) -> f32 {
        v as f32
    }
}

impl Real for f64 {
    const ZERO: f64 = 0.0;
    const ONE: f64 = 1.0;
    fn to_f64(self) -> f64 {
        self
    }
    fn from_f64(v: f64) -> f64 {
        v
    }
}

/// Row-major `dst[m, n] (+)= lhs * rhs` with explicit strides (in elements).
#[allow(clippy::too_many_arguments)]
fn gemm_acc<T: Real>(
    dst: &mut [T],
    (m, n, k): (usize, usize, usize),
    lhs: &[T],
    lhs_strides: (usize, usize),
    rhs: &[T],
    rhs_strides: (usize, usize),
    accumulate: bool,
) {
    gemm_strided(dst, (n, 1), (m, n, k), lhs, lhs_strides, rhs, rhs_strides, accumulate);
}

/// `dst[m, n] (+)= lhs * rhs` with explicit (row, column) strides of all
/// three, in elements. gemm's microkernels write column-major: a
/// destination with unit row stride is computed as given, any other as its
/// transpose (so the m side of a row-major lhs becomes strided in packing).
#[allow(clippy::too_many_arguments)]
fn gemm_strided<T: Real>(
    dst: &mut [T],
    (dst_rs, dst_cs): (usize, usize),
    (m, n, k): (usize, usize, usize),
    lhs: &[T],
    (lhs_rs, lhs_cs): (usize, usize),
    rhs: &[T],
    (rhs_rs, rhs_cs): (usize, usize),
    accumulate: bool,
) {
    assert!(m == 0 || n == 0 || dst.len() > (m - 1) * dst_rs + (n - 1) * dst_cs);
    assert!(m == 0 || k == 0 || lhs.len() > (m - 1) * lhs_rs + (k - 1) * lhs_cs);
    assert!(k == 0 || n == 0 || rhs.len() > (k - 1) * rhs_rs + (n - 1) * rhs_cs);
    // SAFETY: the asserts above bound every index gemm reads or writes.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            dst_cs as isize,
            dst_rs as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            T::ONE,
            T::ONE,
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

/// Geometry of a convolution: weight [cout, cin / groups, kernel, kernel].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeometry {
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
    pub dilation: usize,
    pub groups: usize,
}

impl ConvGeometry {
    /// An ordinary convolution: one group, no dilation.
    pub fn dense(kernel: usize, stride: usize, padding: usize) -> ConvGeometry {
        ConvGeometry {
            kernel,
            stride,
            padding,
            dilation: 1,
            groups: 1,
        }
    }

    /// Output side for an input side.
    pub fn out_side(&self, side: usize) -> usize {
        (side + 2 * self.padding - self.dilation * (self.kernel - 1) - 1) / self.stride + 1
    }

    /// A 1x1 convolution at stride 1 without padding is its own im2col.
    fn is_pointwise(&self) -> bool {
        self.kernel == 1 && self.stride == 1 && self.padding == 0
    }

    /// For kernel column `kj`: the output columns `first..end` whose input
    /// column `ox * stride + kj * dilation - padding` lies inside [0, w),
    /// and the input column of `first`.
    fn column_run(&self, kj: usize, w: usize, wo: usize) -> (usize, usize, usize) {
        let offset = kj * self.dilation;
        let first = self.padding.saturating_sub(offset).div_ceil(self.stride).min(wo);
        let end = (w + self.padding)
            .saturating_sub(offset)
            .div_ceil(self.stride)
            .clamp(first, wo);
        (first, end, (first * self.stride + offset).saturating_sub(self.padding))
    }
}

/// Every in-image run of one channel's convolution: for kernel position r
/// = ki * k + kj and output row oy, `f(r, out, len, inp)` where outputs
/// out..out + len read inputs inp, inp + stride, ... of the [h, w] plane.
/// Depthwise layers run on these directly, without an im2col buffer.
fn for_each_run(
    geo: ConvGeometry,
    [h, w]: [usize; 2],
    [ho, wo]: [usize; 2],
    mut f: impl FnMut(usize, usize, usize, usize),
) {
    let k = geo.kernel;
    for ki in 0..k {
        for kj in 0..k {
            let (first, end, start) = geo.column_run(kj, w, wo);
            if end == first {
                continue;
            }
            for oy in 0..ho {
                let iy = (oy * geo.stride + ki * geo.dilation) as isize - geo.padding as isize;
                if iy >= 0 && iy < h as isize {
                    f(ki * k + kj, oy * wo + first, end - first, iy as usize * w + start);
                }
            }
        }
    }
}

/// dst[j * dst_step] += a * src[j * src_step] for j in 0..len: a run of a
/// depthwise convolution, gathered from a strided input or scattered onto one.
fn strided_axpy<T: Real>(len: usize, (dst, dst_step): (&mut [T], usize), a: T, (src, src_step): (&[T], usize)) {
    if dst_step == 1 && src_step == 1 {
        dst[..len].iter_mut().zip(&src[..len]).for_each(|(d, &v)| *d += a * v);
    } else {
        dst.iter_mut()
            .step_by(dst_step)
            .zip(src.iter().step_by(src_step))
            .take(len)
            .for_each(|(d, &v)| *d += a * v);
    }
}

/// A depthwise channel on zero-padded copies of its plane, one per phase
/// (a, b) of the stride s: phase (a, b) holds padded pixels (u s + a, v s + b)
/// at (u, v), rows `wq` wide. Tap r = (ki, kj) of output j = oy * wq + ox
/// reads phase ((ki d) % s, (kj d) % s) at j + (ki d / s) wq + kj d / s, so
/// each tap is one long contiguous loop over every row instead of one short
/// run per row (NB301's 8- to 32-pixel rows made the runs' overhead the
/// cost). The `wq - wo` columns past each output row are scratch. Padding
/// taps add exact zeros, so the sums are those of the runs, in their order.
struct Phases {
    s: usize,
    wq: usize,
    /// One phase plane's length, with zero rows and columns past its end
    /// for the last rows' scratch columns.
    len: usize,
    /// Output rows at phase width: ho * wq.
    rows: usize,
}

impl Phases {
    fn new(geo: ConvGeometry, [h, w]: [usize; 2], ho: usize) -> Phases {
        let s = geo.stride.max(1);
        let wq = (w + 2 * geo.padding).div_ceil(s);
        let hq = (h + 2 * geo.padding).div_ceil(s);
        let reach = (geo.kernel - 1) * geo.dilation / s;
        Phases {
            s,
            wq,
            len: (hq.max(ho + reach) + 1) * wq + reach,
            rows: ho * wq,
        }
    }

    /// Where tap r reads: the phase plane's start and the offset in it.
    fn tap(&self, geo: ConvGeometry, r: usize) -> (usize, usize) {
        let (di, dj) = ((r / geo.kernel) * geo.dilation, (r % geo.kernel) * geo.dilation);
        let phase = (di % self.s) * self.s + dj % self.s;
        (phase * self.len, (di / self.s) * self.wq + dj / self.s)
    }

    /// Element of pixel (iy, ix) of the unpadded plane.
    fn at(&self, iy: usize, ix: usize, pad: usize) -> usize {
        let (py, px) = (iy + pad, ix + pad);
        ((py % self.s) * self.s + px % self.s) * self.len + (py / self.s) * self.wq + px / self.s
    }

    /// `buf` resized to the phase planes of `x` followed by `extra` zeros.
    fn split<'a, T: Real>(
        &self,
        x: &[T],
        [h, w]: [usize; 2],
        pad: usize,
        extra: usize,
        buf: &'a mut Vec<T>,
    ) -> &'a mut [T] {
        buf.clear();
        buf.resize(self.s * self.s * self.len + extra, T::ZERO);
        for iy in 0..h {
            let row = &x[iy * w..][..w];
            for (ix0, start) in self.row_runs(iy, w, pad) {
                let dst = &mut buf[start..];
                if self.s == 1 {
                    dst[..w].copy_from_slice(row);
                } else {
                    let src = row[ix0..].iter().step_by(self.s);
                    dst.iter_mut().zip(src).for_each(|(d, &v)| *d = v);
                }
            }
        }
        buf
    }

    /// `dx += ` the phase planes' pixels of the unpadded plane: `split`
    /// inverted, adding. Each pixel gets one addend, so the order is free.
    fn gather_add<T: Real>(&self, planes: &[T], [h, w]: [usize; 2], pad: usize, dx: &mut [T]) {
        for iy in 0..h {
            let row = &mut dx[iy * w..][..w];
            for (ix0, start) in self.row_runs(iy, w, pad) {
                let src = &planes[start..];
                if self.s == 1 {
                    row.iter_mut().zip(src).for_each(|(d, &v)| *d += v);
                } else {
                    let dst = row[ix0..].iter_mut().step_by(self.s);
                    dst.zip(src).for_each(|(d, &v)| *d += v);
                }
            }
        }
    }

    /// Row iy of the unpadded plane as one run per phase column: pixels
    /// ix0, ix0 + s, ... sit contiguously in their phase plane from `start`
    /// (at stride 1 the whole row, which the callers move as a plain slice).
    fn row_runs(&self, iy: usize, w: usize, pad: usize) -> impl Iterator<Item = (usize, usize)> + '_ {
        (0..self.s.min(w)).map(move |ix0| (ix0, self.at(iy, ix0, pad)))
    }

    /// `buf` resized to dout's rows at phase width (zero scratch columns),
    /// followed by zero phase planes.
    fn rows_then_planes<'a, T: Real>(&self, dout: &[T], wo: usize, buf: &'a mut Vec<T>) -> (&'a mut [T], &'a mut [T]) {
        buf.clear();
        buf.resize(self.rows + self.s * self.s * self.len, T::ZERO);
        let (rows, planes) = buf.split_at_mut(self.rows);
        for (row, d) in rows.chunks_mut(self.wq).zip(dout.chunks(wo)) {
            row[..wo].copy_from_slice(d);
        }
        (rows, planes)
    }
}

/// One depthwise channel forward: out [ho*wo] = sum over taps of w[r] * x.
fn depthwise_forward<T: Real>(
    x: &[T],
    weight: &[T],
    geo: ConvGeometry,
    hw: [usize; 2],
    [ho, wo]: [usize; 2],
    out: &mut [T],
    scratch: &mut Vec<T>,
) {
    let ph = Phases::new(geo, hw, ho);
    let buf = ph.split(x, hw, geo.padding, ph.rows, scratch);
    let (planes, acc) = buf.split_at_mut(ph.s * ph.s * ph.len);
    for (r, &a) in weight.iter().enumerate() {
        let (plane, offset) = ph.tap(geo, r);
        let src = &planes[plane + offset..][..ph.rows];
        acc.iter_mut().zip(src).for_each(|(d, &v)| *d += a * v);
    }
    for (o, row) in out.chunks_mut(wo).zip(acc.chunks(ph.wq)) {
        o.iter_mut().zip(row).for_each(|(d, &v)| *d += v);
    }
}

/// One depthwise channel's input gradient: dx += w[r] * dout over taps.
fn depthwise_input_grad<T: Real>(
    dout: &[T],
    weight: &[T],
    geo: ConvGeometry,
    [h, w]: [usize; 2],
    [ho, wo]: [usize; 2],
    dx: &mut [T],
    scratch: &mut Vec<T>,
) {
    let ph = Phases::new(geo, [h, w], ho);
    let (rows, planes) = ph.rows_then_planes(dout, wo, scratch);
    for (r, &a) in weight.iter().enumerate() {
        let (plane, offset) = ph.tap(geo, r);
        let dst = &mut planes[plane + offset..][..ph.rows];
        dst.iter_mut().zip(&*rows).for_each(|(d, &v)| *d += a * v);
    }
    ph.gather_add(planes, [h, w], geo.padding, dx);
}

/// One depthwise channel's weight gradient: dw[r] += <x, dout> per tap.
fn depthwise_weight_grad<T: Real>(
    x: &[T],
    dout: &[T],
    geo: ConvGeometry,
    hw: [usize; 2],
    [ho, wo]: [usize; 2],
    dw: &mut [T],
    scratch: &mut Vec<T>,
) {
    let ph = Phases::new(geo, hw, ho);
    let planes = ph.split(x, hw, geo.padding, 0, scratch);
    for (r, dw) in dw.iter_mut().enumerate() {
        let (plane, offset) = ph.tap(geo, r);
        let src = &planes[plane + offset..];
        // Per output row, as the runs summed (padding adds exact zeros).
        for (oy, d) in dout.chunks(wo).enumerate().take(ho) {
            *dw += src[oy * ph.wq..][..wo].iter().zip(d).map(|(&a, &b)| a * b).sum::<T>();
        }
    }
}

/// im2col of one sample: x [cin, h, w] -> cols [cin*k*k, ho*wo], one row
/// per channel and kernel tap.
fn im2col<T: Real>(
    x: &[T],
    [cin, h, w]: [usize; 3],
    geo: ConvGeometry,
    [ho, wo]: [usize; 2],
    (cols, row_stride): (&mut [T], usize),
) {
    let (k, p) = (geo.kernel, ho * wo);
    for c in 0..cin {
        let plane = &x[c * h * w..(c + 1) * h * w];
        for ki in 0..k {
            for kj in 0..k {
                let row = &mut cols[((c * k + ki) * k + kj) * row_stride..][..p];
                if geo.stride == 1 && wo == w {
                    same_width_shift(plane, [h, w], geo, [ki, kj], ho, row);
                } else {
                    row_by_row(plane, [h, w], geo, [ki, kj], [ho, wo], row);
                }
            }
        }
    }
}

/// One im2col row, tap (ki, kj) of one channel plane: each output row is
/// zeros, then the in-image run of its input row (a plain copy at stride
/// 1), then zeros.
fn row_by_row<T: Real>(
    plane: &[T],
    [h, w]: [usize; 2],
    geo: ConvGeometry,
    [ki, kj]: [usize; 2],
    [ho, wo]: [usize; 2],
    row: &mut [T],
) {
    let (first, end, start) = geo.column_run(kj, w, wo);
    for oy in 0..ho {
        let iy = (oy * geo.stride + ki * geo.dilation) as isize - geo.padding as isize;
        let out = &mut row[oy * wo..(oy + 1) * wo];
        if iy < 0 || iy >= h as isize {
            out.fill(T::ZERO);
            continue;
        }
        let src = &plane[iy as usize * w..][..w];
        out[..first].fill(T::ZERO);
        out[end..].fill(T::ZERO);
        if end == first {
            continue;
        }
        if geo.stride == 1 {
            out[first..end].copy_from_slice(&src[start..start + end - first]);
        } else {
            for (o, &v) in out[first..end].iter_mut().zip(src[start..].iter().step_by(geo.stride)) {
                *o = v;
            }
        }
    }
}

/// Tap (ki, kj) of a stride-1 convolution whose output rows are as wide as
/// its input rows, as flat ranges: output position j reads plane position
/// j + `shift`, in the image for j in `a..b` except the columns outside
/// `first..end` of rows `oy0..oy1`, which wrapped onto a neighbouring row.
struct ShiftedTap {
    a: usize,
    b: usize,
    shift: isize,
    oy0: usize,
    oy1: usize,
    first: usize,
    end: usize,
}

impl ShiftedTap {
    fn new([h, w]: [usize; 2], geo: ConvGeometry, [ki, kj]: [usize; 2], ho: usize) -> ShiftedTap {
        let dy = (ki * geo.dilation) as isize - geo.padding as isize;
        // Output rows oy whose input row oy + dy lies in the image.
        let oy0 = (-dy).clamp(0, ho as isize) as usize;
        let oy1 = (h as isize - dy).clamp(oy0 as isize, ho as isize) as usize;
        let shift = dy * w as isize + (kj * geo.dilation) as isize - geo.padding as isize;
        // The flat range of those rows, clipped to where the shifted read stays in the plane.
        let p = ho * w;
        let a = (((oy0 * w) as isize).max(-shift) as usize).min(p);
        let b = (((oy1 * w) as isize).min((h * w) as isize - shift).max(a as isize)) as usize;
        let (first, end, _) = geo.column_run(kj, w, w);
        ShiftedTap {
            a,
            b,
            shift,
            oy0,
            oy1,
            first,
            end,
        }
    }

    /// The plane range that output range `a..b` reads.
    fn source(&self) -> std::ops::Range<usize> {
        (self.a as isize + self.shift) as usize..(self.b as isize + self.shift) as usize
    }

    /// Zeros the wrapped columns of an output row `row` (w wide per image
    /// row). Column by column, not a fill per row: they are one or two per
    /// row, and a memset call for each cost as much as the copy.
    fn zero_wrapped<T: Real>(&self, row: &mut [T], w: usize) {
        let rows = &mut row[self.oy0 * w..self.oy1 * w];
        for col in (0..self.first).chain(self.end..w) {
            rows.iter_mut().skip(col).step_by(w).for_each(|v| *v = T::ZERO);
        }
    }
}

/// One im2col row of a stride-1 convolution whose output rows are as wide
/// as its input rows: the plane shifted by the tap's offset, as one copy,
/// then zeros where the tap falls outside the image (rows above or below,
/// and the columns that wrapped onto a neighbouring row). The same values
/// as the row-by-row loop, without a copy call per output row (at 32 x 32
/// those calls cost as much as the GEMM that reads the columns).
fn same_width_shift<T: Real>(
    plane: &[T],
    [h, w]: [usize; 2],
    geo: ConvGeometry,
    tap: [usize; 2],
    ho: usize,
    row: &mut [T],
) {
    let t = ShiftedTap::new([h, w], geo, tap, ho);
    row[..t.a].fill(T::ZERO);
    row[t.b..].fill(T::ZERO);
    if t.a < t.b {
        row[t.a..t.b].copy_from_slice(&plane[t.source()]);
    }
    t.zero_wrapped(row, w);
}

/// The adjoint of [`im2col`]: adds cols [cin*k*k, ho*wo] back onto the
/// input positions they were read from, dx [cin, h, w].
fn col2im_add<T: Real>(
    (cols, row_stride): (&mut [T], usize),
    [cin, h, w]: [usize; 3],
    geo: ConvGeometry,
    [ho, wo]: [usize; 2],
    dx: &mut [T],
) {
    let kk = geo.kernel * geo.kernel;
    if geo.stride == 1 && wo == w {
        // The adjoint of `same_width_shift`: each tap's row, its wrapped
        // columns zeroed (cols is scratch), added back as one shifted run.
        // The terms of each pixel arrive in the row-by-row loop's order; a
        // zero added where that loop added nothing changes only a -0 to +0.
        let p = ho * w;
        for c in 0..cin {
            let plane = &mut dx[c * h * w..(c + 1) * h * w];
            for ki in 0..geo.kernel {
                for kj in 0..geo.kernel {
                    let t = ShiftedTap::new([h, w], geo, [ki, kj], ho);
                    let row = &mut cols[(c * kk + ki * geo.kernel + kj) * row_stride..][..p];
                    if t.a < t.b {
                        t.zero_wrapped(row, w);
                        let run = &row[t.a..t.b];
                        plane[t.source()].iter_mut().zip(run).for_each(|(d, &v)| *d += v);
                    }
                }
            }
        }
        return;
    }
    col2im_runs((cols, row_stride), [cin, h, w], geo, [ho, wo], dx);
}

/// [`col2im_add`] one in-image run per output row and tap, any geometry.
fn col2im_runs<T: Real>(
    (cols, row_stride): (&[T], usize),
    [cin, h, w]: [usize; 3],
    geo: ConvGeometry,
    [ho, wo]: [usize; 2],
    dx: &mut [T],
) {
    let kk = geo.kernel * geo.kernel;
    for c in 0..cin {
        let plane = &mut dx[c * h * w..(c + 1) * h * w];
        for_each_run(geo, [h, w], [ho, wo], |r, o, len, i| {
            let row = &cols[(c * kk + r) * row_stride..];
            strided_axpy(len, (&mut plane[i..], geo.stride), T::ONE, (&row[o..], 1))
        });
    }
}

/// Conv weight gradients per split: [splits, cout * cin/groups * k * k].
/// x: [S, cin, h, w], dout: [S, cout, ho, wo]; output channel o of group
/// g = o / (cout / groups) pairs with that group's input channels only.
pub fn conv_split_grads<T: Real>(
    x: &[T],
    x_shape: [usize; 4],
    dout: &[T],
    dout_shape: [usize; 4],
    geo: ConvGeometry,
    splits: usize,
) -> Vec<T> {
    let [s, cin, h, w] = x_shape;
    let [_, cout, ho, wo] = dout_shape;
    let g = geo.groups;
    let (cpg, opg, kk, p) = (cin / g, cout / g, geo.kernel * geo.kernel, ho * wo);
    let (per, block) = (s / splits, opg * cpg * kk);
    let n = g * block;
    let mut out = vec![T::ZERO; splits * n];
    let pointwise = geo.is_pointwise();
    let depthwise = cpg == 1 && opg == 1;
    let ckk = cpg * kk;
    let ld = if pointwise { p } else { padded_stride::<T>(p) };
    out.par_chunks_mut(n).enumerate().for_each(|(j, dst)| {
        let mut cols = vec![T::ZERO; if pointwise || depthwise { 0 } else { ckk * ld }];
        let mut flat = Vec::new();
        // gemm packs the side of the product whose rows it writes along
        // with a stride of p: the smaller one, d [opg, p] or cols [ckk, p],
        // is the cheaper. d: each group's sum column-major [ckk][opg] in
        // `acc`, transposed at the end (3x the rate on NB201's layers);
        // cols (a decoder's few output channels): straight into `dst`.
        let transposed = !depthwise && opg <= ckk && p >= ckk;
        let mut acc = vec![T::ZERO; if transposed { n } else { 0 }];
        for (i, sample) in (j * per..(j + 1) * per).enumerate() {
            for grp in 0..g {
                let xs = &x[(sample * cin + grp * cpg) * h * w..][..cpg * h * w];
                let d = &dout[(sample * cout + grp * opg) * p..][..opg * p];
                if depthwise {
                    let dw = &mut dst[grp * block..(grp + 1) * block];
                    depthwise_weight_grad(xs, d, geo, [h, w], [ho, wo], dw, &mut flat);
                    continue;
                }
                if !pointwise {
                    im2col(xs, [cpg, h, w], geo, [ho, wo], (&mut cols, ld));
                }
                let cols = if pointwise { xs } else { &cols[..] };
                // dst_g[opg, ckk] += d[opg, p] * cols^T[p, ckk]
                if transposed {
                    let acc = &mut acc[grp * block..(grp + 1) * block];
                    gemm_strided(acc, (1, opg), (opg, ckk, p), d, (p, 1), cols, (1, ld), i > 0);
                } else {
                    let dst = &mut dst[grp * block..(grp + 1) * block];
                    gemm_acc(dst, (opg, ckk, p), d, (p, 1), cols, (1, ld), i > 0);
                }
            }
        }
        if transposed {
            for (dst, acc) in dst.chunks_mut(block).zip(acc.chunks(block)) {
                for (o, row) in dst.chunks_mut(ckk).enumerate() {
                    row.iter_mut().enumerate().for_each(|(r, v)| *v = acc[r * opg + o]);
                }
            }
        }
    });
    out
}

/// The total weight gradient of a convolution over all samples,
/// [cout, cin/groups, k, k]: per-split sums on the cores, then added.
pub fn conv_weight_grad<T: Real>(
    x: &[T],
    x_shape: [usize; 4],
    dout: &[T],
    dout_shape: [usize; 4],
    geo: ConvGeometry,
) -> Vec<T> {
    let s = x_shape[0];
    let threads = rayon::current_num_threads().clamp(1, s.max(1));
    // The most splits (one per core at most) that divide the samples evenly.
    let splits = (1..=threads).rev().find(|d| s.is_multiple_of(*d)).unwrap_or(1);
    let parts = conv_split_grads(x, x_shape, dout, dout_shape, geo, splits);
    let n = parts.len() / splits;
    let mut total = parts[..n].to_vec();
    for part in parts[n..].chunks(n) {
        total.iter_mut().zip(part).for_each(|(t, &v)| *t += v);
    }
    total
}

/// Samples per GEMM of a convolution pass: layers with few output pixels
/// (TransNAS-Bench's deep layers: 4 to 16 pixels at 64 px) put several
/// samples side by side, so gemm's row blocks fill and each packed weight
/// is reused; larger layers keep one sample per GEMM. At most a quarter of
/// the batch, so the blocks still spread over the cores. It depends on the
/// batch and the layer only: the summation order, and so every score, is
/// the same on any number of cores.
fn samples_per_gemm(s: usize, pixels: usize) -> usize {
    const MIN_COLUMNS: usize = 256;
    MIN_COLUMNS.div_ceil(pixels.max(1)).clamp(1, s.div_ceil(4).max(1))
}

/// Row stride for a row-major buffer of rows of `n` elements that gemm
/// reads down its columns: a stride of a multiple of 4 KiB puts every row
/// of a column in the same L1 set.
fn padded_stride<T>(n: usize) -> usize {
    let line = 64 / std::mem::size_of::<T>();
    let ld = n.next_multiple_of(line);
    if (ld * std::mem::size_of::<T>()).is_multiple_of(4096) {
        ld + line
    } else {
        ld
    }
}

/// A convolution's forward pass on the host: x [S, cin, h, w], weight
/// [cout, cin/groups, k, k] -> [S, cout, ho, wo]. One im2col and one GEMM
/// per group and block of samples (`samples_per_gemm`), blocks spread over
/// the cores.
pub fn conv_forward<T: Real>(
    x: &[T],
    [s, cin, h, w]: [usize; 4],
    weight: &[T],
    cout: usize,
    geo: ConvGeometry,
) -> Vec<T> {
    let (ho, wo) = (geo.out_side(h), geo.out_side(w));
    let g = geo.groups;
    let (cpg, opg, kk, p) = (cin / g, cout / g, geo.kernel * geo.kernel, ho * wo);
    let ckk = cpg * kk;
    let mut out = vec![T::ZERO; s * cout * p];
    let pointwise = geo.is_pointwise();
    let depthwise = cpg == 1 && opg == 1;
    let block = if depthwise { 1 } else { samples_per_gemm(s, p) };
    out.par_chunks_mut(block * cout * p).enumerate().for_each_init(
        || (Vec::new(), Vec::new()),
        |(cols, prod), (b, dst)| {
            let ns = dst.len() / (cout * p);
            let n = ns * p;
            let sample_x = |i: usize, grp: usize| &x[((b * block + i) * cin + grp * cpg) * h * w..][..cpg * h * w];
            for grp in 0..g {
                let wg = &weight[grp * opg * ckk..(grp + 1) * opg * ckk];
                if depthwise {
                    depthwise_forward(
                        sample_x(0, grp),
                        wg,
                        geo,
                        [h, w],
                        [ho, wo],
                        &mut dst[grp * p..][..p],
                        cols,
                    );
                    continue;
                }
                if ns == 1 && pointwise {
                    // dst_g[opg, p] = w_g[opg, cpg] * x_g[cpg, p]
                    let dst = &mut dst[grp * opg * p..][..opg * p];
                    gemm_acc(dst, (opg, p, ckk), wg, (ckk, 1), sample_x(0, grp), (p, 1), false);
                    continue;
                }
                // cols[ckk, n]: each sample's im2col in its own p columns,
                // rows `ld` apart.
                let ld = padded_stride::<T>(n);
                cols.resize(ckk * ld, T::ZERO);
                for i in 0..ns {
                    let xs = sample_x(i, grp);
                    if pointwise {
                        for (c, row) in xs.chunks(p).enumerate() {
                            cols[c * ld + i * p..][..p].copy_from_slice(row);
                        }
                    } else {
                        im2col(xs, [cpg, h, w], geo, [ho, wo], (&mut cols[i * p..], ld));
                    }
                }
                if ns == 1 {
                    let dst = &mut dst[grp * opg * p..][..opg * p];
                    gemm_acc(dst, (opg, p, ckk), wg, (ckk, 1), cols, (ld, 1), false);
                    continue;
                }
                // prod[opg, n] = w_g[opg, ckk] * cols[ckk, n], then each
                // sample's p columns to its place.
                prod.resize(opg * n, T::ZERO);
                gemm_acc(prod, (opg, n, ckk), wg, (ckk, 1), cols, (ld, 1), false);
                for i in 0..ns {
                    for o in 0..opg {
                        dst[(i * cout + grp * opg + o) * p..][..p].copy_from_slice(&prod[o * n + i * p..][..p]);
                    }
                }
            }
        },
    );
    out
}

/// The geometry whose forward convolution of dout is the input gradient
/// of `geo` (padding k - 1 - p, stride 1), where that holds and pays: a
/// stride-1, undilated, non-depthwise kernel larger than 1x1 whose
/// correlation gives back the input's size.
fn full_correlation(
    geo: ConvGeometry,
    [h, w]: [usize; 2],
    [ho, wo]: [usize; 2],
    [cpg, opg]: [usize; 2],
) -> Option<ConvGeometry> {
    let k = geo.kernel;
    let usable = geo.stride == 1 && geo.dilation == 1 && k > 1 && geo.padding < k && !(cpg == 1 && opg == 1);
    let full = ConvGeometry {
        padding: (k - 1).saturating_sub(geo.padding),
        ..geo
    };
    (usable && [full.out_side(ho), full.out_side(wo)] == [h, w]).then_some(full)
}

/// A convolution's input gradient on the host: dout [S, cout, ho, wo] ->
/// dx [S, cin, h, w]. At stride 1 the forward convolution of dout with the
/// flipped weights (`full_correlation`); otherwise w^T * dout per group and
/// block of samples, then col2im.
pub fn conv_input_grad<T: Real>(
    dout: &[T],
    [s, cout, ho, wo]: [usize; 4],
    weight: &[T],
    [cin, h, w]: [usize; 3],
    geo: ConvGeometry,
) -> Vec<T> {
    let g = geo.groups;
    let (cpg, opg, kk, p) = (cin / g, cout / g, geo.kernel * geo.kernel, ho * wo);
    let ckk = cpg * kk;
    if let Some(full) = full_correlation(geo, [h, w], [ho, wo], [cpg, opg]) {
        // At stride 1 the input gradient is the forward convolution of dout
        // with each group's weights transposed and flipped, padded by
        // k - 1 - p: one im2col and one GEMM of depth opg k k per sample, as
        // in the forward pass, instead of a GEMM of depth opg and a col2im.
        let mut flipped = vec![T::ZERO; weight.len()];
        for grp in 0..g {
            for o in 0..opg {
                for c in 0..cpg {
                    for t in 0..kk {
                        let src = ((grp * opg + o) * cpg + c) * kk + t;
                        flipped[((grp * cpg + c) * opg + o) * kk + (kk - 1 - t)] = weight[src];
                    }
                }
            }
        }
        return conv_forward(dout, [s, cout, ho, wo], &flipped, cin, full);
    }
    let mut dx = vec![T::ZERO; s * cin * h * w];
    let pointwise = geo.is_pointwise();
    let depthwise = cpg == 1 && opg == 1;
    let block = if depthwise { 1 } else { samples_per_gemm(s, p) };
    dx.par_chunks_mut(block * cin * h * w).enumerate().for_each_init(
        || (Vec::new(), Vec::new()),
        |(cols, gathered), (b, dst)| {
            let ns = dst.len() / (cin * h * w);
            let n = ns * p;
            let sample_d = |i: usize, grp: usize| &dout[((b * block + i) * cout + grp * opg) * p..][..opg * p];
            for grp in 0..g {
                let wg = &weight[grp * opg * ckk..(grp + 1) * opg * ckk];
                let dst_of = |i: usize| (i * cin + grp * cpg) * h * w;
                if depthwise {
                    let at = dst_of(0);
                    depthwise_input_grad(
                        sample_d(0, grp),
                        wg,
                        geo,
                        [h, w],
                        [ho, wo],
                        &mut dst[at..][..h * w],
                        cols,
                    );
                    continue;
                }
                // d[opg, n]: each sample's dout in its own p columns, rows
                // `d_ld` apart.
                let (d, d_ld): (&[T], usize) = if ns == 1 {
                    (sample_d(0, grp), p)
                } else {
                    let d_ld = padded_stride::<T>(n);
                    gathered.resize(opg * d_ld, T::ZERO);
                    for i in 0..ns {
                        for (o, row) in sample_d(i, grp).chunks(p).enumerate() {
                            gathered[o * d_ld + i * p..][..p].copy_from_slice(row);
                        }
                    }
                    (gathered, d_ld)
                };
                if pointwise && ns == 1 {
                    // dx_g[cpg, p] = w_g^T[cpg, opg] * d[opg, p]
                    let at = dst_of(0);
                    gemm_acc(&mut dst[at..][..cpg * p], (cpg, p, opg), wg, (1, cpg), d, (p, 1), false);
                    continue;
                }
                // cols[ckk, n] = w_g^T[ckk, opg] * d[opg, n], rows `ld` apart
                let ld = padded_stride::<T>(n);
                cols.resize(ckk * ld, T::ZERO);
                gemm_strided(cols, (ld, 1), (ckk, n, opg), wg, (1, ckk), d, (d_ld, 1), false);
                for i in 0..ns {
                    let at = dst_of(i);
                    let dxs = &mut dst[at..][..cpg * h * w];
                    if pointwise {
                        for (c, row) in dxs.chunks_mut(p).enumerate() {
                            row.copy_from_slice(&cols[c * ld + i * p..][..p]);
                        }
                    } else {
                        col2im_add((&mut cols[i * p..], ld), [cpg, h, w], geo, [ho, wo], dxs);
                    }
                }
            }
        },
    );
    dx
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

    /// Row strides of the column buffers: at least the row, whole cache
    /// lines, never a multiple of 4 KiB (the padding is one line, only
    /// where it is needed), for f32 and f64.
    #[test]
    fn padded_strides_avoid_4k_multiples() {
        fn check<T>(n: usize) -> usize {
            let (ld, size) = (padded_stride::<T>(n), std::mem::size_of::<T>());
            assert!(
                ld >= n && (ld * size).is_multiple_of(64) && !(ld * size).is_multiple_of(4096),
                "n {n}: ld {ld}"
            );
            assert!(
                ld * size < n * size + 128,
                "n {n}: ld {ld} pads more than a line past the row"
            );
            ld
        }
        for n in [1, 15, 16, 17, 255, 256, 1000, 1023, 1024, 1025, 2048, 4096, 3072] {
            check::<f32>(n);
            check::<f64>(n);
        }
        // NB201's 32 x 32 layer: 4 KiB rows in f32, 8 KiB in f64, each one line longer.
        assert_eq!(check::<f32>(1024), 1040);
        assert_eq!(check::<f64>(1024), 1032);
        // 16 x 16: 1 KiB rows, already clear of 4 KiB multiples.
        assert_eq!(check::<f32>(256), 256);
    }

    #[test]
    fn the_gemm_peak_is_a_real_rate() {
        // 2 * 128^3 flops per product: even an unoptimised core does well
        // over 0.1 GFLOP/s, and a zero time would give infinity.
        let one = gemm_gflops(128, 1, 2);
        assert!(one.is_finite() && one > 0.1, "{one}");
    }

    /// Stride-1 convolutions whose output rows are as wide as their input
    /// rows: non-square planes, one-pixel rows and columns, dilation 2.
    fn same_width_cases() -> impl Iterator<Item = ([usize; 2], ConvGeometry)> {
        [[7, 6], [1, 5], [5, 1], [3, 3], [2, 9]].into_iter().flat_map(|hw| {
            [(1, 1), (3, 1), (5, 1), (3, 2), (5, 2)]
                .into_iter()
                .map(move |(kernel, dilation)| {
                    let geo = ConvGeometry {
                        kernel,
                        stride: 1,
                        padding: dilation * (kernel - 1) / 2,
                        dilation,
                        groups: 1,
                    };
                    assert_eq!(geo.out_side(hw[1]), hw[1]);
                    (hw, geo)
                })
        })
    }

    #[test]
    fn same_width_im2col_rows_equal_the_row_by_row_copy() {
        for ([h, w], geo) in same_width_cases() {
            let plane: Vec<f32> = (0..h * w).map(|i| i as f32 + 1.0).collect();
            let (ho, k) = (geo.out_side(h), geo.kernel);
            for ki in 0..k {
                for kj in 0..k {
                    let mut fast = vec![f32::NAN; ho * w];
                    let mut want = vec![f32::NAN; ho * w];
                    same_width_shift(&plane, [h, w], geo, [ki, kj], ho, &mut fast);
                    row_by_row(&plane, [h, w], geo, [ki, kj], [ho, w], &mut want);
                    assert_eq!(fast, want, "{h}x{w} {geo:?} tap ({ki},{kj})");
                }
            }
        }
    }

    /// The shifted-run col2im against the run-by-run loop, on the same
    /// geometries (two channels, rows of distinct values): bit for bit
    /// (dx starts at +0 and no term is -0, so no zero changes sign).
    #[test]
    fn same_width_col2im_equals_the_run_by_run_loop() {
        for ([h, w], geo) in same_width_cases() {
            let (ho, cin, k) = (geo.out_side(h), 2, geo.kernel);
            // Row stride wider than a row, as a block of several samples has.
            let stride = ho * w + 3;
            let cols: Vec<f32> = (0..cin * k * k * stride)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 8.0 + 0.5)
                .collect();
            let mut fast = vec![0f32; cin * h * w];
            let mut want = vec![0f32; cin * h * w];
            col2im_add((&mut cols.clone(), stride), [cin, h, w], geo, [ho, w], &mut fast);
            col2im_runs((&cols, stride), [cin, h, w], geo, [ho, w], &mut want);
            assert_eq!(fast, want, "{h}x{w} {geo:?}");
        }
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
            let got = conv_split_grads(
                &x,
                [s, cin, h, w],
                &dout,
                [s, cout, ho, wo],
                ConvGeometry::dense(k, st, pad),
                s,
            );
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
            let two = conv_split_grads(
                &x,
                [s, cin, h, w],
                &dout,
                [s, cout, ho, wo],
                ConvGeometry::dense(k, st, pad),
                2,
            );
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
