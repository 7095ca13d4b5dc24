//! Integrators of ordinary and stochastic differential equations on batches of states, usable on
//! their own and by the samplers (HMC's leapfrog, the flow sampler).
//!
//! | integrator | file | kind |
//! |---|---|---|
//! | [`FixedStep`]: Euler, Heun, midpoint, RK4, RK4 3/8 | `fixed_step.rs` | explicit Runge–Kutta, `n` equal steps |
//! | [`AdaptiveConfig`]: adaptive Heun, Bosh3, Dopri5 | `adaptive.rs` | embedded Runge–Kutta pairs, atol/rtol error control, FSAL |
//! | [`EulerMaruyama`] | `euler_maruyama.rs` | `dx = f(x, t)·dt + g(t)·dW` |
//! | [`leapfrog`] | `leapfrog.rs` | Störmer–Verlet for Hamiltonian dynamics |
//!
//! Every method is one [`Tableau`](tableau.rs) run by one stage loop. A field is anything that
//! implements [`VectorField`], a closure `|x, t| …` included; the whole batch shares one time `t`,
//! rows are independent states.
//!
//! ```
//! use burn::backend::NdArray;
//! use burn::tensor::Tensor;
//! use ebm_sample::integrator::FixedStep;
//!
//! // dx/dt = −x from x(0) = 1: x(1) = e⁻¹.
//! let x0 = Tensor::<NdArray, 2>::ones([1, 1], &Default::default());
//! let x1 = FixedStep::Rk4
//!     .integrate(&|x: Tensor<NdArray, 2>, _t: f64| x.neg(), x0, 0.0, 1.0, 10)
//!     .unwrap();
//! let x1 = x1.into_scalar();
//! assert!((x1 - (-1.0f32).exp()).abs() < 1e-5);
//! ```

mod adaptive;
mod euler_maruyama;
mod fixed_step;
mod leapfrog;
mod tableau;

pub use adaptive::{Adaptive, AdaptiveConfig, AdaptiveMethod, Solution};
pub use euler_maruyama::EulerMaruyama;
pub use fixed_step::FixedStep;
pub use leapfrog::{LeapfrogEnd, leapfrog};

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

/// A time-dependent vector field `dx/dt = f(x, t)` on a batch of states `[N, D]`, one time for
/// the whole batch.
pub trait VectorField<Bk: Backend> {
    /// `f(x, t)`, `[N, D] → [N, D]`.
    fn velocity(&self, x: Tensor<Bk, 2>, t: f64) -> Tensor<Bk, 2>;
}

impl<Bk: Backend, F: Fn(Tensor<Bk, 2>, f64) -> Tensor<Bk, 2>> VectorField<Bk> for F {
    fn velocity(&self, x: Tensor<Bk, 2>, t: f64) -> Tensor<Bk, 2> {
        self(x, t)
    }
}

#[cfg(test)]
pub(crate) mod linear_ode {
    //! The test problem with a known solution: `dx/dt = A·x` with `A = [[−½, 1], [−1, −½]]`
    //! (a decaying rotation), `x(t) = e^{−t/2}·R(t)·x(0)`.

    use burn::tensor::{Tensor, TensorData};
    use ebm_testing::TestInner;

    pub(crate) fn field(x: Tensor<TestInner, 2>, _t: f64) -> Tensor<TestInner, 2> {
        let a = Tensor::<TestInner, 2>::from_data([[-0.5, -1.0], [1.0, -0.5]], &x.device());
        // Rows are states: x·Aᵀ.
        x.matmul(a)
    }

    /// Three starting states.
    pub(crate) fn start() -> Tensor<TestInner, 2> {
        Tensor::from_data(
            TensorData::new(vec![1.0f32, 0.5, -0.3, 2.0, 0.0, -1.0], [3, 2]),
            &Default::default(),
        )
    }

    /// `x(t)` from [`start`], in float64.
    pub(crate) fn exact(t: f64) -> Vec<f64> {
        let s = [1.0, 0.5, -0.3, 2.0, 0.0, -1.0];
        let (decay, (sin, cos)) = ((-t / 2.0).exp(), t.sin_cos());
        s.chunks(2)
            .flat_map(|r| {
                [
                    decay * (cos * r[0] + sin * r[1]),
                    decay * (-sin * r[0] + cos * r[1]),
                ]
            })
            .collect()
    }

    /// The largest absolute error of `x` against [`exact`] at `t`.
    pub(crate) fn error(x: Tensor<TestInner, 2>, t: f64) -> f64 {
        let x = x.into_data().convert::<f64>().to_vec::<f64>().unwrap();
        x.iter()
            .zip(exact(t))
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max)
    }
}
