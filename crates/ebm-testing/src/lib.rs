//! The backend every backend-generic test runs on.
//!
//! NdArray by default; `cargo test --workspace --features ebm-testing/wgpu` runs the same tests
//! on WGPU (CI uses Mesa's lavapipe, a software Vulkan driver). Tests compare against reference
//! values with [`tolerance`], which widens on GPU backends whose reductions and transcendental
//! functions round differently from NdArray's.
#![forbid(unsafe_code)]

use burn::backend::Autodiff;

/// The plain (non-autodiff) test backend.
#[cfg(not(feature = "wgpu"))]
pub type TestInner = burn::backend::NdArray;
/// The plain (non-autodiff) test backend.
#[cfg(feature = "wgpu")]
pub type TestInner = burn::backend::Wgpu;

/// The autodiff test backend.
pub type TestBackend = Autodiff<TestInner>;

/// The backend's name, for messages.
pub const BACKEND_NAME: &str = if cfg!(feature = "wgpu") {
    "wgpu"
} else {
    "ndarray"
};

/// A tolerance stated for NdArray, scaled for the backend under test.
///
/// WGPU shaders use fused multiply-adds, tree reductions and approximate `exp`/`tanh`, so
/// results differ from NdArray's by a few float32 ulps per op; ×10 covers every check here.
pub fn tolerance(ndarray: f64) -> f64 {
    if cfg!(feature = "wgpu") {
        ndarray * 10.0
    } else {
        ndarray
    }
}

/// A `shape` tensor of N(0, std²) draws from a generator seeded with `seed`.
///
/// Tests use this rather than `Tensor::random`, whose backend RNG is shared by all the tests
/// running in parallel threads: a seeded draw there is not reproducible.
pub fn normal<B: burn::tensor::backend::Backend, const D: usize>(
    shape: [usize; D],
    std: f32,
    seed: u64,
    device: &B::Device,
) -> burn::tensor::Tensor<B, D> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let count = shape.iter().product();
    let values: Vec<f32> = (0..count)
        .map(|_| std * rng.sample::<f32, _>(rand_distr::StandardNormal))
        .collect();
    burn::tensor::Tensor::from_data(burn::tensor::TensorData::new(values, shape), device)
}
