//! Score matching: exact (Hyvärinen), Hutchinson, sliced, denoising, and denoising over a ladder
//! of noise levels.
//!
//! All of them need `∂θ` of expressions in the input gradient `∇ₓE` (and in Hessian-vector
//! products for the first three), so they require [`SecondOrderEnergy`]: those energies expose
//! `∇ₓE` and `H·v` as tensors built from primitive ops, and one first-order backward pass gives
//! the parameter gradients. An energy without it (such as the CNN) is rejected at compile time.

use burn::config::Config;
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};
use ebm_core::combinators::{AtNoiseLevel, with_level_plane};
use ebm_core::schedule::Schedule;
use ebm_core::{Energy, Inner, SecondOrderEnergy};
use ebm_sample::noise::Noise;
use ebm_sample::{NoiseLadder, NoiseLadderConfig};

use crate::TrainError;
use crate::error::invalid;
use crate::objective::{LossOutput, Objective, TrainStep};

/// Distribution of the probe vectors `v` of Hutchinson's trace estimator and of sliced score
/// matching. All have `E[vvᵀ] = I`.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum Probe {
    /// Entries ±1 with equal probability (lowest variance for the trace).
    Rademacher,
    /// Entries N(0, 1).
    Gaussian,
    /// Uniform on the sphere of radius √d.
    Sphere,
}

impl Probe {
    fn draw<Bk: Backend>(
        self,
        noise: &mut Noise,
        shape: [usize; 2],
        like: &Tensor<Bk, 2>,
    ) -> Tensor<Bk, 2> {
        let z = noise.normal(shape, like);
        match self {
            Probe::Gaussian => z,
            // sign(0) = 0 has probability zero for continuous draws.
            Probe::Rademacher => z.sign(),
            Probe::Sphere => {
                // A zero draw (probability 2⁻³² in one dimension) gives a zero probe, not NaN.
                let norm = z.clone().square().sum_dim(1).sqrt().clamp_min(1e-30);
                (z / norm).mul_scalar((shape[1] as f64).sqrt())
            }
        }
    }
}

/// How [`ScoreMatching`] computes `tr ∇ₓ²E`.
#[derive(Config, Debug, Copy, PartialEq)]
pub enum TraceMethod {
    /// `D` Hessian-vector products with the basis vectors: exact, for low dimensions.
    Exact,
    /// Hutchinson's estimator `mean_p vₚᵀHvₚ` with `probes` random vectors (unbiased). TorchEBM
    /// accepts "hutchinson" but silently computes the exact trace; this really estimates.
    Hutchinson {
        /// Number of probe vectors per sample (≥ 1).
        probes: usize,
        /// Their distribution.
        distribution: Probe,
    },
}

/// Builds a [`ScoreMatching`] objective.
#[derive(Config, Debug)]
pub struct ScoreMatchingConfig {
    /// How the Hessian trace is computed.
    #[config(default = "TraceMethod::Exact")]
    pub trace: TraceMethod,
}

ebm_core::json_config!(
    ScoreMatchingConfig,
    required = [],
    template = ScoreMatchingConfig::new()
);

impl ScoreMatchingConfig {
    /// Builds the objective.
    pub fn init(&self) -> Result<ScoreMatching, TrainError> {
        if let TraceMethod::Hutchinson { probes: 0, .. } = self.trace {
            return Err(invalid("probes", 0usize, "must be >= 1"));
        }
        Ok(ScoreMatching {
            config: self.clone(),
        })
    }
}

/// Hyvärinen score matching: `mean_i [½‖∇E(xᵢ)‖² − tr ∇²E(xᵢ)]` (equal to
/// `½‖s‖² + tr ∇s` with the score `s = −∇E`). Its minimum over a family containing the data
/// density is at the data density; the value can be negative.
#[derive(Debug, Clone)]
pub struct ScoreMatching {
    config: ScoreMatchingConfig,
}

fn half_sq_norm<B: AutodiffBackend>(g: Tensor<B, 2>) -> Tensor<B, 1> {
    let n = g.dims()[0];
    g.square().sum_dim(1).reshape([n]).mul_scalar(0.5)
}

fn row_dot<B: AutodiffBackend>(a: Tensor<B, 2>, b: Tensor<B, 2>) -> Tensor<B, 1> {
    let n = a.dims()[0];
    (a * b).sum_dim(1).reshape([n])
}

/// Exact Hyvärinen loss `mean_i [½‖∇E(xᵢ)‖² − tr ∇²E(xᵢ)]` on a fixed batch.
pub fn exact_score_matching_loss<B: AutodiffBackend, M: SecondOrderEnergy<B>>(
    model: &M,
    x: Tensor<B, 2>,
) -> Tensor<B, 1> {
    let (g, lap) = model.grad_and_laplacian_tracked(x);
    (half_sq_norm(g) - lap).mean()
}

/// Hutchinson loss `mean_i [½‖∇E(xᵢ)‖²] − mean_rows [vᵀ∇²E(x)v]` for samples `x` (`[N, D]`) and
/// probes `v` (`[P·N, D]`, row `p·N + i` a probe of sample `i`). With `P = 1` (one probe per row,
/// `x` possibly repeated by the caller) this is `mean_rows [½‖∇E(x)‖² − vᵀ∇²E(x)v]`.
pub fn hutchinson_score_matching_loss<B: AutodiffBackend, M: SecondOrderEnergy<B>>(
    model: &M,
    x: Tensor<B, 2>,
    v: Tensor<B, 2>,
) -> Tensor<B, 1> {
    let (g, hv) = model.grad_and_hvps_tracked(x, v.clone());
    half_sq_norm(g).mean() - row_dot(v, hv).mean()
}

/// Sliced loss `mean_rows [½(vᵀ∇E(x))² − vᵀ∇²E(x)v]` for samples `x` (`[N, D]`) and projections
/// `v` (`[P·N, D]`, row `p·N + i` a projection of sample `i`; `P = 1` pairs rows one to one).
pub fn sliced_score_matching_loss<B: AutodiffBackend, M: SecondOrderEnergy<B>>(
    model: &M,
    x: Tensor<B, 2>,
    v: Tensor<B, 2>,
) -> Tensor<B, 1> {
    let [n, d] = x.dims();
    let p = v.dims()[0] / n.max(1);
    let (g, hv) = model.grad_and_hvps_tracked(x, v.clone());
    // vₚᵀ∇E(xᵢ) with each sample's gradient broadcast over its projections. Not `repeat_dim`:
    // Burn 0.21's backward of `repeat_dim(0, k)` on several rows sums blocks of consecutive rows
    // instead of the tiled copies (seen as a failed recovery test), so the gradient was wrong.
    let vg = (v.clone().reshape([p, n, d]) * g.unsqueeze_dim::<3>(0))
        .sum_dim(2)
        .reshape([p * n]);
    (vg.square().mul_scalar(0.5) - row_dot(v, hv)).mean()
}

/// Denoising loss `½·mean_i ‖∇E(xᵢ + σεᵢ) − εᵢ/σ‖²` for given noise `ε`.
pub fn denoising_score_matching_loss<B: AutodiffBackend, M: SecondOrderEnergy<B>>(
    model: &M,
    x: Tensor<B, 2>,
    eps: Tensor<B, 2>,
    sigma: f64,
) -> Tensor<B, 1> {
    let g = model.grad_energy_tracked(x + eps.clone().mul_scalar(sigma));
    half_sq_norm(g - eps.div_scalar(sigma)).mean()
}

impl<B: AutodiffBackend, M: SecondOrderEnergy<B>> Objective<B, M> for ScoreMatching {
    type Record = ();

    crate::energy_model_hooks!();

    fn loss(
        &mut self,
        model: &M,
        batch: Tensor<B, 2>,
        step: TrainStep,
    ) -> Result<LossOutput<B>, TrainError> {
        let [n, d] = batch.dims();
        model.check_input([n, d])?;
        let x = batch.detach();
        let loss = match self.config.trace {
            TraceMethod::Exact => exact_score_matching_loss(model, x),
            TraceMethod::Hutchinson {
                probes,
                distribution,
            } => {
                let seed = step.stream("score_matching/probes");
                let mut noise = Noise::new(seed);
                let v = distribution.draw(&mut noise, [n * probes, d], &x);
                hutchinson_score_matching_loss(model, x, v)
            }
        };
        Ok(LossOutput::loss_only(loss))
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::json!({ "score_matching": &self.config })
    }
}

/// Builds a [`SlicedScoreMatching`] objective.
#[derive(Config, Debug)]
pub struct SlicedScoreMatchingConfig {
    /// Projections per sample (≥ 1).
    #[config(default = 1)]
    pub projections: usize,
    /// Their distribution.
    #[config(default = "Probe::Rademacher")]
    pub projection: Probe,
}

ebm_core::json_config!(
    SlicedScoreMatchingConfig,
    required = [],
    template = SlicedScoreMatchingConfig::new()
);

impl SlicedScoreMatchingConfig {
    /// Builds the objective.
    pub fn init(&self) -> Result<SlicedScoreMatching, TrainError> {
        if self.projections == 0 {
            return Err(invalid("projections", 0usize, "must be >= 1"));
        }
        Ok(SlicedScoreMatching {
            config: self.clone(),
        })
    }
}

/// Sliced score matching (Song et al. 2019), without variance reduction:
/// `mean_i mean_p [½(vₚᵀ∇E(xᵢ))² − vₚᵀ∇²E(xᵢ)vₚ]`.
#[derive(Debug, Clone)]
pub struct SlicedScoreMatching {
    config: SlicedScoreMatchingConfig,
}

impl<B: AutodiffBackend, M: SecondOrderEnergy<B>> Objective<B, M> for SlicedScoreMatching {
    type Record = ();

    crate::energy_model_hooks!();

    fn loss(
        &mut self,
        model: &M,
        batch: Tensor<B, 2>,
        step: TrainStep,
    ) -> Result<LossOutput<B>, TrainError> {
        let [n, d] = batch.dims();
        model.check_input([n, d])?;
        let p = self.config.projections;
        let x = batch.detach();
        let seed = step.stream("sliced_score_matching/projections");
        let mut noise = Noise::new(seed);
        let v = self.config.projection.draw(&mut noise, [n * p, d], &x);
        let loss = sliced_score_matching_loss(model, x, v);
        Ok(LossOutput::loss_only(loss))
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::json!({ "sliced_score_matching": &self.config })
    }
}

/// Builds a [`DenoisingScoreMatching`] objective.
#[derive(Config, Debug)]
pub struct DenoisingScoreMatchingConfig {
    /// Noise level σ (constant or scheduled over optimiser steps; every value > 0).
    #[config(default = "Schedule::constant(0.1)")]
    pub sigma: Schedule,
}

ebm_core::json_config!(
    DenoisingScoreMatchingConfig,
    required = [],
    template = DenoisingScoreMatchingConfig::new()
);
ebm_core::schedule_setters!(DenoisingScoreMatchingConfig { sigma });

impl DenoisingScoreMatchingConfig {
    /// Builds the objective.
    pub fn init(&self) -> Result<DenoisingScoreMatching, TrainError> {
        self.sigma.check_positive("sigma")?;
        Ok(DenoisingScoreMatching {
            config: self.clone(),
        })
    }
}

/// Denoising score matching (Vincent 2011): with `x̃ = x + σε`,
/// `L = ½·mean_i ‖∇E(x̃ᵢ) − εᵢ/σ‖²`, i.e. the score `−∇E(x̃)` is regressed onto the score of the
/// noising kernel, `−(x̃ − x)/σ²`. Weighting: none (the plain loss, as in TorchEBM 0.8.9; its
/// scale grows like 1/σ²). An older TorchEBM had the sign inverted, which learns the negated
/// energy; the Gaussian recovery test rules that out here.
#[derive(Debug, Clone)]
pub struct DenoisingScoreMatching {
    config: DenoisingScoreMatchingConfig,
}

impl<B: AutodiffBackend, M: SecondOrderEnergy<B>> Objective<B, M> for DenoisingScoreMatching {
    type Record = ();

    crate::energy_model_hooks!();

    fn loss(
        &mut self,
        model: &M,
        batch: Tensor<B, 2>,
        step: TrainStep,
    ) -> Result<LossOutput<B>, TrainError> {
        let [n, d] = batch.dims();
        model.check_input([n, d])?;
        let sigma = self.config.sigma.value_at(step.index);
        let x = batch.detach();
        let seed = step.stream("denoising/noise");
        let eps = Noise::new(seed).normal([n, d], &x);
        let loss = denoising_score_matching_loss(model, x, eps, sigma);
        Ok(LossOutput::loss_only(loss))
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::json!({ "denoising_score_matching": &self.config })
    }
}

/// How a multiscale energy knows a sample's noise level.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum LevelConditioning {
    /// One energy for every level, scaled: the energy of level σ is `E(x)/σ` (NCSNv2). The
    /// model reads the sample alone.
    Scaled,
    /// A noise-conditional energy, scaled as well: the energy of level σ is `E(x, c(σ))/σ`,
    /// the model reading `2D` inputs, the sample and a plane of the level's code
    /// ([`NoiseLadder::code`], [`ebm_core::combinators::with_level_plane`]); for an image, as
    /// many more channels. Sample it with [`NoiseLadder::sample_conditioned`].
    Plane,
}

/// Builds a [`MultiscaleDenoisingScoreMatching`] objective.
#[derive(Config, Debug)]
pub struct MultiscaleDenoisingScoreMatchingConfig {
    /// The noise levels; each sample of a batch draws one uniformly.
    #[config(default = "NoiseLadderConfig::new()")]
    pub ladder: NoiseLadderConfig,
    /// Whether the model reads the level ([`LevelConditioning::Plane`]) or not.
    #[config(default = "LevelConditioning::Scaled")]
    pub conditioning: LevelConditioning,
}

ebm_core::json_config!(
    MultiscaleDenoisingScoreMatchingConfig,
    required = [],
    template = MultiscaleDenoisingScoreMatchingConfig::new()
);

impl MultiscaleDenoisingScoreMatchingConfig {
    /// Builds the objective.
    pub fn init(&self) -> Result<MultiscaleDenoisingScoreMatching, TrainError> {
        let ladder = self.ladder.init().map_err(|e| match e {
            ebm_sample::SampleError::InvalidParameter(p) => TrainError::InvalidParameter(p),
            other => TrainError::Sample(other),
        })?;
        Ok(MultiscaleDenoisingScoreMatching {
            ladder,
            config: self.clone(),
        })
    }
}

/// Denoising score matching over a ladder of noise levels (NCSN, Song & Ermon 2019), in the
/// parameterisation in which the energy of level σ is `E(x)/σ` (NCSNv2): with `x̃ = x + σᵢεᵢ`
/// and each sample's σᵢ drawn from the ladder,
/// `L = ½·mean_i ‖∇E(x̃ᵢ) − εᵢ‖²`, which is `σᵢ²·½‖∇ₓ(E/σᵢ)(x̃ᵢ) − εᵢ/σᵢ‖²`: the usual DSM
/// loss of level σᵢ with the usual σ² weighting, so every level weighs alike. `∇E` predicts the
/// noise. Sample the trained energy with
/// [`NoiseLadder::annealed_langevin`](ebm_sample::NoiseLadder::annealed_langevin) on the same
/// ladder, and show the samples after [`NoiseLadder::denoise`](ebm_sample::NoiseLadder::denoise).
///
/// On data N(μ, Σ) a quadratic energy `½(x − m)ᵀP(x − m)` has its optimum at `m = μ`,
/// `P = mean(σ)·(Σ + mean(σ²)·I)⁻¹` (the recovery test checks it).
#[derive(Debug, Clone)]
pub struct MultiscaleDenoisingScoreMatching {
    ladder: NoiseLadder,
    config: MultiscaleDenoisingScoreMatchingConfig,
}

impl MultiscaleDenoisingScoreMatching {
    /// The ladder the objective trains on (to sample with).
    pub fn ladder(&self) -> &NoiseLadder {
        &self.ladder
    }
}

/// Multiscale denoising loss `½·mean_i ‖∇E(xᵢ + σᵢεᵢ) − εᵢ‖²` for given noise `ε` (`[N, D]`) and
/// per-sample levels `sigma` (`[N, 1]`).
pub fn multiscale_denoising_score_matching_loss<B: AutodiffBackend, M: SecondOrderEnergy<B>>(
    model: &M,
    x: Tensor<B, 2>,
    eps: Tensor<B, 2>,
    sigma: Tensor<B, 2>,
) -> Tensor<B, 1> {
    let g = model.grad_energy_tracked(x + eps.clone() * sigma);
    half_sq_norm(g - eps).mean()
}

/// [`multiscale_denoising_score_matching_loss`] for a noise-conditional energy
/// ([`LevelConditioning::Plane`]): `½·mean_i ‖∇ₓE(xᵢ + σᵢεᵢ, cᵢ) − εᵢ‖²`, with each sample's
/// level code `code` (`[N, 1]`) in a plane beside it.
pub fn conditioned_denoising_score_matching_loss<B: AutodiffBackend, M: SecondOrderEnergy<B>>(
    model: &M,
    x: Tensor<B, 2>,
    eps: Tensor<B, 2>,
    sigma: Tensor<B, 2>,
    code: Tensor<B, 2>,
) -> Tensor<B, 1> {
    let [n, d] = x.dims();
    let input = with_level_plane(x + eps.clone() * sigma, code);
    let g = model.grad_energy_tracked(input).slice([0..n, 0..d]);
    half_sq_norm(g - eps).mean()
}

impl MultiscaleDenoisingScoreMatching {
    /// The width the model reads for samples of width `d`.
    fn model_width(&self, d: usize) -> usize {
        match self.config.conditioning {
            LevelConditioning::Scaled => d,
            LevelConditioning::Plane => 2 * d,
        }
    }
}

impl<B: AutodiffBackend, M: SecondOrderEnergy<B>> Objective<B, M>
    for MultiscaleDenoisingScoreMatching
{
    type Record = ();

    fn check_batch(&self, model: &M, [n, d]: [usize; 2]) -> Result<(), TrainError> {
        Ok(model.check_input([n, self.model_width(d)])?)
    }

    /// The data's energy at the smallest level.
    fn data_energy(&self, model: &M, batch: &Tensor<B, 2>) -> Option<Tensor<Inner<B>, 1>> {
        let x = batch.clone().detach().inner();
        Some(
            match self.config.conditioning {
                LevelConditioning::Scaled => model.energy_value(x),
                LevelConditioning::Plane => {
                    AtNoiseLevel::new(model, self.ladder.code(self.ladder.sigma_min()))
                        .ok()?
                        .energy_value(x)
                }
            }
            .mean(),
        )
    }

    fn loss(
        &mut self,
        model: &M,
        batch: Tensor<B, 2>,
        step: TrainStep,
    ) -> Result<LossOutput<B>, TrainError> {
        let [n, d] = batch.dims();
        model.check_input([n, self.model_width(d)])?;
        let x = batch.detach();
        let mut noise = Noise::new(step.stream("multiscale_denoising/noise"));
        let sigmas = self.ladder.sigmas();
        let levels = noise.indices(n, sigmas.len());
        let (device, dtype) = (x.device(), x.dtype());
        let column = |values: Vec<f32>| {
            Tensor::<B, 2>::from_data(
                burn::tensor::TensorData::new(values, [n, 1]),
                (&device, dtype),
            )
        };
        let sigma = column(levels.iter().map(|&i| sigmas[i] as f32).collect());
        let eps = noise.normal([n, d], &x);
        let loss = match self.config.conditioning {
            LevelConditioning::Scaled => {
                multiscale_denoising_score_matching_loss(model, x, eps, sigma)
            }
            LevelConditioning::Plane => {
                let code = levels
                    .iter()
                    .map(|&i| self.ladder.code(sigmas[i]) as f32)
                    .collect();
                conditioned_denoising_score_matching_loss(model, x, eps, sigma, column(code))
            }
        };
        Ok(LossOutput::loss_only(loss))
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::json!({ "multiscale_denoising_score_matching": &self.config })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Param;
    use ebm_core::neural::Quadratic;
    use ebm_testing::TestBackend as B;

    /// `½(z − m)ᵀP(z − m)` with the given mean and (symmetric) precision, row-major.
    fn quadratic(mean: Vec<f32>, precision: Vec<f32>) -> Quadratic<B> {
        let device = Default::default();
        let d = mean.len();
        Quadratic {
            mean: Param::from_tensor(Tensor::from_data(
                burn::tensor::TensorData::new(mean, [d]),
                &device,
            )),
            precision: Param::from_tensor(Tensor::from_data(
                burn::tensor::TensorData::new(precision, [d, d]),
                &device,
            )),
        }
    }

    fn scalar(t: Tensor<B, 1>) -> f64 {
        t.into_data().convert::<f64>().to_vec::<f64>().unwrap()[0]
    }

    /// On `E(x, c) = ½[x c]P[x c]ᵀ` with `P = [[a, b], [b, e]]`, `∂E/∂x = a·x̃ + b·c`: the loss
    /// is `½·mean (a·x̃ᵢ + b·cᵢ − εᵢ)²` with `x̃ = x + σε`, by hand in f64.
    #[test]
    fn the_conditioned_loss_reads_each_samples_code_beside_it() {
        let (a, b, e) = (1.5f64, -0.75f64, 2.0f64);
        let model = quadratic(vec![0.0, 0.0], [a, b, b, e].map(|v| v as f32).to_vec());
        let x = [0.5f64, -1.0, 2.0];
        let eps = [1.0f64, 0.25, -0.5];
        let sigma = [1.0f64, 0.1, 0.5];
        let code = [1.0f64, -1.0, 0.25];
        let column = |v: [f64; 3]| {
            Tensor::<B, 2>::from_data(
                burn::tensor::TensorData::new(v.map(|v| v as f32).to_vec(), [3, 1]),
                &Default::default(),
            )
        };
        let loss = conditioned_denoising_score_matching_loss(
            &model,
            column(x),
            column(eps),
            column(sigma),
            column(code),
        );
        let want = (0..3)
            .map(|i| {
                let noisy = x[i] + sigma[i] * eps[i];
                0.5 * (a * noisy + b * code[i] - eps[i]).powi(2)
            })
            .sum::<f64>()
            / 3.0;
        assert!((scalar(loss) - want).abs() < 1e-5 * want, "vs {want}");
    }

    /// A conditional model that ignores its plane (`P` block-diagonal) has, step for step, the
    /// loss of the scaled objective on its sample block: the same levels and noise are drawn,
    /// so the conditioned objective inherits the scaled one's Gaussian recovery test.
    #[test]
    fn a_model_that_ignores_the_plane_has_the_scaled_loss() {
        let ladder = NoiseLadderConfig::new().with_levels(4);
        let objective = |conditioning| {
            MultiscaleDenoisingScoreMatchingConfig::new()
                .with_ladder(ladder.clone())
                .with_conditioning(conditioning)
                .init()
                .unwrap()
        };
        let sample_block = quadratic(vec![0.5, -0.25], vec![2.0, 0.5, 0.5, 1.0]);
        #[rustfmt::skip]
        let with_plane = quadratic(
            vec![0.5, -0.25, 3.0, 3.0],
            vec![
                2.0, 0.5, 0.0, 0.0,
                0.5, 1.0, 0.0, 0.0,
                0.0, 0.0, 4.0, 1.0,
                0.0, 0.0, 1.0, 4.0,
            ],
        );
        let batch = ebm_testing::normal::<B, 2>([16, 2], 1.0, 9, &Default::default());
        let step = TrainStep::new(7, 42);
        let scaled = objective(LevelConditioning::Scaled)
            .loss(&sample_block, batch.clone(), step)
            .unwrap();
        let plane = objective(LevelConditioning::Plane)
            .loss(&with_plane, batch.clone(), step)
            .unwrap();
        let (scaled, plane) = (scalar(scaled.loss), scalar(plane.loss));
        assert!(
            (scaled - plane).abs() < 1e-5 * scaled,
            "{scaled} vs {plane}"
        );
        // The conditioned objective wants the doubled width and refuses the sample's own.
        let refused = Objective::<B, _>::check_batch(
            &objective(LevelConditioning::Plane),
            &sample_block,
            [16, 2],
        );
        assert!(refused.is_err(), "{refused:?}");
        let accepted = Objective::<B, _>::check_batch(
            &objective(LevelConditioning::Plane),
            &with_plane,
            [16, 2],
        );
        assert!(accepted.is_ok(), "{accepted:?}");
    }

    #[test]
    fn a_bad_ladder_is_a_typed_error_naming_its_field() {
        let config = MultiscaleDenoisingScoreMatchingConfig::new()
            .with_ladder(NoiseLadderConfig::new().with_levels(1));
        match config.init() {
            Err(TrainError::InvalidParameter(ebm_core::InvalidParameter { name, .. })) => {
                assert_eq!(name, "levels")
            }
            other => panic!("{other:?}"),
        }
    }
}
