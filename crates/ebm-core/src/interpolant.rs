//! Interpolants: the probability paths `x_t = α(t)·x₁ + σ(t)·x₀` between noise `x₀ ~ N(0, I)`
//! (`t = 0`) and data `x₁` (`t = 1`) that flow matching and its relatives learn along, with the
//! conversions between velocity, score and noise predictions.
//!
//! The conventions are TorchEBM 0.8.9's: data at `t = 1`, the conditional velocity
//! `u_t = α̇·x₁ + σ̇·x₀`, and for a Gaussian path the score `−x₀/σ`.
//!
//! ```
//! use burn::backend::NdArray;
//! use burn::tensor::Tensor;
//! use ebm_core::interpolant::Interpolant;
//!
//! let device = Default::default();
//! let x0 = Tensor::<NdArray, 2>::from_data([[1.0, -1.0]], &device);
//! let x1 = Tensor::<NdArray, 2>::from_data([[3.0, 2.0]], &device);
//! let t = Tensor::<NdArray, 1>::from_data([0.25], &device);
//! let (xt, ut) = Interpolant::Linear.interpolate(x0, x1, t);
//! assert_eq!(xt.into_data().to_vec::<f32>().unwrap(), vec![1.5, -0.25]);
//! assert_eq!(ut.into_data().to_vec::<f32>().unwrap(), vec![2.0, 3.0]);
//! ```

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// A path `x_t = α(t)·x₁ + σ(t)·x₀`, `t ∈ [0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Interpolant {
    /// `α = t`, `σ = 1 − t`: straight lines, constant velocity `x₁ − x₀`.
    Linear,
    /// `α = sin(πt/2)`, `σ = cos(πt/2)`: `α² + σ² = 1`.
    Cosine,
    /// Variance preserving with a linear β schedule from `sigma_min` to `sigma_max` (score-based
    /// diffusion's VP SDE): `log α = −¼(1 − t)²(β_max − β_min) − ½(1 − t)β_min`,
    /// `σ = √(1 − α²)`.
    VariancePreserving {
        /// `β_min` (> 0; TorchEBM's default 0.1).
        sigma_min: f64,
        /// `β_max` (> `sigma_min`; TorchEBM's default 20).
        sigma_max: f64,
    },
}

/// Guards of the conversions: `α` and the variance terms are clamped away from 0 as in TorchEBM.
const MIN_ALPHA: f64 = 1e-8;
const MIN_VARIANCE: f64 = 1e-12;

/// `[N] → [N, 1]`, to scale rows.
fn column<Bk: Backend>(t: Tensor<Bk, 1>) -> Tensor<Bk, 2> {
    t.unsqueeze_dim(1)
}

impl Interpolant {
    /// The variance-preserving path with TorchEBM's defaults (0.1, 20).
    pub fn variance_preserving() -> Self {
        Self::VariancePreserving {
            sigma_min: 0.1,
            sigma_max: 20.0,
        }
    }

    /// Checks the parameters.
    pub fn validate(&self) -> Result<()> {
        if let Self::VariancePreserving {
            sigma_min,
            sigma_max,
        } = *self
        {
            if !(sigma_min.is_finite() && sigma_min > 0.0) {
                return Err(crate::error::invalid("sigma_min", sigma_min, "must be > 0"));
            }
            if !(sigma_max.is_finite() && sigma_max > sigma_min) {
                return Err(crate::error::invalid(
                    "sigma_max",
                    sigma_max,
                    "must be finite and > sigma_min",
                ));
            }
        }
        Ok(())
    }

    /// `(α, α̇, σ, σ̇)` at one time, in float64: for samplers, whose whole batch shares a time
    /// and which need the coefficients on the host (an SDE's diffusion, a last step).
    pub fn coefficients(&self, t: f64) -> [f64; 4] {
        use std::f64::consts::FRAC_PI_2;
        match *self {
            Self::Linear => [t, 1.0, 1.0 - t, -1.0],
            Self::Cosine => {
                let (sin, cos) = (FRAC_PI_2 * t).sin_cos();
                [sin, FRAC_PI_2 * cos, cos, -FRAC_PI_2 * sin]
            }
            Self::VariancePreserving {
                sigma_min,
                sigma_max,
            } => {
                let s = 1.0 - t;
                let spread = sigma_max - sigma_min;
                let log_alpha = -0.25 * s * s * spread - 0.5 * s * sigma_min;
                let d_log_alpha = 0.5 * s * spread + 0.5 * sigma_min;
                let alpha = log_alpha.exp();
                let sigma = (1.0 - alpha * alpha).max(MIN_VARIANCE).sqrt();
                [
                    alpha,
                    alpha * d_log_alpha,
                    sigma,
                    -alpha * alpha * d_log_alpha / sigma,
                ]
            }
        }
    }

    /// `log α(t)` and its derivative, for the VP path.
    fn vp_log_alpha<Bk: Backend>(
        t: Tensor<Bk, 1>,
        sigma_min: f64,
        sigma_max: f64,
    ) -> (Tensor<Bk, 1>, Tensor<Bk, 1>) {
        let s = t.neg().add_scalar(1.0); // 1 − t
        let spread = sigma_max - sigma_min;
        let log_alpha = s
            .clone()
            .square()
            .mul_scalar(-0.25 * spread)
            .sub(s.clone().mul_scalar(0.5 * sigma_min));
        let d_log_alpha = s.mul_scalar(0.5 * spread).add_scalar(0.5 * sigma_min);
        (log_alpha, d_log_alpha)
    }

    /// `(α(t), α̇(t))` for each time, `[N] → ([N], [N])`.
    pub fn alpha<Bk: Backend>(&self, t: Tensor<Bk, 1>) -> (Tensor<Bk, 1>, Tensor<Bk, 1>) {
        use std::f64::consts::FRAC_PI_2;
        match *self {
            Self::Linear => (t.clone(), t.ones_like()),
            Self::Cosine => {
                let angle = t.mul_scalar(FRAC_PI_2);
                (angle.clone().sin(), angle.cos().mul_scalar(FRAC_PI_2))
            }
            Self::VariancePreserving {
                sigma_min,
                sigma_max,
            } => {
                let (log_alpha, d_log_alpha) = Self::vp_log_alpha(t, sigma_min, sigma_max);
                let alpha = log_alpha.exp();
                (alpha.clone(), alpha * d_log_alpha)
            }
        }
    }

    /// `(σ(t), σ̇(t))` for each time, `[N] → ([N], [N])`.
    pub fn sigma<Bk: Backend>(&self, t: Tensor<Bk, 1>) -> (Tensor<Bk, 1>, Tensor<Bk, 1>) {
        use std::f64::consts::FRAC_PI_2;
        match *self {
            Self::Linear => (t.clone().neg().add_scalar(1.0), t.ones_like().neg()),
            Self::Cosine => {
                let angle = t.mul_scalar(FRAC_PI_2);
                (angle.clone().cos(), angle.sin().mul_scalar(-FRAC_PI_2))
            }
            Self::VariancePreserving {
                sigma_min,
                sigma_max,
            } => {
                let (log_alpha, d_log_alpha) = Self::vp_log_alpha(t, sigma_min, sigma_max);
                let alpha_sq = log_alpha.mul_scalar(2.0).exp();
                let sigma = alpha_sq
                    .clone()
                    .neg()
                    .add_scalar(1.0)
                    .clamp_min(MIN_VARIANCE)
                    .sqrt();
                // d/dt √(1 − α²) = −α²·(log α)′/σ.
                let d_sigma = (alpha_sq * d_log_alpha).neg() / sigma.clone();
                (sigma, d_sigma)
            }
        }
    }

    /// `(x_t, u_t)`: the point of the path at each sample's time and its conditional velocity,
    /// for noise `x0`, data `x1` (`[N, D]`) and times `t` (`[N]`).
    pub fn interpolate<Bk: Backend>(
        &self,
        x0: Tensor<Bk, 2>,
        x1: Tensor<Bk, 2>,
        t: Tensor<Bk, 1>,
    ) -> (Tensor<Bk, 2>, Tensor<Bk, 2>) {
        let (alpha, d_alpha) = self.alpha(t.clone());
        let (sigma, d_sigma) = self.sigma(t);
        let xt = x1.clone() * column(alpha) + x0.clone() * column(sigma);
        let ut = x1 * column(d_alpha) + x0 * column(d_sigma);
        (xt, ut)
    }

    /// `α/α̇`, `σ − (α/α̇)·σ̇` and `σ`, as columns: what a velocity says about the noise.
    fn reverse_ratio<Bk: Backend>(
        &self,
        t: Tensor<Bk, 1>,
    ) -> (Tensor<Bk, 2>, Tensor<Bk, 2>, Tensor<Bk, 2>) {
        let (alpha, d_alpha) = self.alpha(t.clone());
        let (sigma, d_sigma) = self.sigma(t);
        let ratio = alpha.clamp_min(MIN_ALPHA) / d_alpha;
        let var = sigma.clone() - ratio.clone() * d_sigma;
        (column(ratio), column(var), column(sigma))
    }

    /// The noise `x₀` a velocity `v` at `(x, t)` implies: `(x − (α/α̇)·v) / (σ − (α/α̇)·σ̇)`.
    pub fn velocity_to_noise<Bk: Backend>(
        &self,
        velocity: Tensor<Bk, 2>,
        x: Tensor<Bk, 2>,
        t: Tensor<Bk, 1>,
    ) -> Tensor<Bk, 2> {
        let (ratio, var, _) = self.reverse_ratio(t);
        (x - velocity * ratio) / var
    }

    /// The score a velocity implies: `−x₀/σ`, i.e. `((α/α̇)·v − x) / (σ² − (α/α̇)·σ̇·σ)`.
    pub fn velocity_to_score<Bk: Backend>(
        &self,
        velocity: Tensor<Bk, 2>,
        x: Tensor<Bk, 2>,
        t: Tensor<Bk, 1>,
    ) -> Tensor<Bk, 2> {
        let (ratio, var, sigma) = self.reverse_ratio(t);
        let var = (var * sigma).clamp_min(MIN_VARIANCE);
        (velocity * ratio - x) / var
    }

    /// The velocity a score implies: `(α̇/α)·x + ((α̇/α)·σ² − σ·σ̇)·score`.
    pub fn score_to_velocity<Bk: Backend>(
        &self,
        score: Tensor<Bk, 2>,
        x: Tensor<Bk, 2>,
        t: Tensor<Bk, 1>,
    ) -> Tensor<Bk, 2> {
        let (alpha, d_alpha) = self.alpha(t.clone());
        let (sigma, d_sigma) = self.sigma(t);
        let rate = d_alpha / alpha.clamp_min(MIN_ALPHA);
        let spread = rate.clone() * sigma.clone().square() - sigma * d_sigma;
        x * column(rate) + score * column(spread)
    }

    /// The score a noise prediction implies: `−x₀/σ`.
    pub fn noise_to_score<Bk: Backend>(
        &self,
        noise: Tensor<Bk, 2>,
        t: Tensor<Bk, 1>,
    ) -> Tensor<Bk, 2> {
        let (sigma, _) = self.sigma(t);
        noise.neg() / column(sigma.clamp_min(MIN_ALPHA))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ebm_testing::TestInner;

    fn values<const D: usize>(t: Tensor<TestInner, D>) -> Vec<f64> {
        t.into_data().convert::<f64>().to_vec::<f64>().unwrap()
    }

    fn all() -> [Interpolant; 3] {
        [
            Interpolant::Linear,
            Interpolant::Cosine,
            Interpolant::variance_preserving(),
        ]
    }

    fn times() -> Tensor<TestInner, 1> {
        Tensor::from_data([0.1, 0.3, 0.5, 0.7, 0.9], &Default::default())
    }

    #[test]
    fn the_host_coefficients_are_the_tensor_ones() {
        for path in all() {
            let (alpha, d_alpha) = path.alpha(times());
            let (sigma, d_sigma) = path.sigma(times());
            let tensors = [
                values(alpha),
                values(d_alpha),
                values(sigma),
                values(d_sigma),
            ];
            for (i, t) in [0.1, 0.3, 0.5, 0.7, 0.9].into_iter().enumerate() {
                let host = path.coefficients(t);
                for k in 0..4 {
                    let tol = 1e-5 * (1.0 + host[k].abs());
                    assert!((host[k] - tensors[k][i]).abs() < tol, "{path:?} t {t} #{k}");
                }
            }
        }
    }

    /// `α̇` and `σ̇` against five-point central differences of `α` and `σ`.
    #[test]
    fn derivatives_match_finite_differences() {
        let h = 1e-2;
        for path in all() {
            let at = |shift: f64| {
                let t = times().add_scalar(shift);
                (values(path.alpha(t.clone()).0), values(path.sigma(t).0))
            };
            let (a2, s2) = at(2.0 * h);
            let (a1, s1) = at(h);
            let (am1, sm1) = at(-h);
            let (am2, sm2) = at(-2.0 * h);
            let stencil = |p2: &[f64], p1: &[f64], m1: &[f64], m2: &[f64]| -> Vec<f64> {
                (0..p2.len())
                    .map(|i| (-p2[i] + 8.0 * p1[i] - 8.0 * m1[i] + m2[i]) / (12.0 * h))
                    .collect()
            };
            let d_alpha = values(path.alpha(times()).1);
            let d_sigma = values(path.sigma(times()).1);
            for (what, ours, fd) in [
                ("α̇", d_alpha, stencil(&a2, &a1, &am1, &am2)),
                ("σ̇", d_sigma, stencil(&s2, &s1, &sm1, &sm2)),
            ] {
                for (a, b) in ours.iter().zip(&fd) {
                    assert!(
                        (a - b).abs() < 1e-3 * (1.0 + b.abs()),
                        "{path:?} {what}: {a} vs {b}"
                    );
                }
            }
        }
    }

    /// The conditional velocity is the time derivative of the path, and the conversions invert
    /// each other: the noise a velocity implies is `x₀`, its score `−x₀/σ`, and that score's
    /// velocity the velocity again.
    #[test]
    fn velocity_score_and_noise_convert_consistently() {
        let device = Default::default();
        let x0 = ebm_testing::normal::<TestInner, 2>([5, 3], 1.0, 1, &device);
        let x1 = ebm_testing::normal::<TestInner, 2>([5, 3], 2.0, 2, &device);
        for path in all() {
            let (xt, ut) = path.interpolate(x0.clone(), x1.clone(), times());
            let h = 1e-3;
            let (up, _) = path.interpolate(x0.clone(), x1.clone(), times().add_scalar(h));
            let (down, _) = path.interpolate(x0.clone(), x1.clone(), times().sub_scalar(h));
            let fd = values((up - down).div_scalar(2.0 * h));
            for (a, b) in values(ut.clone()).iter().zip(&fd) {
                assert!(
                    (a - b).abs() < 2e-3 * (1.0 + b.abs()),
                    "{path:?} u_t: {a} vs {b}"
                );
            }
            let close = |a: Vec<f64>, b: Vec<f64>, what: &str| {
                for (a, b) in a.iter().zip(&b) {
                    assert!(
                        (a - b).abs() < 1e-3 * (1.0 + b.abs()),
                        "{path:?} {what}: {a} vs {b}"
                    );
                }
            };
            let noise = path.velocity_to_noise(ut.clone(), xt.clone(), times());
            close(values(noise.clone()), values(x0.clone()), "noise");
            let score = path.velocity_to_score(ut.clone(), xt.clone(), times());
            let truth = path.noise_to_score(x0.clone(), times());
            close(values(score.clone()), values(truth), "score");
            let back = path.score_to_velocity(score, xt, times());
            close(values(back), values(ut), "velocity");
        }
    }

    #[test]
    fn bad_parameters_are_typed_errors() {
        assert!(Interpolant::variance_preserving().validate().is_ok());
        let bad = Interpolant::VariancePreserving {
            sigma_min: 1.0,
            sigma_max: 0.5,
        };
        assert!(matches!(
            bad.validate(),
            Err(crate::EnergyError::InvalidParameter(p)) if p.name == "sigma_max"
        ));
    }
}
