//! Kernel Stein discrepancy.

use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Tensor, TensorData};
use ebm_core::{Energy, Inner};

use crate::{EvalError, check_rows, sq_dist};

/// Squared kernel Stein discrepancy (U-statistic) of `samples` under `energy`, with the Gaussian
/// kernel of bandwidth `h` (`None`: the median pairwise distance). It needs only the score
/// `s = −∇E`, not the normalising constant, and is ≈ 0 when the samples come from
/// `p ∝ exp(−E)`:
///
/// `u(x, y) = k·(sₓ·s_y) + k·(sₓ − s_y)·(x − y)/h² + k·(d/h² − ‖x − y‖²/h⁴)`.
pub fn kernel_stein_discrepancy<B: AutodiffBackend, E: Energy<B> + ?Sized>(
    energy: &E,
    samples: &[Vec<f64>],
    bandwidth: Option<f64>,
    device: &burn::tensor::Device<Inner<B>>,
) -> Result<f64, EvalError> {
    let d = check_rows("samples", samples, 2)?;
    let n = samples.len();
    energy.check_input([n, d])?;
    let flat: Vec<f64> = samples.iter().flatten().copied().collect();
    let x = Tensor::<Inner<B>, 2>::from_data(TensorData::new(flat, [n, d]), device);
    let scores: Vec<f64> = energy
        .score(x)
        .into_data()
        .convert::<f64>()
        .to_vec()
        .expect("float data");
    crate::require_finite_rows("score", scores.chunks(d))?;
    let h = bandwidth.unwrap_or_else(|| crate::median_bandwidth(samples, &[]));
    if !(h.is_finite() && h > 0.0) {
        return Err(EvalError::InvalidParameter(
            ebm_core::InvalidParameter::new("bandwidth", h, "must be finite and > 0"),
        ));
    }
    let h2 = h * h;
    let mut total = 0.0;
    for i in 0..n {
        let (xi, si) = (&samples[i], &scores[i * d..(i + 1) * d]);
        for j in i + 1..n {
            let (xj, sj) = (&samples[j], &scores[j * d..(j + 1) * d]);
            let r2 = sq_dist(xi, xj);
            let k = (-r2 / (2.0 * h2)).exp();
            let ss: f64 = si.iter().zip(sj).map(|(a, b)| a * b).sum();
            let cross: f64 = (0..d)
                .map(|m| (si[m] - sj[m]) * (xi[m] - xj[m]))
                .sum::<f64>()
                / h2;
            total += k * (ss + cross + d as f64 / h2 - r2 / (h2 * h2));
        }
    }
    Ok(2.0 * total / (n * (n - 1)) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ebm_core::analytic::Gaussian;
    use ebm_testing::TestBackend;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};
    use rand_distr::StandardNormal;

    type B = TestBackend;

    #[test]
    fn near_zero_for_samples_of_the_energy_and_large_otherwise() {
        let mut rng = SmallRng::seed_from_u64(5);
        let draw = |rng: &mut SmallRng, shift: f64| -> Vec<Vec<f64>> {
            (0..400)
                .map(|_| {
                    vec![
                        rng.sample::<f64, _>(StandardNormal) + shift,
                        rng.sample::<f64, _>(StandardNormal),
                    ]
                })
                .collect()
        };
        let energy = Gaussian::standard(2).unwrap();
        let good = kernel_stein_discrepancy::<B, _>(
            &energy,
            &draw(&mut rng, 0.0),
            None,
            &Default::default(),
        )
        .unwrap();
        let bad = kernel_stein_discrepancy::<B, _>(
            &energy,
            &draw(&mut rng, 1.5),
            None,
            &Default::default(),
        )
        .unwrap();
        assert!(good.abs() < 0.02, "{good}");
        assert!(bad > 0.2, "{bad}");
        assert!(matches!(
            kernel_stein_discrepancy::<B, _>(
                &energy,
                &vec![vec![0.0, 1.0, 0.0]; 3],
                None,
                &Default::default()
            ),
            Err(EvalError::Energy(_))
        ));
    }
}
