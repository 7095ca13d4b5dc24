//! Multivariate Gaussian energy `E(x) = ½ (x − μ)ᵀ Σ⁻¹ (x − μ)`.

use crate::cpu_kernels::CpuKernels;
use burn::tensor::Tensor;

use super::{AnalyticEnergy, AnalyticHessian, row_sum};
use crate::DeviceConstant;
use crate::error::{EnergyError, Result, require_positive};

/// Gaussian `N(μ, Σ)` as an energy (without the normalising constant, as in TorchEBM).
///
/// The covariance is checked to be square, symmetric and positive definite (by Cholesky), and its
/// inverse (the precision) is computed once at construction in f64.
///
/// ```
/// use ebm_core::analytic::Gaussian;
/// let g = Gaussian::new(vec![1.0, -1.0], vec![vec![1.0, 0.5], vec![0.5, 2.0]]).unwrap();
/// assert_eq!(g.dim(), 2);
/// assert!(Gaussian::new(vec![0.0], vec![vec![-1.0]]).is_err());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Gaussian {
    mean: Vec<f64>,
    covariance: Vec<Vec<f64>>,
    /// Row-major `d × d` precision matrix `Σ⁻¹`.
    precision: Vec<f64>,
    /// `μ` as a `[1, d]` row on the devices, or `None` when it is zero.
    mean_row: Option<DeviceConstant>,
    /// How `v·Σ⁻¹` is computed.
    precision_op: PrecisionOp,
}

/// `v·Σ⁻¹` for the three shapes of precision: for small `d` a `[N, d]×[d, d]` matmul costs
/// several times the element-wise work of a diagonal, and the identity is free.
#[derive(Debug, Clone, PartialEq)]
enum PrecisionOp {
    Identity,
    Diagonal(DeviceConstant),
    Dense(DeviceConstant),
}

impl Gaussian {
    /// A Gaussian with the given mean and covariance.
    pub fn new(mean: Vec<f64>, covariance: Vec<Vec<f64>>) -> Result<Self> {
        let d = mean.len();
        if d == 0 {
            return Err(EnergyError::Empty { what: "mean" });
        }
        if mean.iter().any(|m| !m.is_finite()) {
            return Err(EnergyError::NonFinite { what: "mean" });
        }
        if covariance.len() != d {
            return Err(EnergyError::LengthMismatch {
                what: "covariance rows vs mean",
                left: covariance.len(),
                right: d,
            });
        }
        for row in &covariance {
            if row.len() != d {
                return Err(EnergyError::NotSquare {
                    name: "covariance",
                    rows: d,
                    cols: row.len(),
                });
            }
        }
        let chol = cholesky(&covariance)?;
        let precision = invert_from_cholesky(&chol);
        check_representable(&covariance, &precision)?;
        let mean_row = mean
            .iter()
            .any(|&m| m != 0.0)
            .then(|| DeviceConstant::new(mean.clone(), [1, d]));
        let diagonal: Vec<f64> = (0..d).map(|i| precision[i * d + i]).collect();
        let precision_op = if (0..d * d).any(|k| k / d != k % d && precision[k] != 0.0) {
            PrecisionOp::Dense(DeviceConstant::new(precision.clone(), [d, d]))
        } else if diagonal.iter().all(|&p| p == 1.0) {
            PrecisionOp::Identity
        } else {
            PrecisionOp::Diagonal(DeviceConstant::new(diagonal, [1, d]))
        };
        Ok(Self {
            mean,
            covariance,
            precision,
            mean_row,
            precision_op,
        })
    }

    /// The standard normal `N(0, I)` in `dim` dimensions.
    pub fn standard(dim: usize) -> Result<Self> {
        if dim == 0 {
            return Err(EnergyError::Empty { what: "dimension" });
        }
        let cov = (0..dim)
            .map(|i| (0..dim).map(|j| if i == j { 1.0 } else { 0.0 }).collect())
            .collect();
        Self::new(vec![0.0; dim], cov)
    }

    /// Fits mean and unbiased covariance to `samples` `[N, D]` (N ≥ 2), adding `regularization·I`
    /// to the covariance so that it stays positive definite.
    pub fn from_samples<Bk: CpuKernels>(
        samples: Tensor<Bk, 2>,
        regularization: f64,
    ) -> Result<Self> {
        if !(regularization.is_finite() && regularization >= 0.0) {
            return Err(EnergyError::InvalidParameter(crate::InvalidParameter::new(
                "regularization",
                regularization,
                "must be finite and >= 0",
            )));
        }
        let [n, d] = samples.dims();
        if n < 2 {
            return Err(EnergyError::InvalidParameter(crate::InvalidParameter::new(
                "number of samples",
                n,
                "at least 2 samples are needed for a covariance",
            )));
        }
        let data: Vec<f64> = samples
            .into_data()
            .convert::<f64>()
            .to_vec()
            .expect("float tensor converts to f64");
        if data.iter().any(|v| !v.is_finite()) {
            return Err(EnergyError::NonFinite { what: "samples" });
        }
        let mut mean = vec![0.0; d];
        for row in data.chunks(d) {
            for (m, v) in mean.iter_mut().zip(row) {
                *m += v / n as f64;
            }
        }
        let mut cov = vec![vec![0.0; d]; d];
        for row in data.chunks(d) {
            for i in 0..d {
                for j in 0..d {
                    cov[i][j] += (row[i] - mean[i]) * (row[j] - mean[j]) / (n as f64 - 1.0);
                }
            }
        }
        for (i, row) in cov.iter_mut().enumerate() {
            row[i] += regularization;
        }
        Self::new(mean, cov)
    }

    /// Dimension `d`.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// The mean `μ`.
    pub fn mean(&self) -> &[f64] {
        &self.mean
    }

    /// The covariance `Σ`.
    pub fn covariance(&self) -> &[Vec<f64>] {
        &self.covariance
    }

    /// The precision `Σ⁻¹`, row-major.
    pub fn precision(&self) -> &[f64] {
        &self.precision
    }

    /// `x − μ`, skipping the subtraction when `μ = 0`.
    fn centre<Bk: CpuKernels>(&self, x: Tensor<Bk, 2>) -> Tensor<Bk, 2> {
        match &self.mean_row {
            Some(mean) => {
                let mean: Tensor<Bk, 2> = mean.tensor(&x);
                x - mean
            }
            None => x,
        }
    }

    /// `v·Σ⁻¹`.
    fn apply_precision<Bk: CpuKernels>(&self, v: Tensor<Bk, 2>) -> Tensor<Bk, 2> {
        match &self.precision_op {
            PrecisionOp::Identity => v,
            PrecisionOp::Diagonal(diagonal) => {
                let diagonal: Tensor<Bk, 2> = diagonal.tensor(&v);
                v * diagonal
            }
            PrecisionOp::Dense(precision) => {
                let precision: Tensor<Bk, 2> = precision.tensor(&v);
                v.matmul(precision)
            }
        }
    }
}

impl AnalyticEnergy for Gaussian {
    fn input_dim(&self) -> Option<usize> {
        Some(self.dim())
    }

    fn energy<Bk: CpuKernels>(&self, x: Tensor<Bk, 2>) -> Tensor<Bk, 1> {
        self.energy_and_grad(x).0
    }

    fn grad_energy<Bk: CpuKernels>(&self, x: Tensor<Bk, 2>) -> Tensor<Bk, 2> {
        self.apply_precision(self.centre(x))
    }

    fn energy_and_grad<Bk: CpuKernels>(&self, x: Tensor<Bk, 2>) -> (Tensor<Bk, 1>, Tensor<Bk, 2>) {
        let diff = self.centre(x);
        let grad = self.apply_precision(diff.clone());
        (row_sum(grad.clone() * diff).mul_scalar(0.5), grad)
    }
}

impl AnalyticHessian for Gaussian {
    fn hvp<Bk: CpuKernels>(&self, _x: Tensor<Bk, 2>, v: Tensor<Bk, 2>) -> Tensor<Bk, 2> {
        self.apply_precision(v)
    }
}

/// Lower-triangular Cholesky factor of a symmetric positive-definite matrix.
// Index loops mirror the textbook recurrences, which iterator chains would obscure.
#[allow(clippy::needless_range_loop)]
fn cholesky(a: &[Vec<f64>]) -> Result<Vec<Vec<f64>>> {
    let d = a.len();
    let scale = a.iter().flatten().fold(0.0f64, |m, v| m.max(v.abs()));
    for i in 0..d {
        for j in 0..i {
            if !a[i][j].is_finite() || (a[i][j] - a[j][i]).abs() > 1e-9 * scale.max(1.0) {
                return Err(EnergyError::NotPositiveDefinite {
                    name: "covariance",
                    reason: format!("not symmetric at ({i}, {j})"),
                });
            }
        }
    }
    let mut l = vec![vec![0.0; d]; d];
    for i in 0..d {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i][k] * l[j][k]).sum();
            if i == j {
                let pivot = a[i][i] - s;
                require_positive("covariance Cholesky pivot", pivot).map_err(|_| {
                    EnergyError::NotPositiveDefinite {
                        name: "covariance",
                        reason: format!("pivot {i} is {pivot:e}"),
                    }
                })?;
                l[i][i] = pivot.sqrt();
            } else {
                l[i][j] = (a[i][j] - s) / l[j][j];
            }
        }
    }
    Ok(l)
}

/// The largest condition number of the correlation matrix that f32 evaluates faithfully: the
/// quadratic form's relative error grows as `κ·ε₃₂` (`ε₃₂ ≈ 1.2e-7`), about 1% at this limit.
pub const MAX_CORRELATION_CONDITION: f64 = 1e5;

/// Rejects a covariance whose precision f32 cannot hold, or whose correlations are so strong
/// that f32 cancels the quadratic form away (a correlation of 1 − 10⁻⁹ gives `E = 0` where the
/// exact value is 0.5). Scale differences between coordinates are harmless and not limited.
fn check_representable(covariance: &[Vec<f64>], precision: &[f64]) -> Result<()> {
    let d = covariance.len();
    let f32_range =
        |v: f64| v == 0.0 || (v.abs() <= f32::MAX as f64 && v.abs() >= f32::MIN_POSITIVE as f64);
    if let Some(&p) = precision.iter().find(|&&p| !f32_range(p)) {
        return Err(EnergyError::InvalidParameter(crate::InvalidParameter::new(
            "covariance",
            p,
            "its inverse must be representable in f32",
        )));
    }
    // κ(R) = λmax(R)·λmax(R⁻¹) for the correlation R = D^-½ Σ D^-½, whose inverse is
    // D^½ P D^½; both by power iteration in f64.
    let sd: Vec<f64> = (0..d).map(|i| covariance[i][i].sqrt()).collect();
    let corr: Vec<f64> = (0..d * d)
        .map(|k| covariance[k / d][k % d] / (sd[k / d] * sd[k % d]))
        .collect();
    let corr_inv: Vec<f64> = (0..d * d)
        .map(|k| precision[k] * sd[k / d] * sd[k % d])
        .collect();
    let condition = largest_eigenvalue(&corr, d) * largest_eigenvalue(&corr_inv, d);
    if condition.is_nan() || condition > MAX_CORRELATION_CONDITION {
        return Err(EnergyError::InvalidParameter(crate::InvalidParameter::new(
            "covariance correlation condition number",
            condition,
            "must be <= 1e5: f32 cannot evaluate a Gaussian this correlated",
        )));
    }
    Ok(())
}

/// The largest eigenvalue of a symmetric positive-definite `d × d` matrix (row-major).
fn largest_eigenvalue(a: &[f64], d: usize) -> f64 {
    let mut v: Vec<f64> = (0..d).map(|i| 1.0 + i as f64 * 1e-3).collect();
    let mut lambda = 0.0;
    for _ in 0..200 {
        let w: Vec<f64> = (0..d)
            .map(|i| (0..d).map(|j| a[i * d + j] * v[j]).sum())
            .collect();
        let norm = w.iter().map(|x| x * x).sum::<f64>().sqrt();
        if !(norm > 0.0 && norm.is_finite()) {
            return f64::INFINITY;
        }
        let next = w.iter().zip(&v).map(|(a, b)| a * b).sum::<f64>()
            / v.iter().map(|x| x * x).sum::<f64>();
        v = w.into_iter().map(|x| x / norm).collect();
        if (next - lambda).abs() <= 1e-9 * next.abs() {
            return next;
        }
        lambda = next;
    }
    lambda
}

/// `(L Lᵀ)⁻¹` as a row-major vector, by forward substitution for `L⁻¹`.
#[allow(clippy::needless_range_loop)]
fn invert_from_cholesky(l: &[Vec<f64>]) -> Vec<f64> {
    let d = l.len();
    let mut linv = vec![vec![0.0; d]; d];
    for i in 0..d {
        linv[i][i] = 1.0 / l[i][i];
        for j in 0..i {
            let s: f64 = (j..i).map(|k| l[i][k] * linv[k][j]).sum();
            linv[i][j] = -s / l[i][i];
        }
    }
    let mut inv = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..d {
            inv[i * d + j] = (i.max(j)..d).map(|k| linv[k][i] * linv[k][j]).sum();
        }
    }
    inv
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytic::reference::{case, check_against_reference, check_hvp};
    use ebm_testing::TestInner;

    #[test]
    fn matches_reference() {
        let case = case("gaussian_3d");
        let p = &case.constructor_params;
        let mean: Vec<f64> = serde_json::from_value(p["mean"].clone()).unwrap();
        let cov: Vec<Vec<f64>> = serde_json::from_value(p["cov"].clone()).unwrap();
        let cov_inv: Vec<Vec<f64>> = serde_json::from_value(p["cov_inv"].clone()).unwrap();
        let g = Gaussian::new(mean, cov).unwrap();
        let flat: Vec<f64> = cov_inv.into_iter().flatten().collect();
        for (ours, reference) in g.precision().iter().zip(&flat) {
            assert!(
                (ours - reference).abs() < 1e-12,
                "precision {ours} vs {reference}"
            );
        }
        check_against_reference(&g, &case, 1e-5, 1e-5);
        check_hvp(&g, &case);
    }

    #[test]
    fn identity_and_diagonal_precisions_take_the_short_paths_exactly() {
        let device = Default::default();
        let x = Tensor::<TestInner, 2>::from_data([[0.5, -1.5], [2.0, 0.25]], &device);
        let v = |t: Tensor<TestInner, 2>| t.into_data().to_vec::<f32>().unwrap();
        let standard = Gaussian::standard(2).unwrap();
        assert_eq!(v(standard.grad_energy(x.clone())), v(x.clone()));
        let (e, _) = standard.energy_and_grad(x.clone());
        assert_eq!(e.into_data().to_vec::<f32>().unwrap(), vec![1.25, 2.03125]);
        // N((1, −1), diag(2, 0.5)): ∇E = ((x₁ − 1)/2, (x₂ + 1)/0.5).
        let diagonal =
            Gaussian::new(vec![1.0, -1.0], vec![vec![2.0, 0.0], vec![0.0, 0.5]]).unwrap();
        assert_eq!(
            v(diagonal.grad_energy(x.clone())),
            vec![-0.25, -1.0, 0.5, 2.5]
        );
        assert_eq!(v(diagonal.hvp(x.clone(), x)), vec![0.25, -3.0, 1.0, 0.5]);
    }

    #[test]
    fn from_samples_recovers_moments() {
        let device = Default::default();
        let x = Tensor::<TestInner, 2>::from_data(
            [[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]],
            &device,
        );
        let g = Gaussian::from_samples(x, 0.5).unwrap();
        assert_eq!(g.mean(), &[1.0, 1.0]);
        // Unbiased variance of {0, 2, 0, 2} is 4/3, plus the regularisation.
        assert!((g.covariance()[0][0] - (4.0 / 3.0 + 0.5)).abs() < 1e-12);
        assert!(g.covariance()[0][1].abs() < 1e-12);
    }

    #[test]
    fn bad_covariances_are_typed_errors() {
        let e = Gaussian::new(
            vec![0.0, 0.0],
            vec![vec![1.0, 0.0, 0.0], vec![0.0, 1.0, 0.0]],
        );
        assert!(matches!(e, Err(EnergyError::NotSquare { .. })), "{e:?}");
        let e = Gaussian::new(vec![0.0, 0.0], vec![vec![1.0, 2.0], vec![2.0, 1.0]]);
        assert!(
            matches!(e, Err(EnergyError::NotPositiveDefinite { .. })),
            "{e:?}"
        );
        let e = Gaussian::new(vec![0.0, 0.0], vec![vec![1.0, 0.5], vec![0.0, 1.0]]);
        assert!(
            matches!(e, Err(EnergyError::NotPositiveDefinite { .. })),
            "{e:?}"
        );
        let e = Gaussian::new(vec![0.0, 0.0, 0.0], vec![vec![1.0, 0.0], vec![0.0, 1.0]]);
        assert!(
            matches!(e, Err(EnergyError::LengthMismatch { .. })),
            "{e:?}"
        );
        assert!(matches!(
            Gaussian::standard(0),
            Err(EnergyError::Empty { .. })
        ));
        let one = Tensor::<TestInner, 2>::from_data([[1.0, 2.0]], &Default::default());
        assert!(matches!(
            Gaussian::from_samples(one, 0.0),
            Err(EnergyError::InvalidParameter(
                crate::InvalidParameter { .. }
            ))
        ));
    }
}
