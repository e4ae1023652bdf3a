//! The convolutions of the CPU backend, on our own kernels: forward, input
//! gradient and weight gradient as im2col + `gemm` per sample
//! (`host_grads`), wired into burn's autodiff as a custom op on burn-flex
//! tensors. burn-flex's own conv2d tiles 512 pixels per GEMM of `cout`
//! rows after an NHWC copy, and its backward goes through a transposed
//! convolution; on NB201's layers that ran at about a fifth of the GEMM
//! peak (`bench`). Tensors on any other backend (wgpu) take burn's conv2d.

use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, Tensor, TensorData};
use burn_autodiff::Autodiff;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};
use burn_flex::{Flex, FlexTensor};

use super::host_grads::{ConvGeometry, conv_forward, conv_input_grad, conv_weight_grad};

/// A 2-D convolution without bias: burn's `conv2d` semantics, on the host
/// kernels when both tensors are f32 burn-flex autodiff tensors with
/// symmetric options.
pub fn conv2d_fast(x: Tensor<4>, weight: Tensor<4>, options: ConvOptions<2>) -> Tensor<4> {
    match host_conv(&x, &weight, &options) {
        Some(out) => out,
        None => conv2d(x, weight, None, options),
    }
}

/// Shapes and geometry of one convolution, kept for its backward pass.
#[derive(Clone, Copy, Debug)]
struct ConvShapes {
    x: [usize; 4],
    cout: usize,
    geometry: ConvGeometry,
}

impl ConvShapes {
    fn out(&self) -> [usize; 4] {
        let [s, _, h, w] = self.x;
        [s, self.cout, self.geometry.out_side(h), self.geometry.out_side(w)]
    }
}

#[derive(Debug)]
struct HostConvBackward;

impl Backward<Flex, 2> for HostConvBackward {
    /// The input and the weight as the forward read them (contiguous f32).
    type State = (FlexTensor, FlexTensor, ConvShapes);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node).to_contiguous();
        let (x, weight, shapes) = ops.state;
        let dout = f32_slice(&grad);
        if let Some(node) = node_x {
            let [_, cin, h, w] = shapes.x;
            let dx = conv_input_grad(dout, shapes.out(), f32_slice(&weight), [cin, h, w], shapes.geometry);
            grads.register::<Flex>(node.id, flex(dx, shapes.x.to_vec()));
        }
        if let Some(node) = node_w {
            let dw = conv_weight_grad(f32_slice(&x), shapes.x, dout, shapes.out(), shapes.geometry);
            let dims = weight.layout().shape().to_vec();
            grads.register::<Flex>(node.id, flex(dw, dims));
        }
    }
}

fn f32_slice(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>().expect("host conv tensors are contiguous f32")
}

fn flex(values: Vec<f32>, shape: Vec<usize>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

fn host_conv(x: &Tensor<4>, weight: &Tensor<4>, options: &ConvOptions<2>) -> Option<Tensor<4>> {
    if x.dtype() != DType::F32 || weight.dtype() != DType::F32 {
        return None;
    }
    let [stride, stride_w] = options.stride;
    let [(padding, pad_end), (pad_w, pad_w_end)] = options.padding;
    let [dilation, dilation_w] = options.dilation;
    let [cout, _, kernel, kernel_w] = weight.dims();
    let same = |v: [usize; 4]| v.iter().all(|&u| u == v[0]);
    if !same([padding, pad_end, pad_w, pad_w_end]) || stride != stride_w || dilation != dilation_w || kernel != kernel_w
    {
        return None;
    }
    let geometry = ConvGeometry {
        kernel,
        stride,
        padding,
        dilation,
        groups: options.groups,
    };
    let xa = x.clone().try_into_primitive::<Autodiff<Flex>>().ok()?;
    let wa = weight.clone().try_into_primitive::<Autodiff<Flex>>().ok()?;
    let shapes = ConvShapes {
        x: x.dims(),
        cout,
        geometry,
    };
    let xs = xa.primitive().to_contiguous();
    let ws = wa.primitive().to_contiguous();
    let out = conv_forward(f32_slice(&xs), shapes.x, f32_slice(&ws), cout, geometry);
    let out = flex(out, shapes.out().to_vec());
    let result = match HostConvBackward
        .prepare::<NoCheckpointing>([xa.node(), wa.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish((xs, ws, shapes), out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    };
    Some(Tensor::from_primitive::<Autodiff<Flex>>(result))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    fn values(n: usize, a: usize, b: usize) -> Vec<f32> {
        (0..n)
            .map(|i| ((i * a % b) as f32 - b as f32 / 2.0) / b as f32)
            .collect()
    }

    /// Values, input gradients and weight gradients of the host kernels
    /// against burn-flex's own conv2d (an independent implementation) for
    /// every geometry the spaces use: 3x3 / 5x5 / 1x1, strides 1 and 2,
    /// dilation 2, depthwise and grouped, asymmetric sides.
    #[test]
    fn host_convolutions_match_burns_values_and_gradients() {
        let device = Device::flex().autodiff();
        let (s, h, w) = (3, 9, 8);
        for (cin, cout, k, stride, pad, dil, groups) in [
            (4, 6, 3, 1, 1, 1, 1),
            (4, 6, 3, 2, 1, 1, 1),
            (3, 5, 1, 1, 0, 1, 1),
            (4, 6, 1, 2, 0, 1, 1),
            (6, 6, 3, 1, 1, 1, 6),
            (6, 6, 5, 2, 2, 1, 6),
            (6, 6, 3, 1, 2, 2, 6),
            (6, 6, 5, 1, 4, 2, 6),
            (4, 6, 3, 1, 1, 1, 2),
            (2, 3, 3, 1, 0, 1, 1),
        ] {
            let opts = ConvOptions::new([stride; 2], [pad; 2], [dil; 2], groups);
            let x_data = TensorData::new(values(s * cin * h * w, 37, 101), [s, cin, h, w]);
            let w_data = TensorData::new(values(cout * cin / groups * k * k, 53, 89), [cout, cin / groups, k, k]);
            let run = |fast: bool| {
                let x = Tensor::<4>::from_data(x_data.clone(), &device).require_grad();
                let wt = Tensor::<4>::from_data(w_data.clone(), &device).require_grad();
                let out = if fast {
                    conv2d_fast(x.clone(), wt.clone(), opts.clone())
                } else {
                    conv2d(x.clone(), wt.clone(), None, opts.clone())
                };
                let dims = out.dims();
                let r = Tensor::<4>::from_data(TensorData::new(values(dims.iter().product(), 29, 97), dims), &device);
                let grads = (out.clone() * r).sum().backward();
                let read = |t: Tensor<4>| t.into_data().to_vec::<f32>().unwrap();
                (
                    dims,
                    read(out.detach()),
                    read(x.grad(&grads).unwrap()),
                    read(wt.grad(&grads).unwrap()),
                )
            };
            let (fast, burn) = (run(true), run(false));
            let case = format!("cin {cin} cout {cout} k {k} stride {stride} pad {pad} dil {dil} groups {groups}");
            assert_eq!(fast.0, burn.0, "{case}: output shape");
            for (what, a, b) in [
                ("output", &fast.1, &burn.1),
                ("input grad", &fast.2, &burn.2),
                ("weight grad", &fast.3, &burn.3),
            ] {
                assert_eq!(a.len(), b.len(), "{case} {what}");
                for (i, (u, v)) in a.iter().zip(b).enumerate() {
                    assert!(
                        (u - v).abs() <= 1e-5 * (1.0 + v.abs()),
                        "{case} {what}[{i}]: {u} vs {v}"
                    );
                }
            }
        }
    }

    /// A pass without gradients (no tracked input) still convolves, and a
    /// tensor of another precision takes burn's path.
    #[test]
    fn untracked_and_double_convolutions_agree_with_burn() {
        let device = Device::flex().autodiff();
        let x = Tensor::<4>::from_data(TensorData::new(values(2 * 3 * 5 * 5, 7, 31), [2, 3, 5, 5]), &device);
        let w = Tensor::<4>::from_data(TensorData::new(values(4 * 3 * 9, 11, 23), [4, 3, 3, 3]), &device);
        let opts = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
        let fast = conv2d_fast(x.clone(), w.clone(), opts.clone())
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        let burn = conv2d(x.clone(), w.clone(), None, opts.clone())
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        for (u, v) in fast.iter().zip(&burn) {
            assert!((u - v).abs() <= 1e-5 * (1.0 + v.abs()), "{u} vs {v}");
        }
        let (x64, w64) = (x.cast(DType::F64), w.cast(DType::F64));
        let out = conv2d_fast(x64, w64, opts).into_data().to_vec::<f64>().unwrap();
        for (u, v) in out.iter().zip(&burn) {
            assert!((u - *v as f64).abs() <= 1e-5 * (1.0 + v.abs() as f64), "{u} vs {v}");
        }
    }
}
