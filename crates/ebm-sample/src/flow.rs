//! The flow sampler: carries noise (t = 0) to data (t = 1) along a learned velocity field, by an
//! ODE (probability flow) on any integrator of [`crate::integrator`], or by the reverse SDE
//! (Euler–Maruyama) with a final denoising step. TorchEBM 0.8.9's `FlowSampler` with velocity
//! predictions.

use burn::config::Config;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use ebm_core::EnergyError;
use ebm_core::interpolant::Interpolant;
use ebm_core::neural::FieldModel;

use crate::error::{SampleError, invalid};
use crate::integrator::{AdaptiveConfig, EulerMaruyama, FixedStep};
use crate::noise::Noise;
use crate::non_finite_chains;

/// The ODE integrator of the flow sampler.
#[derive(Config, Debug)]
pub enum FlowIntegrator {
    /// `steps` equal steps of a fixed-step method.
    Fixed {
        /// The method.
        method: FixedStep,
        /// Steps (≥ 1).
        steps: usize,
    },
    /// An adaptive embedded pair with error control.
    Adaptive {
        /// Its configuration (Dopri5, atol 1e-6, rtol 1e-3 by default).
        config: AdaptiveConfig,
    },
}

/// The diffusion coefficient `w(t)` of the reverse SDE `dx = [v + w·s]dt + √(2w)·dW`, each
/// times a `norm` (TorchEBM's `diffusion_form`).
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum Diffusion {
    /// `w = 1`.
    Constant,
    /// `w = ((α̇/α)σ² − σσ̇)/σ`, the score-based diffusion models' choice (singular at t = 0 on
    /// the linear path: start at `sample_eps > 0`).
    Sbdm,
    /// `w = σ(t)`.
    Sigma,
    /// `w = 1 − t`.
    Linear,
    /// `w = (1 − t)²`.
    Decreasing,
    /// `w = 4t(1 − t)`.
    IncreasingDecreasing,
}

/// The SDE's last step from `t₁ = 1 − size` to 1 (TorchEBM's `last_step`).
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum LastStep {
    /// `x + (v + w·s)·size`: the SDE's drift without noise.
    Mean,
    /// `x + v·size`: the ODE's drift.
    Euler,
    /// `x/α + (σ²/α)·s`: Tweedie's denoiser.
    Tweedie,
}

/// Probability-flow ODE or reverse SDE.
#[derive(Config, Debug)]
pub enum FlowMode {
    /// `dx/dt = v(x, t)` with the given integrator.
    Ode {
        /// The integrator.
        integrator: FlowIntegrator,
    },
    /// `dx = [v + w·s]dt + √(2w)·dW` by Euler–Maruyama, `s` the score the velocity implies.
    Sde {
        /// `w(t)`.
        diffusion: Diffusion,
        /// Its scale (> 0).
        norm: f64,
        /// Euler–Maruyama steps (≥ 1).
        steps: usize,
        /// The denoising step at the end, if any.
        last_step: Option<LastStep>,
        /// Its size (in (0, 1) when there is a last step).
        last_step_size: f64,
    },
}

impl FlowMode {
    /// TorchEBM's default ODE: Dopri5 at atol 1e-6, rtol 1e-3.
    pub fn dopri5() -> Self {
        FlowMode::Ode {
            integrator: FlowIntegrator::Adaptive {
                config: AdaptiveConfig::new(),
            },
        }
    }

    /// TorchEBM's default SDE: SBDM diffusion, 250 steps, a `Mean` last step of 0.04.
    pub fn sde() -> Self {
        FlowMode::Sde {
            diffusion: Diffusion::Sbdm,
            norm: 1.0,
            steps: 250,
            last_step: Some(LastStep::Mean),
            last_step_size: 0.04,
        }
    }
}

/// Builds a [`FlowSampler`].
#[derive(Config, Debug)]
pub struct FlowSamplerConfig {
    /// The path the field was trained on.
    #[config(default = "Interpolant::Linear")]
    pub interpolant: Interpolant,
    /// ODE or SDE.
    #[config(default = "FlowMode::dopri5()")]
    pub mode: FlowMode,
    /// The model learned `−v` at time 0 (Equilibrium Matching): use `v = −f(x, 0)`.
    #[config(default = false)]
    pub negate_velocity: bool,
    /// Keeps the ends of the time interval away from their singularities (in [0, ½)): see
    /// [`FlowSampler::interval`].
    #[config(default = 0.0)]
    pub sample_eps: f64,
}

ebm_core::json_config!(
    FlowSamplerConfig,
    required = [],
    template = FlowSamplerConfig::new()
);

impl FlowSamplerConfig {
    /// Builds the sampler, checking the parameters.
    pub fn init(&self) -> Result<FlowSampler, SampleError> {
        self.interpolant.validate()?;
        if !(0.0..0.5).contains(&self.sample_eps) {
            return Err(invalid(
                "sample_eps",
                self.sample_eps,
                "must be in [0, 0.5)",
            ));
        }
        match &self.mode {
            FlowMode::Ode {
                integrator: FlowIntegrator::Fixed { steps: 0, .. },
            } => return Err(invalid("steps", 0usize, "must be >= 1")),
            FlowMode::Ode {
                integrator: FlowIntegrator::Adaptive { config },
            } => {
                config.init()?;
            }
            FlowMode::Ode { .. } => {}
            FlowMode::Sde {
                diffusion,
                norm,
                steps,
                last_step,
                last_step_size,
            } => {
                if *steps == 0 {
                    return Err(invalid("steps", 0usize, "must be >= 1"));
                }
                if !(*norm > 0.0 && norm.is_finite()) {
                    return Err(invalid("norm", *norm, "must be finite and > 0"));
                }
                if last_step.is_some() && !(*last_step_size > 0.0 && *last_step_size < 0.5) {
                    return Err(invalid(
                        "last_step_size",
                        *last_step_size,
                        "must be in (0, 0.5)",
                    ));
                }
                let vp = matches!(self.interpolant, Interpolant::VariancePreserving { .. });
                if *diffusion == Diffusion::Sbdm && self.sample_eps == 0.0 && !vp {
                    return Err(invalid(
                        "sample_eps",
                        0.0,
                        "SBDM diffusion is singular at t = 0 on this path: start at sample_eps > 0",
                    ));
                }
            }
        }
        Ok(FlowSampler {
            config: self.clone(),
        })
    }
}

/// What a flow run returns.
#[derive(Debug, Clone)]
pub struct FlowSamples<Bk: Backend> {
    /// The samples `[N, D]`.
    pub samples: Tensor<Bk, 2>,
    /// Field evaluations, each on the whole batch.
    pub evaluations: usize,
}

/// The flow sampler ([`FlowSamplerConfig`]).
///
/// It calls only the field's forward pass: pass a model on a plain backend (`model.valid()` of
/// an autodiff module) so that no graph is built.
#[derive(Debug, Clone)]
pub struct FlowSampler {
    config: FlowSamplerConfig,
}

impl FlowSampler {
    /// The time interval `[t₀, t₁]` integrated over, as TorchEBM chooses it for velocity
    /// models: `[0, 1]` for the ODE on the linear and cosine paths; `t₁ = 1 − sample_eps` on
    /// the VP path; for the SDE on the linear and cosine paths `t₀ = sample_eps` under SBDM
    /// diffusion, and `t₁ = 1 − last_step_size` before a last step (else `1 − sample_eps`).
    pub fn interval(&self) -> (f64, f64) {
        let c = &self.config;
        let eps = c.sample_eps;
        let vp = matches!(c.interpolant, Interpolant::VariancePreserving { .. });
        match (&c.mode, vp) {
            (FlowMode::Ode { .. }, true) => (0.0, 1.0 - eps),
            (FlowMode::Ode { .. }, false) => (0.0, 1.0),
            (
                FlowMode::Sde {
                    diffusion,
                    last_step,
                    last_step_size,
                    ..
                },
                _,
            ) => {
                let t0 = if !vp && *diffusion == Diffusion::Sbdm {
                    eps
                } else {
                    0.0
                };
                let t1 = match last_step {
                    Some(_) => 1.0 - last_step_size,
                    None => 1.0 - eps,
                };
                (t0, t1)
            }
        }
    }

    /// Carries `x0` (`[N, D]`, typically N(0, I) draws) to samples. `labels` condition a
    /// class-conditioned field (one per row); `seed` drives the SDE's noise.
    pub fn sample<Bk: Backend, M: FieldModel<Bk>>(
        &self,
        model: &M,
        x0: Tensor<Bk, 2>,
        labels: Option<&[usize]>,
        seed: u64,
    ) -> Result<FlowSamples<Bk>, SampleError> {
        let [n, d] = x0.dims();
        ebm_core::check_batch(Some(model.input_dim()), [n, d])?;
        check_labels(model.classes(), labels, n)?;
        let c = &self.config;
        let evaluations = std::cell::Cell::new(0usize);
        let velocity = |x: Tensor<Bk, 2>, t: f64| {
            evaluations.set(evaluations.get() + 1);
            let time = if c.negate_velocity { 0.0 } else { t };
            let f = model.field_at(x, time, labels);
            if c.negate_velocity { f.neg() } else { f }
        };
        let score = |x: Tensor<Bk, 2>, v: Tensor<Bk, 2>, t: f64| {
            let t = Tensor::full([n], t, &x.device());
            c.interpolant.velocity_to_score(v, x, t)
        };
        let (t0, t1) = self.interval();
        let samples = match &c.mode {
            FlowMode::Ode {
                integrator: FlowIntegrator::Fixed { method, steps },
            } => method.integrate(&velocity, x0, t0, t1, *steps)?,
            FlowMode::Ode {
                integrator: FlowIntegrator::Adaptive { config },
            } => config.init()?.solve(&velocity, x0, t0, t1)?.state,
            FlowMode::Sde {
                diffusion,
                norm,
                steps,
                last_step,
                last_step_size,
            } => {
                let w = |t: f64| norm * diffusion_coefficient(&c.interpolant, *diffusion, t);
                let drift = |x: Tensor<Bk, 2>, t: f64| {
                    let v = velocity(x.clone(), t);
                    v.clone() + score(x, v, t).mul_scalar(w(t))
                };
                let mut noise = Noise::new(seed);
                let x = EulerMaruyama.integrate(
                    &drift,
                    |t| (2.0 * w(t)).sqrt(),
                    x0,
                    (t0, t1),
                    *steps,
                    &mut noise,
                )?;
                match last_step {
                    None => x,
                    Some(LastStep::Mean) => x.clone() + drift(x, t1).mul_scalar(*last_step_size),
                    Some(LastStep::Euler) => {
                        x.clone() + velocity(x, t1).mul_scalar(*last_step_size)
                    }
                    Some(LastStep::Tweedie) => {
                        let [alpha, _, sigma, _] = c.interpolant.coefficients(t1);
                        let s = score(x.clone(), velocity(x.clone(), t1), t1);
                        (x + s.mul_scalar(sigma * sigma)).div_scalar(alpha)
                    }
                }
            }
        };
        let chains = non_finite_chains(&samples);
        if !chains.is_empty() {
            return Err(SampleError::NonFinite {
                step: evaluations.get(),
                chains,
            });
        }
        Ok(FlowSamples {
            samples,
            evaluations: evaluations.get(),
        })
    }
}

/// `w(t)` before its norm.
fn diffusion_coefficient(interpolant: &Interpolant, diffusion: Diffusion, t: f64) -> f64 {
    let [alpha, d_alpha, sigma, d_sigma] = interpolant.coefficients(t);
    match diffusion {
        Diffusion::Constant => 1.0,
        Diffusion::Sbdm => {
            let drift_var = d_alpha / alpha.max(1e-8) * sigma * sigma - sigma * d_sigma;
            drift_var / (sigma + 1e-8)
        }
        Diffusion::Sigma => sigma,
        Diffusion::Linear => 1.0 - t,
        Diffusion::Decreasing => (1.0 - t) * (1.0 - t),
        Diffusion::IncreasingDecreasing => 4.0 * t * (1.0 - t),
    }
}

/// `labels` for `n` rows of a field with `classes` classes: `n` values up to the null label
/// `classes`, and none for a field without classes.
pub(crate) fn check_labels(
    classes: usize,
    labels: Option<&[usize]>,
    n: usize,
) -> Result<(), SampleError> {
    let Some(labels) = labels else {
        return Ok(());
    };
    if classes == 0 {
        return Err(invalid(
            "labels",
            labels.len(),
            "this field takes no class labels",
        ));
    }
    if labels.len() != n {
        return Err(EnergyError::LengthMismatch {
            what: "class labels and rows",
            left: labels.len(),
            right: n,
        }
        .into());
    }
    match labels.iter().find(|&&y| y > classes) {
        Some(&y) => Err(invalid(
            "label",
            y,
            "must be at most the null label (the class count)",
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
pub(crate) mod test_field {
    //! Fields written as closures, for the samplers' tests: they are evaluated, never
    //! differentiated.

    use burn::tensor::Tensor;
    use ebm_core::neural::{Cotangent, FieldModel};
    use ebm_testing::TestInner;

    type Field = dyn Fn(Tensor<TestInner, 2>, Tensor<TestInner, 1>) -> Tensor<TestInner, 2>;

    /// A 2-D field `f(x, t)` taking labels up to `classes`.
    pub(crate) struct FnField {
        pub(crate) classes: usize,
        pub(crate) f: Box<Field>,
    }

    impl FnField {
        pub(crate) fn new(
            f: impl Fn(Tensor<TestInner, 2>, Tensor<TestInner, 1>) -> Tensor<TestInner, 2> + 'static,
        ) -> Self {
            Self {
                classes: 0,
                f: Box::new(f),
            }
        }
    }

    impl FieldModel<TestInner> for FnField {
        fn input_dim(&self) -> usize {
            2
        }

        fn classes(&self) -> usize {
            self.classes
        }

        fn field(
            &self,
            x: Tensor<TestInner, 2>,
            t: Tensor<TestInner, 1>,
            _: Option<&[usize]>,
        ) -> Tensor<TestInner, 2> {
            (self.f)(x, t)
        }

        fn field_and_vjp(
            &self,
            _: Tensor<TestInner, 2>,
            _: Tensor<TestInner, 1>,
            _: Option<&[usize]>,
            _: &Cotangent<TestInner>,
        ) -> (Tensor<TestInner, 2>, Tensor<TestInner, 2>) {
            unreachable!("sampling never differentiates")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_field::FnField;
    use super::*;
    use crate::integrator::AdaptiveMethod;
    use ebm_testing::TestInner;

    /// The exact velocity of the linear path from N(0, 1) to N(μ, s²) per coordinate:
    /// `μ + k(t)·(x − tμ)`, `k = (ts² − (1 − t)) / (t²s² + (1 − t)²)`. Its flow maps `x₀` to
    /// `μ + s·x₀`.
    fn gaussian_velocity(mu: f32, s: f32) -> FnField {
        FnField::new(move |x, t| {
            let s2 = s * s;
            let t = t.unsqueeze_dim::<2>(1);
            let one_minus = t.clone().neg().add_scalar(1.0);
            let k = (t.clone().mul_scalar(s2) - one_minus.clone())
                / (t.clone().square().mul_scalar(s2) + one_minus.square());
            (x - t.mul_scalar(mu)) * k + mu
        })
    }

    fn noise(n: usize) -> Tensor<TestInner, 2> {
        ebm_testing::normal::<TestInner, 2>([n, 2], 1.0, 11, &Default::default())
    }

    fn moments(x: Tensor<TestInner, 2>) -> (f64, f64) {
        let v = x.into_data().convert::<f64>().to_vec::<f64>().unwrap();
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
        (mean, var.sqrt())
    }

    #[test]
    fn the_ode_carries_each_noise_point_to_its_exact_image() {
        let field = gaussian_velocity(1.5, 0.5);
        let x0 = noise(64);
        let exact = x0.clone().mul_scalar(0.5).add_scalar(1.5);
        for (integrator, tol) in [
            (
                FlowIntegrator::Adaptive {
                    config: AdaptiveConfig::new().with_rtol(1e-5),
                },
                1e-4,
            ),
            (
                FlowIntegrator::Adaptive {
                    config: AdaptiveConfig::new()
                        .with_method(AdaptiveMethod::Bosh3)
                        .with_rtol(1e-5),
                },
                1e-3,
            ),
            (
                FlowIntegrator::Fixed {
                    method: FixedStep::Rk4,
                    steps: 20,
                },
                1e-4,
            ),
            (
                FlowIntegrator::Fixed {
                    method: FixedStep::Euler,
                    steps: 200,
                },
                2e-2,
            ),
        ] {
            let sampler = FlowSamplerConfig::new()
                .with_mode(FlowMode::Ode { integrator })
                .init()
                .unwrap();
            let out = sampler.sample(&field, x0.clone(), None, 0).unwrap();
            let err = (out.samples - exact.clone()).abs().max().into_scalar() as f64;
            assert!(err < tol, "{err}");
            assert!(out.evaluations > 0);
        }
    }

    #[test]
    fn the_sde_and_each_last_step_sample_the_target_moments() {
        let field = gaussian_velocity(-1.0, 0.7);
        let x0 = noise(4000);
        for last_step in [
            None,
            Some(LastStep::Mean),
            Some(LastStep::Euler),
            Some(LastStep::Tweedie),
        ] {
            let mode = FlowMode::Sde {
                diffusion: Diffusion::Sbdm,
                norm: 1.0,
                steps: 400,
                last_step,
                last_step_size: 0.02,
            };
            let sampler = FlowSamplerConfig::new()
                .with_mode(mode)
                .with_sample_eps(1e-3)
                .init()
                .unwrap();
            let out = sampler.sample(&field, x0.clone(), None, 5).unwrap();
            let (mean, std) = moments(out.samples);
            // 8000 coordinates: the mean's standard error is 0.008, the std's 0.006.
            assert!((mean + 1.0).abs() < 0.04, "{last_step:?}: mean {mean}");
            assert!((std - 0.7).abs() < 0.04, "{last_step:?}: std {std}");
        }
    }

    /// `f = −½` whatever `x`; a nonzero time would show, since the negated field must be
    /// evaluated at t = 0.
    fn constant() -> FnField {
        FnField {
            classes: 2,
            ..FnField::new(|x, t| {
                x.zeros_like().add_scalar(-0.5) + t.unsqueeze_dim::<2>(1).mul_scalar(100.0)
            })
        }
    }

    #[test]
    fn a_negated_field_is_evaluated_at_time_zero() {
        let sampler = FlowSamplerConfig::new()
            .with_negate_velocity(true)
            .init()
            .unwrap();
        let x0 = noise(8);
        let out = sampler
            .sample(&constant(), x0.clone(), Some(&[0, 1, 2, 0, 1, 2, 0, 1]), 0)
            .unwrap();
        let err = (out.samples - x0.add_scalar(0.5)).abs().max().into_scalar();
        assert!(err < 1e-5, "{err}");
    }

    #[test]
    fn bad_configs_and_inputs_are_errors() {
        let sde = FlowSamplerConfig::new().with_mode(FlowMode::sde());
        assert!(
            matches!(sde.init(), Err(SampleError::InvalidParameter(p)) if p.name == "sample_eps")
        );
        assert!(
            sde.clone()
                .with_interpolant(Interpolant::variance_preserving())
                .init()
                .is_ok()
        );
        let fixed = |steps| FlowMode::Ode {
            integrator: FlowIntegrator::Fixed {
                method: FixedStep::Heun,
                steps,
            },
        };
        assert!(FlowSamplerConfig::new().with_mode(fixed(0)).init().is_err());
        assert!(
            FlowSamplerConfig::new()
                .with_sample_eps(0.5)
                .init()
                .is_err()
        );
        let sampler = FlowSamplerConfig::new().with_mode(fixed(4)).init().unwrap();
        let field = gaussian_velocity(0.0, 1.0);
        let wide = Tensor::<TestInner, 2>::zeros([3, 5], &Default::default());
        assert!(matches!(
            sampler.sample(&field, wide, None, 0),
            Err(SampleError::Input(_))
        ));
        let labelled = sampler.sample(&field, noise(3), Some(&[0, 0, 0]), 0);
        assert!(matches!(labelled, Err(SampleError::InvalidParameter(p)) if p.name == "labels"));
        let bad_label = sampler.sample(&constant(), noise(2), Some(&[0, 3]), 0);
        assert!(matches!(bad_label, Err(SampleError::InvalidParameter(p)) if p.name == "label"));
        // s = 0 makes k(1) = 0/0: the samples are NaN, and the run says which rows.
        let degenerate = gaussian_velocity(0.0, 0.0);
        let err = sampler.sample(&degenerate, noise(3), None, 0).unwrap_err();
        assert!(matches!(err, SampleError::NonFinite { chains, .. } if chains == vec![0, 1, 2]));
    }
}
