//! The probe: runs a network at initialisation on a batch and records what
//! every proxy needs, sharing passes between proxies.
//!
//! Passes (each only when some requested proxy needs it):
//! - per-sample: BatchNorm statistics per sample (S independent passes in
//!   one), loss = sum of per-sample cross-entropies, per-sample weight
//!   gradients from layer inputs and output gradients -> sigma_w (L-SWAG);
//! - splits: BatchNorm over each of k mini-batches, loss = sum of their
//!   mean cross-entropies -> per-split gradients (ZiCO, k = 2);
//! - batch: train-mode BatchNorm over the whole batch, mean cross-entropy ->
//!   activation patterns, NWOT codes, batch gradient (grad_norm, snip, plain);
//! - synflow: BatchNorm off, |params|, one all-ones input, R = sum(output);
//! - jacobian: train-mode BatchNorm, R = sum(logits), dR/dx per sample
//!   (jacov, epe_nas); burn keeps no graph after a backward (no
//!   retain_graph), so this seed needs its own forward;
//! - zen: Gaussian weights, two Gaussian inputs, forward only;
//! - grasp: two f64 passes at w +- eps g for the Hessian-vector product.
//!
//! The batch pass also gives fisher (each layer's output times its tap
//! gradient) and the gradient g that grasp differentiates along.

mod suite;

pub use suite::{GRASP_REL_STEP, zen_parts, zen_seed};

use std::collections::{BTreeMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::time::{Duration, Instant};

use burn::tensor::{Device, Tensor, TensorData, activation};
use serde::{Deserialize, Serialize};

use super::backend::{Backend, BackendKind};
use super::data::Batch;
use super::exec::{Exec, LayerRecord, NormMode, PassConfig, WeightLeaf, layer_split_grads};
use super::params::ParamStore;
use super::profile::{LayerProfile, LayerStat, PERC_BINS, depth_bin};

/// A network the probe can run.
pub trait Network {
    /// Input shape [C, H, W].
    fn input_chw(&self) -> [usize; 3];
    /// # Shapes
    /// x: [S, C, H, W] -> logits [S, classes]
    fn forward(&self, exec: &mut Exec, x: Tensor<4>) -> Tensor<2>;
    /// Whether samples never interact in any norm mode (no BatchNorm; a
    /// ViT's LayerNorm is per token): per-sample gradients of a part of the
    /// batch are then those of the whole batch, and sigma_w is computed in
    /// chunks of samples, whose backward passes keep a fraction of the
    /// activations.
    fn samples_independent(&self) -> bool {
        false
    }
    /// Whether samples interact through BatchNorm statistics at most: in
    /// the per-sample pass (one sample per normalisation group) they are
    /// then independent, and sigma_w is computed in chunks as for
    /// `samples_independent` networks (NB101's largest cells at batch 64),
    /// and ZiCO one split (one normalisation group) at a time. NB201 says
    /// no: chunks of 8 cut its probe's peak from 0.88 to 0.55 GB but cost
    /// 5% of its speed, and it fits in memory.
    fn per_sample_pass_chunks(&self) -> bool {
        self.samples_independent()
    }
    /// The loss of each sample, [S], for `out = forward(input)` on `batch`
    /// (its labels, and its pixel targets where it has them): the task's
    /// loss (TransNAS-Bench-101's pixel and regression heads); default the
    /// cross-entropy of the logits against the labels.
    fn sample_losses(&self, out: Tensor<2>, input: Tensor<4>, batch: &Batch) -> Tensor<1> {
        let _ = input;
        cross_entropy(out, &batch.labels)
    }
}

/// Cross-entropy of each sample's logits against its label, in the logits'
/// precision (f64 in grasp's passes).
pub fn cross_entropy(logits: Tensor<2>, labels: &[usize]) -> Tensor<1> {
    let [s, k] = logits.dims();
    let mut onehot = vec![0f32; s * k];
    for (i, &l) in labels.iter().enumerate() {
        onehot[i * k + l.min(k - 1)] = 1.0;
    }
    let options = burn::tensor::TensorCreationOptions::new(logits.device()).with_dtype(logits.dtype());
    let onehot = Tensor::<2>::from_data(TensorData::new(onehot, [s, k]), options);
    let logp = activation::log_softmax(logits, 1);
    (logp * onehot).sum_dim(1).neg().reshape([s])
}

/// How per-sample gradient statistics are computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum GradPath {
    /// One batched pass with per-sample normalisation and the
    /// per-sample-gradient trick.
    #[default]
    Batched,
    /// One sample at a time (the reference the batched path must match).
    Naive,
}

/// The samples whose activation patterns make Psi (L-SWAG, SWAP) in the
/// CLI's and the app's new runs: SWAP's own code uses 16, and so does the
/// evidence (README, "pattern_samples"): NB201 L-SWAG 0.818 at 16 against
/// 0.668 with the whole batch of 64, NB301 equal. `ProbeSettings`' `None`
/// (the whole batch) stays what the engine does when not told.
pub const DEFAULT_PATTERN_SAMPLES: usize = 16;

/// Probe settings that change numbers (saved with every result).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeSettings {
    /// L-SWAG's sigma_w over `grad_splits` mini-batches; `None` = per sample.
    pub grad_splits: Option<usize>,
    /// Samples used for activation patterns (first k of the batch); `None` = all.
    pub pattern_samples: Option<usize>,
    pub grad_path: GradPath,
}

impl Default for ProbeSettings {
    fn default() -> Self {
        ProbeSettings {
            grad_splits: None,
            pattern_samples: None,
            grad_path: GradPath::Batched,
        }
    }
}

/// The engine's name for what to record (kept for callers that name only
/// the first-order passes; the fields they leave out default to off).
pub type Needs = ProbeNeeds;

/// Everything the probe can record, pass by pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProbeNeeds {
    pub sigma: bool,
    pub zico: bool,
    pub batch_grads: bool,
    pub patterns: bool,
    pub nwot: bool,
    pub synflow: bool,
    /// Per-sample input Jacobians of sum(logits) (jacov, epe_nas).
    pub jacobian: bool,
    /// Per-channel act x grad of every weight layer (fisher).
    pub fisher: bool,
    /// Gaussian-init feature distance and BN scaling (zen).
    pub zen: bool,
    /// Hessian-vector product along the batch gradient (grasp).
    pub grasp: bool,
}

impl ProbeNeeds {
    pub const NONE: ProbeNeeds = ProbeNeeds {
        sigma: false,
        zico: false,
        batch_grads: false,
        patterns: false,
        nwot: false,
        synflow: false,
        jacobian: false,
        fisher: false,
        zen: false,
        grasp: false,
    };

    /// Union of two sets of needs.
    pub const fn union(self, o: ProbeNeeds) -> ProbeNeeds {
        ProbeNeeds {
            sigma: self.sigma || o.sigma,
            zico: self.zico || o.zico,
            batch_grads: self.batch_grads || o.batch_grads,
            patterns: self.patterns || o.patterns,
            nwot: self.nwot || o.nwot,
            synflow: self.synflow || o.synflow,
            jacobian: self.jacobian || o.jacobian,
            fisher: self.fisher || o.fisher,
            zen: self.zen || o.zen,
            grasp: self.grasp || o.grasp,
        }
    }
}

/// Static facts about a weight layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerMeta {
    pub name: String,
    pub shape: Vec<usize>,
    pub macs: u64,
    /// Index of the weight in the ParamStore.
    pub param: usize,
    /// Counted by NASLib's layer-metric proxies (`LayerGeometry::in_layer_metrics`).
    pub in_layer_metrics: bool,
}

/// sigma_w summary of one layer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SigmaStat {
    /// `log(sum_{sigma>0} 1/sigma)`, `None` when every sigma is 0 (dead).
    pub lambda: Option<f64>,
    pub mean_log_sigma: Option<f64>,
}

/// Batch-gradient summaries of one layer.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BatchGradStat {
    pub grad_l2: f64,
    pub snip: f64,
    pub plain: f64,
    pub weight_l2: f64,
}

/// Wall time per phase of the probe.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseTimes {
    pub forward: Duration,
    pub backward: Duration,
    pub statistics: Duration,
    pub patterns: Duration,
}

/// Everything the proxies compute from.
#[derive(Clone, Debug, Default)]
pub struct ProbeRecord {
    pub layers: Vec<LayerMeta>,
    pub params: u64,
    pub sigma: Option<Vec<SigmaStat>>,
    /// ZiCO's per-layer term `log(sum mean|g| / std(g))`; `None` per layer
    /// when skipped.
    pub zico_terms: Option<Vec<Option<f64>>>,
    pub batch_grads: Option<Vec<BatchGradStat>>,
    /// Activation patterns credited to each layer, sorted and deduplicated.
    pub layer_patterns: Option<Vec<Vec<u64>>>,
    /// The first samples of the batch those patterns hold (0 without them).
    pub pattern_samples: usize,
    /// NWOT's kernel K (S x S, row-major).
    pub nwot_kernel: Option<Vec<f64>>,
    pub synflow_sum: Option<f64>,
    /// Logits of the batch pass (train-mode BN), [S * classes].
    pub logits: Option<Vec<f32>>,
    /// Labels of the batch, and the network's number of outputs.
    pub labels: Vec<usize>,
    pub num_classes: usize,
    /// L2 norm of every conv and linear weight, in execution order
    /// (from the parameters; no pass).
    pub weight_l2: Vec<f64>,
    /// d sum(logits) / dx of each sample, train-mode BN over the batch,
    /// [S * C*H*W] (jacov, epe_nas).
    pub input_jacobian: Option<Vec<f32>>,
    /// Per layer: sum over output channels of 0.5 mean_s (sum_spatial act *
    /// grad)^2, each channel counted once per weight of its filter (NASLib
    /// broadcasts the channel value to the filter's weights and sums).
    pub fisher: Option<Vec<f64>>,
    /// zen: mean_s sum |f(x) - f(x + 0.01 e)| of the pre-pool features, and
    /// sum over BatchNorms of log sqrt(mean running_var).
    pub zen_parts: Option<(f64, f64)>,
    /// grasp per layer: -sum w * (H g), H by central finite differences.
    pub grasp: Option<Vec<f64>>,
    pub times: PhaseTimes,
}

/// Runs the probe on one network.
pub fn probe(
    net: &dyn Network,
    params: &ParamStore,
    batch: &Batch,
    backend: &Backend,
    settings: &ProbeSettings,
    needs: impl Into<ProbeNeeds>,
) -> ProbeRecord {
    let needs: ProbeNeeds = needs.into();
    let device = &backend.device;
    let mut rec = ProbeRecord {
        params: params.num_params() as u64,
        labels: batch.labels.clone(),
        weight_l2: suite::weight_norms(params, &HashSet::new()),
        ..ProbeRecord::default()
    };
    let s = batch.len();
    if needs.sigma {
        let splits = settings.grad_splits.unwrap_or(s).clamp(1, s);
        let sigma = match settings.grad_path {
            GradPath::Naive if splits == s => naive_sigma(net, params, batch, device, &mut rec.times),
            GradPath::Batched if splits == s && s > SIGMA_CHUNK && net.per_sample_pass_chunks() => {
                let (layers, sigma) = chunked_sigma(net, params, batch, backend, &mut rec.times);
                rec.layers = layers;
                sigma
            }
            _ => {
                let (layers, g) = split_pass(net, params, batch, backend, splits, &mut rec.times, |g| {
                    sigma_of_abs(g, splits)
                });
                rec.layers = layers;
                g.into_iter().map(|g| g.unwrap_or(DEAD)).collect()
            }
        };
        rec.sigma = Some(sigma);
    }
    if needs.zico {
        let k = 2.min(s);
        // Batched passes can run in chunks, so memory scales with the chunk,
        // not the batch: of `SIGMA_CHUNK` samples where samples never
        // interact, of one split where they meet only in BatchNorm (each
        // split is its own normalisation group).
        let chunk = if settings.grad_path != GradPath::Batched || s <= SIGMA_CHUNK {
            None
        } else if net.samples_independent() {
            Some(SIGMA_CHUNK)
        } else {
            net.per_sample_pass_chunks().then_some(s)
        };
        let (layers, g) = match chunk {
            Some(chunk) => chunked_split_grads(net, params, batch, backend, (k, chunk), &mut rec.times, |g| {
                zico_term(g, k)
            }),
            None => split_pass(net, params, batch, backend, k, &mut rec.times, |g| zico_term(g, k)),
        };
        rec.layers = layers;
        rec.zico_terms = Some(g.into_iter().map(Option::flatten).collect());
    }
    if needs.patterns || needs.nwot || needs.batch_grads || needs.fisher || needs.grasp {
        let g = batch_pass(net, params, batch, backend, settings, needs, &mut rec);
        if needs.grasp {
            rec.grasp = g.and_then(|g| suite::grasp_pass(net, params, batch, &g, GRASP_REL_STEP, &mut rec.times));
        }
    }
    if needs.jacobian {
        suite::jacobian_pass(net, params, batch, device, &mut rec);
    }
    if needs.zen {
        rec.zen_parts = suite::zen_pass(net, params, batch.len(), device, &mut rec.times);
    }
    if needs.synflow {
        rec.synflow_sum = Some(synflow_pass(net, params, &mut rec));
    }
    if rec.layers.is_empty() {
        // Nothing ran (data-free proxies only): one cheap forward of a
        // single image gives the layer list FLOPs are counted from.
        rec.layers = suite::shape_pass(net, params, device);
    }
    if rec.layers.iter().any(|l| !l.in_layer_metrics) {
        let left_out: HashSet<usize> = rec
            .layers
            .iter()
            .filter(|l| !l.in_layer_metrics)
            .map(|l| l.param)
            .collect();
        rec.weight_l2 = suite::weight_norms(params, &left_out);
    }
    rec
}

/// grasp per weight layer with a chosen relative finite-difference step
/// (the probe uses `GRASP_REL_STEP`), on the CPU backend: for checking that
/// the result does not depend on the step.
pub fn grasp_at_step(net: &dyn Network, params: &ParamStore, batch: &Batch, rel_step: f64) -> Option<Vec<f64>> {
    let backend = Backend::new(BackendKind::Cpu);
    let needs = ProbeNeeds {
        grasp: true,
        ..ProbeNeeds::NONE
    };
    let mut rec = ProbeRecord::default();
    let g = batch_pass(net, params, batch, &backend, &ProbeSettings::default(), needs, &mut rec)?;
    suite::grasp_pass(net, params, batch, &g, rel_step, &mut rec.times)
}

const DEAD: SigmaStat = SigmaStat {
    lambda: None,
    mean_log_sigma: None,
};

fn input_tensor(batch: &Batch, device: &Device) -> Tensor<4> {
    Tensor::<4>::from_data(TensorData::new(batch.images.clone(), batch.shape), device)
}

/// The network's per-sample losses, weighted so that each of `groups`
/// groups contributes its mean: groups = S gives the sum of per-sample losses.
fn grouped_loss(net: &dyn Network, out: Tensor<2>, input: Tensor<4>, batch: &Batch, groups: usize) -> Tensor<1> {
    let s = out.dims()[0];
    net.sample_losses(out, input.detach(), batch).sum() * (groups as f64 / s as f64)
}

fn metas(layers: &[LayerRecord]) -> Vec<LayerMeta> {
    layers
        .iter()
        .map(|l| LayerMeta {
            name: l.name.clone(),
            shape: l.shape.clone(),
            macs: l.macs,
            param: l.param,
            in_layer_metrics: l.geometry.in_layer_metrics(),
        })
        .collect()
}

/// One pass with BN over `splits` groups; returns per layer `reduce` of
/// the per-split weight gradients [k * n] (`None` where no gradient reached
/// the layer). Layers are reduced one at a time, so at most one layer's
/// per-sample gradients exist at once (64 copies of all 23 M weights of a
/// ViT would be 5.9 GB).
#[allow(clippy::too_many_arguments)]
fn split_pass<T>(
    net: &dyn Network,
    params: &ParamStore,
    batch: &Batch,
    backend: &Backend,
    splits: usize,
    times: &mut PhaseTimes,
    reduce: impl Fn(&[f32]) -> T,
) -> (Vec<LayerMeta>, Vec<Option<T>>) {
    let device = &backend.device;
    let t = Instant::now();
    let config = PassConfig {
        norm: NormMode::Groups(splits),
        taps: true,
        ..PassConfig::forward_only(NormMode::Groups(splits))
    };
    let mut exec = Exec::new(params, device.clone(), config);
    let x = input_tensor(batch, device);
    let logits = net.forward(&mut exec, x.clone());
    let loss = grouped_loss(net, logits, x, batch, splits);
    times.forward += t.elapsed();
    let t = Instant::now();
    let grads = loss.backward();
    times.backward += t.elapsed();
    let t = Instant::now();
    let host = backend.kind == BackendKind::Cpu;
    let out = exec
        .layers
        .iter()
        .map(|layer| layer_split_grads(layer, layer.taps.as_ref()?.grad(&grads)?, splits, host).map(|g| reduce(&g)))
        .collect();
    times.statistics += t.elapsed();
    (metas(&exec.layers), out)
}

/// `split_pass` in chunks of at most `chunk` samples that never straddle
/// two splits: a split's gradient (of its mean loss) is the chunks'
/// gradients weighted by their share of the split, so the backward passes
/// keep one chunk's activations (ZiCO on a 22 M ViT at 224 x 224 needed
/// ~9.5 GB for the whole batch) at the price of `splits` weight-sized f32
/// buffers per layer. Chunks smaller than a split need samples that never
/// interact; a chunk of a whole split (one normalisation group) needs
/// samples that meet in BatchNorm at most.
#[allow(clippy::too_many_arguments)]
fn chunked_split_grads<T>(
    net: &dyn Network,
    params: &ParamStore,
    batch: &Batch,
    backend: &Backend,
    (splits, chunk): (usize, usize),
    times: &mut PhaseTimes,
    reduce: impl Fn(&[f32]) -> T,
) -> (Vec<LayerMeta>, Vec<Option<T>>) {
    let per = batch.len() / splits;
    // Per layer: the [splits, n] gradients, `None` where no gradient
    // reaches the layer (structural, the same in every chunk).
    let mut acc: Vec<Option<Vec<f32>>> = Vec::new();
    let mut layers = Vec::new();
    for j in 0..splits {
        for start in (j * per..(j + 1) * per).step_by(chunk) {
            let part = batch.select(&(start..(start + chunk).min((j + 1) * per)).collect::<Vec<_>>());
            let weight = part.len() as f32 / per as f32;
            let (metas, grads) = split_pass(net, params, &part, backend, 1, times, |g| g.to_vec());
            let t = Instant::now();
            if acc.is_empty() {
                acc = grads
                    .iter()
                    .map(|g| g.as_ref().map(|g| vec![0f32; splits * g.len()]))
                    .collect();
            }
            for (a, g) in acc.iter_mut().zip(grads) {
                if let (Some(a), Some(g)) = (a.as_mut(), g) {
                    a[j * g.len()..(j + 1) * g.len()]
                        .iter_mut()
                        .zip(&g)
                        .for_each(|(a, g)| *a += weight * g);
                }
            }
            layers = metas;
            times.statistics += t.elapsed();
        }
    }
    let t = Instant::now();
    let out = acc.into_iter().map(|a| a.map(|g| reduce(&g))).collect();
    times.statistics += t.elapsed();
    (layers, out)
}

/// Column moments of a row-major [k, n] matrix in f64, two-pass: per
/// column the mean of `f(g)` and the sum of its squared deviations.
/// Blocks of columns run on the cores (one probe spreads over all of
/// them); every column still sums its rows in order, so the values are
/// the same on any number of threads.
fn column_moments(g: &[f32], k: usize, f: impl Fn(f32) -> f64 + Sync) -> (Vec<f64>, Vec<f64>) {
    const BLOCK: usize = 1024;
    let n = g.len() / k;
    let mut mean = vec![0f64; n];
    let mut m2 = vec![0f64; n];
    use rayon::prelude::*;
    mean.par_chunks_mut(BLOCK)
        .zip(m2.par_chunks_mut(BLOCK))
        .enumerate()
        .for_each(|(b, (mean, m2))| {
            let len = mean.len();
            let rows = || (0..k).map(|r| &g[r * n + b * BLOCK..][..len]);
            for row in rows() {
                for (m, &v) in mean.iter_mut().zip(row) {
                    *m += f(v);
                }
            }
            mean.iter_mut().for_each(|m| *m /= k as f64);
            for row in rows() {
                for ((q, m), &v) in m2.iter_mut().zip(mean.iter()).zip(row) {
                    let d = f(v) - m;
                    *q += d * d;
                }
            }
        });
    (mean, m2)
}

/// (mean, population standard deviation) of `f(g)` per column of a
/// row-major [k, n] matrix (see `column_moments`).
fn column_stats(g: &[f32], k: usize, f: impl Fn(f32) -> f64 + Sync) -> (Vec<f64>, Vec<f64>) {
    let (mean, m2) = column_moments(g, k, f);
    (mean, m2.into_iter().map(|q| (q / k as f64).sqrt()).collect())
}

/// sigma_w = std over splits of |g| (ddof 0) -> Lambda_l, mean log sigma.
/// Host loops in f64 over the f32 gradients: no f64 copy of the [k, n]
/// matrix exists (tensor ops made three, 2.4 GB for one 1024-channel
/// decoder layer of TransNAS-Bench-101 at 8 samples).
fn sigma_of_abs(g: &[f32], k: usize) -> SigmaStat {
    let (_, m2) = column_moments(g, k, |v| v.abs() as f64);
    sigma_summary(m2.into_iter().map(|q| (q / k as f64).sqrt()))
}

/// Samples per backward pass of `chunked_sigma`.
pub const SIGMA_CHUNK: usize = 8;

/// Per-sample sigma_w for networks whose samples never interact, in chunks
/// of `SIGMA_CHUNK` samples: each chunk's per-sample gradients are exactly
/// those of the whole batch, and per weight the mean and the sum of squared
/// deviations of |g| merge across chunks (Chan, Golub and LeVeque's pairwise
/// update), in f64 on the host. The backward pass keeps the activations of
/// one chunk instead of the batch (a 22 M ViT at 224 x 224: ~145 MiB per
/// sample), at the price of 2 x 8 bytes per weight of accumulators.
fn chunked_sigma(
    net: &dyn Network,
    params: &ParamStore,
    batch: &Batch,
    backend: &Backend,
    times: &mut PhaseTimes,
) -> (Vec<LayerMeta>, Vec<SigmaStat>) {
    // Per layer: (mean of |g|, sum of squared deviations), `None` where no
    // gradient reaches the layer (structural, so the same in every chunk).
    let mut acc: Vec<Option<(Vec<f64>, Vec<f64>)>> = Vec::new();
    let mut layers = Vec::new();
    let mut count = 0usize;
    for start in (0..batch.len()).step_by(SIGMA_CHUNK) {
        let part = batch.select(&(start..(start + SIGMA_CHUNK).min(batch.len())).collect::<Vec<_>>());
        let c = part.len();
        let (metas, stats) = split_pass(net, params, &part, backend, c, times, |g| {
            column_moments(g, c, |v| v.abs() as f64)
        });
        let t = Instant::now();
        let (na, nb) = (count as f64, c as f64);
        acc = if acc.is_empty() {
            stats
        } else {
            acc.into_iter()
                .zip(stats)
                .map(|pair| match pair {
                    (Some((mut ma, mut qa)), Some((mb, qb))) => {
                        let n = na + nb;
                        for (((ma, qa), mb), qb) in ma.iter_mut().zip(qa.iter_mut()).zip(&mb).zip(&qb) {
                            let delta = mb - *ma;
                            *ma += delta * (nb / n);
                            *qa += qb + delta * delta * (na * nb / n);
                        }
                        Some((ma, qa))
                    }
                    (x, None) | (None, x) => x,
                })
                .collect()
        };
        count += c;
        layers = metas;
        times.statistics += t.elapsed();
    }
    let t = Instant::now();
    let sigma = acc
        .into_iter()
        .map(|a| match a {
            Some((_, q)) => sigma_summary(q.into_iter().map(|q| (q / count as f64).sqrt())),
            None => DEAD,
        })
        .collect();
    times.statistics += t.elapsed();
    (layers, sigma)
}

/// Lambda and mean log sigma from sigma values.
pub fn sigma_summary(sigma: impl Iterator<Item = f64>) -> SigmaStat {
    let (mut inv, mut logs, mut n) = (0.0f64, 0.0f64, 0usize);
    for v in sigma.filter(|&v| v > 0.0) {
        inv += 1.0 / v;
        logs += v.ln();
        n += 1;
    }
    if n == 0 {
        return DEAD;
    }
    SigmaStat {
        lambda: Some(inv.ln()),
        mean_log_sigma: Some(logs / n as f64),
    }
}

/// ZiCO's term for one layer from per-split gradients [k, n]:
/// `log(sum_{std>0} mean_k|g| / std_k(g))`, skipped when the sum is 0.
fn zico_term(g: &[f32], k: usize) -> Option<f64> {
    let (mean_abs, _) = column_stats(g, k, |v| v.abs() as f64);
    let (_, std) = column_stats(g, k, |v| v as f64);
    let sum: f64 = mean_abs
        .iter()
        .zip(&std)
        .filter(|(_, s)| **s != 0.0)
        .map(|(m, s)| m / s)
        .sum();
    (sum != 0.0).then(|| sum.ln())
}

/// Reference path: S single-sample passes (BN statistics of that sample),
/// weight gradients accumulated with Welford's algorithm in f64.
fn naive_sigma(
    net: &dyn Network,
    params: &ParamStore,
    batch: &Batch,
    device: &Device,
    times: &mut PhaseTimes,
) -> Vec<SigmaStat> {
    let mut mean: Vec<Vec<f64>> = Vec::new();
    let mut m2: Vec<Vec<f64>> = Vec::new();
    for s in 0..batch.len() {
        let one = batch.select(&[s]);
        let t = Instant::now();
        let config = PassConfig {
            weight_grads: true,
            ..PassConfig::forward_only(NormMode::Groups(1))
        };
        let mut exec = Exec::new(params, device.clone(), config);
        let x = input_tensor(&one, device);
        let logits = net.forward(&mut exec, x.clone());
        let loss = grouped_loss(net, logits, x, &one, 1);
        times.forward += t.elapsed();
        let t = Instant::now();
        let grads = loss.backward();
        times.backward += t.elapsed();
        let t = Instant::now();
        for (l, layer) in exec.layers.iter().enumerate() {
            let g = weight_grad(layer, &grads).unwrap_or_else(|| vec![0.0; layer.shape.iter().product()]);
            if mean.len() <= l {
                mean.push(vec![0.0; g.len()]);
                m2.push(vec![0.0; g.len()]);
            }
            let n = (s + 1) as f64;
            for ((m, q), v) in mean[l].iter_mut().zip(m2[l].iter_mut()).zip(&g) {
                let x = v.abs();
                let d = x - *m;
                *m += d / n;
                *q += d * (x - *m);
            }
        }
        times.statistics += t.elapsed();
    }
    let n = batch.len() as f64;
    m2.iter()
        .map(|q| sigma_summary(q.iter().map(|v| (v / n).sqrt())))
        .collect()
}

/// A weight's gradient as f64, whatever the pass's precision.
pub(crate) fn weight_grad(layer: &LayerRecord, grads: &burn::tensor::Gradients) -> Option<Vec<f64>> {
    match layer.weight.as_ref()? {
        WeightLeaf::Conv(w) => w.grad(grads)?.try_into_vec_as::<f64>().ok(),
        WeightLeaf::Linear(w) => w.grad(grads)?.try_into_vec_as::<f64>().ok(),
    }
}

/// Train-mode batch pass: patterns, NWOT codes, logits, batch gradients
/// and fisher. Returns (parameter index, batch gradient) per weight layer
/// when grasp needs them.
fn batch_pass(
    net: &dyn Network,
    params: &ParamStore,
    batch: &Batch,
    backend: &Backend,
    settings: &ProbeSettings,
    needs: ProbeNeeds,
    rec: &mut ProbeRecord,
) -> Option<Vec<(usize, Vec<f32>)>> {
    let device = &backend.device;
    let t = Instant::now();
    let grads_needed = needs.batch_grads || needs.fisher || needs.grasp;
    let config = PassConfig {
        norm: NormMode::Groups(1),
        abs_params: false,
        taps: grads_needed,
        weight_grads: false,
        patterns: needs.patterns || needs.nwot,
        double: false,
    };
    let host = backend.kind == BackendKind::Cpu;
    let mut exec = Exec::new(params, device.clone(), config);
    exec.record_outputs = needs.fisher;
    let x = input_tensor(batch, device);
    let logits = net.forward(&mut exec, x.clone());
    rec.num_classes = logits.dims()[1];
    rec.logits = logits.clone().into_data().try_to_vec::<f32>().ok();
    rec.times.forward += t.elapsed();
    rec.layers = metas(&exec.layers);
    let mut kept = None;
    if grads_needed {
        let t = Instant::now();
        let grads = grouped_loss(net, logits, x, batch, 1).backward();
        rec.times.backward += t.elapsed();
        let t = Instant::now();
        if needs.fisher {
            rec.fisher = Some(suite::fisher_per_layer(&exec, &grads));
        }
        if needs.batch_grads || needs.grasp {
            let g: Vec<Vec<f32>> = exec
                .layers
                .iter()
                .map(|layer| {
                    let n = params.entries[layer.param].data.len();
                    layer
                        .taps
                        .as_ref()
                        .and_then(|taps| taps.grad(&grads))
                        .and_then(|tg| layer_split_grads(layer, tg, 1, host))
                        .unwrap_or_else(|| vec![0.0; n])
                })
                .collect();
            if needs.batch_grads {
                let stats = exec
                    .layers
                    .iter()
                    .zip(&g)
                    .map(|(layer, g)| match layer.geometry.in_layer_metrics() {
                        true => batch_grad_stat(&params.entries[layer.param].data, g),
                        false => BatchGradStat::default(),
                    })
                    .collect();
                rec.batch_grads = Some(stats);
            }
            // grasp's Hessian-vector product runs along the counted layers' gradients only.
            kept = needs.grasp.then(|| {
                exec.layers
                    .iter()
                    .zip(g)
                    .filter(|(l, _)| l.geometry.in_layer_metrics())
                    .map(|(l, g)| (l.param, g))
                    .collect()
            });
        }
        rec.times.statistics += t.elapsed();
    }
    let t = Instant::now();
    let samples = recorded_pattern_samples(settings.pattern_samples, batch.len());
    let mask = first_samples_mask(samples);
    if needs.patterns {
        rec.pattern_samples = samples;
        rec.layer_patterns = Some(
            exec.layers
                .iter()
                .map(|l| {
                    let mut v: Vec<u64> = l.patterns.iter().flatten().map(|p| p & mask).collect();
                    v.sort_unstable();
                    v.dedup();
                    v
                })
                .collect(),
        );
    }
    if needs.nwot {
        rec.nwot_kernel = Some(nwot_kernel(&exec.activation_calls, batch.len()));
    }
    rec.times.patterns += t.elapsed();
    kept
}

/// The samples whose patterns a pass of `s` samples records: the setting,
/// else the whole batch, at most 64 (a pattern is one u64).
pub fn recorded_pattern_samples(samples: Option<usize>, s: usize) -> usize {
    samples.unwrap_or(s).clamp(1, s).min(64)
}

/// The bits of a pattern that belong to the batch's first `k` samples.
fn first_samples_mask(k: usize) -> u64 {
    if k >= 64 { u64::MAX } else { (1u64 << k) - 1 }
}

/// The pattern-samples settings SPEC.md asks to report.
pub const ABLATION_PATTERN_SAMPLES: [usize; 3] = [16, 32, 64];

/// A set of activation patterns. The patterns are bit vectors already, so
/// one multiply and a fold of the high half into the low one (where the
/// table takes its bucket) hash them; std's SipHash cost ~40 ns an insert
/// on the millions of patterns of an NB101 network.
type PatternSet = HashSet<u64, BuildHasherDefault<PatternHasher>>;

#[derive(Default)]
struct PatternHasher(u64);

impl Hasher for PatternHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, x: u64) {
        let h = (self.0 ^ x).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = h ^ (h >> 32);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

fn batch_grad_stat(w: &[f32], g: &[f32]) -> BatchGradStat {
    let mut st = BatchGradStat::default();
    for (&w, &g) in w.iter().zip(g) {
        let (w, g) = (w as f64, g as f64);
        st.grad_l2 += g * g;
        st.snip += (w * g).abs();
        st.plain += w * g;
        st.weight_l2 += w * w;
    }
    st.grad_l2 = st.grad_l2.sqrt();
    st.weight_l2 = st.weight_l2.sqrt();
    st
}

/// NWOT's K = C C^T + (1 - C)(1 - C)^T summed over activation calls:
/// K[i][j] counts the units where samples i and j agree. Bits are
/// transposed into per-sample bit rows so each pair costs N/64 popcounts.
pub fn nwot_kernel(calls: &[Vec<u64>], s: usize) -> Vec<f64> {
    let mut k = vec![0f64; s * s];
    for codes in calls {
        let words = codes.len().div_ceil(64);
        let mut rows = vec![0u64; s * words];
        for (n, &code) in codes.iter().enumerate() {
            let mut bits = code;
            while bits != 0 {
                let i = bits.trailing_zeros() as usize;
                if i < s {
                    rows[i * words + n / 64] |= 1 << (n % 64);
                }
                bits &= bits - 1;
            }
        }
        let total = codes.len() as f64;
        for i in 0..s {
            for j in i..s {
                let differ: u32 = rows[i * words..(i + 1) * words]
                    .iter()
                    .zip(&rows[j * words..(j + 1) * words])
                    .map(|(a, b)| (a ^ b).count_ones())
                    .sum();
                let agree = total - differ as f64;
                k[i * s + j] += agree;
                if i != j {
                    k[j * s + i] += agree;
                }
            }
        }
    }
    k
}

/// synflow: BN off, |params|, one all-ones image, R = sum(logits);
/// returns sum over weight layers of sum |w * dR/dw|. Runs in f64 on the
/// CPU backend whatever the probe's backend: its path products overflow
/// f32 on full-size networks, and one image costs little.
fn synflow_pass(net: &dyn Network, params: &ParamStore, rec: &mut ProbeRecord) -> f64 {
    let t = Instant::now();
    let device = Device::flex().autodiff();
    let config = PassConfig {
        norm: NormMode::Identity,
        abs_params: true,
        taps: false,
        weight_grads: true,
        patterns: false,
        double: true,
    };
    let mut exec = Exec::new(params, device.clone(), config);
    let ones = Batch::ones(net.input_chw());
    let fill_layers = rec.layers.is_empty();
    let x = TensorData::new(ones.images.iter().map(|&v| v as f64).collect::<Vec<f64>>(), ones.shape);
    let x = Tensor::<4>::from_data(x, exec.options());
    let r = net.forward(&mut exec, x).sum();
    if fill_layers {
        rec.layers = metas(&exec.layers);
    }
    rec.times.forward += t.elapsed();
    let t = Instant::now();
    let grads = r.backward();
    rec.times.backward += t.elapsed();
    let t = Instant::now();
    let total = exec
        .layers
        .iter()
        .filter(|layer| layer.geometry.in_layer_metrics())
        .map(|layer| {
            let w = &params.entries[layer.param].data;
            weight_grad(layer, &grads)
                .map(|g| w.iter().zip(&g).map(|(w, g)| (w.abs() as f64 * g).abs()).sum::<f64>())
                .unwrap_or(0.0)
        })
        .sum();
    rec.times.statistics += t.elapsed();
    total
}

/// The weight layers of `net` from one forward of a single image (cheap:
/// no gradients), in execution order.
pub fn layer_shapes(net: &dyn Network, params: &ParamStore, device: &Device) -> Vec<LayerMeta> {
    suite::shape_pass(net, params, device)
}

/// Floats one image's weight-layer outputs hold: each layer's MACs over
/// its fan-in (the weight's elements per output channel).
pub fn output_floats_per_image(layers: &[LayerMeta]) -> u64 {
    layers
        .iter()
        .map(|l| {
            let numel: usize = l.shape.iter().product();
            match l.shape.first() {
                Some(&out) if numel > 0 => l.macs * out as u64 / numel as u64,
                _ => 0,
            }
        })
        .sum()
}

impl ProbeRecord {
    /// Forward FLOPs per image (multiply-accumulates).
    pub fn flops(&self) -> u64 {
        self.layers.iter().map(|l| l.macs).sum()
    }

    /// The LayerProfile of SPEC.md, when sigma and patterns were recorded.
    pub fn profile(&self) -> Option<LayerProfile> {
        let sigma = self.sigma.as_ref()?;
        let patterns = self.layer_patterns.as_ref()?;
        let depth = self.layers.len();
        if depth == 0 || sigma.len() != depth || patterns.len() != depth {
            return None;
        }
        let mut lambda_bin = [0.0; PERC_BINS];
        let mut bin_sets: Vec<PatternSet> = vec![PatternSet::default(); PERC_BINS];
        let mut layers = Vec::with_capacity(depth);
        for l in 0..depth {
            let bin = depth_bin(l + 1, depth);
            if let Some(lam) = sigma[l].lambda {
                lambda_bin[bin - 1] += lam;
            }
            bin_sets[bin - 1].extend(patterns[l].iter().copied());
            layers.push(LayerStat {
                bin: bin as u8,
                lambda: sigma[l].lambda.map(|v| v as f32),
                mean_log_sigma: sigma[l].mean_log_sigma.map(|v| v as f32),
                psi: patterns[l].len() as u32,
            });
        }
        Some(LayerProfile {
            lambda_bin,
            psi_upto: self.psi_upto_first(64)?,
            psi_bin: std::array::from_fn(|p| bin_sets[p].len() as u64),
            layers,
            params: self.params,
            flops: self.flops(),
        })
    }

    /// Psi[..p] for p = 1..=PERC_BINS from the patterns of the batch's first
    /// `k` samples (all the run recorded when `k` reaches them). A k-sample
    /// pattern is the low k bits of a longer one, so one pass gives SPEC's
    /// pattern-samples ablation. Needs patterns only, not sigma.
    pub fn psi_upto_first(&self, k: usize) -> Option<[u64; PERC_BINS]> {
        let patterns = self.layer_patterns.as_ref()?;
        let depth = self.layers.len();
        if depth == 0 || patterns.len() != depth {
            return None;
        }
        let mut psi_upto = [0u64; PERC_BINS];
        for (l, seen) in self
            .distinct_after_each_layer(first_samples_mask(k))?
            .into_iter()
            .enumerate()
        {
            psi_upto[depth_bin(l + 1, depth) - 1] = seen;
        }
        // Bins without layers (shallow nets) carry the count forward.
        for p in 1..PERC_BINS {
            psi_upto[p] = psi_upto[p].max(psi_upto[p - 1]);
        }
        Some(psi_upto)
    }

    /// `psi_upto_first(k)` for each k of `ABLATION_PATTERN_SAMPLES` that the
    /// recorded patterns cover (none without patterns).
    pub fn psi_upto_by_samples(&self) -> BTreeMap<usize, [u64; PERC_BINS]> {
        ABLATION_PATTERN_SAMPLES
            .into_iter()
            .filter(|&k| k <= self.pattern_samples)
            .filter_map(|k| Some((k, self.psi_upto_first(k)?)))
            .collect()
    }

    /// Cumulative distinct patterns after each layer (golden `psi_cum`).
    pub fn psi_cumulative(&self) -> Option<Vec<u64>> {
        self.distinct_after_each_layer(u64::MAX)
    }

    /// Distinct patterns (their bits under `mask`) over layers 1..=l, for each l.
    fn distinct_after_each_layer(&self, mask: u64) -> Option<Vec<u64>> {
        let mut seen = PatternSet::default();
        Some(
            self.layer_patterns
                .as_ref()?
                .iter()
                .map(|layer| {
                    seen.extend(layer.iter().map(|p| p & mask));
                    seen.len() as u64
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::data::gaussian_batch;
    use crate::engine::params::InitScheme;
    use crate::space::autoformer::{AutoformerArch, AutoformerConfig, AutoformerNet, MlpRatio};

    /// ZiCO's two half-batch gradients accumulated over chunks equal the
    /// whole-batch split pass: 20 samples make halves of 10, each run as
    /// chunks of 8 and 2. (Compared as gradients: ZiCO's mean/std over two
    /// splits amplifies f32 rounding wherever the halves nearly agree.)
    #[test]
    fn output_floats_are_macs_over_fan_in() {
        // A 3x3 convolution 3 -> 16 at 32 x 32: 16 x 1024 outputs; a dense
        // layer 64 -> 10 on one token: 10.
        let conv = LayerMeta {
            name: "stem".into(),
            shape: vec![16, 3, 3, 3],
            macs: 1024 * 16 * 27,
            param: 0,
            in_layer_metrics: true,
        };
        let dense = LayerMeta {
            name: "head".into(),
            shape: vec![10, 64],
            macs: 640,
            param: 1,
            in_layer_metrics: true,
        };
        assert_eq!(output_floats_per_image(&[conv, dense]), 16 * 1024 + 10);
    }

    /// ZiCO's splits as one pass each on a BatchNorm network (NB201, every
    /// op in its cell): each split is its own normalisation group, so the
    /// per-split gradients equal the two-group pass over the whole batch.
    #[test]
    fn split_by_split_gradients_equal_the_whole_batch_split_pass_on_a_batchnorm_net() {
        use crate::space::nb201::{Nb201Arch, Nb201Config, Nb201Net};
        let arch: Nb201Arch = "|nor_conv_3x3~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
            .parse()
            .unwrap();
        let config = Nb201Config {
            channels: 4,
            cells_per_stage: 1,
            num_classes: 10,
            image_size: 16,
        };
        let (net, mut params) = Nb201Net::new(arch, config);
        params.init(InitScheme::KaimingNormal, 3);
        let batch = gaussian_batch(12, [3, 16, 16], 10, 9);
        let backend = Backend::new(BackendKind::Cpu);
        let mut times = PhaseTimes::default();
        let (_, by_split) = chunked_split_grads(&net, &params, &batch, &backend, (2, 12), &mut times, |g| g.to_vec());
        let (_, whole) = split_pass(&net, &params, &batch, &backend, 2, &mut times, |g| g.to_vec());
        let worst = worst_relative_difference(&by_split, &whole);
        assert!(worst <= 1e-5, "max difference {worst} of the layer's max |g|");
        // A chunk smaller than a split would normalise over the wrong
        // samples: the check above can fail.
        let (_, quarters) = chunked_split_grads(&net, &params, &batch, &backend, (2, 3), &mut times, |g| g.to_vec());
        let worst = worst_relative_difference(&quarters, &whole);
        assert!(
            worst > 1e-3,
            "chunks of 3 within splits of 6 left BatchNorm's statistics unchanged ({worst})"
        );
    }

    /// The largest |a - b| over every layer's gradients, relative to that
    /// layer's largest |b|; every layer present on both sides.
    fn worst_relative_difference(a: &[Option<Vec<f32>>], b: &[Option<Vec<f32>>]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter().zip(b).fold(0f32, |worst, (a, b)| {
            let (a, b) = (a.as_ref().unwrap(), b.as_ref().unwrap());
            assert_eq!(a.len(), b.len());
            let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
            a.iter().zip(b).fold(worst, |m, (x, y)| m.max((x - y).abs() / scale))
        })
    }

    #[test]
    fn chunked_split_gradients_equal_the_whole_batch_split_pass_on_a_tiny_vit() {
        let arch = AutoformerArch {
            embed: 32,
            mlp: vec![MlpRatio::R3, MlpRatio::R4],
            heads: vec![1, 2],
        };
        let (net, mut params) = AutoformerNet::new(
            &arch,
            AutoformerConfig {
                image_size: 32,
                num_classes: 10,
            },
        );
        params.init(InitScheme::KaimingNormal, 11);
        let batch = gaussian_batch(20, [3, 32, 32], 10, 5);
        let backend = Backend::new(BackendKind::Cpu);
        let mut times = PhaseTimes::default();
        let (_, chunked) = chunked_split_grads(&net, &params, &batch, &backend, (2, SIGMA_CHUNK), &mut times, |g| {
            g.to_vec()
        });
        let (_, whole) = split_pass(&net, &params, &batch, &backend, 2, &mut times, |g| g.to_vec());
        let worst = worst_relative_difference(&chunked, &whole);
        assert!(worst <= 1e-4, "max difference {worst} of the layer's max |g|");
    }
}
