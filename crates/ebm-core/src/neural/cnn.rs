//! Convolutional energy for images, with its head size computed from the input size.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use crate::cpu_kernels::{CpuKernels, EbmBackend};
use burn::tensor::module::{conv_transpose2d, conv2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};

use super::Activation;
use super::column_product::column_product;
use super::init::ParamInit;
use crate::energy::{Energy, Inner, SecondOrderEnergy};
use crate::error::{EnergyError, MAX_TENSOR_ELEMENTS, Result, require_finite_tensor, require_size};

/// One 3×3 convolution (padding 1) of a [`Cnn`].
#[derive(Config, Debug, Copy, PartialEq)]
pub struct ConvLayerConfig {
    /// Output channels.
    pub channels: usize,
    /// Stride (1 keeps the size, 2 halves it, rounding up).
    pub stride: usize,
}

crate::json_config!(
    ConvLayerConfig,
    required = ["channels", "stride"],
    template = ConvLayerConfig::new(0, 0)
);

/// Builds a [`Cnn`]: convolutions, then `Linear(features, head_hidden) → act → Linear(·, 1)`.
///
/// The defaults are TorchEBM's documented image energy (32, 32/2, 64, 64/2, 128, 128/2, SELU,
/// head 128). TorchEBM sizes its head as `128·(W/8)·(H/8)`, which is wrong for 28×28 inputs
/// (the convolutions give 4×4, not 3×3); here the size is computed from the actual convolution
/// arithmetic, `out = ⌊(in + 2 − 3)/stride⌋ + 1`, so any input size works.
#[derive(Config, Debug)]
pub struct CnnConfig {
    /// Input channels `C`.
    pub channels: usize,
    /// Input height `H`.
    pub height: usize,
    /// Input width `W`.
    pub width: usize,
    /// The convolutions, in order.
    #[config(default = "CnnConfig::torchebm_layers()")]
    pub layers: Vec<ConvLayerConfig>,
    /// Width of the hidden layer of the head.
    #[config(default = 128)]
    pub head_hidden: usize,
    /// Activation after every convolution and the head's hidden layer.
    #[config(default = "Activation::Selu")]
    pub activation: Activation,
    /// Seed of the initialisation: the same seed gives the same weights, on every backend.
    #[config(default = 0)]
    pub seed: u64,
}

crate::json_config!(
    CnnConfig,
    required = ["channels", "height", "width"],
    template = CnnConfig::new(0, 0, 0)
);

impl CnnConfig {
    /// TorchEBM's six convolutions: 32, 32/2, 64, 64/2, 128, 128/2.
    pub fn torchebm_layers() -> Vec<ConvLayerConfig> {
        [(32, 1), (32, 2), (64, 1), (64, 2), (128, 1), (128, 2)]
            .into_iter()
            .map(|(channels, stride)| ConvLayerConfig { channels, stride })
            .collect()
    }

    /// Spatial size `(H', W')` after the convolutions.
    pub fn feature_size(&self) -> (usize, usize) {
        self.layers
            .iter()
            .fold((self.height, self.width), |(h, w), l| {
                ((h - 1) / l.stride + 1, (w - 1) / l.stride + 1)
            })
    }

    /// Builds the network on `device`.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<Cnn<B>> {
        for (name, v) in [
            ("channels", self.channels),
            ("height", self.height),
            ("width", self.width),
            ("head_hidden", self.head_hidden),
        ] {
            if v == 0 {
                return Err(EnergyError::InvalidParameter(crate::InvalidParameter::new(
                    name,
                    0usize,
                    "must be > 0",
                )));
            }
        }
        if self.layers.is_empty() {
            return Err(EnergyError::Empty { what: "CNN layers" });
        }
        if let Some(l) = self
            .layers
            .iter()
            .find(|l| l.channels == 0 || l.stride == 0)
        {
            return Err(EnergyError::InvalidParameter(crate::InvalidParameter::new(
                "conv layer channels/stride",
                l.channels.min(l.stride),
                "must be > 0",
            )));
        }
        self.activation.validate()?;
        require_size(
            "CNN input image",
            &[self.channels, self.height, self.width],
            MAX_TENSOR_ELEMENTS,
        )?;
        let mut c_in = self.channels;
        for l in &self.layers {
            require_size(
                "CNN conv kernel",
                &[l.channels, c_in, 9],
                MAX_TENSOR_ELEMENTS,
            )?;
            c_in = l.channels;
        }
        let (h, w) = self.feature_size();
        require_size(
            "CNN head weight matrix",
            &[c_in, h, w, self.head_hidden],
            MAX_TENSOR_ELEMENTS,
        )?;
        // Burn's layers with their default initialisers, whose lazy parameters are replaced
        // (before anything draws them) by values from our own seeded generator.
        let mut rng = ParamInit::new(self.seed);
        let mut c_in = self.channels;
        let convs = self
            .layers
            .iter()
            .map(|l| {
                let config = Conv2dConfig::new([c_in, l.channels], [3, 3])
                    .with_stride([l.stride, l.stride])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1));
                let mut conv = config.init(device);
                let (fan_in, fan_out) = (c_in * 9, l.channels * 9);
                let init = &config.initializer;
                conv.weight = rng.param(init, [l.channels, c_in, 3, 3], fan_in, fan_out, device);
                conv.bias = Some(rng.param(init, [l.channels], fan_in, fan_out, device));
                c_in = l.channels;
                conv
            })
            .collect();
        let (h, w) = self.feature_size();
        let features = c_in * h * w;
        let mut linear = |d_in: usize, d_out: usize| {
            let config = LinearConfig::new(d_in, d_out);
            let mut layer = config.init(device);
            let init = &config.initializer;
            layer.weight = rng.param(init, [d_in, d_out], d_in, d_out, device);
            layer.bias = Some(rng.param(init, [d_out], d_in, d_out, device));
            layer
        };
        Ok(Cnn {
            convs,
            hidden: linear(features, self.head_hidden),
            output: linear(self.head_hidden, 1),
            activation: self.activation,
            image_shape: [self.channels, self.height, self.width],
        })
    }
}

/// Convolutional image energy.
///
/// As an [`Energy`] it takes images flattened row-major to `[N, C·H·W]`, so samplers treat
/// every energy alike; [`Cnn::energy_images`] takes `[N, C, H, W]`.
///
/// Its input gradient and Hessian-vector products are written by hand, as for [`super::Mlp`]:
/// a forward sweep of convolutions, then a backward sweep of transposed convolutions
/// (`conv_transpose2d` with the same kernels), and for `H·v` the forward-mode tangent of both
/// sweeps. Each op is differentiated once by Burn's autodiff, so score matching (exact,
/// sliced, Hutchinson, denoising) trains a `Cnn` on every backend: it implements
/// [`SecondOrderEnergy`].
///
/// ```
/// use burn::backend::{Autodiff, NdArray};
/// use burn::tensor::Tensor;
/// use ebm_core::neural::{CnnConfig, ConvLayerConfig};
/// use ebm_core::{Energy, SecondOrderEnergy};
///
/// type B = Autodiff<NdArray>;
/// let device = Default::default();
/// let cnn = CnnConfig::new(1, 8, 8)
///     .with_layers(vec![ConvLayerConfig::new(4, 2)])
///     .with_head_hidden(8)
///     .init::<B>(&device)
///     .unwrap();
/// let x = Tensor::<NdArray, 2>::zeros([3, 64], &device);
/// let (e, g) = cnn.energy_and_grad(x);
/// assert_eq!((e.dims(), g.dims()), ([3], [3, 64]));
/// ```
#[derive(Module, Debug)]
pub struct Cnn<B: Backend> {
    /// The 3×3 convolutions (padding 1, with biases), input first.
    pub convs: Vec<Conv2d<B>>,
    /// The head's hidden layer, `[features, head_hidden]`.
    pub hidden: Linear<B>,
    /// The head's output layer, `[head_hidden, 1]`.
    pub output: Linear<B>,
    #[module(skip)]
    activation: Activation,
    #[module(skip)]
    image_shape: [usize; 3],
}

/// One 3×3 convolution's parameters (padding 1) on some backend, with the spatial size it reads.
pub(super) struct ConvWeights<Bk: Backend> {
    /// `[C_out, C_in, 3, 3]`.
    pub(super) weight: Tensor<Bk, 4>,
    /// `[C_out]`.
    pub(super) bias: Tensor<Bk, 1>,
    pub(super) stride: usize,
    /// `(H, W)` of this layer's input.
    pub(super) input_size: [usize; 2],
}

impl<Bk: CpuKernels> ConvWeights<Bk> {
    fn options(&self) -> ConvOptions<2> {
        ConvOptions::new([self.stride; 2], [1, 1], [1, 1], 1)
    }

    /// `z = W ⋆ x + b`.
    pub(super) fn forward(&self, x: Tensor<Bk, 4>) -> Tensor<Bk, 4> {
        if let Some(z) = Bk::conv3x3_tracked(&x, &self.weight, Some(&self.bias), self.stride) {
            return z;
        }
        conv2d(
            x,
            self.weight.clone(),
            Some(self.bias.clone()),
            self.options(),
        )
    }

    /// `W ⋆ ẋ`, the linear part (tangents carry no bias).
    pub(super) fn tangent(&self, x_dot: Tensor<Bk, 4>) -> Tensor<Bk, 4> {
        if let Some(z) = Bk::conv3x3_tracked(&x_dot, &self.weight, None, self.stride) {
            return z;
        }
        conv2d(x_dot, self.weight.clone(), None, self.options())
    }

    /// The adjoint of [`ConvWeights::tangent`]: pulls a signal on the output back to the input.
    /// A strided convolution drops the last rows and columns when `in + 2 − 3` is odd; the
    /// output padding restores the input size exactly.
    pub(super) fn backward(&self, g: Tensor<Bk, 4>) -> Tensor<Bk, 4> {
        if let Some(y) =
            Bk::conv3x3_transpose_tracked(&g, &self.weight, self.stride, self.input_size)
        {
            return y;
        }
        let [_, _, oh, ow] = g.dims();
        let s = self.stride;
        let pad_out = |input: usize, out: usize| input + 2 - ((out - 1) * s + 3);
        let options = ConvTransposeOptions::new(
            [s; 2],
            [1, 1],
            [
                pad_out(self.input_size[0], oh),
                pad_out(self.input_size[1], ow),
            ],
            [1, 1],
            1,
        );
        conv_transpose2d(g, self.weight.clone(), None, options)
    }
}

/// A CNN's parameters on some backend (tracked or not).
struct CnnWeights<Bk: Backend> {
    convs: Vec<ConvWeights<Bk>>,
    /// `[features, head_hidden]`.
    hidden_w: Tensor<Bk, 2>,
    hidden_b: Tensor<Bk, 1>,
    /// `[head_hidden, 1]`.
    out_w: Tensor<Bk, 2>,
    out_b: Tensor<Bk, 1>,
}

/// Applies a function of `[rows, cols]` tensors to a `[N, C, H, W]` one.
fn per_element<Bk: CpuKernels, R>(
    z: Tensor<Bk, 4>,
    f: impl FnOnce(Tensor<Bk, 2>) -> R,
) -> (R, [usize; 4]) {
    let dims = z.dims();
    (f(z.reshape([dims[0], dims[1] * dims[2] * dims[3]])), dims)
}

impl<Bk: CpuKernels> CnnWeights<Bk> {
    fn energy(&self, act: Activation, images: Tensor<Bk, 4>) -> Tensor<Bk, 1> {
        let n = images.dims()[0];
        let features = self
            .convs
            .iter()
            .fold(images, |x, conv| act.apply(conv.forward(x)));
        let flat: Tensor<Bk, 2> = features.flatten(1, 3);
        let h = act.apply(flat.matmul(self.hidden_w.clone()) + self.hidden_b.clone().unsqueeze());
        (column_product(h, self.out_w.clone()) + self.out_b.clone().unsqueeze()).reshape([n])
    }

    /// Energy and `∇ₓE` (as `[N, C, H, W]`): the forward sweep keeps every `f′(z)`, then the
    /// backward sweep `g ← Wᵀ ⋆ (g ⊙ f′(z))`.
    fn energy_and_grad(
        &self,
        act: Activation,
        images: Tensor<Bk, 4>,
    ) -> (Tensor<Bk, 1>, Tensor<Bk, 4>) {
        let n = images.dims()[0];
        let mut slopes = Vec::with_capacity(self.convs.len());
        let mut a = images;
        for conv in &self.convs {
            let ((f, d1), dims) = per_element(conv.forward(a), |z| act.value_and_slope(z));
            slopes.push(d1.reshape(dims));
            a = f.reshape(dims);
        }
        let feature_dims = a.dims();
        let flat: Tensor<Bk, 2> = a.flatten(1, 3);
        let (h, h_slope) = act.value_and_slope(
            flat.matmul(self.hidden_w.clone()) + self.hidden_b.clone().unsqueeze(),
        );
        let e =
            (column_product(h, self.out_w.clone()) + self.out_b.clone().unsqueeze()).reshape([n]);
        let g_head = h_slope * self.out_w.clone().transpose();
        let mut g: Tensor<Bk, 4> = g_head
            .matmul(self.hidden_w.clone().transpose())
            .reshape(feature_dims);
        for (conv, d1) in self.convs.iter().zip(slopes).rev() {
            g = conv.backward(g * d1);
        }
        (e, g)
    }

    /// `∇ₓE` (`[N, C, H, W]`) and `H·vₚ` (`[P·N, C, H, W]`) by forward-mode differentiation of
    /// the backward sweep; `v` holds `P` probes per sample, row `p·N + i` probing sample `i`.
    /// The forward and gradient sweeps run on the `N` samples once, the tangents on all `P·N`
    /// rows, with the per-sample factors broadcast over the probes.
    fn grad_and_hvps(
        &self,
        act: Activation,
        images: Tensor<Bk, 4>,
        v: Tensor<Bk, 4>,
    ) -> (Tensor<Bk, 4>, Tensor<Bk, 4>) {
        let n = images.dims()[0];
        let p = crate::energy::probes_per_row(n, v.dims()[0]);
        // `[P·N, C, H, W]` ↔ `[P, N, C·H·W]`, so that a per-sample `[1, N, C·H·W]` factor
        // broadcasts over the probes.
        let by_probe = |t: Tensor<Bk, 4>| {
            let [_, c, h, w] = t.dims();
            t.reshape([p, n, c * h * w])
        };
        let flat =
            |t: Tensor<Bk, 3>, dims: [usize; 4]| t.reshape([p * n, dims[1], dims[2], dims[3]]);
        let per_sample = |t: Tensor<Bk, 4>| {
            let [_, c, h, w] = t.dims();
            t.reshape([1, n, c * h * w])
        };
        let mut cache = Vec::with_capacity(self.convs.len());
        let (mut a, mut a_dot) = (images, v);
        for conv in &self.convs {
            let z_dot = conv.tangent(a_dot);
            let ((f, d1, d2), dims) = per_element(conv.forward(a), |z| act.derivatives(z));
            let (d1, d2) = (d1.reshape(dims), d2.reshape(dims));
            a_dot = flat(by_probe(z_dot.clone()) * per_sample(d1.clone()), dims);
            a = f.reshape(dims);
            cache.push((d1, d2, z_dot));
        }
        // The head: z_h = a·W_h + b_h, E = f(z_h)·w_out + b_out.
        let feature_dims = a.dims();
        let flat_a: Tensor<Bk, 2> = a.flatten(1, 3);
        let flat_a_dot: Tensor<Bk, 2> = a_dot.flatten(1, 3);
        let width = self.hidden_w.dims()[1];
        let z_h = flat_a.matmul(self.hidden_w.clone()) + self.hidden_b.clone().unsqueeze();
        let z_h_dot = flat_a_dot.matmul(self.hidden_w.clone());
        let (_, h1, h2) = act.derivatives(z_h);
        let w_out = self.out_w.clone().transpose(); // [1, width]
        let g_head = h1 * w_out.clone();
        let g_head_dot = z_h_dot.reshape([p, n, width]) * (h2 * w_out).unsqueeze_dim::<3>(0);
        let wt = self.hidden_w.clone().transpose();
        let mut g: Tensor<Bk, 4> = g_head.matmul(wt.clone()).reshape(feature_dims);
        let mut g_dot: Tensor<Bk, 4> = g_head_dot.reshape([p * n, width]).matmul(wt).reshape([
            p * n,
            feature_dims[1],
            feature_dims[2],
            feature_dims[3],
        ]);
        for (conv, (d1, d2, z_dot)) in self.convs.iter().zip(cache).rev() {
            let dims = d1.dims();
            let gz_dot = by_probe(g_dot) * per_sample(d1.clone())
                + by_probe(z_dot) * per_sample(g.clone() * d2);
            g = conv.backward(g * d1);
            g_dot = conv.backward(flat(gz_dot, [p * n, dims[1], dims[2], dims[3]]));
        }
        (g, g_dot)
    }
}

/// One convolution of [`Cnn::from_parameters`]: a `[C_out, C_in, 3, 3]` kernel (PyTorch's and
/// Burn's orientation), a `[C_out]` bias, and the stride (padding is 1).
pub struct ConvParameters<B: Backend> {
    /// `[C_out, C_in, 3, 3]`.
    pub weight: Tensor<B, 4>,
    /// `[C_out]`.
    pub bias: Tensor<B, 1>,
    /// Stride, at least 1.
    pub stride: usize,
}

impl<B: CpuKernels> Cnn<B> {
    /// A CNN from explicit parameters, for weights ported from PyTorch: images of
    /// `image_shape = [C, H, W]`, the convolutions in order, then the head's hidden layer
    /// (`[features, hidden]`, the transpose of PyTorch's `nn.Linear.weight`, and `[hidden]`) and
    /// its output layer (`[hidden, 1]` and `[1]`). `features` is the last convolution's
    /// channels × height × width, flattened channel-major as PyTorch's `flatten` does.
    pub fn from_parameters(
        image_shape: [usize; 3],
        convs: Vec<ConvParameters<B>>,
        hidden: (Tensor<B, 2>, Tensor<B, 1>),
        output: (Tensor<B, 2>, Tensor<B, 1>),
        activation: Activation,
    ) -> Result<Self> {
        if image_shape.contains(&0) {
            return Err(EnergyError::Empty {
                what: "CNN image shape",
            });
        }
        if convs.is_empty() {
            return Err(EnergyError::Empty { what: "CNN layers" });
        }
        activation.validate()?;
        for conv in &convs {
            require_finite_tensor("CNN conv weights", &conv.weight)?;
            require_finite_tensor("CNN conv biases", &conv.bias)?;
        }
        for (w, b) in [&hidden, &output] {
            require_finite_tensor("CNN head weights", w)?;
            require_finite_tensor("CNN head biases", b)?;
        }
        let dimension = |expected: usize, got: usize| {
            if expected == got {
                Ok(())
            } else {
                Err(EnergyError::Dimension { expected, got })
            }
        };
        let [mut channels, mut h, mut w] = image_shape;
        let mut layers = Vec::with_capacity(convs.len());
        for conv in convs {
            let [c_out, c_in, kh, kw] = conv.weight.dims();
            dimension(channels, c_in)?;
            dimension(3, kh)?;
            dimension(3, kw)?;
            dimension(c_out, conv.bias.dims()[0])?;
            if conv.stride == 0 {
                return Err(EnergyError::InvalidParameter(crate::InvalidParameter::new(
                    "conv stride",
                    0usize,
                    "must be > 0",
                )));
            }
            let mut layer = Conv2dConfig::new([c_in, c_out], [3, 3])
                .with_stride([conv.stride; 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(&conv.weight.device());
            layer.weight = Param::from_tensor(conv.weight);
            layer.bias = Some(Param::from_tensor(conv.bias));
            layers.push(layer);
            channels = c_out;
            (h, w) = ((h - 1) / conv.stride + 1, (w - 1) / conv.stride + 1);
        }
        let linear = |(weight, bias): (Tensor<B, 2>, Tensor<B, 1>), d_in: usize| {
            let [rows, cols] = weight.dims();
            dimension(d_in, rows)?;
            dimension(cols, bias.dims()[0])?;
            let mut layer = LinearConfig::new(rows, cols).init(&weight.device());
            layer.weight = Param::from_tensor(weight);
            layer.bias = Some(Param::from_tensor(bias));
            Ok::<_, EnergyError>(layer)
        };
        let hidden = linear(hidden, channels * h * w)?;
        let output = linear(output, hidden.weight.dims()[1])?;
        dimension(1, output.weight.dims()[1])?;
        Ok(Self {
            convs: layers,
            hidden,
            output,
            activation,
            image_shape,
        })
    }

    /// `[C, H, W]` of the images this network takes.
    pub fn image_shape(&self) -> [usize; 3] {
        self.image_shape
    }

    /// The activation.
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// Energy of a batch of images `[N, C, H, W]`, with a typed error when the image shape does
    /// not match the network.
    pub fn energy_images(&self, images: Tensor<B, 4>) -> Result<Tensor<B, 1>> {
        let [n, c, h, w] = images.dims();
        if n == 0 {
            return Err(EnergyError::EmptyBatch);
        }
        let [ec, eh, ew] = self.image_shape;
        if [c, h, w] != self.image_shape {
            return Err(EnergyError::Dimension {
                expected: ec * eh * ew,
                got: c * h * w,
            });
        }
        Ok(self.tracked().energy(self.activation, images))
    }

    fn weights_with<Bk: CpuKernels>(
        &self,
        map4: impl Fn(Tensor<B, 4>) -> Tensor<Bk, 4>,
        map2: impl Fn(Tensor<B, 2>) -> Tensor<Bk, 2>,
        map1: impl Fn(Tensor<B, 1>) -> Tensor<Bk, 1>,
    ) -> CnnWeights<Bk> {
        let bias =
            |b: &Option<Param<Tensor<B, 1>>>| map1(b.as_ref().expect("built with biases").val());
        let mut size = [self.image_shape[1], self.image_shape[2]];
        let convs = self
            .convs
            .iter()
            .map(|conv| {
                let stride = conv.stride[0];
                let layer = ConvWeights {
                    weight: map4(conv.weight.val()),
                    bias: bias(&conv.bias),
                    stride,
                    input_size: size,
                };
                size = size.map(|s| (s - 1) / stride + 1);
                layer
            })
            .collect();
        CnnWeights {
            convs,
            hidden_w: map2(self.hidden.weight.val()),
            hidden_b: bias(&self.hidden.bias),
            out_w: map2(self.output.weight.val()),
            out_b: bias(&self.output.bias),
        }
    }

    fn tracked(&self) -> CnnWeights<B> {
        self.weights_with(|t| t, |t| t, |t| t)
    }

    fn images<Bk: CpuKernels>(&self, x: Tensor<Bk, 2>) -> Tensor<Bk, 4> {
        let n = x.dims()[0];
        let [c, h, w] = self.image_shape;
        x.reshape([n, c, h, w])
    }
}

impl<B: EbmBackend> Cnn<B> {
    /// The parameters on the inner backend: cheap (shared storage) and outside any graph.
    fn untracked(&self) -> CnnWeights<Inner<B>> {
        self.weights_with(|t| t.inner(), |t| t.inner(), |t| t.inner())
    }

    /// The host kernel, where it applies (NdArray or Flex, float32, not GELU).
    #[cfg(any(feature = "ndarray", feature = "flex"))]
    fn host_kernel(&self, x: &Tensor<Inner<B>, 2>) -> Option<super::host_cnn::HostCnn> {
        use super::host_cnn::{HostCnn, HostConv, applies, host_values};
        if !applies::<Inner<B>>(x.dtype(), self.activation) {
            return None;
        }
        let w = self.untracked();
        let convs = w
            .convs
            .into_iter()
            .map(|conv| {
                let [c_out, c_in, _, _] = conv.weight.dims();
                HostConv {
                    weight: host_values(conv.weight),
                    bias: host_values(conv.bias),
                    c_in,
                    c_out,
                    stride: conv.stride,
                    input: conv.input_size,
                }
            })
            .collect();
        Some(HostCnn {
            convs,
            hidden_w: host_values(w.hidden_w),
            hidden_b: host_values(w.hidden_b),
            out_w: host_values(w.out_w),
            out_b: host_values(w.out_b)[0],
            activation: self.activation,
        })
    }
}

impl<B: EbmBackend> Energy<B> for Cnn<B> {
    fn input_dim(&self) -> Option<usize> {
        Some(self.image_shape.iter().product())
    }

    fn energy(&self, x: Tensor<B, 2>) -> Tensor<B, 1> {
        crate::assert_batch(
            std::any::type_name::<Self>(),
            Energy::<B>::input_dim(self),
            x.dims(),
        );
        self.tracked().energy(self.activation, self.images(x))
    }

    fn energy_value(&self, x: Tensor<Inner<B>, 2>) -> Tensor<Inner<B>, 1> {
        crate::assert_batch(
            std::any::type_name::<Self>(),
            Energy::<B>::input_dim(self),
            x.dims(),
        );
        #[cfg(any(feature = "ndarray", feature = "flex"))]
        if let Some(kernel) = self.host_kernel(&x) {
            return kernel.run(x, false).0;
        }
        self.untracked().energy(self.activation, self.images(x))
    }

    fn energy_and_grad(
        &self,
        x: Tensor<Inner<B>, 2>,
    ) -> (Tensor<Inner<B>, 1>, Tensor<Inner<B>, 2>) {
        crate::assert_batch(
            std::any::type_name::<Self>(),
            Energy::<B>::input_dim(self),
            x.dims(),
        );
        #[cfg(any(feature = "ndarray", feature = "flex"))]
        if let Some(kernel) = self.host_kernel(&x) {
            let (e, g) = kernel.run(x, true);
            return (e, g.expect("asked for the gradient"));
        }
        let [n, d] = x.dims();
        let (e, g) = self
            .untracked()
            .energy_and_grad(self.activation, self.images(x));
        (e, g.reshape([n, d]))
    }
}

impl<B: EbmBackend> SecondOrderEnergy<B> for Cnn<B> {
    fn grad_energy_tracked(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        crate::assert_batch(
            std::any::type_name::<Self>(),
            Energy::<B>::input_dim(self),
            x.dims(),
        );
        let [n, d] = x.dims();
        let (_, g) = self
            .tracked()
            .energy_and_grad(self.activation, self.images(x));
        g.reshape([n, d])
    }

    fn grad_and_hvp_tracked(
        &self,
        x: Tensor<B, 2>,
        v: Tensor<B, 2>,
    ) -> (Tensor<B, 2>, Tensor<B, 2>) {
        crate::assert_batch(
            std::any::type_name::<Self>(),
            Energy::<B>::input_dim(self),
            x.dims(),
        );
        crate::energy::one_probe_per_sample(self, x, v)
    }

    fn grad_and_hvps_tracked(
        &self,
        x: Tensor<B, 2>,
        v: Tensor<B, 2>,
    ) -> (Tensor<B, 2>, Tensor<B, 2>) {
        crate::energy::assert_hvp_input(self, x.dims(), v.dims(), true);
        let ([n, d], rows) = (x.dims(), v.dims()[0]);
        let (g, hv) = self
            .tracked()
            .grad_and_hvps(self.activation, self.images(x), self.images(v));
        (g.reshape([n, d]), hv.reshape([rows, d]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{CheckConfig, check_energy};
    use ebm_testing::{TestBackend, TestInner};

    type B = TestBackend;

    #[test]
    fn head_size_follows_the_input_size() {
        assert_eq!(CnnConfig::new(1, 28, 28).feature_size(), (4, 4));
        assert_eq!(CnnConfig::new(1, 8, 8).feature_size(), (1, 1));
        assert_eq!(CnnConfig::new(3, 32, 32).feature_size(), (4, 4));
    }

    #[test]
    fn runs_on_28_8_and_32_pixel_images() {
        let device = Default::default();
        for (c, s) in [(1, 28), (1, 8), (3, 32)] {
            let cfg = CnnConfig::new(c, s, s)
                .with_layers(vec![
                    ConvLayerConfig::new(4, 1),
                    ConvLayerConfig::new(4, 2),
                    ConvLayerConfig::new(8, 2),
                    ConvLayerConfig::new(8, 2),
                ])
                .with_head_hidden(16);
            let cnn = cfg.init::<B>(&device).unwrap();
            let images = Tensor::<B, 4>::random(
                [2, c, s, s],
                burn::tensor::Distribution::Normal(0.0, 1.0),
                &device,
            );
            assert_eq!(cnn.energy_images(images.clone()).unwrap().dims(), [2]);
            let flat = images.inner().reshape([2, c * s * s]);
            let report = check_energy::<B, _>(&cnn, flat, &CheckConfig::default()).unwrap();
            assert!(report.is_healthy(), "{s}x{s}: {report:?}");
        }
        // TorchEBM's full default network on 28×28, which its own head size gets wrong.
        let cnn = CnnConfig::new(1, 28, 28).init::<B>(&device).unwrap();
        assert_eq!(
            cnn.energy_images(Tensor::zeros([1, 1, 28, 28], &device))
                .unwrap()
                .dims(),
            [1]
        );
    }

    /// On the CPU backends the graph-free energy and gradient run the host kernel; the generic
    /// tensor ops define the result. Architectures drawn at random (channels, odd and even image
    /// sizes, strides 1–3, depth, width) × every activation the kernel takes, with batches that
    /// leave a partial panel of images and split across threads.
    #[test]
    fn every_backend_path_agrees_with_the_generic_tensor_ops() {
        use rand::{Rng, SeedableRng};
        let device = Default::default();
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let activations = Activation::ALL_FOR_TESTS
            .into_iter()
            .filter(|a| !matches!(a, Activation::Gelu));
        let values = |t: Tensor<TestInner, 2>| t.into_data().to_vec::<f32>().unwrap();
        for (case, act) in activations.cycle().take(12).enumerate() {
            let (c, h, w) = (
                rng.random_range(1..=3),
                rng.random_range(3..=11),
                rng.random_range(3..=11),
            );
            let layers = (0..rng.random_range(1..=3))
                .map(|_| ConvLayerConfig::new(rng.random_range(1..=12), rng.random_range(1..=3)))
                .collect();
            let n = [1, 5, 33, 70][case % 4];
            let cnn = CnnConfig::new(c, h, w)
                .with_layers(layers)
                .with_head_hidden(rng.random_range(1..=20))
                .with_activation(act)
                .with_seed(case as u64)
                .init::<B>(&device)
                .unwrap();
            let x = ebm_testing::normal::<TestInner, 2>([n, c * h * w], 1.5, case as u64, &device);
            let (e_generic, g_generic) =
                cnn.untracked().energy_and_grad(act, cnn.images(x.clone()));
            let (e, g) = cnn.energy_and_grad(x.clone());
            let e_alone = cnn.energy_value(x.clone());
            let g_generic = values(g_generic.reshape([n, c * h * w]));
            let scale = g_generic.iter().fold(0.0f32, |m, v| m.max(v.abs())) as f64;
            let e_generic = values(e_generic.unsqueeze_dim(1));
            for (name, ours, generic) in [
                ("energy", values(e.unsqueeze_dim(1)), &e_generic),
                ("energy alone", values(e_alone.unsqueeze_dim(1)), &e_generic),
                ("gradient", values(g), &g_generic),
            ] {
                for (a, b) in ours.iter().zip(generic) {
                    let tol = ebm_testing::tolerance(1e-5) * (1.0 + b.abs() as f64).max(scale);
                    assert!(
                        ((a - b) as f64).abs() <= tol,
                        "case {case} {act:?} {c}x{h}x{w} n={n} {name}: {a} vs {b}"
                    );
                }
            }
        }
    }

    #[test]
    fn bad_parameters_of_from_parameters_are_typed_errors() {
        let device = Default::default();
        let conv = |c_out, c_in, stride| ConvParameters {
            weight: Tensor::<B, 4>::zeros([c_out, c_in, 3, 3], &device),
            bias: Tensor::<B, 1>::zeros([c_out], &device),
            stride,
        };
        // 1×4×4 → conv 2/2 → [2, 2, 2]: 8 features.
        let linear = |d_in, d_out| {
            (
                Tensor::<B, 2>::zeros([d_in, d_out], &device),
                Tensor::<B, 1>::zeros([d_out], &device),
            )
        };
        let build = |shape, convs, hidden, output| {
            Cnn::from_parameters(shape, convs, hidden, output, Activation::Selu)
        };
        assert!(build([1, 4, 4], vec![conv(2, 1, 2)], linear(8, 5), linear(5, 1)).is_ok());
        assert_eq!(
            build([1, 0, 4], vec![conv(2, 1, 2)], linear(8, 5), linear(5, 1)).unwrap_err(),
            EnergyError::Empty {
                what: "CNN image shape"
            }
        );
        assert_eq!(
            build([1, 4, 4], vec![], linear(8, 5), linear(5, 1)).unwrap_err(),
            EnergyError::Empty { what: "CNN layers" }
        );
        assert_eq!(
            build([1, 4, 4], vec![conv(2, 3, 2)], linear(8, 5), linear(5, 1)).unwrap_err(),
            EnergyError::Dimension {
                expected: 1,
                got: 3
            }
        );
        assert!(matches!(
            build([1, 4, 4], vec![conv(2, 1, 0)], linear(8, 5), linear(5, 1)).unwrap_err(),
            EnergyError::InvalidParameter(crate::InvalidParameter {
                name: "conv stride",
                ..
            })
        ));
        assert_eq!(
            build([1, 4, 4], vec![conv(2, 1, 2)], linear(32, 5), linear(5, 1)).unwrap_err(),
            EnergyError::Dimension {
                expected: 8,
                got: 32
            }
        );
        assert_eq!(
            build([1, 4, 4], vec![conv(2, 1, 2)], linear(8, 5), linear(5, 2)).unwrap_err(),
            EnergyError::Dimension {
                expected: 1,
                got: 2
            }
        );
    }

    #[test]
    fn wrong_image_shape_is_a_typed_error() {
        let device = Default::default();
        let cnn = CnnConfig::new(1, 8, 8).init::<B>(&device).unwrap();
        let err = cnn
            .energy_images(Tensor::zeros([1, 1, 28, 28], &device))
            .unwrap_err();
        assert_eq!(
            err,
            EnergyError::Dimension {
                expected: 64,
                got: 784
            }
        );
        assert!(matches!(
            CnnConfig::new(1, 8, 8)
                .with_layers(vec![])
                .init::<B>(&device),
            Err(EnergyError::Empty { .. })
        ));
    }
}
