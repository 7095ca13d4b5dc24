//! The backend every backend-generic test runs on.
//!
//! NdArray by default; `cargo test --workspace --features ebm-testing/wgpu` runs the same tests
//! on WGPU (CI uses Mesa's lavapipe, a software Vulkan driver). Tests compare against reference
//! values with [`tolerance`], which widens on GPU backends whose reductions and transcendental
//! functions round differently from NdArray's.

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
