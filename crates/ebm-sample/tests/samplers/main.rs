//! Sampler correctness: reference updates, statistics against known distributions, diagnostics,
//! reproducibility and bad input. Sizes are chosen so that each statistical check has a margin of
//! at least ~3 standard errors and the whole file runs in a few seconds.

mod calibration;
mod mass_adaptation;
mod nested_rhat;

use burn::tensor::{Tensor, TensorData};
use ebm_core::EnergyError;
use ebm_core::analytic::{DoubleWell, Gaussian, Harmonic, Rosenbrock};
use ebm_core::combinators::FromLogDensity;
use ebm_core::schedule::Schedule;
use ebm_sample::noise::Noise;
use ebm_sample::*;
use ebm_testing::{TestBackend, TestInner};
use serde::Deserialize;

type B = TestBackend;
type Cpu = TestInner;

fn target() -> Gaussian {
    Gaussian::new(vec![1.0, -1.0], vec![vec![1.0, 0.5], vec![0.5, 2.0]]).unwrap()
}

/// Sample mean and covariance of `[N, 2]` rows.
fn moments(x: Tensor<Cpu, 2>) -> ([f64; 2], [[f64; 2]; 2]) {
    let v: Vec<f64> = x.into_data().convert::<f64>().to_vec().unwrap();
    let n = v.len() as f64 / 2.0;
    let mut m = [0.0; 2];
    for r in v.chunks(2) {
        m[0] += r[0] / n;
        m[1] += r[1] / n;
    }
    let mut c = [[0.0; 2]; 2];
    for r in v.chunks(2) {
        for i in 0..2 {
            for j in 0..2 {
                c[i][j] += (r[i] - m[i]) * (r[j] - m[j]) / (n - 1.0);
            }
        }
    }
    (m, c)
}

fn assert_recovers(name: &str, samples: Tensor<Cpu, 2>) {
    let (m, c) = moments(samples);
    let (tm, tc) = ([1.0, -1.0], [[1.0, 0.5], [0.5, 2.0]]);
    for i in 0..2 {
        assert!((m[i] - tm[i]).abs() < 0.1, "{name}: mean {m:?}");
        for j in 0..2 {
            assert!(
                (c[i][j] - tc[i][j]).abs() < 0.15,
                "{name}: covariance {c:?}"
            );
        }
    }
}

/// Final states of 4000 chains plus their kept states 50 steps before the end (past the autocorrelation time of
/// every sampler here): 8000 draws, standard error ≈ 0.016 on the mean and ≈ 0.03 on Σ₂₂.
fn pooled(out: &Samples<B>) -> Tensor<Cpu, 2> {
    let traj = out.trajectory.clone().expect("trajectory kept");
    let [n, k, d] = traj.dims();
    let earlier = traj.slice([0..n, k - 2..k - 1, 0..d]).reshape([n, d]);
    Tensor::cat(vec![earlier, out.final_state.clone()], 0)
}

#[test]
fn langevin_mala_and_hmc_recover_a_correlated_gaussian() {
    let device = Default::default();
    // η = 0.05 over 400 steps: 20 time units, ~9 relaxation times of the slowest direction; the
    // O(η) bias of unadjusted Langevin adds ≈ η/2 = 0.025 to the variances.
    let run = RunConfig::new(400)
        .with_thin(50)
        .with_keep_trajectory(true)
        .with_seed(11);
    let langevin = LangevinConfig::new().step_size(0.05).init().unwrap();
    let out =
        Sampler::<B>::sample_from_noise(&langevin, &target(), 4000, 2, &device, &run).unwrap();
    assert_recovers("langevin", pooled(&out));

    let mala = MalaConfig::new().step_size(0.3).init().unwrap();
    let out = Sampler::<B>::sample_from_noise(&mala, &target(), 4000, 2, &device, &run).unwrap();
    assert!(
        out.acceptance_rate().unwrap() > 0.5,
        "{:?}",
        out.acceptance_rate()
    );
    assert_recovers("mala", pooled(&out));

    let hmc = HmcConfig::new()
        .step_size(0.2)
        .with_n_leapfrog(5)
        .init()
        .unwrap();
    let run = RunConfig::new(100)
        .with_thin(50)
        .with_keep_trajectory(true)
        .with_seed(12);
    let out = Sampler::<B>::sample_from_noise(&hmc, &target(), 4000, 2, &device, &run).unwrap();
    assert!(
        out.acceptance_rate().unwrap() > 0.8,
        "{:?}",
        out.acceptance_rate()
    );
    assert_eq!(out.divergences(), 0);
    assert_recovers("hmc", pooled(&out));
}

#[derive(Deserialize)]
struct LangevinReference {
    step_size: f64,
    noise_scale: f64,
    x0: Vec<Vec<f64>>,
    noise: Vec<Vec<Vec<f64>>>,
    trajectory: Vec<Vec<Vec<f64>>>,
}

#[derive(Deserialize)]
struct Steps {
    langevin: LangevinReference,
}

#[test]
fn langevin_reproduces_the_reference_steps_with_the_same_noise() {
    let file: Steps = serde_json::from_str(include_str!("../data/sampler_steps.json")).unwrap();
    let r = file.langevin;
    let langevin = LangevinConfig::new()
        .step_size(r.step_size)
        .noise_scale(r.noise_scale)
        .init()
        .unwrap();
    let flat = |rows: &[Vec<f64>]| rows.iter().flatten().copied().collect::<Vec<f64>>();
    let n = r.x0.len();
    let x0 = Tensor::<Cpu, 2>::from_data(TensorData::new(flat(&r.x0), [n, 2]), &Default::default());
    let noise: Vec<f32> = r
        .noise
        .iter()
        .flat_map(|s| flat(s))
        .map(|v| v as f32)
        .collect();
    let mut noise = Noise::replay(noise);
    let energy = DoubleWell::new(2.0, 1.0).unwrap();
    let mut state = Transition::<B>::init_state(&langevin, x0).unwrap();
    for (k, expected) in r.trajectory.iter().enumerate().skip(1) {
        let step = Step {
            index: k - 1,
            size: r.step_size,
        };
        let (next, _) = Transition::<B>::step(&langevin, &energy, state, step, &mut noise);
        state = next;
        let ours = state.clone().into_data().to_vec::<f32>().unwrap();
        for (o, e) in ours.iter().zip(flat(expected)) {
            assert!(
                (*o as f64 - e).abs() < 1e-5 * (1.0 + e.abs()),
                "step {k}: {o} vs {e}"
            );
        }
    }
}

#[test]
fn hmc_visits_both_wells_of_a_double_well() {
    // Barrier h·b⁴ = 2 per coordinate; start every chain in the right well.
    let device = Default::default();
    let hmc = HmcConfig::new()
        .step_size(0.1)
        .with_n_leapfrog(10)
        .init()
        .unwrap();
    let init = Tensor::<Cpu, 2>::ones([500, 1], &device);
    let run = RunConfig::new(200).with_seed(3);
    let out = Sampler::<B>::sample(&hmc, &DoubleWell::default(), init, &run).unwrap();
    let x = out.final_state.into_data().to_vec::<f32>().unwrap();
    let left = x.iter().filter(|&&v| v < 0.0).count() as f64 / x.len() as f64;
    // By symmetry half the mass is in each well.
    assert!(
        (left - 0.5).abs() < 0.1,
        "fraction in the left well: {left}"
    );
}

#[test]
fn mala_acceptance_rises_as_the_step_falls() {
    let device = Default::default();
    let rates: Vec<f64> = [1.0, 0.3, 0.05]
        .iter()
        .map(|&eta| {
            let mala = MalaConfig::new().step_size(eta).init().unwrap();
            let run = RunConfig::new(50).with_seed(5);
            let out = Sampler::<B>::sample_from_noise(
                &mala,
                &Rosenbrock::new(2, 1.0, 10.0).unwrap(),
                500,
                2,
                &device,
                &run,
            )
            .unwrap();
            out.acceptance_rate().unwrap()
        })
        .collect();
    assert!(rates[0] < rates[1] && rates[1] < rates[2], "{rates:?}");
}

#[test]
fn dual_averaging_reaches_the_target_acceptance() {
    // HMC towards 0.8 from a step too large; MALA towards its optimal 0.574 from a step far too
    // small, with Stan's constants spelled out. The adaptation is fed acceptance probabilities,
    // whose mean is the acceptance rate.
    let device = Default::default();
    let hmc = HmcConfig::new()
        .step_size(1.5)
        .with_n_leapfrog(5)
        .with_target_acceptance(Some(0.8))
        .init()
        .unwrap();
    let mala = MalaConfig::new()
        .step_size(0.01)
        .with_target_acceptance(Some(0.574))
        .with_dual_averaging(
            ebm_sample::DualAveragingConfig::new()
                .with_gamma(0.05)
                .with_t0(10.0)
                .with_kappa(0.75),
        )
        .init()
        .unwrap();
    let run = RunConfig::new(100).with_n_warmup(200).with_seed(8);
    let adapted = |name: &str, out: Samples<B>, target: f64| {
        let rate = out.acceptance_rate().unwrap();
        let step = out.final_step_size;
        assert!(
            (rate - target).abs() < 0.08,
            "{name}: acceptance {rate} with step {step}"
        );
        step
    };
    let hmc_run = Sampler::<B>::sample_from_noise(&hmc, &target(), 1000, 2, &device, &run);
    assert!(adapted("HMC", hmc_run.unwrap(), 0.8) < 1.5);
    let mala_run = Sampler::<B>::sample_from_noise(&mala, &target(), 1000, 2, &device, &run);
    assert!(adapted("MALA", mala_run.unwrap(), 0.574) > 0.1);
}

#[test]
fn diagnostics_report_energy_ess_and_rhat() {
    let device = Default::default();
    let mala = MalaConfig::new().step_size(0.5).init().unwrap();
    let run = RunConfig::new(400)
        .with_n_warmup(100)
        .with_thin(2)
        .with_diagnostics(true)
        .with_keep_trajectory(true)
        .with_seed(9);
    let out = Sampler::<B>::sample_from_noise(&mala, &target(), 64, 2, &device, &run).unwrap();
    let diag = out.diagnostics.unwrap();
    assert_eq!(diag.steps.len(), 200);
    assert_eq!(diag.steps[0].step, 101);
    assert_eq!(out.trajectory.unwrap().dims(), [64, 200, 2]);
    // E is ½·χ²₂ shifted: its mean under the target is 1.
    let mean_e: f64 = diag.steps.iter().map(|s| s.mean_energy).sum::<f64>() / 200.0;
    assert!((mean_e - 1.0).abs() < 0.1, "{mean_e}");
    assert!(
        diag.steps
            .iter()
            .all(|s| s.non_finite == 0 && s.acceptance_rate.is_some())
    );
    for (ess, rhat) in diag.ess.unwrap().iter().zip(diag.split_rhat.unwrap()) {
        assert!(*ess > 500.0 && *ess <= 64.0 * 200.0 * 1.5, "ess {ess}");
        assert!((rhat - 1.0).abs() < 0.05, "rhat {rhat}");
    }
}

#[test]
fn same_seed_same_samples() {
    // One sampler serves every run, and nothing of a run stays in it: the adaptation's state and
    // the cached gradients live in the run, so a second run with the same seed repeats the first.
    let device = Default::default();
    let hmc = HmcConfig::new()
        .with_target_acceptance(Some(0.7))
        .init()
        .unwrap();
    let nesterov = NesterovConfig::new().step_size(0.05).init().unwrap();
    let run = RunConfig::new(20).with_n_warmup(10).with_seed(42);
    let draw = |seed_run: &RunConfig| {
        let out =
            Sampler::<B>::sample_from_noise(&hmc, &target(), 16, 2, &device, seed_run).unwrap();
        let descent =
            Sampler::<B>::sample_from_noise(&nesterov, &target(), 4, 2, &device, seed_run).unwrap();
        let mut v = out.final_state.into_data().to_vec::<f32>().unwrap();
        v.push(out.final_step_size as f32);
        v.extend(descent.final_state.into_data().to_vec::<f32>().unwrap());
        v
    };
    assert_eq!(draw(&run), draw(&run));
    assert_ne!(draw(&run), draw(&run.clone().with_seed(43)));
}

#[test]
fn optimisers_find_the_minimum() {
    let device = Default::default();
    let run = RunConfig::new(2000);
    let init = Tensor::<Cpu, 2>::from_data([[0.5, 2.0], [-1.0, -1.0]], &device);
    let gd = GradientDescentConfig::new().step_size(0.1).init().unwrap();
    let out = Sampler::<B>::sample(&gd, &target(), init.clone(), &run).unwrap();
    let nesterov = NesterovConfig::new().step_size(0.05).init().unwrap();
    let out_n = Sampler::<B>::sample(&nesterov, &target(), init, &run).unwrap();
    for x in [out.final_state, out_n.final_state] {
        let v = x.into_data().to_vec::<f32>().unwrap();
        for r in v.chunks(2) {
            assert!(
                (r[0] - 1.0).abs() < 1e-3 && (r[1] + 1.0).abs() < 1e-3,
                "{r:?}"
            );
        }
    }
}

#[test]
fn scheduled_noise_follows_the_seeds_cosine_schedule() {
    // The seeds' Langevin: step 0.01, noise cosine 0.2 → 0.01 over 50 steps. After the schedule
    // ends, σ = 0.01, so chains concentrate near the mode: E[x] at σ → the minimum of a Gaussian.
    let device = Default::default();
    let langevin = LangevinConfig::new()
        .step_size(0.1)
        .with_noise_scale(Schedule::Cosine {
            start: 0.2,
            end: 0.01,
            n_steps: 50,
        })
        .init()
        .unwrap();
    let out = Sampler::<B>::sample_from_noise(
        &langevin,
        &Harmonic::new(1.0).unwrap(),
        200,
        2,
        &device,
        &RunConfig::new(200),
    )
    .unwrap();
    let spread = out.final_state.square().mean().into_scalar();
    // Stationary variance per coordinate is σ² = 1e-4 (up to O(η) bias).
    assert!(spread < 5e-4, "{spread}");
}

fn blow_up() -> FromLogDensity<impl Fn(Tensor<B, 2>) -> Tensor<B, 1> + Send + Sync> {
    // log p = x⁴/4: the drift pushes chains outwards, faster than exponentially.
    FromLogDensity::new(Some(1), |x: Tensor<B, 2>| {
        let n = x.dims()[0];
        x.powi_scalar(4).div_scalar(4.0).reshape([n])
    })
}

#[test]
fn non_finite_chains_are_reported_or_reset() {
    let device = Default::default();
    let init = Tensor::<Cpu, 2>::from_data([[0.1], [5.0], [0.2]], &device);
    let langevin = LangevinConfig::new().step_size(0.1).init().unwrap();
    let run = RunConfig::new(100).with_check_every(1).with_seed(1);
    match Sampler::<B>::sample(&langevin, &blow_up(), init.clone(), &run) {
        Err(SampleError::NonFinite { step, chains }) => {
            assert!(chains.contains(&1), "{chains:?}");
            assert!(step < 10, "{step}");
        }
        other => panic!("expected a NonFinite error, got {other:?}"),
    }
    let run = RunConfig::new(10)
        .with_check_every(1)
        .with_seed(1)
        .with_on_non_finite(NonFinitePolicy::Reset);
    let out = Sampler::<B>::sample(&langevin, &blow_up(), init.clone(), &run).unwrap();
    assert!(out.resets >= 1);
    let x = out.final_state.into_data().to_vec::<f32>().unwrap();
    assert!(x.iter().all(|v| v.is_finite()), "{x:?}");
    // Propagate: no check and no error; the bad chain arrives as it is.
    let run = run.with_on_non_finite(NonFinitePolicy::Propagate);
    let out = Sampler::<B>::sample(&langevin, &blow_up(), init, &run).unwrap();
    assert_eq!(out.resets, 0);
    let x = out.final_state.into_data().to_vec::<f32>().unwrap();
    assert!(!x[1].is_finite(), "{x:?}");
}

/// `E = ½x²` for `|x| ≤ 1`, NaN beyond: an energy that turns NaN away from its mode.
fn nan_beyond_one() -> FromLogDensity<impl Fn(Tensor<B, 2>) -> Tensor<B, 1> + Send + Sync> {
    FromLogDensity::new(Some(1), |x: Tensor<B, 2>| {
        let n = x.dims()[0];
        let outside = x.clone().abs().greater_elem(1.0);
        let log_p = x.square().div_scalar(-2.0);
        log_p.mask_fill(outside, f32::NAN).reshape([n])
    })
}

#[test]
fn mala_reports_an_energy_that_turns_nan() {
    let device = Default::default();
    let mala = MalaConfig::new().step_size(0.5).init().unwrap();
    // Chains started where the energy is NaN would reject every proposal, frozen: an error.
    let init = Tensor::<Cpu, 2>::from_data([[0.1], [3.0], [-0.2]], &device);
    let run = RunConfig::new(20).with_seed(2);
    match Sampler::<B>::sample(&mala, &nan_beyond_one(), init, &run) {
        Err(SampleError::NonFinite { chains, .. }) => assert_eq!(chains, [1]),
        other => panic!("expected a NonFinite error, got {other:?}"),
    }
    // Chains inside: proposals beyond 1 are rejected and counted, the warm-up's apart.
    let init = Tensor::<Cpu, 2>::zeros([64, 1], &device);
    let run = RunConfig::new(50).with_n_warmup(50).with_seed(3);
    let out = Sampler::<B>::sample(&mala, &nan_beyond_one(), init, &run).unwrap();
    let x = out.final_state.clone().into_data().to_vec::<f32>().unwrap();
    assert!(x.iter().all(|v| v.abs() <= 1.0), "{x:?}");
    let (sampling, warmup) = (out.divergences(), out.warmup_divergences());
    // P(|y| > 1) for a proposal from inside is roughly 0.3: about 1000 of 3200 each.
    for count in [sampling, warmup] {
        assert!((300..2500).contains(&count), "{sampling} / {warmup}");
    }
    // On a healthy energy, none.
    let init = Tensor::<Cpu, 2>::zeros([64, 1], &device);
    let out = Sampler::<B>::sample(&mala, &Harmonic::new(1.0).unwrap(), init, &run).unwrap();
    assert_eq!(out.divergences() + out.warmup_divergences(), 0);
}

#[test]
fn bounded_diagnostics_keep_memory_flat() {
    let device = Default::default();
    let langevin = LangevinConfig::new().step_size(0.1).init().unwrap();
    let energy = Harmonic::new(1.0).unwrap();
    let run = |steps: usize, max: Option<usize>| {
        let init = Tensor::<Cpu, 2>::zeros([64, 2], &device);
        let run = RunConfig::new(steps)
            .with_diagnostics(true)
            .with_max_diagnostic_records(max)
            .with_seed(4);
        let out = Sampler::<B>::sample(&langevin, &energy, init, &run).unwrap();
        out.diagnostics.unwrap()
    };
    // Whatever the length, at most 2·max records, spread evenly over the whole run.
    for steps in [1000, 4000] {
        let d = run(steps, Some(50));
        assert!((50..100).contains(&d.steps.len()), "{}", d.steps.len());
        let stride = d.steps[1].step - d.steps[0].step;
        assert!(d.steps.windows(2).all(|w| w[1].step - w[0].step == stride));
        assert!(
            d.steps.last().unwrap().step + stride >= steps,
            "the records stop early"
        );
        // The draws of a Langevin chain on N(0, I) with η = 0.1 thinned by ≥ 16 are nearly
        // independent: ESS close to the number of recorded draws, R̂ close to 1.
        let recorded = (64 * d.steps.len()) as f64;
        for (ess, rhat) in d.ess.unwrap().iter().zip(d.split_rhat.unwrap()) {
            assert!(
                *ess > 0.5 * recorded && *ess < 1.5 * recorded,
                "{ess} of {recorded}"
            );
            assert!((rhat - 1.0).abs() < 0.05, "{rhat}");
        }
    }
    assert_eq!(run(1000, None).steps.len(), 1000);
}

#[test]
fn bad_input_gives_typed_errors() {
    let device = Default::default();
    let zero_step = LangevinConfig::new().step_size(0.0).init();
    assert!(matches!(
        zero_step,
        Err(SampleError::Schedule(ebm_core::schedule::InvalidSchedule {
            field: "step_size",
            ..
        }))
    ));
    let negative_noise = LangevinConfig::new().noise_scale(-1.0).init();
    assert!(matches!(
        negative_noise,
        Err(SampleError::Schedule(ebm_core::schedule::InvalidSchedule {
            field: "noise_scale",
            ..
        }))
    ));
    assert!(matches!(
        MalaConfig::new().step_size(-0.1).init(),
        Err(SampleError::Schedule(ebm_core::schedule::InvalidSchedule {
            field: "step_size",
            ..
        }))
    ));
    assert!(matches!(
        HmcConfig::new().with_n_leapfrog(0).init(),
        Err(SampleError::InvalidParameter(ebm_core::InvalidParameter {
            name: "n_leapfrog",
            ..
        }))
    ));
    assert!(matches!(
        HmcConfig::new().with_mass(Mass::Scalar(0.0)).init(),
        Err(SampleError::InvalidParameter(ebm_core::InvalidParameter {
            name: "mass",
            ..
        }))
    ));
    assert!(matches!(
        NesterovConfig::new().with_momentum(1.0).init(),
        Err(SampleError::InvalidParameter(ebm_core::InvalidParameter {
            name: "momentum",
            ..
        }))
    ));
    let langevin = LangevinConfig::new().init().unwrap();
    let thin0 = RunConfig::new(10).with_thin(0);
    assert!(matches!(
        Sampler::<B>::sample_from_noise(&langevin, &target(), 4, 2, &device, &thin0),
        Err(SampleError::InvalidParameter(ebm_core::InvalidParameter {
            name: "thin",
            ..
        }))
    ));
    let run = RunConfig::new(10);
    let wrong_width = Tensor::<Cpu, 2>::zeros([4, 3], &device);
    assert!(matches!(
        Sampler::<B>::sample(&langevin, &target(), wrong_width, &run),
        Err(SampleError::Input(EnergyError::Dimension {
            expected: 2,
            got: 3
        }))
    ));
    assert!(matches!(
        Sampler::<B>::sample_from_noise(&langevin, &target(), 0, 2, &device, &run),
        Err(SampleError::InvalidParameter(ebm_core::InvalidParameter {
            name: "n_chains",
            ..
        }))
    ));
    let hmc = HmcConfig::new()
        .with_mass(Mass::Diagonal(vec![1.0, 2.0, 3.0]))
        .init()
        .unwrap();
    assert!(matches!(
        Sampler::<B>::sample_from_noise(&hmc, &target(), 4, 2, &device, &run),
        Err(SampleError::Input(EnergyError::LengthMismatch { .. }))
    ));
}
