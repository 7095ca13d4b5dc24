//! Multi-layer perceptron energy `E(x) = w_outᵀ·f(… f(W₁ᵀx + b₁) …) + b_out`.

use burn::config::Config;
use burn::module::{Initializer, Module, Param};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use crate::cpu_kernels::{CpuKernels, EbmBackend};

use super::Activation;
use super::column_product::column_product;
use super::init::ParamInit;
use crate::energy::{Energy, Inner, SecondOrderEnergy};
use crate::error::{EnergyError, MAX_TENSOR_ELEMENTS, Result, require_finite_tensor, require_size};

/// Builds an [`Mlp`] energy.
#[derive(Config, Debug)]
pub struct MlpConfig {
    /// Features per input sample.
    pub input_dim: usize,
    /// Widths of the hidden layers, e.g. `[128, 128]`. The output layer (width 1) is added.
    pub hidden: Vec<usize>,
    /// Activation after every hidden layer.
    #[config(default = "Activation::Silu")]
    pub activation: Activation,
    /// Initialiser of the weights (Burn's `Linear` default).
    #[config(
        default = "Initializer::KaimingUniform{gain: 1.0 / 3.0f64.sqrt(), fan_out_only: false}"
    )]
    pub initializer: Initializer,
    /// Initialiser of the biases; `None` uses [`MlpConfig::initializer`] as Burn's `Linear` does.
    #[config(default = "None")]
    pub bias_initializer: Option<Initializer>,
    /// Seed of the initialisation: the same seed gives the same weights, on every backend.
    #[config(default = 0)]
    pub seed: u64,
}

crate::json_config!(
    MlpConfig,
    required = ["input_dim", "hidden"],
    template = MlpConfig::new(0, vec![])
);

/// A dense layer `y = x·W + b` with `W: [in, out]`, used by [`Mlp`].
#[derive(Module, Debug)]
pub struct Dense<B: Backend> {
    /// `[in, out]`.
    pub weight: Param<Tensor<B, 2>>,
    /// `[out]`.
    pub bias: Param<Tensor<B, 1>>,
}

/// An MLP energy `[N, D] → [N]` whose input gradient and Hessian-vector products are written
/// by hand with primitive tensor ops.
///
/// Why by hand: samplers get `∇ₓE` from one forward and one backward sweep without autodiff
/// bookkeeping, and score matching can differentiate `∇ₓE` (and `H·v`) in the parameters with a
/// single first-order backward pass. Burn's nested autodiff would panic on the fused `linear` op.
///
/// ```
/// use burn::backend::{Autodiff, NdArray};
/// use burn::tensor::Tensor;
/// use ebm_core::{neural::{Activation, MlpConfig}, Energy};
///
/// type B = Autodiff<NdArray>;
/// let mlp = MlpConfig::new(2, vec![16, 16]).with_activation(Activation::Softplus).init::<B>(&Default::default()).unwrap();
/// let x = Tensor::<NdArray, 2>::zeros([5, 2], &Default::default());
/// assert_eq!(mlp.grad_energy(x).dims(), [5, 2]);
/// ```
#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    /// Hidden layers, input first.
    pub hidden: Vec<Dense<B>>,
    /// Output layer (`[last hidden, 1]`).
    pub output: Dense<B>,
    #[module(skip)]
    activation: Activation,
    #[module(skip)]
    input_dim: usize,
}

impl MlpConfig {
    /// Builds the MLP on `device`, its weights drawn from a generator seeded with
    /// [`MlpConfig::seed`] (not the backend's shared RNG, so concurrent work cannot change them).
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<Mlp<B>> {
        if self.input_dim == 0 {
            return Err(EnergyError::Empty {
                what: "MLP input dimension",
            });
        }
        if let Some(&w) = self.hidden.iter().find(|&&w| w == 0) {
            return Err(EnergyError::InvalidParameter(crate::InvalidParameter::new(
                "hidden width",
                w,
                "every hidden layer needs at least one unit",
            )));
        }
        self.activation.validate()?;
        let mut widths = vec![self.input_dim];
        widths.extend(&self.hidden);
        widths.push(1);
        for w in widths.windows(2) {
            require_size("MLP weight matrix", w, MAX_TENSOR_ELEMENTS)?;
        }
        widths.pop();
        let mut rng = ParamInit::new(self.seed);
        let bias_init = self.bias_initializer.as_ref().unwrap_or(&self.initializer);
        let mut layer = |d_in: usize, d_out: usize| Dense {
            weight: rng.param(&self.initializer, [d_in, d_out], d_in, d_out, device),
            bias: rng.param(bias_init, [d_out], d_in, d_out, device),
        };
        let hidden = widths.windows(2).map(|w| layer(w[0], w[1])).collect();
        let output = layer(*widths.last().expect("non-empty"), 1);
        Ok(Mlp {
            hidden,
            output,
            activation: self.activation,
            input_dim: self.input_dim,
        })
    }
}

/// Parameter tensors of an MLP on some backend (tracked or not).
struct Weights<Bk: Backend> {
    hidden: Vec<(Tensor<Bk, 2>, Tensor<Bk, 1>)>,
    out_w: Tensor<Bk, 2>,
    out_b: Tensor<Bk, 1>,
}

impl<Bk: CpuKernels> Weights<Bk> {
    fn affine(w: &Tensor<Bk, 2>, b: &Tensor<Bk, 1>, x: Tensor<Bk, 2>) -> Tensor<Bk, 2> {
        column_product(x, w.clone()) + b.clone().unsqueeze_dim(0)
    }

    /// The output layer applied to the last activation: `[N]`.
    fn head(&self, a: Tensor<Bk, 2>) -> Tensor<Bk, 1> {
        let n = a.dims()[0];
        Self::affine(&self.out_w, &self.out_b, a).reshape([n])
    }

    fn energy(&self, act: Activation, x: Tensor<Bk, 2>) -> Tensor<Bk, 1> {
        let a = self
            .hidden
            .iter()
            .fold(x, |a, (w, b)| act.apply(Self::affine(w, b, a)));
        self.head(a)
    }

    /// Energy and `∇ₓE`: forward keeping `f′(z)`, then the backward sweep
    /// `g ← (g ⊙ f′(z))·Wᵀ` from `g = w_outᵀ`.
    fn energy_and_grad(&self, act: Activation, x: Tensor<Bk, 2>) -> (Tensor<Bk, 1>, Tensor<Bk, 2>) {
        let mut slopes = Vec::with_capacity(self.hidden.len());
        let mut a = x;
        for (w, b) in &self.hidden {
            let (f, d1) = act.value_and_slope(Self::affine(w, b, a));
            slopes.push(d1);
            a = f;
        }
        let e = self.head(a);
        let mut g = self.out_w.clone().transpose(); // [1, H], broadcast over the batch
        for ((w, _), d1) in self.hidden.iter().zip(slopes).rev() {
            g = (g * d1).matmul(w.clone().transpose());
        }
        (e, g)
    }

    /// `∇ₓE` and `H·vₚ` by forward-mode differentiation of the backward sweep: the tangent `ż` of
    /// every pre-activation along each probe and the tangent `ġ` of every backward signal.
    ///
    /// `x` is `[N, D]` and `v` is `[P·N, D]` (row `p·N + i` probes sample `i`): the forward and
    /// gradient pass runs on the `N` samples once, only the tangents on all `P·N` rows, with the
    /// per-sample factors broadcast over the probes.
    fn grad_and_hvps(
        &self,
        act: Activation,
        x: Tensor<Bk, 2>,
        v: Tensor<Bk, 2>,
    ) -> (Tensor<Bk, 2>, Tensor<Bk, 2>) {
        let [n, d] = x.dims();
        let p = crate::energy::probes_per_row(n, v.dims()[0]);
        let device = x.device();
        // `[P·N, w]` ↔ `[P, N, w]`, so that a per-sample `[1, N, w]` factor broadcasts.
        let by_probe = |t: Tensor<Bk, 2>| {
            let w = t.dims()[1];
            t.reshape([p, n, w])
        };
        let flat = |t: Tensor<Bk, 3>| {
            let w = t.dims()[2];
            t.reshape([p * n, w])
        };
        let per_sample = |t: Tensor<Bk, 2>| t.unsqueeze_dim::<3>(0);
        let mut cache = Vec::with_capacity(self.hidden.len());
        let (mut a, mut a_dot) = (x, v);
        for (w, b) in &self.hidden {
            let z = Self::affine(w, b, a);
            let z_dot = column_product(a_dot, w.clone());
            let (f, d1, d2) = act.derivatives(z);
            a_dot = flat(by_probe(z_dot.clone()) * per_sample(d1.clone()));
            a = f;
            cache.push((d1, d2, z_dot));
        }
        let width = self.out_w.dims()[0];
        let mut g = self.out_w.clone().transpose().expand([n, width]);
        let mut g_dot: Option<Tensor<Bk, 2>> = None; // the output weights do not depend on x
        for ((w, _), (d1, d2, z_dot)) in self.hidden.iter().zip(cache).rev() {
            let wt = w.clone().transpose();
            let curvature = by_probe(z_dot) * per_sample(g.clone() * d2);
            let gz_dot = match g_dot {
                Some(gd) => by_probe(gd) * per_sample(d1.clone()) + curvature,
                None => curvature,
            };
            g = (g * d1).matmul(wt.clone());
            g_dot = Some(flat(gz_dot).matmul(wt));
        }
        let hv = g_dot.unwrap_or_else(|| Tensor::zeros([p * n, d], &device));
        (g, hv)
    }
}

impl<B: CpuKernels> Mlp<B> {
    /// An MLP from explicit parameters: `weights[l]` is `[in, out]` (the transpose of PyTorch's
    /// `nn.Linear.weight`) and `biases[l]` is `[out]`; the last layer must have one output.
    pub fn from_parameters(
        weights: Vec<Tensor<B, 2>>,
        biases: Vec<Tensor<B, 1>>,
        activation: Activation,
    ) -> Result<Self> {
        if weights.is_empty() {
            return Err(EnergyError::Empty { what: "MLP layers" });
        }
        activation.validate()?;
        for w in &weights {
            require_finite_tensor("MLP weights", w)?;
        }
        for b in &biases {
            require_finite_tensor("MLP biases", b)?;
        }
        if weights.len() != biases.len() {
            return Err(EnergyError::LengthMismatch {
                what: "MLP weights vs biases",
                left: weights.len(),
                right: biases.len(),
            });
        }
        let mut width = weights[0].dims()[0];
        let input_dim = width;
        for (w, b) in weights.iter().zip(&biases) {
            let [d_in, d_out] = w.dims();
            if d_in != width {
                return Err(EnergyError::Dimension {
                    expected: width,
                    got: d_in,
                });
            }
            if b.dims()[0] != d_out {
                return Err(EnergyError::Dimension {
                    expected: d_out,
                    got: b.dims()[0],
                });
            }
            width = d_out;
        }
        if width != 1 {
            return Err(EnergyError::Dimension {
                expected: 1,
                got: width,
            });
        }
        let mut layers: Vec<Dense<B>> = weights
            .into_iter()
            .zip(biases)
            .map(|(w, b)| Dense {
                weight: Param::from_tensor(w),
                bias: Param::from_tensor(b),
            })
            .collect();
        let output = layers.pop().expect("at least one layer");
        Ok(Self {
            hidden: layers,
            output,
            activation,
            input_dim,
        })
    }

    /// The activation.
    pub fn activation(&self) -> Activation {
        self.activation
    }

    fn weights_with<Bk: CpuKernels>(
        &self,
        map: impl Fn(Tensor<B, 2>) -> Tensor<Bk, 2>,
        map1: impl Fn(Tensor<B, 1>) -> Tensor<Bk, 1>,
    ) -> Weights<Bk> {
        Weights {
            hidden: self
                .hidden
                .iter()
                .map(|l| (map(l.weight.val()), map1(l.bias.val())))
                .collect(),
            out_w: map(self.output.weight.val()),
            out_b: map1(self.output.bias.val()),
        }
    }

    fn tracked(&self) -> Weights<B> {
        self.weights_with(|t| t, |t| t)
    }
}

impl<B: EbmBackend> Mlp<B> {
    /// The parameters on the inner backend: cheap (shared storage) and outside any graph.
    fn untracked(&self) -> Weights<Inner<B>> {
        self.weights_with(|t| t.inner(), |t| t.inner())
    }
}

impl<B: EbmBackend> Energy<B> for Mlp<B> {
    fn input_dim(&self) -> Option<usize> {
        Some(self.input_dim)
    }

    fn energy(&self, x: Tensor<B, 2>) -> Tensor<B, 1> {
        crate::assert_batch(
            std::any::type_name::<Self>(),
            Energy::<B>::input_dim(self),
            x.dims(),
        );
        self.tracked().energy(self.activation, x)
    }

    fn energy_value(&self, x: Tensor<Inner<B>, 2>) -> Tensor<Inner<B>, 1> {
        crate::assert_batch(
            std::any::type_name::<Self>(),
            Energy::<B>::input_dim(self),
            x.dims(),
        );
        #[cfg(feature = "ndarray")]
        if let Some(kernel) = self.host_kernel(&x) {
            return kernel.run(x, false).0;
        }
        self.untracked().energy(self.activation, x)
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
        #[cfg(feature = "ndarray")]
        if let Some(kernel) = self.host_kernel(&x) {
            let (e, g) = kernel.run(x, true);
            return (e, g.expect("asked for the gradient"));
        }
        self.untracked().energy_and_grad(self.activation, x)
    }
}

#[cfg(feature = "ndarray")]
impl<B: EbmBackend> Mlp<B> {
    /// The fused host kernel, where it applies (NdArray, float32, a supported activation).
    fn host_kernel(&self, x: &Tensor<Inner<B>, 2>) -> Option<super::host_mlp::HostMlp> {
        if self.hidden.is_empty()
            || !super::host_mlp::applies::<Inner<B>>(x.dtype(), self.activation)
        {
            return None;
        }
        let w = self.untracked();
        Some(super::host_mlp::HostMlp::new(
            &w.hidden,
            &w.out_w,
            &w.out_b,
            self.activation,
        ))
    }
}

impl<B: EbmBackend> SecondOrderEnergy<B> for Mlp<B> {
    fn grad_energy_tracked(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        crate::assert_batch(
            std::any::type_name::<Self>(),
            Energy::<B>::input_dim(self),
            x.dims(),
        );
        self.tracked().energy_and_grad(self.activation, x).1
    }

    fn grad_and_hvp_tracked(
        &self,
        x: Tensor<B, 2>,
        v: Tensor<B, 2>,
    ) -> (Tensor<B, 2>, Tensor<B, 2>) {
        crate::energy::assert_hvp_input(self, x.dims(), v.dims(), false);
        self.tracked().grad_and_hvps(self.activation, x, v)
    }

    fn grad_and_hvps_tracked(
        &self,
        x: Tensor<B, 2>,
        v: Tensor<B, 2>,
    ) -> (Tensor<B, 2>, Tensor<B, 2>) {
        crate::energy::assert_hvp_input(self, x.dims(), v.dims(), true);
        self.tracked().grad_and_hvps(self.activation, x, v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{CheckConfig, check_energy};
    use ebm_testing::{TestBackend, TestInner};

    type B = TestBackend;

    #[test]
    fn hand_written_gradient_matches_autodiff_for_every_activation() {
        let device = Default::default();
        let x = Tensor::<TestInner, 2>::from_data(
            [[0.3, -1.2, 0.5], [1.1, 0.4, -0.2], [-0.7, 0.9, 2.0]],
            &device,
        );
        for act in Activation::ALL_FOR_TESTS {
            let mlp = MlpConfig::new(3, vec![16, 8])
                .with_activation(act)
                .init::<B>(&device)
                .unwrap();
            let report = check_energy::<B, _>(&mlp, x.clone(), &CheckConfig::default()).unwrap();
            assert!(report.max_gradient_error < 1e-5, "{act:?}: {report:?}");
        }
    }

    /// On NdArray, `Energy::energy_and_grad` runs the fused host kernel; the generic tensor-op
    /// path defines the result. Batch 333 with 128-wide layers splits across threads unevenly.
    #[test]
    fn every_backend_path_agrees_with_the_generic_tensor_ops() {
        let device = Default::default();
        let x = ebm_testing::normal::<TestInner, 2>([333, 3], 2.0, 3, &device);
        let values = |t: Tensor<TestInner, 2>| t.into_data().to_vec::<f32>().unwrap();
        for act in Activation::ALL_FOR_TESTS
            .into_iter()
            .filter(|a| !matches!(a, Activation::Gelu))
        {
            let mlp = MlpConfig::new(3, vec![128, 64, 128])
                .with_activation(act)
                .init::<B>(&device)
                .unwrap();
            let (e_generic, g_generic) = mlp.untracked().energy_and_grad(act, x.clone());
            let (e, g) = mlp.energy_and_grad(x.clone());
            let e_alone = mlp.energy_value(x.clone());
            let scale = values(g_generic.clone().abs().max_dim(0).max_dim(1))[0] as f64;
            for (name, ours, generic) in [
                (
                    "energy",
                    values(e.unsqueeze_dim(1)),
                    values(e_generic.clone().unsqueeze_dim(1)),
                ),
                (
                    "energy alone",
                    values(e_alone.unsqueeze_dim(1)),
                    values(e_generic.unsqueeze_dim(1)),
                ),
                ("gradient", values(g), values(g_generic)),
            ] {
                for (a, b) in ours.iter().zip(&generic) {
                    let tol = ebm_testing::tolerance(1e-5) * (1.0 + b.abs() as f64).max(scale);
                    assert!(((a - b) as f64).abs() <= tol, "{act:?} {name}: {a} vs {b}");
                }
            }
        }
    }

    /// The fused kernel against the tensor-op definition over random architectures (depth 1–4,
    /// widths 1–130, inputs 1–6, batches 1–70) × every activation, so that a change to the
    /// MLP's math that the kernel does not follow fails here rather than only on NdArray. On a
    /// backend without the kernel (the WGPU test run) both sides are the tensor ops: nothing to
    /// compare, and 72 cases of it cost a minute on lavapipe.
    #[test]
    fn the_kernel_agrees_with_the_tensor_ops_on_random_architectures() {
        use rand::Rng;
        if !super::super::host_mlp::applies::<TestInner>(burn::tensor::DType::F32, Activation::Silu)
        {
            return;
        }
        let device = Default::default();
        let values = |t: Tensor<TestInner, 2>| t.into_data().to_vec::<f32>().unwrap();
        let mut rng = crate::random_stream::stream_rng(17, "mlp/agreement", 0);
        for case in 0..12 {
            let depth = rng.random_range(1..=4);
            let hidden: Vec<usize> = (0..depth).map(|_| rng.random_range(1..=130)).collect();
            let (d, n) = (rng.random_range(1..=6), rng.random_range(1..=70));
            let x = ebm_testing::normal::<TestInner, 2>([n, d], 2.0, case, &device);
            for act in Activation::ALL_FOR_TESTS {
                let mlp = MlpConfig::new(d, hidden.clone())
                    .with_activation(act)
                    .with_seed(case)
                    .init::<B>(&device)
                    .unwrap();
                let (e_ops, g_ops) = mlp.untracked().energy_and_grad(act, x.clone());
                let (e, g) = mlp.energy_and_grad(x.clone());
                let scale = values(g_ops.clone().abs().max_dim(0).max_dim(1))[0] as f64;
                let pairs = [
                    (
                        values(e.unsqueeze_dim(1)),
                        values(e_ops.clone().unsqueeze_dim(1)),
                    ),
                    (
                        values(mlp.energy_value(x.clone()).unsqueeze_dim(1)),
                        values(e_ops.unsqueeze_dim(1)),
                    ),
                    (values(g), values(g_ops)),
                ];
                for (what, (ours, by_ops)) in
                    ["energy", "energy alone", "gradient"].iter().zip(pairs)
                {
                    for (a, b) in ours.iter().zip(&by_ops) {
                        let tol = ebm_testing::tolerance(1e-5) * (1.0 + b.abs() as f64).max(scale);
                        assert!(
                            ((a - b) as f64).abs() <= tol,
                            "{act:?} d={d} hidden={hidden:?} n={n} {what}: {a} vs {b}"
                        );
                    }
                }
            }
        }
    }

    /// Several probes per sample in one pass give what one probe per repeated row gives.
    #[test]
    fn batched_probes_match_repeated_rows() {
        let device = Default::default();
        let (n, d, p) = (7, 3, 4);
        let x = Tensor::<B, 2>::from_inner(ebm_testing::normal([n, d], 1.5, 11, &device));
        let v = Tensor::<B, 2>::from_inner(ebm_testing::normal([p * n, d], 1.0, 12, &device));
        let mlp = MlpConfig::new(d, vec![16, 8])
            .with_activation(Activation::Selu)
            .init::<B>(&device)
            .unwrap();
        let (g, hv) = mlp.grad_and_hvps_tracked(x.clone(), v.clone());
        let (g_rep, hv_rep) = mlp.grad_and_hvp_tracked(x.repeat_dim(0, p), v);
        assert_eq!(g.dims(), [n, d]);
        let values = |t: Tensor<B, 2>| t.inner().into_data().to_vec::<f32>().unwrap();
        for (ours, repeated) in [
            (values(g), values(g_rep.slice([0..n, 0..d]))),
            (values(hv), values(hv_rep)),
        ] {
            for (a, b) in ours.iter().zip(&repeated) {
                assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{a} vs {b}");
            }
        }
    }

    /// Probes that do not tile the samples are a caller's bug, stopped with a clear message
    /// before any tensor op.
    #[test]
    #[should_panic(expected = "Mlp: probes [5, 3] for inputs [2, 3]; expected [P·N, 3]")]
    fn probes_must_tile_the_samples() {
        let device = Default::default();
        let x = Tensor::<B, 2>::zeros([2, 3], &device);
        let v = Tensor::<B, 2>::zeros([5, 3], &device);
        let mlp = MlpConfig::new(3, vec![4]).init::<B>(&device).unwrap();
        let _ = mlp.grad_and_hvps_tracked(x, v);
    }

    #[test]
    fn same_seed_same_weights() {
        let device = Default::default();
        let cfg = MlpConfig::new(2, vec![8]).with_seed(7);
        let a = cfg.init::<B>(&device).unwrap();
        let b = cfg.init::<B>(&device).unwrap();
        let c = cfg.clone().with_seed(8).init::<B>(&device).unwrap();
        let w = |m: &Mlp<B>| {
            m.hidden[0]
                .weight
                .val()
                .into_data()
                .to_vec::<f32>()
                .unwrap()
        };
        assert_eq!(w(&a), w(&b));
        assert_ne!(w(&a), w(&c));
    }

    #[test]
    fn bad_configs_are_typed_errors() {
        let device = Default::default();
        assert!(matches!(
            MlpConfig::new(0, vec![4]).init::<B>(&device),
            Err(EnergyError::Empty { .. })
        ));
        assert!(matches!(
            MlpConfig::new(2, vec![4, 0]).init::<B>(&device),
            Err(EnergyError::InvalidParameter(crate::InvalidParameter {
                name: "hidden width",
                ..
            }))
        ));
        let w = vec![
            Tensor::<B, 2>::zeros([2, 3], &device),
            Tensor::zeros([4, 1], &device),
        ];
        let b = vec![
            Tensor::<B, 1>::zeros([3], &device),
            Tensor::zeros([1], &device),
        ];
        assert!(matches!(
            Mlp::from_parameters(w, b, Activation::Silu),
            Err(EnergyError::Dimension {
                expected: 3,
                got: 4
            })
        ));
    }

    #[test]
    fn config_round_trips_through_json() {
        let cfg = MlpConfig::new(2, vec![64, 64]).with_activation(Activation::LeakyRelu {
            negative_slope: 0.2,
        });
        let json = serde_json::to_string(&cfg).unwrap();
        let back: MlpConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back.hidden, vec![64, 64]);
        assert_eq!(back.activation, cfg.activation);
    }
}
