//! HMC's ensemble mass adaptation on an ill-conditioned Gaussian: `N(0, diag(v))` in 10
//! dimensions with variances from 0.01 to 10 (condition number 1000). With a unit mass the step
//! size must resolve the narrowest coordinate and the widest one random-walks; the adapted mass
//! makes the target isotropic.

use super::*;

fn variances() -> Vec<f64> {
    (0..10).map(|i| 10f64.powf(i as f64 / 3.0 - 2.0)).collect()
}

fn target_of(v: &[f64]) -> Gaussian {
    let d = v.len();
    let covariance = (0..d)
        .map(|i| (0..d).map(|j| if i == j { v[i] } else { 0.0 }).collect())
        .collect();
    Gaussian::new(vec![0.0; d], covariance).unwrap()
}

/// 64 chains, 300 warm-up steps with the step size adapting to 0.8, then 400 kept steps: the
/// per-coordinate variance of the draws and the smallest ESS.
fn run(adapt_mass: bool) -> (Vec<f64>, f64) {
    let v = variances();
    let hmc = HmcConfig::new()
        .step_size(0.05)
        .with_n_leapfrog(10)
        .with_step_jitter(0.2)
        .with_target_acceptance(Some(0.8))
        .with_mass_adaptation(adapt_mass.then(MassAdaptationConfig::new))
        .init()
        .unwrap();
    let run = RunConfig::new(400)
        .with_n_warmup(300)
        .with_keep_trajectory(true)
        .with_diagnostics(true)
        .with_seed(5);
    let out =
        Sampler::<B>::sample_from_noise(&hmc, &target_of(&v), 64, 10, &Default::default(), &run)
            .unwrap();
    let draws: Vec<f64> = out
        .trajectory
        .unwrap()
        .into_data()
        .convert::<f64>()
        .to_vec()
        .unwrap();
    let n = (draws.len() / 10) as f64;
    let sample_variances = (0..10)
        .map(|j| {
            let column = draws.iter().skip(j).step_by(10);
            let mean = column.clone().sum::<f64>() / n;
            column.map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
        })
        .collect();
    let ess = out.diagnostics.unwrap().ess.unwrap();
    (
        sample_variances,
        ess.into_iter().fold(f64::INFINITY, f64::min),
    )
}

#[test]
fn an_ensemble_mass_makes_an_ill_conditioned_gaussian_easy() {
    if ebm_testing::BACKEND_NAME != "ndarray" {
        return; // 7000 leapfrog steps of host statistics; the window estimate's tensor code is unit-tested on every backend
    }
    let (adapted, adapted_ess) = run(true);
    let (_, unit_ess) = run(false);
    println!(
        "min ESS: adapted mass {adapted_ess:.0}, unit mass {unit_ess:.0}; variances {adapted:?}"
    );
    for (got, want) in adapted.iter().zip(variances()) {
        assert!((got / want - 1.0).abs() < 0.2, "variance {got} vs {want}");
    }
    assert!(adapted_ess > 5.0 * unit_ess, "{adapted_ess} vs {unit_ess}");
    assert!(adapted_ess > 1000.0, "{adapted_ess}");
}

/// The inverse mass after a warm-up is the pooled window variance: within 15% of the target's
/// variances from 1024 chains (standard error about 4%), stepped by hand so that the state
/// can be read.
#[test]
fn the_adapted_inverse_mass_is_the_target_variance() {
    if ebm_testing::BACKEND_NAME != "ndarray" {
        return;
    }
    let v = variances();
    let target = target_of(&v);
    let hmc = HmcConfig::new()
        .step_size(0.05)
        .with_n_leapfrog(10)
        .with_step_jitter(0.2)
        .with_mass_adaptation(Some(MassAdaptationConfig::new()))
        .init()
        .unwrap();
    let n_warmup = 150;
    // Started from the target itself, so that the window sees its variance, not a burn-in.
    let mut noise = Noise::new(2);
    let device = Default::default();
    let scale: Vec<f32> = v.iter().map(|v| v.sqrt() as f32).collect();
    let scale = Tensor::<Cpu, 2>::from_data(TensorData::new(scale, [1, 10]), &device);
    let start = noise.normal([1024, 10], &scale) * scale;
    let mut state = Transition::<B>::init_state(&hmc, start).unwrap();
    let mut updates = 0;
    for k in 0..n_warmup {
        let step = Step {
            index: k,
            size: 0.05,
        };
        state = Transition::<B>::step(&hmc, &target, state, step, &mut noise).0;
        let (next, changed) = Transition::<B>::adapt_state(&hmc, state, k, n_warmup);
        state = next;
        updates += changed as usize;
    }
    // Stan's windows for 150 steps: one, 75–99, then the final buffer.
    assert_eq!(updates, 1);
    let inv: Vec<f64> = state
        .inverse_mass()
        .clone()
        .into_data()
        .convert::<f64>()
        .to_vec()
        .unwrap();
    for (got, want) in inv.iter().zip(&v) {
        assert!(
            (got / want - 1.0).abs() < 0.15,
            "inverse mass {inv:?} vs {v:?}"
        );
    }
}
