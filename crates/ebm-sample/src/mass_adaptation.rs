//! A diagonal mass matrix for [`crate::Hmc`], estimated from the chain ensemble during warm-up.
//!
//! The windows are Stan's (Stan Reference Manual, "Automatic parameter tuning"): an initial
//! buffer in which only the step size adapts while the chains reach the typical set, then
//! windows of doubling length, at the end of each of which `M⁻¹` becomes the variance of the
//! draws in the window and the step-size adaptation starts again from its averaged step, then a
//! final buffer in which the step size settles on the last mass. Stan estimates from one chain;
//! here a window's variance pools every chain at every step of the window, so with many chains
//! even the first, short window gives a good estimate.
//!
//! It all stays on the device: each warm-up step in a window adds two column sums, and each
//! window end computes the new `M⁻¹` there, with no host read.

use burn::config::Config;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use crate::error::{SampleError, invalid};

/// The warm-up windows of the mass adaptation, in steps; Stan's defaults. When a warm-up is
/// shorter than their sum, Stan's fallback applies: 15% initial buffer, 10% final buffer, and
/// one window in between.
#[derive(Config, Debug, PartialEq)]
pub struct MassAdaptationConfig {
    /// Steps before the first window.
    #[config(default = 75)]
    pub initial_buffer: usize,
    /// Length of the first window (≥ 1); each next window is twice as long, and the last one
    /// stretches to the final buffer.
    #[config(default = 25)]
    pub first_window: usize,
    /// Steps after the last window, with the mass fixed.
    #[config(default = 50)]
    pub final_buffer: usize,
}

ebm_core::json_config!(
    MassAdaptationConfig,
    required = [],
    template = MassAdaptationConfig::new()
);

impl MassAdaptationConfig {
    /// Checks the window lengths.
    pub fn validate(&self) -> Result<(), SampleError> {
        if self.first_window == 0 {
            return Err(invalid(
                "mass_adaptation.first_window",
                0usize,
                "must be >= 1",
            ));
        }
        Ok(())
    }

    /// The windows of a warm-up of `n_warmup` steps.
    pub fn windows(&self, n_warmup: usize) -> MassWindows {
        let (initial, first, last) =
            if self.initial_buffer + self.first_window + self.final_buffer > n_warmup {
                let initial = (0.15 * n_warmup as f64) as usize;
                let last = (0.1 * n_warmup as f64) as usize;
                (initial, n_warmup - initial - last, last)
            } else {
                (self.initial_buffer, self.first_window, self.final_buffer)
            };
        let end = n_warmup - last;
        let mut ends = Vec::new();
        if first > 0 {
            let (mut stop, mut size) = (initial + first, first);
            ends.push(stop - 1);
            while stop < end {
                // A window that would leave less than the next (double) window's length before
                // the final buffer stretches to it, as Stan's do.
                size *= 2;
                stop = if stop + 3 * size > end {
                    end
                } else {
                    stop + size
                };
                ends.push(stop - 1);
            }
        }
        MassWindows {
            start: initial,
            ends,
        }
    }
}

/// Which warm-up steps collect draws for the mass and after which the mass changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MassWindows {
    start: usize,
    /// The last step of each window, increasing.
    ends: Vec<usize>,
}

impl MassWindows {
    /// Whether the state after warm-up step `k` joins the current window's estimate.
    pub fn collects(&self, k: usize) -> bool {
        self.ends
            .last()
            .is_some_and(|&last| k >= self.start && k <= last)
    }

    /// Whether the mass is updated after warm-up step `k`.
    pub fn updates_after(&self, k: usize) -> bool {
        self.ends.binary_search(&k).is_ok()
    }

    /// The last step of each window.
    pub fn ends(&self) -> &[usize] {
        &self.ends
    }
}

/// Running column sums of one window's draws, shifted by the first draw's ensemble mean so that
/// the variance does not cancel catastrophically in float32 far from the origin.
#[derive(Debug, Clone)]
pub(crate) struct WindowMoments<Bk: Backend> {
    shift: Tensor<Bk, 2>,
    sum: Tensor<Bk, 2>,
    sum_sq: Tensor<Bk, 2>,
    count: usize,
}

impl<Bk: Backend> WindowMoments<Bk> {
    /// A window that starts with the draws `x` (`[N, D]`).
    pub(crate) fn new(x: &Tensor<Bk, 2>) -> Self {
        let shift = x.clone().mean_dim(0);
        let centred = x.clone() - shift.clone();
        Self {
            shift,
            sum: centred.clone().sum_dim(0),
            sum_sq: centred.square().sum_dim(0),
            count: x.dims()[0],
        }
    }

    /// Adds the draws `x`.
    pub(crate) fn add(self, x: &Tensor<Bk, 2>) -> Self {
        let centred = x.clone() - self.shift.clone();
        Self {
            sum: self.sum + centred.clone().sum_dim(0),
            sum_sq: self.sum_sq + centred.square().sum_dim(0),
            count: self.count + x.dims()[0],
            shift: self.shift,
        }
    }

    /// The new `M⁻¹` (`[1, D]`): the window's variance, shrunk towards 10⁻³ as Stan does
    /// (`n/(n+5)·var + 10⁻³·5/(n+5)` with `n` draws). Where that is not finite and positive (a
    /// chain went non-finite within the window), `previous` (`[1, D]` or `[1, 1]`) stays.
    pub(crate) fn inverse_mass(self, previous: &Tensor<Bk, 2>) -> Tensor<Bk, 2> {
        let n = self.count as f64;
        let mean = self.sum.div_scalar(n);
        let var = (self.sum_sq.div_scalar(n) - mean.square()).mul_scalar(n / (n - 1.0).max(1.0));
        let shrunk = var
            .mul_scalar(n / (n + 5.0))
            .add_scalar(1e-3 * 5.0 / (n + 5.0));
        let previous = previous.clone().expand(shrunk.dims());
        let bad = shrunk
            .clone()
            .is_finite()
            .bool_not()
            .bool_or(shrunk.clone().lower_equal_elem(0.0));
        shrunk.mask_where(bad, previous)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ebm_testing::TestInner;

    #[test]
    fn stan_windows_for_a_long_and_a_short_warmup() {
        let config = MassAdaptationConfig::new();
        // Stan's 1000-step warm-up: windows 75–99, 100–149, 150–249, 250–449, 450–949.
        let windows = config.windows(1000);
        assert_eq!(windows.ends(), &[99, 149, 249, 449, 949]);
        assert!(!windows.collects(74) && windows.collects(75) && windows.collects(949));
        assert!(!windows.collects(950));
        assert!(windows.updates_after(149) && !windows.updates_after(150));
        // Shorter than 75 + 25 + 50: 15% / one window / 10%.
        let short = config.windows(100);
        assert_eq!(short.ends(), &[89]);
        assert!(short.collects(15) && !short.collects(14) && !short.collects(90));
        // Stan's second window shrinks to fit: 75–99, then 100–129 before the final 50.
        assert_eq!(config.windows(180).ends(), &[99, 129]);
        // No warm-up, no window; one step, one window of that step's draws.
        assert!(config.windows(0).ends().is_empty() && !config.windows(0).collects(0));
        assert_eq!(config.windows(1).ends(), &[0]);
        assert!(
            MassAdaptationConfig::new()
                .with_first_window(0)
                .validate()
                .is_err()
        );
    }

    #[test]
    fn window_variance_is_the_pooled_sample_variance_shrunk_as_stan_does() {
        let device = Default::default();
        // Far from the origin, where unshifted float32 sums would lose the variance.
        let a = Tensor::<TestInner, 2>::from_data([[1000.0, 1.0], [1002.0, 1.0]], &device);
        let b = Tensor::<TestInner, 2>::from_data([[1004.0, 1.0], [1006.0, 1.0]], &device);
        let previous = Tensor::<TestInner, 2>::from_data([[7.0]], &device);
        let inv = WindowMoments::new(&a).add(&b).inverse_mass(&previous);
        let inv = inv.into_data().to_vec::<f32>().unwrap();
        // Column 0: draws 1000, 1002, 1004, 1006, variance 20/3; column 1: variance 0.
        let n = 4.0;
        let expected = |var: f64| var * n / (n + 5.0) + 1e-3 * 5.0 / (n + 5.0);
        assert!(
            (inv[0] as f64 - expected(20.0 / 3.0)).abs() < 1e-4,
            "{inv:?}"
        );
        assert!((inv[1] as f64 - expected(0.0)).abs() < 1e-7, "{inv:?}");
        // A non-finite draw keeps the previous mass in its column.
        let nan = Tensor::<TestInner, 2>::from_data([[f32::NAN, 3.0], [1.0, 5.0]], &device);
        let inv = WindowMoments::new(&a).add(&nan).inverse_mass(&previous);
        let inv = inv.into_data().to_vec::<f32>().unwrap();
        assert_eq!(inv[0], 7.0);
        assert!(inv[1] > 0.0 && inv[1].is_finite());
    }
}
