//! Step-size adaptation during warm-up: dual averaging (Hoffman & Gelman 2014, algorithm 5), its
//! configuration, and the step size a run uses at each step. A sampler only declares its schedule
//! and whether it adapts ([`crate::Transition::adaptation`]); the run owns the adaptation's state.

use burn::config::Config;
use ebm_core::schedule::Schedule;
use serde::{Deserialize, Serialize};

use crate::error::{SampleError, invalid};

/// Which mean over the chains of their acceptance probabilities dual averaging steers to the
/// target.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum AcceptanceMean {
    /// The arithmetic mean (Stan's, for one chain the same thing).
    Arithmetic,
    /// The harmonic mean over the non-divergent chains, as ChEES-HMC uses (Hoffman et al. 2021,
    /// target 0.651): one chain that accepts nothing pulls it to 0, so the step shrinks until no
    /// chain is stuck, where the arithmetic mean lets a few chains stall.
    Harmonic,
}

// By hand: `derive(Default)`'s `#[default]` does not get through Burn's `Config` derive.
#[allow(clippy::derivable_impls)]
impl Default for AcceptanceMean {
    fn default() -> Self {
        AcceptanceMean::Arithmetic
    }
}

/// The constants of dual averaging. The defaults are Stan's: γ = 0.05, t₀ = 10, κ = 0.75.
#[derive(Config, Debug, PartialEq)]
pub struct DualAveragingConfig {
    /// γ > 0: how far the step may move from `μ = log(10·ε₀)`; smaller moves further.
    #[config(default = 0.05)]
    pub gamma: f64,
    /// t₀ ≥ 0: damps the first iterations.
    #[config(default = 10.0)]
    pub t0: f64,
    /// κ in (0.5, 1]: the decay of the averaging weights `t^{−κ}`.
    #[config(default = 0.75)]
    pub kappa: f64,
    /// The mean over the chains that is steered to the target.
    #[config(default = "AcceptanceMean::Arithmetic")]
    pub acceptance_mean: AcceptanceMean,
}

ebm_core::json_config!(
    DualAveragingConfig,
    required = [],
    template = DualAveragingConfig::new()
);

impl DualAveragingConfig {
    /// Checks the constants, and `target` (the acceptance probability to reach) in (0, 1).
    pub fn validate(&self, target: f64) -> Result<(), SampleError> {
        if !(target > 0.0 && target < 1.0) {
            return Err(invalid("target_acceptance", target, "must be in (0, 1)"));
        }
        if !(self.gamma.is_finite() && self.gamma > 0.0) {
            return Err(invalid("dual_averaging.gamma", self.gamma, "must be > 0"));
        }
        if !(self.t0.is_finite() && self.t0 >= 0.0) {
            return Err(invalid("dual_averaging.t0", self.t0, "must be >= 0"));
        }
        if !(self.kappa > 0.5 && self.kappa <= 1.0) {
            return Err(invalid(
                "dual_averaging.kappa",
                self.kappa,
                "must be in (0.5, 1]",
            ));
        }
        Ok(())
    }

    /// An adaptation towards `target` (none without one), from the schedule's first value: what
    /// a Metropolis sampler hands its run.
    pub fn start(&self, target: Option<f64>, schedule: &Schedule) -> Option<DualAveraging> {
        target.map(|target| self.init(schedule.value_at(0), target))
    }

    /// Starts an adaptation from `initial_step` towards the mean acceptance probability `target`.
    pub fn init(&self, initial_step: f64, target: f64) -> DualAveraging {
        DualAveraging {
            gamma: self.gamma,
            t0: self.t0,
            kappa: self.kappa,
            acceptance_mean: self.acceptance_mean,
            target,
            mu: (10.0 * initial_step).ln(),
            h_bar: 0.0,
            log_step: initial_step.ln(),
            log_step_bar: 0.0,
            t: 0.0,
        }
    }
}

/// Adapts a step size during warm-up so that the mean acceptance probability approaches a target.
///
/// With `μ = log(10·ε₀)`, after each warm-up step with mean acceptance probability `α`:
/// `H̄ ← (1 − 1/(t + t₀))·H̄ + (δ − α)/(t + t₀)`, `log ε = μ − √t/γ·H̄`, and the running average
/// `log ε̄ ← t^{−κ}·log ε + (1 − t^{−κ})·log ε̄`. After warm-up the sampler uses `ε̄`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DualAveraging {
    gamma: f64,
    t0: f64,
    kappa: f64,
    #[serde(default)]
    acceptance_mean: AcceptanceMean,
    target: f64,
    mu: f64,
    h_bar: f64,
    log_step: f64,
    log_step_bar: f64,
    t: f64,
}

impl DualAveraging {
    /// Starts from `initial_step` towards the acceptance probability `target`, with Stan's
    /// constants.
    pub fn new(initial_step: f64, target: f64) -> Self {
        DualAveragingConfig::new().init(initial_step, target)
    }

    /// The step size to use next during warm-up.
    pub fn step_size(&self) -> f64 {
        self.log_step.exp()
    }

    /// The averaged step size, used after warm-up.
    pub fn final_step_size(&self) -> f64 {
        if self.t == 0.0 {
            self.step_size()
        } else {
            self.log_step_bar.exp()
        }
    }

    /// The same adaptation started again from the averaged step size, as Stan's does when the
    /// mass matrix changes under it: the old iterates were tuned to the old geometry.
    pub fn restarted(&self) -> Self {
        let config = DualAveragingConfig {
            gamma: self.gamma,
            t0: self.t0,
            kappa: self.kappa,
            acceptance_mean: self.acceptance_mean,
        };
        config.init(self.final_step_size(), self.target)
    }

    /// Feeds one warm-up step's mean acceptance probability.
    pub fn update(&mut self, acceptance: f64) {
        // A NaN acceptance (no finite proposal) counts as a rejection.
        let acceptance = if acceptance.is_finite() {
            acceptance.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.t += 1.0;
        let w = 1.0 / (self.t + self.t0);
        self.h_bar = (1.0 - w) * self.h_bar + w * (self.target - acceptance);
        self.log_step = self.mu - self.t.sqrt() / self.gamma * self.h_bar;
        let eta = self.t.powf(-self.kappa);
        self.log_step_bar = eta * self.log_step + (1.0 - eta) * self.log_step_bar;
    }
}

/// The Metropolis acceptance probabilities `min(1, exp(log α))`, on the device; NaN stays NaN.
pub(crate) fn acceptance_probabilities<Bk: burn::tensor::backend::Backend>(
    log_alpha: &burn::tensor::Tensor<Bk, 1>,
) -> burn::tensor::Tensor<Bk, 1> {
    log_alpha.clone().clamp_max(0.0).exp()
}

/// The mean Metropolis acceptance probability over the chains, a NaN `log α` (a non-finite
/// proposal) counting as 0. One host read.
pub(crate) fn mean_acceptance_probability<Bk: burn::tensor::backend::Backend>(
    log_alpha: &burn::tensor::Tensor<Bk, 1>,
) -> f64 {
    let p = acceptance_probabilities(log_alpha);
    let p = p.clone().mask_fill(p.is_nan(), 0.0);
    burn::tensor::ElementConversion::elem(p.mean().into_scalar())
}

/// The harmonic mean of the acceptance probabilities `min(1, exp(log α))` over the chains
/// whose `log α` is not NaN, 0 when one of them is 0 or none is left. One host read.
pub(crate) fn harmonic_mean_acceptance_probability<Bk: burn::tensor::backend::Backend>(
    log_alpha: &burn::tensor::Tensor<Bk, 1>,
) -> f64 {
    let p = acceptance_probabilities(log_alpha);
    let excluded = p.clone().is_nan();
    let count = excluded.clone().bool_not().float().sum();
    let inverse_sum = p.recip().mask_fill(excluded, 0.0).sum();
    let mean: f64 = burn::tensor::ElementConversion::elem((count / inverse_sum).into_scalar());
    if mean.is_finite() { mean } else { 0.0 }
}

/// The step size of a run: the sampler's schedule, replaced during warm-up by its adaptation
/// (if any) and after warm-up by the adaptation's averaged result.
#[derive(Debug, Clone)]
pub(crate) struct RunStepSize<'a> {
    schedule: &'a Schedule,
    adapting: Option<DualAveraging>,
    adapted: Option<f64>,
}

impl<'a> RunStepSize<'a> {
    pub(crate) fn new(schedule: &'a Schedule, adaptation: Option<DualAveraging>) -> Self {
        Self {
            schedule,
            adapting: adaptation,
            adapted: None,
        }
    }

    pub(crate) fn adapts(&self) -> bool {
        self.adapting.is_some()
    }

    /// Feeds a warm-up step's acceptance, `log α` per chain, through the adaptation's mean.
    /// One host read.
    pub(crate) fn update<Bk: burn::tensor::backend::Backend>(
        &mut self,
        log_alpha: &burn::tensor::Tensor<Bk, 1>,
    ) {
        if let Some(da) = &mut self.adapting {
            da.update(match da.acceptance_mean {
                AcceptanceMean::Arithmetic => mean_acceptance_probability(log_alpha),
                AcceptanceMean::Harmonic => harmonic_mean_acceptance_probability(log_alpha),
            });
        }
    }

    /// Starts the adaptation again from its averaged step (the geometry changed).
    pub(crate) fn restart(&mut self) {
        if let Some(da) = &mut self.adapting {
            *da = da.restarted();
        }
    }

    pub(crate) fn end_warmup(&mut self) {
        if let Some(da) = self.adapting.take() {
            self.adapted = Some(da.final_step_size());
        }
    }

    /// The step size of step `k`.
    pub(crate) fn at(&self, k: usize) -> f64 {
        match (&self.adapting, self.adapted) {
            (Some(da), _) => da.step_size(),
            (None, Some(step)) => step,
            (None, None) => self.schedule.value_at(k),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn harmonic_mean_of_acceptances() {
        use burn::tensor::Tensor;
        use ebm_testing::TestInner;
        let mean = |log_alpha: [f32; 4]| {
            let t = Tensor::<TestInner, 1>::from_floats(log_alpha, &Default::default());
            harmonic_mean_acceptance_probability(&t)
        };
        let half = 0.5f32.ln();
        // 4 / (1 + 2 + 2 + 1), a positive log α counting as 1; NaN chains are left out.
        assert!((mean([0.0, half, half, 0.3]) - 4.0 / 6.0).abs() < 1e-6);
        assert!((mean([0.0, half, f32::NAN, f32::NAN]) - 2.0 / 3.0).abs() < 1e-6);
        assert_eq!(mean([0.0, f32::NEG_INFINITY, 0.0, 0.0]), 0.0);
        assert_eq!(mean([f32::NAN; 4]), 0.0);
    }

    #[test]
    fn step_grows_when_everything_is_accepted_and_shrinks_otherwise() {
        let mut up = DualAveraging::new(0.1, 0.65);
        let mut down = DualAveraging::new(0.1, 0.65);
        for _ in 0..50 {
            up.update(1.0);
            down.update(0.0);
        }
        assert!(up.final_step_size() > 0.1);
        assert!(down.final_step_size() < 0.1);
    }

    #[test]
    fn converges_to_the_step_that_gives_the_target() {
        // A toy model: acceptance = exp(−step).
        let mut da = DualAveraging::new(1.0, 0.65);
        for _ in 0..2000 {
            let rate = (-da.step_size()).exp();
            da.update(rate);
        }
        let expected = -(0.65f64).ln();
        assert!(
            (da.final_step_size() / expected - 1.0).abs() < 0.05,
            "{}",
            da.final_step_size()
        );
    }

    #[test]
    fn the_constants_are_used_and_checked() {
        // A larger γ moves the step less from μ after the same feedback.
        let feed = |config: DualAveragingConfig| {
            let mut da = config.init(0.1, 0.65);
            for _ in 0..20 {
                da.update(1.0);
            }
            da.step_size()
        };
        let stan = feed(DualAveragingConfig::new());
        let timid = feed(DualAveragingConfig::new().with_gamma(0.5));
        assert!(stan > timid && timid > 0.1, "{stan} vs {timid}");
        // κ = 1 averages uniformly; it changes ε̄ but not the iterates.
        let mut uniform = DualAveragingConfig::new().with_kappa(1.0).init(0.1, 0.65);
        let mut stan_da = DualAveraging::new(0.1, 0.65);
        for rate in [0.9, 0.2, 0.7, 0.4] {
            uniform.update(rate);
            stan_da.update(rate);
        }
        assert_eq!(uniform.step_size(), stan_da.step_size());
        assert_ne!(uniform.final_step_size(), stan_da.final_step_size());
        // A restart keeps the constants and the target, and starts from the averaged step.
        let restarted = stan_da.restarted();
        assert_eq!(restarted.step_size(), stan_da.final_step_size());
        assert_eq!(
            restarted,
            DualAveraging::new(stan_da.final_step_size(), 0.65),
            "Stan's constants, the same target, no history"
        );

        let config = DualAveragingConfig::new();
        assert!(config.validate(0.65).is_ok());
        for target in [0.0, 1.0, f64::NAN] {
            assert!(config.validate(target).is_err(), "target {target}");
        }
        let bad = [
            DualAveragingConfig::new().with_gamma(0.0),
            DualAveragingConfig::new().with_t0(-1.0),
            DualAveragingConfig::new().with_kappa(0.5),
            DualAveragingConfig::new().with_kappa(1.5),
        ];
        for config in bad {
            assert!(config.validate(0.65).is_err(), "{config:?}");
        }
    }
}
