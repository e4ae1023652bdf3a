//! The CPU backend's hot ops on our own kernels, wired into burn's autodiff
//! as custom ops on burn-flex tensors; tensors on any other backend (wgpu)
//! take burn's ops.
//! - Convolution: forward, input gradient and weight gradient as im2col +
//!   `gemm` per sample (`host_grads`). burn-flex's conv2d tiles 512 pixels
//!   per GEMM of `cout` rows after an NHWC copy, and its backward goes
//!   through a transposed convolution: about a fifth of the GEMM peak on
//!   NB201's layers (`bench`).
//! - Transposed convolution, as the adjoint of the convolution it
//!   transposes (TransNAS-Bench-101's decoders).
//! - BatchNorm's normalisation, forward and backward in one pass each over
//!   the data, where burn's composite (mean, centre, square, mean, divide,
//!   with transposes for sample groups) made a dozen passes and as many
//!   buffers.
//! - Max pooling, forward and backward in one pass each over the planes:
//!   burn-flex's general 3-D kernel took half of an NB101 probe's time.
//! - 3x3 average pooling without counted padding, forward and backward in
//!   one pass each, where shifted views of a padded copy left nine
//!   full-size gradient buffers and slice writes to the backward pass (9%
//!   of an NB201 probe).
//!
//! All run in f32 and in f64 (synflow's and grasp's double passes).

use burn::tensor::module::{conv_transpose2d, conv2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::{DType, Tensor, TensorData};
use burn_autodiff::Autodiff;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, NodeGuard, Ops, OpsKind};
use burn_flex::{Flex, FlexTensor};
use rayon::prelude::*;
use std::sync::{Arc, Mutex};

use super::host_grads::{ConvGeometry, Real, conv_forward, conv_input_grad, conv_weight_grad};

/// A 2-D convolution without bias: burn's `conv2d` semantics, on the host
/// kernels when both tensors are burn-flex autodiff tensors of one float
/// precision with symmetric options.
pub fn conv2d_fast(x: Tensor<4>, weight: Tensor<4>, options: ConvOptions<2>) -> Tensor<4> {
    conv2d_tapped(x, weight, options, None).0
}

/// `conv2d_fast` whose backward also leaves the gradient that reached the
/// output in `out_grad`, where the host kernels run a tracked op (true in
/// the result). This replaces a zero tap added to the output, which cost
/// a zeroed buffer and an addition per layer, and a sum kept for the
/// backward pass: a quarter of a tapped pass's activation memory. Where it
/// returns false the caller taps the output itself.
pub fn conv2d_tapped(
    x: Tensor<4>,
    weight: Tensor<4>,
    options: ConvOptions<2>,
    out_grad: Option<&OutputGrad>,
) -> (Tensor<4>, bool) {
    match host_conv(&x, &weight, &options, out_grad) {
        Some(done) => done,
        None => (conv2d(x, weight, None, options), false),
    }
}

/// A float tensor's values on the host in f32: a contiguous burn-flex f32
/// tensor (autodiff or not) lends its buffer, any other is read back. The
/// per-sample statistics read every tapped layer's input and output
/// gradient once per pass; copying them was 2% of an NB201 probe.
pub enum HostValues {
    Lent(FlexTensor),
    Read(Vec<f32>),
}

impl HostValues {
    pub fn of<const D: usize>(t: &Tensor<D>) -> Option<HostValues> {
        HostValues::lent(t).or_else(|| t.clone().into_data().try_to_vec::<f32>().ok().map(HostValues::Read))
    }

    /// Only a burn-flex f32 tensor's own buffer (no read-back).
    pub fn lent<const D: usize>(t: &Tensor<D>) -> Option<HostValues> {
        let flex = match t.clone().try_into_primitive::<Autodiff<Flex>>() {
            Ok(a) => a.primitive().to_contiguous(),
            Err(_) => t.clone().try_into_primitive::<Flex>().ok()?.to_contiguous(),
        };
        (flex.dtype() == DType::F32).then_some(HostValues::Lent(flex))
    }

    pub fn as_slice(&self) -> &[f32] {
        match self {
            HostValues::Lent(f) => slice::<f32>(f),
            HostValues::Read(v) => v,
        }
    }
}

/// Where a tapped host convolution's backward leaves the gradient of its
/// output (shared with the op's saved state; cloning shares the slot).
#[derive(Clone, Debug, Default)]
pub struct OutputGrad(Arc<Mutex<Option<FlexTensor>>>);

impl OutputGrad {
    /// The output's gradient, once a backward pass has reached the op.
    pub fn get(&self) -> Option<Tensor<4>> {
        let grad = self.0.lock().ok()?.clone()?;
        Some(Tensor::from_primitive::<Flex>(grad))
    }

    fn set(&self, grad: FlexTensor) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(grad);
        }
    }
}

/// A transposed convolution without bias: burn's `conv_transpose2d` with
/// stride, padding and output padding on both sides, no dilation, one
/// group; weight [in, out, k, k] as PyTorch's ConvTranspose2d. On the host
/// kernels it is the adjoint of the convolution it transposes: forward is
/// that convolution's input gradient, the input gradient its forward.
pub fn conv_transpose2d_fast(x: Tensor<4>, weight: Tensor<4>, geometry: (usize, usize, usize)) -> Tensor<4> {
    conv_transpose2d_tapped(x, weight, geometry, None).0
}

/// `conv_transpose2d_fast` with an output-gradient slot, as `conv2d_tapped`.
pub fn conv_transpose2d_tapped(
    x: Tensor<4>,
    weight: Tensor<4>,
    (stride, padding, out_padding): (usize, usize, usize),
    out_grad: Option<&OutputGrad>,
) -> (Tensor<4>, bool) {
    match host_conv_transpose(&x, &weight, (stride, padding, out_padding), out_grad) {
        Some(done) => done,
        None => {
            let opts = ConvTransposeOptions::new([stride; 2], [padding; 2], [out_padding; 2], [1, 1], 1);
            (conv_transpose2d(x, weight, None, opts), false)
        }
    }
}

/// Shapes and geometry of one convolution, kept for its backward pass.
/// For a transposed convolution these describe the convolution it
/// transposes: `x` is the transposed op's output, `cout` its input channels.
#[derive(Clone, Copy, Debug)]
struct ConvShapes {
    x: [usize; 4],
    cout: usize,
    geometry: ConvGeometry,
    transposed: bool,
}

impl ConvShapes {
    fn out(&self) -> [usize; 4] {
        let [s, _, h, w] = self.x;
        [s, self.cout, self.geometry.out_side(h), self.geometry.out_side(w)]
    }

    fn x_chw(&self) -> [usize; 3] {
        let [_, c, h, w] = self.x;
        [c, h, w]
    }
}

#[derive(Debug)]
struct HostConvBackward;

impl Backward<Flex, 2> for HostConvBackward {
    /// The op's input and weight as the forward read them (contiguous),
    /// and the slot for the output's gradient when the layer is tapped.
    type State = (FlexTensor, FlexTensor, ConvShapes, Option<OutputGrad>);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node).to_contiguous();
        let (x, weight, shapes, out_grad) = ops.state;
        if let Some(slot) = out_grad {
            slot.set(grad.clone());
        }
        let wants = (node_x.is_some(), node_w.is_some());
        let (dx, dw) = match grad.dtype() {
            DType::F64 => conv_backward::<f64>(&grad, &x, &weight, shapes, wants),
            _ => conv_backward::<f32>(&grad, &x, &weight, shapes, wants),
        };
        if let (Some(node), Some(dx)) = (node_x, dx) {
            grads.register::<Flex>(node.id, dx);
        }
        if let (Some(node), Some(dw)) = (node_w, dw) {
            grads.register::<Flex>(node.id, dw);
        }
    }
}

/// The input and weight gradients a host convolution's backward asked for.
fn conv_backward<T: HostFloat>(
    grad: &FlexTensor,
    x: &FlexTensor,
    weight: &FlexTensor,
    shapes: ConvShapes,
    (want_x, want_w): (bool, bool),
) -> (Option<FlexTensor>, Option<FlexTensor>) {
    let (g, xv, w) = (slice::<T>(grad), slice::<T>(x), slice::<T>(weight));
    let geo = shapes.geometry;
    let dx = want_x.then(|| {
        let (dx, dims) = if shapes.transposed {
            (conv_forward(g, shapes.x, w, shapes.cout, geo), shapes.out())
        } else {
            (conv_input_grad(g, shapes.out(), w, shapes.x_chw(), geo), shapes.x)
        };
        flex(dx, dims.to_vec())
    });
    let dw = want_w.then(|| {
        let dw = if shapes.transposed {
            conv_weight_grad(g, shapes.x, xv, shapes.out(), geo)
        } else {
            conv_weight_grad(xv, shapes.x, g, shapes.out(), geo)
        };
        flex(dw, weight.layout().shape().to_vec())
    });
    (dx, dw)
}

/// The element types the host ops run in: f32, and f64 for the passes
/// that run in double precision (synflow, grasp).
trait HostFloat: Real + burn::tensor::Element + bytemuck::Pod {}
impl HostFloat for f32 {}
impl HostFloat for f64 {}

/// Whether two tensors share one dtype the host kernels take.
fn host_dtypes(a: &Tensor<4>, b: &Tensor<4>) -> bool {
    a.dtype() == b.dtype() && matches!(a.dtype(), DType::F32 | DType::F64)
}

fn slice<T: HostFloat>(t: &FlexTensor) -> &[T] {
    t.as_slice::<T>()
        .expect("host op tensors are contiguous in the pass's precision")
}

fn flex<T: HostFloat>(values: Vec<T>, shape: Vec<usize>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

/// A host convolution's forward in the tensors' precision (a transposed
/// one's is the input gradient of the convolution it transposes).
fn conv_out(xs: &FlexTensor, ws: &FlexTensor, shapes: ConvShapes) -> FlexTensor {
    fn run<T: HostFloat>(xs: &FlexTensor, ws: &FlexTensor, shapes: ConvShapes) -> FlexTensor {
        let (x, w, geo) = (slice::<T>(xs), slice::<T>(ws), shapes.geometry);
        if shapes.transposed {
            let out = conv_input_grad(x, shapes.out(), w, shapes.x_chw(), geo);
            flex(out, shapes.x.to_vec())
        } else {
            flex(conv_forward(x, shapes.x, w, shapes.cout, geo), shapes.out().to_vec())
        }
    }
    match xs.dtype() {
        DType::F64 => run::<f64>(xs, ws, shapes),
        _ => run::<f32>(xs, ws, shapes),
    }
}

fn host_conv(
    x: &Tensor<4>,
    weight: &Tensor<4>,
    options: &ConvOptions<2>,
    out_grad: Option<&OutputGrad>,
) -> Option<(Tensor<4>, bool)> {
    if !host_dtypes(x, weight) {
        return None;
    }
    let [stride, stride_w] = options.stride;
    let [(padding, pad_end), (pad_w, pad_w_end)] = options.padding;
    let [dilation, dilation_w] = options.dilation;
    let [cout, _, kernel, kernel_w] = weight.dims();
    let same = |v: [usize; 4]| v.iter().all(|&u| u == v[0]);
    if !same([padding, pad_end, pad_w, pad_w_end]) || stride != stride_w || dilation != dilation_w || kernel != kernel_w
    {
        return None;
    }
    let geometry = ConvGeometry {
        kernel,
        stride,
        padding,
        dilation,
        groups: options.groups,
    };
    let xa = x.clone().try_into_primitive::<Autodiff<Flex>>().ok()?;
    let wa = weight.clone().try_into_primitive::<Autodiff<Flex>>().ok()?;
    let shapes = ConvShapes {
        x: x.dims(),
        cout,
        geometry,
        transposed: false,
    };
    let (xs, ws) = (xa.primitive().to_contiguous(), wa.primitive().to_contiguous());
    let out = conv_out(&xs, &ws, shapes);
    Some(finish_conv([xa.node(), wa.node()], xs, ws, shapes, out, out_grad))
}

/// Records a host convolution's output in the autodiff graph; true when
/// the op is tracked and `out_grad` will receive its output's gradient.
fn finish_conv(
    nodes: [NodeGuard; 2],
    xs: FlexTensor,
    ws: FlexTensor,
    shapes: ConvShapes,
    out: FlexTensor,
    out_grad: Option<&OutputGrad>,
) -> (Tensor<4>, bool) {
    let (result, tapped) = match HostConvBackward
        .prepare::<NoCheckpointing>(nodes)
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => (
            prep.finish((xs, ws, shapes, out_grad.cloned()), out),
            out_grad.is_some(),
        ),
        OpsKind::UnTracked(prep) => (prep.finish(out), false),
    };
    (Tensor::from_primitive::<Autodiff<Flex>>(result), tapped)
}

fn host_conv_transpose(
    x: &Tensor<4>,
    weight: &Tensor<4>,
    (stride, padding, out_padding): (usize, usize, usize),
    out_grad: Option<&OutputGrad>,
) -> Option<(Tensor<4>, bool)> {
    if !host_dtypes(x, weight) || out_padding >= stride {
        return None;
    }
    let [s, cin, h, w] = x.dims();
    let [w_in, cout, kernel, kernel_w] = weight.dims();
    let side = |n: usize| ((n - 1) * stride + kernel + out_padding).checked_sub(2 * padding);
    let (ho, wo) = (side(h)?, side(w)?);
    if w_in != cin || kernel != kernel_w {
        return None;
    }
    let shapes = ConvShapes {
        x: [s, cout, ho, wo],
        cout: cin,
        geometry: ConvGeometry::dense(kernel, stride, padding),
        transposed: true,
    };
    // The transposed convolution's output must map back onto its input.
    if shapes.out() != [s, cin, h, w] {
        return None;
    }
    let xa = x.clone().try_into_primitive::<Autodiff<Flex>>().ok()?;
    let wa = weight.clone().try_into_primitive::<Autodiff<Flex>>().ok()?;
    let (xs, ws) = (xa.primitive().to_contiguous(), wa.primitive().to_contiguous());
    let out = conv_out(&xs, &ws, shapes);
    Some(finish_conv([xa.node(), wa.node()], xs, ws, shapes, out, out_grad))
}

/// GFLOP/s of one 3x3 convolution layer (c -> c, stride 1, padding 1, x
/// [s, c, h, w]) per pass, best of `reps`: our kernels' forward, input
/// gradient and weight gradient, and burn-flex's forward and backward
/// (input and weight gradients together) through burn's autodiff.
#[derive(Clone, Copy, Debug)]
pub struct ConvLayerBench {
    pub shape: [usize; 4],
    pub ours: [f64; 3],
    pub burn_forward: f64,
    pub burn_backward: f64,
}

pub fn bench_conv_layer(shape: [usize; 4], reps: usize) -> ConvLayerBench {
    let c = shape[1];
    let (x, wt, gflop) = bench_layer(shape);
    let device = burn::tensor::Device::flex().autodiff();
    let opts = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
    let xt = Tensor::<4>::from_data(TensorData::new(x, shape), &device).require_grad();
    let wtt = Tensor::<4>::from_data(TensorData::new(wt, [c, c, 3, 3]), &device).require_grad();
    let burn_forward = best_of(reps, &mut || {
        drop(conv2d(xt.clone(), wtt.clone(), None, opts.clone()).into_data())
    });
    // The backward of sum(out): a ones gradient into the convolution.
    let with_forward = best_of(reps, &mut || {
        drop(conv2d(xt.clone(), wtt.clone(), None, opts.clone()).sum().backward())
    });
    ConvLayerBench {
        shape,
        ours: bench_host_conv(shape, reps),
        burn_forward: gflop / burn_forward,
        burn_backward: 2.0 * gflop / (with_forward - burn_forward).max(1e-9),
    }
}

/// Our three passes of NB201's 3x3 layer at `shape` (forward, input
/// gradient, weight gradient), GFLOP/s each, best of `reps`, on the
/// current rayon pool.
pub fn bench_host_conv(shape: [usize; 4], reps: usize) -> [f64; 3] {
    let [_, c, h, w] = shape;
    let geo = ConvGeometry::dense(3, 1, 1);
    let (x, wt, gflop) = bench_layer(shape);
    let out = conv_forward(&x, shape, &wt, c, geo);
    let forward = best_of(reps, &mut || {
        drop(std::hint::black_box(conv_forward(&x, shape, &wt, c, geo)))
    });
    let input = best_of(reps, &mut || {
        drop(std::hint::black_box(conv_input_grad(&out, shape, &wt, [c, h, w], geo)))
    });
    let weight = best_of(reps, &mut || {
        drop(std::hint::black_box(conv_weight_grad(&x, shape, &out, shape, geo)))
    });
    [gflop / forward, gflop / input, gflop / weight]
}

/// The benchmarked 3x3 layer at `shape` [S, C, H, W]: deterministic input
/// and weights [C, C, 3, 3], and the GFLOP of one pass.
fn bench_layer([s, c, h, w]: [usize; 4]) -> (Vec<f32>, Vec<f32>, f64) {
    let x = (0..s * c * h * w)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0)
        .collect();
    let wt = (0..c * c * 9).map(|i| ((i * 53 % 89) as f32 - 44.0) / 440.0).collect();
    (x, wt, 2.0 * (s * c * c * 9 * h * w) as f64 / 1e9)
}

/// The shortest of `reps` timings of `f`, in seconds.
fn best_of(reps: usize, f: &mut dyn FnMut()) -> f64 {
    (0..reps.max(1))
        .map(|_| {
            let t = std::time::Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
        .max(1e-9)
}

/// BatchNorm's normalisation (eps, biased variance) with statistics over
/// each channel of `groups` groups of consecutive samples: x [S, C, H, W].
/// Returns the normalised tensor and the biased variances [groups * C]
/// (`None` where burn's composite ran instead: the caller computes them).
pub fn normalize_fast(x: Tensor<4>, groups: usize, eps: f64) -> Option<(Tensor<4>, Vec<f64>)> {
    if !matches!(x.dtype(), DType::F32 | DType::F64) {
        return None;
    }
    let xa = x.clone().try_into_primitive::<Autodiff<Flex>>().ok()?;
    let dims = x.dims();
    let xs = xa.primitive().to_contiguous();
    let (y, inv_std, var) = match xs.dtype() {
        DType::F64 => normalize_forward::<f64>(&xs, dims, groups, eps),
        _ => normalize_forward::<f32>(&xs, dims, groups, eps),
    };
    let result = match HostNormBackward
        .prepare::<NoCheckpointing>([xa.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish((y.clone(), inv_std, dims, groups), y),
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    Some((Tensor::from_primitive::<Autodiff<Flex>>(result), var))
}

/// The samples of group g and the channel planes they hold: sample s's
/// plane c starts at (s * C + c) * HW.
fn group_planes([s, c, h, w]: [usize; 4], groups: usize, g: usize, ch: usize) -> impl Iterator<Item = usize> {
    let per = s / groups;
    (g * per..(g + 1) * per).map(move |sample| (sample * c + ch) * h * w)
}

/// Accumulators of the f64 sums below: independent lanes let the sums
/// vectorise where one running total was a chain of dependent additions
/// (BatchNorm's statistics were a tenth of an NB201 probe). The order
/// changes the f64 rounding only (relative 1e-16).
const LANES: usize = 8;

/// Sum of f(v) over `values` in f64.
fn lane_sum<T: HostFloat>(values: &[T], f: impl Fn(f64) -> f64) -> f64 {
    let mut acc = [0f64; LANES];
    let chunks = values.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (a, &v) in acc.iter_mut().zip(chunk) {
            *a += f(v.to_f64());
        }
    }
    acc.iter().sum::<f64>() + rest.iter().map(|&v| f(v.to_f64())).sum::<f64>()
}

/// (sum of d, sum of d * y) over two slices of one length, in f64.
fn lane_sums2<T: HostFloat>(d: &[T], y: &[T]) -> (f64, f64) {
    let (mut sum, mut dot) = ([0f64; LANES], [0f64; LANES]);
    let (dc, yc) = (d.chunks_exact(LANES), y.chunks_exact(LANES));
    let tail = dc.remainder().iter().zip(yc.remainder());
    for (dc, yc) in dc.zip(yc) {
        for i in 0..LANES {
            let (dv, yv) = (dc[i].to_f64(), yc[i].to_f64());
            sum[i] += dv;
            dot[i] += dv * yv;
        }
    }
    let (ts, td) = tail.fold((0f64, 0f64), |(s, t), (&dv, &yv)| {
        (s + dv.to_f64(), t + dv.to_f64() * yv.to_f64())
    });
    (sum.iter().sum::<f64>() + ts, dot.iter().sum::<f64>() + td)
}

/// y = (x - mean) / sqrt(var + eps) per (group, channel); returns y,
/// 1 / sqrt(var + eps) and var, both [groups * C] with the group outer.
fn normalize_forward<T: HostFloat>(
    xs: &FlexTensor,
    dims: [usize; 4],
    groups: usize,
    eps: f64,
) -> (FlexTensor, Vec<f64>, Vec<f64>) {
    let x = slice::<T>(xs);
    let [_, c, h, w] = dims;
    let hw = h * w;
    let stats: Vec<(f64, f64)> = (0..groups * c)
        .into_par_iter()
        .map(|gc| {
            let (g, ch) = (gc / c, gc % c);
            let planes = || group_planes(dims, groups, g, ch).map(|at| &x[at..at + hw]);
            let n = (planes().count() * hw) as f64;
            let mean = planes().map(|p| lane_sum(p, |v| v)).sum::<f64>() / n;
            let var = planes().map(|p| lane_sum(p, |v| (v - mean) * (v - mean))).sum::<f64>() / n;
            (mean, var)
        })
        .collect();
    let inv_std: Vec<f64> = stats.iter().map(|&(_, var)| 1.0 / (var + eps).sqrt()).collect();
    let mut y = vec![T::ZERO; x.len()];
    let per = dims[0] / groups;
    y.par_chunks_mut(hw).enumerate().for_each(|(plane, out)| {
        let (sample, ch) = (plane / c, plane % c);
        let gc = sample / per * c + ch;
        let (mean, scale) = (T::from_f64(stats[gc].0), T::from_f64(inv_std[gc]));
        out.iter_mut()
            .zip(&x[plane * hw..(plane + 1) * hw])
            .for_each(|(o, &v)| *o = (v - mean) * scale);
    });
    (
        flex(y, dims.to_vec()),
        inv_std,
        stats.into_iter().map(|(_, var)| var).collect(),
    )
}

/// dx = inv_std * (dy - mean(dy) - y * mean(dy * y)) per (group, channel).
fn normalize_backward<T: HostFloat>(
    dy: &FlexTensor,
    y: &FlexTensor,
    inv_std: &[f64],
    dims: [usize; 4],
    groups: usize,
) -> FlexTensor {
    let (dy, y) = (slice::<T>(dy), slice::<T>(y));
    let [s, c, h, w] = dims;
    let hw = h * w;
    let n = ((s / groups) * hw) as f64;
    let means: Vec<(T, T)> = (0..groups * c)
        .into_par_iter()
        .map(|gc| {
            let (mut sum, mut dot) = (0f64, 0f64);
            for at in group_planes(dims, groups, gc / c, gc % c) {
                let (s, d) = lane_sums2(&dy[at..at + hw], &y[at..at + hw]);
                sum += s;
                dot += d;
            }
            (T::from_f64(sum / n), T::from_f64(dot / n))
        })
        .collect();
    let mut dx = vec![T::ZERO; dy.len()];
    let per = s / groups;
    dx.par_chunks_mut(hw).enumerate().for_each(|(plane, out)| {
        let (sample, ch) = (plane / c, plane % c);
        let gc = sample / per * c + ch;
        let ((mean_dy, mean_dyy), scale) = (means[gc], T::from_f64(inv_std[gc]));
        let range = plane * hw..(plane + 1) * hw;
        for ((o, &d), &v) in out.iter_mut().zip(&dy[range.clone()]).zip(&y[range]) {
            *o = scale * (d - mean_dy - v * mean_dyy);
        }
    });
    flex(dx, dims.to_vec())
}

#[derive(Debug)]
struct HostNormBackward;

impl Backward<Flex, 1> for HostNormBackward {
    /// The normalised output, 1 / sqrt(var + eps), the input's dims and the groups.
    type State = (FlexTensor, Vec<f64>, [usize; 4], usize);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node).to_contiguous();
        let (y, inv_std, dims, groups) = ops.state;
        if let Some(node) = node_x {
            let dx = match grad.dtype() {
                DType::F64 => normalize_backward::<f64>(&grad, &y, &inv_std, dims, groups),
                _ => normalize_backward::<f32>(&grad, &y, &inv_std, dims, groups),
            };
            grads.register::<Flex>(node.id, dx);
        }
    }
}

/// 3x3 average pool, padding 1, padding not counted
/// (`count_include_pad=False`), on x [S, C, H, W] at `stride`: each window's
/// in-image pixels summed in PyTorch's window order, then divided by their
/// count (ZiCO's two-split std magnifies any other rounding). `None` where
/// burn's ops must run (not a burn-flex float tensor).
pub fn avg_pool3_fast(x: Tensor<4>, stride: usize) -> Option<Tensor<4>> {
    let window = PoolWindow {
        kernel: 3,
        stride,
        padding: 1,
    };
    unary_host_op(&x, HostPoolBackward, |xs, dims| {
        let y = match xs.dtype() {
            DType::F64 => pool3_forward::<f64>(slice(xs), dims, window),
            _ => pool3_forward::<f32>(slice(xs), dims, window),
        };
        (y, (PoolGrad::Average(window), dims))
    })
}

/// Runs a one-input host op on x's burn-flex storage: `forward` gets the
/// contiguous input and its dims and returns the output and the state
/// `backward` needs, recorded where x is tracked. `None` where burn's ops
/// must run (not a burn-flex float tensor).
fn unary_host_op<B: Backward<Flex, 1>>(
    x: &Tensor<4>,
    backward: B,
    forward: impl FnOnce(&FlexTensor, [usize; 4]) -> (FlexTensor, B::State),
) -> Option<Tensor<4>> {
    if !matches!(x.dtype(), DType::F32 | DType::F64) {
        return None;
    }
    let xa = x.clone().try_into_primitive::<Autodiff<Flex>>().ok()?;
    let (y, state) = forward(&xa.primitive().to_contiguous(), x.dims());
    let result = match backward
        .prepare::<NoCheckpointing>([xa.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(state, y),
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    Some(Tensor::from_primitive::<Autodiff<Flex>>(result))
}

/// The average pool's forward. At stride 1, k x k shifted row sums over a
/// zero-padded plane, one contiguous loop per tap and output row: a
/// window's terms are added in the order of `pool3_forward_windows` (rows,
/// then columns, from zero) with exact zeros where it leaves the image, so
/// the values are bit for bit its values; its per-window loops of 3 pixels
/// cost a fifth of an NB201 probe.
fn pool3_forward<T: HostFloat>(x: &[T], [s, c, h, w]: [usize; 4], window: PoolWindow) -> FlexTensor {
    if window.stride != 1 {
        return pool3_forward_windows(x, [s, c, h, w], window);
    }
    let [oh, ow] = window.out_dims([h, w]);
    // Once per call, not per pixel: the division then vectorises.
    let counts: Vec<T> = window.windows([h, w]).iter().map(in_image).collect();
    let mut y = vec![T::ZERO; s * c * oh * ow];
    y.par_chunks_mut(oh * ow).enumerate().for_each_init(
        || (Vec::new(), Vec::new()),
        |(padded, wide), (plane, out)| {
            let wp = pad_plane(&x[plane * h * w..][..h * w], [h, w], window.padding, padded);
            box_sums(padded, wp, window.kernel, ow, out, wide);
            out.iter_mut().zip(&counts).for_each(|(o, &n)| *o = *o / n);
        },
    );
    flex(y, vec![s, c, oh, ow])
}

/// `buf` resized to `plane` inside `pad` zero rows and columns on each side;
/// returns the padded width.
fn pad_plane<T: HostFloat>(plane: &[T], [h, w]: [usize; 2], pad: usize, buf: &mut Vec<T>) -> usize {
    let wp = w + 2 * pad;
    buf.clear();
    buf.resize((h + 2 * pad) * wp, T::ZERO);
    for (row, src) in buf[pad * wp..].chunks_mut(wp).zip(plane.chunks_exact(w)) {
        row[pad..pad + w].copy_from_slice(src);
    }
    wp
}

/// out[oy, ox] = the sum, from zero, of padded[oy + ky, ox + kx] over ky,
/// then kx, in 0..k: the k x k box sums of a plane `wp` wide. Summed as
/// rows `wp` wide in `wide` (one long vector add per tap instead of one per
/// tap and output row; the k - 1 extra sums per row are dropped), then
/// copied out `ow` wide.
fn box_sums<T: HostFloat>(padded: &[T], wp: usize, k: usize, ow: usize, out: &mut [T], wide: &mut Vec<T>) {
    let oh = out.len() / ow.max(1);
    if oh == 0 || ow == 0 {
        return;
    }
    // The last row stops at `ow`, so every read stays inside the padded plane.
    let n = (oh - 1) * wp + ow;
    wide.clear();
    wide.resize(n, T::ZERO);
    for ky in 0..k {
        for kx in 0..k {
            let shifted = &padded[ky * wp + kx..][..n];
            wide.iter_mut().zip(shifted).for_each(|(a, &v)| *a += v);
        }
    }
    for (dst, src) in out.chunks_exact_mut(ow).zip(wide.chunks(wp)) {
        dst.copy_from_slice(&src[..ow]);
    }
}

/// A pooling window's (first row, end), (first column, end) in the image.
type Window = ((usize, usize), (usize, usize));

/// The in-image pixel count of a window, the average's divisor (padding
/// not counted).
fn in_image<T: HostFloat>(&((y0, y1), (x0, x1)): &Window) -> T {
    T::from_f64(((y1 - y0) * (x1 - x0)) as f64)
}

fn pool3_forward_windows<T: HostFloat>(x: &[T], [s, c, h, w]: [usize; 4], window: PoolWindow) -> FlexTensor {
    let windows = window.windows([h, w]);
    let mut y = vec![T::ZERO; s * c * windows.len()];
    y.par_chunks_mut(windows.len()).enumerate().for_each(|(plane, out)| {
        let x = &x[plane * h * w..(plane + 1) * h * w];
        for (o, win) in out.iter_mut().zip(&windows) {
            let &((y0, y1), (x0, x1)) = win;
            let mut sum = T::ZERO;
            for row in x[y0 * w..y1 * w].chunks_exact(w) {
                for &v in &row[x0..x1] {
                    sum += v;
                }
            }
            *o = sum / in_image(win);
        }
    });
    let [oh, ow] = window.out_dims([h, w]);
    flex(y, vec![s, c, oh, ow])
}

/// dx[i] = the sum of dy * (1 / count) over the windows holding input
/// pixel i. Scattered in output order, so each input pixel sums its windows
/// in reverse window order: bit for bit what burn's autodiff computed for
/// the shifted views before (ZiCO's two-split std magnifies any change).
///
/// At stride 1, input pixel (iy, ix) lies in the windows of outputs
/// (iy + p - k + 1 + a, ix + p - k + 1 + b) for a, b in 0..k, which the
/// scatter visits in that (row-major) order. So dx is the k x k box sums of
/// the shares padded by k - 1 - p: the same terms in the same order, zeros
/// for windows outside the output, bit for bit `pool3_backward_windows`.
fn pool3_backward<T: HostFloat>(dy: &[T], [s, c, h, w]: [usize; 4], window: PoolWindow) -> FlexTensor {
    if window.stride != 1 {
        return pool3_backward_windows(dy, [s, c, h, w], window);
    }
    let [oh, ow] = window.out_dims([h, w]);
    let weights: Vec<T> = window
        .windows([h, w])
        .iter()
        .map(|win| T::ONE / in_image(win))
        .collect();
    let margin = window.kernel - 1 - window.padding;
    let mut dx = vec![T::ZERO; s * c * h * w];
    dx.par_chunks_mut(h * w).enumerate().for_each_init(
        || (Vec::new(), Vec::new(), Vec::new()),
        |(shares, padded, wide), (plane, dx)| {
            shares.clear();
            let dy = &dy[plane * oh * ow..][..oh * ow];
            shares.extend(dy.iter().zip(&weights).map(|(&d, &share)| d * share));
            let wp = pad_plane(shares, [oh, ow], margin, padded);
            box_sums(padded, wp, window.kernel, w, dx, wide);
        },
    );
    flex(dx, vec![s, c, h, w])
}

fn pool3_backward_windows<T: HostFloat>(dy: &[T], [s, c, h, w]: [usize; 4], window: PoolWindow) -> FlexTensor {
    let windows = window.windows([h, w]);
    let mut dx = vec![T::ZERO; s * c * h * w];
    dx.par_chunks_mut(h * w).enumerate().for_each(|(plane, dx)| {
        let dy = &dy[plane * windows.len()..(plane + 1) * windows.len()];
        for (&d, win) in dy.iter().zip(&windows) {
            let &((y0, y1), (x0, x1)) = win;
            let share = d * (T::ONE / in_image(win));
            for row in dx[y0 * w..y1 * w].chunks_exact_mut(w) {
                for v in &mut row[x0..x1] {
                    *v += share;
                }
            }
        }
    });
    flex(dx, vec![s, c, h, w])
}

/// Max pool over k x k windows at `stride` with `padding` on each side
/// (padding never wins, as PyTorch's MaxPool2d): x [S, C, H, W]. Ties go to
/// the first maximum in window order and NaN always wins, as burn-flex and
/// PyTorch choose; the input gradient goes to that pixel. `None` where
/// burn's ops must run (not a burn-flex float tensor).
pub fn max_pool_fast(x: Tensor<4>, kernel: usize, stride: usize, padding: usize) -> Option<Tensor<4>> {
    let window = PoolWindow {
        kernel,
        stride,
        padding,
    };
    unary_host_op(&x, HostPoolBackward, |xs, dims| {
        let (y, argmax) = match xs.dtype() {
            DType::F64 => max_pool_forward::<f64>(slice(xs), dims, window),
            _ => max_pool_forward::<f32>(slice(xs), dims, window),
        };
        (y, (PoolGrad::Max(argmax), dims))
    })
}

#[derive(Clone, Copy, Debug)]
struct PoolWindow {
    kernel: usize,
    stride: usize,
    padding: usize,
}

impl PoolWindow {
    fn out_dims(self, [h, w]: [usize; 2]) -> [usize; 2] {
        [self.spans(h).len(), self.spans(w).len()]
    }

    /// Per output pixel in row-major order, its window's in-image rows and
    /// columns, ((first row, end), (first column, end)).
    fn windows(self, [h, w]: [usize; 2]) -> Vec<Window> {
        let cols = self.spans(w);
        self.spans(h)
            .into_iter()
            .flat_map(|r| cols.iter().map(move |&c| (r, c)))
            .collect()
    }

    /// Per output index along an axis of size n, the input indices its
    /// window covers inside the image (first, end).
    fn spans(self, n: usize) -> Vec<(usize, usize)> {
        let out = (n + 2 * self.padding - self.kernel) / self.stride + 1;
        (0..out)
            .map(|o| {
                let start = o * self.stride;
                (
                    start.saturating_sub(self.padding),
                    (start + self.kernel - self.padding).min(n),
                )
            })
            .collect()
    }
}

/// The pooled values and, per output, the plane-local index of its max.
/// Separable: the max over each window row first (per input row and output
/// column), then over the window's rows. Strict `>` keeps the first maximum
/// of a row and then the first row holding the window's maximum, which is
/// the first maximum in window order; a NaN replaces anything, so the last
/// NaN wins either way.
fn max_pool_forward<T: HostFloat>(x: &[T], [s, c, h, w]: [usize; 4], window: PoolWindow) -> (FlexTensor, Vec<u32>) {
    let (rows, cols) = (window.spans(h), window.spans(w));
    let (oh, ow) = (rows.len(), cols.len());
    let mut y = vec![T::ZERO; s * c * oh * ow];
    let mut argmax = vec![0u32; y.len()];
    #[allow(clippy::eq_op)] // v != v: NaN
    let wins = |v: T, best: T| v > best || v != v;
    y.par_chunks_mut(oh * ow)
        .zip(argmax.par_chunks_mut(oh * ow))
        .enumerate()
        .for_each_init(
            || (Vec::new(), Vec::new()),
            |(row_max, row_at): &mut (Vec<T>, Vec<u32>), (plane, (out, at))| {
                let x = &x[plane * h * w..(plane + 1) * h * w];
                row_max.clear();
                row_at.clear();
                for (iy, row) in x.chunks_exact(w).enumerate() {
                    for &(x0, x1) in &cols {
                        let mut best = (row[x0], x0);
                        for (ix, &v) in row[x0..x1].iter().enumerate().skip(1) {
                            if wins(v, best.0) {
                                best = (v, x0 + ix);
                            }
                        }
                        row_max.push(best.0);
                        row_at.push((iy * w + best.1) as u32);
                    }
                }
                for ((&(y0, y1), out), at) in rows.iter().zip(out.chunks_exact_mut(ow)).zip(at.chunks_exact_mut(ow)) {
                    out.copy_from_slice(&row_max[y0 * ow..(y0 + 1) * ow]);
                    at.copy_from_slice(&row_at[y0 * ow..(y0 + 1) * ow]);
                    for iy in y0 + 1..y1 {
                        let (m, a) = (&row_max[iy * ow..(iy + 1) * ow], &row_at[iy * ow..(iy + 1) * ow]);
                        for (((o, t), &v), &i) in out.iter_mut().zip(at.iter_mut()).zip(m).zip(a) {
                            if wins(v, *o) {
                                *o = v;
                                *t = i;
                            }
                        }
                    }
                }
            },
        );
    (flex(y, vec![s, c, oh, ow]), argmax)
}

/// dx[argmax] += dy, in output order per plane (as burn-flex's backward).
fn max_pool_backward<T: HostFloat>(dy: &[T], argmax: &[u32], [s, c, h, w]: [usize; 4]) -> FlexTensor {
    let per_plane = dy.len() / (s * c);
    let mut dx = vec![T::ZERO; s * c * h * w];
    dx.par_chunks_mut(h * w).enumerate().for_each(|(plane, dx)| {
        let range = plane * per_plane..(plane + 1) * per_plane;
        for (&d, &at) in dy[range.clone()].iter().zip(&argmax[range]) {
            dx[at as usize] += d;
        }
    });
    flex(dx, vec![s, c, h, w])
}

/// Where a pool's output gradient goes back to.
#[derive(Clone, Debug)]
enum PoolGrad {
    /// Shared over each window's in-image pixels.
    Average(PoolWindow),
    /// To each output's max: its plane-local index per output.
    Max(Vec<u32>),
}

#[derive(Debug)]
struct HostPoolBackward;

impl Backward<Flex, 1> for HostPoolBackward {
    /// How the gradient goes back, and the input's dims.
    type State = (PoolGrad, [usize; 4]);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node).to_contiguous();
        let (pool, dims) = ops.state;
        if let Some(node) = node_x {
            let dx = match (grad.dtype(), &pool) {
                (DType::F64, PoolGrad::Average(window)) => pool3_backward::<f64>(slice(&grad), dims, *window),
                (_, PoolGrad::Average(window)) => pool3_backward::<f32>(slice(&grad), dims, *window),
                (DType::F64, PoolGrad::Max(argmax)) => max_pool_backward::<f64>(slice(&grad), argmax, dims),
                (_, PoolGrad::Max(argmax)) => max_pool_backward::<f32>(slice(&grad), argmax, dims),
            };
            grads.register::<Flex>(node.id, dx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    /// The lane sums against closed forms (integers, exact in f64): over
    /// 1..=n, sum n(n+1)/2, sum of squares n(n+1)(2n+1)/6, for lengths
    /// with and without a remainder after the 8 lanes.
    #[test]
    fn lane_sums_equal_the_closed_forms() {
        for n in [0usize, 1, 7, 8, 9, 1003] {
            let v: Vec<f32> = (1..=n).map(|i| i as f32).collect();
            let n = n as f64;
            assert_eq!(lane_sum(&v, |x| x), n * (n + 1.0) / 2.0);
            assert_eq!(lane_sum(&v, |x| x * x), n * (n + 1.0) * (2.0 * n + 1.0) / 6.0);
            let twos = vec![2f32; v.len()];
            assert_eq!(lane_sums2(&v, &twos), (n * (n + 1.0) / 2.0, n * (n + 1.0)));
        }
    }

    fn values(n: usize, a: usize, b: usize) -> Vec<f32> {
        (0..n)
            .map(|i| ((i * a % b) as f32 - b as f32 / 2.0) / b as f32)
            .collect()
    }

    /// Output shape, output, input gradient and weight gradient of `op` on
    /// (x, weight) under the loss sum(out * r) for a fixed r.
    fn values_and_grads(
        x_data: &TensorData,
        w_data: &TensorData,
        op: impl Fn(Tensor<4>, Tensor<4>) -> Tensor<4>,
    ) -> ([usize; 4], [Vec<f32>; 3]) {
        values_and_grads_in(DType::F32, x_data, w_data, op)
    }

    /// `values_and_grads` with the tensors in `dtype` (read back as f32).
    fn values_and_grads_in(
        dtype: DType,
        x_data: &TensorData,
        w_data: &TensorData,
        op: impl Fn(Tensor<4>, Tensor<4>) -> Tensor<4>,
    ) -> ([usize; 4], [Vec<f32>; 3]) {
        let device = Device::flex().autodiff();
        let x = Tensor::<4>::from_data(x_data.clone(), &device)
            .cast(dtype)
            .require_grad();
        let wt = Tensor::<4>::from_data(w_data.clone(), &device)
            .cast(dtype)
            .require_grad();
        let out = op(x.clone(), wt.clone());
        let dims = out.dims();
        let r = Tensor::<4>::from_data(TensorData::new(values(dims.iter().product(), 29, 97), dims), &device);
        let grads = (out.clone() * r.cast(dtype)).sum().backward();
        let read = |t: Tensor<4>| t.cast(DType::F32).into_data().try_to_vec::<f32>().unwrap();
        (
            dims,
            [
                read(out.detach()),
                read(x.grad(&grads).unwrap()),
                read(wt.grad(&grads).unwrap()),
            ],
        )
    }

    fn assert_agree(case: &str, fast: ([usize; 4], [Vec<f32>; 3]), burn: ([usize; 4], [Vec<f32>; 3])) {
        assert_eq!(fast.0, burn.0, "{case}: output shape");
        for (what, (a, b)) in ["output", "input grad", "weight grad"]
            .iter()
            .zip(fast.1.iter().zip(&burn.1))
        {
            assert_eq!(a.len(), b.len(), "{case} {what}");
            for (i, (u, v)) in a.iter().zip(b).enumerate() {
                assert!(
                    (u - v).abs() <= 1e-5 * (1.0 + v.abs()),
                    "{case} {what}[{i}]: {u} vs {v}"
                );
            }
        }
    }

    /// Values, input gradients and weight gradients of the host kernels
    /// against burn-flex's own conv2d (an independent implementation) for
    /// every geometry the spaces use: 3x3 / 5x5 / 1x1, strides 1 and 2,
    /// dilation 2, depthwise and grouped, asymmetric sides; 8 samples, so
    /// small layers put two in one GEMM (`samples_per_gemm`).
    #[test]
    fn host_convolutions_match_burns_values_and_gradients() {
        for (s, h, w, cin, cout, k, stride, pad, dil, groups) in [
            (8, 9, 8, 4, 6, 3, 1, 1, 1, 1),
            (8, 9, 8, 4, 6, 3, 2, 1, 1, 1),
            (8, 9, 8, 3, 5, 1, 1, 0, 1, 1),
            (8, 9, 8, 4, 6, 1, 2, 0, 1, 1),
            (8, 9, 8, 6, 6, 3, 1, 1, 1, 6),
            (8, 9, 8, 6, 6, 5, 2, 2, 1, 6),
            (8, 9, 8, 6, 6, 3, 1, 2, 2, 6),
            (8, 9, 8, 6, 6, 5, 1, 4, 2, 6),
            (8, 9, 8, 4, 6, 3, 1, 1, 1, 2),
            (8, 9, 8, 2, 3, 3, 1, 0, 1, 1),
            // 32 x 32 outputs: rows of 4 KiB (f32) and 8 KiB (f64), which
            // the column buffers pad (`padded_stride`).
            (2, 32, 32, 3, 4, 3, 1, 1, 1, 1),
        ] {
            let opts = ConvOptions::new([stride; 2], [pad; 2], [dil; 2], groups);
            let x_data = TensorData::new(values(s * cin * h * w, 37, 101), [s, cin, h, w]);
            let w_data = TensorData::new(values(cout * cin / groups * k * k, 53, 89), [cout, cin / groups, k, k]);
            // f32 passes, and the f64 ones of synflow and grasp.
            for dtype in [DType::F32, DType::F64] {
                let fast = values_and_grads_in(dtype, &x_data, &w_data, |x, wt| conv2d_fast(x, wt, opts.clone()));
                let burn = values_and_grads_in(dtype, &x_data, &w_data, |x, wt| conv2d(x, wt, None, opts.clone()));
                let case = format!(
                    "{dtype:?} cin {cin} cout {cout} k {k} stride {stride} pad {pad} dil {dil} groups {groups}"
                );
                assert_agree(&case, fast, burn);
            }
        }
    }

    /// The transposed convolutions of TransNAS-Bench-101's decoders (and
    /// others) against burn-flex's conv_transpose2d: values and gradients.
    #[test]
    fn host_transposed_convolutions_match_burns_values_and_gradients() {
        let (s, h, w) = (8, 5, 4);
        for (cin, cout, k, stride, pad, out_pad) in [
            (4, 3, 3, 2, 1, 1),
            (4, 3, 4, 2, 1, 0),
            (3, 5, 3, 1, 1, 0),
            (2, 3, 2, 2, 0, 0),
            (3, 2, 5, 3, 2, 2),
        ] {
            let x_data = TensorData::new(values(s * cin * h * w, 37, 101), [s, cin, h, w]);
            let w_data = TensorData::new(values(cin * cout * k * k, 53, 89), [cin, cout, k, k]);
            let geo = (stride, pad, out_pad);
            let fast = values_and_grads(&x_data, &w_data, |x, wt| conv_transpose2d_fast(x, wt, geo));
            let opts = ConvTransposeOptions::new([stride; 2], [pad; 2], [out_pad; 2], [1, 1], 1);
            let burn = values_and_grads(&x_data, &w_data, |x, wt| conv_transpose2d(x, wt, None, opts.clone()));
            let case = format!("transposed cin {cin} cout {cout} k {k} stride {stride} pad {pad} out_pad {out_pad}");
            assert_agree(&case, fast, burn);
        }
    }

    /// A pass without gradients (no tracked input) still convolves, in f32
    /// and in f64.
    #[test]
    fn untracked_and_double_convolutions_agree_with_burn() {
        let device = Device::flex().autodiff();
        let x = Tensor::<4>::from_data(TensorData::new(values(2 * 3 * 5 * 5, 7, 31), [2, 3, 5, 5]), &device);
        let w = Tensor::<4>::from_data(TensorData::new(values(4 * 3 * 9, 11, 23), [4, 3, 3, 3]), &device);
        let opts = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
        let fast = conv2d_fast(x.clone(), w.clone(), opts.clone())
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let burn = conv2d(x.clone(), w.clone(), None, opts.clone())
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        for (u, v) in fast.iter().zip(&burn) {
            assert!((u - v).abs() <= 1e-5 * (1.0 + v.abs()), "{u} vs {v}");
        }
        let (x64, w64) = (x.cast(DType::F64), w.cast(DType::F64));
        let out = conv2d_fast(x64, w64, opts).into_data().try_to_vec::<f64>().unwrap();
        for (u, v) in out.iter().zip(&burn) {
            assert!((u - *v as f64).abs() <= 1e-5 * (1.0 + v.abs() as f64), "{u} vs {v}");
        }
    }

    /// burn's composite normalisation: the definition the host op replaces.
    fn composite(x: Tensor<4>, g: usize) -> (Tensor<4>, Vec<f64>) {
        let [s, c, h, w] = x.dims();
        let grouped = x
            .reshape([g, s / g, c, h * w])
            .swap_dims(1, 2)
            .reshape([g, c, (s / g) * h * w]);
        let mean = grouped.clone().mean_dim(2);
        let centered = grouped - mean;
        let var = centered.clone().square().mean_dim(2);
        let normed = centered / (var.clone() + 1e-5).sqrt();
        let var = var
            .cast(DType::F32)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
            .into_iter()
            .map(f64::from)
            .collect();
        (
            normed
                .reshape([g, c, s / g, h * w])
                .swap_dims(1, 2)
                .reshape([s, c, h, w]),
            var,
        )
    }

    /// Values, variances and input gradients of the host normalisation
    /// against burn's composite, for one group (train-mode BatchNorm), a
    /// group per sample and groups in between.
    #[test]
    fn host_normalisation_matches_burns_composite_and_its_gradient() {
        let device = Device::flex().autodiff();
        let (s, c, h, w) = (6, 3, 4, 5);
        let x_data = TensorData::new(values(s * c * h * w, 37, 101), [s, c, h, w]);
        let r_data = TensorData::new(values(s * c * h * w, 29, 97), [s, c, h, w]);
        for (dtype, g) in [1, 2, 3, 6]
            .into_iter()
            .flat_map(|g| [(DType::F32, g), (DType::F64, g)])
        {
            let run = |fast: bool| {
                let x = Tensor::<4>::from_data(x_data.clone(), &device)
                    .cast(dtype)
                    .require_grad();
                let (y, var) = if fast {
                    normalize_fast(x.clone(), g, 1e-5).unwrap()
                } else {
                    composite(x.clone(), g)
                };
                let r = Tensor::<4>::from_data(r_data.clone(), &device).cast(dtype);
                let grads = (y.clone() * r).sum().backward();
                let read = |t: Tensor<4>| t.cast(DType::F32).into_data().try_to_vec::<f32>().unwrap();
                (read(y.detach()), var, read(x.grad(&grads).unwrap()))
            };
            let (fast, burn) = (run(true), run(false));
            assert_eq!(fast.1.len(), g * c);
            for (u, v) in fast.1.iter().zip(&burn.1) {
                assert!(
                    (u - v).abs() <= 1e-5 * (1.0 + v.abs()),
                    "{dtype:?} groups {g} variance: {u} vs {v}"
                );
            }
            for (what, a, b) in [("value", &fast.0, &burn.0), ("input grad", &fast.2, &burn.2)] {
                for (i, (u, v)) in a.iter().zip(b).enumerate() {
                    assert!(
                        (u - v).abs() <= 1e-4 * (1.0 + v.abs()),
                        "{dtype:?} groups {g} {what}[{i}]: {u} vs {v}"
                    );
                }
            }
        }
    }

    /// The stride-1 box-sum pooling against the per-window loops it
    /// replaced, bit for bit, forward and backward, f32 and f64, on planes
    /// smaller than, equal to and larger than the window.
    #[test]
    fn stride1_box_sum_pooling_equals_the_window_loops_bit_for_bit() {
        fn check<T: HostFloat + std::fmt::Debug>(dims: [usize; 4], seed: usize) {
            let window = PoolWindow {
                kernel: 3,
                stride: 1,
                padding: 1,
            };
            let n: usize = dims.iter().product();
            let x: Vec<T> = (0..n)
                .map(|i| T::from_f64(((i * 7919 + seed) % 1013) as f64 / 97.0 - 5.2))
                .collect();
            let bits = |t: FlexTensor| slice::<T>(&t).iter().map(|v| v.to_f64().to_bits()).collect::<Vec<_>>();
            let (fast, loops) = (pool3_forward(&x, dims, window), pool3_forward_windows(&x, dims, window));
            assert_eq!(fast.layout().shape(), loops.layout().shape(), "{dims:?}");
            assert_eq!(bits(fast), bits(loops), "forward {dims:?}");
            let (fast, loops) = (
                pool3_backward(&x, dims, window),
                pool3_backward_windows(&x, dims, window),
            );
            assert_eq!(bits(fast), bits(loops), "backward {dims:?}");
        }
        for (i, dims) in [
            [2, 3, 7, 6],
            [1, 2, 1, 1],
            [3, 1, 2, 3],
            [1, 1, 3, 3],
            [2, 2, 32, 32],
            [1, 4, 5, 1],
        ]
        .into_iter()
        .enumerate()
        {
            check::<f32>(dims, i);
            check::<f64>(dims, i);
        }
    }
}
