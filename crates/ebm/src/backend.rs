//! Autodiff backends selected by the cargo features, and [`with_backend!`](crate::with_backend)
//! to pick one of them by name at run time.
//!
//! Every alias is Burn's `Autodiff<_>` over a compute backend, so the same model code trains and
//! samples on all of them; the analytic energies are energies on exactly these
//! (`Autodiff<IB>` for any inner backend `IB`). Generic code bounds its backend by
//! [`EbmBackend`]: every alias here is one, and it is what the neural energies need (the CPU
//! kernels each backend runs, declared by [`CpuKernels`]).

pub use ebm_core::cpu_kernels::{CpuKernels, EbmBackend, HostKernels};

/// NdArray on the CPU, with autodiff.
#[cfg(feature = "ndarray")]
pub type Cpu = burn::backend::Autodiff<burn::backend::NdArray>;
/// Burn's Flex CPU backend (SIMD kernels, `gemm` matmul), with autodiff.
#[cfg(feature = "flex")]
pub type Flex = burn::backend::Autodiff<burn::backend::Flex>;
/// WGPU (any GPU), with autodiff.
#[cfg(feature = "wgpu-unfused")]
pub type Wgpu = burn::backend::Autodiff<burn::backend::Wgpu>;
/// CUDA (NVIDIA GPUs), with autodiff.
#[cfg(feature = "cuda-unfused")]
pub type Cuda = burn::backend::Autodiff<burn::backend::Cuda>;

/// The names [`with_backend!`](crate::with_backend) accepts in this build, in the order
/// `ndarray`, `flex`, `wgpu`, `cuda`, each present when its cargo feature is enabled.
pub fn enabled() -> Vec<&'static str> {
    [
        ("ndarray", cfg!(feature = "ndarray")),
        ("flex", cfg!(feature = "flex")),
        ("wgpu", cfg!(feature = "wgpu-unfused")),
        ("cuda", cfg!(feature = "cuda-unfused")),
    ]
    .into_iter()
    .filter_map(|(name, on)| on.then_some(name))
    .collect()
}

/// A backend name that this build does not have: unknown, or its cargo feature is off.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "backend `{name}` is not enabled in this build (enabled: {}); the backends are ndarray, flex, wgpu and cuda, each behind the cargo feature of that name",
    enabled().join(", ")
)]
pub struct UnknownBackend {
    /// The name that was asked for.
    pub name: String,
}

/// Runs an expression with a type alias bound to the backend named at run time, among those
/// whose cargo features are enabled: `with_backend!(name, B => expr)` evaluates `expr` with
/// `type B = ebm::backend::Cpu` for `"ndarray"`, `Flex` for `"flex"`, `Wgpu` for `"wgpu"` and
/// `Cuda` for `"cuda"`, and gives `Ok(expr)`, or `Err(UnknownBackend)` for a name this build
/// lacks. Each enabled arm compiles `expr` once with its concrete backend.
///
/// ```
/// use ebm::prelude::*;
///
/// fn energy_at<B: EbmBackend>(point: [f32; 2]) -> f32 {
///     let x = ebm::burn::tensor::Tensor::<Inner<B>, 2>::from_data([point], &Default::default());
///     let e = MlpConfig::new(2, vec![8]).init::<B>(&Default::default()).unwrap().energy_value(x);
///     e.into_data().to_vec::<f32>().unwrap()[0]
/// }
///
/// // Backend-generic code runs on the backend named at run time, e.g. from `--backend`.
/// let e = ebm::with_backend!("ndarray", B => energy_at::<B>([0.0, 1.0])).unwrap();
/// assert!(e.is_finite());
/// let missing = ebm::with_backend!("tpu", B => energy_at::<B>([0.0, 1.0])).unwrap_err();
/// assert_eq!(missing.name, "tpu");
/// ```
#[macro_export]
macro_rules! with_backend {
    ($name:expr, $b:ident => $body:expr) => {{
        let name: &str = $name;
        match name {
            "ndarray" => $crate::__backend_arm_ndarray!($b, $body),
            "flex" => $crate::__backend_arm_flex!($b, $body),
            "wgpu" => $crate::__backend_arm_wgpu!($b, $body),
            "cuda" => $crate::__backend_arm_cuda!($b, $body),
            other => ::core::result::Result::Err($crate::backend::UnknownBackend {
                name: other.to_string(),
            }),
        }
    }};
}

// One arm per backend, defined here so that the cargo features of `ebm` (not of the crate that
// calls the macro) decide which arms exist.
#[cfg(feature = "ndarray")]
#[doc(hidden)]
#[macro_export]
macro_rules! __backend_arm_ndarray {
    ($b:ident, $body:expr) => {{
        type $b = $crate::backend::Cpu;
        ::core::result::Result::Ok($body)
    }};
}
#[cfg(not(feature = "ndarray"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __backend_arm_ndarray {
    ($b:ident, $body:expr) => {
        ::core::result::Result::Err($crate::backend::UnknownBackend {
            name: "ndarray".to_string(),
        })
    };
}
#[cfg(feature = "flex")]
#[doc(hidden)]
#[macro_export]
macro_rules! __backend_arm_flex {
    ($b:ident, $body:expr) => {{
        type $b = $crate::backend::Flex;
        ::core::result::Result::Ok($body)
    }};
}
#[cfg(not(feature = "flex"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __backend_arm_flex {
    ($b:ident, $body:expr) => {
        ::core::result::Result::Err($crate::backend::UnknownBackend {
            name: "flex".to_string(),
        })
    };
}
#[cfg(feature = "wgpu-unfused")]
#[doc(hidden)]
#[macro_export]
macro_rules! __backend_arm_wgpu {
    ($b:ident, $body:expr) => {{
        type $b = $crate::backend::Wgpu;
        ::core::result::Result::Ok($body)
    }};
}
#[cfg(not(feature = "wgpu-unfused"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __backend_arm_wgpu {
    ($b:ident, $body:expr) => {
        ::core::result::Result::Err($crate::backend::UnknownBackend {
            name: "wgpu".to_string(),
        })
    };
}
#[cfg(feature = "cuda-unfused")]
#[doc(hidden)]
#[macro_export]
macro_rules! __backend_arm_cuda {
    ($b:ident, $body:expr) => {{
        type $b = $crate::backend::Cuda;
        ::core::result::Result::Ok($body)
    }};
}
#[cfg(not(feature = "cuda-unfused"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __backend_arm_cuda {
    ($b:ident, $body:expr) => {
        ::core::result::Result::Err($crate::backend::UnknownBackend {
            name: "cuda".to_string(),
        })
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backend_without_its_feature_is_an_error_naming_the_enabled_ones() {
        let err = crate::with_backend!("tpu", B => std::any::type_name::<B>()).unwrap_err();
        assert_eq!(err.name, "tpu");
        assert!(err.to_string().contains("ndarray"), "{err}");
        #[cfg(not(feature = "cuda-unfused"))]
        assert_eq!(
            crate::with_backend!("cuda", B => std::any::type_name::<B>()).unwrap_err(),
            UnknownBackend {
                name: "cuda".into()
            }
        );
    }

    #[cfg(feature = "ndarray")]
    #[test]
    fn the_name_picks_the_alias() {
        let name = crate::with_backend!("ndarray", B => std::any::type_name::<B>()).unwrap();
        assert_eq!(name, std::any::type_name::<Cpu>());
        assert_eq!(enabled()[0], "ndarray");
    }
}
