//! The TransNAS-Bench-101 networks on the executor, as the benchmark's model builder
//! (`tnb101/model_builder.py`, vendored by NASLib) builds them: the `MacroNet` backbone
//! (stem, then two blocks per layer digit: micro cells or ResNet basic blocks) and the
//! task's head (`FFDecoder`, `SiameseDecoder`, `SegmentationDecoder`, `GenerativeDecoder`).
//!
//! Inputs and targets (Taskonomy's images are not here): the class heads take the batch's
//! labels (CIFAR-10's ten land on the first ten of the 100 / 63 classes); the autoencoder's
//! target is its input; the jigsaw's batch is a puzzle made from the images
//! (`super::jigsaw`, applied by `NetSettings::task_batch`). Segmentation, normals and the
//! room layout compare with the batch's own targets where it has them (target images beside
//! an image folder, or the procedural scene's segments, normals and layout); otherwise with
//! targets computed from the input image itself ([`synthetic_layout`], [`synthetic_normals`],
//! [`synthetic_segments`]), so every probe path sees the same target for a sample.

use burn::tensor::ops::PadMode;
use burn::tensor::{Tensor, TensorCreationOptions, TensorData, activation};
use serde::{Deserialize, Serialize};

use super::{Task, num_upsample};
use crate::engine::data::{Batch, TargetKind};
use crate::engine::exec::Exec;
use crate::engine::params::{ParamRole, ParamStore, SourceInit};
use crate::engine::probe::cross_entropy;

/// Settings of a TransNAS-Bench-101 network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tnb101Config {
    /// The benchmark task: it picks the head and the loss.
    pub task: Task,
    /// Side of the square input (Taskonomy's 256 in the benchmark; the jigsaw's whole image,
    /// cut into 3 x 3 tiles).
    pub image_size: usize,
    /// Base channels of the encoder, the architecture string's first field (64).
    pub channels: usize,
}

impl Default for Tnb101Config {
    fn default() -> Self {
        Tnb101Config {
            task: Task::ClassObject,
            image_size: 256,
            channels: 64,
        }
    }
}

impl Tnb101Config {
    pub fn new(task: Task) -> Tnb101Config {
        Tnb101Config {
            task,
            image_size: task.default_image_size(),
            ..Tnb101Config::default()
        }
    }

    /// Checks the settings; the message names the setting and what it allows.
    pub fn validate(&self) -> Result<(), String> {
        let c = self.channels;
        if !(4..=512).contains(&c) || !c.is_multiple_of(4) {
            return Err(format!(
                "channels {c}: expected a multiple of 4 from 4 to 512 (the stem has half of them, and \
                 FactorizedReduce halves them again)"
            ));
        }
        let s = self.image_size;
        let task = self.task.name();
        match self.task {
            // The decoder upsamples 2^(2 + stride layers) times back to the input: with up to
            // four stride-2 layers after the stem's two, every skeleton needs a multiple of 64.
            Task::Autoencoder | Task::Normal | Task::Segmentsemantic => {
                if !(64..=1024).contains(&s) || !s.is_multiple_of(64) {
                    return Err(format!(
                        "image size {s}: the {task} decoder needs a multiple of 64 from 64 to 1024"
                    ));
                }
            }
            Task::Jigsaw => {
                if !(192..=1536).contains(&s) || !s.is_multiple_of(3) {
                    return Err(format!(
                        "image size {s}: the jigsaw cuts the image into 3 x 3 tiles of at least 64 px; \
                         expected a multiple of 3 from 192 to 1536"
                    ));
                }
            }
            // Below 64 px the micro encoder ends at 1 x 1, where per-sample BatchNorm (the
            // probe's sigma pass) zeroes every feature.
            _ => {
                if !(64..=1024).contains(&s) {
                    return Err(format!("image size {s}: expected 64 to 1024 for {task}"));
                }
            }
        }
        Ok(())
    }

    /// Outputs of the task's head per sample position (classes, layout values, channels).
    pub fn head_outputs(&self) -> usize {
        match self.task {
            Task::ClassObject => 100,
            Task::ClassScene => 63,
            Task::RoomLayout => 9,
            Task::Jigsaw => 1000,
            Task::Segmentsemantic => 17,
            Task::Autoencoder | Task::Normal => 3,
        }
    }
}

impl crate::space::NetSettings for Tnb101Config {
    fn image_size(&self) -> usize {
        self.image_size
    }

    fn num_classes(&self) -> usize {
        self.head_outputs()
    }

    fn inputs_per_sample(&self) -> usize {
        if self.task == Task::Jigsaw { 9 } else { 1 }
    }

    /// Measured 26.5-36 bytes per output float on the class heads (micro at 64
    /// and 128 px, macro at 128), 50 on macro segmentsemantic at 128 px and 39.5
    /// on the micro autoencoder at 256 px (9.0 GiB; grasp's f64 passes over the
    /// decoder's full-size maps are the peak).
    fn probe_memory(&self) -> crate::space::ProbeMemory {
        crate::space::ProbeMemory {
            fixed: 0.0,
            per_output_float: (24.0, 54.0),
        }
    }

    fn apply(&mut self, o: &crate::space::NetOverrides) -> Result<(), String> {
        crate::space::no_such_setting("TransNAS-Bench-101", "cells", o.cells)?;
        if let Some(k) = o.classes
            && k != self.head_outputs()
        {
            return Err(format!(
                "--classes {k}: the TransNAS-Bench-101 {} head has {} outputs, as the benchmark builds it",
                self.task.name(),
                self.head_outputs()
            ));
        }
        self.channels = o.channels.unwrap_or(self.channels);
        self.image_size = o.image_size.unwrap_or(self.image_size);
        Ok(())
    }

    fn validate(&self) -> Result<(), String> {
        Tnb101Config::validate(self)
    }

    fn task_targets(&self) -> Option<TargetKind> {
        match self.task {
            Task::Segmentsemantic => Some(TargetKind::Classes(17)),
            Task::Normal => Some(TargetKind::Normals),
            Task::RoomLayout => Some(TargetKind::Layout),
            _ => None,
        }
    }

    fn source_init(&self) -> Option<&'static str> {
        Some(
            "MacroNet._kaiming_init: encoder convolutions kaiming-normal (fan-out, ReLU gain), BatchNorm 1 and 0; \
             decoders and heads PyTorch's default",
        )
    }

    fn task_batch(&self, batch: crate::engine::data::Batch, seed: u64) -> crate::engine::data::Batch {
        match self.task {
            Task::Jigsaw => super::jigsaw::puzzle_batch(&batch, seed),
            _ => batch,
        }
    }
}

/// An encoder convolution: `MacroNet._kaiming_init` draws every `Conv2d` of the backbone
/// kaiming-normal in fan-out mode (its BNs start at 1 and 0, as every scheme here does); the
/// decoders and heads have no init code and keep PyTorch's default.
fn encoder_conv(store: &mut ParamStore, name: String, shape: Vec<usize>) -> usize {
    store.push_source(name, shape, ParamRole::ConvWeight, SourceInit::KaimingNormalFanOut)
}

/// ReLU-Conv-BN (or Conv-BN for a shortcut): parameter indices and geometry.
#[derive(Clone, Debug)]
struct ConvBn {
    conv: usize,
    gamma: usize,
    beta: usize,
    kernel: usize,
    stride: usize,
}

fn conv_bn(store: &mut ParamStore, prefix: &str, cin: usize, cout: usize, k: usize, stride: usize) -> ConvBn {
    ConvBn {
        conv: encoder_conv(store, format!("{prefix}.conv.weight"), vec![cout, cin, k, k]),
        gamma: store.push(format!("{prefix}.bn.weight"), vec![cout], ParamRole::NormWeight),
        beta: store.push(format!("{prefix}.bn.bias"), vec![cout], ParamRole::NormBias),
        kernel: k,
        stride,
    }
}

/// One micro-cell edge (`cell_ops.OPS`).
#[derive(Clone, Debug)]
enum Edge {
    Zero,
    Identity,
    /// FactorizedReduce: ReLU, two 1x1 convs (the second on the input shifted by one pixel)
    /// of half the channels each, concatenated, BN.
    Reduce {
        a: usize,
        b: usize,
        gamma: usize,
        beta: usize,
        stride: usize,
    },
    Conv(ConvBn),
}

#[derive(Clone, Debug)]
enum Block {
    /// Edges (0->1), (0->2), (1->2), (0->3), (1->3), (2->3), and the block's stride.
    Micro(Vec<Edge>, usize),
    Basic {
        a: ConvBn,
        b: ConvBn,
        shortcut: Option<ConvBn>,
    },
}

/// A decoder layer: conv (or transposed conv, stride 2, output padding 1) with bias, BN,
/// LeakyReLU(0.2).
#[derive(Clone, Debug)]
struct DecoderLayer {
    weight: usize,
    bias: usize,
    gamma: usize,
    beta: usize,
    transposed: bool,
}

#[derive(Clone, Debug)]
enum Head {
    /// Global average pool + linear (FFDecoder; SiameseDecoder over nine tiles).
    Linear { weight: usize, bias: usize },
    /// Conv/deconv layers, then a conv to the output channels (tanh for the generative one).
    Pixels {
        layers: Vec<DecoderLayer>,
        out: (usize, usize),
        tanh: bool,
    },
}

/// Which encoder a network has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Skeleton {
    /// The micro space: macro code 41414, every block the cell of these six ops.
    Micro([u8; 6]),
    /// The macro space: ResNet basic blocks on these layer digits.
    Macro(Vec<u8>),
}

impl Skeleton {
    fn digits(&self) -> &[u8] {
        match self {
            Skeleton::Micro(_) => &[4, 1, 4, 1, 4],
            Skeleton::Macro(d) => d,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Tnb101Net {
    pub config: Tnb101Config,
    stem: (ConvBn, ConvBn),
    /// Blocks in order with their output channels.
    blocks: Vec<(Block, usize)>,
    head: Head,
}

fn micro_edge(store: &mut ParamStore, prefix: &str, op: u8, cin: usize, cout: usize, stride: usize) -> Edge {
    match op {
        0 => Edge::Zero,
        1 if stride == 1 && cin == cout => Edge::Identity,
        1 => Edge::Reduce {
            a: encoder_conv(store, format!("{prefix}.convs.0.weight"), vec![cout / 2, cin, 1, 1]),
            b: encoder_conv(
                store,
                format!("{prefix}.convs.1.weight"),
                vec![cout - cout / 2, cin, 1, 1],
            ),
            gamma: store.push(format!("{prefix}.bn.weight"), vec![cout], ParamRole::NormWeight),
            beta: store.push(format!("{prefix}.bn.bias"), vec![cout], ParamRole::NormBias),
            stride,
        },
        2 => Edge::Conv(conv_bn(store, prefix, cin, cout, 1, stride)),
        _ => Edge::Conv(conv_bn(store, prefix, cin, cout, 3, stride)),
    }
}

fn decoder_layer(store: &mut ParamStore, prefix: &str, cin: usize, cout: usize, transposed: bool) -> DecoderLayer {
    // ConvTranspose2d keeps PyTorch's [in, out, k, k] weight layout.
    let shape = if transposed {
        vec![cin, cout, 3, 3]
    } else {
        vec![cout, cin, 3, 3]
    };
    DecoderLayer {
        weight: store.push(format!("{prefix}.conv.weight"), shape, ParamRole::ConvWeight),
        bias: store.push(format!("{prefix}.conv.bias"), vec![cout], ParamRole::Bias),
        gamma: store.push(format!("{prefix}.norm.weight"), vec![cout], ParamRole::NormWeight),
        beta: store.push(format!("{prefix}.norm.bias"), vec![cout], ParamRole::NormBias),
        transposed,
    }
}

/// The decoder layers (in, out, transposed) for `nu` upsamplings, as `decoder.py` lays them
/// out.
fn generative_layers(c: usize, nu: u32) -> Vec<(usize, usize, bool)> {
    vec![
        (c, 1024, false),
        (1024, 1024, false),
        (1024, 512, nu == 6),
        (512, 512, false),
        (512, 256, nu >= 5),
        (256, 128, false),
        (128, 64, nu >= 4),
        (64, 64, false),
        (64, 32, nu >= 3),
        (32, 32, false),
        (32, 16, true),
        (16, 32, false),
        (32, 16, true),
    ]
}

fn segmentation_layers(c: usize, nu: u32) -> Vec<(usize, usize, bool)> {
    let nu = nu as usize;
    let mut out = vec![(c, 1024, false)];
    let mut t = 1024;
    for _ in 0..6usize.saturating_sub(nu) {
        out.push((t, t / 2, false));
        t /= 2;
    }
    for _ in 0..nu.saturating_sub(1) {
        out.push((t, t / 2, true));
        t /= 2;
    }
    out.push((t, t, true));
    out
}

impl Tnb101Net {
    pub fn new(skeleton: &Skeleton, config: Tnb101Config) -> (Tnb101Net, ParamStore) {
        let mut store = ParamStore::default();
        let base = config.channels;
        let stem_conv = encoder_conv(&mut store, "stem.0.weight".into(), vec![base / 2, 3, 3, 3]);
        let stem_bn = (
            store.push("stem.1.weight", vec![base / 2], ParamRole::NormWeight),
            store.push("stem.1.bias", vec![base / 2], ParamRole::NormBias),
        );
        let stem = (
            ConvBn {
                conv: stem_conv,
                gamma: stem_bn.0,
                beta: stem_bn.1,
                kernel: 3,
                stride: 2,
            },
            conv_bn(&mut store, "stem.2.ops", base / 2, base, 3, 2),
        );
        let mut blocks = Vec::new();
        let (mut c, mut width) = (base, 224 / 4);
        for (i, &t) in skeleton.digits().iter().enumerate() {
            let cout = if t % 2 == 0 { 2 * c } else { c };
            let stride = if t > 2 { 2 } else { 1 };
            width /= stride;
            for j in 0..2 {
                let (cin, s) = if j == 0 { (c, stride) } else { (cout, 1) };
                let p = format!("layer{i}.{j}");
                let block = match skeleton {
                    Skeleton::Micro(ops) => {
                        // Edges leaving node 0 carry the block's stride and channel change.
                        let from = [0, 0, 1, 0, 1, 2];
                        Block::Micro(
                            (0..6)
                                .map(|e| {
                                    let (ci, si) = if from[e] == 0 { (cin, s) } else { (cout, 1) };
                                    micro_edge(&mut store, &format!("{p}.edges.{e}"), ops[e], ci, cout, si)
                                })
                                .collect(),
                            s,
                        )
                    }
                    Skeleton::Macro(_) => Block::Basic {
                        a: conv_bn(&mut store, &format!("{p}.conv_a.ops"), cin, cout, 3, s),
                        b: conv_bn(&mut store, &format!("{p}.conv_b.ops"), cout, cout, 3, 1),
                        shortcut: (s != 1 || cin != cout)
                            .then(|| conv_bn(&mut store, &format!("{p}.downsample"), cin, cout, 1, s)),
                    },
                };
                blocks.push((block, cout));
            }
            c = cout;
        }
        // The decoders size themselves from the builder's 224 x 224 feature width.
        let nu = num_upsample(width as u64);
        let k = config.head_outputs();
        let pixels = |store: &mut ParamStore, plan: Vec<(usize, usize, bool)>, tanh: bool| {
            let layers: Vec<DecoderLayer> = plan
                .iter()
                .enumerate()
                .map(|(i, &(a, b, t))| decoder_layer(store, &format!("decoder.{i}"), a, b, t))
                .collect();
            let last_in = plan.last().map_or(c, |l| l.1);
            let w = store.push("decoder.out.weight", vec![k, last_in, 3, 3], ParamRole::ConvWeight);
            let b = store.push("decoder.out.bias", vec![k], ParamRole::Bias);
            Head::Pixels {
                layers,
                out: (w, b),
                tanh,
            }
        };
        let head = match config.task {
            Task::Autoencoder | Task::Normal => pixels(&mut store, generative_layers(c, nu), true),
            Task::Segmentsemantic => pixels(&mut store, segmentation_layers(c, nu), false),
            task => {
                let fan = if task == Task::Jigsaw { 9 * c } else { c };
                Head::Linear {
                    weight: store.push("decoder.fc.weight", vec![k, fan], ParamRole::LinearWeight),
                    bias: store.push("decoder.fc.bias", vec![k], ParamRole::Bias),
                }
            }
        };
        (
            Tnb101Net {
                config,
                stem,
                blocks,
                head,
            },
            store,
        )
    }

    /// Rows per sample through the encoder: the jigsaw's nine tiles, else one.
    fn tiles(&self) -> usize {
        if self.config.task == Task::Jigsaw { 9 } else { 1 }
    }

    fn relu_conv_bn(&self, exec: &mut Exec, x: Tensor<4>, op: &ConvBn) -> Tensor<4> {
        let x = exec.relu_tiles(x, self.tiles());
        self.conv_bn(exec, x, op)
    }

    fn conv_bn(&self, exec: &mut Exec, x: Tensor<4>, op: &ConvBn) -> Tensor<4> {
        let x = exec.conv(x, op.conv, op.stride, op.kernel / 2);
        exec.batch_norm(x, op.gamma, op.beta)
    }

    /// One edge on its input (`None`: a zero tensor); `None` out when the edge is zero.
    fn edge(
        &self,
        exec: &mut Exec,
        edge: &Edge,
        x: Option<&Tensor<4>>,
        zeros: &dyn Fn() -> Tensor<4>,
    ) -> Option<Tensor<4>> {
        match edge {
            Edge::Zero => None,
            Edge::Identity => x.cloned(),
            // A zero input still runs through the op (the layer exists and its BN shift
            // reaches the output), as PyTorch computes it.
            Edge::Conv(op) => Some(self.relu_conv_bn(exec, x.cloned().unwrap_or_else(zeros), op)),
            Edge::Reduce {
                a,
                b,
                gamma,
                beta,
                stride,
            } => {
                let x = exec.relu_tiles(x.cloned().unwrap_or_else(zeros), self.tiles());
                let [_, _, h, w] = x.dims();
                let shifted = x
                    .clone()
                    .pad((0, 1, 0, 1), PadMode::Constant(0.0))
                    .narrow(2, 1, h)
                    .narrow(3, 1, w);
                let ya = exec.conv(x, *a, *stride, 0);
                let yb = exec.conv(shifted, *b, *stride, 0);
                Some(exec.batch_norm(Tensor::cat(vec![ya, yb], 1), *gamma, *beta))
            }
        }
    }

    fn block(&self, exec: &mut Exec, block: &Block, cout: usize, x: Tensor<4>) -> Tensor<4> {
        match block {
            Block::Basic { a, b, shortcut } => {
                let f = self.relu_conv_bn(exec, x.clone(), a);
                let f = self.relu_conv_bn(exec, f, b);
                let r = match shortcut {
                    Some(s) => self.conv_bn(exec, x, s),
                    None => x,
                };
                r + f
            }
            Block::Micro(edges, stride) => {
                let [n, _, h, w] = x.dims();
                let (ho, wo) = (h.div_ceil(*stride), w.div_ceil(*stride));
                // Node 0's zero tensor, and that of nodes 1..3 (after the stride).
                let zeros_in = {
                    let (dims, options) = (x.dims(), exec.options());
                    move || Tensor::<4>::zeros(dims, options.clone())
                };
                let zeros_out = {
                    let options = exec.options();
                    move || Tensor::<4>::zeros([n, cout, ho, wo], options.clone())
                };
                let mut nodes: Vec<Option<Tensor<4>>> = vec![Some(x)];
                let from = [0, 0, 1, 0, 1, 2];
                let mut e = 0;
                for j in 1..4 {
                    let mut sum: Option<Tensor<4>> = None;
                    for _ in 0..j {
                        let zeros: &dyn Fn() -> Tensor<4> = if from[e] == 0 { &zeros_in } else { &zeros_out };
                        let input = nodes[from[e]].clone();
                        if let Some(y) = self.edge(exec, &edges[e], input.as_ref(), zeros) {
                            sum = Some(match sum {
                                Some(s) => s + y,
                                None => y,
                            });
                        }
                        e += 1;
                    }
                    nodes.push(sum);
                }
                nodes.pop().flatten().unwrap_or_else(zeros_out)
            }
        }
    }

    /// The backbone: x [N, 3, H, W] -> [N, C, H', W'].
    fn encode(&self, exec: &mut Exec, x: Tensor<4>) -> Tensor<4> {
        let x = self.conv_bn(exec, x, &self.stem.0);
        let mut x = self.relu_conv_bn(exec, x, &self.stem.1);
        for (block, cout) in &self.blocks {
            x = self.block(exec, block, *cout, x);
        }
        x
    }

    /// # Shapes
    /// x: [S, 3, H, W] -> [S, outputs] (pixel heads: [S, channels * H * W], channel-major)
    pub fn forward(&self, exec: &mut Exec, x: Tensor<4>) -> Tensor<2> {
        let [s, c, h, w] = x.dims();
        let z = if self.config.task == Task::Jigsaw {
            // 3 x 3 tiles, row-major, each sample's nine consecutive (SiameseNet runs each
            // tile through the one encoder and concatenates the features in tile order).
            let (th, tw) = (h / 3, w / 3);
            let tiles = x
                .narrow(2, 0, 3 * th)
                .narrow(3, 0, 3 * tw)
                .reshape([s, c, 3, th, 3, tw])
                .permute([0, 2, 4, 1, 3, 5])
                .reshape([s * 9, c, th, tw]);
            self.encode(exec, tiles)
        } else {
            self.encode(exec, x)
        };
        match &self.head {
            Head::Linear { weight, bias } => {
                let pooled = exec.global_avg_pool(z);
                let k = pooled.dims()[1] * self.tiles();
                exec.linear(pooled.reshape([s, k]), *weight, Some(*bias))
            }
            Head::Pixels { layers, out, tanh } => {
                let mut y = z;
                for l in layers {
                    y = if l.transposed {
                        exec.conv_transpose(y, l.weight, Some(l.bias), (2, 1, 1))
                    } else {
                        exec.conv_bias(y, l.weight, l.bias, 1, 1)
                    };
                    y = exec.batch_norm(y, l.gamma, l.beta);
                    y = exec.leaky_relu(y, 0.2);
                }
                let y = exec.conv_bias(y, out.0, out.1, 1, 1);
                let y = if *tanh { activation::tanh(y) } else { y };
                let [_, k, ho, wo] = y.dims();
                y.reshape([s, k * ho * wo])
            }
        }
    }

    /// The task's loss per sample: against the batch's target images where it has them
    /// (`folder:DIR,targets:DIR`), else the targets of the module docs.
    pub fn sample_losses(&self, out: Tensor<2>, input: Tensor<4>, batch: &Batch) -> Tensor<1> {
        let labels = &batch.labels;
        let s = out.dims()[0];
        let [_, _, h, w] = input.dims();
        // The loaded targets where the batch has them (the probe passes the batch its input
        // was made from).
        let targets = |kind: TargetKind| {
            batch
                .targets
                .as_ref()
                .filter(|t| t.kind == kind && t.values.len() == s * kind.per_sample(h, w))
                .map(|t| t.values.clone())
        };
        match self.config.task {
            // SoftmaxCrossEntropyWithLogits: -sum t log(softmax + 1e-5), t one-hot.
            Task::ClassObject | Task::ClassScene => {
                let k = out.dims()[1];
                let onehot: Vec<f32> = (0..s * k)
                    .map(|i| f32::from(labels.get(i / k).map(|&l| l.min(k - 1)) == Some(i % k)))
                    .collect();
                let t = Tensor::<2>::from_data(TensorData::new(onehot, [s, k]), options_of(&out));
                let logp = (activation::softmax(out, 1) + 1e-5).log();
                (logp * t).sum_dim(1).neg().reshape([s])
            }
            Task::Jigsaw => cross_entropy(out, labels),
            // MSELoss (mean over the batch's 9-vectors).
            Task::RoomLayout => {
                let t = match targets(TargetKind::Layout) {
                    Some(v) => Tensor::<2>::from_data(TensorData::new(v, [s, 9]), options_of(&out)),
                    None => synthetic_layout(input),
                };
                (out - t).square().mean_dim(1).reshape([s])
            }
            // L1Loss.
            Task::Autoencoder => (out - input.reshape([s, 3 * h * w])).abs().mean_dim(1).reshape([s]),
            Task::Normal => {
                let t = match targets(TargetKind::Normals) {
                    Some(v) => Tensor::<2>::from_data(TensorData::new(v, [s, 3 * h * w]), options_of(&out)),
                    None => synthetic_normals(input).reshape([s, 3 * h * w]),
                };
                (out - t).abs().mean_dim(1).reshape([s])
            }
            // Per-pixel cross-entropy, the mean over pixels.
            Task::Segmentsemantic => {
                let k = 17;
                let logp = activation::log_softmax(out.reshape([s, k, h * w]), 1);
                let t = match targets(TargetKind::Classes(k)) {
                    Some(classes) => one_hot_pixels(&classes, s, k, h * w, options_of(&logp)),
                    None => synthetic_segments(&input, k),
                };
                (logp * t).sum_dim(1).mean_dim(2).neg().reshape([s])
            }
        }
    }
}

fn options_of<const D: usize>(t: &Tensor<D>) -> TensorCreationOptions {
    TensorCreationOptions::new(t.device()).with_dtype(t.dtype())
}

/// The channel mean of an image batch: [S, 3, H, W] -> [S, 1, H, W].
fn intensity(x: Tensor<4>) -> Tensor<4> {
    x.mean_dim(1)
}

/// Synthetic room layout (9 values): the mean intensity of each cell of the image's 3 x 3
/// grid, row-major (a function of the image that the head can regress, in place of
/// Taskonomy's camera-frame box).
pub fn synthetic_layout(x: Tensor<4>) -> Tensor<2> {
    let [s, _, h, w] = x.dims();
    let (gh, gw) = (h / 3, w / 3);
    intensity(x)
        .narrow(2, 0, 3 * gh)
        .narrow(3, 0, 3 * gw)
        .reshape([s, 3, gh, 3, gw])
        .mean_dim(4)
        .mean_dim(2)
        .reshape([s, 9])
}

/// Synthetic surface normals (3 channels in [-1, 1]): the unit normal of the intensity
/// height field, `(-dI/dx, -dI/dy, 1) / norm` with forward differences (zero at the far
/// border), in place of Taskonomy's normal maps.
pub fn synthetic_normals(x: Tensor<4>) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    let i = intensity(x);
    let dx = (i.clone().narrow(3, 1, w - 1) - i.clone().narrow(3, 0, w - 1)).pad((0, 1, 0, 0), PadMode::Constant(0.0));
    let dy = (i.clone().narrow(2, 1, h - 1) - i.clone().narrow(2, 0, h - 1)).pad((0, 0, 0, 1), PadMode::Constant(0.0));
    let norm = (dx.clone().square() + dy.clone().square() + 1.0).sqrt();
    Tensor::cat(vec![dx.neg() / norm.clone(), dy.neg() / norm.clone(), norm.recip()], 1)
}

/// One-hot [S, k, P] of per-pixel class indices [S, P].
fn one_hot_pixels(classes: &[f32], s: usize, k: usize, p: usize, options: TensorCreationOptions) -> Tensor<3> {
    let mut onehot = vec![0f32; s * k * p];
    for (i, &c) in classes.iter().enumerate() {
        let (n, j) = (i / p, i % p);
        onehot[(n * k + (c as usize).min(k - 1)) * p + j] = 1.0;
    }
    Tensor::<3>::from_data(TensorData::new(onehot, [s, k, p]), options)
}

/// Synthetic segmentation (one-hot [S, k, H * W]): each pixel's intensity quantised into `k`
/// equal bins between the image's own minimum and maximum, in place of Taskonomy's labels.
pub fn synthetic_segments(x: &Tensor<4>, k: usize) -> Tensor<3> {
    let [s, _, h, w] = x.dims();
    let p = h * w;
    let i = intensity(x.clone()).try_into_vec_as::<f64>().unwrap_or_default();
    let mut onehot = vec![0f32; s * k * p];
    for (n, img) in i.chunks_exact(p).enumerate() {
        let lo = img.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = img.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        for (j, v) in img.iter().enumerate() {
            let bin = ((v - lo) / (hi - lo).max(1e-12) * k as f64)
                .floor()
                .clamp(0.0, (k - 1) as f64) as usize;
            onehot[(n * k + bin) * p + j] = 1.0;
        }
    }
    Tensor::<3>::from_data(TensorData::new(onehot, [s, k, p]), options_of(x))
}

impl crate::engine::probe::Network for Tnb101Net {
    fn input_chw(&self) -> [usize; 3] {
        [3, self.config.image_size, self.config.image_size]
    }

    fn forward(&self, exec: &mut Exec, x: Tensor<4>) -> Tensor<2> {
        Tnb101Net::forward(self, exec, x)
    }

    fn sample_losses(&self, out: Tensor<2>, input: Tensor<4>, batch: &Batch) -> Tensor<1> {
        Tnb101Net::sample_losses(self, out, input, batch)
    }

    /// Samples (a jigsaw sample: its nine tiles) meet only in BatchNorm, so the per-sample
    /// pass runs in chunks: the decoders' 1024-channel layers hold 9.4 M weights, whose
    /// per-sample gradients at batch 32 were 1.2 GB a layer before the f64 statistics.
    fn per_sample_pass_chunks(&self) -> bool {
        true
    }
}
