//! The run's NaN/Inf check: every `check_every` steps and after the last, the chains whose
//! position or known energy is not finite stop the run or restart, as [`NonFinitePolicy`] says.

use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Tensor};

use crate::error::SampleError;
use crate::noise::Noise;
use crate::run::{NonFinitePolicy, RunConfig};
use crate::transition::ChainState;

pub(crate) struct NonFiniteGuard {
    policy: NonFinitePolicy,
    every: usize,
    last_step: usize,
    /// Chains restarted so far.
    pub(crate) resets: usize,
}

impl NonFiniteGuard {
    pub(crate) fn new(run: &RunConfig) -> Self {
        Self {
            policy: run.on_non_finite,
            every: run.check_every,
            last_step: (run.n_warmup + run.n_steps).saturating_sub(1),
            resets: 0,
        }
    }

    /// Checks the state after step `k` when a check is due; restarts bad chains from N(0, I)
    /// under [`NonFinitePolicy::Reset`].
    pub(crate) fn after_step<Bk: Backend, S: ChainState<Bk>>(
        &mut self,
        k: usize,
        state: S,
        noise: &mut Noise,
    ) -> Result<S, SampleError> {
        let due = (k + 1).is_multiple_of(self.every) || k == self.last_step;
        if !due || self.policy == NonFinitePolicy::Propagate {
            return Ok(state);
        }
        // A chain stuck where the energy is NaN rejects every proposal and would otherwise look
        // healthy, so a known energy is checked too.
        let (bad, mask) = non_finite(state.positions(), state.energies());
        let Some(mask) = mask else {
            return Ok(state);
        };
        if self.policy == NonFinitePolicy::Error {
            return Err(SampleError::NonFinite {
                step: k,
                chains: bad,
            });
        }
        self.resets += bad.len();
        let fresh = noise.normal(state.positions().dims(), state.positions());
        Ok(state.restart(mask, fresh))
    }
}

/// Indices of the rows of `x` (`[chains, D]`) holding a NaN or an infinity. One scalar read
/// when every row is finite, two when some are not.
pub fn non_finite_chains<Bk: Backend>(x: &Tensor<Bk, 2>) -> Vec<usize> {
    non_finite(x, None).0
}

/// The non-finite rows of `x` or of `energy`, and their mask `[N, D]` (`None` when all rows
/// are finite).
fn non_finite<Bk: Backend>(
    x: &Tensor<Bk, 2>,
    energy: Option<&Tensor<Bk, 1>>,
) -> (Vec<usize>, Option<Tensor<Bk, 2, Bool>>) {
    let mut total = x.clone().sum();
    if let Some(e) = energy {
        total = total + e.clone().sum();
    }
    let total: f64 = burn::tensor::ElementConversion::elem(total.into_scalar());
    if total.is_finite() {
        return (vec![], None);
    }
    let [n, d] = x.dims();
    let mut bad_rows = x.clone().is_finite().bool_not().any_dim(1); // [N, 1]
    if let Some(e) = energy {
        bad_rows = bad_rows.bool_or(e.clone().is_finite().bool_not().unsqueeze_dim(1));
    }
    // Read as integers: backends store booleans differently (NdArray natively, WGPU as u32).
    let flags = bad_rows.clone().int().into_data();
    let rows = flags
        .iter::<i64>()
        .enumerate()
        .filter_map(|(i, bad)| (bad != 0).then_some(i))
        .collect::<Vec<usize>>();
    // A finite batch whose sum overflowed has no bad row.
    if rows.is_empty() {
        return (rows, None);
    }
    (rows, Some(bad_rows.expand([n, d])))
}
