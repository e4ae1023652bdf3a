//! The NB201 network, built on the engine's executor: stem Conv3x3 + BN;
//! N cells at C; residual reduction; N cells at 2C; reduction; N cells at
//! 4C; BN + ReLU; global average pool; Linear. Parameter names follow the
//! reference implementation (`stem.0.weight`, `cells.3.conv_a.op.1.weight`)
//! so imported weights line up by execution order and name.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::encoding::{EDGES, NUM_EDGES, Nb201Arch, Nb201Supernet, Op};
use crate::engine::exec::Exec;
use crate::engine::params::{ParamRole, ParamStore};

/// Skeleton settings of the NB201 macro network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nb201Config {
    /// Channels of the first stage (C).
    pub channels: usize,
    /// Cells per stage (N).
    pub cells_per_stage: usize,
    pub num_classes: usize,
    /// Side of the square input (32 for CIFAR, 16 for ImageNet16-120). The
    /// network ends in a global average pool, so only the activations'
    /// size depends on it.
    #[serde(default = "default_image_size")]
    pub image_size: usize,
}

/// Configs written before `image_size` existed were all 32 x 32.
fn default_image_size() -> usize {
    32
}

impl Nb201Config {
    /// Checks the skeleton; the message names the setting and what it allows.
    pub fn validate(&self) -> Result<(), String> {
        if self.channels == 0 || self.channels > 1024 {
            return Err(format!("channels {}: expected 1 to 1024", self.channels));
        }
        if self.cells_per_stage == 0 || self.cells_per_stage > 64 {
            return Err(format!(
                "cells {}: expected 1 to 64 per stage (0 would leave out the searched cell)",
                self.cells_per_stage
            ));
        }
        if self.num_classes < 2 {
            return Err(format!(
                "classes {}: the head needs at least 2 (with one class every gradient of the loss is 0)",
                self.num_classes
            ));
        }
        // Two stride-2 reductions: each halves an even side.
        if self.image_size < 4 || !self.image_size.is_multiple_of(4) || self.image_size > 1024 {
            return Err(format!(
                "image size {}: expected a multiple of 4 from 4 to 1024 (two stride-2 reductions)",
                self.image_size
            ));
        }
        Ok(())
    }
}

impl Default for Nb201Config {
    fn default() -> Self {
        Nb201Config {
            channels: 16,
            cells_per_stage: 5,
            num_classes: 10,
            image_size: 32,
        }
    }
}

#[derive(Clone, Debug)]
struct ConvBn {
    conv: usize,
    gamma: usize,
    beta: usize,
    kernel: usize,
}

/// One op of a cell edge, with its parameters when it is a convolution.
#[derive(Clone, Debug)]
struct EdgeOp {
    op: Op,
    conv: Option<ConvBn>,
}

#[derive(Clone, Debug)]
enum Block {
    Cell { edges: [Vec<EdgeOp>; NUM_EDGES] },
    Reduction { a: ConvBn, b: ConvBn, down: usize },
}

/// One NB201 network: the architecture, its skeleton and parameter layout.
#[derive(Clone, Debug)]
pub struct Nb201Net {
    /// The ops of every edge: one per edge for an architecture, several
    /// (summed) for a pruning supernet.
    pub cell: Nb201Supernet,
    pub config: Nb201Config,
    stem: ConvBn,
    blocks: Vec<Block>,
    last_gamma: usize,
    last_beta: usize,
    classifier: (usize, usize),
}

fn conv_bn(
    store: &mut ParamStore,
    prefix: &str,
    conv_name: &str,
    bn_name: &str,
    cin: usize,
    cout: usize,
    k: usize,
) -> ConvBn {
    ConvBn {
        conv: store.push(
            format!("{prefix}.{conv_name}.weight"),
            vec![cout, cin, k, k],
            ParamRole::ConvWeight,
        ),
        gamma: store.push(format!("{prefix}.{bn_name}.weight"), vec![cout], ParamRole::NormWeight),
        beta: store.push(format!("{prefix}.{bn_name}.bias"), vec![cout], ParamRole::NormBias),
        kernel: k,
    }
}

impl Nb201Net {
    /// Builds the network and its (zero-initialised) parameters.
    pub fn new(arch: Nb201Arch, config: Nb201Config) -> (Nb201Net, ParamStore) {
        Self::build(Nb201Supernet::from_arch(arch), config)
    }

    /// A TE-NAS supernet: every edge sums the outputs of its ops.
    pub fn supernet(cell: Nb201Supernet, config: Nb201Config) -> (Nb201Net, ParamStore) {
        Self::build(cell, config)
    }

    fn build(cell: Nb201Supernet, config: Nb201Config) -> (Nb201Net, ParamStore) {
        let mut store = ParamStore::default();
        let c = config.channels;
        let stem = conv_bn(&mut store, "stem", "0", "1", 3, c, 3);
        let mut blocks = Vec::new();
        let mut ch = c;
        let mut index = 0;
        for stage in 0..3 {
            if stage > 0 {
                let p = format!("cells.{index}");
                let a = conv_bn(&mut store, &p, "conv_a.op.1", "conv_a.op.2", ch, 2 * ch, 3);
                let b = conv_bn(&mut store, &p, "conv_b.op.1", "conv_b.op.2", 2 * ch, 2 * ch, 3);
                let down = store.push(
                    format!("{p}.downsample.1.weight"),
                    vec![2 * ch, ch, 1, 1],
                    ParamRole::ConvWeight,
                );
                blocks.push(Block::Reduction { a, b, down });
                ch *= 2;
                index += 1;
            }
            for _ in 0..config.cells_per_stage {
                let p = format!("cells.{index}");
                let edges = std::array::from_fn(|e| {
                    let single = cell.ops(e).count() == 1;
                    cell.ops(e)
                        .map(|op| {
                            let k = match op {
                                Op::NorConv3x3 => 3,
                                Op::NorConv1x1 => 1,
                                _ => return EdgeOp { op, conv: None },
                            };
                            // One op per edge keeps the reference names, so
                            // imported weights line up.
                            let q = if single {
                                format!("{p}.layers.{e}.op")
                            } else {
                                format!("{p}.layers.{e}.ops.{}", op.index())
                            };
                            EdgeOp {
                                op,
                                conv: Some(conv_bn(&mut store, &q, "1", "2", ch, ch, k)),
                            }
                        })
                        .collect()
                });
                blocks.push(Block::Cell { edges });
                index += 1;
            }
        }
        let last_gamma = store.push("lastact.0.weight", vec![ch], ParamRole::NormWeight);
        let last_beta = store.push("lastact.0.bias", vec![ch], ParamRole::NormBias);
        let w = store.push(
            "classifier.weight",
            vec![config.num_classes, ch],
            ParamRole::LinearWeight,
        );
        let b = store.push("classifier.bias", vec![config.num_classes], ParamRole::Bias);
        let net = Nb201Net {
            cell,
            config,
            stem,
            blocks,
            last_gamma,
            last_beta,
            classifier: (w, b),
        };
        (net, store)
    }

    /// Input shape [C, H, W] this network expects.
    pub fn input_chw(&self) -> [usize; 3] {
        [3, self.config.image_size, self.config.image_size]
    }

    fn relu_conv_bn(exec: &mut Exec, x: Tensor<4>, op: &ConvBn, stride: usize) -> Tensor<4> {
        let x = exec.relu(x);
        let x = exec.conv(x, op.conv, stride, op.kernel / 2);
        exec.batch_norm(x, op.gamma, op.beta)
    }

    /// # Shapes
    /// x: [S, 3, image_size, image_size] -> logits [S, classes]
    pub fn forward(&self, exec: &mut Exec, x: Tensor<4>) -> Tensor<2> {
        let x = exec.conv(x, self.stem.conv, 1, 1);
        let mut x = exec.batch_norm(x, self.stem.gamma, self.stem.beta);
        for block in &self.blocks {
            x = match block {
                Block::Cell { edges } => {
                    let mut nodes: Vec<Tensor<4>> = vec![x];
                    for target in 1..4 {
                        let mut sum: Option<Tensor<4>> = None;
                        for (e, &(src, dst)) in EDGES.iter().enumerate() {
                            if dst != target {
                                continue;
                            }
                            for edge_op in &edges[e] {
                                let input = nodes[src].clone();
                                let out = match (edge_op.op, &edge_op.conv) {
                                    (Op::None, _) => continue,
                                    (Op::SkipConnect, _) => input,
                                    (Op::AvgPool3x3, _) => exec.avg_pool3(input),
                                    (_, Some(op)) => Self::relu_conv_bn(exec, input, op, 1),
                                    (_, None) => unreachable!("conv edges always have parameters"),
                                };
                                sum = Some(match sum {
                                    Some(s) => s + out,
                                    None => out,
                                });
                            }
                        }
                        // A node fed only by `none` edges is zero.
                        let node = sum.unwrap_or_else(|| nodes[0].clone().zeros_like());
                        nodes.push(node);
                    }
                    nodes.pop().unwrap_or_else(|| unreachable!())
                }
                Block::Reduction { a, b, down } => {
                    let y = Self::relu_conv_bn(exec, x.clone(), a, 2);
                    let y = Self::relu_conv_bn(exec, y, b, 1);
                    let r = exec.avg_pool2(x);
                    let r = exec.conv(r, *down, 1, 0);
                    r + y
                }
            };
        }
        let x = exec.batch_norm(x, self.last_gamma, self.last_beta);
        let x = exec.relu(x);
        let pooled = exec.global_avg_pool(x);
        exec.linear(pooled, self.classifier.0, Some(self.classifier.1))
    }
}

impl crate::space::NetSettings for Nb201Config {
    fn image_size(&self) -> usize {
        self.image_size
    }

    fn num_classes(&self) -> usize {
        self.num_classes
    }

    fn apply(&mut self, o: &crate::space::NetOverrides) -> Result<(), String> {
        o.set_all(
            &mut self.channels,
            &mut self.cells_per_stage,
            &mut self.num_classes,
            &mut self.image_size,
        );
        Ok(())
    }

    fn validate(&self) -> Result<(), String> {
        Nb201Config::validate(self)
    }

    fn parallel_probes(&self) -> bool {
        true
    }

    /// Measured (`MEASURED_PEAKS` in `tests/score_jobs.rs`): 352 MiB, 466 MiB,
    /// 1.0 GiB and 3.7 GiB at 32, 64, 128 and 256 px, batch 64, C = 16, N = 5.
    /// The host convolutions keep little per output float (3-4.6 bytes, rising
    /// with the size), over some 190 MiB of buffers and graph that do not grow
    /// with the image.
    fn probe_memory(&self) -> crate::space::ProbeMemory {
        crate::space::ProbeMemory {
            fixed: 190.0 * 1024.0 * 1024.0,
            per_output_float: (2.8, 5.0),
        }
    }

    fn takes_procedural_as_is(&self) -> bool {
        true
    }
}

impl crate::engine::probe::Network for Nb201Net {
    fn input_chw(&self) -> [usize; 3] {
        Nb201Net::input_chw(self)
    }

    fn forward(&self, exec: &mut Exec, x: Tensor<4>) -> Tensor<2> {
        Nb201Net::forward(self, exec, x)
    }
}
