//! What a run keeps of its sampling steps: the thinned trajectory, and the per-step diagnostics
//! with the host copies of the draws that ESS and split-R̂ are computed from.

use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};
use ebm_core::Energy;

use crate::diagnostics::{Diagnostics, StepRecord, chain_statistics};
use crate::run::RunConfig;
use crate::transition::ChainState;

/// Keeps every `thin`-th sampling state, as [`RunConfig`] asks.
pub(crate) struct RunRecorder<Bk: Backend> {
    thin: usize,
    keep_trajectory: bool,
    diagnostics: bool,
    max_records: Option<usize>,
    kept: Vec<Tensor<Bk, 2>>,
    records: Vec<StepRecord>,
    /// `[recorded][chain·D + dim]`, for ESS and split-R̂.
    host_draws: Vec<Vec<f64>>,
    /// Kept steps seen, and the spacing of those recorded (doubles under a record bound).
    seen: usize,
    stride: usize,
}

impl<Bk: Backend> RunRecorder<Bk> {
    pub(crate) fn new(run: &RunConfig) -> Self {
        Self {
            thin: run.thin,
            keep_trajectory: run.keep_trajectory,
            diagnostics: run.diagnostics,
            max_records: run.max_diagnostic_records,
            kept: vec![],
            records: vec![],
            host_draws: vec![],
            seen: 0,
            stride: 1,
        }
    }

    /// Called after sampling step `i` (from 0, warm-up excluded), which is run step `k`.
    pub(crate) fn after_step<B, E, S>(
        &mut self,
        i: usize,
        k: usize,
        energy: &E,
        state: &S,
        accepted: Option<&Tensor<Bk, 1>>,
    ) where
        B: AutodiffBackend<InnerBackend = Bk>,
        E: Energy<B> + ?Sized,
        S: ChainState<Bk>,
    {
        if !(i + 1).is_multiple_of(self.thin) {
            return;
        }
        if self.keep_trajectory {
            self.kept.push(state.positions().clone());
        }
        if self.diagnostics && self.seen.is_multiple_of(self.stride) {
            let record = self.record::<B, E, S>(energy, state, k, accepted);
            self.records.push(record);
            if let Some(max) = self.max_records
                && self.records.len() >= 2 * max
            {
                self.records = std::mem::take(&mut self.records)
                    .into_iter()
                    .step_by(2)
                    .collect();
                self.host_draws = std::mem::take(&mut self.host_draws)
                    .into_iter()
                    .step_by(2)
                    .collect();
                self.stride *= 2;
            }
        }
        self.seen += 1;
    }

    fn record<B, E, S>(
        &mut self,
        energy: &E,
        state: &S,
        k: usize,
        accepted: Option<&Tensor<Bk, 1>>,
    ) -> StepRecord
    where
        B: AutodiffBackend<InnerBackend = Bk>,
        E: Energy<B> + ?Sized,
        S: ChainState<Bk>,
    {
        let x = state.positions();
        let [_, d] = x.dims();
        let energies = match state.energies() {
            Some(e) => e.clone(),
            None => energy.energy_value(x.clone()),
        };
        let e = host(energies);
        let x = host(x.clone());
        let non_finite = x
            .chunks(d)
            .filter(|r| r.iter().any(|v| !v.is_finite()))
            .count();
        let finite: Vec<f64> = e.iter().copied().filter(|v| v.is_finite()).collect();
        self.host_draws.push(x);
        StepRecord {
            step: k,
            mean_energy: finite.iter().sum::<f64>() / finite.len().max(1) as f64,
            acceptance_rate: accepted.map(|a| {
                burn::tensor::ElementConversion::elem::<f64>(a.clone().mean().into_scalar())
            }),
            non_finite,
        }
    }

    /// The trajectory `[n_chains, n_kept, D]` (if asked for and not empty) and the diagnostics
    /// (if asked for) of `n_chains` chains in `d` dimensions.
    pub(crate) fn finish(
        self,
        n_chains: usize,
        d: usize,
    ) -> (Option<Tensor<Bk, 3>>, Option<Diagnostics>) {
        let diagnostics = self.diagnostics.then(|| {
            let (ess, split_rhat) = if self.host_draws.len() >= 4 {
                let by_chain: Vec<Vec<Vec<f64>>> = (0..n_chains)
                    .map(|c| {
                        self.host_draws
                            .iter()
                            .map(|s| s[c * d..(c + 1) * d].to_vec())
                            .collect()
                    })
                    .collect();
                let (e, r) = chain_statistics(&by_chain);
                (Some(e), Some(r))
            } else {
                (None, None)
            };
            Diagnostics {
                steps: self.records,
                ess,
                split_rhat,
            }
        });
        let trajectory =
            (self.keep_trajectory && !self.kept.is_empty()).then(|| Tensor::stack(self.kept, 1));
        (trajectory, diagnostics)
    }
}

fn host<Bk: Backend, const D: usize>(t: Tensor<Bk, D>) -> Vec<f64> {
    t.into_data().convert::<f64>().to_vec().expect("float data")
}
