//! Parameter initialisation from a seeded generator owned by the constructor.
//!
//! Why not Burn's `Initializer::init_with`: it draws from the backend's RNG, one generator per
//! backend shared by every thread. Two models built in parallel, or anything else drawing random
//! tensors meanwhile, interleave their draws, so the same seed could give different weights (the
//! WGPU test run showed it). Drawing on the host from a generator that only this constructor uses
//! makes the weights a function of the seed alone, identical on every backend.

use burn::module::{Initializer, Param};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use rand::Rng;
use rand_distr::StandardNormal;

/// A seeded source of initial parameter values.
pub(crate) struct ParamInit {
    rng: crate::random_stream::StreamRng,
}

impl ParamInit {
    /// A generator seeded with `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            rng: crate::random_stream::seeded_rng(seed),
        }
    }

    /// A trainable parameter of `shape` drawn as Burn's `init_with(shape, fan_in, fan_out)`
    /// describes it (same distributions, same bounds), from this generator.
    pub(crate) fn param<B: Backend, const D: usize>(
        &mut self,
        init: &Initializer,
        shape: [usize; D],
        fan_in: usize,
        fan_out: usize,
        device: &B::Device,
    ) -> Param<Tensor<B, D>> {
        let values = self.values(init, &shape, fan_in, fan_out);
        let values: Vec<f32> = values.into_iter().map(|v| v as f32).collect();
        Param::from_tensor(Tensor::from_data(TensorData::new(values, shape), device))
    }

    /// The values, row-major.
    fn values(
        &mut self,
        init: &Initializer,
        shape: &[usize],
        fan_in: usize,
        fan_out: usize,
    ) -> Vec<f64> {
        let count: usize = shape.iter().product();
        let kaiming_std =
            |fan_out_only: bool| 1.0 / (if fan_out_only { fan_out } else { fan_in } as f64).sqrt();
        let xavier_std = (2.0 / (fan_in + fan_out) as f64).sqrt();
        let uniform_bound = 3.0f64.sqrt();
        match *init {
            Initializer::Constant { value } => vec![value; count],
            Initializer::Ones => vec![1.0; count],
            Initializer::Zeros => vec![0.0; count],
            Initializer::Uniform { min, max } => self.uniform(count, min, max),
            Initializer::Normal { mean, std } => self.normal(count, mean, std),
            Initializer::KaimingUniform { gain, fan_out_only } => {
                let a = uniform_bound * gain * kaiming_std(fan_out_only);
                self.uniform(count, -a, a)
            }
            Initializer::KaimingNormal { gain, fan_out_only } => {
                self.normal(count, 0.0, gain * kaiming_std(fan_out_only))
            }
            Initializer::XavierUniform { gain } => {
                let a = uniform_bound * gain * xavier_std;
                self.uniform(count, -a, a)
            }
            Initializer::XavierNormal { gain } => self.normal(count, 0.0, gain * xavier_std),
            Initializer::Orthogonal { gain } => {
                let rows = shape.first().copied().unwrap_or(1).max(1);
                self.orthogonal(rows, count / rows, gain)
            }
        }
    }

    fn uniform(&mut self, count: usize, low: f64, high: f64) -> Vec<f64> {
        (0..count)
            .map(|_| low + (high - low) * self.rng.random::<f64>())
            .collect()
    }

    fn normal(&mut self, count: usize, mean: f64, std: f64) -> Vec<f64> {
        (0..count)
            .map(|_| mean + std * self.rng.sample::<f64, _>(StandardNormal))
            .collect()
    }

    /// A `[rows, cols]` matrix with orthonormal rows (or columns, whichever are fewer) times
    /// `gain`: the Q of a QR decomposition of a Gaussian matrix, signs fixed by R's diagonal so
    /// that Q is Haar-distributed (as Burn and PyTorch do).
    fn orthogonal(&mut self, rows: usize, cols: usize, gain: f64) -> Vec<f64> {
        // Work on the tall orientation [m, n], m ≥ n, stored column by column.
        let (m, n) = (rows.max(cols), rows.min(cols));
        let mut q: Vec<Vec<f64>> = (0..n).map(|_| self.normal(m, 0.0, 1.0)).collect();
        // Modified Gram–Schmidt: r_jj = ‖v_j‖ > 0 with probability one, so sign(r_jj) = +1 and
        // the normalised columns already carry the sign convention.
        for j in 0..n {
            let (done, rest) = q.split_at_mut(j);
            let v = &mut rest[0];
            for u in done.iter() {
                let r: f64 = u.iter().zip(v.iter()).map(|(a, b)| a * b).sum();
                v.iter_mut().zip(u).for_each(|(vi, ui)| *vi -= r * ui);
            }
            let norm = v.iter().map(|a| a * a).sum::<f64>().sqrt();
            v.iter_mut().for_each(|vi| *vi /= norm);
        }
        let mut out = vec![0.0; rows * cols];
        for (j, column) in q.iter().enumerate() {
            for (i, &value) in column.iter().enumerate() {
                // Tall: element (i, j); wide: the transpose, element (j, i).
                let index = if rows >= cols {
                    i * cols + j
                } else {
                    j * cols + i
                };
                out[index] = gain * value;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moments(values: &[f64]) -> (f64, f64) {
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        (mean, var)
    }

    /// Value stability: the weights a seed gives.
    #[test]
    fn the_weights_of_a_seed_are_pinned() {
        let w = ParamInit::new(1).values(
            &Initializer::KaimingUniform {
                gain: 1.0 / 3.0f64.sqrt(),
                fan_out_only: false,
            },
            &[2, 2],
            2,
            2,
        );
        let n = ParamInit::new(2).values(
            &Initializer::Normal {
                mean: 0.0,
                std: 1.0,
            },
            &[3],
            1,
            1,
        );
        let pinned_w = [0.504_474_2, -0.512_575_4, -0.041_773_7, 0.319_965_4];
        let pinned_n = [0.886_062_4, -1.150_398_8, -0.615_938_9];
        for (got, pinned) in w.iter().chain(&n).zip(pinned_w.iter().chain(&pinned_n)) {
            assert!((got - pinned).abs() < 1e-6, "{w:?} {n:?}");
        }
    }

    #[test]
    fn kaiming_and_xavier_have_the_stated_spread() {
        let mut init = ParamInit::new(1);
        // Kaiming uniform with gain 1/√3 and fan_in 16: U(−1/4, 1/4), variance 1/48.
        let gain = 1.0 / 3.0f64.sqrt();
        let w = init.values(
            &Initializer::KaimingUniform {
                gain,
                fan_out_only: false,
            },
            &[16, 4000],
            16,
            4000,
        );
        let (mean, var) = moments(&w);
        assert!(w.iter().all(|v| v.abs() <= 0.25));
        assert!(
            mean.abs() < 0.003 && (var - 1.0 / 48.0).abs() < 1e-3,
            "{mean} {var}"
        );
        // Xavier normal with gain 2, fans 30 and 10: N(0, 4·2/40).
        let w = init.values(
            &Initializer::XavierNormal { gain: 2.0 },
            &[30, 2000],
            30,
            10,
        );
        let (mean, var) = moments(&w);
        assert!(
            mean.abs() < 0.01 && (var - 0.2).abs() < 0.01,
            "{mean} {var}"
        );
    }

    #[test]
    fn orthogonal_rows_or_columns_are_orthonormal_times_the_gain() {
        for (rows, cols) in [(6, 3), (3, 6), (5, 5)] {
            let w = ParamInit::new(2).values(
                &Initializer::Orthogonal { gain: 2.0 },
                &[rows, cols],
                rows,
                cols,
            );
            let at = |i: usize, j: usize| w[i * cols + j];
            // Gram matrix of the shorter side: 4·I.
            let tall = rows >= cols;
            let (k, len) = if tall { (cols, rows) } else { (rows, cols) };
            let pick = |a: usize, i: usize| if tall { at(i, a) } else { at(a, i) };
            for a in 0..k {
                for b in 0..k {
                    let dot: f64 = (0..len).map(|i| pick(a, i) * pick(b, i)).sum();
                    let want = if a == b { 4.0 } else { 0.0 };
                    assert!(
                        (dot - want).abs() < 1e-12,
                        "{rows}x{cols}: ({a},{b}) = {dot}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_values_depend_on_the_seed_only() {
        let init = Initializer::Normal {
            mean: 0.0,
            std: 1.0,
        };
        let a = ParamInit::new(5).values(&init, &[10], 1, 1);
        let b = ParamInit::new(5).values(&init, &[10], 1, 1);
        let c = ParamInit::new(6).values(&init, &[10], 1, 1);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
