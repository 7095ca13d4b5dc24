//! Mixture of energies: `E(x) = −log Σₖ wₖ·exp(−Eₖ(x))`.

use burn::tensor::Tensor;
use burn::tensor::activation::softmax;
use burn::tensor::backend::{AutodiffBackend, Backend};

use super::{BoxedEnergy, check_weights, common_dim};
use crate::energy::{Energy, Inner};
use crate::error::{EnergyError, Result};

/// The energy of the mixture density `p(x) ∝ Σₖ wₖ·exp(−Eₖ(x))`.
///
/// Weights must be positive; they are normalised to sum to 1. The sum is computed with
/// log-sum-exp, `E = −LSEₖ(log wₖ − Eₖ)`, so energies of hundreds do not underflow. Note the sign:
/// `+log wₖ` (TorchEBM's seed code has `−log wₖ`, which favours the *lightest* components).
///
/// The gradient is `Σₖ rₖ·∇Eₖ` with responsibilities `r = softmax(log w − E)`.
pub struct Mixture<B: AutodiffBackend> {
    parts: Vec<BoxedEnergy<B>>,
    log_weights: Vec<f64>,
    dim: Option<usize>,
}

impl<B: AutodiffBackend> Mixture<B> {
    /// A mixture of `parts` with positive `weights` (one per part).
    pub fn new(parts: Vec<BoxedEnergy<B>>, weights: Vec<f64>) -> Result<Self> {
        check_weights(&weights, parts.len())?;
        if let Some(&w) = weights.iter().find(|&&w| w <= 0.0) {
            return Err(EnergyError::InvalidParameter(crate::InvalidParameter::new(
                "mixture weight",
                w,
                "must be > 0",
            )));
        }
        let dim = common_dim(&parts)?;
        // Scaled by the largest first, so that weights near f64::MAX do not overflow the sum.
        let largest = weights.iter().fold(0.0f64, |m, &w| m.max(w));
        let total: f64 = weights.iter().map(|w| w / largest).sum();
        let log_weights = weights
            .iter()
            .map(|w| (w / largest).ln() - total.ln())
            .collect();
        Ok(Self {
            parts,
            log_weights,
            dim,
        })
    }

    /// `log wₖ − Eₖ(x)` as `[N, K]`.
    fn logits<Bk: Backend>(&self, energies: Vec<Tensor<Bk, 1>>) -> Tensor<Bk, 2> {
        // Scalar ops, not a `[1, K]` row: they need no host-to-device copy.
        let logits = energies
            .into_iter()
            .zip(&self.log_weights)
            .map(|(e, &lw)| e.neg().add_scalar(lw))
            .collect();
        Tensor::stack(logits, 1)
    }
}

/// `−LSE` over the component axis, `[N, K] → [N]`, stable for any magnitude.
fn neg_logsumexp<Bk: Backend>(logits: Tensor<Bk, 2>) -> Tensor<Bk, 1> {
    let n = logits.dims()[0];
    let m = logits.clone().max_dim(1).detach();
    let lse = (logits - m.clone()).exp().sum_dim(1).log() + m;
    lse.neg().reshape([n])
}

impl<B: AutodiffBackend> Energy<B> for Mixture<B> {
    fn input_dim(&self) -> Option<usize> {
        self.dim
    }

    fn energy(&self, x: Tensor<B, 2>) -> Tensor<B, 1> {
        crate::assert_batch(
            std::any::type_name::<Self>(),
            Energy::<B>::input_dim(self),
            x.dims(),
        );
        let es = self.parts.iter().map(|p| p.energy(x.clone())).collect();
        neg_logsumexp(self.logits(es))
    }

    fn energy_value(&self, x: Tensor<Inner<B>, 2>) -> Tensor<Inner<B>, 1> {
        crate::assert_batch(
            std::any::type_name::<Self>(),
            Energy::<B>::input_dim(self),
            x.dims(),
        );
        let es = self
            .parts
            .iter()
            .map(|p| p.energy_value(x.clone()))
            .collect();
        neg_logsumexp(self.logits(es))
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
        let [n, d] = x.dims();
        let (es, gs): (Vec<_>, Vec<_>) = self
            .parts
            .iter()
            .map(|p| p.energy_and_grad(x.clone()))
            .unzip();
        let logits = self.logits(es);
        let r = softmax(logits.clone(), 1); // [N, K]
        let g: Tensor<Inner<B>, 3> = Tensor::stack(gs, 1); // [N, K, D]
        let grad = (g * r.unsqueeze_dim::<3>(2)).sum_dim(1).reshape([n, d]);
        (neg_logsumexp(logits), grad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytic::Gaussian;
    use crate::check::{CheckConfig, check_energy};
    use ebm_testing::{TestBackend, TestInner};

    type B = TestBackend;

    fn components() -> Vec<BoxedEnergy<B>> {
        let c = vec![vec![0.25, 0.0], vec![0.0, 0.25]];
        vec![
            Box::new(Gaussian::new(vec![-2.0, 0.0], c.clone()).unwrap()),
            Box::new(Gaussian::new(vec![2.0, 0.0], c).unwrap()),
        ]
    }

    #[test]
    fn weights_enter_with_the_right_sign() {
        // With weights (0.9, 0.1) the heavier component must have the lower energy at its mode.
        let m = Mixture::new(components(), vec![0.9, 0.1]).unwrap();
        let x = Tensor::<TestInner, 2>::from_data([[-2.0, 0.0], [2.0, 0.0]], &Default::default());
        let e = Energy::<B>::energy_value(&m, x)
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        assert!(e[0] < e[1], "{e:?}");
        // At a component's mode the other component is negligible: E ≈ −log w.
        assert!((e[0] as f64 + 0.9f64.ln()).abs() < 1e-4, "{e:?}");
        assert!((e[1] as f64 + 0.1f64.ln()).abs() < 1e-4, "{e:?}");
    }

    #[test]
    fn log_sum_exp_is_stable_and_gradient_matches_autodiff() {
        let m = Mixture::new(components(), vec![1.0, 3.0]).unwrap();
        // Energies near 1e3 would underflow exp(−E) without log-sum-exp.
        let x = Tensor::<TestInner, 2>::from_data(
            [[0.0, 0.0], [30.0, 1.0], [-25.0, -3.0], [1.0, 0.5]],
            &Default::default(),
        );
        let report = check_energy::<B, _>(&m, x, &CheckConfig::default()).unwrap();
        assert_eq!(report.non_finite_energies, 0);
        assert!(report.energy_max > 500.0, "{report:?}");
        assert!(report.max_gradient_error < 1e-4, "{report:?}");
    }

    #[test]
    fn non_positive_weights_are_rejected() {
        assert!(matches!(
            Mixture::new(components(), vec![1.0, 0.0]),
            Err(EnergyError::InvalidParameter(crate::InvalidParameter {
                name: "mixture weight",
                ..
            }))
        ));
        assert!(matches!(
            Mixture::new(components(), vec![]),
            Err(EnergyError::Empty { .. })
        ));
    }
}
