//! Global gradient norm and clipping on a module's parameter gradients, on the device.

use burn::module::{AutodiffModule, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use burn::tensor::backend::AutodiffBackend;
use ebm_core::Inner;

struct SumSquares<'a, B: AutodiffBackend> {
    grads: &'a GradientsParams,
    total: Option<Tensor<Inner<B>, 1>>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for SumSquares<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = self.grads.get::<Inner<B>, D>(param.id) {
            let s = g.square().sum();
            self.total = Some(match self.total.take() {
                Some(t) => t + s,
                None => s,
            });
        }
    }
}

struct Scale<'a, B: AutodiffBackend> {
    grads: &'a mut GradientsParams,
    factor: Tensor<Inner<B>, 1>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Scale<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = self.grads.remove::<Inner<B>, D>(param.id) {
            let factor = self.factor.clone().reshape([1; D]);
            self.grads.register::<Inner<B>, D>(param.id, g * factor);
        }
    }
}

/// `‖∇θ L‖₂` over all parameters, as a device scalar `[1]` (no host read).
pub(crate) fn gradient_norm<B: AutodiffBackend, M: AutodiffModule<B>>(
    model: &M,
    grads: &GradientsParams,
) -> Option<Tensor<Inner<B>, 1>> {
    let mut visitor = SumSquares::<B> { grads, total: None };
    model.visit(&mut visitor);
    visitor.total.map(Tensor::sqrt)
}

/// Scales all gradients by `min(1, max_norm/‖g‖)`, computed on the device.
pub(crate) fn clip_to_norm<B: AutodiffBackend, M: AutodiffModule<B>>(
    model: &M,
    grads: &mut GradientsParams,
    norm: Tensor<Inner<B>, 1>,
    max_norm: f64,
) {
    let factor = norm.recip().mul_scalar(max_norm).clamp_max(1.0);
    model.visit(&mut Scale::<B> { grads, factor });
}
