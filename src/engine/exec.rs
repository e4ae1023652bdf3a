//! A small functional executor: networks call its ops (conv, linear, norm,
//! relu, ...) and it records, per weight layer, what the probe needs: the
//! layer's input, a zero "tap" added to its output whose gradient is the
//! gradient of the loss with respect to that output, and the activation
//! patterns credited to the layer. Per-sample weight gradients then follow
//! from (input, output gradient) without materialising 64 weight copies.

use burn::tensor::module::{avg_pool2d, max_pool2d, unfold4d};
use burn::tensor::ops::{AvgPoolOptions, ConvOptions, MaxPoolOptions, PadMode, UnfoldOptions};
use burn::tensor::{Bool, DType, Device, Tensor, TensorCreationOptions, TensorData, activation};

use super::host_ops::{HostValues, OutputGrad};
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
    /// A grouped and/or dilated convolution (DARTS' depthwise separable and
    /// dilated ops): weight [cout, cin / groups, k, k].
    GroupedConv {
        kernel: usize,
        stride: usize,
        padding: usize,
        dilation: usize,
        groups: usize,
    },
    /// A transposed convolution (weight [in, out, k, k], as PyTorch's
    /// ConvTranspose2d); stride and padding are those of the convolution it
    /// transposes.
    Deconv {
        kernel: usize,
        stride: usize,
        padding: usize,
    },
    /// A linear layer on [S, in] inputs.
    Linear,
    /// A linear layer on [S, T, in] token inputs.
    TokenLinear,
}

impl LayerGeometry {
    /// Whether the layer-metric proxies of NASLib (snip, grasp, fisher,
    /// grad_norm, synflow, plain, l2_norm: `get_layer_metric_array`) count
    /// it: they take `nn.Conv2d` and `nn.Linear` modules, and
    /// `nn.ConvTranspose2d` is neither, so the decoders' transposed
    /// convolutions are left out as Suite-Zero's values leave them out.
    pub fn in_layer_metrics(&self) -> bool {
        !matches!(self, LayerGeometry::Deconv { .. })
    }
}

/// Recorded tensors of one weight layer (present when `taps` is on).
#[derive(Clone, Debug)]
pub enum Taps {
    Conv { input: Tensor<4>, tap: ConvTap },
    Linear { input: Tensor<2>, tap: Tensor<2> },
    TokenLinear { input: Tensor<3>, tap: Tensor<3> },
}

/// Where a convolution's output gradient is read after backward: a zero
/// leaf added to the output (any backend), or the slot the host op's
/// backward fills (the CPU backend; no extra buffer or addition).
#[derive(Clone, Debug)]
pub enum ConvTap {
    /// Boxed: a tensor handle is some 640 bytes, the slot one pointer.
    Leaf(Box<Tensor<4>>),
    Fused(super::host_ops::OutputGrad),
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

    /// Whether parameter `idx` enters this pass as `value` everywhere: not
    /// a supplied leaf (whose gradient a caller may want), not offset.
    fn holds_only(&self, idx: usize, value: f32) -> bool {
        self.leaves.is_none()
            && !matches!(self.param_offsets.get(idx), Some(Some(_)))
            && self.params.entries[idx].data.iter().all(|&v| v == value)
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
        let slot = self.config.taps.then(OutputGrad::default);
        let (mut out, fused) = super::host_ops::conv2d_tapped(x.clone(), w.clone(), opts, slot.as_ref());
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
        if let Some(slot) = slot {
            out = self.tap_conv(idx, x, out, fused.then_some(slot));
        }
        if self.config.weight_grads {
            self.layers[idx].weight = Some(WeightLeaf::Conv(w));
        }
        out
    }

    /// Keeps a conv layer's input and the means to read its output's
    /// gradient: the host op's slot where it was `fused`, else a zero leaf
    /// added to the output, whose gradient is the output's.
    fn tap_conv(&mut self, idx: usize, x: Tensor<4>, out: Tensor<4>, fused: Option<OutputGrad>) -> Tensor<4> {
        let (tap, out) = match fused {
            Some(slot) => (ConvTap::Fused(slot), out),
            None => {
                let leaf = Tensor::<4>::zeros(out.dims(), &self.device).require_grad();
                (ConvTap::Leaf(Box::new(leaf.clone())), out + leaf)
            }
        };
        self.layers[idx].taps = Some(Taps::Conv { input: x.detach(), tap });
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
        if self.config.norm == NormMode::Identity {
            return x;
        }
        let c = x.dims()[1];
        let normed = self.normalize(x);
        // BatchNorm's initial affine step (gamma 1, beta 0) changes nothing
        // a later op can see (normed * 1 + 0 differs only in the sign of
        // zeros): skipping it saves two passes over the activations forward
        // and one backward, per BatchNorm.
        if self.holds_only(gamma, 1.0) && self.holds_only(beta, 0.0) {
            return normed;
        }
        let gamma = self.param1(gamma).reshape([1, c, 1, 1]);
        let beta = self.param1(beta).reshape([1, c, 1, 1]);
        normed * gamma + beta
    }

    /// BatchNorm's normalisation without the affine step (the identity in
    /// `NormMode::Identity`); records `norm_vars` when asked.
    fn normalize(&mut self, x: Tensor<4>) -> Tensor<4> {
        let groups = match self.config.norm {
            NormMode::Identity => return x,
            NormMode::Groups(g) => g,
        };
        let [s, c, h, w] = x.dims();
        let g = groups.clamp(1, s);
        let n = ((s / g) * h * w) as f64;
        if let Some((normed, biased)) = super::host_ops::normalize_fast(x.clone(), g, 1e-5) {
            if self.record_norm_vars {
                self.norm_vars
                    .push(biased.iter().map(|v| v * n / (n - 1.0).max(1.0)).collect());
            }
            return normed;
        }
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
            let biased = var.clone().try_into_vec_as::<f64>().unwrap_or_default();
            self.norm_vars
                .push(biased.iter().map(|v| v * n / (n - 1.0).max(1.0)).collect());
        }
        let normed = centered / (var + 1e-5).sqrt();
        if per_sample {
            normed.reshape([s, c, h, w])
        } else {
            normed
                .reshape([g, c, s / g, h * w])
                .swap_dims(1, 2)
                .reshape([s, c, h, w])
        }
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
            Some(off) => x.mask_fill(off.reshape(dims), 0.0),
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
            Some(off) => x.mask_fill(off, 0.0),
            None => activation::relu(x),
        }
    }

    /// Where the next activation call's frozen ReLU is off ([S, N], true =
    /// zeroed), when masks are frozen and the recorded call has N neurons.
    /// A bool mask applied by `mask_fill`: its backward keeps one byte per
    /// element, where `x * mask` kept the mask in the pass's precision (8
    /// bytes in grasp's f64 passes, every ReLU of the network).
    fn next_frozen_mask(&mut self, s: usize, n: usize) -> Option<Tensor<2, Bool>> {
        let index = self.activation_index;
        self.activation_index += 1;
        let codes = self.frozen_masks.as_ref()?.get(index).filter(|c| c.len() == n)?;
        let off = |k: usize| (codes[k % n] >> (k / n)) & 1 == 0;
        let data = TensorData::new((0..s * n).map(off).collect::<Vec<bool>>(), [s, n]);
        Some(Tensor::<2, Bool>::from_data(data, &self.device))
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
    /// On the CPU backend a host op (`host_ops::avg_pool3_fast`); elsewhere
    /// a zero pad, shifted views and adds, divided by the number of
    /// in-image neighbours: burn-flex's own pooling kernels took 27% of an
    /// NB201 probe's CPU time, the shifted views' backward 9%.
    pub fn avg_pool3(&mut self, x: Tensor<4>) -> Tensor<4> {
        match super::host_ops::avg_pool3_fast(x.clone(), 1) {
            Some(y) => y,
            None => self.avg_pool3_views(x),
        }
    }

    /// `avg_pool3` from burn's ops, for the backends without the host op.
    fn avg_pool3_views(&self, x: Tensor<4>) -> Tensor<4> {
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
        max_pool(x, 3, stride, 1)
    }

    /// 2x2 max pool, stride 2, no padding (nasbench's downsampling).
    pub fn max_pool2(&mut self, x: Tensor<4>) -> Tensor<4> {
        max_pool(x, 2, 2, 0)
    }

    /// 2x2 average pool, stride 2.
    pub fn avg_pool2(&mut self, x: Tensor<4>) -> Tensor<4> {
        avg_pool2d(x, AvgPoolOptions::new([2, 2]))
    }
}

/// Geometry of a grouped / dilated convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvSpec {
    pub stride: usize,
    pub padding: usize,
    pub dilation: usize,
    pub groups: usize,
}

/// The ops DARTS (NB301) cells add to the executor.
impl Exec<'_> {
    /// 2-D convolution without bias, grouped and dilated: x [S, Cin, H, W],
    /// weight [Cout, Cin / groups, k, k] -> [S, Cout, H', W']. Depthwise is
    /// groups = Cin = Cout. Recorded as a `GroupedConv` layer, whose
    /// per-sample gradients pair each group's outputs with its inputs only.
    pub fn conv_grouped(&mut self, x: Tensor<4>, weight: usize, spec: ConvSpec) -> Tensor<4> {
        let ConvSpec {
            stride,
            padding,
            dilation,
            groups,
        } = spec;
        let shape = self.params.entries[weight].shape.clone();
        let kernel = shape[2];
        let mut w = self.param4(weight);
        if self.config.weight_grads {
            w = w.require_grad();
        }
        let opts = ConvOptions::new([stride; 2], [padding; 2], [dilation; 2], groups);
        let slot = self.config.taps.then(OutputGrad::default);
        let (mut out, fused) = super::host_ops::conv2d_tapped(x.clone(), w.clone(), opts, slot.as_ref());
        let [_, _, ho, wo] = out.dims();
        let macs = (ho * wo * shape.iter().product::<usize>()) as u64;
        let geometry = LayerGeometry::GroupedConv {
            kernel,
            stride,
            padding,
            dilation,
            groups,
        };
        let idx = self.begin_layer(weight, geometry, macs);
        if self.record_outputs {
            self.outputs.push((idx, TapGrad::Conv(out.clone().detach())));
        }
        if let Some(slot) = slot {
            out = self.tap_conv(idx, x, out, fused.then_some(slot));
        }
        if self.config.weight_grads {
            self.layers[idx].weight = Some(WeightLeaf::Conv(w));
        }
        out
    }

    /// BatchNorm2d without affine parameters (`affine=False`), in the
    /// pass's norm mode.
    pub fn batch_norm_plain(&mut self, x: Tensor<4>) -> Tensor<4> {
        self.normalize(x)
    }

    /// 3x3 average pool, padding 1, padding not counted
    /// (`count_include_pad=False`), stride 1 or 2.
    pub fn avg_pool3_stride(&mut self, x: Tensor<4>, stride: usize) -> Tensor<4> {
        if stride == 1 {
            return self.avg_pool3(x);
        }
        if let Some(y) = super::host_ops::avg_pool3_fast(x.clone(), stride) {
            return y;
        }
        let opts = AvgPoolOptions::new([3, 3])
            .with_stride([stride, stride])
            .with_padding([1, 1])
            .with_count_include_pad(false);
        avg_pool2d(x, opts)
    }

    /// Concatenation along channels (a DARTS cell's output).
    pub fn concat_channels(&mut self, xs: Vec<Tensor<4>>) -> Tensor<4> {
        Tensor::cat(xs, 1)
    }

    /// FactorizedReduce (DARTS, NASLib): ReLU, then two stride-2 1x1 convs
    /// to Cout / 2 each, the second on the input shifted by one pixel
    /// (`x[:, :, 1:, 1:]`), concatenated, then BatchNorm (affine when `bn`
    /// names gamma and beta). The ReLU's pattern is credited to the first
    /// conv; the second reads the same activations. Even sides only (the
    /// two halves must agree in size).
    pub fn factorized_reduce(&mut self, x: Tensor<4>, w1: usize, w2: usize, bn: Option<(usize, usize)>) -> Tensor<4> {
        let x = self.relu(x);
        let [_, _, h, w] = x.dims();
        let a = self.conv(x.clone(), w1, 2, 0);
        let shifted = x.narrow(2, 1, h - 1).narrow(3, 1, w - 1);
        let b = self.conv(shifted, w2, 2, 0);
        let out = self.concat_channels(vec![a, b]);
        match bn {
            Some((gamma, beta)) => self.batch_norm(out, gamma, beta),
            None => self.batch_norm_plain(out),
        }
    }
}

/// A k x k max pool: the host op on the CPU backend, burn's elsewhere.
fn max_pool(x: Tensor<4>, kernel: usize, stride: usize, padding: usize) -> Tensor<4> {
    match super::host_ops::max_pool_fast(x.clone(), kernel, stride, padding) {
        Some(y) => y,
        None => max_pool2d(
            x,
            MaxPoolOptions::new([kernel, kernel])
                .with_stride([stride, stride])
                .with_padding([padding, padding]),
        ),
    }
}

/// Per-split weight gradients of a grouped / dilated conv on the device:
/// [k, cout, cin / groups * kh * kw]. Output channel o of group g pairs
/// with that group's input columns only.
fn grouped_split_weight_grads(
    input: &Tensor<4>,
    dout: Tensor<4>,
    geometry: LayerGeometry,
    k: usize,
) -> Option<Tensor<3>> {
    let LayerGeometry::GroupedConv {
        kernel,
        stride,
        padding,
        dilation,
        groups,
    } = geometry
    else {
        return None;
    };
    let [s, cout, ho, wo] = dout.dims();
    let cin = input.dims()[1];
    let (per, p, g) = (s / k, ho * wo, groups);
    let (cpg, opg, kk) = (cin / g, cout / g, kernel * kernel);
    let cols = unfold4d(
        input.clone(),
        [kernel, kernel],
        UnfoldOptions::new([stride, stride], [padding, padding], [dilation, dilation]),
    ); // [S, cin*k*k, P], channel-major
    let cols = cols
        .reshape([k, per, g, cpg * kk, p])
        .permute([0, 2, 1, 4, 3])
        .reshape([k, g, per * p, cpg * kk]);
    let dout = dout
        .reshape([k, per, g, opg, p])
        .permute([0, 2, 3, 1, 4])
        .reshape([k, g, opg, per * p]);
    Some(dout.matmul(cols).reshape([k, cout, cpg * kk]))
}

/// The host path of [`grouped_split_weight_grads`].
fn grouped_layer_split_grads(
    input: &Tensor<4>,
    dout: Tensor<4>,
    geometry: LayerGeometry,
    k: usize,
) -> Option<Vec<f32>> {
    let LayerGeometry::GroupedConv {
        kernel,
        stride,
        padding,
        dilation,
        groups,
    } = geometry
    else {
        return None;
    };
    let (xs, ds) = (input.dims(), dout.dims());
    let (x, d) = (HostValues::of(input)?, HostValues::of(&dout)?);
    let (x, d) = (x.as_slice(), d.as_slice());
    let geometry = super::host_grads::ConvGeometry {
        kernel,
        stride,
        padding,
        dilation,
        groups,
    };
    Some(super::host_grads::conv_split_grads(x, xs, d, ds, geometry, k))
}

/// Packs the sign pattern of x: [S, N] (S <= 64) into one u64 per neuron.
/// Packing runs on the device in chunks of 16 samples whose sums of powers
/// of two stay exact in f32, so only N * ceil(S/16) floats travel back.
pub fn pack_patterns(x: Tensor<2>, device: &Device) -> Vec<u64> {
    match HostValues::lent(&x) {
        Some(values) => pack_sign_bits(values.as_slice(), x.dims()[1]),
        None => pack_patterns_on_device(x, device),
    }
}

fn pack_patterns_on_device(x: Tensor<2>, device: &Device) -> Vec<u64> {
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

/// `pack_patterns` on the host, one pass over x: [S, N] row-major.
fn pack_sign_bits(x: &[f32], n: usize) -> Vec<u64> {
    let mut out = vec![0u64; n];
    for (s, row) in x.chunks_exact(n.max(1)).enumerate() {
        for (o, &v) in out.iter_mut().zip(row) {
            *o |= u64::from(v > 0.0) << s;
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
        (Taps::Conv { input, .. }, TapGrad::Conv(dout), g @ LayerGeometry::GroupedConv { .. }) => {
            grouped_split_weight_grads(input, dout, g, k)
        }
        (Taps::Conv { input, .. }, TapGrad::Conv(dout), LayerGeometry::Deconv { .. }) => {
            deconv_split_weight_grads(layer, input, dout, k)
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
            let (x, d) = (HostValues::of(input)?, HostValues::of(&dout)?);
            Some(super::host_grads::conv_split_grads(
                x.as_slice(),
                xs,
                d.as_slice(),
                ds,
                super::host_grads::ConvGeometry::dense(kernel, stride, padding),
                splits,
            ))
        }
        (Taps::Conv { input, .. }, TapGrad::Conv(dout), g @ LayerGeometry::GroupedConv { .. }) => {
            grouped_layer_split_grads(input, dout, g, splits)
        }
        (Taps::Conv { input, .. }, TapGrad::Conv(dout), LayerGeometry::Deconv { .. }) => {
            deconv_host_split_grads(layer, input, dout, splits)
        }
        (Taps::Linear { input, .. }, TapGrad::Linear(dout), _) => {
            let ([rows, inp], [_, outp]) = (input.dims(), dout.dims());
            let (x, d) = (HostValues::of(input)?, HostValues::of(&dout)?);
            Some(super::host_grads::linear_split_grads(
                x.as_slice(),
                d.as_slice(),
                rows,
                (inp, outp),
                splits,
            ))
        }
        (Taps::TokenLinear { input, .. }, TapGrad::TokenLinear(dout), _) => {
            let ([s, t, inp], [_, _, outp]) = (input.dims(), dout.dims());
            let (x, d) = (HostValues::of(input)?, HostValues::of(&dout)?);
            Some(super::host_grads::linear_split_grads(
                x.as_slice(),
                d.as_slice(),
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
            Taps::Conv {
                tap: ConvTap::Leaf(tap),
                ..
            } => tap.grad(grads).map(TapGrad::Conv),
            Taps::Conv {
                tap: ConvTap::Fused(slot),
                ..
            } => slot.get().map(TapGrad::Conv),
            Taps::Linear { tap, .. } => tap.grad(grads).map(TapGrad::Linear),
            Taps::TokenLinear { tap, .. } => tap.grad(grads).map(TapGrad::TokenLinear),
        }
    }
}

/// The DARTS ops against direct loops, and their per-sample weight
/// gradients on the host and device paths against the naive path.
#[cfg(test)]
mod darts_tests {
    use super::*;
    use crate::engine::backend::{Backend, BackendKind};
    use crate::engine::data::gaussian_batch;
    use crate::engine::params::{InitScheme, ParamRole, ParamStore};
    use crate::engine::probe::{GradPath, Needs, Network, ProbeSettings, probe};

    fn tensor(v: &[f64], shape: [usize; 4], exec: &Exec) -> Tensor<4> {
        let data = TensorData::new(v.iter().map(|&x| x as f32).collect::<Vec<f32>>(), shape);
        Tensor::<4>::from_data(data, exec.options())
    }

    fn read(t: Tensor<4>) -> Vec<f64> {
        t.cast(DType::F64).into_data().try_to_vec::<f64>().unwrap()
    }

    fn values(n: usize, a: usize, b: usize) -> Vec<f64> {
        (0..n)
            .map(|i| ((i * a % b) as f64 - (b / 2) as f64) / b as f64)
            .collect()
    }

    /// Direct grouped, dilated convolution of x [S, cin, h, w] with
    /// w [cout, cin/g, k, k].
    #[allow(clippy::too_many_arguments)]
    fn direct_conv(
        x: &[f64],
        [s, cin, h, w]: [usize; 4],
        wt: &[f64],
        [cout, cpg, k, _]: [usize; 4],
        spec: ConvSpec,
    ) -> (Vec<f64>, [usize; 2]) {
        let ConvSpec {
            stride,
            padding,
            dilation,
            groups,
        } = spec;
        let span = dilation * (k - 1) + 1;
        let (ho, wo) = (
            (h + 2 * padding - span) / stride + 1,
            (w + 2 * padding - span) / stride + 1,
        );
        let opg = cout / groups;
        let mut out = vec![0.0; s * cout * ho * wo];
        for n in 0..s {
            for o in 0..cout {
                let g = o / opg;
                for oy in 0..ho {
                    for ox in 0..wo {
                        let mut acc = 0.0;
                        for c in 0..cpg {
                            for ki in 0..k {
                                for kj in 0..k {
                                    let iy = (oy * stride + ki * dilation) as isize - padding as isize;
                                    let ix = (ox * stride + kj * dilation) as isize - padding as isize;
                                    if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                        continue;
                                    }
                                    let xi = ((n * cin + g * cpg + c) * h + iy as usize) * w + ix as usize;
                                    acc += x[xi] * wt[((o * cpg + c) * k + ki) * k + kj];
                                }
                            }
                        }
                        out[((n * cout + o) * ho + oy) * wo + ox] = acc;
                    }
                }
            }
        }
        (out, [ho, wo])
    }

    /// Forward values against the direct loop, and per-sample weight
    /// gradients (host im2col + gemm, device unfold + matmul) against the
    /// direct sum g[o, c, ki, kj] = sum_pos dout[o, pos] * x[g*cpg + c, pos'].
    #[test]
    fn grouped_dilated_conv_values_and_per_sample_grads_match_direct_loops() {
        let (s, h, w) = (3, 7, 6);
        for (cin, cout, k, spec) in [
            (4, 4, 3, (1, 2, 2, 4)), // dil_conv_3x3
            (4, 4, 5, (2, 4, 2, 4)), // dil_conv_5x5 at stride 2
            (4, 4, 3, (2, 1, 1, 4)), // sep_conv_3x3's depthwise at stride 2
            (4, 6, 3, (1, 1, 1, 2)), // grouped, 2 inputs and 3 outputs per group
            (3, 5, 3, (1, 2, 2, 1)), // dilated, ungrouped
        ] {
            let spec = ConvSpec {
                stride: spec.0,
                padding: spec.1,
                dilation: spec.2,
                groups: spec.3,
            };
            let mut store = ParamStore::default();
            let cpg = cin / spec.groups;
            let wi = store.push("w", vec![cout, cpg, k, k], ParamRole::ConvWeight);
            let wv = values(cout * cpg * k * k, 29, 31);
            store.entries[wi].data = wv.iter().map(|&v| v as f32).collect();
            let config = PassConfig {
                taps: true,
                ..PassConfig::forward_only(NormMode::Groups(1))
            };
            let mut exec = Exec::new(&store, Device::flex().autodiff(), config);
            let xv = values(s * cin * h * w, 37, 101);
            let x = tensor(&xv, [s, cin, h, w], &exec);
            let y = exec.conv_grouped(x, wi, spec);
            let (want, [ho, wo]) = direct_conv(&xv, [s, cin, h, w], &wv, [cout, cpg, k, k], spec);
            assert_eq!(y.dims(), [s, cout, ho, wo], "{spec:?}");
            for (i, (a, b)) in read(y.clone()).iter().zip(&want).enumerate() {
                assert!((a - b).abs() < 1e-5, "{spec:?} value {i}: {a} vs {b}");
            }
            let rv = values(s * cout * ho * wo, 53, 89);
            let grads = (y * tensor(&rv, [s, cout, ho, wo], &exec)).sum().backward();
            let layer = &exec.layers[0];
            let dout = || layer.taps.as_ref().unwrap().grad(&grads).unwrap();
            let host = layer_split_grads(layer, dout(), s, true).unwrap();
            let device = layer_split_grads(layer, dout(), s, false).unwrap();
            let n = cout * cpg * k * k;
            assert_eq!((host.len(), device.len()), (s * n, s * n));
            let opg = cout / spec.groups;
            for sample in 0..s {
                for o in 0..cout {
                    for c in 0..cpg {
                        for kij in 0..k * k {
                            let (ki, kj) = (kij / k, kij % k);
                            let mut acc = 0.0;
                            for oy in 0..ho {
                                for ox in 0..wo {
                                    let iy = (oy * spec.stride + ki * spec.dilation) as isize - spec.padding as isize;
                                    let ix = (ox * spec.stride + kj * spec.dilation) as isize - spec.padding as isize;
                                    if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                        continue;
                                    }
                                    let xi = ((sample * cin + (o / opg) * cpg + c) * h + iy as usize) * w + ix as usize;
                                    acc += rv[((sample * cout + o) * ho + oy) * wo + ox] * xv[xi];
                                }
                            }
                            let at = sample * n + (o * cpg + c) * k * k + kij;
                            assert!(
                                (host[at] as f64 - acc).abs() < 1e-4,
                                "{spec:?} host {at}: {} vs {acc}",
                                host[at]
                            );
                            assert!(
                                (device[at] as f64 - acc).abs() < 1e-4,
                                "{spec:?} device {at}: {} vs {acc}",
                                device[at]
                            );
                        }
                    }
                }
            }
            // One split sums the samples.
            let one = layer_split_grads(layer, dout(), 1, true).unwrap();
            for j in 0..n {
                let sum: f32 = (0..s).map(|i| host[i * n + j]).sum();
                assert!((one[j] - sum).abs() < 1e-4, "{spec:?} batch gradient {j}");
            }
        }
    }

    /// The stride-2 average pool (count_include_pad=False) against a direct
    /// mean over each window's in-image pixels, values and input gradients.
    #[test]
    fn avg_pool3_stride2_matches_a_direct_window_mean() {
        let params = ParamStore::default();
        for (h, w) in [(8, 8), (5, 4), (2, 3), (1, 1)] {
            let mut exec = Exec::new(
                &params,
                Device::flex().autodiff(),
                PassConfig::forward_only(NormMode::Groups(1)),
            );
            let n = 2 * 3 * h * w;
            let xv = values(n, 37, 11);
            let (oh, ow) = ((h - 1) / 2 + 1, (w - 1) / 2 + 1);
            let rv = values(2 * 3 * oh * ow, 13, 7);
            let x = tensor(&xv, [2, 3, h, w], &exec).require_grad();
            let y = exec.avg_pool3_stride(x.clone(), 2);
            assert_eq!(y.dims(), [2, 3, oh, ow]);
            let got = read(y.clone());
            let mut want_grad = vec![0.0; n];
            for plane in 0..6 {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let ys = (2 * oy).saturating_sub(1)..(2 * oy + 2).min(h);
                        let xs = (2 * ox).saturating_sub(1)..(2 * ox + 2).min(w);
                        let count = (ys.len() * xs.len()) as f64;
                        let o = plane * oh * ow + oy * ow + ox;
                        let mut sum = 0.0;
                        for y in ys {
                            for x in xs.clone() {
                                sum += xv[plane * h * w + y * w + x];
                                want_grad[plane * h * w + y * w + x] += rv[o] / count;
                            }
                        }
                        assert!((got[o] - sum / count).abs() < 1e-6, "{h}x{w} output {o}");
                    }
                }
            }
            let grads = (y * tensor(&rv, [2, 3, oh, ow], &exec)).sum().backward();
            for (i, (a, b)) in read(x.grad(&grads).unwrap()).iter().zip(&want_grad).enumerate() {
                assert!((a - b).abs() < 1e-6, "{h}x{w} gradient {i}: {a} vs {b}");
            }
        }
    }

    /// FactorizedReduce against its definition: relu, two 1x1 stride-2
    /// convs (the second on x[:, :, 1:, 1:]), concatenation, BatchNorm over
    /// the batch; and non-affine BatchNorm = (x - mean) / sqrt(var + 1e-5).
    #[test]
    fn factorized_reduce_and_plain_batch_norm_match_their_definitions() {
        let (s, cin, cout, h, w) = (2, 3, 4, 6, 4);
        let mut store = ParamStore::default();
        let w1 = store.push("fr.conv_1.weight", vec![cout / 2, cin, 1, 1], ParamRole::ConvWeight);
        let w2 = store.push("fr.conv_2.weight", vec![cout / 2, cin, 1, 1], ParamRole::ConvWeight);
        let (w1v, w2v) = (values(cout / 2 * cin, 7, 13), values(cout / 2 * cin, 11, 17));
        store.entries[w1].data = w1v.iter().map(|&v| v as f32).collect();
        store.entries[w2].data = w2v.iter().map(|&v| v as f32).collect();
        let mut exec = Exec::new(&store, Device::flex(), PassConfig::forward_only(NormMode::Groups(1)));
        let xv = values(s * cin * h * w, 37, 101);
        let y = read(exec.factorized_reduce(tensor(&xv, [s, cin, h, w], &exec), w1, w2, None));
        let (ho, wo) = (h / 2, w / 2);
        let mut pre = vec![0.0; s * cout * ho * wo];
        for n in 0..s {
            for o in 0..cout {
                let (wt, shift) = if o < cout / 2 { (&w1v, 0) } else { (&w2v, 1) };
                for oy in 0..ho {
                    for ox in 0..wo {
                        pre[((n * cout + o) * ho + oy) * wo + ox] = (0..cin)
                            .map(|c| {
                                let v = xv[((n * cin + c) * h + 2 * oy + shift) * w + 2 * ox + shift];
                                wt[(o % (cout / 2)) * cin + c] * v.max(0.0)
                            })
                            .sum();
                    }
                }
            }
        }
        let m = (s * ho * wo) as f64;
        for o in 0..cout {
            let at = |n: usize, p: usize| ((n * cout + o) * ho * wo) + p;
            let all: Vec<usize> = (0..s).flat_map(|n| (0..ho * wo).map(move |p| at(n, p))).collect();
            let mean = all.iter().map(|&i| pre[i]).sum::<f64>() / m;
            let var = all.iter().map(|&i| (pre[i] - mean).powi(2)).sum::<f64>() / m;
            for &i in &all {
                let want = (pre[i] - mean) / (var + 1e-5).sqrt();
                assert!(
                    (y[i] - want).abs() < 1e-4,
                    "channel {o} element {i}: {} vs {want}",
                    y[i]
                );
            }
        }
        // Two layers, the ReLU's pattern credited to the first only.
        assert_eq!(exec.layers.len(), 2);
        let concat = exec.concat_channels(vec![
            tensor(&[1.0, 2.0], [1, 2, 1, 1], &exec),
            tensor(&[3.0], [1, 1, 1, 1], &exec),
        ]);
        assert_eq!(read(concat), vec![1.0, 2.0, 3.0]);
    }

    /// A network of every DARTS op, each preceded by a conv whose
    /// per-sample gradients depend on the op's backward.
    struct DartsOps {
        stem: (usize, usize, usize),
        dw: usize,
        pw: usize,
        dil: usize,
        fr: (usize, usize),
        fr_affine: (usize, usize, usize, usize),
        head: (usize, usize),
    }

    impl DartsOps {
        fn new() -> (DartsOps, ParamStore) {
            let c = 4;
            let mut st = ParamStore::default();
            let conv = |st: &mut ParamStore, name: &str, shape: Vec<usize>| {
                st.push(format!("{name}.weight"), shape, ParamRole::ConvWeight)
            };
            let stem = (
                conv(&mut st, "stem", vec![c, 3, 3, 3]),
                st.push("stem.bn.weight", vec![c], ParamRole::NormWeight),
                st.push("stem.bn.bias", vec![c], ParamRole::NormBias),
            );
            let dw = conv(&mut st, "sep.dw", vec![c, 1, 3, 3]);
            let pw = conv(&mut st, "sep.pw", vec![c, c, 1, 1]);
            let dil = conv(&mut st, "dil.dw", vec![c, 1, 5, 5]);
            let fr = (
                conv(&mut st, "fr.conv_1", vec![c / 2, c, 1, 1]),
                conv(&mut st, "fr.conv_2", vec![c / 2, c, 1, 1]),
            );
            let fr_affine = (
                conv(&mut st, "pre.conv_1", vec![c, 3 * c, 1, 1]),
                conv(&mut st, "pre.conv_2", vec![c, 3 * c, 1, 1]),
                st.push("pre.bn.weight", vec![2 * c], ParamRole::NormWeight),
                st.push("pre.bn.bias", vec![2 * c], ParamRole::NormBias),
            );
            let w = st.push("head.weight", vec![3, 2 * c], ParamRole::LinearWeight);
            let b = st.push("head.bias", vec![3], ParamRole::Bias);
            let net = DartsOps {
                stem,
                dw,
                pw,
                dil,
                fr,
                fr_affine,
                head: (w, b),
            };
            (net, st)
        }
    }

    impl Network for DartsOps {
        fn input_chw(&self) -> [usize; 3] {
            [3, 8, 8]
        }

        fn forward(&self, exec: &mut Exec, x: Tensor<4>) -> Tensor<2> {
            let x = exec.conv(x, self.stem.0, 1, 1);
            let x = exec.batch_norm(x, self.stem.1, self.stem.2);
            // sep-conv half at stride 2, then a dilated depthwise conv.
            let a = exec.relu(x.clone());
            let a = exec.conv_grouped(
                a,
                self.dw,
                ConvSpec {
                    stride: 2,
                    padding: 1,
                    dilation: 1,
                    groups: 4,
                },
            );
            let a = exec.conv(a, self.pw, 1, 0);
            let a = exec.batch_norm_plain(a);
            let b = exec.relu(x.clone());
            let b = exec.conv_grouped(
                b,
                self.dil,
                ConvSpec {
                    stride: 2,
                    padding: 4,
                    dilation: 2,
                    groups: 4,
                },
            );
            let b = exec.batch_norm_plain(b);
            let p = exec.avg_pool3_stride(x.clone(), 2);
            let p = exec.batch_norm_plain(p);
            let m = exec.max_pool3(x.clone(), 2);
            let m = exec.batch_norm_plain(m);
            let f = exec.factorized_reduce(x, self.fr.0, self.fr.1, None);
            let node = a + b + p + m + f;
            let cat = exec.concat_channels(vec![node.clone(), node.clone() * 0.5, node]);
            let y = exec.factorized_reduce(
                cat,
                self.fr_affine.0,
                self.fr_affine.1,
                Some((self.fr_affine.2, self.fr_affine.3)),
            );
            let pooled = exec.global_avg_pool(y);
            exec.linear(pooled, self.head.0, Some(self.head.1))
        }
    }

    /// sigma_w of every layer of the op network: the batched path with host
    /// gradients (CPU backend), with device gradients (the same flex device
    /// labelled as a GPU backend, so the probe takes the device branch), and
    /// the naive one-sample-at-a-time path agree to 1e-4.
    #[test]
    fn darts_ops_per_sample_gradients_agree_on_host_device_and_naive_paths() {
        let (net, mut params) = DartsOps::new();
        params.init(InitScheme::KaimingNormal, 3);
        let batch = gaussian_batch(6, [3, 8, 8], 3, 5);
        let needs = Needs {
            sigma: true,
            ..Needs::default()
        };
        let host = Backend::new(BackendKind::Cpu);
        let device = Backend {
            kind: BackendKind::Wgpu,
            device: Device::flex().autodiff(),
        };
        let mut settings = ProbeSettings::default();
        let on_host = probe(&net, &params, &batch, &host, &settings, needs).sigma.unwrap();
        let on_device = probe(&net, &params, &batch, &device, &settings, needs).sigma.unwrap();
        settings.grad_path = GradPath::Naive;
        let naive = probe(&net, &params, &batch, &host, &settings, needs).sigma.unwrap();
        // stem, dw, pw, dil, fr x 2, pre x 2, head.
        assert_eq!((on_host.len(), on_device.len(), naive.len()), (9, 9, 9));
        for (l, ((a, b), c)) in on_host.iter().zip(&on_device).zip(&naive).enumerate() {
            for (what, x, y, z) in [
                ("lambda", a.lambda, b.lambda, c.lambda),
                ("mean log sigma", a.mean_log_sigma, b.mean_log_sigma, c.mean_log_sigma),
            ] {
                let (x, y, z) = (x.unwrap(), y.unwrap(), z.unwrap());
                assert!(
                    (x - z).abs() <= 1e-4 * z.abs().max(1.0),
                    "layer {l} {what}: host {x} vs naive {z}"
                );
                assert!(
                    (y - z).abs() <= 1e-4 * z.abs().max(1.0),
                    "layer {l} {what}: device {y} vs naive {z}"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::params::ParamStore;

    /// BatchNorm with its initial gamma 1 and beta 0 gives the normalised
    /// values, and with others applies them: by hand, channel 0 of
    /// [1, 3] normalises to [-1, 1] (mean 2, variance 1, eps 1e-5), so
    /// gamma 2, beta 1 give [1 - 2 / sqrt(1 + 1e-5), 1 + 2 / sqrt(1 + 1e-5)].
    #[test]
    fn batch_norm_skips_only_the_identity_affine_step() {
        let mut params = ParamStore::default();
        let gamma = params.push("bn.weight", vec![2], ParamRole::NormWeight);
        let beta = params.push("bn.bias", vec![2], ParamRole::NormBias);
        let run = |params: &ParamStore| {
            let mut exec = Exec::new(
                params,
                Device::flex().autodiff(),
                PassConfig::forward_only(NormMode::Groups(1)),
            );
            // x [2 samples, 2 channels, 1, 1]: channel 0 holds 1 and 3, channel 1 holds 5 and 5.
            let x = Tensor::<4>::from_data(TensorData::new(vec![1f32, 5.0, 3.0, 5.0], [2, 2, 1, 1]), exec.options());
            exec.batch_norm(x, gamma, beta).into_data().try_to_vec::<f32>().unwrap()
        };
        let unit = 1.0 / (1.0f64 + 1e-5).sqrt();
        let initial = run(&params);
        let expect = [-unit, 0.0, unit, 0.0];
        for (got, want) in initial.iter().zip(expect) {
            assert!((*got as f64 - want).abs() < 1e-6, "{initial:?} against {expect:?}");
        }
        params.entries[gamma].data = vec![2.0, 1.0];
        params.entries[beta].data = vec![1.0, -1.0];
        let affine = run(&params);
        let expect = [1.0 - 2.0 * unit, -1.0, 1.0 + 2.0 * unit, -1.0];
        for (got, want) in affine.iter().zip(expect) {
            assert!((*got as f64 - want).abs() < 1e-6, "{affine:?} against {expect:?}");
        }
    }

    /// Sign bits packed on the host equal the device's sums of powers of
    /// two: 64 samples (bit 63, four 16-sample chunks) and 21 (a partial
    /// chunk), with zeros, negative zero and NaN counted inactive.
    #[test]
    fn host_sign_bits_equal_the_device_packing() {
        let device = Device::flex();
        for s in [64, 21] {
            let n = 37;
            let x: Vec<f32> = (0..s * n)
                .map(|i| match i % 11 {
                    0 => 0.0,
                    1 => -0.0,
                    2 => f32::NAN,
                    _ => ((i * 7919 % 1013) as f32 - 506.0) / 97.0,
                })
                .collect();
            let t = Tensor::<2>::from_data(TensorData::new(x.clone(), [s, n]), &device);
            let host = pack_sign_bits(&x, n);
            assert_eq!(host, pack_patterns_on_device(t.clone(), &device), "{s} samples");
            assert_eq!(host, pack_patterns(t, &device));
            // By hand: x[0, 3] = (3 * 7919 % 1013 - 506) / 97 = -0.49 is off,
            // x[1, 3] (i = 40) = 2.04 and x[1, 4] (i = 41) = 0.13 are on.
            assert_eq!(host[3] & 0b11, 0b10);
            assert_eq!(host[4] & 0b11, 0b10);
        }
    }

    /// The shifted-sum 3 x 3 pool equals burn's `avg_pool2d` (stride 1,
    /// pad 1, padding not counted), values and input gradients, in f32 and
    /// f64, on images down to 1 x 1 (every pixel a border pixel).
    #[test]
    fn host_avg_pool3_equals_the_shifted_views_bit_for_bit() {
        let params = ParamStore::default();
        let exec = Exec::new(
            &params,
            Device::flex().autodiff(),
            PassConfig::forward_only(NormMode::Groups(1)),
        );
        let (h, w) = (7, 6);
        let n = 2 * 3 * h * w;
        let xv: Vec<f32> = (0..n).map(|i| ((i * 7919 % 1013) as f32 - 506.0) / 97.0).collect();
        let rv: Vec<f32> = (0..n).map(|i| ((i * 4447 % 911) as f32 - 455.0) / 31.0).collect();
        let data = |v: &[f32]| TensorData::new(v.to_vec(), [2, 3, h, w]);
        let x1 = Tensor::<4>::from_data(data(&xv), exec.options()).require_grad();
        let x2 = Tensor::<4>::from_data(data(&xv), exec.options()).require_grad();
        let r = Tensor::<4>::from_data(data(&rv), exec.options());
        let fast = super::super::host_ops::avg_pool3_fast(x1.clone(), 1).unwrap();
        let views = exec.avg_pool3_views(x2.clone());
        let read = |t: Tensor<4>| t.into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(read(fast.clone()), read(views.clone()), "values");
        let g1 = (fast * r.clone()).sum().backward();
        let g2 = (views * r).sum().backward();
        let (a, b) = (read(x1.grad(&g1).unwrap()), read(x2.grad(&g2).unwrap()));
        let differ = a.iter().zip(&b).filter(|(a, b)| a != b).count();
        assert_eq!(
            differ,
            0,
            "gradients differ at {differ} of {n}: {:?}",
            a.iter().zip(&b).find(|(a, b)| a != b)
        );
    }

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

    /// The host max pool equals burn's max_pool2d bit for bit, values and
    /// input gradients, on ReLU-like inputs full of tied zeros (ties pick
    /// the first maximum in window order) and a NaN, in f32 and f64.
    #[test]
    fn host_max_pool_equals_burns_with_ties() {
        let params = ParamStore::default();
        for double in [false, true] {
            let config = PassConfig {
                double,
                ..PassConfig::forward_only(NormMode::Groups(1))
            };
            let exec = Exec::new(&params, Device::flex().autodiff(), config);
            for (kernel, stride, padding, h, w) in [(3, 1, 1, 7, 6), (3, 2, 1, 7, 6), (3, 2, 1, 8, 8), (2, 2, 0, 8, 6)]
            {
                let n = 2 * 3 * h * w;
                let mut xv: Vec<f64> = (0..n).map(|i| (((i * 7919 % 13) as f64) - 8.0).max(0.0)).collect();
                xv[17] = f64::NAN;
                let tensor = |v: &[f64], dims: [usize; 4]| {
                    let data = if double {
                        TensorData::new(v.to_vec(), dims)
                    } else {
                        TensorData::new(v.iter().map(|&x| x as f32).collect::<Vec<f32>>(), dims)
                    };
                    Tensor::<4>::from_data(data, exec.options())
                };
                let (x1, x2) = (
                    tensor(&xv, [2, 3, h, w]).require_grad(),
                    tensor(&xv, [2, 3, h, w]).require_grad(),
                );
                let ours = super::super::host_ops::max_pool_fast(x1.clone(), kernel, stride, padding).unwrap();
                let opts = MaxPoolOptions::new([kernel, kernel])
                    .with_stride([stride, stride])
                    .with_padding([padding, padding]);
                let theirs = max_pool2d(x2.clone(), opts);
                assert_eq!(ours.dims(), theirs.dims());
                let rv: Vec<f64> = (0..ours.dims().iter().product())
                    .map(|i| ((i * 4447 % 911) as f64 - 455.0) / 31.0)
                    .collect();
                let r = tensor(&rv, ours.dims());
                let bits = |t: Tensor<4>| {
                    t.cast(DType::F64)
                        .into_data()
                        .try_to_vec::<f64>()
                        .unwrap()
                        .iter()
                        .map(|v| v.to_bits())
                        .collect::<Vec<_>>()
                };
                let what = format!("k{kernel} s{stride} p{padding} {h}x{w} double={double}");
                assert_eq!(bits(ours.clone()), bits(theirs.clone()), "{what} values");
                let (g1, g2) = ((ours * r.clone()).sum().backward(), (theirs * r).sum().backward());
                assert_eq!(
                    bits(x1.grad(&g1).unwrap()),
                    bits(x2.grad(&g2).unwrap()),
                    "{what} gradients"
                );
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

// Ops of the TransNAS-Bench-101 networks: transposed convolution, biased
// convolution, LeakyReLU, and ReLU over tiles that share an encoder.

impl Exec<'_> {
    /// Transposed 2-D convolution (PyTorch's ConvTranspose2d, dilation 1,
    /// one group), with an optional bias. weight: [Cin, Cout, k, k];
    /// x: [S, Cin, H, W] -> [S, Cout, (H - 1) stride - 2 padding + k + out_padding, ..].
    pub fn conv_transpose(
        &mut self,
        x: Tensor<4>,
        weight: usize,
        bias: Option<usize>,
        (stride, padding, out_padding): (usize, usize, usize),
    ) -> Tensor<4> {
        let shape = self.params.entries[weight].shape.clone();
        let kernel = shape[2];
        let mut w = self.param4(weight);
        if self.config.weight_grads {
            w = w.require_grad();
        }
        let [_, _, h, wi] = x.dims();
        let slot = self.config.taps.then(OutputGrad::default);
        let (mut out, fused) = super::host_ops::conv_transpose2d_tapped(
            x.clone(),
            w.clone(),
            (stride, padding, out_padding),
            slot.as_ref(),
        );
        // Every input pixel meets the whole kernel.
        let macs = (h * wi * shape.iter().product::<usize>()) as u64;
        let geometry = LayerGeometry::Deconv {
            kernel,
            stride,
            padding,
        };
        let idx = self.begin_layer(weight, geometry, macs);
        if let Some(slot) = slot {
            out = self.tap_conv(idx, x, out, fused.then_some(slot));
        }
        if self.config.weight_grads {
            self.layers[idx].weight = Some(WeightLeaf::Conv(w));
        }
        let out = match bias {
            Some(b) => out + self.param1(b).reshape([1, shape[1], 1, 1]),
            None => out,
        };
        if self.record_outputs {
            self.outputs.push((idx, TapGrad::Conv(out.clone().detach())));
        }
        out
    }

    /// 2-D convolution with a bias (nn.Conv2d's default); the output kept
    /// for fisher includes the bias, as a hook on the module sees it.
    pub fn conv_bias(&mut self, x: Tensor<4>, weight: usize, bias: usize, stride: usize, padding: usize) -> Tensor<4> {
        let out = self.conv(x, weight, stride, padding);
        let c = out.dims()[1];
        let out = out + self.param1(bias).reshape([1, c, 1, 1]);
        if self.record_outputs
            && let Some((_, kept)) = self.outputs.last_mut()
        {
            *kept = TapGrad::Conv(out.clone().detach());
        }
        out
    }

    /// LeakyReLU. Records no pattern and takes no frozen mask: the probe's
    /// pattern proxies follow NASLib's, which hook `nn.ReLU` modules only.
    pub fn leaky_relu(&mut self, x: Tensor<4>, slope: f64) -> Tensor<4> {
        activation::leaky_relu(x, slope)
    }

    /// ReLU on `tiles` consecutive rows per sample ([S * tiles, C, H, W],
    /// sample-major: the jigsaw's nine tiles through one encoder), its
    /// pattern recorded per sample over all its tiles.
    pub fn relu_tiles(&mut self, x: Tensor<4>, tiles: usize) -> Tensor<4> {
        if tiles <= 1 {
            return self.relu(x);
        }
        let dims = x.dims();
        let s = dims[0] / tiles;
        let n = tiles * dims[1] * dims[2] * dims[3];
        self.record_activation(x.clone().reshape([s, n]));
        match self.next_frozen_mask(s, n) {
            Some(off) => x.mask_fill(off.reshape(dims), 0.0),
            None => activation::relu(x),
        }
    }
}

/// Per-split weight gradients [k, Cin, Cout * kk * kk] of a transposed
/// convolution: y = conv(., W)^T x, so dL/dW is the weight gradient of the
/// ordinary convolution (same stride and padding) whose input is the output
/// gradient and whose output gradient is the layer's input.
fn deconv_split_weight_grads(layer: &LayerRecord, input: &Tensor<4>, dout: Tensor<4>, k: usize) -> Option<Tensor<3>> {
    let LayerGeometry::Deconv {
        kernel,
        stride,
        padding,
    } = layer.geometry
    else {
        return None;
    };
    let [s, cin, h, w] = input.dims();
    let cout = dout.dims()[1];
    let per = s / k;
    let p = h * w;
    let cols = unfold4d(
        dout,
        [kernel, kernel],
        UnfoldOptions::new([stride, stride], [padding, padding], [1, 1]),
    ); // [S, cout*k*k, H*W]
    let cols = cols.swap_dims(1, 2).reshape([k, per * p, cout * kernel * kernel]);
    let x = input
        .clone()
        .reshape([k, per, cin, p])
        .swap_dims(1, 2)
        .reshape([k, cin, per * p]);
    Some(x.matmul(cols))
}

/// `deconv_split_weight_grads` on the host: the convolution's im2col path
/// with input and output gradient swapped.
fn deconv_host_split_grads(layer: &LayerRecord, input: &Tensor<4>, dout: Tensor<4>, splits: usize) -> Option<Vec<f32>> {
    let LayerGeometry::Deconv {
        kernel,
        stride,
        padding,
    } = layer.geometry
    else {
        return None;
    };
    let (xs, ds) = (input.dims(), dout.dims());
    let (x, d) = (HostValues::of(input)?, HostValues::of(&dout)?);
    let (x, d) = (x.as_slice(), d.as_slice());
    Some(super::host_grads::conv_split_grads(
        d,
        ds,
        x,
        xs,
        super::host_grads::ConvGeometry::dense(kernel, stride, padding),
        splits,
    ))
}
