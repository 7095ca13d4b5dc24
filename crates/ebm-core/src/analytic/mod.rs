//! Analytic energies with closed-form energy, gradient and (where cheap) Hessian-vector product.
//!
//! Each formula is written once, generic over any [`Backend`], and serves both the tracked path
//! (on the autodiff backend) and the graph-free path (on its inner backend). Through the blanket
//! implementation below every [`AnalyticEnergy`] is an [`Energy`] on Burn's `Autodiff<IB>` for
//! every backend `IB` (all the aliases of `ebm::backend`), and its gradient never goes through
//! autodiff.
//!
//! The implementation is for `Autodiff<IB>`, not for any autodiff backend, so that the tensor a
//! caller passes names the backend: `gaussian.grad_energy(x)` with `x` on NdArray is the energy
//! on `Autodiff<NdArray>`, with no turbofish. Generic code over `B: AutodiffBackend` states the
//! fact it relies on, `where Gaussian: Energy<B>`, which every alias satisfies.
//!
//! ```
//! use burn::backend::NdArray;
//! use burn::tensor::Tensor;
//! use burn::tensor::backend::AutodiffBackend;
//! use ebm_core::{Energy, Inner, analytic::Gaussian};
//!
//! // Concrete code: the backend comes from the tensor.
//! let g = Gaussian::standard(2).unwrap();
//! let x = Tensor::<NdArray, 2>::from_data([[1.0, 2.0]], &Default::default());
//! assert_eq!(g.grad_energy(x).into_data().to_vec::<f32>().unwrap(), vec![1.0, 2.0]);
//!
//! // Generic code: the bound says the analytic energy lives on `B`.
//! fn energy_at<B: AutodiffBackend>(g: &Gaussian, x: Tensor<Inner<B>, 2>) -> Tensor<Inner<B>, 1>
//! where
//!     Gaussian: Energy<B>,
//! {
//!     g.energy_value(x)
//! }
//! ```

mod ackley;
mod banana;
mod booth;
mod double_well;
mod funnel;
mod gaussian;
mod harmonic;
mod himmelblau;
mod rastrigin;
mod rosenbrock;
mod styblinski_tang;

pub use ackley::Ackley;
pub use banana::Banana;
pub use booth::Booth;
pub use double_well::DoubleWell;
pub use funnel::Funnel;
pub use gaussian::Gaussian;
pub use harmonic::Harmonic;
pub use himmelblau::Himmelblau;
pub use rastrigin::Rastrigin;
pub use rosenbrock::Rosenbrock;
pub use styblinski_tang::StyblinskiTang;

use burn::backend::Autodiff;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use crate::cpu_kernels::CpuKernels;

use crate::energy::{Energy, SecondOrderEnergy};

/// An energy given by a closed-form formula and closed-form gradient, on any backend.
pub trait AnalyticEnergy: Send + Sync + std::fmt::Debug {
    /// Number of features per sample, or `None` if the formula works in any dimension.
    fn input_dim(&self) -> Option<usize>;

    /// `E(x)`, `[N, D] → [N]`.
    fn energy<Bk: CpuKernels>(&self, x: Tensor<Bk, 2>) -> Tensor<Bk, 1>;

    /// `+∇ₓE(x)`, `[N, D] → [N, D]`, in closed form.
    fn grad_energy<Bk: CpuKernels>(&self, x: Tensor<Bk, 2>) -> Tensor<Bk, 2>;

    /// `E(x)` and `+∇ₓE(x)`; override when the two share work.
    fn energy_and_grad<Bk: CpuKernels>(&self, x: Tensor<Bk, 2>) -> (Tensor<Bk, 1>, Tensor<Bk, 2>) {
        (self.energy(x.clone()), self.grad_energy(x))
    }
}

/// Analytic energies whose Hessian-vector product has a closed form (needed to use them inside
/// score-matching objectives, e.g. as the analytic part of a [`crate::neural::Hybrid`]).
pub trait AnalyticHessian: AnalyticEnergy {
    /// `∇ₓ²E(x)·v` for each row.
    fn hvp<Bk: CpuKernels>(&self, x: Tensor<Bk, 2>, v: Tensor<Bk, 2>) -> Tensor<Bk, 2>;
}

impl<IB: CpuKernels, A: AnalyticEnergy> Energy<Autodiff<IB>> for A {
    fn input_dim(&self) -> Option<usize> {
        AnalyticEnergy::input_dim(self)
    }

    fn energy(&self, x: Tensor<Autodiff<IB>, 2>) -> Tensor<Autodiff<IB>, 1> {
        crate::assert_batch(
            std::any::type_name::<Self>(),
            Energy::<Autodiff<IB>>::input_dim(self),
            x.dims(),
        );
        AnalyticEnergy::energy(self, x)
    }

    fn energy_value(&self, x: Tensor<IB, 2>) -> Tensor<IB, 1> {
        crate::assert_batch(
            std::any::type_name::<Self>(),
            Energy::<Autodiff<IB>>::input_dim(self),
            x.dims(),
        );
        AnalyticEnergy::energy(self, x)
    }

    fn energy_and_grad(&self, x: Tensor<IB, 2>) -> (Tensor<IB, 1>, Tensor<IB, 2>) {
        crate::assert_batch(
            std::any::type_name::<Self>(),
            Energy::<Autodiff<IB>>::input_dim(self),
            x.dims(),
        );
        AnalyticEnergy::energy_and_grad(self, x)
    }

    fn grad_energy(&self, x: Tensor<IB, 2>) -> Tensor<IB, 2> {
        crate::assert_batch(
            std::any::type_name::<Self>(),
            Energy::<Autodiff<IB>>::input_dim(self),
            x.dims(),
        );
        AnalyticEnergy::grad_energy(self, x)
    }
}

impl<IB: CpuKernels, A: AnalyticHessian> SecondOrderEnergy<Autodiff<IB>> for A {
    fn grad_energy_tracked(&self, x: Tensor<Autodiff<IB>, 2>) -> Tensor<Autodiff<IB>, 2> {
        crate::assert_batch(
            std::any::type_name::<Self>(),
            Energy::<Autodiff<IB>>::input_dim(self),
            x.dims(),
        );
        AnalyticEnergy::grad_energy(self, x)
    }

    fn grad_and_hvp_tracked(
        &self,
        x: Tensor<Autodiff<IB>, 2>,
        v: Tensor<Autodiff<IB>, 2>,
    ) -> (Tensor<Autodiff<IB>, 2>, Tensor<Autodiff<IB>, 2>) {
        crate::assert_batch(
            std::any::type_name::<Self>(),
            Energy::<Autodiff<IB>>::input_dim(self),
            x.dims(),
        );

        crate::assert_probes(std::any::type_name::<Self>(), x.dims(), v.dims(), false);
        (AnalyticEnergy::grad_energy(self, x.clone()), self.hvp(x, v))
    }
}

/// Analytic energies are Burn modules with no parameters (an empty record, like a constant), so
/// that they sit beside networks in a trainable combination such as
/// `Composite<B, (Gaussian, Mlp<B>)>`.
macro_rules! parameter_free_module {
    ($($ty:ty),+ $(,)?) => {$(
        impl<B: Backend> burn::module::Module<B> for $ty {
            type Record = burn::module::EmptyRecord;

            fn collect_devices(&self, devices: burn::module::Devices<B>) -> burn::module::Devices<B> {
                devices
            }

            fn fork(self, _device: &B::Device) -> Self {
                self
            }

            fn to_device(self, _device: &B::Device) -> Self {
                self
            }

            fn visit<V: burn::module::ModuleVisitor<B>>(&self, _visitor: &mut V) {}

            fn map<M: burn::module::ModuleMapper<B>>(self, _mapper: &mut M) -> Self {
                self
            }

            fn load_record(self, _record: Self::Record) -> Self {
                self
            }

            fn into_record(self) -> Self::Record {
                burn::module::EmptyRecord::new()
            }
        }

        impl<B: burn::tensor::backend::AutodiffBackend> burn::module::AutodiffModule<B> for $ty {
            type InnerModule = $ty;

            fn valid(&self) -> Self::InnerModule {
                self.clone()
            }

            fn from_inner(module: Self::InnerModule) -> Self {
                module
            }
        }

        impl burn::module::ModuleDisplayDefault for $ty {
            fn content(&self, content: burn::module::Content) -> Option<burn::module::Content> {
                content.add_formatted(&format!("{self:?}")).optional()
            }
        }

        impl burn::module::ModuleDisplay for $ty {}
    )+};
}

parameter_free_module!(
    Ackley,
    Banana,
    Booth,
    DoubleWell,
    Funnel,
    Gaussian,
    Harmonic,
    Himmelblau,
    Rastrigin,
    Rosenbrock,
    StyblinskiTang,
);

/// Row sums `[N, D] → [N]`.
pub(crate) fn row_sum<Bk: CpuKernels>(x: Tensor<Bk, 2>) -> Tensor<Bk, 1> {
    let n = x.dims()[0];
    x.sum_dim(1).reshape([n])
}

/// Column `j` of a batch as `[N, 1]`.
pub(crate) fn column<Bk: CpuKernels>(x: &Tensor<Bk, 2>, j: usize) -> Tensor<Bk, 2> {
    x.clone().narrow(1, j, 1)
}

#[cfg(test)]
pub(crate) mod reference {
    //! The TorchEBM reference vectors (`tests/data/analytic_energies.json`, copied from the shared
    //! reference set) and the comparison used by every analytic energy's test.

    use burn::tensor::{Tensor, TensorData};
    use ebm_testing::{TestBackend, TestInner};
    use serde::Deserialize;

    use super::AnalyticHessian;
    use crate::energy::Energy;

    pub type B = TestBackend;

    #[derive(Deserialize)]
    struct File {
        cases: Vec<Case>,
    }

    /// One case of the reference file.
    #[derive(Deserialize)]
    pub struct Case {
        pub name: String,
        pub constructor_params: serde_json::Value,
        pub points: Vec<Vec<f64>>,
        pub energy: Vec<f64>,
        pub grad_energy: Vec<Vec<Option<f64>>>,
    }

    pub fn case(name: &str) -> Case {
        let file: File =
            serde_json::from_str(include_str!("../../tests/data/analytic_energies.json"))
                .expect("reference file parses");
        file.cases
            .into_iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no reference case {name}"))
    }

    pub fn param(case: &Case, key: &str) -> f64 {
        case.constructor_params[key]
            .as_f64()
            .expect("numeric parameter")
    }

    /// `|ours − ref| ≤ atol + rtol·|ref|`. f32 holds ~7 digits; `rtol = 1e-5` is the documented
    /// tolerance, and `atol` absorbs the cancellation near minima where the reference is ~0.
    pub fn assert_close(what: &str, ours: &[f32], reference: &[f64], rtol: f64, atol: f64) {
        assert_eq!(ours.len(), reference.len(), "{what}: length");
        for (i, (&o, &r)) in ours.iter().zip(reference).enumerate() {
            let err = (o as f64 - r).abs();
            assert!(
                err <= atol + rtol * r.abs(),
                "{what}[{i}]: ours {o} vs reference {r} (|err| = {err:e})"
            );
        }
    }

    /// Checks energy and gradient at every reference point; rows whose reference gradient is NaN
    /// (TorchEBM's Ackley at the origin) must instead be finite here.
    pub fn check_against_reference<E: Energy<B>>(energy: &E, case: &Case, rtol: f64, atol: f64) {
        let device = Default::default();
        let d = case.points[0].len();
        let flat: Vec<f32> = case.points.iter().flatten().map(|&v| v as f32).collect();
        let x = Tensor::<TestInner, 1>::from_floats(flat.as_slice(), &device)
            .reshape([case.points.len(), d]);
        let (e, g) = energy.energy_and_grad(x.clone());
        let e = e.into_data().to_vec::<f32>().unwrap();
        assert_close(
            &format!("{} energy", case.name),
            &e,
            &case.energy,
            rtol,
            atol,
        );
        // The graph-free value path must agree with the combined one.
        let e2 = energy.energy_value(x).into_data().to_vec::<f32>().unwrap();
        assert_eq!(
            e, e2,
            "{}: energy_value and energy_and_grad disagree",
            case.name
        );
        let g = g.into_data().to_vec::<f32>().unwrap();
        for (i, row) in case.grad_energy.iter().enumerate() {
            let ours = &g[i * d..(i + 1) * d];
            match row.iter().copied().collect::<Option<Vec<f64>>>() {
                Some(reference) => assert_close(
                    &format!("{} grad row {i}", case.name),
                    ours,
                    &reference,
                    rtol,
                    atol,
                ),
                None => assert!(
                    ours.iter().all(|v| v.is_finite()),
                    "{}: gradient row {i} must be finite, got {ours:?}",
                    case.name
                ),
            }
        }
    }

    /// Checks the closed-form Hessian-vector product against a five-point central difference of
    /// the closed-form gradient at every reference point, along a fixed direction. (Burn 0.21 casts
    /// scalars to the device's default f32 even on an f64 backend, so the check runs in f32 with a
    /// step `h = 1e-2`: truncation error ~h⁴, rounding error ~1e-7·|∇E|/h.)
    pub fn check_hvp<A: AnalyticHessian>(energy: &A, case: &Case) {
        let device = Default::default();
        let n = case.points.len();
        let d = case.points[0].len();
        let tensor =
            |v: Vec<f64>| Tensor::<TestInner, 2>::from_data(TensorData::new(v, [n, d]), &device);
        let x = tensor(case.points.iter().flatten().copied().collect());
        let v = tensor(
            (0..n * d)
                .map(|i| ((i * 7 % 5) as f64 - 2.0) / 3.0)
                .collect(),
        );
        let h = 1e-2;
        let g_at = |t: f64| energy.grad_energy(x.clone() + v.clone().mul_scalar(t));
        let fd = (g_at(-2.0 * h) - g_at(2.0 * h) + (g_at(h) - g_at(-h)).mul_scalar(8.0))
            .div_scalar(12.0 * h);
        let vec = |t: Tensor<TestInner, 2>| t.into_data().to_vec::<f32>().unwrap();
        let (fd, g, ours) = (vec(fd), vec(g_at(0.0)), vec(energy.hvp(x, v)));
        for i in 0..n * d {
            let (o, f) = (ours[i] as f64, fd[i] as f64);
            let tol = 2e-3 * (1.0 + f.abs()) + 1e-5 * (g[i] as f64).abs() / h;
            assert!(
                (o - f).abs() <= tol,
                "{} hvp[{i}]: closed form {o} vs finite difference {f}",
                case.name
            );
        }
    }
}
