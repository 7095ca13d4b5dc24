//! A replay buffer on a fixed target keeps the target's moments: persistent CD with no learning
//! is a Markov chain per slot, and Langevin with step η on N(0, I) has the stationary law
//! N(0, I/(1 − η/2)), so the buffer must settle at mean 0 and mean ‖x‖² = 2/(1 − η/2). When the
//! slot draw and the sampler's noise came from generators with the same seed, each chain's
//! first kick was a function of its slot; restoring that defect here gives mean ‖x‖² = 2.73
//! (an independent check measured 4.56 in its own setting).

use burn::tensor::Tensor;
use ebm_core::analytic::Gaussian;
use ebm_sample::LangevinConfig;
use ebm_testing::TestBackend as B;
use ebm_train::{Objective, PersistentContrastiveDivergenceConfig, TrainStep};

#[test]
fn a_replay_buffer_on_a_fixed_gaussian_keeps_its_moments() {
    let device = Default::default();
    let target = Gaussian::standard(2).unwrap();
    let langevin = LangevinConfig::new().step_size(0.1).init().unwrap();
    // The buffer starts at 3× the target's scale, so it must relax; no restarts from noise,
    // which would pull it back towards that wide start.
    let mut pcd = PersistentContrastiveDivergenceConfig::new()
        .with_k(5)
        .with_buffer_size(1000)
        .with_restart_fraction(0.0)
        .with_init_scale(3.0)
        .init::<B, _>(langevin)
        .unwrap();
    let batch = Tensor::<B, 2>::zeros([100, 2], &device);
    // 300 batches of 100: every slot is revisited about 30 times, 150 Langevin steps in all.
    for step in 0..300 {
        Objective::<B, Gaussian>::loss(&mut pcd, &target, batch.clone(), TrainStep::new(step, 9))
            .unwrap();
    }
    let states = Objective::<B, Gaussian>::to_record(&pcd).unwrap();
    let x = states.into_data().to_vec::<f32>().unwrap();
    let n = (x.len() / 2) as f64;
    let sq = x.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / n;
    let mean = [0, 1].map(|j| x.iter().skip(j).step_by(2).map(|v| *v as f64).sum::<f64>() / n);
    // Monte Carlo standard errors for 1000 slots: 0.063 for ‖x‖² and 0.032 for each mean.
    let want = 2.0 / (1.0 - 0.1 / 2.0);
    assert!((sq - want).abs() < 0.25, "mean ‖x‖² = {sq}, want {want}");
    assert!(mean.iter().all(|m| m.abs() < 0.13), "mean {mean:?}, want 0");
}
