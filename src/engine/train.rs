//! Training a network briefly, to give a mini-benchmark its ground truth.
//!
//! The recipe is NAS-Bench-201's, shortened: SGD with Nesterov momentum 0.9,
//! weight decay 5e-4 on every parameter, learning rate 0.1 annealed to 0
//! along a cosine over all steps, mean cross-entropy, shuffled mini-batches
//! of 64 (the last partial batch of an epoch is dropped: BatchNorm on a
//! handful of samples is noise). No augmentation.
//!
//! Parameters stay on the host ([`ParamStore`]): each step uploads them as
//! gradient leaves ([`Exec::with_leaves`]), runs forward and backward with
//! train-mode BatchNorm (batch statistics), reads every gradient back and
//! applies the update on the host. The optimizer is therefore the same
//! arithmetic on every backend, and a host update of a few hundred thousand
//! weights costs far less than the convolutions.
//!
//! **Evaluation mode.** The executor keeps no running statistics. Networks
//! are evaluated with BatchNorm statistics of the evaluation batch itself,
//! over chunks of `eval_batch` (default 250) validation images; with chunks
//! that large the batch statistics are close to the population statistics
//! that running averages estimate, without the momentum and the bias of a
//! short run's running averages. A prediction whose logits are not finite
//! counts as wrong.

use std::time::{Duration, Instant};

use burn::tensor::{Device, Tensor, TensorData, activation};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::backend::Backend;
use super::data::Batch;
use super::exec::{Exec, NormMode, PassConfig};
use super::params::ParamStore;
use super::probe::Network;

/// Everything that determines a training run's numbers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    /// Peak learning rate (step 0), annealed to 0 by a cosine.
    pub lr: f64,
    pub momentum: f64,
    pub nesterov: bool,
    pub weight_decay: f64,
    /// Seed of the mini-batch order.
    pub seed: u64,
    /// Images per evaluation chunk (BatchNorm statistics of the chunk).
    pub eval_batch: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 1,
            batch_size: 64,
            lr: 0.1,
            momentum: 0.9,
            nesterov: true,
            weight_decay: 5e-4,
            seed: 0,
            eval_batch: 250,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("training set of {got} images is smaller than one batch of {batch}")]
    TooFewImages { got: usize, batch: usize },
    #[error("images of shape {train:?} (training) and {val:?} (validation) differ")]
    Mismatch { train: [usize; 4], val: [usize; 4] },
    #[error("the backend returned no {what} for parameter `{name}`")]
    Readback { what: &'static str, name: String },
}

/// Mean training loss and accuracy of one epoch (over its mini-batches, as
/// the weights moved).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochStats {
    pub loss: f64,
    pub accuracy: f64,
}

/// Loss and accuracy (in %) on a labelled set.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub loss: f64,
    pub accuracy: f64,
}

/// What a training run reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    pub epochs: Vec<EpochStats>,
    pub val: Evaluation,
    pub steps: usize,
    /// The loss became non-finite and training stopped early.
    pub diverged: bool,
    /// Stopped by the caller before the last step.
    pub stopped: bool,
    pub seconds: f64,
}

/// Progress after a step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepProgress {
    pub step: usize,
    pub total: usize,
    pub loss: f64,
    pub elapsed: Duration,
}

/// Learning rate at `step` of `total`: `lr * (1 + cos(pi * step / total)) / 2`.
pub fn cosine_lr(lr: f64, step: usize, total: usize) -> f64 {
    if total == 0 {
        return lr;
    }
    0.5 * lr * (1.0 + (std::f64::consts::PI * step as f64 / total as f64).cos())
}

/// One-hot labels as a device tensor [S, K].
fn one_hot(labels: &[usize], classes: usize, device: &Device) -> Tensor<2> {
    let mut v = vec![0f32; labels.len() * classes];
    for (i, &l) in labels.iter().enumerate() {
        v[i * classes + l.min(classes - 1)] = 1.0;
    }
    Tensor::<2>::from_data(TensorData::new(v, [labels.len(), classes]), device)
}

/// Host-side mean cross-entropy and number correct of row-major logits;
/// rows with a non-finite logit count as wrong and add no loss.
fn score_logits(logits: &[f32], labels: &[usize], classes: usize) -> (f64, usize, usize) {
    let (mut loss, mut correct, mut finite) = (0.0, 0, 0);
    for (row, &label) in logits.chunks_exact(classes).zip(labels) {
        if !row.iter().all(|v| v.is_finite()) {
            continue;
        }
        finite += 1;
        let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v)) as f64;
        let lse = max + row.iter().map(|&v| (v as f64 - max).exp()).sum::<f64>().ln();
        loss += lse - row[label.min(classes - 1)] as f64;
        let best = (0..classes).fold(0, |b, k| if row[k] > row[b] { k } else { b });
        correct += usize::from(best == label);
    }
    (loss, correct, finite)
}

fn input(batch: &Batch, device: &Device) -> Tensor<4> {
    Tensor::<4>::from_data(TensorData::new(batch.images.clone(), batch.shape), device)
}

/// Evaluates with BatchNorm statistics of each chunk of at most
/// `eval_batch` images (chunks of near-equal size).
pub fn evaluate(
    net: &dyn Network,
    params: &ParamStore,
    set: &Batch,
    backend: &Backend,
    eval_batch: usize,
) -> Evaluation {
    let n = set.len();
    if n == 0 {
        return Evaluation {
            loss: f64::NAN,
            accuracy: f64::NAN,
        };
    }
    let chunks = n.div_ceil(eval_batch.max(1));
    let (mut loss, mut correct) = (0.0, 0);
    for c in 0..chunks {
        let (lo, hi) = (c * n / chunks, (c + 1) * n / chunks);
        let idx: Vec<usize> = (lo..hi).collect();
        let b = set.select(&idx);
        let mut exec = Exec::new(
            params,
            backend.device.clone(),
            PassConfig::forward_only(NormMode::Groups(1)),
        );
        let logits = net.forward(&mut exec, input(&b, &backend.device)).detach();
        let values = logits.into_data().try_to_vec::<f32>().unwrap_or_default();
        let (l, k, finite) = score_logits(&values, &b.labels, set.num_classes);
        // Non-finite rows count as wrong; give them the loss of a uniform guess
        // so the mean stays comparable.
        loss += l + (b.len() - finite) as f64 * (set.num_classes as f64).ln();
        correct += k;
    }
    Evaluation {
        loss: loss / n as f64,
        accuracy: 100.0 * correct as f64 / n as f64,
    }
}

/// Trains `params` in place on `train` and evaluates on `val`.
/// `stop` is polled before every step; `on_step` hears after each.
#[allow(clippy::too_many_arguments)]
pub fn train(
    net: &dyn Network,
    params: &mut ParamStore,
    train: &Batch,
    val: &Batch,
    config: &TrainConfig,
    backend: &Backend,
    stop: &dyn Fn() -> bool,
    on_step: &mut dyn FnMut(StepProgress),
) -> Result<TrainReport, TrainError> {
    let start = Instant::now();
    let bs = config.batch_size.max(1);
    if train.len() < bs {
        return Err(TrainError::TooFewImages {
            got: train.len(),
            batch: bs,
        });
    }
    if train.shape[1..] != val.shape[1..] {
        return Err(TrainError::Mismatch {
            train: train.shape,
            val: val.shape,
        });
    }
    let device = &backend.device;
    let per_epoch = train.len() / bs;
    let total = per_epoch * config.epochs;
    let mut momentum: Vec<Vec<f32>> = params.entries.iter().map(|e| vec![0.0; e.numel()]).collect();
    let mut epochs = Vec::new();
    let (mut step, mut diverged, mut stopped) = (0, false, false);
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    'epochs: for _ in 0..config.epochs {
        let mut order: Vec<usize> = (0..train.len()).collect();
        order.shuffle(&mut rng);
        let (mut loss_sum, mut correct, mut seen) = (0.0, 0, 0);
        for chunk in order.chunks_exact(bs) {
            if stop() {
                stopped = true;
                break 'epochs;
            }
            let b = train.select(chunk);
            let leaves: Vec<Tensor<1>> = params
                .entries
                .iter()
                .map(|e| Tensor::<1>::from_data(TensorData::new(e.data.clone(), [e.numel()]), device).require_grad())
                .collect();
            let mut exec = Exec::with_leaves(
                params,
                &leaves,
                device.clone(),
                PassConfig::forward_only(NormMode::Groups(1)),
            );
            let logits = net.forward(&mut exec, input(&b, device));
            let logp = activation::log_softmax(logits.clone(), 1);
            let loss = (logp * one_hot(&b.labels, train.num_classes, device)).sum().neg() / bs as f64;
            let grads = loss.backward();
            let values = logits.detach().into_data().try_to_vec::<f32>().unwrap_or_default();
            let (l, k, finite) = score_logits(&values, &b.labels, train.num_classes);
            if finite < b.len() || !l.is_finite() {
                diverged = true;
                break 'epochs;
            }
            let lr = cosine_lr(config.lr, step, total) as f32;
            let (mu, wd) = (config.momentum as f32, config.weight_decay as f32);
            for ((entry, leaf), buf) in params.entries.iter_mut().zip(&leaves).zip(&mut momentum) {
                // A parameter the loss does not reach (behind a `none` edge)
                // has no gradient: only weight decay moves it.
                let g = match leaf.grad(&grads) {
                    Some(g) => g.into_data().try_to_vec::<f32>().map_err(|_| TrainError::Readback {
                        what: "gradient",
                        name: entry.name.clone(),
                    })?,
                    None => vec![0.0; entry.numel()],
                };
                // PyTorch's SGD: d = g + wd w; buf = mu buf + d;
                // step = d + mu buf (Nesterov) or buf.
                for ((w, &g), m) in entry.data.iter_mut().zip(&g).zip(buf.iter_mut()) {
                    let d = g + wd * *w;
                    *m = mu * *m + d;
                    let upd = if config.nesterov { d + mu * *m } else { *m };
                    *w -= lr * upd;
                }
            }
            loss_sum += l;
            correct += k;
            seen += b.len();
            step += 1;
            on_step(StepProgress {
                step,
                total,
                loss: l / b.len() as f64,
                elapsed: start.elapsed(),
            });
        }
        epochs.push(EpochStats {
            loss: loss_sum / seen.max(1) as f64,
            accuracy: 100.0 * correct as f64 / seen.max(1) as f64,
        });
    }
    let val = evaluate(net, params, val, backend, config.eval_batch);
    Ok(TrainReport {
        epochs,
        val,
        steps: step,
        diverged,
        stopped,
        seconds: start.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_starts_at_lr_and_ends_at_zero() {
        assert_eq!(cosine_lr(0.1, 0, 10), 0.1);
        assert!((cosine_lr(0.1, 5, 10) - 0.05).abs() < 1e-12);
        assert!(cosine_lr(0.1, 10, 10).abs() < 1e-12);
    }

    #[test]
    fn host_cross_entropy_and_accuracy() {
        // Row 0: logits (0, ln 3) -> p(label 1) = 3/4; row 1 non-finite.
        let logits = [0.0, 3f32.ln(), f32::NAN, 0.0];
        let (loss, correct, finite) = score_logits(&logits, &[1, 0], 2);
        assert!((loss - (4.0f64 / 3.0).ln()).abs() < 1e-6, "{loss}");
        assert_eq!((correct, finite), (1, 1));
    }
}
