//! A geometric ladder of noise levels and annealed Langevin dynamics over it (Song & Ermon 2019,
//! "Generative modeling by estimating gradients of the data distribution").
//!
//! One noise level does not make a generator: an energy trained by denoising at one σ is only
//! accurate within about σ of the data, and chains started elsewhere never find it. A ladder
//! `σ₁ > σ₂ > … > σ_L` trains the energy at every scale; sampling then follows the ladder down,
//! a few Langevin steps per level.
//!
//! The energy of level σ is `E(x)/σ`: one network serves every level (the score
//! `−∇E(x)/σ` of NCSNv2, Song & Ermon 2020). `ebm_train`'s multiscale denoising objective trains
//! `∇E(x + σε) ≈ ε`, which is that parameterisation with the usual `σ²` weighting.
//!
//! A noise-conditional energy `E(x, c)` also reads the level, as the code `c` of
//! [`NoiseLadder::code`] in a plane beside the sample (NCSN's first version conditions its
//! network on σ). Its level σ has the energy `E(x, c(σ))/σ`, sampled level by level with
//! [`NoiseLadder::sample_conditioned`].

use burn::config::Config;
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};
use ebm_core::combinators::AtNoiseLevel;
use ebm_core::random_stream::stream_seed;
use ebm_core::schedule::Schedule;
use ebm_core::{Energy, Inner};

use crate::error::invalid;
use crate::{Langevin, LangevinConfig, RunConfig, SampleError, Sampler};

/// Builds a [`NoiseLadder`]: `levels` values from `sigma_max` down to `sigma_min`, in geometric
/// progression.
#[derive(Config, Debug, PartialEq)]
pub struct NoiseLadderConfig {
    /// The largest level (> 0): about the distance between data points that chains must cross.
    #[config(default = 1.0)]
    pub sigma_max: f64,
    /// The smallest level (> 0, < `sigma_max`): below what the eye sees.
    #[config(default = 0.01)]
    pub sigma_min: f64,
    /// Number of levels (≥ 2).
    #[config(default = 10)]
    pub levels: usize,
}

ebm_core::json_config!(
    NoiseLadderConfig,
    required = [],
    template = NoiseLadderConfig::new()
);

impl NoiseLadderConfig {
    /// Builds the ladder, checking the parameters.
    ///
    /// ```
    /// use ebm_sample::NoiseLadderConfig;
    /// let ladder = NoiseLadderConfig::new().with_sigma_max(1.0).with_sigma_min(0.01).with_levels(3).init().unwrap();
    /// let s = ladder.sigmas();
    /// assert!((s[0] - 1.0).abs() < 1e-12 && (s[1] - 0.1).abs() < 1e-12 && (s[2] - 0.01).abs() < 1e-12);
    /// ```
    pub fn init(&self) -> Result<NoiseLadder, SampleError> {
        let positive = |name, v: f64| -> Result<(), SampleError> {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(invalid(name, v, "must be finite and > 0"))
            }
        };
        positive("sigma_max", self.sigma_max)?;
        positive("sigma_min", self.sigma_min)?;
        if self.sigma_min >= self.sigma_max {
            return Err(invalid("sigma_min", self.sigma_min, "must be < sigma_max"));
        }
        if self.levels < 2 {
            return Err(invalid("levels", self.levels, "must be >= 2"));
        }
        let ratio = (self.sigma_min / self.sigma_max).powf(1.0 / (self.levels - 1) as f64);
        let sigmas = (0..self.levels)
            .map(|i| match i {
                0 => self.sigma_max,
                i if i == self.levels - 1 => self.sigma_min,
                i => self.sigma_max * ratio.powi(i as i32),
            })
            .collect();
        Ok(NoiseLadder { sigmas, ratio })
    }
}

/// Noise levels `σ₁ > … > σ_L` in geometric progression; see the module docs.
#[derive(Debug, Clone, PartialEq)]
pub struct NoiseLadder {
    sigmas: Vec<f64>,
    ratio: f64,
}

impl NoiseLadder {
    /// The levels, largest first.
    pub fn sigmas(&self) -> &[f64] {
        &self.sigmas
    }

    /// The smallest level.
    pub fn sigma_min(&self) -> f64 {
        self.sigmas[self.sigmas.len() - 1]
    }

    /// Annealed Langevin dynamics down the ladder, as one [`Langevin`] sampler whose step and
    /// noise are schedules, to be run for [`NoiseLadder::annealed_steps`] steps on the energy
    /// `E` of the multiscale parameterisation.
    ///
    /// At level σᵢ the update is Song & Ermon's `x ← x + (αᵢ/2)·s(x, σᵢ) + √αᵢ·z` with
    /// `s = −∇E/σᵢ` and `αᵢ = step_scale·σᵢ²/σ_L²`, written for `E` itself: step `αᵢ/(2σᵢ)` and
    /// noise scale `√σᵢ` (the sampler's stationary law at level i is `∝ exp(−E/σᵢ)`).
    /// `steps_per_level ≥ 1`; `step_scale > 0` (Song & Ermon use 2·10⁻⁵ for σ_L = 0.01).
    pub fn annealed_langevin(
        &self,
        steps_per_level: usize,
        step_scale: f64,
        clamp: Option<(f64, f64)>,
    ) -> Result<Langevin, SampleError> {
        check_annealing(steps_per_level, step_scale)?;
        let sigma_max = self.sigmas[0];
        let sigma_min = self.sigma_min();
        let milestones: Vec<usize> = (1..self.sigmas.len())
            .map(|i| i * steps_per_level)
            .collect();
        // αᵢ/(2σᵢ) ∝ σᵢ and √σᵢ: both geometric in i, with ratios r and √r.
        let step = Schedule::MultiStep {
            start: step_scale * sigma_max / (2.0 * sigma_min * sigma_min),
            milestones: milestones.clone(),
            gamma: self.ratio,
        };
        let noise = Schedule::MultiStep {
            start: sigma_max.sqrt(),
            milestones,
            gamma: self.ratio.sqrt(),
        };
        LangevinConfig::new()
            .with_step_size(step)
            .with_noise_scale(noise)
            .with_clamp(clamp)
            .init()
    }

    /// The code `c ∈ [−1, 1]` by which a noise-conditional energy knows the level σ: `ln σ`
    /// mapped linearly, `+1` at the largest level and `−1` at the smallest.
    pub fn code(&self, sigma: f64) -> f64 {
        let (top, bottom) = (self.sigmas[0].ln(), self.sigma_min().ln());
        2.0 * (sigma.ln() - bottom) / (top - bottom) - 1.0
    }

    /// Annealed Langevin down the ladder on a noise-conditional energy `E(x, c)` (whose input
    /// is the sample and a plane of the level's code, [`AtNoiseLevel`]): at level σᵢ,
    /// `steps_per_level` steps of the update of [`NoiseLadder::annealed_langevin`] on
    /// `E(x, c(σᵢ))/σᵢ`, each level a run of its own seeded by the stream
    /// `noise_ladder/level` of `seed`. Returns the chains' final positions.
    pub fn sample_conditioned<B: AutodiffBackend, M: Energy<B>>(
        &self,
        model: &M,
        init: Tensor<Inner<B>, 2>,
        steps_per_level: usize,
        step_scale: f64,
        clamp: Option<(f64, f64)>,
        seed: u64,
    ) -> Result<Tensor<Inner<B>, 2>, SampleError> {
        check_annealing(steps_per_level, step_scale)?;
        let sigma_min = self.sigma_min();
        let mut x = init;
        for (i, &sigma) in self.sigmas.iter().enumerate() {
            let energy = AtNoiseLevel::new(model, self.code(sigma))?;
            // αᵢ/(2σᵢ) with αᵢ = step_scale·σᵢ²/σ_L², and noise √σᵢ, as `annealed_langevin`'s
            // schedules give at level i.
            let langevin = LangevinConfig::new()
                .step_size(step_scale * sigma / (2.0 * sigma_min * sigma_min))
                .noise_scale(sigma.sqrt())
                .with_clamp(clamp)
                .init()?;
            let run = RunConfig::new(steps_per_level).with_seed(stream_seed(
                seed,
                "noise_ladder/level",
                i as u64,
            ));
            x = Sampler::<B>::sample(&langevin, &energy, x, &run)?.final_state;
        }
        Ok(x)
    }

    /// The number of steps of [`NoiseLadder::annealed_langevin`]: every level once.
    pub fn annealed_steps(&self, steps_per_level: usize) -> usize {
        self.sigmas.len() * steps_per_level
    }

    /// Tweedie's denoising step at the smallest level, `x + σ_L²·s(x, σ_L) = x − σ_L·∇E(x)`,
    /// given `∇E(x)`: how score-based models show their samples.
    pub fn denoise<Bk: Backend>(
        &self,
        x: Tensor<Bk, 2>,
        grad_energy: Tensor<Bk, 2>,
    ) -> Tensor<Bk, 2> {
        x - grad_energy.mul_scalar(self.sigma_min())
    }
}

fn check_annealing(steps_per_level: usize, step_scale: f64) -> Result<(), SampleError> {
    if steps_per_level == 0 {
        return Err(invalid("steps_per_level", 0usize, "must be >= 1"));
    }
    if !(step_scale.is_finite() && step_scale > 0.0) {
        return Err(invalid("step_scale", step_scale, "must be finite and > 0"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{RunConfig, Sampler};
    use ebm_core::analytic::Gaussian;
    use ebm_testing::TestBackend as B;

    #[test]
    fn the_ladder_is_geometric_and_checked() {
        let ladder = NoiseLadderConfig::new()
            .with_sigma_max(2.0)
            .with_sigma_min(0.02)
            .with_levels(5)
            .init()
            .unwrap();
        let s = ladder.sigmas();
        assert_eq!(s.len(), 5);
        for w in s.windows(2) {
            assert!((w[1] / w[0] - 0.01f64.powf(0.25)).abs() < 1e-12, "{s:?}");
        }
        for (config, name) in [
            (NoiseLadderConfig::new().with_levels(1), "levels"),
            (NoiseLadderConfig::new().with_sigma_min(2.0), "sigma_min"),
            (
                NoiseLadderConfig::new().with_sigma_max(f64::NAN),
                "sigma_max",
            ),
            (NoiseLadderConfig::new().with_sigma_min(0.0), "sigma_min"),
        ] {
            match config.init() {
                Err(SampleError::InvalidParameter(ebm_core::InvalidParameter {
                    name: n, ..
                })) => assert_eq!(n, name),
                other => panic!("{config:?}: {other:?}"),
            }
        }
        for (result, name) in [
            (ladder.annealed_langevin(0, 1e-3, None), "steps_per_level"),
            (ladder.annealed_langevin(5, 0.0, None), "step_scale"),
        ] {
            match result {
                Err(SampleError::InvalidParameter(ebm_core::InvalidParameter {
                    name: n, ..
                })) => assert_eq!(n, name),
                other => panic!("{name}: {other:?}"),
            }
        }
    }

    /// On `E(x) = σ_L·½‖x‖²/s²`, whose law at the last level, `exp(−E/σ_L)`, is N(0, s²I),
    /// annealed Langevin ends with ULA's stationary variance there, `s²/(1 − ηκ/2)` for the step
    /// η and the curvature κ of `E`. A wrong step or noise schedule moves it by a factor.
    #[test]
    fn annealed_langevin_ends_on_the_law_of_the_last_level() {
        let ladder = NoiseLadderConfig::new()
            .with_sigma_max(1.0)
            .with_sigma_min(0.1)
            .with_levels(3)
            .init()
            .unwrap();
        let s2 = 0.25f64;
        let c = s2 / ladder.sigma_min();
        let target = Gaussian::new(vec![0.0, 0.0], vec![vec![c, 0.0], vec![0.0, c]]).unwrap();
        // Last level: step η = 0.04/(2σ_L) = 0.2 on κ = 1/c = 0.4, so ηκ = 0.08 and 100 steps
        // relax it by e⁻⁸.
        let (step_scale, steps) = (0.04, 100);
        let langevin = ladder.annealed_langevin(steps, step_scale, None).unwrap();
        let run = RunConfig::new(ladder.annealed_steps(steps)).with_seed(3);
        let out =
            Sampler::<B>::sample_from_noise(&langevin, &target, 2000, 2, &Default::default(), &run)
                .unwrap();
        let eta_kappa = step_scale / (2.0 * ladder.sigma_min()) / c;
        let want = s2 / (1.0 - eta_kappa / 2.0);
        let x = out.final_state.into_data().to_vec::<f32>().unwrap();
        let var = x.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / x.len() as f64;
        // Monte Carlo standard error: 0.006.
        assert!((var - want).abs() < 0.02, "variance {var} vs {want}");
    }

    #[test]
    fn the_code_maps_the_levels_onto_minus_one_to_one() {
        let ladder = NoiseLadderConfig::new()
            .with_sigma_max(1.0)
            .with_sigma_min(0.01)
            .with_levels(5)
            .init()
            .unwrap();
        let codes: Vec<f64> = ladder.sigmas().iter().map(|&s| ladder.code(s)).collect();
        let want = [1.0, 0.5, 0.0, -0.5, -1.0];
        for (c, w) in codes.iter().zip(want) {
            assert!((c - w).abs() < 1e-12, "{codes:?}");
        }
    }

    /// Data N(0, s²I) noised at σ has the law N(0, (s² + σ²)I), whose energy in the
    /// parameterisation `E(x, c(σ))/σ` is `E(x, c) = σ(c)·‖x‖²/(2(s² + σ(c)²))`, σ(c) read from
    /// the plane. Sampled level by level, the chains end on the last level's law with ULA's
    /// stationary variance `v/(1 − ηκ/2)`, `v = s² + σ_L²`. A level given the wrong code (the
    /// codes reversed: σ = 1 at the end) would end at variance 0.125 instead of 0.27.
    #[test]
    fn the_conditioned_sampler_ends_on_the_law_of_the_last_level() {
        let ladder = NoiseLadderConfig::new()
            .with_sigma_max(1.0)
            .with_sigma_min(0.1)
            .with_levels(3)
            .init()
            .unwrap();
        let s2 = 0.25f64;
        let (top, bottom) = (1f64.ln(), 0.1f64.ln());
        let energy = ebm_core::combinators::FromLogDensity::new(Some(4), move |z: Tensor<B, 2>| {
            let n = z.dims()[0];
            let x = z.clone().slice([0..n, 0..2]);
            let c = z.slice([0..n, 2..3]);
            let sigma = ((c + 1.0).mul_scalar((top - bottom) / 2.0) + bottom).exp();
            let v = sigma.clone().square() + s2;
            let e = sigma * x.square().sum_dim(1) / v.mul_scalar(2.0);
            e.neg().reshape([n])
        });
        let (step_scale, steps) = (0.04, 100);
        let device = Default::default();
        let init = ebm_testing::normal::<ebm_testing::TestInner, 2>([2000, 2], 1.0, 5, &device);
        let x = ladder
            .sample_conditioned::<B, _>(&energy, init, steps, step_scale, None, 3)
            .unwrap();
        let v = s2 + 0.01;
        let eta_kappa = step_scale / (2.0 * ladder.sigma_min()) * (ladder.sigma_min() / v);
        let want = v / (1.0 - eta_kappa / 2.0);
        let x = x.into_data().to_vec::<f32>().unwrap();
        let var = x.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / x.len() as f64;
        // Monte Carlo standard error: 0.006.
        assert!((var - want).abs() < 0.02, "variance {var} vs {want}");
        assert!(matches!(
            ladder.sample_conditioned::<B, _>(&energy, Tensor::zeros([1, 2], &device), 0, 1.0, None, 3),
            Err(SampleError::InvalidParameter(p)) if p.name == "steps_per_level"
        ));
    }
}
