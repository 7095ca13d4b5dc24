//! Hamiltonian Monte Carlo with a leapfrog integrator.

use burn::config::Config;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Bool, Tensor};
use ebm_core::schedule::Schedule;
use ebm_core::{DeviceConstant, Energy, Inner};

use crate::adaptation::{DualAveraging, DualAveragingConfig, acceptance_probabilities};
use crate::error::{SampleError, invalid};
use crate::integrator::{LeapfrogEnd, leapfrog};
use crate::mala::check_adaptation;
use crate::mass_adaptation::{MassAdaptationConfig, WindowMoments};
use crate::noise::Noise;
use crate::trajectory_adaptation::{TrajectoryAdaptationConfig, TrajectoryLength, chees_gradient};
use crate::transition::{CachedGradient, ChainState, Step, StepInfo, Transition};

/// The mass matrix of [`Hmc`].
#[derive(Config, Debug, PartialEq)]
pub enum Mass {
    /// `M = m·I`.
    Scalar(f64),
    /// `M = diag(m)`, one entry per coordinate.
    Diagonal(Vec<f64>),
}

impl Mass {
    /// The masses: one for a scalar mass, one per coordinate for a diagonal.
    fn values(&self) -> Vec<f64> {
        match self {
            Mass::Scalar(m) => vec![*m],
            Mass::Diagonal(m) => m.clone(),
        }
    }
}

/// Builds an [`Hmc`] sampler.
#[derive(Config, Debug)]
pub struct HmcConfig {
    /// Leapfrog step size h (constant or scheduled; the starting value when adapting).
    #[config(default = "Schedule::constant(0.1)")]
    pub step_size: Schedule,
    /// Leapfrog steps L per transition (≥ 1); with `trajectory_adaptation`, the starting
    /// trajectory length is `L·h`.
    #[config(default = 10)]
    pub n_leapfrog: usize,
    /// The mass matrix (the starting one when adapting).
    #[config(default = "Mass::Scalar(1.0)")]
    pub mass: Mass,
    /// Estimate a diagonal mass from the chain ensemble during warm-up, in Stan's windows
    /// (`mass_adaptation.rs`); the step size, when it adapts, starts again after each update.
    /// `None` keeps `mass`.
    #[config(default = "None")]
    pub mass_adaptation: Option<MassAdaptationConfig>,
    /// Adapt h by dual averaging during warm-up towards this acceptance rate (e.g. 0.65).
    #[config(default = "None")]
    pub target_acceptance: Option<f64>,
    /// The constants of the adaptation (used with `target_acceptance`).
    #[config(default = "DualAveragingConfig::new()")]
    pub dual_averaging: DualAveragingConfig,
    /// A transition whose energy error `H₁ − H₀` exceeds this (or is not finite) is divergent.
    #[config(default = 1000.0)]
    pub divergence_threshold: f64,
    /// Step-size jitter `j` in [0, 1): each transition scales h by one draw of U(1 − j, 1 + j),
    /// shared by all chains, so that no fixed trajectory length `L·h` can resonate with the
    /// target (Neal 2011, "MCMC using Hamiltonian dynamics", §5.4.2.2). 0 keeps h as scheduled
    /// or adapted.
    #[config(default = 0.0)]
    pub step_jitter: f64,
    /// Adapt the trajectory length `T` during warm-up by ChEES, and integrate each transition
    /// for a jittered `⌈u·T/h⌉` steps, `u ~ U(0, 1]` (`trajectory_adaptation.rs`); `n_leapfrog`
    /// then only sets the starting `T`. `None` keeps `n_leapfrog` steps.
    #[config(default = "None")]
    pub trajectory_adaptation: Option<TrajectoryAdaptationConfig>,
}

ebm_core::json_config!(HmcConfig, required = [], template = HmcConfig::new());
ebm_core::schedule_setters!(HmcConfig { step_size });

impl HmcConfig {
    /// Builds the sampler, checking the parameters.
    pub fn init(&self) -> Result<Hmc, SampleError> {
        let masses = self.mass.values();
        let row = |v: Vec<f64>| {
            let len = v.len();
            DeviceConstant::new(v, [1, len])
        };
        let hmc = Hmc {
            config: self.clone(),
            sqrt_mass: row(masses.iter().map(|v| v.sqrt()).collect()),
            inv_mass: row(masses.iter().map(|v| 1.0 / v).collect()),
        };
        hmc.check()?;
        Ok(hmc)
    }
}

/// HMC: per transition, momenta `p ~ N(0, M)`, `L` leapfrog steps
/// (`p ← p − h/2·∇E; x ← x + h·M⁻¹p; p ← p − h/2·∇E`, with the gradients of consecutive half
/// steps shared, so `L` gradient evaluations per transition), and a per-chain Metropolis test on
/// `H = E(x) + ½pᵀM⁻¹p`. A chain whose proposal is non-finite or whose `H` grows by more than
/// the divergence threshold is rejected and counted as divergent; the other chains are
/// unaffected, so one diverging chain cannot poison the batch. Momenta are redrawn every
/// transition (no flip needed).
#[derive(Debug, Clone)]
pub struct Hmc {
    config: HmcConfig,
    /// `√m` as a `[1, D]` row (`[1, 1]` for a scalar mass), uploaded once per device.
    sqrt_mass: DeviceConstant,
    /// `1/m`, likewise.
    inv_mass: DeviceConstant,
}

impl Hmc {
    fn check(&self) -> Result<(), SampleError> {
        self.config.step_size.check_positive("step_size")?;
        check_adaptation(self.config.target_acceptance, &self.config.dual_averaging)?;
        if self.config.n_leapfrog == 0 {
            return Err(invalid("n_leapfrog", 0usize, "must be >= 1"));
        }
        if self.config.divergence_threshold.is_nan() || self.config.divergence_threshold <= 0.0 {
            return Err(invalid(
                "divergence_threshold",
                self.config.divergence_threshold,
                "must be > 0",
            ));
        }
        if let Some(windows) = &self.config.mass_adaptation {
            windows.validate()?;
        }
        if let Some(trajectory) = &self.config.trajectory_adaptation {
            trajectory.validate()?;
        }
        if !(0.0..1.0).contains(&self.config.step_jitter) {
            return Err(invalid(
                "step_jitter",
                self.config.step_jitter,
                "must be in [0, 1)",
            ));
        }
        let masses = self.config.mass.values();
        if masses.is_empty() {
            return Err(invalid("mass", 0usize, "the diagonal must not be empty"));
        }
        if let Some(&m) = masses.iter().find(|m| !(m.is_finite() && **m > 0.0)) {
            return Err(invalid("mass", m, "every mass must be finite and > 0"));
        }
        Ok(())
    }
}

/// The leapfrog trajectory of one HMC transition on `energy` (also used by the leapfrog tests
/// with fixed momenta).
pub(crate) fn leapfrog_on<B: AutodiffBackend, E: Energy<B> + ?Sized>(
    energy: &E,
    x: Tensor<Inner<B>, 2>,
    p: Tensor<Inner<B>, 2>,
    grad: Tensor<Inner<B>, 2>,
    h: f64,
    n_steps: usize,
    inv_mass: &Tensor<Inner<B>, 2>,
) -> LeapfrogEnd<Inner<B>> {
    leapfrog(
        |x| energy.energy_and_grad(x),
        x,
        p,
        grad,
        h,
        n_steps,
        inv_mass,
    )
}

/// `½·Σ p²/m` per chain.
pub(crate) fn kinetic<Bk: Backend>(p: &Tensor<Bk, 2>, inv_mass: &Tensor<Bk, 2>) -> Tensor<Bk, 1> {
    let n = p.dims()[0];
    (p.clone().square() * inv_mass.clone())
        .sum_dim(1)
        .reshape([n])
        .mul_scalar(0.5)
}

/// The state of HMC chains: positions with their energy and gradient, and the mass they move
/// with, fixed or adapted during warm-up.
#[derive(Debug, Clone)]
pub struct HmcState<Bk: Backend> {
    /// Positions with their cached energy and gradient.
    pub chains: CachedGradient<Bk>,
    /// `M⁻¹` as a `[1, D]` row (`[1, 1]` for a scalar mass).
    inv_mass: Tensor<Bk, 2>,
    /// `√M`, likewise.
    sqrt_mass: Tensor<Bk, 2>,
    /// The draws of the current mass-adaptation window.
    window: Option<WindowMoments<Bk>>,
    /// The trajectory length, with `trajectory_adaptation`.
    trajectory: Option<TrajectoryLength>,
    /// The last transition's ChEES gradient estimate, `[1]`, while `trajectory` adapts.
    chees_gradient: Option<Tensor<Bk, 1>>,
}

impl<Bk: Backend> HmcState<Bk> {
    /// `M⁻¹` as a `[1, D]` row (`[1, 1]` for a scalar mass): the configured mass, or after
    /// warm-up the adapted one.
    pub fn inverse_mass(&self) -> &Tensor<Bk, 2> {
        &self.inv_mass
    }

    /// The trajectory length `T` with `trajectory_adaptation` (adapted after warm-up), else
    /// `None`.
    pub fn trajectory_length(&self) -> Option<f64> {
        self.trajectory.as_ref().map(TrajectoryLength::length)
    }
}

impl<Bk: Backend> ChainState<Bk> for HmcState<Bk> {
    fn positions(&self) -> &Tensor<Bk, 2> {
        &self.chains.x
    }

    fn into_positions(self) -> Tensor<Bk, 2> {
        self.chains.x
    }

    fn energies(&self) -> Option<&Tensor<Bk, 1>> {
        self.chains.energies()
    }

    fn restart(self, mask: Tensor<Bk, 2, Bool>, fresh: Tensor<Bk, 2>) -> Self {
        Self {
            chains: self.chains.restart(mask, fresh),
            ..self
        }
    }
}

impl<B: AutodiffBackend> Transition<B> for Hmc {
    type State = HmcState<Inner<B>>;

    fn validate(&self) -> Result<(), SampleError> {
        self.check()
    }

    fn init_state(&self, x: Tensor<Inner<B>, 2>) -> Result<Self::State, SampleError> {
        match &self.config.mass {
            Mass::Diagonal(m) if m.len() != x.dims()[1] => {
                Err(SampleError::Input(ebm_core::EnergyError::LengthMismatch {
                    what: "HMC diagonal mass vs state dimension",
                    left: m.len(),
                    right: x.dims()[1],
                }))
            }
            _ => Ok(HmcState {
                inv_mass: self.inv_mass.tensor(&x),
                sqrt_mass: self.sqrt_mass.tensor(&x),
                chains: CachedGradient::new(x),
                window: None,
                trajectory: self.config.trajectory_adaptation.clone().map(|config| {
                    let h = self.config.step_size.value_at(0);
                    TrajectoryLength::new(config, self.config.n_leapfrog as f64 * h)
                }),
                chees_gradient: None,
            }),
        }
    }

    fn step<E: Energy<B> + ?Sized>(
        &self,
        energy: &E,
        state: Self::State,
        step: Step,
        noise: &mut Noise,
    ) -> (Self::State, StepInfo<Inner<B>>) {
        let HmcState {
            chains,
            inv_mass,
            sqrt_mass,
            window,
            trajectory,
            ..
        } = state;
        let (e0, g0) = chains.energy_and_grad(energy);
        let x0 = chains.x;
        let [n, d] = x0.dims();
        let p0 = noise.normal([n, d], &x0) * sqrt_mass.clone();
        let h = match self.config.step_jitter {
            j if j > 0.0 => step.size * noise.uniform(1.0 - j, 1.0 + j),
            _ => step.size,
        };
        // u in (0, 1]: the jitter of the trajectory's time.
        let (n_steps, u) = match &trajectory {
            Some(t) => {
                let u = 1.0 - noise.uniform(0.0, 1.0);
                (t.n_steps(u, h), u)
            }
            None => (self.config.n_leapfrog, 1.0),
        };
        let h0 = e0.clone() + kinetic(&p0, &inv_mass);
        let LeapfrogEnd {
            x: x1,
            p: p1,
            energy: e1,
            grad: g1,
        } = leapfrog_on::<B, E>(energy, x0.clone(), p0, g0.clone(), h, n_steps, &inv_mass);
        let h1 = e1.clone() + kinetic(&p1, &inv_mass);
        let delta = h1 - h0; // H₁ − H₀; NaN or +∞ for a diverged chain
        let divergent = delta
            .clone()
            .is_finite()
            .bool_not()
            .bool_or(delta.clone().greater_elem(self.config.divergence_threshold));
        // log α = min(0, −ΔH); comparisons with NaN are false, so diverged chains are rejected.
        let log_alpha = delta.neg();
        let accept = noise
            .log_uniform(n, &x0)
            .lower(log_alpha.clone())
            .bool_and(divergent.clone().bool_not());
        let chees = trajectory.as_ref().filter(|t| t.adapting()).map(|t| {
            // A NaN log α comes from a non-finite H₁ − H₀, which `divergent` already holds.
            let alpha = acceptance_probabilities(&log_alpha);
            let excluded = divergent.clone();
            chees_gradient(&x0, &x1, &p1, &inv_mass, alpha, excluded, u * t.length())
        });
        let accept_rows = accept.clone().unsqueeze_dim::<2>(1).expand([n, d]);
        let next = HmcState {
            chains: CachedGradient {
                x: x0.mask_where(accept_rows.clone(), x1),
                cached: Some((
                    e0.mask_where(accept.clone(), e1),
                    g0.mask_where(accept_rows, g1),
                )),
            },
            inv_mass,
            sqrt_mass,
            window,
            trajectory,
            chees_gradient: chees,
        };
        (
            next,
            StepInfo {
                accepted: Some(accept.float()),
                log_acceptance: Some(log_alpha),
                divergent: Some(divergent.float()),
            },
        )
    }

    fn step_size(&self) -> &Schedule {
        &self.config.step_size
    }

    fn adaptation(&self) -> Option<DualAveraging> {
        let config = &self.config;
        (config.dual_averaging).start(config.target_acceptance, &config.step_size)
    }

    fn adapt_state(&self, state: Self::State, k: usize, n_warmup: usize) -> (Self::State, bool) {
        let state = adapt_trajectory(state, k, n_warmup);
        let Some(windows) = &self.config.mass_adaptation else {
            return (state, false);
        };
        let windows = windows.windows(n_warmup);
        if !windows.collects(k) {
            return (state, false);
        }
        let x = &state.chains.x;
        let window = match state.window {
            Some(moments) => moments.add(x),
            None => WindowMoments::new(x),
        };
        if !windows.updates_after(k) {
            let state = HmcState {
                window: Some(window),
                ..state
            };
            return (state, false);
        }
        let inv_mass = window.inverse_mass(&state.inv_mass);
        let state = HmcState {
            sqrt_mass: inv_mass.clone().sqrt().recip(),
            inv_mass,
            window: None,
            ..state
        };
        (state, true)
    }
}

/// Feeds warm-up step `k`'s ChEES gradient (one host read) to the trajectory length, and ends
/// its adaptation after the last warm-up step.
fn adapt_trajectory<Bk: Backend>(
    mut state: HmcState<Bk>,
    k: usize,
    n_warmup: usize,
) -> HmcState<Bk> {
    if let Some(trajectory) = &mut state.trajectory {
        if let Some(gradient) = state.chees_gradient.take() {
            trajectory.update(burn::tensor::ElementConversion::elem(
                gradient.into_scalar(),
            ));
        }
        if k + 1 == n_warmup {
            trajectory.finish();
        }
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;
    use ebm_core::analytic::{Gaussian, Harmonic};
    use ebm_testing::{TestBackend, TestInner};
    use serde::Deserialize;

    type B = TestBackend;

    #[derive(Deserialize)]
    struct Steps {
        hmc_leapfrog: Leapfrog,
    }

    #[derive(Deserialize)]
    struct Leapfrog {
        step_size: f64,
        n_leapfrog_steps: usize,
        x0: Vec<Vec<f64>>,
        p0: Vec<Vec<f64>>,
        x_final: Vec<Vec<f64>>,
        p_final: Vec<Vec<f64>>,
        hamiltonian_initial: Vec<f64>,
        hamiltonian_final: Vec<f64>,
    }

    fn batch(rows: &[Vec<f64>]) -> Tensor<TestInner, 2> {
        use burn::tensor::TensorData;
        let flat: Vec<f64> = rows.iter().flatten().copied().collect();
        Tensor::from_data(
            TensorData::new(flat, [rows.len(), rows[0].len()]),
            &Default::default(),
        )
    }

    fn close(what: &str, ours: Tensor<TestInner, 2>, reference: &[Vec<f64>], tol: f64) {
        let ours = ours.into_data().to_vec::<f32>().unwrap();
        for (o, r) in ours.iter().zip(reference.iter().flatten()) {
            assert!(
                (*o as f64 - r).abs() <= tol * (1.0 + r.abs()),
                "{what}: {o} vs {r}"
            );
        }
    }

    #[test]
    fn leapfrog_matches_the_reference_trajectory() {
        let file: Steps =
            serde_json::from_str(include_str!("../tests/data/sampler_steps.json")).unwrap();
        let r = file.hmc_leapfrog;
        // The 3-D Gaussian of the analytic reference cases.
        let g = Gaussian::new(
            vec![1.0, -2.0, 0.5],
            vec![
                vec![2.0, 0.6, -0.4],
                vec![0.6, 1.5, 0.3],
                vec![-0.4, 0.3, 0.8],
            ],
        )
        .unwrap();
        let (x0, p0) = (batch(&r.x0), batch(&r.p0));
        let inv_mass = Tensor::<TestInner, 2>::ones([1, 1], &Default::default());
        let g0 = Energy::<B>::grad_energy(&g, x0.clone());
        let LeapfrogEnd {
            x: x1,
            p: p1,
            energy: e1,
            ..
        } = leapfrog_on::<B, _>(
            &g,
            x0.clone(),
            p0.clone(),
            g0,
            r.step_size,
            r.n_leapfrog_steps,
            &inv_mass,
        );
        close("x_final", x1, &r.x_final, 1e-5);
        close("p_final", p1.clone(), &r.p_final, 1e-5);
        let h0 = Energy::<B>::energy_value(&g, x0) + kinetic(&p0, &inv_mass);
        let h1 = e1 + kinetic(&p1, &inv_mass);
        close(
            "H0",
            h0.unsqueeze_dim(1),
            &r.hamiltonian_initial
                .iter()
                .map(|v| vec![*v])
                .collect::<Vec<_>>(),
            1e-5,
        );
        close(
            "H1",
            h1.unsqueeze_dim(1),
            &r.hamiltonian_final
                .iter()
                .map(|v| vec![*v])
                .collect::<Vec<_>>(),
            1e-5,
        );
    }

    /// On N(0, 1) a trajectory of length `L·h = π` maps every x to about −x whatever the
    /// momentum, so chains started together stay together; jittered steps break the
    /// resonance and the ensemble spreads to the target's unit variance.
    #[test]
    fn step_jitter_breaks_a_resonant_trajectory_length() {
        if ebm_testing::BACKEND_NAME != "ndarray" {
            return; // 4000 leapfrog steps of host statistics: minutes on lavapipe
        }
        use crate::{RunConfig, Sampler};
        let energy = Harmonic::new(1.0).unwrap();
        let variance = |jitter: f64| {
            let hmc = HmcConfig::new()
                .step_size(std::f64::consts::PI / 10.0)
                .with_n_leapfrog(10)
                .with_step_jitter(jitter)
                .init()
                .unwrap();
            let start = Tensor::<TestInner, 2>::ones([500, 1], &Default::default());
            let out = Sampler::<B>::sample(&hmc, &energy, start, &RunConfig::new(200).with_seed(3))
                .unwrap();
            let v: Vec<f64> = out
                .final_state
                .into_data()
                .convert::<f64>()
                .to_vec()
                .unwrap();
            let m = v.iter().sum::<f64>() / v.len() as f64;
            v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64
        };
        let (fixed, jittered) = (variance(0.0), variance(0.5));
        assert!(fixed < 0.2, "fixed steps: variance {fixed}");
        assert!(
            (jittered - 1.0).abs() < 0.2,
            "jittered steps: variance {jittered}"
        );
        assert!(HmcConfig::new().with_step_jitter(1.0).init().is_err());
        assert!(HmcConfig::new().with_step_jitter(-0.1).init().is_err());
    }

    #[test]
    fn leapfrog_conserves_energy_and_is_reversible() {
        // Harmonic oscillator, h = 0.1, 100 steps (1.6 periods): |ΔH|/H < 1%; then
        // flipping the momentum and integrating back returns to the start.
        let energy = Harmonic::new(1.0).unwrap();
        let device = Default::default();
        let x0 = Tensor::<TestInner, 2>::from_data([[1.0, 0.0], [0.3, -0.7]], &device);
        let p0 = Tensor::<TestInner, 2>::from_data([[0.0, 1.0], [0.5, 0.2]], &device);
        let inv_mass = Tensor::<TestInner, 2>::ones([1, 1], &device);
        let h = |x: &Tensor<TestInner, 2>, p: &Tensor<TestInner, 2>| {
            (Energy::<B>::energy_value(&energy, x.clone()) + kinetic(p, &inv_mass))
                .into_data()
                .to_vec::<f32>()
                .unwrap()
        };
        let g0 = Energy::<B>::grad_energy(&energy, x0.clone());
        let LeapfrogEnd {
            x: x1,
            p: p1,
            grad: g1,
            ..
        } = leapfrog_on::<B, _>(&energy, x0.clone(), p0.clone(), g0, 0.1, 100, &inv_mass);
        for (a, b) in h(&x0, &p0).iter().zip(h(&x1, &p1)) {
            assert!(((b - a) / a).abs() < 0.01, "H drifted from {a} to {b}");
        }
        let LeapfrogEnd { x: xb, p: pb, .. } =
            leapfrog_on::<B, _>(&energy, x1, p1.neg(), g1, 0.1, 100, &inv_mass);
        let back = (xb - x0).abs().max().into_scalar() + (pb.neg() - p0).abs().max().into_scalar();
        assert!(back < 1e-3, "not reversible: {back}");
    }

    /// ChEES on N(0, σ²I) with a unit mass: with the jitter u ~ U(0, 1], the criterion's
    /// average `½ − σ·sin(2T/σ)/(4T)` peaks at T ≈ 2.25σ (`trajectory_adaptation.rs`). From
    /// T = 1 the adaptation must land there for σ = 1 and σ = 3, and the jittered chains after
    /// it must sample the variance.
    #[test]
    fn chees_finds_the_trajectory_length_of_a_gaussian() {
        if ebm_testing::BACKEND_NAME != "ndarray" {
            return; // thousands of leapfrog steps of host statistics: minutes on lavapipe
        }
        use crate::noise::Noise;
        let (chains, dim) = (256, 5);
        for sigma in [1.0, 3.0] {
            let energy = Gaussian::new(
                vec![0.0; dim],
                (0..dim)
                    .map(|i| {
                        (0..dim)
                            .map(|j| if i == j { sigma * sigma } else { 0.0 })
                            .collect()
                    })
                    .collect(),
            )
            .unwrap();
            // h = 0.2σ keeps the acceptance near 1, so the criterion is that of the dynamics.
            let h = 0.2 * sigma;
            let hmc = HmcConfig::new()
                .step_size(h)
                .with_n_leapfrog((1.0 / h).ceil() as usize)
                .with_trajectory_adaptation(Some(TrajectoryAdaptationConfig::new()))
                .init()
                .unwrap();
            let mut noise = Noise::new(5);
            let x = noise
                .normal(
                    [chains, dim],
                    &Tensor::<TestInner, 2>::zeros([1, 1], &Default::default()),
                )
                .mul_scalar(sigma);
            let mut state = Transition::<B>::init_state(&hmc, x).unwrap();
            let n_warmup = 300;
            let mut second_moments = Vec::new();
            for k in 0..n_warmup + 200 {
                let step = Step { index: k, size: h };
                state = Transition::<B>::step(&hmc, &energy, state, step, &mut noise).0;
                if k < n_warmup {
                    state = Transition::<B>::adapt_state(&hmc, state, k, n_warmup).0;
                } else {
                    second_moments
                        .push(state.chains.x.clone().square().mean().into_scalar() as f64);
                }
            }
            let t = state.trajectory_length().unwrap() / sigma;
            assert!(
                (1.9..2.7).contains(&t),
                "σ = {sigma}: T/σ = {t}, expected about 2.25"
            );
            let variance = second_moments.iter().sum::<f64>() / second_moments.len() as f64;
            assert!(
                (variance / (sigma * sigma) - 1.0).abs() < 0.05,
                "σ = {sigma}: variance {variance}"
            );
        }
    }
}
