//! The CNN's 3×3 convolutions (padding 1), their transposes and the activations on the CPU
//! autodiff backends (`Autodiff<NdArray>`, `Autodiff<Flex>`), as autodiff operations whose
//! forward and backward run the host kernel's single-layer passes ([`super::host_cnn::Kernel`]).
//!
//! Why: training steps (CD, DSM) differentiate the tracked energy, or the tracked input gradient,
//! once in the parameters. Through Burn's generic ops each convolution's backward copies strided
//! tensors and runs the kernel gradient as a convolution of transposed tensors (41% of a DSM step
//! on Flex, with `StridedIter` and `to_contiguous` alone at 17%), and each activation is a chain
//! of a dozen element-wise ops, each a pass over memory forward and another backward. Here a
//! convolution, its transpose and its kernel gradient are the panel products of the graph-free
//! kernel, split across cores, and an activation with its slope is one pass.
//!
//! These are what `Autodiff<I>`'s [`CpuKernels`] implementation runs when `I` has the CNN's host
//! kernel (`crate::cpu_kernels`); on any other backend, or another dtype, the caller uses Burn's
//! ops. The tests check each operation and its gradients against Burn's.

use burn::backend::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{DType, Tensor, TensorData, TensorMetadata, TensorPrimitive};

use super::Activation;
use super::cores::{cores, for_each_split};
use super::host_cnn::{HostConv, Kernel, dispatch, host_values, with_values};
use crate::cpu_kernels::CpuKernels;

/// A tensor on the autodiff backend over `I` with checkpointing `C`.
type Tracked<I, C, const D: usize> = Tensor<Autodiff<I, C>, D>;

/// `(f(z), f′(z))`, both differentiable in `z`, on an autodiff backend over `I`, when the host
/// kernels take `activation` and `z` is large enough to gain; `None` otherwise.
pub(crate) fn activation_and_slope<I: CpuKernels, C: CheckpointStrategy, const D: usize>(
    z: &Tensor<Autodiff<I, C>, D>,
    activation: Activation,
) -> Option<(Tracked<I, C, D>, Tracked<I, C, D>)> {
    // Below this size the host pass's fixed costs (a copy out of the tensor, the hand-off to the
    // second core) outweigh the tensor-op passes it saves: on the MLP benchmarks' [128, 64]
    // activations, sm_exact_step took 22% longer through it.
    const MIN_ELEMENTS: usize = 1 << 16;
    if z.dtype() != DType::F32
        || matches!(activation, Activation::Gelu)
        || z.shape().num_elements() < MIN_ELEMENTS
    {
        return None;
    }
    Some(activation_tracked::<I, C, D>(z.clone(), activation))
}

/// The geometry of one convolution, from its kernel `[C_out, C_in, 3, 3]`.
fn layer(
    weight: Vec<f32>,
    bias: Vec<f32>,
    dims: [usize; 4],
    stride: usize,
    input: [usize; 2],
) -> HostConv {
    HostConv {
        weight,
        bias,
        c_in: dims[1],
        c_out: dims[0],
        stride,
        input,
    }
}

fn tensor<I: Backend, const D: usize>(t: FloatTensor<I>) -> Tensor<I, D> {
    Tensor::from_primitive(TensorPrimitive::Float(t))
}

fn primitive<I: Backend, const D: usize>(t: Tensor<I, D>) -> FloatTensor<I> {
    t.into_primitive().tensor()
}

/// Runs `f` on each image of a batch of `per_image`-float images, split across cores, each
/// writing its `out_len`-float result into its part of the returned batch.
fn per_image(
    inputs: &[f32],
    per_image: usize,
    out_len: usize,
    f: impl Fn(&dyn Kernel, &[f32], &mut [f32]) + Sync,
) -> Vec<f32> {
    let n = inputs.len() / per_image;
    let mut all = vec![0.0f32; n * out_len];
    let mut pairs: Vec<(&[f32], &mut [f32])> = inputs
        .chunks_exact(per_image)
        .zip(all.chunks_exact_mut(out_len))
        .collect();
    for_each_split(&mut pairs, |(image, out)| dispatch(|k| f(k, image, out)));
    all
}

/// `W ⋆ x + b` on the inner backend.
fn conv_host<I: CpuKernels>(
    x: Tensor<I, 4>,
    weight: Tensor<I, 4>,
    bias: Option<Tensor<I, 1>>,
    stride: usize,
) -> Tensor<I, 4> {
    let (device, [n, _, h, w]) = (x.device(), x.dims());
    let dims = weight.dims();
    let bias = bias.map(host_values).unwrap_or_default();
    let conv = layer(host_values(weight), bias, dims, stride, [h, w]);
    let [ho, wo] = conv.output();
    let z = with_values(x, |x| {
        per_image(x, dims[1] * h * w, conv.output_len(), |k, image, out| {
            k.conv(&conv, image, out)
        })
    });
    Tensor::from_data(TensorData::new(z, [n, dims[0], ho, wo]), &device)
}

/// `Wᵀ ⋆ g` on the inner backend.
fn conv_transpose_host<I: CpuKernels>(
    g: Tensor<I, 4>,
    weight: Tensor<I, 4>,
    stride: usize,
    input: [usize; 2],
) -> Tensor<I, 4> {
    let (device, [n, c_out, ho, wo]) = (g.device(), g.dims());
    let dims = weight.dims();
    let conv = layer(host_values(weight), Vec::new(), dims, stride, input);
    let out_len = dims[1] * input[0] * input[1];
    let y = with_values(g, |g| {
        per_image(g, c_out * ho * wo, out_len, |k, image, out| {
            k.conv_transpose(&conv, image, out)
        })
    });
    Tensor::from_data(
        TensorData::new(y, [n, dims[1], input[0], input[1]]),
        &device,
    )
}

/// `∂/∂W` and `∂/∂b` of `⟨δ, W ⋆ x + b⟩` on the inner backend, the batch split across cores.
fn conv_weight_grad_host<I: CpuKernels>(
    x: Tensor<I, 4>,
    delta: Tensor<I, 4>,
    dims: [usize; 4],
    stride: usize,
) -> (Tensor<I, 4>, Tensor<I, 1>) {
    let (device, [n, c_in, h, w]) = (x.device(), x.dims());
    let conv = layer(Vec::new(), Vec::new(), dims, stride, [h, w]);
    with_values(x, |x| {
        with_values(delta, |delta| {
            conv_weight_grad_values(&conv, x, delta, n, [c_in, h, w], dims, &device)
        })
    })
}

/// [`conv_weight_grad_host`] on the values of `x` and `δ`.
fn conv_weight_grad_values<I: CpuKernels>(
    conv: &HostConv,
    x: &[f32],
    delta: &[f32],
    n: usize,
    [c_in, h, w]: [usize; 3],
    dims: [usize; 4],
    device: &I::Device,
) -> (Tensor<I, 4>, Tensor<I, 1>) {
    let (x_len, d_len) = (c_in * h * w, conv.output_len());
    let kernel_len = dims.iter().product::<usize>();
    let run = n.div_ceil(cores()).max(1);
    let mut parts: Vec<(usize, Vec<f32>)> = (0..n)
        .step_by(run)
        .map(|first| (first, vec![0.0f32; kernel_len]))
        .collect();
    for_each_split(&mut parts, |(first, sum)| {
        dispatch(|k| {
            for i in *first..(*first + run).min(n) {
                let image = &x[i * x_len..(i + 1) * x_len];
                k.conv_weight_grad(conv, image, &delta[i * d_len..(i + 1) * d_len], sum);
            }
        })
    });
    let mut weight = vec![0.0f32; kernel_len];
    for (_, part) in &parts {
        for (w, p) in weight.iter_mut().zip(part) {
            *w += p;
        }
    }
    let positions = d_len / dims[0];
    let mut bias = vec![0.0f32; dims[0]];
    for image in delta.chunks_exact(d_len) {
        for (b, plane) in bias.iter_mut().zip(image.chunks_exact(positions)) {
            *b += plane.iter().sum::<f32>();
        }
    }
    (
        Tensor::from_data(TensorData::new(weight, dims), device),
        Tensor::from_data(TensorData::new(bias, [dims[0]]), device),
    )
}

/// Runs `f` over `values` in blocks split across cores.
fn elementwise(
    values: &mut [f32],
    out: &mut [f32],
    f: impl Fn(&dyn Kernel, &mut [f32], &mut [f32]) + Sync,
) {
    const BLOCK: usize = 1 << 14;
    let mut blocks: Vec<(&mut [f32], &mut [f32])> = values
        .chunks_mut(BLOCK)
        .zip(out.chunks_mut(BLOCK))
        .collect();
    for_each_split(&mut blocks, |(v, o)| dispatch(|k| f(k, v, o)));
}

/// The backward step of the activation's value: `∂z = ∂f ⊙ f′(z)`.
#[derive(Debug)]
struct ActivationBackward;

impl<I: CpuKernels> Backward<I, 1> for ActivationBackward {
    /// `f′(z)`.
    type State = FloatTensor<I>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node] = ops.parents;
        let grad = grads.consume::<I>(&ops.node);
        if let Some(node) = node {
            grads.register::<I>(node.id, I::float_mul(grad, ops.state));
        }
    }
}

/// The backward step of the activation's slope: `∂z = ∂f′ ⊙ f″(z)`.
#[derive(Debug)]
struct SlopeBackward;

impl<I: CpuKernels> Backward<I, 1> for SlopeBackward {
    /// `z` and the activation.
    type State = (FloatTensor<I>, Activation);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node] = ops.parents;
        let grad = grads.consume::<I>(&ops.node);
        let Some(node) = node else { return };
        let (z, activation) = ops.state;
        // Rank-agnostic: the state is a primitive of any rank.
        let (shape, device) = (z.shape(), I::float_device(&z));
        let mut values = host_values(tensor::<I, 1>(z));
        let mut curvature = vec![0.0f32; values.len()];
        elementwise(&mut values, &mut curvature, |k, z, out| {
            k.curvature(activation, z, out)
        });
        let curvature = I::float_from_data(TensorData::new(curvature, shape), &device);
        grads.register::<I>(node.id, I::float_mul(grad, curvature));
    }
}

fn activation_tracked<I: CpuKernels, C: CheckpointStrategy, const D: usize>(
    z: Tensor<Autodiff<I, C>, D>,
    activation: Activation,
) -> (Tracked<I, C, D>, Tracked<I, C, D>) {
    let z = primitive(z);
    let inner: Tensor<I, D> = tensor(z.primitive.clone());
    let (shape, device) = (inner.shape(), inner.device());
    let mut values = host_values(inner);
    let mut slope = vec![0.0f32; values.len()];
    elementwise(&mut values, &mut slope, |k, z, slope| {
        k.activate(activation, z, slope)
    });
    let f = primitive(Tensor::<I, D>::from_data(
        TensorData::new(values, shape.clone()),
        &device,
    ));
    let slope = primitive(Tensor::<I, D>::from_data(
        TensorData::new(slope, shape),
        &device,
    ));
    let value = match ActivationBackward
        .prepare::<C>([z.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(slope.clone(), f),
        OpsKind::UnTracked(prep) => prep.finish(f),
    };
    let slope = match SlopeBackward
        .prepare::<C>([z.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish((z.primitive, activation), slope),
        OpsKind::UnTracked(prep) => prep.finish(slope),
    };
    (tensor(value), tensor(slope))
}

/// The backward step of [`conv`]: `∂x = Wᵀ ⋆ ∂z`, `(∂W, ∂b)` from `x` and `∂z`.
#[derive(Debug)]
struct ConvBackward;

impl<I: CpuKernels> Backward<I, 3> for ConvBackward {
    /// `x`, `W`, the stride.
    type State = (FloatTensor<I>, FloatTensor<I>, usize);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w, node_b] = ops.parents;
        let grad: Tensor<I, 4> = tensor(grads.consume::<I>(&ops.node));
        let (x, weight, stride) = ops.state;
        let (x, weight): (Tensor<I, 4>, Tensor<I, 4>) = (tensor(x), tensor(weight));
        let [_, _, h, w] = x.dims();
        if node_w.is_some() || node_b.is_some() {
            let (dw, db) = conv_weight_grad_host(x, grad.clone(), weight.dims(), stride);
            if let Some(node) = node_w {
                grads.register::<I>(node.id, primitive(dw));
            }
            if let Some(node) = node_b {
                grads.register::<I>(node.id, primitive(db));
            }
        }
        if let Some(node) = node_x {
            let dx = conv_transpose_host(grad, weight, stride, [h, w]);
            grads.register::<I>(node.id, primitive(dx));
        }
    }
}

/// The backward step of [`conv_transpose`] (`y = Wᵀ ⋆ g`): `∂g = W ⋆ ∂y`, and `∂W` is the
/// kernel gradient of a convolution of `∂y` whose output signal is `g`.
#[derive(Debug)]
struct ConvTransposeBackward;

impl<I: CpuKernels> Backward<I, 2> for ConvTransposeBackward {
    /// `g`, `W`, the stride.
    type State = (FloatTensor<I>, FloatTensor<I>, usize);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_g, node_w] = ops.parents;
        let grad: Tensor<I, 4> = tensor(grads.consume::<I>(&ops.node));
        let (g, weight, stride) = ops.state;
        let (g, weight): (Tensor<I, 4>, Tensor<I, 4>) = (tensor(g), tensor(weight));
        if let Some(node) = node_w {
            let (dw, _) = conv_weight_grad_host(grad.clone(), g, weight.dims(), stride);
            grads.register::<I>(node.id, primitive(dw));
        }
        if let Some(node) = node_g {
            grads.register::<I>(node.id, primitive(conv_host(grad, weight, None, stride)));
        }
    }
}

pub(crate) fn conv_tracked<I: CpuKernels, C: CheckpointStrategy>(
    x: Tensor<Autodiff<I, C>, 4>,
    weight: Tensor<Autodiff<I, C>, 4>,
    bias: Option<Tensor<Autodiff<I, C>, 1>>,
    stride: usize,
) -> Tensor<Autodiff<I, C>, 4> {
    let device = x.device();
    let c_out = weight.dims()[0];
    let bias = bias.unwrap_or_else(|| Tensor::zeros([c_out], &device));
    let (x, weight, bias) = (primitive(x), primitive(weight), primitive(bias));
    let z = primitive(conv_host::<I>(
        tensor(x.primitive.clone()),
        tensor(weight.primitive.clone()),
        Some(tensor(bias.primitive.clone())),
        stride,
    ));
    let prep = ConvBackward
        .prepare::<C>([x.node.clone(), weight.node.clone(), bias.node.clone()])
        .compute_bound()
        .stateful();
    let out = match prep {
        OpsKind::Tracked(prep) => prep.finish((x.primitive, weight.primitive, stride), z),
        OpsKind::UnTracked(prep) => prep.finish(z),
    };
    tensor(out)
}

pub(crate) fn conv_transpose_tracked<I: CpuKernels, C: CheckpointStrategy>(
    g: Tensor<Autodiff<I, C>, 4>,
    weight: Tensor<Autodiff<I, C>, 4>,
    stride: usize,
    input: [usize; 2],
) -> Tensor<Autodiff<I, C>, 4> {
    let (g, weight) = (primitive(g), primitive(weight));
    let y = primitive(conv_transpose_host::<I>(
        tensor(g.primitive.clone()),
        tensor(weight.primitive.clone()),
        stride,
        input,
    ));
    let prep = ConvTransposeBackward
        .prepare::<C>([g.node.clone(), weight.node.clone()])
        .compute_bound()
        .stateful();
    let out = match prep {
        OpsKind::Tracked(prep) => prep.finish((g.primitive, weight.primitive, stride), y),
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    tensor(out)
}

#[cfg(all(test, feature = "ndarray"))]
mod tests {
    use burn::tensor::module::{conv_transpose2d, conv2d};
    use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
    use rand::{Rng, SeedableRng};

    use super::*;

    type A = Autodiff<burn::backend::NdArray>;

    fn leaf<const D: usize>(shape: [usize; D], seed: u64) -> Tensor<A, D> {
        ebm_testing::normal::<A, D>(shape, 1.0, seed, &Default::default()).require_grad()
    }

    fn assert_close<const D: usize>(what: &str, ours: Tensor<A, D>, burn: Tensor<A, D>) {
        assert_eq!(ours.dims(), burn.dims(), "{what}");
        let ours = ours.into_data().to_vec::<f32>().unwrap();
        let burn = burn.into_data().to_vec::<f32>().unwrap();
        let scale = burn.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        for (i, (a, b)) in ours.iter().zip(&burn).enumerate() {
            assert!(
                (a - b).abs() <= 1e-5 * scale,
                "{what}[{i}]: {a} vs Burn's {b}"
            );
        }
    }

    /// Both operations and the gradients of `⟨r, output⟩` in every input against Burn's own
    /// `conv2d` and `conv_transpose2d`, over random shapes: strides 1–3, odd and even sizes,
    /// channel counts that leave partial tiles and more than one panel of taps, and batches
    /// split across cores.
    #[test]
    fn convolutions_and_their_gradients_match_burns() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        for case in 0..16u64 {
            let (c_in, c_out) = (rng.random_range(1..=7), rng.random_range(1..=40));
            let (h, w, s) = (
                rng.random_range(3..=12),
                rng.random_range(3..=12),
                rng.random_range(1..=3),
            );
            let n = [1, 3, 5, 8][case as usize % 4];
            let (ho, wo) = ((h - 1) / s + 1, (w - 1) / s + 1);
            let what =
                |name: &str| format!("case {case} {c_in}->{c_out} {h}x{w}/{s} n={n}: {name}");

            let (x, weight, bias) = (
                leaf([n, c_in, h, w], case * 10),
                leaf([c_out, c_in, 3, 3], case * 10 + 1),
                leaf([c_out], case * 10 + 2),
            );
            let r = leaf([n, c_out, ho, wo], case * 10 + 3).detach();
            let ours = A::conv3x3_tracked(&x, &weight, Some(&bias), s)
                .expect("host path on Autodiff<NdArray>");
            let options = ConvOptions::new([s, s], [1, 1], [1, 1], 1);
            let burn = conv2d(x.clone(), weight.clone(), Some(bias.clone()), options);
            assert_close(&what("conv"), ours.clone(), burn.clone());
            let g_ours = (ours * r.clone()).sum().backward();
            let g_burn = (burn * r).sum().backward();
            for (name, t) in [("conv ∂x", &x), ("conv ∂W", &weight)] {
                let (a, b) = (t.grad(&g_ours).unwrap(), t.grad(&g_burn).unwrap());
                assert_close(&what(name), Tensor::from_inner(a), Tensor::from_inner(b));
            }
            let (a, b) = (bias.grad(&g_ours).unwrap(), bias.grad(&g_burn).unwrap());
            assert_close(
                &what("conv ∂b"),
                Tensor::from_inner(a),
                Tensor::from_inner(b),
            );

            // Fresh leaves: a leaf's node goes with the graph that a backward pass consumed.
            let (g, weight) = (
                leaf([n, c_out, ho, wo], case * 10 + 4),
                leaf([c_out, c_in, 3, 3], case * 10 + 6),
            );
            let r = leaf([n, c_in, h, w], case * 10 + 5).detach();
            let ours = A::conv3x3_transpose_tracked(&g, &weight, s, [h, w]).expect("host path");
            let pad_out = |input: usize, out: usize| input + 2 - ((out - 1) * s + 3);
            let options = ConvTransposeOptions::new(
                [s, s],
                [1, 1],
                [pad_out(h, ho), pad_out(w, wo)],
                [1, 1],
                1,
            );
            let burn = conv_transpose2d(g.clone(), weight.clone(), None, options);
            assert_close(&what("transpose"), ours.clone(), burn.clone());
            let g_ours = (ours * r.clone()).sum().backward();
            let g_burn = (burn * r).sum().backward();
            for (name, t) in [("transpose ∂g", &g), ("transpose ∂W", &weight)] {
                let (a, b) = (t.grad(&g_ours).unwrap(), t.grad(&g_burn).unwrap());
                assert_close(&what(name), Tensor::from_inner(a), Tensor::from_inner(b));
            }
        }
    }

    /// The activation and its slope, and the gradient of `⟨r₁, f(z)⟩ + ⟨r₂, f′(z)⟩` in `z`
    /// (which takes `f′` and `f″`), against Burn's tensor-op derivatives, for every activation
    /// the host kernels take, on values of both signs and a 3-D tensor split across cores.
    #[test]
    fn activations_and_their_gradients_match_the_tensor_ops() {
        let shape = [3, 70, 331];
        for (case, act) in Activation::ALL_FOR_TESTS.into_iter().enumerate() {
            let z = leaf(shape, 100 + case as u64)
                .mul_scalar(2.0)
                .detach()
                .require_grad();
            let (r1, r2) = (leaf(shape, 200).detach(), leaf(shape, 300).detach());
            if matches!(act, Activation::Gelu) {
                assert!(A::activation_and_slope_tracked(&z, act).is_none());
                continue;
            }
            let (f, slope) = A::activation_and_slope_tracked(&z, act).expect("host path");
            let z_ref = z.clone().detach().require_grad();
            let (f_ref, slope_ref, _) = act.derivatives(z_ref.clone().reshape([3 * 70, 331]));
            let (f_ref, slope_ref) = (f_ref.reshape(shape), slope_ref.reshape(shape));
            let what = |name: &str| format!("{act:?} {name}");
            assert_close(&what("f"), f.clone(), f_ref.clone());
            assert_close(&what("f′"), slope.clone(), slope_ref.clone());
            let grads = ((f * r1.clone()).sum() + (slope * r2.clone()).sum()).backward();
            let grads_ref = ((f_ref * r1).sum() + (slope_ref * r2).sum()).backward();
            assert_close(
                &what("∂z"),
                Tensor::from_inner(z.grad(&grads).unwrap()),
                Tensor::from_inner(z_ref.grad(&grads_ref).unwrap()),
            );
        }
    }

    #[test]
    fn other_backends_and_dtypes_take_burns_ops() {
        let device = Default::default();
        let x = Tensor::<burn::backend::NdArray, 4>::zeros([1, 1, 4, 4], &device);
        let w = Tensor::<burn::backend::NdArray, 4>::zeros([2, 1, 3, 3], &device);
        type Plain = burn::backend::NdArray;
        assert!(Plain::conv3x3_tracked(&x, &w, None, 1).is_none());
        assert!(Plain::conv3x3_transpose_tracked(&x, &w, 1, [4, 4]).is_none());
        assert!(Plain::activation_and_slope_tracked(&x, Activation::Selu).is_none());
        let small = Tensor::<A, 2>::zeros([128, 64], &device);
        assert!(A::activation_and_slope_tracked(&small, Activation::Selu).is_none());
        let double = Tensor::<A, 4>::zeros([1, 1, 4, 4], (&device, DType::F64));
        let w64 = Tensor::<A, 4>::zeros([2, 1, 3, 3], (&device, DType::F64));
        assert!(A::conv3x3_tracked(&double, &w64, None, 1).is_none());
    }
}
