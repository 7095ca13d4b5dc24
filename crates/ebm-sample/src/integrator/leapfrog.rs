//! The leapfrog (Störmer–Verlet) integrator of Hamiltonian dynamics
//! `H(x, p) = U(x) + ½·pᵀM⁻¹p`: symplectic and time-reversible, so HMC can correct its error
//! exactly with one accept/reject.

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

/// Where a leapfrog trajectory ends: position, momentum, and the potential and its gradient
/// there (which the next trajectory starts from).
#[derive(Debug, Clone)]
pub struct LeapfrogEnd<Bk: Backend> {
    /// Positions `[N, D]`.
    pub x: Tensor<Bk, 2>,
    /// Momenta `[N, D]`.
    pub p: Tensor<Bk, 2>,
    /// `U(x)`, `[N]`.
    pub energy: Tensor<Bk, 1>,
    /// `∇U(x)`, `[N, D]`.
    pub grad: Tensor<Bk, 2>,
}

/// `n_steps` leapfrog steps of size `h` from `(x, p)`, where `grad` is `∇U(x)` and `potential`
/// returns `(U, ∇U)` at a position; `inv_mass` is `M⁻¹`'s diagonal, broadcast over the rows
/// (`[1, D]` or `[N, D]`). Half a momentum step, then `n_steps` alternating full steps, then half
/// a momentum step: `n_steps` evaluations of `potential`.
///
/// # Panics
/// If `n_steps` is 0.
///
/// ```
/// use burn::backend::NdArray;
/// use burn::tensor::Tensor;
/// use ebm_sample::integrator::leapfrog;
///
/// // U = ½x²: a quarter period of the oscillator takes (1, 0) to (0, −1).
/// let device = Default::default();
/// let x = Tensor::<NdArray, 2>::ones([1, 1], &device);
/// let p = Tensor::<NdArray, 2>::zeros([1, 1], &device);
/// let potential = |x: Tensor<NdArray, 2>| (x.clone().square().sum_dim(1).squeeze_dim(1).mul_scalar(0.5), x);
/// let steps = 1000;
/// let h = std::f64::consts::FRAC_PI_2 / steps as f64;
/// let end = leapfrog(potential, x.clone(), p, x, h, steps, &Tensor::ones([1, 1], &device));
/// assert!(end.x.into_scalar().abs() < 1e-3);
/// assert!((end.p.into_scalar() + 1.0).abs() < 1e-3);
/// ```
pub fn leapfrog<Bk: Backend, U>(
    mut potential: U,
    x: Tensor<Bk, 2>,
    p: Tensor<Bk, 2>,
    grad: Tensor<Bk, 2>,
    h: f64,
    n_steps: usize,
    inv_mass: &Tensor<Bk, 2>,
) -> LeapfrogEnd<Bk>
where
    U: FnMut(Tensor<Bk, 2>) -> (Tensor<Bk, 1>, Tensor<Bk, 2>),
{
    assert!(n_steps >= 1, "leapfrog needs at least one step");
    let mut p = p - grad.mul_scalar(h / 2.0);
    let mut x = x;
    let mut end = None;
    for i in 0..n_steps {
        x = x + (p.clone() * inv_mass.clone()).mul_scalar(h);
        let (e, g) = potential(x.clone());
        let scale = if i + 1 == n_steps { h / 2.0 } else { h };
        p = p - g.clone().mul_scalar(scale);
        end = Some((e, g));
    }
    let (energy, grad) = end.expect("n_steps >= 1");
    LeapfrogEnd { x, p, energy, grad }
}
