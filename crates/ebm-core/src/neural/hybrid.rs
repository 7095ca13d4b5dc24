//! Hybrid energy `σ(α)·E_analytic + (1 − σ(α))·E_neural` with a learnable mixing logit `α`.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::Tensor;
use burn::tensor::activation::sigmoid;
use burn::tensor::backend::Backend;

use super::{Mlp, MlpConfig};
use crate::analytic::{AnalyticEnergy, AnalyticHessian};
use crate::cpu_kernels::{CpuKernels, EbmBackend};
use crate::energy::{Energy, Inner, SecondOrderEnergy};
use crate::error::{EnergyError, Result};

/// Builds a [`Hybrid`].
#[derive(Config, Debug)]
pub struct HybridConfig {
    /// The neural part.
    pub mlp: MlpConfig,
    /// Initial mixing logit `α` (the seeds use 0.5, i.e. weight σ(0.5) ≈ 0.62 on the analytic part).
    #[config(default = 0.5)]
    pub alpha: f64,
}

crate::json_config!(
    HybridConfig,
    required = ["mlp"],
    template = HybridConfig::new(crate::neural::MlpConfig::new(0, vec![]))
);

impl HybridConfig {
    /// Builds the hybrid around `analytic`, whose dimension must match the MLP's input.
    pub fn init<B: Backend, A: AnalyticEnergy + Clone>(
        &self,
        analytic: A,
        device: &B::Device,
    ) -> Result<Hybrid<B, A>> {
        if let Some(d) = analytic.input_dim()
            && d != self.mlp.input_dim
        {
            return Err(EnergyError::Dimension {
                expected: self.mlp.input_dim,
                got: d,
            });
        }
        Hybrid::new(analytic, self.mlp.init(device)?, self.alpha, device)
    }
}

/// `E(x) = σ(α)·E_analytic(x) + (1 − σ(α))·E_neural(x)`: a known prior shape corrected by a
/// network, with the balance `α` learned. The network is any Burn module that is an [`Energy`]
/// (the built-in [`Mlp`] by default, [`Hybrid::new`] takes another). Second order (usable in
/// score matching) when the analytic part has a closed-form Hessian ([`AnalyticHessian`]) and
/// the network is a [`SecondOrderEnergy`].
#[derive(Module, Debug)]
pub struct Hybrid<B: Backend, A: AnalyticEnergy + Clone, N: Module<B> = Mlp<B>> {
    /// Mixing logit `α`, shape `[1]`.
    pub alpha: Param<Tensor<B, 1>>,
    /// The analytic part (not a parameter).
    #[module(skip)]
    pub analytic: A,
    /// The neural part.
    pub neural: N,
}

impl<B: Backend, A: AnalyticEnergy + Clone, N: Module<B>> Hybrid<B, A, N> {
    /// Mixes `analytic` and the network `neural` (any Burn module that is an [`Energy`], for
    /// example one built from [`crate::neural::layers`]) with the initial logit `alpha`.
    pub fn new(analytic: A, neural: N, alpha: f64, device: &B::Device) -> Result<Self> {
        if !alpha.is_finite() {
            return Err(EnergyError::NonFinite { what: "alpha" });
        }
        Ok(Self {
            alpha: Param::from_tensor(Tensor::from_floats([alpha], device)),
            analytic,
            neural,
        })
    }

    /// The current weight `σ(α)` of the analytic part.
    pub fn analytic_weight(&self) -> f64 {
        let a: f64 = burn::tensor::ElementConversion::elem(self.alpha.val().into_scalar());
        1.0 / (1.0 + (-a).exp())
    }
}

/// Mixes two per-sample quantities with weight `w = σ(α)` of shape `[1]`.
fn mix<Bk: CpuKernels, const D: usize>(
    w: Tensor<Bk, 1>,
    analytic: Tensor<Bk, D>,
    neural: Tensor<Bk, D>,
) -> Tensor<Bk, D> {
    let w: Tensor<Bk, D> = w.reshape([1; D]);
    analytic * w.clone() + neural * w.neg().add_scalar(1.0)
}

impl<B, A, N> Energy<B> for Hybrid<B, A, N>
where
    B: EbmBackend,
    A: AnalyticEnergy + Clone,
    N: Energy<B> + Module<B>,
{
    fn input_dim(&self) -> Option<usize> {
        Energy::<B>::input_dim(&self.neural).or(self.analytic.input_dim())
    }

    fn energy(&self, x: Tensor<B, 2>) -> Tensor<B, 1> {
        crate::assert_batch(
            std::any::type_name::<Self>(),
            Energy::<B>::input_dim(self),
            x.dims(),
        );
        let w = sigmoid(self.alpha.val());
        mix(
            w,
            AnalyticEnergy::energy(&self.analytic, x.clone()),
            self.neural.energy(x),
        )
    }

    fn energy_value(&self, x: Tensor<Inner<B>, 2>) -> Tensor<Inner<B>, 1> {
        crate::assert_batch(
            std::any::type_name::<Self>(),
            Energy::<B>::input_dim(self),
            x.dims(),
        );
        let w = sigmoid(self.alpha.val().inner());
        mix(
            w,
            AnalyticEnergy::energy(&self.analytic, x.clone()),
            self.neural.energy_value(x),
        )
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
        let w = sigmoid(self.alpha.val().inner());
        let (ea, ga) = AnalyticEnergy::energy_and_grad(&self.analytic, x.clone());
        let (en, gn) = self.neural.energy_and_grad(x);
        (mix(w.clone(), ea, en), mix(w, ga, gn))
    }
}

impl<B, A, N> SecondOrderEnergy<B> for Hybrid<B, A, N>
where
    B: EbmBackend,
    A: AnalyticHessian + Clone,
    N: SecondOrderEnergy<B> + Module<B>,
{
    fn grad_energy_tracked(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        crate::assert_batch(
            std::any::type_name::<Self>(),
            Energy::<B>::input_dim(self),
            x.dims(),
        );
        let w = sigmoid(self.alpha.val());
        mix(
            w,
            AnalyticEnergy::grad_energy(&self.analytic, x.clone()),
            self.neural.grad_energy_tracked(x),
        )
    }

    fn grad_and_hvp_tracked(
        &self,
        x: Tensor<B, 2>,
        v: Tensor<B, 2>,
    ) -> (Tensor<B, 2>, Tensor<B, 2>) {
        crate::energy::one_probe_per_sample(self, x, v)
    }

    /// The network's batched probes (the MLP's forward and gradient sweeps once, the tangents
    /// per probe); the analytic Hessian is a formula per row, applied to `x` repeated once per
    /// probe.
    fn grad_and_hvps_tracked(
        &self,
        x: Tensor<B, 2>,
        v: Tensor<B, 2>,
    ) -> (Tensor<B, 2>, Tensor<B, 2>) {
        crate::energy::assert_hvp_input(self, x.dims(), v.dims(), true);
        let p = v.dims()[0] / x.dims()[0];
        let w = sigmoid(self.alpha.val());
        let ga = AnalyticEnergy::grad_energy(&self.analytic, x.clone());
        // Nothing is differentiated through the repeat (the analytic part has no parameters):
        // Burn 0.21's backward of `repeat_dim` over several rows sums the wrong rows.
        let rows = if p == 1 {
            x.clone()
        } else {
            x.clone().repeat_dim(0, p)
        };
        let ha = self.analytic.hvp(rows, v.clone());
        let (gn, hn) = self.neural.grad_and_hvps_tracked(x, v);
        (mix(w.clone(), ga, gn), mix(w, ha, hn))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytic::Gaussian;
    use crate::check::{CheckConfig, check_energy};
    use crate::neural::Activation;
    use ebm_testing::{TestBackend, TestInner};

    type B = TestBackend;

    /// Several probes per sample in one call give what one probe per repeated row gives, and
    /// the parameter gradients through them agree too.
    #[test]
    fn batched_probes_match_repeated_rows() {
        let device = Default::default();
        let (n, d, p) = (5, 2, 3);
        let x = Tensor::<B, 2>::from_inner(ebm_testing::normal([n, d], 1.5, 21, &device));
        let v = Tensor::<B, 2>::from_inner(ebm_testing::normal([p * n, d], 1.0, 22, &device));
        let cfg = HybridConfig::new(MlpConfig::new(d, vec![8]).with_activation(Activation::Silu));
        let h = cfg
            .init::<B, _>(Gaussian::standard(d).unwrap(), &device)
            .unwrap();
        // Output `which` (0: ∇E, 1: H·v) of the batched or the repeated-row call, built afresh
        // each time: a backward pass consumes the graph.
        let run = |batched: bool, which: usize| {
            let (g, hv) = if batched {
                h.grad_and_hvps_tracked(x.clone(), v.clone())
            } else {
                let (g, hv) = h.grad_and_hvp_tracked(x.clone().repeat_dim(0, p), v.clone());
                (g.slice([0..n, 0..d]), hv)
            };
            if which == 0 { g } else { hv }
        };
        let values = |t: Tensor<B, 2>| t.inner().into_data().to_vec::<f32>().unwrap();
        let alpha_grad = |t: Tensor<B, 2>| {
            let grads = t.square().sum().backward();
            let g = h.alpha.val().grad(&grads).expect("α is a parameter");
            g.into_data().to_vec::<f32>().unwrap()[0]
        };
        for which in [0, 1] {
            for (a, b) in values(run(true, which))
                .iter()
                .zip(&values(run(false, which)))
            {
                assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{a} vs {b}");
            }
            let (a, b) = (alpha_grad(run(true, which)), alpha_grad(run(false, which)));
            assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "∂/∂α: {a} vs {b}");
        }
    }

    #[test]
    fn mixes_with_sigmoid_weight_and_gradient_matches_autodiff() {
        let device = Default::default();
        let cfg = HybridConfig::new(MlpConfig::new(2, vec![8]).with_activation(Activation::Gelu));
        let h = cfg
            .init::<B, _>(Gaussian::standard(2).unwrap(), &device)
            .unwrap();
        assert!((h.analytic_weight() - 0.622_459).abs() < 1e-5);
        let x = Tensor::<TestInner, 2>::from_data([[0.3, -1.2], [1.1, 0.4]], &device);
        let report = check_energy::<B, _>(&h, x.clone(), &CheckConfig::default()).unwrap();
        assert!(report.max_gradient_error < 1e-5, "{report:?}");
        // E = w·E_gauss + (1 − w)·E_mlp, checked term by term.
        let w = h.analytic_weight() as f32;
        let eg = Energy::<B>::energy_value(&Gaussian::standard(2).unwrap(), x.clone())
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        let em = h
            .neural
            .energy_value(x.clone())
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        let eh = h.energy_value(x).into_data().to_vec::<f32>().unwrap();
        for i in 0..2 {
            assert!((eh[i] - (w * eg[i] + (1.0 - w) * em[i])).abs() < 1e-5);
        }
    }

    /// Any network that is an energy: here a learnable quadratic `½(x − μ)ᵀP(x − μ)`, P = 2I.
    /// With w = σ(0) = ½ and the standard Gaussian, `∇²E = ½·I + ½·2I = 1.5·I`.
    #[test]
    fn takes_any_neural_energy() {
        use crate::neural::QuadraticConfig;
        let device = Default::default();
        let q = QuadraticConfig::new(2)
            .with_initial_precision(2.0)
            .init::<B>(&device)
            .unwrap();
        let h = Hybrid::new(Gaussian::standard(2).unwrap(), q, 0.0, &device).unwrap();
        let x = Tensor::<TestInner, 2>::from_data([[0.3, -1.2], [1.1, 0.4]], &device);
        let report = check_energy::<B, _>(&h, x.clone(), &CheckConfig::default()).unwrap();
        assert!(report.max_gradient_error < 1e-5, "{report:?}");
        let v = Tensor::<B, 2>::from_data([[1.0, 0.0], [0.5, -2.0]], &device);
        let (_, hv) = h.grad_and_hvp_tracked(Tensor::from_inner(x.clone()), v);
        let hv = hv.inner().into_data().to_vec::<f32>().unwrap();
        for (a, b) in hv.iter().zip([1.5, 0.0, 0.75, -3.0]) {
            assert!((a - b).abs() < 1e-5, "{hv:?}");
        }
        let grads = h.energy(Tensor::from_inner(x)).sum().backward();
        assert!(h.neural.precision.val().grad(&grads).is_some());
        assert!(
            Hybrid::new(
                Gaussian::standard(2).unwrap(),
                h.neural.clone(),
                f64::NAN,
                &device
            )
            .is_err()
        );
    }

    #[test]
    fn alpha_receives_a_gradient() {
        let device = Default::default();
        let h = HybridConfig::new(MlpConfig::new(2, vec![4]))
            .init::<B, _>(Gaussian::standard(2).unwrap(), &device)
            .unwrap();
        let x = Tensor::<B, 2>::from_data([[1.0, 2.0]], &device);
        let grads = h.energy(x).sum().backward();
        assert!(h.alpha.val().grad(&grads).is_some());
    }

    #[test]
    fn dimension_mismatch_is_a_typed_error() {
        let err = HybridConfig::new(MlpConfig::new(3, vec![4]))
            .init::<B, _>(Gaussian::standard(2).unwrap(), &Default::default())
            .unwrap_err();
        assert_eq!(
            err,
            EnergyError::Dimension {
                expected: 3,
                got: 2
            }
        );
    }
}
