//! Weighted combinations of energies: sum, product, minimum, maximum.

use std::marker::PhantomData;

use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor};
use serde::{Deserialize, Serialize};

use super::module_of_parts::module_of_parts;
use super::{
    BoxedEnergy, EnergyParts, SecondOrderParts, check_weights, common_dim, each, per_probe, row_dot,
};
use crate::energy::{Energy, Inner, SecondOrderEnergy};
use crate::error::Result;

/// How a [`Composite`] combines the weighted energies `wₖ·Eₖ(x)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Operation {
    /// `Σₖ wₖEₖ`: the product of the (unnormalised) densities.
    Sum,
    /// `Πₖ wₖEₖ`.
    Product,
    /// `minₖ wₖEₖ`: the union of the low-energy regions.
    Min,
    /// `maxₖ wₖEₖ`: the intersection of the low-energy regions.
    Max,
}

/// An energy made of several energies combined by an [`Operation`] on the weighted energies
/// `wₖ·Eₖ(x)`. Gradients are combined in closed form from the parts' gradients (for min and max,
/// the gradient of the selected part, as autodiff would give).
///
/// The parts are a `Vec` of one energy type (boxed energies by default) or a tuple
/// ([`EnergyParts`]). With parts that are Burn modules the composite is a module whose parameters
/// are theirs; with [`crate::SecondOrderEnergy`] parts it is second order, for score matching.
pub struct Composite<B, P = Vec<BoxedEnergy<B>>> {
    parts: P,
    weights: Vec<f64>,
    operation: Operation,
    dim: Option<usize>,
    backend: PhantomData<fn() -> B>,
}

impl<B: AutodiffBackend, P: EnergyParts<B>> Composite<B, P> {
    /// Combines `parts` with `weights` (one finite weight per part) by `operation`.
    pub fn new(parts: P, weights: Vec<f64>, operation: Operation) -> Result<Self> {
        check_weights(&weights, parts.count())?;
        let dim = common_dim(&parts)?;
        Ok(Self {
            parts,
            weights,
            operation,
            dim,
            backend: PhantomData,
        })
    }

    /// Equal weights of 1.
    pub fn unweighted(parts: P, operation: Operation) -> Result<Self> {
        let weights = vec![1.0; parts.count()];
        Self::new(parts, weights, operation)
    }

    /// `wₖ·Eₖ(x)` on the autodiff backend, as `[N, K]`.
    fn weighted_energies(&self, x: &Tensor<B, 2>) -> Tensor<B, 2> {
        let columns = each(&self.parts)
            .zip(&self.weights)
            .map(|(p, &w)| p.energy(x.clone()).mul_scalar(w))
            .collect();
        Tensor::stack(columns, 1)
    }
}

impl<B, P> Composite<B, P> {
    /// The combining operation.
    pub fn operation(&self) -> Operation {
        self.operation
    }

    /// The weights, one per part.
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// The parts.
    pub fn parts(&self) -> &P {
        &self.parts
    }

    /// The same combination around other parts (of another backend, for Burn's module methods).
    fn map_parts<C, Q>(self, f: impl FnOnce(P) -> Q) -> Composite<C, Q> {
        Composite {
            parts: f(self.parts),
            weights: self.weights,
            operation: self.operation,
            dim: self.dim,
            backend: PhantomData,
        }
    }
}

impl<B, P: Clone> Clone for Composite<B, P> {
    fn clone(&self) -> Self {
        Self {
            parts: self.parts.clone(),
            weights: self.weights.clone(),
            operation: self.operation,
            dim: self.dim,
            backend: PhantomData,
        }
    }
}

impl<B, P: std::fmt::Debug> std::fmt::Debug for Composite<B, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Composite")
            .field("parts", &self.parts)
            .field("weights", &self.weights)
            .field("operation", &self.operation)
            .finish()
    }
}

module_of_parts!(Composite, parts);

/// The columns of `[N, K]`, each `[N, 1]`.
fn columns<Bk: Backend>(u: &Tensor<Bk, 2>) -> Vec<Tensor<Bk, 2>> {
    (0..u.dims()[1])
        .map(|j| u.clone().narrow(1, j, 1))
        .collect()
}

/// `Πⱼ uⱼ` over the columns not in `skip`, computed without dividing (a `uⱼ` may be 0).
fn product_except<Bk: Backend>(columns: &[Tensor<Bk, 2>], skip: &[usize]) -> Tensor<Bk, 2> {
    let [n, _] = columns[0].dims();
    columns
        .iter()
        .enumerate()
        .filter(|(j, _)| !skip.contains(j))
        .fold(Tensor::ones([n, 1], &columns[0].device()), |acc, (_, c)| {
            acc * c.clone()
        })
}

/// The combined energy `f(u)` of the weighted energies `u` (`[N, K]`), and `∂f/∂uₖ` (`[N, K]`).
fn combine<Bk: Backend>(u: Tensor<Bk, 2>, operation: Operation) -> (Tensor<Bk, 1>, Tensor<Bk, 2>) {
    let [n, k] = u.dims();
    let device = u.device();
    let (energy, coefficients) = match operation {
        Operation::Sum => (u.sum_dim(1), Tensor::ones([n, k], &device)),
        Operation::Product => {
            let cols = columns(&u);
            let others = (0..k).map(|i| product_except(&cols, &[i])).collect();
            (product_except(&cols, &[]), Tensor::cat(others, 1))
        }
        Operation::Min | Operation::Max => {
            let (best, index) = if operation == Operation::Min {
                u.min_dim_with_indices(1)
            } else {
                u.max_dim_with_indices(1)
            };
            let onehot = Tensor::<Bk, 1, Int>::arange(0..k as i64, &device)
                .reshape([1, k])
                .expand([n, k])
                .equal(index.expand([n, k]))
                .float();
            (best, onehot)
        }
    };
    (energy.reshape([n]), coefficients)
}

/// `Σₖ cₖ·gₖ` for per-row coefficients `c` (`[M, K]`) and `K` tensors `[M, D]`.
fn weighted_sum<Bk: Backend>(
    coefficients: &Tensor<Bk, 2>,
    terms: Vec<Tensor<Bk, 2>>,
) -> Tensor<Bk, 2> {
    terms
        .into_iter()
        .enumerate()
        .map(|(k, t)| t * coefficients.clone().narrow(1, k, 1))
        .reduce(|a, b| a + b)
        .expect("a combination has parts")
}

impl<B: AutodiffBackend, P: EnergyParts<B>> Energy<B> for Composite<B, P> {
    fn input_dim(&self) -> Option<usize> {
        self.dim
    }

    fn energy(&self, x: Tensor<B, 2>) -> Tensor<B, 1> {
        crate::assert_batch(
            std::any::type_name::<Self>(),
            Energy::<B>::input_dim(self),
            x.dims(),
        );
        combine_values(self.weighted_energies(&x), self.operation)
    }

    fn energy_value(&self, x: Tensor<Inner<B>, 2>) -> Tensor<Inner<B>, 1> {
        crate::assert_batch(
            std::any::type_name::<Self>(),
            Energy::<B>::input_dim(self),
            x.dims(),
        );
        let weighted = each(&self.parts)
            .zip(&self.weights)
            .map(|(p, &w)| p.energy_value(x.clone()).mul_scalar(w))
            .collect();
        combine_values(Tensor::stack(weighted, 1), self.operation)
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
        let (values, grads): (Vec<_>, Vec<_>) = each(&self.parts)
            .zip(&self.weights)
            .map(|(p, &w)| {
                let (e, g) = p.energy_and_grad(x.clone());
                (e.mul_scalar(w), g.mul_scalar(w))
            })
            .unzip();
        let (energy, coefficients) = combine(Tensor::stack(values, 1), self.operation);
        (energy, weighted_sum(&coefficients, grads))
    }
}

/// `∇ₓf = Σₖ (∂f/∂uₖ)·wₖ∇Eₖ` and `H·v = Σₖ (∂f/∂uₖ)·wₖHₖv + Σⱼₖ (∂²f/∂uⱼ∂uₖ)·wₖ∇Eₖ·(wⱼ∇Eⱼ·v)`,
/// where only the product has second derivatives in `u` (for min and max the selected part's
/// Hessian, almost everywhere).
impl<B: AutodiffBackend, P: SecondOrderParts<B>> SecondOrderEnergy<B> for Composite<B, P> {
    fn grad_energy_tracked(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        crate::assert_batch(
            std::any::type_name::<Self>(),
            Energy::<B>::input_dim(self),
            x.dims(),
        );
        let grads = (0..self.parts.count())
            .map(|k| {
                let part = self.parts.second_order_part(k);
                part.grad_energy_tracked(x.clone())
                    .mul_scalar(self.weights[k])
            })
            .collect();
        let coefficients = self.coefficients_tracked(&x, self.energies_tracked(&x));
        weighted_sum(&coefficients, grads)
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
                let w = self.weights[k];
                let part = self.parts.second_order_part(k);
                let (g, hv) = part.grad_and_hvps_tracked(x.clone(), v.clone());
                (g.mul_scalar(w), hv.mul_scalar(w))
            })
            .unzip();
        let energies = self.energies_tracked(&x);
        let coefficients = self.coefficients_tracked(&x, energies.clone());
        let grad = weighted_sum(&coefficients, grads.clone());
        let mut hv = weighted_sum(&per_probe(coefficients, p), hvps);
        if let Some(energies) = energies.filter(|_| self.operation == Operation::Product) {
            let cols = columns(&energies);
            let tiled: Vec<_> = grads.into_iter().map(|g| per_probe(g, p)).collect();
            for j in 0..tiled.len() {
                let along = row_dot(tiled[j].clone(), v.clone());
                for (k, g) in tiled.iter().enumerate().filter(|(k, _)| *k != j) {
                    let second = per_probe(product_except(&cols, &[j, k]), p);
                    hv = hv + g.clone() * (second * along.clone());
                }
            }
        }
        (grad, hv)
    }
}

impl<B: AutodiffBackend, P: EnergyParts<B>> Composite<B, P> {
    /// `wₖ·Eₖ(x)` on the autodiff backend, `[N, K]`, where the operation needs them (not for a
    /// sum, whose coefficients are constant).
    fn energies_tracked(&self, x: &Tensor<B, 2>) -> Option<Tensor<B, 2>> {
        (self.operation != Operation::Sum).then(|| self.weighted_energies(x))
    }

    /// `∂f/∂uₖ` on the autodiff backend, `[N, K]`, from the weighted energies (ones for a sum).
    fn coefficients_tracked(
        &self,
        x: &Tensor<B, 2>,
        energies: Option<Tensor<B, 2>>,
    ) -> Tensor<B, 2> {
        match energies {
            Some(u) => combine(u, self.operation).1,
            None => Tensor::ones([x.dims()[0], self.parts.count()], &x.device()),
        }
    }
}

fn combine_values<Bk: Backend>(e: Tensor<Bk, 2>, op: Operation) -> Tensor<Bk, 1> {
    let n = e.dims()[0];
    let combined = match op {
        Operation::Sum => e.sum_dim(1),
        Operation::Product => e.prod_dim(1),
        Operation::Min => e.min_dim(1),
        Operation::Max => e.max_dim(1),
    };
    combined.reshape([n])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytic::{DoubleWell, Gaussian, Harmonic};
    use crate::check::{CheckConfig, check_energy};
    use crate::error::EnergyError;
    use ebm_testing::{TestBackend, TestInner};

    type B = TestBackend;

    fn parts() -> Vec<BoxedEnergy<B>> {
        vec![
            Box::new(Harmonic::new(1.5).unwrap()),
            Box::new(DoubleWell::default()),
            Box::new(Gaussian::new(vec![0.5, -0.5], vec![vec![1.0, 0.2], vec![0.2, 0.5]]).unwrap()),
        ]
    }

    #[test]
    fn closed_form_gradients_agree_with_autodiff() {
        let device = Default::default();
        let x = Tensor::<TestInner, 2>::from_data(
            [
                [0.3, -1.2],
                [1.1, 0.4],
                [-0.7, 0.9],
                [2.0, -2.0],
                [0.05, 0.1],
            ],
            &device,
        );
        for op in [
            Operation::Sum,
            Operation::Product,
            Operation::Min,
            Operation::Max,
        ] {
            let c = Composite::new(parts(), vec![0.5, 1.0, 2.0], op).unwrap();
            let report = check_energy::<B, _>(&c, x.clone(), &CheckConfig::default()).unwrap();
            assert!(report.max_gradient_error < 1e-4, "{op:?}: {report:?}");
        }
    }

    #[test]
    fn sum_is_weighted_sum() {
        let device = Default::default();
        let x = Tensor::<TestInner, 2>::from_data([[1.0, 2.0]], &device);
        let c = Composite::new(parts(), vec![1.0, 2.0, 0.0], Operation::Sum).unwrap();
        let e = Energy::<B>::energy_value(&c, x).into_scalar();
        // Harmonic: 0.75·5 = 3.75; DoubleWell: 2·(0 + 9) = 18, doubled: 36.
        assert!((e - 39.75).abs() < 1e-4, "{e}");
    }

    #[test]
    fn bad_weights_are_typed_errors() {
        assert!(matches!(
            Composite::<B>::new(parts(), vec![], Operation::Sum),
            Err(EnergyError::Empty { what: "weights" })
        ));
        assert!(matches!(
            Composite::<B>::new(parts(), vec![1.0], Operation::Sum),
            Err(EnergyError::LengthMismatch { .. })
        ));
        assert!(matches!(
            Composite::<B>::new(vec![], vec![], Operation::Max),
            Err(EnergyError::Empty { what: "energies" })
        ));
        let mismatched: Vec<BoxedEnergy<B>> = vec![
            Box::new(Gaussian::standard(2).unwrap()),
            Box::new(Gaussian::standard(3).unwrap()),
        ];
        assert!(matches!(
            Composite::unweighted(mismatched, Operation::Sum),
            Err(EnergyError::LengthMismatch { .. })
        ));
    }

    /// Second order for every operation, on parts of three types in a tuple.
    #[test]
    fn second_order_matches_finite_differences() {
        let device = Default::default();
        let x = Tensor::<TestInner, 2>::from_data(
            [[0.3, -1.2], [1.1, 0.4], [-0.7, 0.9], [0.05, 0.1]],
            &device,
        );
        for op in [
            Operation::Sum,
            Operation::Product,
            Operation::Min,
            Operation::Max,
        ] {
            let parts = (
                Harmonic::new(1.5).unwrap(),
                DoubleWell::default(),
                Gaussian::new(vec![0.5, -0.5], vec![vec![1.0, 0.2], vec![0.2, 0.5]]).unwrap(),
            );
            let c = Composite::new(parts, vec![0.5, 1.0, 2.0], op).unwrap();
            crate::combinators::second_order_check::assert_agrees(&c, x.clone());
        }
    }

    /// A network inside a composite is the composite's parameters: they get gradients through
    /// the energy and through `∇ₓE`, and the record round-trips.
    #[test]
    fn a_network_part_trains_with_the_composite() {
        use crate::neural::MlpConfig;
        use burn::module::{AutodiffModule, Module};
        let device = Default::default();
        let mlp = MlpConfig::new(2, vec![8])
            .with_seed(3)
            .init::<B>(&device)
            .unwrap();
        let weight = mlp.hidden[0].weight.clone();
        let c = Composite::new(
            (Gaussian::standard(2).unwrap(), mlp),
            vec![1.0, 0.5],
            Operation::Sum,
        )
        .unwrap();
        assert_eq!(c.num_params(), c.parts().1.num_params());
        let x = Tensor::<B, 2>::from_inner(ebm_testing::normal([4, 2], 1.0, 5, &device));
        let grads = c.energy(x.clone()).sum().backward();
        assert!(
            weight.val().grad(&grads).is_some(),
            "∂E/∂θ reaches the network"
        );
        let grads = c.grad_energy_tracked(x.clone()).square().sum().backward();
        assert!(
            weight.val().grad(&grads).is_some(),
            "∂‖∇E‖²/∂θ reaches the network"
        );
        let inner = c.valid();
        let e = |t: Tensor<TestInner, 1>| t.into_data().to_vec::<f32>().unwrap();
        let copy = Composite::new(
            (
                Gaussian::standard(2).unwrap(),
                MlpConfig::new(2, vec![8])
                    .with_seed(4)
                    .init::<B>(&device)
                    .unwrap(),
            ),
            vec![1.0, 0.5],
            Operation::Sum,
        )
        .unwrap()
        .load_record(c.clone().into_record());
        assert_eq!(
            e(copy.energy_value(x.clone().inner())),
            e(c.energy_value(x.clone().inner()))
        );
        assert_eq!(inner.num_params(), c.num_params());
    }
}
