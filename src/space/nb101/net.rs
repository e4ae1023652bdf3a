//! The NB101 network as nasbench's `model_builder.py` builds it (and the
//! PyTorch port NASLib and Suite-Zero use): stem conv3x3-BN-ReLU to 128
//! channels; 3 stacks of 3 cells, a 2x2 stride-2 max pool before stacks 2
//! and 3, which double the channels; global average pool; dense head.
//! Every conv is bias-free and followed by BN (scale and shift) and ReLU.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::encoding::{CONV1X1, CONV3X3, MAXPOOL3X3, Nb101Arch, Pruned, vertex_channels};
use crate::engine::exec::Exec;
use crate::engine::params::{ParamRole, ParamStore};

/// Skeleton settings (nasbench's defaults: 128 stem channels, 3 stacks of 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nb101Config {
    pub stem_channels: usize,
    pub stacks: usize,
    pub cells_per_stack: usize,
    pub num_classes: usize,
    pub image_size: usize,
}

impl Default for Nb101Config {
    fn default() -> Self {
        Nb101Config {
            stem_channels: 128,
            stacks: 3,
            cells_per_stack: 3,
            num_classes: 10,
            image_size: 32,
        }
    }
}

impl Nb101Config {
    /// Checks the skeleton; the message names the setting and what it allows.
    pub fn validate(&self) -> Result<(), String> {
        if self.stem_channels == 0 || self.stem_channels > 1024 {
            return Err(format!("stem channels {}: expected 1 to 1024", self.stem_channels));
        }
        if self.stacks == 0 || self.stacks > 5 {
            return Err(format!("stacks {}: expected 1 to 5", self.stacks));
        }
        if self.cells_per_stack == 0 || self.cells_per_stack > 16 {
            return Err(format!("cells per stack {}: expected 1 to 16", self.cells_per_stack));
        }
        if self.num_classes < 2 {
            return Err(format!("classes {}: the head needs at least 2", self.num_classes));
        }
        let div = 1usize << (self.stacks - 1);
        if self.image_size < div || !self.image_size.is_multiple_of(div) || self.image_size > 1024 {
            return Err(format!(
                "image size {}: expected a multiple of {div} up to 1024 ({} stride-2 max pools)",
                self.image_size,
                self.stacks - 1
            ));
        }
        Ok(())
    }
}

/// Parameters of conv k x k (no bias) + BN's scale and shift.
fn conv_bn_params(k: usize, cin: usize, cout: usize) -> u64 {
    (k * k * cin * cout + 2 * cout) as u64
}

/// Parameters counted from the encoding, as the network below holds them.
pub fn count_params(cell: &Pruned, config: &Nb101Config) -> u64 {
    let n = cell.n();
    let m = &cell.matrix;
    let mut total = conv_bn_params(3, 3, config.stem_channels);
    let (mut cin, mut c) = (config.stem_channels, config.stem_channels);
    for stack in 0..config.stacks {
        if stack > 0 {
            c *= 2;
        }
        for _ in 0..config.cells_per_stack {
            let ch = vertex_channels(cin, c, cell);
            for t in 1..n - 1 {
                if m[0][t] {
                    total += conv_bn_params(1, cin, ch[t]);
                }
                total += match cell.ops[t] {
                    CONV3X3 => conv_bn_params(3, ch[t], ch[t]),
                    CONV1X1 => conv_bn_params(1, ch[t], ch[t]),
                    _ => 0,
                };
            }
            if m[0][n - 1] {
                total += conv_bn_params(1, cin, c);
            }
            cin = c;
        }
    }
    total + (c * config.num_classes + config.num_classes) as u64
}

#[derive(Clone, Debug)]
struct ConvBn {
    conv: usize,
    gamma: usize,
    beta: usize,
    kernel: usize,
}

fn conv_bn(store: &mut ParamStore, prefix: &str, cin: usize, cout: usize, k: usize) -> ConvBn {
    ConvBn {
        conv: store.push(
            format!("{prefix}.conv.weight"),
            vec![cout, cin, k, k],
            ParamRole::ConvWeight,
        ),
        gamma: store.push(format!("{prefix}.bn.weight"), vec![cout], ParamRole::NormWeight),
        beta: store.push(format!("{prefix}.bn.bias"), vec![cout], ParamRole::NormBias),
        kernel: k,
    }
}

#[derive(Clone, Debug)]
struct Cell {
    channels: Vec<usize>,
    /// The 1x1 projection of the cell input into vertex t (t = n-1: output).
    projections: Vec<Option<ConvBn>>,
    /// The op of interior vertex t (None for the max pool).
    ops: Vec<Option<ConvBn>>,
}

#[derive(Clone, Debug)]
pub struct Nb101Net {
    pub config: Nb101Config,
    cell: Pruned,
    stem: ConvBn,
    /// Cells in order; a max pool precedes the first cell of stacks 2, 3, ...
    cells: Vec<Cell>,
    classifier: (usize, usize),
}

impl Nb101Net {
    pub fn new(arch: &Nb101Arch, config: Nb101Config) -> (Nb101Net, ParamStore) {
        let cell = arch.pruned.clone();
        let n = cell.n();
        let mut store = ParamStore::default();
        let stem = conv_bn(&mut store, "stem", 3, config.stem_channels, 3);
        let mut cells = Vec::new();
        let (mut cin, mut c) = (config.stem_channels, config.stem_channels);
        for stack in 0..config.stacks {
            if stack > 0 {
                c *= 2;
            }
            for j in 0..config.cells_per_stack {
                let p = format!("stack{stack}.cell{j}");
                let ch = vertex_channels(cin, c, &cell);
                let mut projections = vec![None; n];
                let mut ops = vec![None; n];
                for t in 1..n {
                    if cell.matrix[0][t] {
                        projections[t] = Some(conv_bn(&mut store, &format!("{p}.input_op.{t}"), cin, ch[t], 1));
                    }
                    if t < n - 1 {
                        ops[t] = match cell.ops[t] {
                            CONV3X3 => Some(conv_bn(&mut store, &format!("{p}.vertex_op.{t}"), ch[t], ch[t], 3)),
                            CONV1X1 => Some(conv_bn(&mut store, &format!("{p}.vertex_op.{t}"), ch[t], ch[t], 1)),
                            _ => None,
                        };
                    }
                }
                cells.push(Cell {
                    channels: ch,
                    projections,
                    ops,
                });
                cin = c;
            }
        }
        let w = store.push(
            "classifier.weight",
            vec![config.num_classes, c],
            ParamRole::LinearWeight,
        );
        let b = store.push("classifier.bias", vec![config.num_classes], ParamRole::Bias);
        (
            Nb101Net {
                config,
                cell,
                stem,
                cells,
                classifier: (w, b),
            },
            store,
        )
    }

    pub fn input_chw(&self) -> [usize; 3] {
        [3, self.config.image_size, self.config.image_size]
    }

    fn conv_bn_relu(exec: &mut Exec, x: Tensor<4>, op: &ConvBn) -> Tensor<4> {
        let x = exec.conv(x, op.conv, 1, op.kernel / 2);
        let x = exec.batch_norm(x, op.gamma, op.beta);
        // Post-activation: the pattern belongs to this conv, not the next.
        exec.relu_post(x)
    }

    fn cell_forward(&self, exec: &mut Exec, cell: &Cell, x: Tensor<4>) -> Tensor<4> {
        let n = self.cell.n();
        let m = &self.cell.matrix;
        let mut tensors: Vec<Tensor<4>> = vec![x.clone()];
        let mut concat = Vec::new();
        for (t, row) in m.iter().enumerate().take(n - 1).skip(1) {
            let c = cell.channels[t];
            // Earlier vertices are at least as wide; the extra channel of a
            // remainder is sliced off (nasbench's truncate).
            let mut inputs: Vec<Tensor<4>> = (1..t)
                .filter(|&s| m[s][t])
                .map(|s| tensors[s].clone().narrow(1, 0, c))
                .collect();
            if let Some(p) = &cell.projections[t] {
                inputs.push(Self::conv_bn_relu(exec, x.clone(), p));
            }
            let sum = inputs
                .into_iter()
                .reduce(|a, b| a + b)
                .unwrap_or_else(|| unreachable!("pruned vertices have inputs"));
            let out = match (&cell.ops[t], self.cell.ops[t]) {
                (Some(op), _) => Self::conv_bn_relu(exec, sum, op),
                (None, MAXPOOL3X3) => exec.max_pool3(sum, 1),
                (None, _) => unreachable!("conv vertices have parameters"),
            };
            if row[n - 1] {
                concat.push(out.clone());
            }
            tensors.push(out);
        }
        let projected = cell.projections[n - 1].as_ref().map(|p| Self::conv_bn_relu(exec, x, p));
        match (concat.is_empty(), projected) {
            (true, Some(p)) => p,
            (false, None) => Tensor::cat(concat, 1),
            (false, Some(p)) => Tensor::cat(concat, 1) + p,
            (true, None) => unreachable!("a valid cell reaches its output"),
        }
    }

    /// # Shapes
    /// x: [S, 3, H, W] -> logits [S, classes]
    pub fn forward(&self, exec: &mut Exec, x: Tensor<4>) -> Tensor<2> {
        let mut x = Self::conv_bn_relu(exec, x, &self.stem);
        for (i, cell) in self.cells.iter().enumerate() {
            if i > 0 && i % self.config.cells_per_stack == 0 {
                x = exec.max_pool2(x); // nasbench's downsampling between stacks
            }
            x = self.cell_forward(exec, cell, x);
        }
        let pooled = exec.global_avg_pool(x);
        exec.linear(pooled, self.classifier.0, Some(self.classifier.1))
    }
}

impl crate::engine::probe::Network for Nb101Net {
    fn input_chw(&self) -> [usize; 3] {
        Nb101Net::input_chw(self)
    }

    fn forward(&self, exec: &mut Exec, x: Tensor<4>) -> Tensor<2> {
        Nb101Net::forward(self, exec, x)
    }

    /// Samples meet only in BatchNorm: the per-sample pass runs in chunks
    /// (the largest cells' whole-batch pass held many GB at batch 64).
    fn per_sample_pass_chunks(&self) -> bool {
        true
    }
}

impl crate::space::NetSettings for Nb101Config {
    fn image_size(&self) -> usize {
        self.image_size
    }

    fn num_classes(&self) -> usize {
        self.num_classes
    }

    fn apply(&mut self, o: &crate::space::NetOverrides) -> Result<(), String> {
        o.set_all(
            &mut self.stem_channels,
            &mut self.cells_per_stack,
            &mut self.num_classes,
            &mut self.image_size,
        );
        Ok(())
    }

    fn validate(&self) -> Result<(), String> {
        Nb101Config::validate(self)
    }
}
