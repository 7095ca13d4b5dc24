//! Trajectory-length adaptation for [`crate::Hmc`] over many chains: ChEES (Hoffman, Radul &
//! Sountsov 2021, "An adaptive MCMC scheme for setting trajectory lengths in Hamiltonian Monte
//! Carlo").
//!
//! Each transition integrates for a jittered time `t = u·T`, `u ~ U(0, 1]`, shared by all
//! chains: `⌈u·T/h⌉` leapfrog steps. No fixed `T` can then sit on a period of the target, which
//! would leave every chain where it started. During warm-up, `log T` climbs the gradient of the
//! ChEES criterion `¼·E[(‖x′ − E x′‖² − ‖x − E x‖²)²]` (the change in the estimate of the second
//! moments a transition makes), estimated from the ensemble, with Adam; `T` is the running
//! average of the iterates with weights `t^{−decay}`, and is frozen after warm-up. Norms are
//! taken in the metric of the mass, so the criterion does not depend on the scale of the
//! coordinates the mass has already absorbed.
//!
//! For a Gaussian with standard deviation σ along every direction the mass leaves, the criterion
//! of a trajectory of time `t` is proportional to `sin²(t/σ)`, and with the jitter its average
//! `½ − σ·sin(2T/σ)/(4T)` peaks at `tan(2T/σ) = 2T/σ`: `T ≈ 2.25σ`. The tests check that.

use burn::config::Config;
use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Tensor};

use crate::error::{SampleError, invalid};

/// The constants of the ChEES adaptation: the paper's learning rate, and Adam's usual β₁ and β₂
/// (blackjax's too). Without momentum (β₁ = 0) the length ran to `max_leapfrog` on the banana
/// (docs/sampler_efficiency.md).
#[derive(Config, Debug, PartialEq)]
pub struct TrajectoryAdaptationConfig {
    /// Adam's learning rate on `log T` (> 0).
    #[config(default = 0.025)]
    pub learning_rate: f64,
    /// Adam's β₁ in [0, 1).
    #[config(default = 0.9)]
    pub beta1: f64,
    /// Adam's β₂ in [0, 1).
    #[config(default = 0.999)]
    pub beta2: f64,
    /// The running average of `log T` weighs iterate `t` by `t^{−decay}`, decay in (0, 1].
    #[config(default = 0.5)]
    pub averaging_decay: f64,
    /// The most leapfrog steps one transition may take (≥ 1).
    #[config(default = 1000)]
    pub max_leapfrog: usize,
}

ebm_core::json_config!(
    TrajectoryAdaptationConfig,
    required = [],
    template = TrajectoryAdaptationConfig::new()
);

impl TrajectoryAdaptationConfig {
    /// Checks the constants.
    pub fn validate(&self) -> Result<(), SampleError> {
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(invalid(
                "trajectory_adaptation.learning_rate",
                self.learning_rate,
                "must be > 0",
            ));
        }
        for (name, beta) in [
            ("trajectory_adaptation.beta1", self.beta1),
            ("trajectory_adaptation.beta2", self.beta2),
        ] {
            if !(0.0..1.0).contains(&beta) {
                return Err(invalid(name, beta, "must be in [0, 1)"));
            }
        }
        if !(self.averaging_decay > 0.0 && self.averaging_decay <= 1.0) {
            return Err(invalid(
                "trajectory_adaptation.averaging_decay",
                self.averaging_decay,
                "must be in (0, 1]",
            ));
        }
        if self.max_leapfrog == 0 {
            return Err(invalid(
                "trajectory_adaptation.max_leapfrog",
                0usize,
                "must be >= 1",
            ));
        }
        Ok(())
    }
}

/// An HMC run's trajectory length `T`: adapted during warm-up, then fixed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TrajectoryLength {
    config: TrajectoryAdaptationConfig,
    /// Adam's iterate.
    log_length: f64,
    /// The running average of the iterates: `T = exp` of it.
    log_length_average: f64,
    first_moment: f64,
    second_moment: f64,
    updates: i32,
    adapting: bool,
}

impl TrajectoryLength {
    /// Starts from `initial > 0`.
    pub(crate) fn new(config: TrajectoryAdaptationConfig, initial: f64) -> Self {
        Self {
            config,
            log_length: initial.ln(),
            log_length_average: initial.ln(),
            first_moment: 0.0,
            second_moment: 0.0,
            updates: 0,
            adapting: true,
        }
    }

    /// The trajectory length `T`.
    pub(crate) fn length(&self) -> f64 {
        self.log_length_average.exp()
    }

    /// Whether warm-up still adapts it.
    pub(crate) fn adapting(&self) -> bool {
        self.adapting
    }

    /// The leapfrog steps of a transition with jitter `u` in (0, 1] and step size `h`:
    /// `⌈u·T/h⌉`, at least 1 and at most the configured maximum.
    pub(crate) fn n_steps(&self, u: f64, h: f64) -> usize {
        let steps = (u * self.length() / h).ceil();
        if steps.is_finite() {
            (steps as usize).clamp(1, self.config.max_leapfrog)
        } else {
            self.config.max_leapfrog
        }
    }

    /// One Adam ascent step on `log T` along the ChEES gradient `gradient` (with respect to
    /// `log T`); a non-finite estimate is skipped. Each step moves `log T` by at most 0.35.
    pub(crate) fn update(&mut self, gradient: f64) {
        if !gradient.is_finite() {
            return;
        }
        let c = &self.config;
        self.updates += 1;
        let t = self.updates;
        self.first_moment = c.beta1 * self.first_moment + (1.0 - c.beta1) * gradient;
        self.second_moment = c.beta2 * self.second_moment + (1.0 - c.beta2) * gradient * gradient;
        let m = self.first_moment / (1.0 - c.beta1.powi(t));
        let v = self.second_moment / (1.0 - c.beta2.powi(t));
        let step = (c.learning_rate * m / (v.sqrt() + 1e-12)).clamp(-0.35, 0.35);
        self.log_length += step;
        let w = (t as f64).powf(-c.averaging_decay);
        self.log_length_average = (1.0 - w) * self.log_length_average + w * self.log_length;
    }

    /// Ends the adaptation: `T` stays where the average is.
    pub(crate) fn finish(&mut self) {
        self.adapting = false;
    }
}

/// The ensemble's estimate of the ChEES criterion's gradient with respect to `log T`, `[1]` on
/// the device, after one transition of jittered time `u·T` from `x0` to the proposals `x1`
/// with end momenta `p1` (`[N, D]`), under the diagonal inverse mass `inv_mass` (`[1, D]` or
/// `[1, 1]`), given `jittered_length = u·T`. `alpha` (`[N]`) holds the acceptance
/// probabilities; chains in `excluded` (`[N]`, divergent or non-finite) do not count.
///
/// Per chain, `u·T·(‖x₁ − x̄₁‖² − ‖x₀ − x̄₀‖²)·⟨x₁ − x̄₁, M⁻¹p₁⟩` in the whitened metric (norms
/// divided by `M⁻¹`, the velocity `M⁻¹p₁` scaled by `M^{1/2}`, so the product is `⟨x₁ − x̄₁, p₁⟩`),
/// averaged with weights `alpha`; `x̄₁` is the `alpha`-weighted mean of the proposals.
pub(crate) fn chees_gradient<Bk: Backend>(
    x0: &Tensor<Bk, 2>,
    x1: &Tensor<Bk, 2>,
    p1: &Tensor<Bk, 2>,
    inv_mass: &Tensor<Bk, 2>,
    alpha: Tensor<Bk, 1>,
    excluded: Tensor<Bk, 1, Bool>,
    jittered_length: f64,
) -> Tensor<Bk, 1> {
    let [n, d] = x0.dims();
    let alpha = alpha.mask_fill(excluded.clone(), 0.0);
    let rows = excluded.unsqueeze_dim::<2>(1).expand([n, d]);
    let x1 = x1.clone().mask_where(rows.clone(), x0.clone());
    let p1 = p1.clone().mask_fill(rows, 0.0);
    let weights = alpha.clone().unsqueeze_dim::<2>(1);
    let total = alpha.clone().sum().add_scalar(1e-20);
    let x1_mean = (x1.clone() * weights.clone()).sum_dim(0) / total.clone().unsqueeze_dim(1);
    let x0_centred = x0.clone() - x0.clone().mean_dim(0);
    let x1_centred = x1 - x1_mean;
    let whitened_sq = |c: Tensor<Bk, 2>| (c.square() / inv_mass.clone()).sum_dim(1);
    let change = whitened_sq(x1_centred.clone()) - whitened_sq(x0_centred);
    let direction = (x1_centred * p1).sum_dim(1);
    let per_chain = (change * direction).mul_scalar(jittered_length);
    (per_chain * weights).sum().reshape([1]) / total
}

#[cfg(test)]
mod tests {
    use super::*;
    use ebm_testing::TestInner;

    fn row(values: &[f32]) -> Tensor<TestInner, 2> {
        Tensor::<TestInner, 1>::from_floats(values, &Default::default()).unsqueeze_dim(1)
    }

    #[test]
    fn gradient_by_hand_on_two_chains() {
        // 1-D, unit mass, three chains; the third diverged and must not count.
        let x0 = row(&[1.0, -1.0, 0.0]);
        let x1 = row(&[2.0, 0.0, f32::NAN]);
        let p1 = row(&[0.5, -1.0, f32::NAN]);
        let device = Default::default();
        let alpha = Tensor::<TestInner, 1>::from_floats([1.0, 0.5, 1.0], &device);
        let excluded =
            Tensor::<TestInner, 1>::from_floats([0.0, 0.0, 1.0], &device).greater_elem(0.5);
        let inv_mass = Tensor::<TestInner, 2>::ones([1, 1], &device);
        let g = chees_gradient(&x0, &x1, &p1, &inv_mass, alpha, excluded, 0.5 * 2.0);
        // x̄₀ over all three = 0; x̄₁ weighted (1, 0.5) = 4/3: centred 2/3 and −4/3.
        // Chain 1: (4/9 − 1)·(2/3·0.5) = −5/27; chain 2: (16/9 − 1)·(−4/3·−1) = 28/27.
        // u·T = 1; weighted mean (1·(−5/27) + 0.5·28/27)/1.5 = 2/9.
        let got = g.into_scalar();
        assert!((got - 2.0 / 9.0).abs() < 1e-5, "{got}");
        // A heavier mass shrinks the whitened norms: with M⁻¹ = 4 the norm change is a quarter.
        let (x1, p1) = (row(&[2.0, 0.0, 0.5]), row(&[0.5, -1.0, 1.0]));
        let gradient = |inv_mass: &Tensor<TestInner, 2>| {
            let alpha = Tensor::<TestInner, 1>::from_floats([1.0, 0.5, 1.0], &device);
            let none = alpha.clone().lower_elem(0.0);
            chees_gradient(&x0, &x1, &p1, inv_mass, alpha, none, 0.5 * 2.0).into_scalar()
        };
        let heavy = Tensor::<TestInner, 2>::full([1, 1], 4.0, &device);
        let (g1, g4) = (gradient(&inv_mass), gradient(&heavy));
        assert!(
            g1.abs() > 1e-3 && (g4 - g1 / 4.0).abs() < 1e-6,
            "{g4} vs {g1}/4"
        );
    }

    #[test]
    fn adam_climbs_and_the_average_follows() {
        let mut t = TrajectoryLength::new(TrajectoryAdaptationConfig::new(), 1.0);
        for _ in 0..200 {
            t.update(1.0);
        }
        // A constant gradient makes Adam's bias-corrected step the learning rate exactly, so
        // log T rose by 200·0.025 = 5; the average lags by about √t steps.
        assert!((t.log_length - 5.0).abs() < 1e-9);
        assert!(t.length() > (4.0f64).exp() && t.length() < (5.0f64).exp());
        let before = t.clone();
        t.update(f64::NAN);
        assert_eq!(t, before, "a non-finite estimate is skipped");
        assert_eq!(t.n_steps(1.0, t.length() / 9.5), 10);
        assert_eq!(t.n_steps(1e-9, 1.0), 1);
        assert_eq!(t.n_steps(1.0, 1e-9), 1000);
    }

    #[test]
    fn each_bad_constant_is_named() {
        let c = TrajectoryAdaptationConfig::new;
        assert!(c().validate().is_ok());
        for (config, name) in [
            (
                c().with_learning_rate(0.0),
                "trajectory_adaptation.learning_rate",
            ),
            (
                c().with_learning_rate(f64::NAN),
                "trajectory_adaptation.learning_rate",
            ),
            (c().with_beta1(-0.1), "trajectory_adaptation.beta1"),
            (c().with_beta2(1.0), "trajectory_adaptation.beta2"),
            (
                c().with_averaging_decay(0.0),
                "trajectory_adaptation.averaging_decay",
            ),
            (
                c().with_averaging_decay(1.5),
                "trajectory_adaptation.averaging_decay",
            ),
            (
                c().with_max_leapfrog(0),
                "trajectory_adaptation.max_leapfrog",
            ),
        ] {
            assert!(
                matches!(config.validate(), Err(SampleError::InvalidParameter(ref p)) if p.name == name),
                "{config:?} should be rejected as {name}"
            );
        }
    }
}
