//! The passes of the rest of the NAS-Bench-Suite-Zero suite: input
//! Jacobians (jacov, epe_nas), fisher from the batch pass, zen and grasp.
//! Conventions follow NASLib's `predictors/utils/pruners/measures`, which
//! produced the Suite-Zero values.

use std::collections::HashSet;
use std::time::Instant;

use burn::tensor::{Device, Gradients, Tensor, TensorData};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::{LayerMeta, Network, PhaseTimes, ProbeRecord, grouped_loss, input_tensor, metas, weight_grad};
use crate::engine::data::{Batch, standard_normal};
use crate::engine::exec::{Exec, NormMode, PassConfig, TapGrad};
use crate::engine::params::{InitScheme, ParamRole, ParamStore};

/// grasp's finite-difference step relative to the weights: the passes run
/// at w +- eps g with eps = GRASP_REL_STEP * ||w|| / ||g||.
///
/// burn 0.22 has first-order autodiff only (`Device::autodiff` documents
/// that calling it again gives no higher order, and a graph is consumed by
/// its backward), so the Hessian-vector product H g is the central
/// difference (grad L(w + eps g) - grad L(w - eps g)) / (2 eps), in f64 on
/// the CPU backend. PyTorch's double backward, which NASLib uses,
/// differentiates a ReLU network inside its current linear region
/// (relu'' = 0). A plain difference is not that: a step that moves one of
/// the ~3e7 ReLU inputs of a full NB201 network at batch 32 across zero adds
/// a gradient jump divided by 2 eps (one cell: -291.3 at a 1e-7 step, 7.116
/// at 1e-9 to 1e-11; others reached 1e5-1e6 even at 1e-9). So both passes
/// apply the ReLU masks of the unperturbed network, taken in f64
/// (`Exec::frozen_masks`): the network is then smooth along the step, the
/// quotient has the O(eps^2) error of a central difference, and f64 keeps
/// rounding (~1e-16 / 1e-7) negligible.
///
/// Measured and dropped: the same difference in f32 is off by 0.3-1.4x
/// (median over 12 NB201 and 4 macro TNB cells) at every step from 1e-2
/// to 1e-4, truncation above and rounding below, and the sum cancels. The
/// f32 batch pass's masks instead of a third, f64 forward save 8% of grasp
/// and leave the reference cell of `grasp_does_not_depend_on_the_step` bit
/// for bit, but move grasp by 1.3% on one of 4 macro TNB cells and up to
/// 4e-4 on NB201's (units within f32 rounding of zero change region): not
/// worth a change of method in the middle of the evidence runs.
pub const GRASP_REL_STEP: f64 = 1e-7;

/// zen's mixup coefficient (NASLib's default `mixup_gamma`).
const ZEN_MIXUP: f32 = 1e-2;

/// PyTorch's BatchNorm momentum: running_var starts at 1 and each
/// train-mode forward moves it 0.1 of the way to the batch's unbiased
/// variance.
const BN_MOMENTUM: f64 = 0.1;

/// L2 norm of every conv and linear weight, in execution order.
pub(super) fn weight_norms(params: &ParamStore, left_out: &HashSet<usize>) -> Vec<f64> {
    params
        .entries
        .iter()
        .enumerate()
        .filter(|(i, e)| matches!(e.role, ParamRole::ConvWeight | ParamRole::LinearWeight) && !left_out.contains(i))
        .map(|(_, e)| e)
        .map(|e| e.data.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>().sqrt())
        .collect()
}

/// The layer list from one forward of a single all-ones image (no
/// gradients): what FLOPs are counted from when no other pass ran.
pub(super) fn shape_pass(net: &dyn Network, params: &ParamStore, device: &Device) -> Vec<LayerMeta> {
    let mut exec = Exec::new(params, device.clone(), PassConfig::forward_only(NormMode::Groups(1)));
    let one = Batch::ones(net.input_chw());
    let _ = net.forward(&mut exec, input_tensor(&one, device));
    metas(&exec.layers)
}

/// fisher per weight layer from the batch pass (NASLib `fisher.py`): for
/// each output channel k, `0.5 * mean_s (sum_spatial act * grad)^2`, act the
/// layer's output and grad dLoss/d(output); NASLib broadcasts the channel
/// value to every weight of the channel's filter and sums, so each channel
/// counts `fan_in` times. Token inputs [S, T, out] treat tokens as spatial
/// positions. A layer no gradient reached contributes 0.
pub(super) fn fisher_per_layer(exec: &Exec, grads: &Gradients) -> Vec<f64> {
    let mut out = vec![0.0; exec.layers.len()];
    for (idx, act) in &exec.outputs {
        let layer = &exec.layers[*idx];
        if !layer.geometry.in_layer_metrics() {
            continue;
        }
        let Some(grad) = layer.taps.as_ref().and_then(|t| t.grad(grads)) else {
            continue;
        };
        // [S, channels] of act * grad summed over positions.
        let per_channel: Option<(Vec<f32>, usize)> = match (act, grad) {
            (TapGrad::Conv(a), TapGrad::Conv(d)) => {
                let [s, c, _, _] = a.dims();
                let g = (a.clone() * d).sum_dim(3).sum_dim(2).reshape([s, c]);
                g.into_data().try_to_vec::<f32>().ok().map(|v| (v, c))
            }
            (TapGrad::Linear(a), TapGrad::Linear(d)) => {
                let c = a.dims()[1];
                (a.clone() * d).into_data().try_to_vec::<f32>().ok().map(|v| (v, c))
            }
            (TapGrad::TokenLinear(a), TapGrad::TokenLinear(d)) => {
                let [s, _, c] = a.dims();
                let g = (a.clone() * d).sum_dim(1).reshape([s, c]);
                g.into_data().try_to_vec::<f32>().ok().map(|v| (v, c))
            }
            _ => None,
        };
        let Some((g, c)) = per_channel else { continue };
        let s = g.len() / c;
        let fan_in: usize = layer.shape[1..].iter().product();
        let mut sum = 0.0;
        for k in 0..c {
            let mean_sq = (0..s).map(|i| (g[i * c + k] as f64).powi(2)).sum::<f64>() / s as f64;
            sum += (0.5 * mean_sq).abs();
        }
        out[*idx] = sum * fan_in as f64;
    }
    out
}

/// Input Jacobians of R = sum(logits) under train-mode BN over the batch
/// (NASLib `get_batch_jacobian`: `y.backward(ones_like(y))`, then x.grad).
pub(super) fn jacobian_pass(
    net: &dyn Network,
    params: &ParamStore,
    batch: &Batch,
    device: &Device,
    rec: &mut ProbeRecord,
) {
    let t = Instant::now();
    let mut exec = Exec::new(params, device.clone(), PassConfig::forward_only(NormMode::Groups(1)));
    let x = input_tensor(batch, device).require_grad();
    let logits = net.forward(&mut exec, x.clone());
    rec.num_classes = logits.dims()[1];
    if rec.layers.is_empty() {
        rec.layers = metas(&exec.layers);
    }
    rec.times.forward += t.elapsed();
    // A cell cut off from its input (every path through `none`) has logits
    // that do not depend on the images: there is no graph to differentiate,
    // and jacov / epe_nas are undefined for it (missing, not a panic).
    if !logits.is_tracked() {
        rec.input_jacobian = None;
        return;
    }
    let t = Instant::now();
    let grads = logits.sum().backward();
    rec.times.backward += t.elapsed();
    rec.input_jacobian = x.grad(&grads).and_then(|g| g.into_data().try_to_vec::<f32>().ok());
}

/// Seed of zen's Gaussian weights and inputs, derived from the network's
/// own initial weights: reproducible per (seed, architecture) like them,
/// and independent of scoring order.
pub fn zen_seed(params: &ParamStore) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ 0x7a65_6e00;
    for e in &params.entries {
        for &v in &e.data {
            h ^= v.to_bits() as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// zen (NASLib `zen.py`, from Zen-NAS): weights N(0, 1) (norms 1 and 0,
/// biases 0), x and e standard normal of the batch's shape.
pub(super) fn zen_pass(
    net: &dyn Network,
    params: &ParamStore,
    samples: usize,
    device: &Device,
    times: &mut PhaseTimes,
) -> Option<(f64, f64)> {
    let t = Instant::now();
    let seed = zen_seed(params);
    let mut gaussian = params.clone();
    gaussian.init(InitScheme::Gaussian, seed);
    let [c, h, w] = net.input_chw();
    let n = samples * c * h * w;
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    let x: Vec<f32> = (0..n).map(|_| standard_normal(&mut rng)).collect();
    let mixed: Vec<f32> = x.iter().map(|&v| v + ZEN_MIXUP * standard_normal(&mut rng)).collect();
    let out = zen_parts(net, &gaussian, &x, &mixed, [samples, c, h, w], device);
    times.forward += t.elapsed();
    out
}

/// zen's two parts for given weights and inputs: `mean_s sum |f(x) -
/// f(mixed)|` over the features before global average pooling, and
/// `sum_BN log sqrt(mean_c running_var)` with running_var as PyTorch leaves
/// it after the two train-mode forwards (x first, then mixed). Both inputs
/// run as one batch of 2S whose halves are normalised separately, which is
/// exactly two forwards with their own batch statistics.
pub fn zen_parts(
    net: &dyn Network,
    params: &ParamStore,
    x: &[f32],
    mixed: &[f32],
    shape: [usize; 4],
    device: &Device,
) -> Option<(f64, f64)> {
    let s = shape[0];
    let both: Vec<f32> = x.iter().chain(mixed).copied().collect();
    let input = Tensor::<4>::from_data(TensorData::new(both, [2 * s, shape[1], shape[2], shape[3]]), device);
    let mut exec = Exec::new(params, device.clone(), PassConfig::forward_only(NormMode::Groups(2)));
    exec.record_norm_vars = true;
    let _ = net.forward(&mut exec, input);
    let features = exec.pre_pool.take()?.into_data().try_to_vec::<f32>().ok()?;
    let per = features.len() / (2 * s);
    let (f1, f2) = features.split_at(s * per);
    let diff = f1
        .iter()
        .zip(f2)
        .map(|(a, b)| (*a as f64 - *b as f64).abs())
        .sum::<f64>()
        / s as f64;
    let keep = 1.0 - BN_MOMENTUM;
    let bn: f64 = exec
        .norm_vars
        .iter()
        .map(|v| {
            let c = v.len() / 2;
            let running: f64 = (0..c)
                .map(|k| keep * keep + keep * BN_MOMENTUM * v[k] + BN_MOMENTUM * v[c + k])
                .sum::<f64>()
                / c as f64;
            running.sqrt().ln()
        })
        .sum();
    Some((diff, bn))
}

/// grasp (NASLib `grasp.py`) per weight layer: `-sum w * (H g)`, g the batch
/// gradient of the mean cross-entropy (train-mode BN) with respect to the
/// conv and linear weights, H the Hessian with respect to those weights.
/// H g by a central difference in f64 on the CPU backend with eps =
/// rel_step * ||w|| / ||g|| (the probe uses `GRASP_REL_STEP`). `g` holds
/// (parameter index, gradient) per layer; `None` when the gradient is zero.
pub(super) fn grasp_pass(
    net: &dyn Network,
    params: &ParamStore,
    batch: &Batch,
    g: &[(usize, Vec<f32>)],
    rel_step: f64,
    times: &mut PhaseTimes,
) -> Option<Vec<f64>> {
    let norm = |v: &mut dyn Iterator<Item = f64>| v.map(|x| x * x).sum::<f64>().sqrt();
    let g_norm = norm(&mut g.iter().flat_map(|(_, g)| g.iter().map(|&v| v as f64)));
    let w_norm = norm(
        &mut g
            .iter()
            .flat_map(|(p, _)| params.entries[*p].data.iter().map(|&v| v as f64)),
    );
    if g_norm == 0.0 || !g_norm.is_finite() {
        return None;
    }
    let eps = rel_step * w_norm / g_norm;
    let masks = relu_masks_f64(net, params, batch, times);
    let plus = grads_at(net, params, batch, g, &masks, eps, times)?;
    let minus = grads_at(net, params, batch, g, &masks, -eps, times)?;
    let t = Instant::now();
    let out = g
        .iter()
        .zip(plus.iter().zip(&minus))
        .map(|((p, _), (gp, gm))| {
            let w = &params.entries[*p].data;
            -w.iter()
                .zip(gp.iter().zip(gm))
                .map(|(&w, (a, b))| w as f64 * (a - b))
                .sum::<f64>()
                / (2.0 * eps)
        })
        .collect();
    times.statistics += t.elapsed();
    Some(out)
}

/// The ReLU masks of the unperturbed network in f64 (packed patterns of
/// every activation call), train-mode BN over the batch.
fn relu_masks_f64(net: &dyn Network, params: &ParamStore, batch: &Batch, times: &mut PhaseTimes) -> Vec<Vec<u64>> {
    let t = Instant::now();
    let config = PassConfig {
        patterns: true,
        double: true,
        ..PassConfig::forward_only(NormMode::Groups(1))
    };
    // The autodiff device, untracked: the host ops (convolution, pooling,
    // BatchNorm) take only its tensors, and no graph is recorded.
    let mut exec = Exec::new(params, Device::flex().autodiff(), config);
    let x: Vec<f64> = batch.images.iter().map(|&v| v as f64).collect();
    let x = Tensor::<4>::from_data(TensorData::new(x, batch.shape), exec.options());
    let _ = net.forward(&mut exec, x);
    times.forward += t.elapsed();
    exec.activation_calls
}

/// Weight gradients (f64, per layer in `g`'s order) of the batch's mean
/// cross-entropy at w + step * g, train-mode BN, ReLU masks frozen at
/// `masks`, on the CPU backend in f64.
fn grads_at(
    net: &dyn Network,
    params: &ParamStore,
    batch: &Batch,
    g: &[(usize, Vec<f32>)],
    masks: &[Vec<u64>],
    step: f64,
    times: &mut PhaseTimes,
) -> Option<Vec<Vec<f64>>> {
    let t = Instant::now();
    let device = Device::flex().autodiff();
    let config = PassConfig {
        weight_grads: true,
        double: true,
        ..PassConfig::forward_only(NormMode::Groups(1))
    };
    let mut exec = Exec::new(params, device, config);
    exec.frozen_masks = Some(masks.to_vec());
    exec.param_offsets = vec![None; params.entries.len()];
    for (p, grad) in g {
        exec.param_offsets[*p] = Some(grad.iter().map(|&v| step * v as f64).collect());
    }
    let x: Vec<f64> = batch.images.iter().map(|&v| v as f64).collect();
    let x = Tensor::<4>::from_data(TensorData::new(x, batch.shape), exec.options());
    let logits = net.forward(&mut exec, x.clone());
    let loss = grouped_loss(net, logits, x, batch, 1);
    times.forward += t.elapsed();
    let t = Instant::now();
    let grads = loss.backward();
    times.backward += t.elapsed();
    // Layers in execution order match `g` (both come from the same network).
    let out = g
        .iter()
        .map(|(p, grad)| {
            exec.layers
                .iter()
                .find(|l| l.param == *p)
                .and_then(|l| weight_grad(l, &grads))
                .unwrap_or_else(|| vec![0.0; grad.len()])
        })
        .collect();
    Some(out)
}
