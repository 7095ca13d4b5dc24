//! Sampler efficiency: effective sample size per gradient evaluation and per second, for MALA,
//! HMC and ChEES-HMC with adaptation, on the targets that blackjax is measured on
//! (`bench/blackjax_reference.py`, which defines the same targets and algorithms).
//!
//! Every case runs 64 chains from N(0, I): 1000 warm-up steps, then 1000 kept draws; the
//! gradient evaluations are counted, warm-up included. The ESS of
//! a case is the smallest over the coordinates, by [`effective_sample_size`]; blackjax's draws,
//! when `--blackjax DIR` gives them, go through the same estimator, so the two columns differ
//! only by their samplers. Each case runs from five seeds (one in `--quick`); the figures are the
//! medians over them. A timed run includes its warm-up steps; the first run of a case is not
//! timed (nor is blackjax's first call, which compiles).

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use ebm::burn::tensor::Tensor;
use ebm::burn::tensor::backend::AutodiffBackend;
use ebm::ebm_sample::diagnostics::effective_sample_size;
use ebm::ebm_sample::noise::Noise;
use ebm::ebm_sample::{
    AcceptanceMean, DualAveragingConfig, HmcConfig, MalaConfig, MassAdaptationConfig, RunConfig,
    Sampler, TrajectoryAdaptationConfig,
};
use ebm::prelude::*;
use serde_json::json;

use crate::Options;
use crate::record::{Record, print_row};

const CHAINS: usize = 64;
/// Runs per case: HMC with a fixed number of leapfrog steps is sensitive to where its adapted
/// step size lands (a trajectory near a period of the target barely moves), so one run can
/// mislead.
const SEEDS: u64 = 5;
const N_LEAPFROG: usize = 10;
const MALA_TARGET: f64 = 0.574;
const HMC_TARGET: f64 = 0.8;
const CHEES_TARGET: f64 = 0.651;
const INITIAL_STEP: f64 = 0.1;
/// All chains share one adapted step size, so without jitter a trajectory `L·h` that lands near
/// a period of the target (2π on the mixture's unit-variance coordinate, where the adapted h
/// came out at 0.64) stalls every chain at once; blackjax's chains adapt one step size each and
/// so spread over trajectory lengths. docs/sampler_efficiency.md has the measurements.
const HMC_STEP_JITTER: f64 = 0.6;

/// A target with its exact per-coordinate means and variances.
struct Target<B: EbmBackend> {
    name: &'static str,
    energy: Box<dyn Energy<B>>,
    means: Vec<f64>,
    variances: Vec<f64>,
}

/// The variances of the ill-conditioned Gaussian: `10^(−2 + 3i/99)`, condition number 1000.
fn gaussian_variances() -> Vec<f64> {
    (0..100)
        .map(|i| 10f64.powf(-2.0 + 3.0 * i as f64 / 99.0))
        .collect()
}

fn targets<B: EbmBackend>() -> Vec<Target<B>>
where
    Gaussian: Energy<B>,
    Funnel: Energy<B>,
    Banana: Energy<B>,
{
    let variances = gaussian_variances();
    let covariance = (0..100)
        .map(|i| {
            (0..100)
                .map(|j| if i == j { variances[i] } else { 0.0 })
                .collect()
        })
        .collect();
    let funnel = Funnel::standard(10).expect("valid funnel");
    let mut funnel_variances = vec![(4.5f64).exp(); 10];
    funnel_variances[0] = 9.0;
    let unit = vec![vec![1.0, 0.0], vec![0.0, 1.0]];
    let mixture = Mixture::new(
        vec![
            Gaussian::new(vec![-2.0, 0.0], unit.clone()).expect("valid"),
            Gaussian::new(vec![2.0, 0.0], unit).expect("valid"),
        ],
        vec![0.3, 0.7],
    )
    .expect("valid mixture");
    let banana = Banana::standard();
    vec![
        Target {
            name: "gaussian_d100",
            energy: Box::new(Gaussian::new(vec![0.0; 100], covariance).expect("valid")),
            means: vec![0.0; 100],
            variances,
        },
        Target {
            name: "funnel_d10",
            energy: Box::new(funnel),
            means: vec![0.0; 10],
            variances: funnel_variances,
        },
        // Mean 0.3·(−2) + 0.7·2 = 0.8; variance 1 + E[m²] − 0.8² = 1 + 4 − 0.64.
        Target {
            name: "mixture_2d",
            energy: Box::new(mixture),
            means: vec![0.8, 0.0],
            variances: vec![4.36, 1.0],
        },
        Target {
            name: "banana",
            energy: Box::new(banana),
            means: vec![0.0, 0.0],
            variances: banana.variances().to_vec(),
        },
    ]
}

/// The scores of one run's draws, `[chains][draws][dim]` flattened chain-major.
struct Scores {
    min_ess: f64,
    /// The largest `|mean − exact| / √(Var/ESS)` over the coordinates: a few units when the
    /// draws are unbiased.
    max_abs_z: f64,
}

fn score(draws: &[f32], n_draws: usize, means: &[f64], variances: &[f64]) -> Scores {
    let dim = means.len();
    let chains = draws.len() / (n_draws * dim);
    let mut min_ess = f64::INFINITY;
    let mut max_abs_z: f64 = 0.0;
    for (i, (&mu, &var)) in means.iter().zip(variances).enumerate() {
        let coordinate: Vec<Vec<f64>> = (0..chains)
            .map(|c| {
                (0..n_draws)
                    .map(|t| draws[(c * n_draws + t) * dim + i] as f64)
                    .collect()
            })
            .collect();
        let ess = effective_sample_size(&coordinate);
        let mean = coordinate.iter().flatten().sum::<f64>() / (chains * n_draws) as f64;
        min_ess = min_ess.min(ess);
        max_abs_z = max_abs_z.max((mean - mu).abs() / (var / ess).sqrt());
    }
    Scores { min_ess, max_abs_z }
}

/// One run of a case: its scores, its wall time and its gradient evaluations.
struct SeedRun {
    scores: Scores,
    seconds: f64,
    grad_evals: usize,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The record of one case over its seeds: `value` is the median ESS per second, the rest (the
/// medians of the ESS and of the ESS per gradient, the largest `|z|`, each seed's figures) in
/// `params`.
fn record(
    name: &str,
    backend: &str,
    runs: &[SeedRun],
    first_run_s: f64,
    mut params: serde_json::Value,
) -> Record {
    let ess: Vec<f64> = runs.iter().map(|r| r.scores.min_ess).collect();
    let seconds: Vec<f64> = runs.iter().map(|r| r.seconds).collect();
    let per_s = runs.iter().map(|r| r.scores.min_ess / r.seconds).collect();
    params["min_ess"] = json!(median(ess.clone()));
    params["ess_per_grad"] = json!(median(
        runs.iter()
            .map(|r| r.scores.min_ess / r.grad_evals as f64)
            .collect()
    ));
    params["max_abs_z"] = json!(runs.iter().map(|r| r.scores.max_abs_z).fold(0.0, f64::max));
    params["grad_evals_per_seed"] = json!(runs.iter().map(|r| r.grad_evals).collect::<Vec<_>>());
    params["seeds"] = json!(runs.len());
    params["min_ess_per_seed"] = json!(ess);
    params["seconds_per_seed"] = json!(seconds);
    let mut sorted = seconds.clone();
    sorted.sort_by(f64::total_cmp);
    Record {
        name: name.to_string(),
        backend: backend.to_string(),
        metric: "ess_per_s".to_string(),
        value: median(per_s),
        unit: "1/s".to_string(),
        median_s: median(seconds),
        warmup_s: first_run_s,
        min_s: sorted[0],
        max_s: sorted[sorted.len() - 1],
        repeats: runs.len(),
        params,
    }
}

/// An energy that counts the rows of the gradients asked of it: ChEES's transitions take a
/// varying number of leapfrog steps.
struct GradientCount<'a, B: AutodiffBackend> {
    inner: &'a dyn Energy<B>,
    rows: AtomicUsize,
}

impl<B: EbmBackend> Energy<B> for GradientCount<'_, B> {
    fn input_dim(&self) -> Option<usize> {
        self.inner.input_dim()
    }

    fn energy(&self, x: Tensor<B, 2>) -> Tensor<B, 1> {
        self.inner.energy(x)
    }

    fn energy_value(&self, x: Tensor<Inner<B>, 2>) -> Tensor<Inner<B>, 1> {
        self.inner.energy_value(x)
    }

    fn energy_and_grad(
        &self,
        x: Tensor<Inner<B>, 2>,
    ) -> (Tensor<Inner<B>, 1>, Tensor<Inner<B>, 2>) {
        self.rows.fetch_add(x.dims()[0], Ordering::Relaxed);
        self.inner.energy_and_grad(x)
    }

    fn grad_energy(&self, x: Tensor<Inner<B>, 2>) -> Tensor<Inner<B>, 2> {
        self.rows.fetch_add(x.dims()[0], Ordering::Relaxed);
        self.inner.grad_energy(x)
    }

    fn check_input(&self, dims: [usize; 2]) -> ebm::ebm_core::Result<()> {
        self.inner.check_input(dims)
    }
}

/// One seed's run of `sampler` on `target`.
struct SampleRun {
    /// `[chains][draws][dim]`, flattened.
    draws: Vec<f32>,
    step_size: f64,
    acceptance: Option<f64>,
    seconds: f64,
    grad_evals: usize,
}

fn sample_once<B: EbmBackend, S: Sampler<B>>(
    sampler: &S,
    target: &Target<B>,
    run: &RunConfig,
    init: &Tensor<Inner<B>, 2>,
) -> SampleRun {
    let energy = GradientCount {
        inner: target.energy.as_ref(),
        rows: AtomicUsize::new(0),
    };
    let started = Instant::now();
    let samples = sampler
        .sample(&energy, init.clone(), run)
        .expect("sampling runs");
    let draws = samples
        .trajectory
        .clone()
        .expect("trajectory kept")
        .into_data();
    let seconds = started.elapsed().as_secs_f64();
    SampleRun {
        draws: draws.convert::<f32>().to_vec().expect("f32 draws"),
        step_size: samples.final_step_size,
        acceptance: samples.acceptance_rate(),
        seconds,
        grad_evals: energy.rows.into_inner(),
    }
}

/// Runs the efficiency cases whose names pass the filter, on `B` and, with `--blackjax`, from
/// blackjax's draws.
pub fn run<B: EbmBackend>(
    options: &Options,
    device: &ebm::burn::tensor::Device<Inner<B>>,
) -> Vec<Record>
where
    Gaussian: Energy<B>,
    Funnel: Energy<B>,
    Banana: Energy<B>,
{
    let (n_warmup, n_draws, seeds) = if options.quick {
        (100, 100, 1)
    } else {
        (1000, 1000, SEEDS)
    };
    let mala = MalaConfig::new()
        .step_size(INITIAL_STEP)
        .with_target_acceptance(Some(MALA_TARGET))
        .init()
        .expect("valid MALA");
    let hmc = HmcConfig::new()
        .step_size(INITIAL_STEP)
        .with_n_leapfrog(N_LEAPFROG)
        .with_mass_adaptation(Some(MassAdaptationConfig::new()))
        .with_target_acceptance(Some(HMC_TARGET))
        .with_step_jitter(HMC_STEP_JITTER)
        .init()
        .expect("valid HMC");
    // ChEES from one leapfrog step, as blackjax's starts, towards the paper's harmonic-mean
    // acceptance 0.651.
    let chees = HmcConfig::new()
        .step_size(INITIAL_STEP)
        .with_n_leapfrog(1)
        .with_mass_adaptation(Some(MassAdaptationConfig::new()))
        .with_target_acceptance(Some(CHEES_TARGET))
        .with_dual_averaging(
            DualAveragingConfig::new().with_acceptance_mean(AcceptanceMean::Harmonic),
        )
        .with_trajectory_adaptation(Some(TrajectoryAdaptationConfig::new()))
        .init()
        .expect("valid ChEES-HMC");
    let mut records = Vec::new();
    for algorithm in ["mala", "hmc", "chees"] {
        for target in targets::<B>() {
            let name = format!("ess_{algorithm}_{}", target.name);
            if !options.selected(&name) {
                continue;
            }
            let dim = target.means.len();
            let like = Tensor::<Inner<B>, 2>::zeros([1, dim], device);
            let mut first_run_s = None;
            let mut runs = Vec::new();
            let mut step_sizes = Vec::new();
            let mut acceptances = Vec::new();
            for seed in 0..seeds {
                let init = Noise::new(seed).normal([CHAINS, dim], &like);
                let run = RunConfig::new(n_draws)
                    .with_n_warmup(n_warmup)
                    .with_keep_trajectory(true)
                    .with_check_every(n_warmup + n_draws)
                    .with_seed(1000 + seed);
                let once = || match algorithm {
                    "mala" => sample_once(&mala, &target, &run, &init),
                    "hmc" => sample_once(&hmc, &target, &run, &init),
                    _ => sample_once(&chees, &target, &run, &init),
                };
                // The first run of a case is not timed: it allocates what the others reuse.
                if first_run_s.is_none() {
                    first_run_s = Some(once().seconds);
                }
                let sampled = once();
                step_sizes.push(sampled.step_size);
                acceptances.push(sampled.acceptance);
                runs.push(SeedRun {
                    scores: score(&sampled.draws, n_draws, &target.means, &target.variances),
                    seconds: sampled.seconds,
                    grad_evals: sampled.grad_evals,
                });
            }
            let params = json!({
                "algorithm": algorithm,
                "target": target.name,
                "chains": CHAINS,
                "warmup": n_warmup,
                "draws": n_draws,
                "dim": dim,
                "step_size": step_sizes,
                "acceptance": acceptances,
            });
            let ours = record(
                &name,
                &options.backend,
                &runs,
                first_run_s.unwrap_or(f64::NAN),
                params,
            );
            print_row(&ours, "ESS/s");
            records.push(ours);
            if let Some(dir) = &options.blackjax {
                match blackjax_record(dir, &name, &target) {
                    Ok(theirs) => {
                        print_row(&theirs, "ESS/s");
                        records.push(theirs);
                    }
                    Err(e) => eprintln!("ebm-bench: no blackjax figure for {name}: {e}"),
                }
            }
        }
    }
    records
}

/// blackjax's record of case `name`, scored from its draws in `dir` (written by
/// `bench/blackjax_reference.py`).
fn blackjax_record<B: EbmBackend>(
    dir: &Path,
    name: &str,
    target: &Target<B>,
) -> Result<Record, String> {
    let index = dir.join("blackjax.json");
    let text = std::fs::read_to_string(&index).map_err(|e| format!("{}: {e}", index.display()))?;
    let cases: Vec<serde_json::Value> =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", index.display()))?;
    let case = cases
        .iter()
        .find(|c| c["name"] == name)
        .ok_or(format!("{} has no case `{name}`", index.display()))?;
    let field = |key: &str| {
        case[key]
            .as_f64()
            .ok_or(format!("{name}: `{key}` is missing or not a number"))
    };
    let (n_draws, dim) = (field("draws")? as usize, field("dim")? as usize);
    if dim != target.means.len() {
        return Err(format!(
            "{name}: blackjax's target has {dim} dimensions, ours {}",
            target.means.len()
        ));
    }
    let chains = field("chains")? as usize;
    let list = |key: &str| {
        case[key]
            .as_array()
            .and_then(|a| {
                a.iter()
                    .map(serde_json::Value::as_f64)
                    .collect::<Option<Vec<f64>>>()
            })
            .ok_or(format!("{name}: `{key}` is not a list of numbers"))
    };
    let (seconds, grad_evals) = (list("seconds")?, list("grad_evals")?);
    if grad_evals.len() != seconds.len() {
        return Err(format!(
            "{name}: `seconds` and `grad_evals` differ in length"
        ));
    }
    let mut runs = Vec::new();
    for (seed, (&seconds, &grad_evals)) in seconds.iter().zip(&grad_evals).enumerate() {
        let path = dir.join(format!("{name}.seed{seed}.f32"));
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let expected = chains * n_draws * dim * 4;
        if bytes.len() != expected {
            return Err(format!(
                "{}: {} bytes, expected {expected} (chains × draws × dim float32)",
                path.display(),
                bytes.len()
            ));
        }
        let draws: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        runs.push(SeedRun {
            scores: score(&draws, n_draws, &target.means, &target.variances),
            seconds,
            grad_evals: grad_evals as usize,
        });
    }
    if runs.is_empty() {
        return Err(format!("{name}: no seeds"));
    }
    let params = json!({
        "algorithm": case["algorithm"],
        "target": case["target"],
        "chains": chains,
        "warmup": case["warmup"],
        "draws": n_draws,
        "dim": dim,
        "step_size": case["step_size_median"],
        "acceptance": case["acceptance"],
        "versions": {"jax": case["jax"], "blackjax": case["blackjax"]},
    });
    Ok(record(
        name,
        "blackjax",
        &runs,
        field("first_call_seconds")?,
        params,
    ))
}
