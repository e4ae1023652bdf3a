//! The NB301 (DARTS) network on the engine's executor, as NASLib's
//! `nasbench301` search space builds it (branch `zerocost`, see
//! [`Nb301Config`] for what its source does): stem 3x3 conv + BN; `cells`
//! cells (reductions at 1/3 and 2/3 of the depth), each taking the outputs
//! of the two cells before it through a ReLU-Conv-BN 1x1 (a
//! FactorizedReduce when the older one is at twice the resolution); four
//! intermediate nodes, each the sum of two ops on earlier nodes; the cell's
//! output concatenates the four; global average pool; linear head.
//!
//! Execution order is NASLib's graph order, which is also the order of the
//! parameters and of the weight layers (depth bins): the stem; the edges
//! leaving the stem (cell 0's second input, its first, cell 1's first);
//! then per cell its ops, by source node (input 0, input 1, node 2, ...),
//! for one source by target node; then the edges leaving the cell (the
//! next cell's second input, then the first input of the cell after it).
//! Inside an op: SepConv = ReLU, depthwise k x k, pointwise 1x1, BN, ReLU,
//! depthwise, pointwise, BN; DilConv = ReLU, dilated depthwise, pointwise,
//! BN; FactorizedReduce = ReLU, conv_1, conv_2, BN. Every convolution but a
//! pointwise one or FactorizedReduce's second follows a ReLU: each ReLU's
//! pattern is credited to the conv right after it (pre-activation).

use burn::tensor::Tensor;

use super::encoding::{Nb301Arch, Nb301Config, Op, PAIRS_PER_CELL};
use super::supernet::{EDGES_PER_CELL, Nb301Supernet, edge_nodes};
use crate::engine::exec::{ConvSpec, Exec};
use crate::engine::params::{ParamRole, ParamStore};

/// A cell input's projection to the cell's channels.
#[derive(Clone, Debug)]
enum Pre {
    /// ReLU, 1x1 conv, affine BN.
    ReluConvBn { conv: usize, gamma: usize, beta: usize },
    /// FactorizedReduce with affine BN: [conv_1, conv_2], (gamma, beta).
    Reduce { convs: [usize; 2], bn: (usize, usize) },
}

/// One op of a cell with its parameters.
#[derive(Clone, Debug)]
enum OpParams {
    MaxPool {
        stride: usize,
    },
    AvgPool {
        stride: usize,
    },
    Identity,
    /// A stride-2 skip: FactorizedReduce with a non-affine BN.
    Reduce {
        convs: [usize; 2],
    },
    /// Two (depthwise, pointwise) pairs.
    Sep {
        kernel: usize,
        stride: usize,
        convs: [usize; 4],
    },
    Dil {
        kernel: usize,
        stride: usize,
        convs: [usize; 2],
    },
}

/// An edge source -> target with its ops (one in a genotype, several in a
/// pruning supernet, where the node sums them all).
#[derive(Clone, Debug)]
struct Edge {
    source: usize,
    target: usize,
    ops: Vec<OpParams>,
}

#[derive(Clone, Debug)]
struct Cell {
    pre: [Option<Pre>; 2],
    /// The edges in execution order.
    edges: Vec<Edge>,
}

/// One NB301 network (a genotype or a supernet): settings and parameter
/// layout.
#[derive(Clone, Debug)]
pub struct Nb301Net {
    pub config: Nb301Config,
    stem: (usize, usize, usize),
    cells: Vec<Cell>,
    head: (usize, usize),
}

fn conv(store: &mut ParamStore, name: String, cout: usize, cin: usize, k: usize) -> usize {
    store.push(format!("{name}.weight"), vec![cout, cin, k, k], ParamRole::ConvWeight)
}

fn bn(store: &mut ParamStore, name: String, c: usize) -> (usize, usize) {
    (
        store.push(format!("{name}.weight"), vec![c], ParamRole::NormWeight),
        store.push(format!("{name}.bias"), vec![c], ParamRole::NormBias),
    )
}

fn pre(store: &mut ParamStore, name: String, cin: usize, c: usize, reduce: bool) -> Pre {
    if reduce {
        let convs = [
            conv(store, format!("{name}.conv_1"), c / 2, cin, 1),
            conv(store, format!("{name}.conv_2"), c / 2, cin, 1),
        ];
        Pre::Reduce {
            convs,
            bn: bn(store, format!("{name}.bn"), c),
        }
    } else {
        let conv = conv(store, format!("{name}.op.1"), c, cin, 1);
        let (gamma, beta) = bn(store, format!("{name}.op.2"), c);
        Pre::ReluConvBn { conv, gamma, beta }
    }
}

/// What a network is built from.
#[derive(Clone, Copy)]
enum Layout<'a> {
    Genotype(&'a Nb301Arch),
    Supernet(&'a Nb301Supernet),
}

/// The order NASLib runs a cell's pairs in: by source node, then by target
/// node (a node's two pairs read distinct sources, so this is total).
fn pair_order(pairs: &[(usize, Op); PAIRS_PER_CELL]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..PAIRS_PER_CELL).collect();
    order.sort_by_key(|&i| (pairs[i].0, i / 2));
    order
}

fn op_params(store: &mut ParamStore, name: String, op: Op, c: usize, stride: usize) -> OpParams {
    let dw = |store: &mut ParamStore, i: usize, k: usize| conv(store, format!("{name}.op.{i}"), c, 1, k);
    let pw = |store: &mut ParamStore, i: usize| conv(store, format!("{name}.op.{i}"), c, c, 1);
    match op {
        Op::MaxPool3x3 => OpParams::MaxPool { stride },
        Op::AvgPool3x3 => OpParams::AvgPool { stride },
        Op::SkipConnect if stride == 1 => OpParams::Identity,
        Op::SkipConnect => OpParams::Reduce {
            convs: [
                conv(store, format!("{name}.conv_1"), c / 2, c, 1),
                conv(store, format!("{name}.conv_2"), c / 2, c, 1),
            ],
        },
        Op::SepConv3x3 | Op::SepConv5x5 => {
            let kernel = if op == Op::SepConv3x3 { 3 } else { 5 };
            // nn.Sequential indices: 0 ReLU, 1 dw, 2 pw, 3 BN, 4 ReLU, 5 dw, 6 pw, 7 BN.
            let convs = [dw(store, 1, kernel), pw(store, 2), dw(store, 5, kernel), pw(store, 6)];
            OpParams::Sep { kernel, stride, convs }
        }
        Op::DilConv3x3 | Op::DilConv5x5 => {
            let kernel = if op == Op::DilConv3x3 { 3 } else { 5 };
            OpParams::Dil {
                kernel,
                stride,
                convs: [dw(store, 1, kernel), pw(store, 2)],
            }
        }
    }
}

impl Nb301Net {
    /// Builds the network and its (zero-initialised) parameters, in
    /// execution order.
    pub fn new(arch: Nb301Arch, config: Nb301Config) -> (Nb301Net, ParamStore) {
        Self::build(Layout::Genotype(&arch), config)
    }

    /// A TE-NAS supernet: every edge sums the outputs of its ops (each op
    /// weighted 1, as the NB201 supernet). Parameters are named
    /// `cells.{i}.edges.{source}_{target}.{op index}...`; the same
    /// execution order as a genotype (by source node, then target node; an
    /// edge's ops in NASLib's op order).
    pub fn supernet(cell: Nb301Supernet, config: Nb301Config) -> (Nb301Net, ParamStore) {
        Self::build(Layout::Supernet(&cell), config)
    }

    fn build(layout: Layout, config: Nb301Config) -> (Nb301Net, ParamStore) {
        let mut store = ParamStore::default();
        let n = config.cells;
        let stem_c = 3 * config.channels;
        let stem_conv = conv(&mut store, "stem.0".into(), stem_c, 3, 3);
        let (g, b) = bn(&mut store, "stem.1".into(), stem_c);
        // Per cell: its channels and whether it reduces; the channels of
        // every cell output (index i + 1; index 0 is the stem).
        let mut widths = Vec::with_capacity(n);
        let mut c = config.channels;
        for i in 0..n {
            if config.is_reduction(i) {
                c *= 2;
            }
            widths.push(c);
        }
        let out_c = |i: usize| if i == 0 { stem_c } else { 4 * widths[i - 1] };
        let mut cells: Vec<Cell> = (0..n)
            .map(|_| Cell {
                pre: [None, None],
                edges: Vec::new(),
            })
            .collect();
        // The projection of output `from` (0 = stem, i + 1 = cell i) into
        // input `slot` of `cell`, when that cell exists.
        let add_pre = |store: &mut ParamStore, cells: &mut [Cell], cell: usize, slot: usize, from: usize| {
            if cell < n {
                // A first input two cells back is at twice the resolution
                // when the cell between reduces.
                let reduce = slot == 0 && cell > 0 && config.is_reduction(cell - 1);
                let name = format!("cells.{cell}.preprocess{slot}");
                cells[cell].pre[slot] = Some(pre(store, name, out_c(from), widths[cell], reduce));
            }
        };
        // The stem's edges in NASLib's order: cell 0's second input, its
        // first, cell 1's first.
        for (cell, slot) in [(0, 1), (0, 0), (1, 0)] {
            add_pre(&mut store, &mut cells, cell, slot, 0);
        }
        for i in 0..n {
            let reduction = config.is_reduction(i);
            let kind = usize::from(reduction);
            let stride = |source: usize| if reduction && source < 2 { 2 } else { 1 };
            cells[i].edges = match layout {
                Layout::Genotype(arch) => {
                    let pairs = &arch.cells[kind];
                    pair_order(pairs)
                        .into_iter()
                        .map(|j| {
                            let (source, op) = pairs[j];
                            let name = format!("cells.{i}.ops.{j}");
                            Edge {
                                source,
                                target: 2 + j / 2,
                                ops: vec![op_params(&mut store, name, op, widths[i], stride(source))],
                            }
                        })
                        .collect()
                }
                Layout::Supernet(s) => {
                    let mut order: Vec<usize> = (0..EDGES_PER_CELL).filter(|&e| s.masks[kind][e] != 0).collect();
                    order.sort_by_key(|&e| edge_nodes(e));
                    order
                        .into_iter()
                        .map(|e| {
                            let (source, target) = edge_nodes(e);
                            let ops = s
                                .ops(kind, e)
                                .map(|op| {
                                    let name = format!("cells.{i}.edges.{source}_{target}.{}", op as usize);
                                    op_params(&mut store, name, op, widths[i], stride(source))
                                })
                                .collect();
                            Edge { source, target, ops }
                        })
                        .collect()
                }
            };
            // The edges leaving cell i: the next cell's second input, then
            // the first input of the one after.
            add_pre(&mut store, &mut cells, i + 1, 1, i + 1);
            add_pre(&mut store, &mut cells, i + 2, 0, i + 1);
        }
        let last = out_c(n);
        let w = store.push(
            "classifier.weight",
            vec![config.num_classes, last],
            ParamRole::LinearWeight,
        );
        let bias = store.push("classifier.bias", vec![config.num_classes], ParamRole::Bias);
        let net = Nb301Net {
            config,
            stem: (stem_conv, g, b),
            cells,
            head: (w, bias),
        };
        (net, store)
    }

    /// Input shape [C, H, W] this network expects.
    pub fn input_chw(&self) -> [usize; 3] {
        [3, self.config.image_size, self.config.image_size]
    }

    fn pre(exec: &mut Exec, x: Tensor<4>, pre: &Pre) -> Tensor<4> {
        match pre {
            Pre::ReluConvBn { conv, gamma, beta } => {
                let x = exec.relu(x);
                let x = exec.conv(x, *conv, 1, 0);
                exec.batch_norm(x, *gamma, *beta)
            }
            Pre::Reduce { convs, bn } => exec.factorized_reduce(x, convs[0], convs[1], Some(*bn)),
        }
    }

    fn op(exec: &mut Exec, x: Tensor<4>, op: &OpParams) -> Tensor<4> {
        let depthwise = |x: &Tensor<4>, stride, padding, dilation| ConvSpec {
            stride,
            padding,
            dilation,
            groups: x.dims()[1],
        };
        match *op {
            OpParams::MaxPool { stride } => {
                let x = exec.max_pool3(x, stride);
                exec.batch_norm_plain(x)
            }
            OpParams::AvgPool { stride } => {
                let x = exec.avg_pool3_stride(x, stride);
                exec.batch_norm_plain(x)
            }
            OpParams::Identity => x,
            OpParams::Reduce { convs } => exec.factorized_reduce(x, convs[0], convs[1], None),
            OpParams::Sep { kernel, stride, convs } => {
                let mut x = x;
                for (half, s) in [(0, stride), (1, 1)] {
                    x = exec.relu(x);
                    let spec = depthwise(&x, s, kernel / 2, 1);
                    x = exec.conv_grouped(x, convs[2 * half], spec);
                    x = exec.conv(x, convs[2 * half + 1], 1, 0);
                    x = exec.batch_norm_plain(x);
                }
                x
            }
            OpParams::Dil { kernel, stride, convs } => {
                let x = exec.relu(x);
                // Dilation 2: padding 2 (3x3) or 4 (5x5) keeps the size.
                let spec = depthwise(&x, stride, kernel - 1, 2);
                let x = exec.conv_grouped(x, convs[0], spec);
                let x = exec.conv(x, convs[1], 1, 0);
                exec.batch_norm_plain(x)
            }
        }
    }

    /// One cell on its two projected inputs, edges in NASLib's order.
    fn cell(&self, exec: &mut Exec, i: usize, inputs: [Tensor<4>; 2]) -> Tensor<4> {
        let mut nodes: Vec<Option<Tensor<4>>> = vec![None; 2 + PAIRS_PER_CELL / 2];
        let [a, b] = inputs;
        (nodes[0], nodes[1]) = (Some(a), Some(b));
        for edge in &self.cells[i].edges {
            let x = nodes[edge.source]
                .clone()
                .unwrap_or_else(|| unreachable!("a source node is complete before its first reader"));
            for op in &edge.ops {
                let out = Self::op(exec, x.clone(), op);
                nodes[edge.target] = Some(match nodes[edge.target].take() {
                    Some(sum) => sum + out,
                    None => out,
                });
            }
        }
        let outputs: Vec<Tensor<4>> = nodes.into_iter().skip(2).flatten().collect();
        exec.concat_channels(outputs)
    }

    /// # Shapes
    /// x: [S, 3, image_size, image_size] -> logits [S, classes]
    pub fn forward(&self, exec: &mut Exec, x: Tensor<4>) -> Tensor<2> {
        let n = self.cells.len();
        let x = exec.conv(x, self.stem.0, 1, 1);
        let stem = exec.batch_norm(x, self.stem.1, self.stem.2);
        // Projected inputs waiting for their cell: [first, second].
        let mut inputs: Vec<[Option<Tensor<4>>; 2]> = vec![[None, None]; n];
        let project =
            |exec: &mut Exec, inputs: &mut Vec<[Option<Tensor<4>>; 2]>, cell: usize, slot: usize, x: &Tensor<4>| {
                if let Some(p) = self.cells.get(cell).and_then(|c| c.pre[slot].as_ref()) {
                    inputs[cell][slot] = Some(Self::pre(exec, x.clone(), p));
                }
            };
        // The stem's edges in NASLib's order: cell 0's second input, its
        // first, then cell 1's first.
        project(exec, &mut inputs, 0, 1, &stem);
        project(exec, &mut inputs, 0, 0, &stem);
        project(exec, &mut inputs, 1, 0, &stem);
        let mut out = stem;
        for i in 0..n {
            let [a, b] = std::mem::take(&mut inputs[i]);
            let (Some(a), Some(b)) = (a, b) else {
                unreachable!("every cell's two inputs are projected before it runs")
            };
            out = self.cell(exec, i, [a, b]);
            project(exec, &mut inputs, i + 1, 1, &out);
            project(exec, &mut inputs, i + 2, 0, &out);
        }
        let pooled = exec.global_avg_pool(out);
        exec.linear(pooled, self.head.0, Some(self.head.1))
    }
}

impl crate::engine::probe::Network for Nb301Net {
    fn input_chw(&self) -> [usize; 3] {
        Nb301Net::input_chw(self)
    }

    fn forward(&self, exec: &mut Exec, x: Tensor<4>) -> Tensor<2> {
        Nb301Net::forward(self, exec, x)
    }
}
