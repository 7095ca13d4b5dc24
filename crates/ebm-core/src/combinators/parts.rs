//! The parts of a combined energy as one type: a `Vec` of energies of one type (boxed energies
//! included) or a tuple of energies of different types.
//!
//! A combinator holds its parts by value, so when every part is a Burn module the combinator is
//! one too, and a learner trains the networks inside it. Tuples are how a trainable combination is
//! written: `(Gaussian, Mlp<B>)` is a module (analytic energies are modules with no parameters),
//! while `Vec<Box<dyn Energy<B>>>` is not.

use burn::tensor::Tensor;
use burn::tensor::backend::AutodiffBackend;

use crate::energy::{Energy, Inner, SecondOrderEnergy};

/// A boxed energy, so that combinators can hold energies of different types.
pub type BoxedEnergy<B> = Box<dyn Energy<B>>;

/// A fixed list of energies, read by index.
pub trait EnergyParts<B: AutodiffBackend>: Send + Sync {
    /// Number of parts.
    fn count(&self) -> usize;

    /// Part `k`, for `k < count()`.
    ///
    /// # Panics
    /// If `k` is out of range.
    fn part(&self, k: usize) -> &dyn Energy<B>;
}

/// Parts that are all [`SecondOrderEnergy`]s, so that the combination is one too.
pub trait SecondOrderParts<B: AutodiffBackend>: EnergyParts<B> {
    /// Part `k` with its second-order methods, for `k < count()`.
    ///
    /// # Panics
    /// If `k` is out of range.
    fn second_order_part(&self, k: usize) -> &dyn SecondOrderEnergy<B>;
}

impl<B: AutodiffBackend> Energy<B> for BoxedEnergy<B> {
    fn input_dim(&self) -> Option<usize> {
        self.as_ref().input_dim()
    }

    fn energy(&self, x: Tensor<B, 2>) -> Tensor<B, 1> {
        self.as_ref().energy(x)
    }

    fn energy_value(&self, x: Tensor<Inner<B>, 2>) -> Tensor<Inner<B>, 1> {
        self.as_ref().energy_value(x)
    }

    fn energy_and_grad(
        &self,
        x: Tensor<Inner<B>, 2>,
    ) -> (Tensor<Inner<B>, 1>, Tensor<Inner<B>, 2>) {
        self.as_ref().energy_and_grad(x)
    }

    fn grad_energy(&self, x: Tensor<Inner<B>, 2>) -> Tensor<Inner<B>, 2> {
        self.as_ref().grad_energy(x)
    }

    fn check_input(&self, dims: [usize; 2]) -> crate::Result<()> {
        self.as_ref().check_input(dims)
    }
}

impl<B: AutodiffBackend, E: Energy<B>> EnergyParts<B> for Vec<E> {
    fn count(&self) -> usize {
        self.len()
    }

    fn part(&self, k: usize) -> &dyn Energy<B> {
        &self[k]
    }
}

impl<B: AutodiffBackend, E: SecondOrderEnergy<B>> SecondOrderParts<B> for Vec<E> {
    fn second_order_part(&self, k: usize) -> &dyn SecondOrderEnergy<B> {
        &self[k]
    }
}

macro_rules! tuple_parts {
    ($count:literal; $($part:ident $index:tt),+) => {
        impl<B: AutodiffBackend, $($part: Energy<B>),+> EnergyParts<B> for ($($part,)+) {
            fn count(&self) -> usize {
                $count
            }

            fn part(&self, k: usize) -> &dyn Energy<B> {
                match k {
                    $($index => &self.$index,)+
                    _ => panic!("part {k} of {}", $count),
                }
            }
        }

        impl<B: AutodiffBackend, $($part: SecondOrderEnergy<B>),+> SecondOrderParts<B>
            for ($($part,)+)
        {
            fn second_order_part(&self, k: usize) -> &dyn SecondOrderEnergy<B> {
                match k {
                    $($index => &self.$index,)+
                    _ => panic!("part {k} of {}", $count),
                }
            }
        }
    };
}

tuple_parts!(2; E0 0, E1 1);
tuple_parts!(3; E0 0, E1 1, E2 2);
tuple_parts!(4; E0 0, E1 1, E2 2, E3 3);
