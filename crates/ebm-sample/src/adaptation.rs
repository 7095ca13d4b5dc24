//! Dual-averaging step-size adaptation (Hoffman & Gelman 2014, algorithm 5).

use serde::{Deserialize, Serialize};

/// Adapts a step size during warm-up so that the mean acceptance rate approaches a target.
///
/// With `μ = log(10·ε₀)`, after each warm-up step with mean acceptance `α`:
/// `H̄ ← (1 − 1/(t + t₀))·H̄ + (δ − α)/(t + t₀)`, `log ε = μ − √t/γ·H̄`, and the running average
/// `log ε̄ ← t^{−κ}·log ε + (1 − t^{−κ})·log ε̄`. After warm-up the sampler uses `ε̄`.
/// Constants as in Stan: γ = 0.05, t₀ = 10, κ = 0.75.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DualAveraging {
    target: f64,
    mu: f64,
    h_bar: f64,
    log_step: f64,
    log_step_bar: f64,
    t: f64,
}

impl DualAveraging {
    const GAMMA: f64 = 0.05;
    const T0: f64 = 10.0;
    const KAPPA: f64 = 0.75;

    /// Starts from `initial_step` towards the acceptance rate `target`.
    pub fn new(initial_step: f64, target: f64) -> Self {
        Self {
            target,
            mu: (10.0 * initial_step).ln(),
            h_bar: 0.0,
            log_step: initial_step.ln(),
            log_step_bar: 0.0,
            t: 0.0,
        }
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

    /// Feeds one warm-up step's mean acceptance rate.
    pub fn update(&mut self, acceptance: f64) {
        // A NaN acceptance (no finite proposal) counts as a rejection.
        let acceptance = if acceptance.is_finite() {
            acceptance.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.t += 1.0;
        let w = 1.0 / (self.t + Self::T0);
        self.h_bar = (1.0 - w) * self.h_bar + w * (self.target - acceptance);
        self.log_step = self.mu - self.t.sqrt() / Self::GAMMA * self.h_bar;
        let eta = self.t.powf(-Self::KAPPA);
        self.log_step_bar = eta * self.log_step + (1.0 - eta) * self.log_step_bar;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}

/// The step size of a Metropolis sampler: a schedule, optionally replaced by dual averaging
/// during warm-up and by its averaged result afterwards.
#[derive(Debug, Clone)]
pub(crate) struct StepSize {
    schedule: ebm_core::schedule::Schedule,
    target: Option<f64>,
    adapting: Option<DualAveraging>,
    adapted: Option<f64>,
}

impl StepSize {
    pub(crate) fn new(schedule: ebm_core::schedule::Schedule, target: Option<f64>) -> Self {
        Self {
            schedule,
            target,
            adapting: None,
            adapted: None,
        }
    }

    pub(crate) fn schedule(&self) -> &ebm_core::schedule::Schedule {
        &self.schedule
    }

    pub(crate) fn target(&self) -> Option<f64> {
        self.target
    }

    /// Restarts adaptation (if configured) at the start of a run.
    pub(crate) fn begin(&mut self) {
        self.adapted = None;
        self.adapting = self
            .target
            .map(|t| DualAveraging::new(self.schedule.value_at(0), t));
    }

    pub(crate) fn adapts(&self) -> bool {
        self.adapting.is_some()
    }

    pub(crate) fn update(&mut self, acceptance: f64) {
        if let Some(da) = &mut self.adapting {
            da.update(acceptance);
        }
    }

    pub(crate) fn end_warmup(&mut self) {
        if let Some(da) = self.adapting.take() {
            self.adapted = Some(da.final_step_size());
        }
    }

    pub(crate) fn value(&self, k: usize) -> f64 {
        match (&self.adapting, self.adapted) {
            (Some(da), _) => da.step_size(),
            (None, Some(step)) => step,
            (None, None) => self.schedule.value_at(k),
        }
    }
}
