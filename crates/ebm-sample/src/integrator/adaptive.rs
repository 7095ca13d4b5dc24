//! Adaptive Runge–Kutta: embedded pairs with error control on `atol` and `rtol`.
//!
//! Each step costs one host read, the error norm that decides acceptance and the next step size;
//! a fixed-step method needs none.

use burn::config::Config;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use serde::{Deserialize, Serialize};

use super::VectorField;
use super::fixed_step::check_times;
use super::tableau::{ADAPTIVE_HEUN, BOSH3, DOPRI5, Tableau, combine};
use crate::error::{SampleError, invalid};

/// An embedded Runge–Kutta pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AdaptiveMethod {
    /// Heun–Euler 2(1): two evaluations per step.
    Heun,
    /// Bogacki–Shampine 3(2): three evaluations per step (four stages, first same as last).
    Bosh3,
    /// Dormand–Prince 5(4): six evaluations per step (seven stages, first same as last).
    Dopri5,
}

impl AdaptiveMethod {
    fn tableau(self) -> &'static Tableau {
        match self {
            Self::Heun => &ADAPTIVE_HEUN,
            Self::Bosh3 => &BOSH3,
            Self::Dopri5 => &DOPRI5,
        }
    }

    /// The order of the solution.
    pub fn order(self) -> u32 {
        self.tableau().order
    }
}

/// Builds an [`Adaptive`] integrator.
///
/// A step is accepted when, for every row, the root mean square of
/// `error / (atol + rtol·max(|x|, |x'|))` is at most 1; the next step is the current one times
/// `safety·norm^(−1/p)` (`p` the solution's order), held within `[min_factor, max_factor]`.
#[derive(Config, Debug)]
pub struct AdaptiveConfig {
    /// The embedded pair.
    #[config(default = "AdaptiveMethod::Dopri5")]
    pub method: AdaptiveMethod,
    /// Absolute tolerance (> 0).
    #[config(default = 1e-6)]
    pub atol: f64,
    /// Relative tolerance (≥ 0).
    #[config(default = 1e-3)]
    pub rtol: f64,
    /// The first step's size; `None` picks it from the field (Hairer, Nørsett and Wanner's
    /// starting-step rule, two extra evaluations).
    #[config(default = "None")]
    pub initial_step: Option<f64>,
    /// Steps (accepted and rejected) after which the integration fails.
    #[config(default = 10_000)]
    pub max_steps: usize,
    /// Safety factor on the predicted step, in (0, 1].
    #[config(default = 0.9)]
    pub safety: f64,
    /// Smallest factor a step may shrink by, in (0, 1).
    #[config(default = 0.2)]
    pub min_factor: f64,
    /// Largest factor a step may grow by, > 1.
    #[config(default = 10.0)]
    pub max_factor: f64,
}

ebm_core::json_config!(
    AdaptiveConfig,
    required = [],
    template = AdaptiveConfig::new()
);

impl AdaptiveConfig {
    /// Builds the integrator, checking the parameters.
    pub fn init(&self) -> Result<Adaptive, SampleError> {
        let positive = |name, v: f64| -> Result<(), SampleError> {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(invalid(name, v, "must be finite and > 0"))
            }
        };
        positive("atol", self.atol)?;
        if !(self.rtol.is_finite() && self.rtol >= 0.0) {
            return Err(invalid("rtol", self.rtol, "must be finite and >= 0"));
        }
        if let Some(h) = self.initial_step {
            positive("initial_step", h)?;
        }
        if self.max_steps == 0 {
            return Err(invalid("max_steps", 0usize, "must be >= 1"));
        }
        if !(self.safety > 0.0 && self.safety <= 1.0) {
            return Err(invalid("safety", self.safety, "must be in (0, 1]"));
        }
        if !(self.min_factor > 0.0 && self.min_factor < 1.0) {
            return Err(invalid("min_factor", self.min_factor, "must be in (0, 1)"));
        }
        if !(self.max_factor.is_finite() && self.max_factor > 1.0) {
            return Err(invalid(
                "max_factor",
                self.max_factor,
                "must be finite and > 1",
            ));
        }
        Ok(Adaptive {
            config: self.clone(),
        })
    }
}

/// An adaptive Runge–Kutta integrator (see [`AdaptiveConfig`]).
///
/// ```
/// use burn::backend::NdArray;
/// use burn::tensor::Tensor;
/// use ebm_sample::integrator::AdaptiveConfig;
///
/// let dopri5 = AdaptiveConfig::new().with_rtol(1e-5).init().unwrap();
/// let x0 = Tensor::<NdArray, 2>::ones([4, 2], &Default::default());
/// let solution = dopri5.solve(&|x: Tensor<NdArray, 2>, _t: f64| x.neg(), x0, 0.0, 2.0).unwrap();
/// let x: Vec<f32> = solution.state.into_data().to_vec().unwrap();
/// assert!(x.iter().all(|v| (v - (-2.0f32).exp()).abs() < 1e-4));
/// assert!(solution.accepted > 1);
/// ```
#[derive(Debug, Clone)]
pub struct Adaptive {
    config: AdaptiveConfig,
}

/// What an adaptive integration reached, and what it cost.
#[derive(Debug, Clone)]
pub struct Solution<Bk: Backend> {
    /// The state at the end time.
    pub state: Tensor<Bk, 2>,
    /// Accepted steps.
    pub accepted: usize,
    /// Rejected steps.
    pub rejected: usize,
    /// Evaluations of the field.
    pub evaluations: usize,
}

/// Per row, the RMS of `value / (atol + rtol·max(|x|, |x'|))`; the largest over the rows.
fn error_norm<Bk: Backend>(
    value: Tensor<Bk, 2>,
    x: &Tensor<Bk, 2>,
    x_new: &Tensor<Bk, 2>,
    atol: f64,
    rtol: f64,
) -> f64 {
    let scale = x
        .clone()
        .abs()
        .max_pair(x_new.clone().abs())
        .mul_scalar(rtol)
        .add_scalar(atol);
    let rows = (value / scale).square().mean_dim(1);
    // A NaN row must not be hidden by `max`: it counts as an infinite error.
    let rows = rows.clone().mask_fill(rows.is_nan(), f64::INFINITY);
    let norm: f64 = burn::tensor::ElementConversion::elem(rows.max().sqrt().into_scalar());
    if norm.is_nan() { f64::INFINITY } else { norm }
}

impl Adaptive {
    /// The configuration.
    pub fn config(&self) -> &AdaptiveConfig {
        &self.config
    }

    /// `x(t1)` from `x(t0) = x` (`t1 < t0` integrates backwards).
    ///
    /// # Errors
    /// [`SampleError::InvalidParameter`] for a non-finite time; [`SampleError::Integration`]
    /// when `max_steps` steps do not reach `t1`, or the step size shrinks below what moves the
    /// time (a field that turned non-finite).
    pub fn solve<Bk: Backend, F: VectorField<Bk> + ?Sized>(
        &self,
        field: &F,
        x: Tensor<Bk, 2>,
        t0: f64,
        t1: f64,
    ) -> Result<Solution<Bk>, SampleError> {
        check_times(t0, t1)?;
        let c = &self.config;
        let tableau = self.config.method.tableau();
        let errors = tableau
            .error
            .expect("an adaptive method has an embedded pair");
        let direction = if t1 >= t0 { 1.0 } else { -1.0 };
        let mut solution = Solution {
            state: x,
            accepted: 0,
            rejected: 0,
            evaluations: 0,
        };
        if t1 == t0 {
            return Ok(solution);
        }
        let mut first = None;
        let mut size = match c.initial_step {
            Some(h) => h,
            None => {
                let f0 = field.velocity(solution.state.clone(), t0);
                let h = self.starting_step(field, &solution.state, &f0, t0, direction);
                solution.evaluations += 2;
                first = Some(f0);
                h
            }
        };
        let mut t = t0;
        let exponent = -1.0 / tableau.order as f64;
        while (t1 - t) * direction > 0.0 {
            let steps = solution.accepted + solution.rejected;
            if steps >= c.max_steps {
                return Err(SampleError::Integration {
                    time: t,
                    steps,
                    reason: "max_steps reached",
                });
            }
            let h = size.min((t1 - t).abs()) * direction;
            if h.abs() < 1e-12 * (t1 - t0).abs() || t + h == t {
                return Err(SampleError::Integration {
                    time: t,
                    steps,
                    reason: "the step size fell below 1e-12 of the span (a non-finite field?)",
                });
            }
            let known = first.is_some() as usize;
            let stages = tableau.stages(field, &solution.state, t, h, first.take());
            solution.evaluations += stages.len() - known;
            let x_new = combine(&solution.state, h, tableau.b, &stages);
            let zero = solution.state.zeros_like();
            let error = combine(&zero, h, errors, &stages);
            let norm = error_norm(error, &solution.state, &x_new, c.atol, c.rtol);
            let factor = if norm == 0.0 {
                c.max_factor
            } else {
                (c.safety * norm.powf(exponent)).clamp(c.min_factor, c.max_factor)
            };
            if norm <= 1.0 {
                t = if (t1 - (t + h)) * direction <= 0.0 {
                    t1
                } else {
                    t + h
                };
                solution.state = x_new;
                solution.accepted += 1;
                first = tableau.fsal.then(|| stages.last().expect("stages").clone());
                size = h.abs() * factor;
            } else {
                solution.rejected += 1;
                // f(x, t) is still the first stage of the retried step.
                first = stages.into_iter().next();
                size = h.abs() * factor.min(1.0);
            }
        }
        Ok(solution)
    }

    /// Hairer, Nørsett and Wanner's starting step (Solving ODEs I, II.4): a step whose Euler
    /// error is about 1% of the tolerance, checked by one trial evaluation.
    fn starting_step<Bk: Backend, F: VectorField<Bk> + ?Sized>(
        &self,
        field: &F,
        x: &Tensor<Bk, 2>,
        f0: &Tensor<Bk, 2>,
        t0: f64,
        direction: f64,
    ) -> f64 {
        let c = &self.config;
        let d0 = error_norm(x.clone(), x, x, c.atol, c.rtol);
        let d1 = error_norm(f0.clone(), x, x, c.atol, c.rtol);
        let h0 = if d0 < 1e-5 || d1 < 1e-5 || !d1.is_finite() {
            1e-6
        } else {
            0.01 * d0 / d1
        };
        let x1 = x.clone() + f0.clone().mul_scalar(h0 * direction);
        let f1 = field.velocity(x1, t0 + h0 * direction);
        let d2 = error_norm(f1 - f0.clone(), x, x, c.atol, c.rtol) / h0;
        let largest = d1.max(d2);
        let h1 = if largest <= 1e-15 || !largest.is_finite() {
            (h0 * 1e-3).max(1e-6)
        } else {
            (0.01 / largest).powf(1.0 / (c.method.order() as f64 + 1.0))
        };
        (100.0 * h0).min(h1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrator::linear_ode::{error, field, start};
    use ebm_testing::TestInner;

    fn solver(method: AdaptiveMethod, rtol: f64) -> Adaptive {
        AdaptiveConfig::new()
            .with_method(method)
            .with_rtol(rtol)
            .with_atol(rtol * 1e-2)
            .init()
            .unwrap()
    }

    /// Looser tolerances take fewer steps, and every solution is within a small multiple of its
    /// tolerance (a local tolerance does not bound the global error exactly).
    #[test]
    fn steps_fall_as_the_tolerance_loosens() {
        for method in [
            AdaptiveMethod::Heun,
            AdaptiveMethod::Bosh3,
            AdaptiveMethod::Dopri5,
        ] {
            let runs: Vec<(f64, usize, f64)> = [1e-4, 1e-3, 1e-2]
                .iter()
                .map(|&rtol| {
                    let s = solver(method, rtol)
                        .solve(&field, start(), 0.0, 4.0)
                        .unwrap();
                    (rtol, s.accepted, error(s.state, 4.0))
                })
                .collect();
            for pair in runs.windows(2) {
                assert!(pair[1].1 < pair[0].1, "{method:?}: {runs:?}");
            }
            for &(rtol, _, err) in &runs {
                assert!(err < 20.0 * rtol, "{method:?}: {runs:?}");
            }
        }
    }

    /// Dopri5 and Bosh3 reuse their last stage: six and three evaluations per accepted step.
    #[test]
    fn first_same_as_last_saves_an_evaluation() {
        for (method, per_step) in [(AdaptiveMethod::Dopri5, 6), (AdaptiveMethod::Bosh3, 3)] {
            let s = AdaptiveConfig::new()
                .with_method(method)
                .with_initial_step(Some(0.1))
                .init()
                .unwrap()
                .solve(&field, start(), 0.0, 4.0)
                .unwrap();
            let stages = method.tableau().b.len();
            // The first step computes all its stages; a rejected step reuses its first one.
            assert_eq!(
                s.evaluations,
                stages + per_step * (s.accepted - 1) + (stages - 1) * s.rejected,
                "{method:?}: {s:?}"
            );
        }
    }

    #[test]
    fn backwards_and_zero_length_integrations() {
        let dopri5 = solver(AdaptiveMethod::Dopri5, 1e-6);
        let there = dopri5.solve(&field, start(), 0.0, 2.0).unwrap().state;
        let back = dopri5.solve(&field, there, 2.0, 0.0).unwrap().state;
        assert!(error(back, 0.0) < 1e-4);
        let none = dopri5.solve(&field, start(), 1.0, 1.0).unwrap();
        assert_eq!((none.accepted, none.evaluations), (0, 0));
    }

    #[test]
    fn failures_and_bad_parameters_are_typed_errors() {
        let nan_field = |x: Tensor<TestInner, 2>, _t: f64| x.mul_scalar(f64::NAN);
        let result = AdaptiveConfig::new()
            .init()
            .unwrap()
            .solve(&nan_field, start(), 0.0, 1.0);
        assert!(
            matches!(result, Err(SampleError::Integration { steps, .. }) if steps < 20),
            "{result:?}"
        );
        let few = AdaptiveConfig::new()
            .with_max_steps(2)
            .with_rtol(1e-8)
            .init()
            .unwrap()
            .solve(&field, start(), 0.0, 4.0);
        assert!(
            matches!(few, Err(SampleError::Integration { steps: 2, .. })),
            "{few:?}"
        );
        for (config, name) in [
            (AdaptiveConfig::new().with_atol(0.0), "atol"),
            (AdaptiveConfig::new().with_rtol(-1.0), "rtol"),
            (AdaptiveConfig::new().with_max_steps(0), "max_steps"),
            (AdaptiveConfig::new().with_safety(1.5), "safety"),
            (AdaptiveConfig::new().with_min_factor(1.0), "min_factor"),
            (AdaptiveConfig::new().with_max_factor(1.0), "max_factor"),
            (
                AdaptiveConfig::new().with_initial_step(Some(-0.1)),
                "initial_step",
            ),
        ] {
            assert!(
                matches!(config.init(), Err(SampleError::InvalidParameter(p)) if p.name == name),
                "{name}"
            );
        }
    }
}
