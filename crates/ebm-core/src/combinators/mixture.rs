//! Mixture of energies: `E(x) = −log Σₖ wₖ·exp(−Eₖ(x))`.

use std::marker::PhantomData;

use burn::tensor::Tensor;
use burn::tensor::activation::softmax;
use burn::tensor::backend::{AutodiffBackend, Backend};

use super::module_of_parts::module_of_parts;
use super::{
    BoxedEnergy, EnergyParts, SecondOrderParts, check_weights, common_dim, each, per_probe, row_dot,
};
use crate::energy::{Energy, Inner, SecondOrderEnergy};
use crate::error::{EnergyError, Result};

/// The energy of the mixture density `p(x) ∝ Σₖ wₖ·exp(−Eₖ(x))`.
///
/// Weights must be positive; they are normalised to sum to 1. The sum is computed with
/// log-sum-exp, `E = −LSEₖ(log wₖ − Eₖ)`, so energies of hundreds do not underflow. Note the sign:
/// `+log wₖ` (TorchEBM's seed code has `−log wₖ`, which favours the *lightest* components).
///
/// The gradient is `Σₖ rₖ·∇Eₖ` with responsibilities `r = softmax(log w − E)`. The parts are held
/// as a [`super::Composite`]'s are: with Burn-module parts the mixture is a module, with
/// second-order parts it is second order.
pub struct Mixture<B, P = Vec<BoxedEnergy<B>>> {
    parts: P,
    log_weights: Vec<f64>,
    dim: Option<usize>,
    backend: PhantomData<fn() -> B>,
}

impl<B: AutodiffBackend, P: EnergyParts<B>> Mixture<B, P> {
    /// A mixture of `parts` with positive `weights` (one per part).
    pub fn new(parts: P, weights: Vec<f64>) -> Result<Self> {
        check_weights(&weights, parts.count())?;
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
            backend: PhantomData,
        })
    }
}

impl<B, P> Mixture<B, P> {
    /// The parts.
    pub fn parts(&self) -> &P {
        &self.parts
    }

    /// `log wₖ` of the normalised weights.
    pub fn log_weights(&self) -> &[f64] {
        &self.log_weights
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

    /// The same mixture around other parts (of another backend, for Burn's module methods).
    fn map_parts<C, Q>(self, f: impl FnOnce(P) -> Q) -> Mixture<C, Q> {
        Mixture {
            parts: f(self.parts),
            log_weights: self.log_weights,
            dim: self.dim,
            backend: PhantomData,
        }
    }
}

impl<B, P: Clone> Clone for Mixture<B, P> {
    fn clone(&self) -> Self {
        Self {
            parts: self.parts.clone(),
            log_weights: self.log_weights.clone(),
            dim: self.dim,
            backend: PhantomData,
        }
    }
}

impl<B, P: std::fmt::Debug> std::fmt::Debug for Mixture<B, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mixture")
            .field("parts", &self.parts)
            .field("log_weights", &self.log_weights)
            .finish()
    }
}

module_of_parts!(Mixture, parts);

/// `−LSE` over the component axis, `[N, K] → [N]`, stable for any magnitude.
fn neg_logsumexp<Bk: Backend>(logits: Tensor<Bk, 2>) -> Tensor<Bk, 1> {
    let n = logits.dims()[0];
    let m = logits.clone().max_dim(1).detach();
    let lse = (logits - m.clone()).exp().sum_dim(1).log() + m;
    lse.neg().reshape([n])
}

/// `Σₖ rₖ·gₖ` for responsibilities `r` (`[M, K]`) and `K` tensors `[M, D]`.
fn responsibility_sum<Bk: Backend>(r: &Tensor<Bk, 2>, terms: &[Tensor<Bk, 2>]) -> Tensor<Bk, 2> {
    terms
        .iter()
        .enumerate()
        .map(|(k, t)| t.clone() * r.clone().narrow(1, k, 1))
        .reduce(|a, b| a + b)
        .expect("a mixture has parts")
}

impl<B: AutodiffBackend, P: EnergyParts<B>> Energy<B> for Mixture<B, P> {
    fn input_dim(&self) -> Option<usize> {
        self.dim
    }

    fn energy(&self, x: Tensor<B, 2>) -> Tensor<B, 1> {
        crate::assert_batch(
            std::any::type_name::<Self>(),
            Energy::<B>::input_dim(self),
            x.dims(),
        );
        let es = each(&self.parts).map(|p| p.energy(x.clone())).collect();
        neg_logsumexp(self.logits(es))
    }

    fn energy_value(&self, x: Tensor<Inner<B>, 2>) -> Tensor<Inner<B>, 1> {
        crate::assert_batch(
            std::any::type_name::<Self>(),
            Energy::<B>::input_dim(self),
            x.dims(),
        );
        let es = each(&self.parts)
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
        let (es, gs): (Vec<_>, Vec<_>) = each(&self.parts)
            .map(|p| p.energy_and_grad(x.clone()))
            .unzip();
        let logits = self.logits(es);
        let r = softmax(logits.clone(), 1);
        (neg_logsumexp(logits), responsibility_sum(&r, &gs))
    }
}

/// `∇ₓE = Σₖ rₖ∇Eₖ = ḡ` and, since `∂rₖ/∂x = rₖ(ḡ − ∇Eₖ)`,
/// `H·v = Σₖ rₖHₖv − Σₖ rₖ∇Eₖ(∇Eₖ·v) + ḡ(ḡ·v)`.
impl<B: AutodiffBackend, P: SecondOrderParts<B>> SecondOrderEnergy<B> for Mixture<B, P> {
    fn grad_energy_tracked(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        crate::assert_batch(
            std::any::type_name::<Self>(),
            Energy::<B>::input_dim(self),
            x.dims(),
        );
        let grads: Vec<_> = (0..self.parts.count())
            .map(|k| {
                self.parts
                    .second_order_part(k)
                    .grad_energy_tracked(x.clone())
            })
            .collect();
        responsibility_sum(&self.responsibilities_tracked(&x), &grads)
    }

    fn grad_and_hvp_tracked(
        &self,
        x: Tensor<B, 2>,
        v: Tensor<B, 2>,
    ) -> (Tensor<B, 2>, Tensor<B, 2>) {
        crate::energy::one_probe_per_sample(self, x, v)
    }

    fn grad_and_hvps_tracked(
        &self,
        x: Tensor<B, 2>,
        v: Tensor<B, 2>,
    ) -> (Tensor<B, 2>, Tensor<B, 2>) {
        crate::energy::assert_hvp_input(self, x.dims(), v.dims(), true);
        let p = v.dims()[0] / x.dims()[0];
        let (grads, hvps): (Vec<_>, Vec<_>) = (0..self.parts.count())
            .map(|k| {
                let part = self.parts.second_order_part(k);
                part.grad_and_hvps_tracked(x.clone(), v.clone())
            })
            .unzip();
        let r = self.responsibilities_tracked(&x);
        let grad = responsibility_sum(&r, &grads);
        let r_probes = per_probe(r, p);
        let tiled: Vec<_> = grads.into_iter().map(|g| per_probe(g, p)).collect();
        let along: Vec<_> = tiled
            .iter()
            .map(|g| g.clone() * row_dot(g.clone(), v.clone()))
            .collect();
        let mean = per_probe(grad.clone(), p);
        let hv = responsibility_sum(&r_probes, &hvps) - responsibility_sum(&r_probes, &along)
            + mean.clone() * row_dot(mean, v);
        (grad, hv)
    }
}

impl<B: AutodiffBackend, P: EnergyParts<B>> Mixture<B, P> {
    /// `r = softmax(log w − E)` on the autodiff backend, `[N, K]`.
    fn responsibilities_tracked(&self, x: &Tensor<B, 2>) -> Tensor<B, 2> {
        let es = each(&self.parts).map(|p| p.energy(x.clone())).collect();
        softmax(self.logits(es), 1)
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

    #[test]
    fn second_order_matches_finite_differences() {
        let c = vec![vec![0.5, 0.1], vec![0.1, 0.4]];
        let parts = vec![
            Gaussian::new(vec![-1.0, 0.0], c.clone()).unwrap(),
            Gaussian::new(vec![1.0, 0.5], c).unwrap(),
            Gaussian::standard(2).unwrap(),
        ];
        let m = Mixture::new(parts, vec![0.5, 0.3, 0.2]).unwrap();
        // Points where every responsibility is between 0 and 1, so that the cross terms count.
        let x = Tensor::<TestInner, 2>::from_data(
            [[0.0, 0.0], [0.5, 0.2], [-0.4, 0.3], [0.1, -0.6]],
            &Default::default(),
        );
        crate::combinators::second_order_check::assert_agrees(&m, x);
    }
}
