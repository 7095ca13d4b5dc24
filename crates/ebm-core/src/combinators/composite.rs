//! Weighted combinations of energies: sum, product, minimum, maximum.

use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};
use serde::{Deserialize, Serialize};

use super::{BoxedEnergy, check_weights, common_dim};
use crate::energy::{Energy, Inner};
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
pub struct Composite<B: AutodiffBackend> {
    parts: Vec<BoxedEnergy<B>>,
    weights: Vec<f64>,
    operation: Operation,
    dim: Option<usize>,
}

impl<B: AutodiffBackend> Composite<B> {
    /// Combines `parts` with `weights` (one finite weight per part) by `operation`.
    pub fn new(
        parts: Vec<BoxedEnergy<B>>,
        weights: Vec<f64>,
        operation: Operation,
    ) -> Result<Self> {
        check_weights(&weights, parts.len())?;
        let dim = common_dim(&parts)?;
        Ok(Self {
            parts,
            weights,
            operation,
            dim,
        })
    }

    /// Equal weights of 1.
    pub fn unweighted(parts: Vec<BoxedEnergy<B>>, operation: Operation) -> Result<Self> {
        let weights = vec![1.0; parts.len()];
        Self::new(parts, weights, operation)
    }

    /// The combining operation.
    pub fn operation(&self) -> Operation {
        self.operation
    }
}

/// Stacks per-part energies `[N]` into `[N, K]`.
fn stack_columns<Bk: Backend>(columns: Vec<Tensor<Bk, 1>>) -> Tensor<Bk, 2> {
    Tensor::stack(columns, 1)
}

impl<B: AutodiffBackend> Energy<B> for Composite<B> {
    fn input_dim(&self) -> Option<usize> {
        self.dim
    }

    fn energy(&self, x: Tensor<B, 2>) -> Tensor<B, 1> {
        crate::assert_batch(
            std::any::type_name::<Self>(),
            Energy::<B>::input_dim(self),
            x.dims(),
        );
        let weighted: Vec<_> = self
            .parts
            .iter()
            .zip(&self.weights)
            .map(|(p, &w)| p.energy(x.clone()).mul_scalar(w))
            .collect();
        combine_values(weighted, self.operation)
    }

    fn energy_value(&self, x: Tensor<Inner<B>, 2>) -> Tensor<Inner<B>, 1> {
        crate::assert_batch(
            std::any::type_name::<Self>(),
            Energy::<B>::input_dim(self),
            x.dims(),
        );
        let weighted: Vec<_> = self
            .parts
            .iter()
            .zip(&self.weights)
            .map(|(p, &w)| p.energy_value(x.clone()).mul_scalar(w))
            .collect();
        combine_values(weighted, self.operation)
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
        let (values, grads): (Vec<_>, Vec<_>) = self
            .parts
            .iter()
            .zip(&self.weights)
            .map(|(p, &w)| {
                let (e, g) = p.energy_and_grad(x.clone());
                (e.mul_scalar(w), g.mul_scalar(w))
            })
            .unzip();
        let k = values.len();
        let e = stack_columns(values); // [N, K]
        let g: Tensor<Inner<B>, 3> = Tensor::stack(grads, 1); // [N, K, D]
        let (energy, coeff) = match self.operation {
            Operation::Sum => (e.sum_dim(1), Tensor::ones([n, k], &x.device())),
            Operation::Product => {
                // ∂(Πⱼ uⱼ)/∂uₖ = Πⱼ≠ₖ uⱼ, computed without dividing (uₖ may be 0).
                let cols: Vec<_> = (0..k).map(|j| e.clone().narrow(1, j, 1)).collect();
                let others: Vec<_> = (0..k)
                    .map(|i| {
                        cols.iter()
                            .enumerate()
                            .filter(|(j, _)| *j != i)
                            .fold(Tensor::ones([n, 1], &x.device()), |acc, (_, c)| {
                                acc * c.clone()
                            })
                    })
                    .collect();
                let prod = cols
                    .iter()
                    .fold(Tensor::ones([n, 1], &x.device()), |acc, c| acc * c.clone());
                (prod, Tensor::cat(others, 1))
            }
            Operation::Min | Operation::Max => {
                let (best, idx) = if self.operation == Operation::Min {
                    e.clone().min_dim_with_indices(1)
                } else {
                    e.clone().max_dim_with_indices(1)
                };
                let onehot =
                    Tensor::<Inner<B>, 1, burn::tensor::Int>::arange(0..k as i64, &x.device())
                        .reshape([1, k])
                        .expand([n, k])
                        .equal(idx.expand([n, k]))
                        .float();
                (best, onehot)
            }
        };
        let grad = (g * coeff.unsqueeze_dim::<3>(2)).sum_dim(1).reshape([n, d]);
        (energy.reshape([n]), grad)
    }
}

fn combine_values<Bk: Backend>(weighted: Vec<Tensor<Bk, 1>>, op: Operation) -> Tensor<Bk, 1> {
    let n = weighted[0].dims()[0];
    let e = stack_columns(weighted);
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
}
