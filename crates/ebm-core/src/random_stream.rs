//! One seed for a run, and a named stream derived from it for every consumer of randomness.
//!
//! Two consumers seeded alike draw alike. When persistent CD seeded its slot draw and its
//! sampler with the same number, every revisit of a slot got the same first noise angle, and a
//! replay buffer on a fixed N(0, I) settled at mean ‖x‖² = 4.56 instead of 2. Every consumer
//! therefore derives its own seed with [`stream_seed`] from the run's seed, its stream name and
//! an index (the optimiser step, the epoch).
//!
//! | stream | consumer |
//! |---|---|
//! | `trainer/order` (epoch) | the order of the data rows |
//! | `cd/start`, `cd/sampler` (step) | CD's chain starts, its sampler's noise |
//! | `pcd/buffer` (0), `pcd/slots`, `pcd/restarts`, `pcd/sampler` (step) | PCD's replay buffer |
//! | `score_matching/probes`, `sliced_score_matching/projections` (step) | probe vectors |
//! | `denoising/noise`, `multiscale_denoising/noise` (step) | the noise and the levels of DSM |
//! | `sampler/init` (0), `sampler/noise` (0) | a sampler run's chains from noise, its noise |
//! | `model/init` (0), through [`model_seed`] | a model's initial parameters |
//! | `data/generate` (0), through [`data_seed`] | a synthetic dataset |
//!
//! A model and a dataset are built before the trainer, so their configs take a seed of their own;
//! [`model_seed`] and [`data_seed`] derive those from the run's seed, so that one number seeds a
//! whole program and no two consumers share a generator:
//!
//! ```
//! use burn::backend::{Autodiff, NdArray};
//! use ebm_core::neural::MlpConfig;
//! use ebm_core::random_stream::{data_seed, model_seed};
//!
//! const SEED: u64 = 3;
//! let device = Default::default();
//! let model = MlpConfig::new(2, vec![16])
//!     .with_seed(model_seed(SEED))
//!     .init::<Autodiff<NdArray>>(&device)
//!     .unwrap();
//! assert_ne!(model_seed(SEED), data_seed(SEED));
//! // … and `TrainerConfig::with_seed(SEED)`, `RunConfig::with_seed(SEED)` for the rest.
//! ```

/// The seed of stream `name` at `index` for a run seeded with `seed`: a SplitMix64 mix of the
/// three (the name through FNV-1a), so that different names, indices or seeds give unrelated
/// generators.
///
/// ```
/// use ebm_core::random_stream::stream_seed;
/// assert_ne!(stream_seed(7, "pcd/slots", 3), stream_seed(7, "pcd/sampler", 3));
/// assert_ne!(stream_seed(7, "pcd/slots", 3), stream_seed(7, "pcd/slots", 4));
/// assert_eq!(stream_seed(7, "pcd/slots", 3), stream_seed(7, "pcd/slots", 3));
/// ```
pub fn stream_seed(seed: u64, name: &str, index: u64) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for byte in name.bytes() {
        hash = (hash ^ byte as u64).wrapping_mul(0x0000_0100_0000_01b3);
    }
    mix(mix(mix(seed) ^ hash) ^ index)
}

/// The seed of a model's initial parameters in a run seeded with `seed` (stream `model/init`),
/// for a model config's `with_seed`.
pub fn model_seed(seed: u64) -> u64 {
    stream_seed(seed, "model/init", 0)
}

/// The seed of a synthetic dataset in a run seeded with `seed` (stream `data/generate`), for a
/// dataset config's `with_seed`.
pub fn data_seed(seed: u64) -> u64 {
    stream_seed(seed, "data/generate", 0)
}

/// The generator behind every random draw of the workspace: PCG-64 MCG (`rand_pcg::Pcg64Mcg`,
/// 128-bit multiplicative congruential state, XSL-RR output). Its output for a seed is fixed by
/// its specification, the same on every platform and in every release; rand's `SmallRng` and
/// `StdRng` promise neither. Value-stability tests pin what it draws.
pub type StreamRng = rand_pcg::Pcg64Mcg;

/// The generator for `seed`.
pub fn seeded_rng(seed: u64) -> StreamRng {
    rand::SeedableRng::seed_from_u64(seed)
}

/// The generator of stream `name` at `index` for a run seeded with `seed`
/// (`seeded_rng(stream_seed(seed, name, index))`).
pub fn stream_rng(seed: u64, name: &str, index: u64) -> StreamRng {
    seeded_rng(stream_seed(seed, name, index))
}

/// SplitMix64's finaliser.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Value stability: a change of the derivation changes every run's numbers, so it must be
    /// deliberate.
    #[test]
    fn derived_seeds_are_stable() {
        assert_eq!(stream_seed(0, "trainer/order", 0), 0x58ff_7f08_7fce_1564);
        assert_eq!(stream_seed(42, "pcd/slots", 17), 0x56d0_571b_31b6_0937);
        assert_eq!(model_seed(3), 0xdacf_afbe_7139_60b7);
        assert_eq!(data_seed(3), 0x7bc9_6b10_1413_5af6);
    }

    /// Value stability of the generator itself (PCG-64 MCG as rand_core seeds it).
    #[test]
    fn the_generator_of_a_seed_is_pinned() {
        use rand::RngCore;
        let mut rng = seeded_rng(42);
        let drawn: Vec<u64> = (0..3).map(|_| rng.next_u64()).collect();
        assert_eq!(
            drawn,
            [
                0x92d6_e5d9_42f4_ad9b,
                0x2220_622a_f23e_6e6f,
                0x5b1e_9c79_7ef9_e726
            ]
        );
    }

    #[test]
    fn names_indices_and_seeds_separate_the_streams() {
        let mut seen = std::collections::HashSet::new();
        for seed in 0..4 {
            for name in ["pcd/slots", "pcd/sampler", "pcd/restarts", "cd/start"] {
                for index in 0..64 {
                    assert!(seen.insert(stream_seed(seed, name, index)));
                }
            }
        }
    }
}
