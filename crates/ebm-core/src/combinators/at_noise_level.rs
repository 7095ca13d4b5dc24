//! A noise-conditional energy at one noise level: `E(x ‖ c·1)`, the model's input being the
//! sample followed by a plane of the level's code `c`.

use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};

use crate::energy::{Energy, Inner, SecondOrderEnergy, assert_hvp_input};
use crate::error::{EnergyError, InvalidParameter, Result};

/// `[x ‖ code·1]`: each row `x` (`[N, D]`) followed by `D` copies of its row's code (`code` is
/// `[N, 1]`), `[N, 2D]`. For an image of `C` channels the plane is `C` more channels, so a
/// convolutional energy of `2C` input channels reads the level everywhere.
pub fn with_level_plane<Bk: Backend>(x: Tensor<Bk, 2>, code: Tensor<Bk, 2>) -> Tensor<Bk, 2> {
    let dims = x.dims();
    Tensor::cat(vec![x, code.expand(dims)], 1)
}

/// A noise-conditional energy `E(x, c)` fixed at the code `c` of one noise level: an [`Energy`]
/// on `[N, D]` whose model reads `[N, 2D]`, the rows followed by a plane of `c`
/// ([`with_level_plane`]). Its gradient is the model's in the first `D` inputs.
///
/// The samplers of a noise ladder step each level on its own `AtNoiseLevel`, and the
/// conditioned denoising objective trains the model on the same layout.
///
/// ```
/// use burn::backend::{Autodiff, NdArray};
/// use burn::tensor::Tensor;
/// use ebm_core::Energy;
/// use ebm_core::combinators::AtNoiseLevel;
/// use ebm_core::neural::MlpConfig;
///
/// type B = Autodiff<NdArray>;
/// let device = Default::default();
/// // A conditional energy of 3-D samples reads 6 inputs: the sample and its level's plane.
/// let model = MlpConfig::new(6, vec![16]).init::<B>(&device).unwrap();
/// let energy = AtNoiseLevel::new(&model, -0.5).unwrap();
/// let x = Tensor::<NdArray, 2>::zeros([4, 3], &device);
/// let (e, grad) = energy.energy_and_grad(x);
/// assert_eq!((e.dims(), grad.dims()), ([4], [4, 3]));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct AtNoiseLevel<'a, M> {
    model: &'a M,
    code: f64,
}

impl<'a, M> AtNoiseLevel<'a, M> {
    /// `model` at the level whose code is `code` (finite). A model with a fixed input width must
    /// read an even one, `2D`.
    pub fn new<B: AutodiffBackend>(model: &'a M, code: f64) -> Result<Self>
    where
        M: Energy<B>,
    {
        if !code.is_finite() {
            return Err(InvalidParameter::new("code", code, "must be finite").into());
        }
        if let Some(width) = model.input_dim().filter(|w| w % 2 == 1) {
            return Err(EnergyError::InvalidParameter(InvalidParameter::new(
                "input_dim",
                width,
                "a noise-conditional model reads 2·D inputs: the sample and its level's plane",
            )));
        }
        Ok(Self { model, code })
    }

    /// The level's code.
    pub fn code(&self) -> f64 {
        self.code
    }

    fn plane<Bk: Backend>(&self, x: Tensor<Bk, 2>) -> Tensor<Bk, 2> {
        let device = x.device();
        let code = Tensor::full([x.dims()[0], 1], self.code, (&device, x.dtype()));
        with_level_plane(x, code)
    }
}

/// The first `d` columns: the gradient in the sample, without the plane's.
fn sample_part<Bk: Backend>(t: Tensor<Bk, 2>, d: usize) -> Tensor<Bk, 2> {
    let n = t.dims()[0];
    t.slice([0..n, 0..d])
}

impl<B: AutodiffBackend, M: Energy<B>> Energy<B> for AtNoiseLevel<'_, M> {
    fn input_dim(&self) -> Option<usize> {
        self.model.input_dim().map(|w| w / 2)
    }

    fn energy(&self, x: Tensor<B, 2>) -> Tensor<B, 1> {
        self.model.energy(self.plane(x))
    }

    fn energy_value(&self, x: Tensor<Inner<B>, 2>) -> Tensor<Inner<B>, 1> {
        self.model.energy_value(self.plane(x))
    }

    fn energy_and_grad(
        &self,
        x: Tensor<Inner<B>, 2>,
    ) -> (Tensor<Inner<B>, 1>, Tensor<Inner<B>, 2>) {
        let d = x.dims()[1];
        let (e, g) = self.model.energy_and_grad(self.plane(x));
        (e, sample_part(g, d))
    }

    fn grad_energy(&self, x: Tensor<Inner<B>, 2>) -> Tensor<Inner<B>, 2> {
        let d = x.dims()[1];
        sample_part(self.model.grad_energy(self.plane(x)), d)
    }
}

impl<B: AutodiffBackend, M: SecondOrderEnergy<B>> SecondOrderEnergy<B> for AtNoiseLevel<'_, M> {
    fn grad_energy_tracked(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let d = x.dims()[1];
        sample_part(self.model.grad_energy_tracked(self.plane(x)), d)
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
        assert_hvp_input(self, x.dims(), v.dims(), true);
        let d = x.dims()[1];
        // The plane is constant, so its tangent is zero.
        let v = Tensor::cat(vec![v.clone(), v.zeros_like()], 1);
        let (g, hv) = self.model.grad_and_hvps_tracked(self.plane(x), v);
        (sample_part(g, d), sample_part(hv, d))
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Tensor;
    use ebm_testing::{TestBackend, TestInner};

    use super::*;
    use crate::combinators::second_order_check::assert_agrees;
    use crate::neural::{Activation, MlpConfig};

    type B = TestBackend;

    /// The energy at a level is the model's on `[x ‖ c]`, and its gradient the model's first
    /// half there: checked against the model itself and against finite differences.
    #[test]
    fn the_energy_at_a_level_is_the_model_on_the_sample_and_its_plane() {
        let device = Default::default();
        let model = MlpConfig::new(6, vec![12, 12])
            .with_activation(Activation::Softplus)
            .with_seed(3)
            .init::<B>(&device)
            .unwrap();
        let x = ebm_testing::normal::<TestInner, 2>([5, 3], 1.0, 7, &device);
        let code = -0.25;
        let at = AtNoiseLevel::new(&model, code).unwrap();
        assert_eq!(Energy::<B>::input_dim(&at), Some(3));
        let joined = Tensor::cat(vec![x.clone(), Tensor::full([5, 3], code, &device)], 1);
        let values = |t: Tensor<TestInner, 2>| t.into_data().to_vec::<f32>().unwrap();
        let (e, g) = at.energy_and_grad(x.clone());
        let (e_model, g_model) = model.energy_and_grad(joined);
        assert_eq!(
            e.into_data().to_vec::<f32>().unwrap(),
            e_model.into_data().to_vec::<f32>().unwrap()
        );
        assert_eq!(values(g), values(g_model.slice([0..5, 0..3])));
        assert_agrees(&at, x);
        // Another code is another energy.
        let other = AtNoiseLevel::new(&model, 0.75).unwrap();
        let x0 = Tensor::<TestInner, 2>::zeros([1, 3], &device);
        let a = at.energy_value(x0.clone()).into_scalar();
        let b = other.energy_value(x0).into_scalar();
        assert!((a - b).abs() > 1e-6, "{a} vs {b}");
    }

    #[test]
    fn an_odd_width_or_a_non_finite_code_is_refused() {
        let device = Default::default();
        let odd = MlpConfig::new(5, vec![4]).init::<B>(&device).unwrap();
        let even = MlpConfig::new(4, vec![4]).init::<B>(&device).unwrap();
        let named = |r: Result<AtNoiseLevel<'_, _>>| match r {
            Err(EnergyError::InvalidParameter(p)) => p.name,
            other => panic!("{other:?}"),
        };
        assert_eq!(named(AtNoiseLevel::new(&odd, 0.0)), "input_dim");
        assert_eq!(named(AtNoiseLevel::new(&even, f64::NAN)), "code");
    }
}
