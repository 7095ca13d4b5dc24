//! Nested R̂ on many short MALA chains: 8 superchains of 32 chains, each superchain started at
//! its own point on a circle of radius 4 around the target's mean. Five kept draws right after
//! the start flag the superchains as apart; five after a warm-up of 100 steps pass.

use super::*;

fn nested(n_warmup: usize) -> Vec<f64> {
    let (k, m) = (8, 32);
    let starts: Vec<f32> = (0..k)
        .flat_map(|s| {
            let a = std::f64::consts::TAU * s as f64 / k as f64;
            let at = [(1.0 + 4.0 * a.cos()) as f32, (-1.0 + 4.0 * a.sin()) as f32];
            std::iter::repeat_n(at, m).flatten()
        })
        .collect();
    let init =
        Tensor::<Cpu, 2>::from_data(TensorData::new(starts, [k * m, 2]), &Default::default());
    let mala = MalaConfig::new().step_size(0.3).init().unwrap();
    let run = RunConfig::new(5)
        .with_n_warmup(n_warmup)
        .with_keep_trajectory(true)
        .with_seed(9);
    let out = Sampler::<B>::sample(&mala, &target(), init, &run).unwrap();
    let trajectory = out.trajectory.unwrap();
    let [chains, kept, d] = trajectory.dims();
    let v: Vec<f64> = trajectory.into_data().convert::<f64>().to_vec().unwrap();
    let draws: Vec<Vec<Vec<f64>>> = (0..chains)
        .map(|c| {
            (0..kept)
                .map(|t| v[(c * kept + t) * d..(c * kept + t + 1) * d].to_vec())
                .collect()
        })
        .collect();
    nested_rhat_per_coordinate(&draws, k).unwrap()
}

#[test]
fn nested_rhat_flags_unmixed_superchains_and_passes_mixed_ones() {
    if ebm_testing::BACKEND_NAME != "ndarray" {
        return; // host statistics around MALA, which the other tests check on every backend
    }
    let early = nested(0);
    assert!(
        early.iter().all(|&r| r > 1.3),
        "right after the start: {early:?}"
    );
    // Autocorrelated draws sit above the floor √(1 + 1/160) ≈ 1.003.
    let late = nested(100);
    println!("nested R̂ right after the start {early:?}, after 100 warm-up steps {late:?}");
    assert!(late.iter().all(|&r| r < 1.02), "after warm-up: {late:?}");
}
