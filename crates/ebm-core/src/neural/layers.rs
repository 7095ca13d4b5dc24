//! Second-order building blocks, for energies written by users that score matching can train.
//!
//! Score matching differentiates `∇ₓE` and Hessian-vector products in the parameters. Burn 0.21's
//! nested autodiff cannot take a second derivative of its fused `linear` op, so a module built from
//! `burn::nn` layers is first order only. The layers here know their derivatives: each one runs
//! forward with the tangent of its input (forward mode, for `H·v`) and backward with the tangent
//! of its output signal, using only ops that Burn's autodiff differentiates once. A chain of them
//! (a tuple) gives `E`, `∇ₓE` and `H·v` through [`energy`], [`grad`] and [`grad_and_hvps`]
//! ([`crate::layer_energy!`] writes the `Energy` and `SecondOrderEnergy` impls from them), and a
//! single first-order backward pass then gives every score-matching loss's parameter gradients,
//! on every backend.
//!
//! A module built from them is generic over the backend as any Burn module is; the code that runs
//! its layers is generic over [`EbmBackend`](crate::EbmBackend), the backends whose host kernels
//! `ebm` knows (every alias in `ebm::backend`), as in the example below.
//!
//! Layers take and give flattened rows `[N, features]`; [`Conv3x3`] reads its rows as
//! `[C, H, W]` images, channel-major.
//!
//! ```
//! use burn::backend::{Autodiff, NdArray};
//! use burn::module::Module;
//! use burn::tensor::Tensor;
//! use burn::tensor::backend::Backend;
//! use ebm_core::neural::layers::{Conv3x3, Conv3x3Config, DenseConfig, SecondOrderLayer};
//! use ebm_core::neural::{Activation, Dense};
//! use ebm_core::{EbmBackend, SecondOrderEnergy};
//!
//! /// A user's own energy: conv → SiLU → dense → SiLU → dense. (Burn's `Module` derive needs the
//! /// backend parameter to be called `B`.)
//! #[derive(Module, Debug)]
//! struct MyEnergy<B: Backend> {
//!     conv: Conv3x3<B>,
//!     hidden: Dense<B>,
//!     out: Dense<B>,
//! }
//!
//! impl<B: EbmBackend> MyEnergy<B> {
//!     fn layers(&self) -> impl SecondOrderLayer<B> + '_ {
//!         let act = Activation::Silu;
//!         (&self.conv, act, &self.hidden, act, &self.out)
//!     }
//!
//!     fn input_dim(&self) -> usize {
//!         self.conv.input_dim()
//!     }
//! }
//!
//! // `Energy` and `SecondOrderEnergy` from the two methods above.
//! ebm_core::layer_energy!(MyEnergy);
//!
//! type B = Autodiff<NdArray>;
//! let device = Default::default();
//! let conv = Conv3x3Config::new([1, 6, 6], 4).with_stride(2).init::<B>(&device).unwrap();
//! let hidden = DenseConfig::new(conv.output_dim(), 8).init::<B>(&device).unwrap();
//! let out = DenseConfig::new(8, 1).init::<B>(&device).unwrap();
//! let model = MyEnergy { conv, hidden, out };
//! let x = Tensor::<B, 2>::zeros([2, 36], &device);
//! let (g, hv) = model.grad_and_hvp_tracked(x.clone(), x.ones_like());
//! assert_eq!((g.dims(), hv.dims()), ([2, 36], [2, 36]));
//! ```

use burn::config::Config;
use burn::module::{Initializer, Module, Param};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use super::Activation;
use super::cnn::ConvWeights;
use super::column_product::column_product;
use super::init::ParamInit;
use super::mlp::Dense;
use crate::cpu_kernels::CpuKernels;
use crate::energy::probes_per_row;
use crate::error::{EnergyError, Result};

/// A layer `[N, in] → [N, out]` that carries tangents through both sweeps.
///
/// Probes: the input tangent `ẋ` has `P·N` rows (row `p·N + i` belongs to sample `i`), and
/// per-sample factors broadcast over the probes. A missing tangent means zero.
pub trait SecondOrderLayer<B: Backend> {
    /// What the forward sweep keeps for the backward sweep.
    type Cache;

    /// The output `y` and its tangent `ẏ` along `ẋ`.
    fn forward(
        &self,
        x: Tensor<B, 2>,
        x_dot: Option<Tensor<B, 2>>,
    ) -> (Tensor<B, 2>, Option<Tensor<B, 2>>, Self::Cache);

    /// The input signal `gₓ = (∂y/∂x)ᵀ·g` and its tangent `ġₓ`, given the output signal `g`
    /// (`[N, out]`) and its tangent `ġ` (`[P·N, out]`).
    fn backward(
        &self,
        cache: Self::Cache,
        g: Tensor<B, 2>,
        g_dot: Option<Tensor<B, 2>>,
    ) -> (Tensor<B, 2>, Option<Tensor<B, 2>>);
}

/// Implements [`crate::Energy`] and [`crate::SecondOrderEnergy`] for a module `$ty<B>` from two
/// of its inherent methods: `fn layers(&self) -> impl SecondOrderLayer<B> + '_` (the chain,
/// whose last layer has one output) and `fn input_dim(&self) -> usize`.
///
/// See the [module documentation](self) for a complete example.
#[macro_export]
macro_rules! layer_energy {
    ($ty:ident) => {
        impl<B: $crate::EbmBackend> $crate::Energy<B> for $ty<B> {
            fn input_dim(&self) -> Option<usize> {
                Some($ty::input_dim(self))
            }

            fn energy(
                &self,
                x: $crate::burn::tensor::Tensor<B, 2>,
            ) -> $crate::burn::tensor::Tensor<B, 1> {
                $crate::assert_batch(
                    std::any::type_name::<Self>(),
                    Some($ty::input_dim(self)),
                    x.dims(),
                );
                $crate::neural::layers::energy(&self.layers(), x)
            }
        }

        impl<B: $crate::EbmBackend> $crate::SecondOrderEnergy<B> for $ty<B> {
            fn grad_energy_tracked(
                &self,
                x: $crate::burn::tensor::Tensor<B, 2>,
            ) -> $crate::burn::tensor::Tensor<B, 2> {
                $crate::assert_batch(
                    std::any::type_name::<Self>(),
                    Some($ty::input_dim(self)),
                    x.dims(),
                );
                $crate::neural::layers::grad(&self.layers(), x)
            }

            fn grad_and_hvp_tracked(
                &self,
                x: $crate::burn::tensor::Tensor<B, 2>,
                v: $crate::burn::tensor::Tensor<B, 2>,
            ) -> (
                $crate::burn::tensor::Tensor<B, 2>,
                $crate::burn::tensor::Tensor<B, 2>,
            ) {
                $crate::assert_batch(
                    std::any::type_name::<Self>(),
                    Some($ty::input_dim(self)),
                    x.dims(),
                );

                $crate::assert_probes(std::any::type_name::<Self>(), x.dims(), v.dims(), false);
                $crate::neural::layers::grad_and_hvps(&self.layers(), x, v)
            }

            fn grad_and_hvps_tracked(
                &self,
                x: $crate::burn::tensor::Tensor<B, 2>,
                v: $crate::burn::tensor::Tensor<B, 2>,
            ) -> (
                $crate::burn::tensor::Tensor<B, 2>,
                $crate::burn::tensor::Tensor<B, 2>,
            ) {
                $crate::assert_batch(
                    std::any::type_name::<Self>(),
                    Some($ty::input_dim(self)),
                    x.dims(),
                );

                $crate::assert_probes(std::any::type_name::<Self>(), x.dims(), v.dims(), true);
                $crate::neural::layers::grad_and_hvps(&self.layers(), x, v)
            }
        }
    };
}

/// `E(x)` of a chain whose last layer has one output: `[N, D] → [N]`.
pub fn energy<B: Backend, L: SecondOrderLayer<B>>(layers: &L, x: Tensor<B, 2>) -> Tensor<B, 1> {
    let n = x.dims()[0];
    layers.forward(x, None).0.reshape([n])
}

/// `∇ₓE` of a chain whose last layer has one output, differentiable in the parameters.
pub fn grad<B: Backend, L: SecondOrderLayer<B>>(layers: &L, x: Tensor<B, 2>) -> Tensor<B, 2> {
    let (y, _, cache) = layers.forward(x, None);
    layers.backward(cache, y.ones_like(), None).0
}

/// `(∇ₓE, H·vₚ)` of a chain whose last layer has one output: `x` is `[N, D]` and `v` is
/// `[P·N, D]` (see [`crate::SecondOrderEnergy::grad_and_hvps_tracked`]); both results are
/// differentiable in the parameters.
pub fn grad_and_hvps<B: Backend, L: SecondOrderLayer<B>>(
    layers: &L,
    x: Tensor<B, 2>,
    v: Tensor<B, 2>,
) -> (Tensor<B, 2>, Tensor<B, 2>) {
    let [n, d] = x.dims();
    let rows = v.dims()[0];
    probes_per_row(n, rows);
    let device = x.device();
    let (y, _, cache) = layers.forward(x, Some(v));
    let (g, g_dot) = layers.backward(cache, y.ones_like(), None);
    let hv = g_dot.unwrap_or_else(|| Tensor::zeros([rows, d], &device));
    (g, hv)
}

/// `t` (`[P·N, w]`) times a per-sample factor `f` (`[N, w]`), broadcast over the `P` probes.
fn times_per_sample<B: Backend>(t: Tensor<B, 2>, f: Tensor<B, 2>) -> Tensor<B, 2> {
    let [rows, w] = t.dims();
    let n = f.dims()[0];
    let p = probes_per_row(n, rows);
    (t.reshape([p, n, w]) * f.unsqueeze_dim::<3>(0)).reshape([rows, w])
}

impl<B: CpuKernels> SecondOrderLayer<B> for Activation {
    /// `f′(z)`, and with an input tangent `ż` also `f″(z)` and `ż` (only the tangent's sweep
    /// needs them).
    type Cache = (Tensor<B, 2>, Option<(Tensor<B, 2>, Tensor<B, 2>)>);

    fn forward(
        &self,
        z: Tensor<B, 2>,
        z_dot: Option<Tensor<B, 2>>,
    ) -> (Tensor<B, 2>, Option<Tensor<B, 2>>, Self::Cache) {
        match z_dot {
            None => {
                let (f, d1) = self.value_and_slope(z);
                (f, None, (d1, None))
            }
            Some(z_dot) => {
                let (f, d1, d2) = self.derivatives(z);
                let a_dot = times_per_sample(z_dot.clone(), d1.clone());
                (f, Some(a_dot), (d1, Some((d2, z_dot))))
            }
        }
    }

    fn backward(
        &self,
        (d1, curvature): Self::Cache,
        g: Tensor<B, 2>,
        g_dot: Option<Tensor<B, 2>>,
    ) -> (Tensor<B, 2>, Option<Tensor<B, 2>>) {
        // ġ_z = ġ ⊙ f′(z) + g ⊙ f″(z) ⊙ ż
        let curvature = curvature.map(|(d2, z_dot)| times_per_sample(z_dot, g.clone() * d2));
        let carried = g_dot.map(|g_dot| times_per_sample(g_dot, d1.clone()));
        let g_z_dot = match (carried, curvature) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        (g * d1, g_z_dot)
    }
}

impl<B: CpuKernels> SecondOrderLayer<B> for Dense<B> {
    type Cache = ();

    fn forward(
        &self,
        x: Tensor<B, 2>,
        x_dot: Option<Tensor<B, 2>>,
    ) -> (Tensor<B, 2>, Option<Tensor<B, 2>>, ()) {
        let w = self.weight.val();
        let y = column_product(x, w.clone()) + self.bias.val().unsqueeze_dim(0);
        (y, x_dot.map(|t| column_product(t, w)), ())
    }

    fn backward(
        &self,
        _: (),
        g: Tensor<B, 2>,
        g_dot: Option<Tensor<B, 2>>,
    ) -> (Tensor<B, 2>, Option<Tensor<B, 2>>) {
        let wt = self.weight.val().transpose();
        (g.matmul(wt.clone()), g_dot.map(|t| t.matmul(wt)))
    }
}

impl<B: Backend, L: SecondOrderLayer<B>> SecondOrderLayer<B> for &L {
    type Cache = L::Cache;

    fn forward(
        &self,
        x: Tensor<B, 2>,
        x_dot: Option<Tensor<B, 2>>,
    ) -> (Tensor<B, 2>, Option<Tensor<B, 2>>, Self::Cache) {
        (*self).forward(x, x_dot)
    }

    fn backward(
        &self,
        cache: Self::Cache,
        g: Tensor<B, 2>,
        g_dot: Option<Tensor<B, 2>>,
    ) -> (Tensor<B, 2>, Option<Tensor<B, 2>>) {
        (*self).backward(cache, g, g_dot)
    }
}

/// A vector is a chain of layers of one type (a stack of `(Dense, Activation)` pairs, say),
/// the first element running first.
impl<B: Backend, L: SecondOrderLayer<B>> SecondOrderLayer<B> for Vec<L> {
    type Cache = Vec<L::Cache>;

    fn forward(
        &self,
        x: Tensor<B, 2>,
        x_dot: Option<Tensor<B, 2>>,
    ) -> (Tensor<B, 2>, Option<Tensor<B, 2>>, Self::Cache) {
        let mut caches = Vec::with_capacity(self.len());
        let (mut x, mut x_dot) = (x, x_dot);
        for layer in self {
            let cache;
            (x, x_dot, cache) = layer.forward(x, x_dot);
            caches.push(cache);
        }
        (x, x_dot, caches)
    }

    fn backward(
        &self,
        cache: Self::Cache,
        g: Tensor<B, 2>,
        g_dot: Option<Tensor<B, 2>>,
    ) -> (Tensor<B, 2>, Option<Tensor<B, 2>>) {
        self.iter()
            .zip(cache)
            .rev()
            .fold((g, g_dot), |(g, g_dot), (layer, cache)| {
                layer.backward(cache, g, g_dot)
            })
    }
}

/// Tuples are chains: the first layer runs first.
macro_rules! chain {
    ($($layer:ident $index:tt),+) => {
        impl<B: Backend, $($layer: SecondOrderLayer<B>),+> SecondOrderLayer<B> for ($($layer,)+) {
            type Cache = ($($layer::Cache,)+);

            #[allow(non_snake_case)]
            fn forward(
                &self,
                x: Tensor<B, 2>,
                x_dot: Option<Tensor<B, 2>>,
            ) -> (Tensor<B, 2>, Option<Tensor<B, 2>>, Self::Cache) {
                $(let (x, x_dot, $layer) = self.$index.forward(x, x_dot);)+
                (x, x_dot, ($($layer,)+))
            }

            fn backward(
                &self,
                cache: Self::Cache,
                g: Tensor<B, 2>,
                g_dot: Option<Tensor<B, 2>>,
            ) -> (Tensor<B, 2>, Option<Tensor<B, 2>>) {
                chain!(@backward self, cache, g, g_dot; $($index)+)
            }
        }
    };
    (@backward $self:ident, $cache:ident, $g:ident, $g_dot:ident; $($index:tt)+) => {{
        let (g, g_dot) = ($g, $g_dot);
        chain!(@reverse $self, $cache, g, g_dot; [] $($index)+)
    }};
    (@reverse $self:ident, $cache:ident, $g:ident, $g_dot:ident; [$($done:tt)*] $first:tt $($rest:tt)*) => {
        chain!(@reverse $self, $cache, $g, $g_dot; [$first $($done)*] $($rest)*)
    };
    (@reverse $self:ident, $cache:ident, $g:ident, $g_dot:ident; [$($reversed:tt)*]) => {{
        let (mut g, mut g_dot) = ($g, $g_dot);
        $((g, g_dot) = $self.$reversed.backward($cache.$reversed, g, g_dot);)*
        (g, g_dot)
    }};
}

chain!(A 0, C 1);
chain!(A 0, C 1, D 2);
chain!(A 0, C 1, D 2, E 3);
chain!(A 0, C 1, D 2, E 3, F 4);
chain!(A 0, C 1, D 2, E 3, F 4, G 5);
chain!(A 0, C 1, D 2, E 3, F 4, G 5, H 6);
chain!(A 0, C 1, D 2, E 3, F 4, G 5, H 6, I 7);

/// Builds a [`Dense`] layer `y = x·W + b`, with Burn `Linear`'s default initialisation drawn
/// from its own seeded generator.
#[derive(Config, Debug)]
pub struct DenseConfig {
    /// Input features.
    pub d_in: usize,
    /// Output features.
    pub d_out: usize,
    /// Seed of the initialisation.
    #[config(default = 0)]
    pub seed: u64,
}

crate::json_config!(
    DenseConfig,
    required = ["d_in", "d_out"],
    template = DenseConfig::new(0, 0)
);

impl DenseConfig {
    /// Builds the layer on `device`.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<Dense<B>> {
        positive(&[("d_in", self.d_in), ("d_out", self.d_out)])?;
        let init = burn_default_initializer();
        let mut rng = ParamInit::new(self.seed);
        let (d_in, d_out) = (self.d_in, self.d_out);
        Ok(Dense {
            weight: rng.param(&init, [d_in, d_out], d_in, d_out, device),
            bias: rng.param(&init, [d_out], d_in, d_out, device),
        })
    }
}

/// The initialiser of Burn's `Linear` and `Conv2d`.
fn burn_default_initializer() -> Initializer {
    Initializer::KaimingUniform {
        gain: 1.0 / 3.0f64.sqrt(),
        fan_out_only: false,
    }
}

/// A typed error naming the first of `values` that is zero.
fn positive(values: &[(&'static str, usize)]) -> Result<()> {
    match values.iter().find(|(_, v)| *v == 0) {
        Some(&(name, _)) => Err(EnergyError::InvalidParameter(crate::InvalidParameter::new(
            name,
            0usize,
            "must be > 0",
        ))),
        None => Ok(()),
    }
}

/// Builds a [`Conv3x3`] layer.
#[derive(Config, Debug)]
pub struct Conv3x3Config {
    /// `[C, H, W]` of the images the layer reads.
    pub input: [usize; 3],
    /// Output channels.
    pub channels: usize,
    /// Stride (padding is 1, so stride 1 keeps the size).
    #[config(default = 1)]
    pub stride: usize,
    /// Seed of the initialisation (Burn `Conv2d`'s default).
    #[config(default = 0)]
    pub seed: u64,
}

crate::json_config!(
    Conv3x3Config,
    required = ["input", "channels"],
    template = Conv3x3Config::new([0; 3], 0)
);

impl Conv3x3Config {
    /// Builds the layer on `device`.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<Conv3x3<B>> {
        let [c, h, w] = self.input;
        positive(&[
            ("input channels", c),
            ("input height", h),
            ("input width", w),
            ("channels", self.channels),
            ("stride", self.stride),
        ])?;
        let init = burn_default_initializer();
        let mut rng = ParamInit::new(self.seed);
        let (fan_in, fan_out) = (c * 9, self.channels * 9);
        Ok(Conv3x3 {
            weight: rng.param(&init, [self.channels, c, 3, 3], fan_in, fan_out, device),
            bias: rng.param(&init, [self.channels], fan_in, fan_out, device),
            stride: self.stride,
            input: self.input,
        })
    }
}

/// A 3×3 convolution with padding 1 over rows that hold `[C, H, W]` images (channel-major).
#[derive(Module, Debug)]
pub struct Conv3x3<B: Backend> {
    /// `[C_out, C_in, 3, 3]` (PyTorch's and Burn's orientation).
    pub weight: Param<Tensor<B, 4>>,
    /// `[C_out]`.
    pub bias: Param<Tensor<B, 1>>,
    #[module(skip)]
    stride: usize,
    #[module(skip)]
    input: [usize; 3],
}

impl<B: Backend> Conv3x3<B> {
    /// A layer from explicit parameters (for weights ported from PyTorch): a `[C_out, C_in, 3, 3]`
    /// kernel, a `[C_out]` bias, the stride, and `[C_in, H, W]` of the images it reads.
    pub fn new(
        weight: Tensor<B, 4>,
        bias: Tensor<B, 1>,
        stride: usize,
        input: [usize; 3],
    ) -> Result<Self> {
        positive(&[
            ("input channels", input[0]),
            ("input height", input[1]),
            ("input width", input[2]),
            ("stride", stride),
        ])?;
        let [c_out, c_in, kh, kw] = weight.dims();
        for (expected, got) in [(input[0], c_in), (3, kh), (3, kw), (c_out, bias.dims()[0])] {
            if expected != got {
                return Err(EnergyError::Dimension { expected, got });
            }
        }
        Ok(Self {
            weight: Param::from_tensor(weight),
            bias: Param::from_tensor(bias),
            stride,
            input,
        })
    }

    /// Features per input row, `C·H·W`.
    pub fn input_dim(&self) -> usize {
        self.input.iter().product()
    }

    /// `[C_out, H′, W′]` of the output images.
    pub fn output_shape(&self) -> [usize; 3] {
        let [_, h, w] = self.input;
        let s = self.stride;
        [self.weight.dims()[0], (h - 1) / s + 1, (w - 1) / s + 1]
    }

    /// Features per output row, `C_out·H′·W′`.
    pub fn output_dim(&self) -> usize {
        self.output_shape().iter().product()
    }

    fn weights(&self) -> ConvWeights<B> {
        ConvWeights {
            weight: self.weight.val(),
            bias: self.bias.val(),
            stride: self.stride,
            input_size: [self.input[1], self.input[2]],
        }
    }

    fn images(&self, rows: Tensor<B, 2>) -> Tensor<B, 4> {
        let n = rows.dims()[0];
        let [c, h, w] = self.input;
        rows.reshape([n, c, h, w])
    }
}

impl<B: CpuKernels> SecondOrderLayer<B> for Conv3x3<B> {
    type Cache = ();

    fn forward(
        &self,
        x: Tensor<B, 2>,
        x_dot: Option<Tensor<B, 2>>,
    ) -> (Tensor<B, 2>, Option<Tensor<B, 2>>, ()) {
        let conv = self.weights();
        let y: Tensor<B, 2> = conv.forward(self.images(x)).flatten(1, 3);
        let y_dot = x_dot.map(|t| conv.tangent(self.images(t)).flatten(1, 3));
        (y, y_dot, ())
    }

    fn backward(
        &self,
        _: (),
        g: Tensor<B, 2>,
        g_dot: Option<Tensor<B, 2>>,
    ) -> (Tensor<B, 2>, Option<Tensor<B, 2>>) {
        let conv = self.weights();
        let [c, h, w] = self.output_shape();
        let pull = |t: Tensor<B, 2>| -> Tensor<B, 2> {
            let n = t.dims()[0];
            conv.backward(t.reshape([n, c, h, w])).flatten(1, 3)
        };
        (pull(g), g_dot.map(pull))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ebm_testing::TestInner;

    type B = TestInner;

    #[test]
    fn bad_layer_parameters_are_typed_errors() {
        let device = Default::default();
        let invalid = |name| move |e: EnergyError| matches!(e, EnergyError::InvalidParameter(crate::InvalidParameter { name: n, .. }) if n == name);
        let dense = DenseConfig::new(0, 3).init::<B>(&device).unwrap_err();
        assert!(invalid("d_in")(dense));
        let conv = Conv3x3Config::new([1, 4, 4], 2)
            .with_stride(0)
            .init::<B>(&device);
        assert!(invalid("stride")(conv.unwrap_err()));
        let conv = Conv3x3Config::new([1, 0, 4], 2).init::<B>(&device);
        assert!(invalid("input height")(conv.unwrap_err()));
        let weight = |shape: [usize; 4]| Tensor::<B, 4>::zeros(shape, &device);
        let bias = |n| Tensor::<B, 1>::zeros([n], &device);
        // Input channels, kernel size and bias length must match.
        for (w, b, expected, got) in [
            (weight([2, 3, 3, 3]), bias(2), 1, 3),
            (weight([2, 1, 5, 5]), bias(2), 3, 5),
            (weight([2, 1, 3, 3]), bias(4), 2, 4),
        ] {
            assert_eq!(
                Conv3x3::new(w, b, 1, [1, 4, 4]).unwrap_err(),
                EnergyError::Dimension { expected, got }
            );
        }
        assert!(invalid("stride")(
            Conv3x3::new(weight([2, 1, 3, 3]), bias(2), 0, [1, 4, 4]).unwrap_err()
        ));
    }

    /// A chain of `Dense` and an activation against the same MLP written out: gradient by
    /// finite differences of the energy, and `H·v` by finite differences of the gradient.
    #[test]
    fn a_chain_matches_finite_differences() {
        let device = Default::default();
        let h1 = DenseConfig::new(3, 6)
            .with_seed(1)
            .init::<B>(&device)
            .unwrap();
        let h2 = DenseConfig::new(6, 1)
            .with_seed(2)
            .init::<B>(&device)
            .unwrap();
        let chain = (&h1, Activation::Softplus, &h2);
        let x = ebm_testing::normal::<B, 2>([4, 3], 1.0, 7, &device);
        let v = ebm_testing::normal::<B, 2>([8, 3], 1.0, 8, &device);
        let values = |t: Tensor<B, 2>| t.into_data().to_vec::<f32>().unwrap();
        let (g, hv) = grad_and_hvps(&chain, x.clone(), v.clone());
        assert_eq!(values(grad(&chain, x.clone())), values(g.clone()));
        let h = 1e-2;
        // Central differences along v: (∇E(x + h·v) − ∇E(x − h·v)) / 2h, per probe.
        let x2 = Tensor::cat(vec![x.clone(), x.clone()], 0);
        let fd = (grad(&chain, x2.clone() + v.clone().mul_scalar(h))
            - grad(&chain, x2 - v.clone().mul_scalar(h)))
        .div_scalar(2.0 * h);
        for (a, b) in values(hv).iter().zip(values(fd)) {
            assert!((a - b).abs() < 1e-3 * (1.0 + b.abs()), "H·v {a} vs {b}");
        }
        // The gradient along each coordinate, by differences of the energy.
        let e = |t: Tensor<B, 2>| energy(&chain, t).into_data().to_vec::<f32>().unwrap();
        let g = values(g);
        for k in 0..3 {
            let step = Tensor::<B, 2>::zeros([4, 3], &device).slice_assign(
                [0..4, k..k + 1],
                Tensor::ones([4, 1], &device).mul_scalar(h),
            );
            let (up, down) = (e(x.clone() + step.clone()), e(x.clone() - step));
            for i in 0..4 {
                let fd = (up[i] - down[i]) / (2.0 * h as f32);
                assert!(
                    (g[i * 3 + k] - fd).abs() < 1e-3,
                    "dE/dx[{i},{k}] {} vs {fd}",
                    g[i * 3 + k]
                );
            }
        }
    }
}
