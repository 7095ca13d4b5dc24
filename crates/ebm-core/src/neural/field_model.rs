//! [`FieldModel`]: a learned vector field `f(x, t, y)`, the model of flow and equilibrium
//! matching.

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

/// The cotangent `u = cotangent(x, f(x))` of a vector–Jacobian product
/// ([`FieldModel::field_and_vjp`]).
pub type Cotangent<B> = dyn Fn(&Tensor<B, 2>, &Tensor<B, 2>) -> Tensor<B, 2>;

/// A vector field `f(x, t, y)` on batches `[N, D] → [N, D]`, conditioned on one time per row and
/// optionally one class label per row. The flow-matching losses train it as a velocity,
/// Equilibrium Matching as a gradient field, or as the `f` of an explicit energy `g(x, f(x))`.
pub trait FieldModel<B: Backend> {
    /// Features per sample (`D`).
    fn input_dim(&self) -> usize;

    /// How many class labels the model knows (`labels` take values `0..classes`), 0 if it takes
    /// none.
    fn classes(&self) -> usize;

    /// `f(x, t, y)`: `x` `[N, D]`, `t` `[N]`, `labels` `N` values (or none), differentiable in
    /// the parameters.
    ///
    /// # Panics
    /// If the shapes or labels do not fit the model (a caller's bug: the losses check them).
    fn field(&self, x: Tensor<B, 2>, t: Tensor<B, 1>, labels: Option<&[usize]>) -> Tensor<B, 2>;

    /// `f(x, t, y)` with one time `t` for every row (samplers): the default fills a `[N]` time
    /// tensor; a model may compute what depends on the time alone once.
    fn field_at(&self, x: Tensor<B, 2>, t: f64, labels: Option<&[usize]>) -> Tensor<B, 2> {
        let n = x.dims()[0];
        let t = Tensor::full([n], t, &x.device());
        self.field(x, t, labels)
    }

    /// `f(x, t, y)` and the vector–Jacobian product `(∂f/∂x)ᵀ·u` for the cotangent
    /// `u = cotangent(x, f)`, both differentiable in the parameters: what an explicit energy
    /// built from `f` needs for its input gradient (`g = x·f` takes `u = x`).
    fn field_and_vjp(
        &self,
        x: Tensor<B, 2>,
        t: Tensor<B, 1>,
        labels: Option<&[usize]>,
        cotangent: &Cotangent<B>,
    ) -> (Tensor<B, 2>, Tensor<B, 2>);
}
