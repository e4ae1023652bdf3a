//! A small functional executor: networks call its ops (conv, linear, norm,
//! relu, ...) and it records, per weight layer, what the probe needs: the
//! layer's input, a zero "tap" added to its output whose gradient is the
//! gradient of the loss with respect to that output, and the activation
//! patterns credited to the layer. Per-sample weight gradients then follow
//! from (input, output gradient) without materialising 64 weight copies.

use burn::tensor::module::{avg_pool2d, conv2d, max_pool2d, unfold4d};
use burn::tensor::ops::{AvgPoolOptions, ConvOptions, MaxPoolOptions, PadMode, UnfoldOptions};
use burn::tensor::{DType, Device, Tensor, TensorCreationOptions, TensorData, activation};

use super::params::{ParamRole, ParamStore};

/// How normalisation layers compute their statistics in a pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NormMode {
    /// Batch statistics over groups of S / g consecutive samples: g = 1 is
    /// ordinary train-mode BatchNorm, g = S gives each sample its own
    /// statistics (S independent single-sample passes in one).
    Groups(usize),
    /// Normalisation replaced by the identity (synflow).
    Identity,
}

/// What a pass records and how it treats the parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PassConfig {
    pub norm: NormMode,
    /// Use |w| for every parameter (synflow).
    pub abs_params: bool,
    /// Record layer inputs and output taps (for per-sample gradients).
    pub taps: bool,
    /// Make weight-layer weights gradient leaves (for dR/dw).
    pub weight_grads: bool,
    /// Record activation patterns of every ReLU / GELU.
    pub patterns: bool,
    /// Run in f64 (backends that support it; synflow's products overflow f32).
    pub double: bool,
}

impl PassConfig {
    pub fn forward_only(norm: NormMode) -> PassConfig {
        PassConfig {
            norm,
            abs_params: false,
            taps: false,
            weight_grads: false,
            patterns: false,
            double: false,
        }
    }
}

/// Geometry of a weight layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerGeometry {
    Conv {
        kernel: usize,
        stride: usize,
        padding: usize,
    },
    /// A linear layer on [S, in] inputs.
    Linear,
    /// A linear layer on [S, T, in] token inputs.
    TokenLinear,
}

/// Recorded tensors of one weight layer (present when `taps` is on).
#[derive(Clone, Debug)]
pub enum Taps {
    Conv { input: Tensor<4>, tap: Tensor<4> },
    Linear { input: Tensor<2>, tap: Tensor<2> },
    TokenLinear { input: Tensor<3>, tap: Tensor<3> },
}

/// One weight layer as executed.
#[derive(Clone, Debug)]
pub struct LayerRecord {
    /// Index of the weight in the ParamStore.
    pub param: usize,
    pub name: String,
    pub shape: Vec<usize>,
    pub geometry: LayerGeometry,
    /// Forward multiply-accumulates per sample.
    pub macs: u64,
    pub taps: Option<Taps>,
    /// The weight as used in this pass, when it is a gradient leaf.
    pub weight: Option<WeightLeaf>,
    /// Activation patterns credited to this layer, one `Vec` per
    /// activation call (a u64 per neuron, bit s = sample s active).
    pub patterns: Vec<Vec<u64>>,
}

/// A weight tensor kept to read its gradient after backward.
#[derive(Clone, Debug)]
pub enum WeightLeaf {
    Conv(Tensor<4>),
    Linear(Tensor<2>),
}

/// Executes one pass of a network on a device.
pub struct Exec<'a> {
    pub device: Device,
    pub config: PassConfig,
    params: &'a ParamStore,
    /// Parameters already on the device, flat, one per ParamStore entry
    /// (training: gradient leaves every parameter's gradient is read from).
    leaves: Option<&'a [Tensor<1>]>,
    pub layers: Vec<LayerRecord>,
    /// Patterns of activations not yet credited to a weight layer.
    pending: Vec<Vec<u64>>,
    /// Patterns of every activation call, in call order (NWOT's codes).
    pub activation_calls: Vec<Vec<u64>>,
    /// Patterns that produce-then-activate layers credit to themselves
    /// (post-activation ViT MLPs): when set, the next activation is credited
    /// to the last layer instead of the next one.
    credit_previous: bool,
    /// Keep every weight layer's output (detached, with its bias) in
    /// `outputs` (fisher multiplies it with the tap gradient).
    pub record_outputs: bool,
    /// (layer index, output) for each weight layer when `record_outputs`;
    /// a `TapGrad` here is a tensor shaped like the layer's output.
    pub outputs: Vec<(usize, TapGrad)>,
    /// Record each normalisation call's per-group, per-channel unbiased
    /// batch variance of its input in `norm_vars` (zen's BN scaling term:
    /// PyTorch's running_var is updated with the unbiased variance).
    pub record_norm_vars: bool,
    /// One `[groups * channels]` vector per BatchNorm call, group-major.
    pub norm_vars: Vec<Vec<f64>>,
    /// Input of the last global average pool (the feature map zen compares).
    pub pre_pool: Option<Tensor<4>>,
    /// Per-parameter f64 offsets added to the weights in double-precision
    /// passes (grasp's finite difference w +- eps g, which f32 storage
    /// could not represent); empty or `None` = no offset.
    pub param_offsets: Vec<Option<Vec<f64>>>,
    /// Masks that ReLUs apply instead of their own, one per activation call
    /// in call order (packed patterns of another pass: bit s = sample s
    /// active). grasp's finite differences freeze the masks of the
    /// unperturbed weights, so no ReLU input crosses zero along the step.
    pub frozen_masks: Option<Vec<Vec<u64>>>,
    /// Activation calls so far (indexes `frozen_masks`).
    activation_index: usize,
}

impl<'a> Exec<'a> {
    pub fn new(params: &'a ParamStore, device: Device, config: PassConfig) -> Exec<'a> {
        Exec {
            device,
            config,
            params,
            leaves: None,
            layers: Vec::new(),
            pending: Vec::new(),
            activation_calls: Vec::new(),
            credit_previous: false,
            record_outputs: false,
            outputs: Vec::new(),
            record_norm_vars: false,
            norm_vars: Vec::new(),
            pre_pool: None,
            param_offsets: Vec::new(),
            frozen_masks: None,
            activation_index: 0,
        }
    }

    /// A pass whose parameters are the given device tensors (flat, in
    /// ParamStore order) instead of uploads of `params`: the training loop
    /// makes them gradient leaves to update every parameter, norms and
    /// biases included. `abs_params` and `double` do not apply to them, and
    /// `weight_grads` must stay off (the reshaped leaves are not leaves).
    pub fn with_leaves(
        params: &'a ParamStore,
        leaves: &'a [Tensor<1>],
        device: Device,
        config: PassConfig,
    ) -> Exec<'a> {
        Exec {
            leaves: Some(leaves),
            ..Exec::new(params, device, config)
        }
    }

    fn param_data(&self, idx: usize) -> TensorData {
        let e = &self.params.entries[idx];
        let abs = self.config.abs_params;
        let value = |v: f32| if abs { v.abs() } else { v };
        if self.config.double {
            let mut data: Vec<f64> = e.data.iter().map(|&v| value(v) as f64).collect();
            if let Some(Some(offset)) = self.param_offsets.get(idx) {
                data.iter_mut().zip(offset).for_each(|(v, o)| *v += o);
            }
            TensorData::new(data, e.shape.clone())
        } else {
            TensorData::new(e.data.iter().map(|&v| value(v)).collect::<Vec<f32>>(), e.shape.clone())
        }
    }

    /// Creation options in the pass's precision.
    pub fn options(&self) -> TensorCreationOptions {
        let opts = TensorCreationOptions::new(self.device.clone());
        if self.config.double {
            opts.with_dtype(DType::F64)
        } else {
            opts
        }
    }

    /// The device-side parameter `idx` reshaped to its shape, if supplied.
    fn leaf<const D: usize>(&self, idx: usize) -> Option<Tensor<D>> {
        let shape: [usize; D] = self.params.entries[idx].shape.clone().try_into().ok()?;
        Some(self.leaves?.get(idx)?.clone().reshape(shape))
    }

    pub fn param1(&self, idx: usize) -> Tensor<1> {
        self.leaf(idx)
            .unwrap_or_else(|| Tensor::<1>::from_data(self.param_data(idx), self.options()))
    }

    pub fn param2(&self, idx: usize) -> Tensor<2> {
        self.leaf(idx)
            .unwrap_or_else(|| Tensor::<2>::from_data(self.param_data(idx), self.options()))
    }

    /// Class tokens and position embeddings ([1, T, E]).
    pub fn param3(&self, idx: usize) -> Tensor<3> {
        self.leaf(idx)
            .unwrap_or_else(|| Tensor::<3>::from_data(self.param_data(idx), self.options()))
    }

    pub fn param4(&self, idx: usize) -> Tensor<4> {
        self.leaf(idx)
            .unwrap_or_else(|| Tensor::<4>::from_data(self.param_data(idx), self.options()))
    }

    fn begin_layer(&mut self, param: usize, geometry: LayerGeometry, macs: u64) -> usize {
        let e = &self.params.entries[param];
        debug_assert!(matches!(e.role, ParamRole::ConvWeight | ParamRole::LinearWeight));
        let patterns = std::mem::take(&mut self.pending);
        self.layers.push(LayerRecord {
            param,
            name: e.name.trim_end_matches(".weight").to_string(),
            shape: e.shape.clone(),
            geometry,
            macs,
            taps: None,
            weight: None,
            patterns,
        });
        self.layers.len() - 1
    }

    /// 2-D convolution without bias. x: [S, Cin, H, W] -> [S, Cout, H', W'].
    pub fn conv(&mut self, x: Tensor<4>, weight: usize, stride: usize, padding: usize) -> Tensor<4> {
        let shape = self.params.entries[weight].shape.clone();
        let kernel = shape[2];
        let mut w = self.param4(weight);
        if self.config.weight_grads {
            w = w.require_grad();
        }
        let opts = ConvOptions::new([stride; 2], [padding; 2], [1, 1], 1);
        let mut out = conv2d(x.clone(), w.clone(), None, opts);
        let [_, _, ho, wo] = out.dims();
        let macs = (ho * wo * shape.iter().product::<usize>()) as u64;
        let idx = self.begin_layer(
            weight,
            LayerGeometry::Conv {
                kernel,
                stride,
                padding,
            },
            macs,
        );
        if self.record_outputs {
            self.outputs.push((idx, TapGrad::Conv(out.clone().detach())));
        }
        if self.config.taps {
            let tap = Tensor::<4>::zeros(out.dims(), &self.device).require_grad();
            out = out + tap.clone();
            self.layers[idx].taps = Some(Taps::Conv { input: x.detach(), tap });
        }
        if self.config.weight_grads {
            self.layers[idx].weight = Some(WeightLeaf::Conv(w));
        }
        out
    }

    /// Linear layer. x: [S, in] -> [S, out].
    pub fn linear(&mut self, x: Tensor<2>, weight: usize, bias: Option<usize>) -> Tensor<2> {
        let shape = self.params.entries[weight].shape.clone();
        let mut w = self.param2(weight);
        if self.config.weight_grads {
            w = w.require_grad();
        }
        let mut out = x.clone().matmul(w.clone().transpose());
        let idx = self.begin_layer(weight, LayerGeometry::Linear, (shape[0] * shape[1]) as u64);
        if self.config.taps {
            let tap = Tensor::<2>::zeros(out.dims(), &self.device).require_grad();
            out = out + tap.clone();
            self.layers[idx].taps = Some(Taps::Linear { input: x.detach(), tap });
        }
        if self.config.weight_grads {
            self.layers[idx].weight = Some(WeightLeaf::Linear(w));
        }
        let out = match bias {
            Some(b) => out + self.param1(b).unsqueeze::<2>(),
            None => out,
        };
        if self.record_outputs {
            self.outputs.push((idx, TapGrad::Linear(out.clone().detach())));
        }
        out
    }

    /// Linear layer on tokens. x: [S, T, in] -> [S, T, out].
    pub fn token_linear(&mut self, x: Tensor<3>, weight: usize, bias: Option<usize>) -> Tensor<3> {
        let shape = self.params.entries[weight].shape.clone();
        let [s, t, _] = x.dims();
        let mut w = self.param2(weight);
        if self.config.weight_grads {
            w = w.require_grad();
        }
        let mut out = x.clone().matmul(w.clone().transpose().unsqueeze::<3>());
        let macs = (t * shape[0] * shape[1]) as u64;
        let idx = self.begin_layer(weight, LayerGeometry::TokenLinear, macs);
        if self.config.taps {
            let tap = Tensor::<3>::zeros([s, t, shape[0]], &self.device).require_grad();
            out = out + tap.clone();
            self.layers[idx].taps = Some(Taps::TokenLinear { input: x.detach(), tap });
        }
        if self.config.weight_grads {
            self.layers[idx].weight = Some(WeightLeaf::Linear(w));
        }
        let out = match bias {
            Some(b) => out + self.param1(b).unsqueeze::<3>(),
            None => out,
        };
        if self.record_outputs {
            self.outputs.push((idx, TapGrad::TokenLinear(out.clone().detach())));
        }
        out
    }

    /// BatchNorm2d (affine) in the pass's norm mode, eps 1e-5, biased variance.
    pub fn batch_norm(&mut self, x: Tensor<4>, gamma: usize, beta: usize) -> Tensor<4> {
        let groups = match self.config.norm {
            NormMode::Identity => return x,
            NormMode::Groups(g) => g,
        };
        let [s, c, h, w] = x.dims();
        let g = groups.clamp(1, s);
        // [g, S/g, C, HW] -> [g, C, S/g * HW]: statistics per group and
        // channel. One sample per group is that layout already: skipping the
        // transposes (and their backward) gives the same values and saves
        // most of the per-sample pass's forward time.
        let per_sample = g == s;
        let grouped = if per_sample {
            x.reshape([s, c, h * w])
        } else {
            x.reshape([g, s / g, c, h * w])
                .swap_dims(1, 2)
                .reshape([g, c, (s / g) * h * w])
        };
        let mean = grouped.clone().mean_dim(2);
        let centered = grouped - mean;
        let var = centered.clone().square().mean_dim(2);
        if self.record_norm_vars {
            let n = ((s / g) * h * w) as f64;
            let biased = var.clone().try_into_vec_as::<f64>().unwrap_or_default();
            self.norm_vars
                .push(biased.iter().map(|v| v * n / (n - 1.0).max(1.0)).collect());
        }
        let normed = centered / (var + 1e-5).sqrt();
        let normed = if per_sample {
            normed.reshape([s, c, h, w])
        } else {
            normed
                .reshape([g, c, s / g, h * w])
                .swap_dims(1, 2)
                .reshape([s, c, h, w])
        };
        let gamma = self.param1(gamma).reshape([1, c, 1, 1]);
        let beta = self.param1(beta).reshape([1, c, 1, 1]);
        normed * gamma + beta
    }

    /// LayerNorm over the last dimension, eps 1e-5 (per token, so it is
    /// per-sample already and needs no norm mode).
    pub fn layer_norm(&mut self, x: Tensor<3>, gamma: usize, beta: usize) -> Tensor<3> {
        if self.config.norm == NormMode::Identity {
            return x;
        }
        let d = x.dims()[2];
        let mean = x.clone().mean_dim(2);
        let centered = x - mean;
        let var = centered.clone().square().mean_dim(2);
        let normed = centered / (var + 1e-5).sqrt();
        normed * self.param1(gamma).reshape([1, 1, d]) + self.param1(beta).reshape([1, 1, d])
    }

    /// ReLU, recording its pattern for the next weight layer.
    pub fn relu(&mut self, x: Tensor<4>) -> Tensor<4> {
        self.record_activation(x.clone().reshape([x.dims()[0] as i64, -1]));
        let dims = x.dims();
        match self.next_frozen_mask(dims[0], dims[1] * dims[2] * dims[3]) {
            Some(mask) => x * mask.reshape(dims),
            None => activation::relu(x),
        }
    }

    /// ReLU whose pattern is credited to the layer that produced its input
    /// (post-activation conv-BN-ReLU, as nasbench's cells and stem).
    pub fn relu_post(&mut self, x: Tensor<4>) -> Tensor<4> {
        self.credit_previous = true;
        let out = self.relu(x);
        self.credit_previous = false;
        out
    }

    /// ReLU on [S, F] features.
    pub fn relu2(&mut self, x: Tensor<2>) -> Tensor<2> {
        self.record_activation(x.clone());
        let [s, n] = x.dims();
        match self.next_frozen_mask(s, n) {
            Some(mask) => x * mask,
            None => activation::relu(x),
        }
    }

    /// The frozen 0/1 mask [S, N] of the next activation call, when masks
    /// are frozen and the recorded call has N neurons.
    fn next_frozen_mask(&mut self, s: usize, n: usize) -> Option<Tensor<2>> {
        let index = self.activation_index;
        self.activation_index += 1;
        let codes = self.frozen_masks.as_ref()?.get(index).filter(|c| c.len() == n)?;
        let bit = |k: usize| ((codes[k % n] >> (k / n)) & 1) as f32;
        let data = if self.config.double {
            TensorData::new((0..s * n).map(|k| bit(k) as f64).collect::<Vec<f64>>(), [s, n])
        } else {
            TensorData::new((0..s * n).map(bit).collect::<Vec<f32>>(), [s, n])
        };
        Some(Tensor::<2>::from_data(data, self.options()))
    }

    /// Multi-head self-attention on packed projections, as timm and
    /// AutoFormer lay them out: qkv [S, T, 3 * H * D] holds q, k, v, each
    /// H heads of D features, per token -> [S, T, H * D], per head
    /// softmax(q k^T / sqrt(D)) v. Weightless (qkv and proj are the
    /// caller's token_linear layers), and per sample: no token attends
    /// across samples, so batched passes equal single-sample ones.
    pub fn attention(&mut self, qkv: Tensor<3>, heads: usize) -> Tensor<3> {
        let [s, t, c] = qkv.dims();
        let d = c / (3 * heads);
        // [S, T, 3H, D] -> [S, 3H, T, D]: q, k, v are consecutive head groups.
        let qkv = qkv.reshape([s, t, 3 * heads, d]).swap_dims(1, 2);
        let q = qkv.clone().narrow(1, 0, heads);
        let k = qkv.clone().narrow(1, heads, heads);
        let v = qkv.narrow(1, 2 * heads, heads);
        let scores = q.matmul(k.swap_dims(2, 3)) * (1.0 / (d as f64).sqrt());
        let out = activation::softmax(scores, 3).matmul(v); // [S, H, T, D]
        out.swap_dims(1, 2).reshape([s, t, heads * d])
    }

    /// GELU (exact), whose pattern is credited to the layer that produced
    /// its input (post-activation MLP: fc1 -> GELU).
    pub fn gelu(&mut self, x: Tensor<3>) -> Tensor<3> {
        // Smooth, so never frozen; still an activation call.
        self.activation_index += 1;
        self.credit_previous = true;
        self.record_activation(x.clone().reshape([x.dims()[0] as i64, -1]));
        self.credit_previous = false;
        activation::gelu(x)
    }

    /// Patterns are sign bits of the pre-activation (relu(x) > 0 iff x > 0,
    /// gelu(x) > 0 iff x > 0).
    fn record_activation(&mut self, x: Tensor<2>) {
        if !self.config.patterns {
            return;
        }
        let packed = pack_patterns(x, &self.device);
        self.activation_calls.push(packed.clone());
        match (self.credit_previous, self.layers.last_mut()) {
            (true, Some(layer)) => layer.patterns.push(packed),
            _ => self.pending.push(packed),
        }
    }

    /// Activations recorded after the last weight layer (none in our
    /// networks: the final ReLU feeds the classifier).
    pub fn uncredited_patterns(&self) -> usize {
        self.pending.len()
    }

    /// 3x3 average pool, stride 1, padding 1, padding not counted.
    ///
    /// Built from a zero pad, shifted views and adds, divided by the number
    /// of in-image neighbours: burn-flex's own pooling kernels took 27% of
    /// an NB201 probe's CPU time, these memory-bound ops a few percent.
    pub fn avg_pool3(&mut self, x: Tensor<4>) -> Tensor<4> {
        let [_, _, h, w] = x.dims();
        let p = x.pad((1, 1, 1, 1), PadMode::Constant(0.0));
        // Window order, then a division, as PyTorch's kernel rounds (adding
        // a padding zero is exact): ZiCO's std over two half-batches
        // magnifies any other rounding past the golden test's 1e-4.
        let mut sum = p.clone().narrow(2, 0, h).narrow(3, 0, w);
        for k in 1..9 {
            sum = sum + p.clone().narrow(2, k / 3, h).narrow(3, k % 3, w);
        }
        sum / self.neighbour_counts(h, w)
    }

    /// [1, 1, h, w]: the number of pixels of the 3 x 3 neighbourhood inside
    /// an h x w image (count_include_pad = false).
    fn neighbour_counts(&self, h: usize, w: usize) -> Tensor<4> {
        let span = |i: usize, n: usize| (i.min(1) + 1 + (n - 1 - i).min(1)) as f64;
        let counts: Vec<f64> = (0..h)
            .flat_map(|y| (0..w).map(move |x| span(y, h) * span(x, w)))
            .collect();
        let data = if self.config.double {
            TensorData::new(counts, [1, 1, h, w])
        } else {
            TensorData::new(counts.into_iter().map(|v| v as f32).collect::<Vec<f32>>(), [1, 1, h, w])
        };
        Tensor::from_data(data, self.options())
    }

    /// Global average pool: [S, C, H, W] -> [S, C]; keeps its input in
    /// `pre_pool` (zen's "forward before global average pool").
    pub fn global_avg_pool(&mut self, x: Tensor<4>) -> Tensor<2> {
        let [s, c, _, _] = x.dims();
        self.pre_pool = Some(x.clone().detach());
        x.mean_dim(3).mean_dim(2).reshape([s, c])
    }

    /// 3x3 max pool, padding 1 (padding never wins: it acts as -inf, as
    /// PyTorch's `MaxPool2d(3, stride, 1)` does), stride 1 or 2. Weightless,
    /// so it records no layer; its input gradient goes to the window's max.
    pub fn max_pool3(&mut self, x: Tensor<4>, stride: usize) -> Tensor<4> {
        max_pool2d(
            x,
            MaxPoolOptions::new([3, 3])
                .with_stride([stride, stride])
                .with_padding([1, 1]),
        )
    }

    /// 2x2 average pool, stride 2.
    pub fn avg_pool2(&mut self, x: Tensor<4>) -> Tensor<4> {
        avg_pool2d(x, AvgPoolOptions::new([2, 2]))
    }
}

/// Packs the sign pattern of x: [S, N] (S <= 64) into one u64 per neuron.
/// Packing runs on the device in chunks of 16 samples whose sums of powers
/// of two stay exact in f32, so only N * ceil(S/16) floats travel back.
pub fn pack_patterns(x: Tensor<2>, device: &Device) -> Vec<u64> {
    let [s, n] = x.dims();
    let chunks = s.div_ceil(16);
    let mask = x.greater_elem(0.0).float().detach();
    let mask = if chunks * 16 > s {
        Tensor::cat(vec![mask, Tensor::<2>::zeros([chunks * 16 - s, n], device)], 0)
    } else {
        mask
    };
    let powers: Vec<f32> = (0..16).map(|i| (1u32 << i) as f32).collect();
    let powers = Tensor::<1>::from_data(TensorData::new(powers, [16]), device).reshape([1, 16, 1]);
    let sums = (mask.reshape([chunks, 16, n]) * powers)
        .sum_dim(1)
        .reshape([chunks * n]);
    let values: Vec<f32> = sums.into_data().try_to_vec::<f32>().unwrap_or_default();
    let mut out = vec![0u64; n];
    for c in 0..chunks {
        for (o, v) in out.iter_mut().zip(&values[c * n..(c + 1) * n]) {
            *o |= (*v as u64) << (16 * c);
        }
    }
    out
}

/// Per-split weight gradients of one layer: [k, out, in * kh * kw] where
/// split j sums the per-sample contributions of samples j*S/k..(j+1)*S/k.
/// k = S gives per-sample gradients, k = 1 the batch gradient.
pub fn split_weight_grads(layer: &LayerRecord, tap_grad: TapGrad, splits: usize) -> Option<Tensor<3>> {
    let k = splits;
    match (layer.taps.as_ref()?, tap_grad, layer.geometry) {
        (
            Taps::Conv { input, .. },
            TapGrad::Conv(dout),
            LayerGeometry::Conv {
                kernel,
                stride,
                padding,
            },
        ) => {
            let [s, cout, ho, wo] = dout.dims();
            let per = s / k;
            let cin = input.dims()[1];
            let cols = unfold4d(
                input.clone(),
                [kernel, kernel],
                UnfoldOptions::new([stride, stride], [padding, padding], [1, 1]),
            ); // [S, cin*k*k, P]
            let p = ho * wo;
            let cols = cols.swap_dims(1, 2).reshape([k, per * p, cin * kernel * kernel]);
            let dout = dout
                .reshape([k, per, cout, p])
                .swap_dims(1, 2)
                .reshape([k, cout, per * p]);
            Some(dout.matmul(cols))
        }
        (Taps::Linear { input, .. }, TapGrad::Linear(dout), _) => {
            let [s, out] = dout.dims();
            let inp = input.dims()[1];
            let per = s / k;
            let dout = dout.reshape([k, per, out]).swap_dims(1, 2);
            Some(dout.matmul(input.clone().reshape([k, per, inp])))
        }
        (Taps::TokenLinear { input, .. }, TapGrad::TokenLinear(dout), _) => {
            let [s, t, out] = dout.dims();
            let inp = input.dims()[2];
            let per = s / k;
            let dout = dout.reshape([k, per * t, out]).swap_dims(1, 2);
            Some(dout.matmul(input.clone().reshape([k, per * t, inp])))
        }
        _ => None,
    }
}

/// Per-split weight gradients of one layer as host f32 [k * n]: computed on
/// the host (im2col + gemm) when `host`, else on the device and read back.
pub fn layer_split_grads(layer: &LayerRecord, tap_grad: TapGrad, splits: usize, host: bool) -> Option<Vec<f32>> {
    if !host {
        return split_weight_grads(layer, tap_grad, splits)?
            .into_data()
            .try_to_vec::<f32>()
            .ok();
    }
    let read = |t: TensorData| t.try_to_vec::<f32>().ok();
    match (layer.taps.as_ref()?, tap_grad, layer.geometry) {
        (
            Taps::Conv { input, .. },
            TapGrad::Conv(dout),
            LayerGeometry::Conv {
                kernel,
                stride,
                padding,
            },
        ) => {
            let (xs, ds) = (input.dims(), dout.dims());
            let x = read(input.clone().into_data())?;
            let d = read(dout.into_data())?;
            Some(super::host_grads::conv_split_grads(
                &x,
                xs,
                &d,
                ds,
                (kernel, stride, padding),
                splits,
            ))
        }
        (Taps::Linear { input, .. }, TapGrad::Linear(dout), _) => {
            let ([rows, inp], [_, outp]) = (input.dims(), dout.dims());
            let (x, d) = (read(input.clone().into_data())?, read(dout.into_data())?);
            Some(super::host_grads::linear_split_grads(&x, &d, rows, (inp, outp), splits))
        }
        (Taps::TokenLinear { input, .. }, TapGrad::TokenLinear(dout), _) => {
            let ([s, t, inp], [_, _, outp]) = (input.dims(), dout.dims());
            let (x, d) = (read(input.clone().into_data())?, read(dout.into_data())?);
            Some(super::host_grads::linear_split_grads(
                &x,
                &d,
                s * t,
                (inp, outp),
                splits,
            ))
        }
        _ => None,
    }
}

/// The gradient that arrived at a tap.
pub enum TapGrad {
    Conv(Tensor<4>),
    Linear(Tensor<2>),
    TokenLinear(Tensor<3>),
}

impl Taps {
    /// Reads the tap's gradient after backward.
    pub fn grad(&self, grads: &burn::tensor::Gradients) -> Option<TapGrad> {
        match self {
            Taps::Conv { tap, .. } => tap.grad(grads).map(TapGrad::Conv),
            Taps::Linear { tap, .. } => tap.grad(grads).map(TapGrad::Linear),
            Taps::TokenLinear { tap, .. } => tap.grad(grads).map(TapGrad::TokenLinear),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::params::ParamStore;

    /// The shifted-sum 3 x 3 pool equals burn's `avg_pool2d` (stride 1,
    /// pad 1, padding not counted), values and input gradients, in f32 and
    /// f64, on images down to 1 x 1 (every pixel a border pixel).
    #[test]
    fn avg_pool3_matches_burns_pooling_and_its_gradient() {
        let params = ParamStore::default();
        for double in [false, true] {
            for (h, w) in [(5, 4), (2, 3), (1, 1)] {
                let config = PassConfig {
                    double,
                    ..PassConfig::forward_only(NormMode::Groups(1))
                };
                let mut exec = Exec::new(&params, Device::flex().autodiff(), config);
                let n = 2 * 3 * h * w;
                let values: Vec<f64> = (0..n).map(|i| ((i * 37 % 11) as f64 - 5.0) / 3.0).collect();
                let weights: Vec<f64> = (0..n).map(|i| ((i * 13 % 7) as f64) - 3.0).collect();
                let tensor = |v: &[f64]| {
                    let data = if double {
                        TensorData::new(v.to_vec(), [2, 3, h, w])
                    } else {
                        TensorData::new(v.iter().map(|&x| x as f32).collect::<Vec<f32>>(), [2, 3, h, w])
                    };
                    Tensor::<4>::from_data(data, exec.options())
                };
                let (x1, x2) = (tensor(&values).require_grad(), tensor(&values).require_grad());
                let r = tensor(&weights);
                let ours = exec.avg_pool3(x1.clone());
                let opts = AvgPoolOptions::new([3, 3])
                    .with_stride([1, 1])
                    .with_padding([1, 1])
                    .with_count_include_pad(false);
                let reference = avg_pool2d(x2.clone(), opts);
                let read = |t: Tensor<4>| t.cast(DType::F64).into_data().try_to_vec::<f64>().unwrap();
                let (a, b) = (read(ours.clone()), read(reference.clone()));
                let tol = if double { 1e-12 } else { 1e-6 };
                for (i, (a, b)) in a.iter().zip(&b).enumerate() {
                    assert!((a - b).abs() <= tol, "{h}x{w} double={double} value {i}: {a} vs {b}");
                }
                let g1 = (ours * r.clone()).sum().backward();
                let g2 = (reference * r).sum().backward();
                let (a, b) = (read(x1.grad(&g1).unwrap()), read(x2.grad(&g2).unwrap()));
                for (i, (a, b)) in a.iter().zip(&b).enumerate() {
                    assert!((a - b).abs() <= tol, "{h}x{w} double={double} gradient {i}: {a} vs {b}");
                }
            }
        }
    }

    /// max_pool3 against a direct loop over each window's in-image pixels,
    /// values and input gradients (the gradient of sum(r * y) reaches the
    /// window's argmax; inputs are distinct so no ties), stride 1 and 2,
    /// odd and even sizes, down to 1 x 1.
    #[test]
    fn max_pool3_matches_a_direct_window_max() {
        let params = ParamStore::default();
        for stride in [1usize, 2] {
            for (h, w) in [(5, 4), (2, 3), (1, 1), (8, 8)] {
                let mut exec = Exec::new(
                    &params,
                    Device::flex().autodiff(),
                    PassConfig::forward_only(NormMode::Groups(1)),
                );
                let n = 2 * 3 * h * w;
                // A permutation of 0..n (17 is coprime with every n here), shifted negative: distinct values.
                let values: Vec<f64> = (0..n).map(|i| ((i * 17 + 5) % n) as f64 - n as f64 / 2.0).collect();
                let (oh, ow) = ((h - 1) / stride + 1, (w - 1) / stride + 1);
                let weights: Vec<f64> = (0..2 * 3 * oh * ow).map(|i| ((i * 13 % 7) as f64) - 3.0).collect();
                let x = Tensor::<4>::from_data(
                    TensorData::new(values.iter().map(|&v| v as f32).collect::<Vec<f32>>(), [2, 3, h, w]),
                    exec.options(),
                )
                .require_grad();
                let r = Tensor::<4>::from_data(
                    TensorData::new(weights.iter().map(|&v| v as f32).collect::<Vec<f32>>(), [2, 3, oh, ow]),
                    exec.options(),
                );
                let y = exec.max_pool3(x.clone(), stride);
                assert_eq!(y.dims(), [2, 3, oh, ow]);
                let read = |t: Tensor<4>| t.cast(DType::F64).into_data().try_to_vec::<f64>().unwrap();
                let got = read(y.clone());
                let mut want_grad = vec![0.0; n];
                for plane in 0..6 {
                    for oy in 0..oh {
                        for ox in 0..ow {
                            let mut best = (f64::NEG_INFINITY, 0);
                            for y in (oy * stride).saturating_sub(1)..(oy * stride + 2).min(h) {
                                for x in (ox * stride).saturating_sub(1)..(ox * stride + 2).min(w) {
                                    let i = plane * h * w + y * w + x;
                                    if values[i] > best.0 {
                                        best = (values[i], i);
                                    }
                                }
                            }
                            let o = plane * oh * ow + oy * ow + ox;
                            assert_eq!(got[o], best.0, "stride {stride} {h}x{w} output {o}");
                            want_grad[best.1] += weights[o];
                        }
                    }
                }
                let grads = (y * r).sum().backward();
                let g = read(x.grad(&grads).unwrap());
                assert_eq!(g, want_grad, "stride {stride} {h}x{w} gradient");
            }
        }
    }
}
