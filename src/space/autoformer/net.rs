//! The AutoFormer-Small ViT on the engine's executor: patch embedding
//! (16 x 16 convolution with bias), class token, learned position
//! embedding, pre-norm blocks `x + proj(attn(qkv(LN x)))` and
//! `x + fc2(gelu(fc1(LN x)))`, final LayerNorm, linear head on the class
//! token. Parameter names follow AutoFormer's `Vision_TransformerSuper`
//! (`patch_embed_super.proj.weight`, `blocks.3.attn.qkv.weight`, ...) and
//! the store lists them in execution order.
//!
//! There is no BatchNorm: LayerNorm normalises each token on its own, so
//! one batched pass is exactly S single-sample passes in every norm mode,
//! and per-sample gradients need no per-sample normalisation.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::encoding::{AutoformerArch, CountBasis, HEAD_DIM, PATCH};
use crate::engine::exec::Exec;
use crate::engine::params::{ParamRole, ParamStore};

/// Settings of the ViT that are not part of the architecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoformerConfig {
    /// Side of the square input image; a multiple of 16 (224 in the paper,
    /// 32 or 64 for CPU runs).
    pub image_size: usize,
    pub num_classes: usize,
}

impl Default for AutoformerConfig {
    fn default() -> Self {
        AutoformerConfig {
            image_size: 224,
            num_classes: 1000,
        }
    }
}

impl AutoformerConfig {
    /// Checks the image size.
    pub fn validate(&self) -> Result<(), String> {
        if self.image_size < PATCH || !self.image_size.is_multiple_of(PATCH) {
            return Err(format!(
                "image size {} is not a positive multiple of the {PATCH}-pixel patch",
                self.image_size
            ));
        }
        if self.num_classes == 0 {
            return Err("the head needs at least one class".into());
        }
        Ok(())
    }

    /// The setting this network's parameters are counted at.
    pub fn basis(&self) -> CountBasis {
        CountBasis {
            image_size: self.image_size,
            num_classes: self.num_classes,
        }
    }
}

#[derive(Clone, Debug)]
struct Block {
    heads: usize,
    ln1: (usize, usize),
    qkv: (usize, usize),
    proj: (usize, usize),
    ln2: (usize, usize),
    fc1: (usize, usize),
    fc2: (usize, usize),
}

/// One AutoFormer-Small ViT: the architecture, its settings and the
/// indices of its parameters in the store.
#[derive(Clone, Debug)]
pub struct AutoformerNet {
    pub arch: AutoformerArch,
    pub config: AutoformerConfig,
    patch: (usize, usize),
    cls: usize,
    pos: usize,
    blocks: Vec<Block>,
    norm: (usize, usize),
    head: (usize, usize),
}

fn linear(store: &mut ParamStore, name: &str, inp: usize, out: usize) -> (usize, usize) {
    (
        store.push(format!("{name}.weight"), vec![out, inp], ParamRole::LinearWeight),
        store.push(format!("{name}.bias"), vec![out], ParamRole::Bias),
    )
}

fn layer_norm(store: &mut ParamStore, name: &str, dim: usize) -> (usize, usize) {
    (
        store.push(format!("{name}.weight"), vec![dim], ParamRole::NormWeight),
        store.push(format!("{name}.bias"), vec![dim], ParamRole::NormBias),
    )
}

impl AutoformerNet {
    /// Builds the network and its (zero-initialised) parameters; the
    /// architecture and config must be valid (`validate`).
    pub fn new(arch: &AutoformerArch, config: AutoformerConfig) -> (AutoformerNet, ParamStore) {
        let mut store = ParamStore::default();
        let e = arch.embed;
        let patch = (
            store.push(
                "patch_embed_super.proj.weight",
                vec![e, 3, PATCH, PATCH],
                ParamRole::ConvWeight,
            ),
            store.push("patch_embed_super.proj.bias", vec![e], ParamRole::Bias),
        );
        let cls = store.push("cls_token", vec![1, 1, e], ParamRole::Embedding);
        let pos = store.push("pos_embed", vec![1, config.basis().tokens(), e], ParamRole::Embedding);
        let blocks = arch
            .mlp
            .iter()
            .zip(&arch.heads)
            .enumerate()
            .map(|(i, (ratio, &heads))| {
                let p = format!("blocks.{i}");
                let q = heads * HEAD_DIM;
                let hidden = ratio.hidden(e);
                Block {
                    heads,
                    ln1: layer_norm(&mut store, &format!("{p}.attn_layer_norm"), e),
                    qkv: linear(&mut store, &format!("{p}.attn.qkv"), e, 3 * q),
                    proj: linear(&mut store, &format!("{p}.attn.proj"), q, e),
                    ln2: layer_norm(&mut store, &format!("{p}.ffn_layer_norm"), e),
                    fc1: linear(&mut store, &format!("{p}.fc1"), e, hidden),
                    fc2: linear(&mut store, &format!("{p}.fc2"), hidden, e),
                }
            })
            .collect();
        let norm = layer_norm(&mut store, "norm", e);
        let head = linear(&mut store, "head", e, config.num_classes);
        let net = AutoformerNet {
            arch: arch.clone(),
            config,
            patch,
            cls,
            pos,
            blocks,
            norm,
            head,
        };
        (net, store)
    }

    /// Input shape [C, H, W] this network expects.
    pub fn input_chw(&self) -> [usize; 3] {
        [3, self.config.image_size, self.config.image_size]
    }

    /// # Shapes
    /// x: [S, 3, H, W] -> logits [S, classes]; tokens T = (H/16)^2 + 1.
    pub fn forward(&self, exec: &mut Exec, x: Tensor<4>) -> Tensor<2> {
        let e = self.arch.embed;
        let s = x.dims()[0];
        // Patch embedding: [S, E, H/16, W/16] -> [S, P, E].
        let x = exec.conv(x, self.patch.0, PATCH, 0);
        let x = x + exec.param1(self.patch.1).reshape([1, e, 1, 1]);
        let [_, _, h, w] = x.dims();
        let x = x.reshape([s, e, h * w]).swap_dims(1, 2);
        let cls = exec.param3(self.cls).expand([s, 1, e]);
        let x = Tensor::cat(vec![cls, x], 1);
        let mut x = x + exec.param3(self.pos);
        for b in &self.blocks {
            let y = exec.layer_norm(x.clone(), b.ln1.0, b.ln1.1);
            let qkv = exec.token_linear(y, b.qkv.0, Some(b.qkv.1));
            let y = exec.attention(qkv, b.heads);
            x = x + exec.token_linear(y, b.proj.0, Some(b.proj.1));
            let y = exec.layer_norm(x.clone(), b.ln2.0, b.ln2.1);
            let y = exec.token_linear(y, b.fc1.0, Some(b.fc1.1));
            let y = exec.gelu(y);
            x = x + exec.token_linear(y, b.fc2.0, Some(b.fc2.1));
        }
        let x = exec.layer_norm(x, self.norm.0, self.norm.1);
        // The class token: [S, 1, E] -> [S, E].
        let cls = x.narrow(1, 0, 1).reshape([s, e]);
        exec.linear(cls, self.head.0, Some(self.head.1))
    }
}

impl crate::engine::probe::Network for AutoformerNet {
    fn input_chw(&self) -> [usize; 3] {
        AutoformerNet::input_chw(self)
    }

    fn forward(&self, exec: &mut Exec, x: Tensor<4>) -> Tensor<2> {
        AutoformerNet::forward(self, exec, x)
    }

    /// LayerNorm and attention act within one sample.
    fn samples_independent(&self) -> bool {
        true
    }
}

impl crate::space::NetSettings for AutoformerConfig {
    fn image_size(&self) -> usize {
        self.image_size
    }

    fn num_classes(&self) -> usize {
        self.num_classes
    }

    fn apply(&mut self, o: &crate::space::NetOverrides) -> Result<(), String> {
        // Depth and widths are genes of the architecture, not settings.
        crate::space::no_such_setting("autoformer", "channels", o.channels)?;
        crate::space::no_such_setting("autoformer", "cells", o.cells)?;
        self.num_classes = o.classes.unwrap_or(self.num_classes);
        self.image_size = o.image_size.unwrap_or(self.image_size);
        Ok(())
    }

    fn validate(&self) -> Result<(), String> {
        AutoformerConfig::validate(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_errors_name_the_setting() {
        assert!(
            AutoformerConfig {
                image_size: 32,
                num_classes: 10
            }
            .validate()
            .is_ok()
        );
        let e = AutoformerConfig {
            image_size: 40,
            num_classes: 10,
        }
        .validate()
        .unwrap_err();
        assert!(
            e.contains("image size 40 is not a positive multiple of the 16-pixel patch"),
            "{e}"
        );
        let e = AutoformerConfig {
            image_size: 0,
            num_classes: 10,
        }
        .validate()
        .unwrap_err();
        assert!(e.contains("image size 0"), "{e}");
        let e = AutoformerConfig {
            image_size: 32,
            num_classes: 0,
        }
        .validate()
        .unwrap_err();
        assert!(e.contains("at least one class"), "{e}");
        assert_eq!(AutoformerConfig::default().basis(), CountBasis::PAPER);
    }
}
