//! Timing and the result record shared with `cargo xtask bench`.

use serde::{Deserialize, Serialize};
use std::time::Instant;

/// One benchmark result, as written to `results.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// Benchmark name.
    pub name: String,
    /// Backend it ran on.
    pub backend: String,
    /// What `value` measures, e.g. `grad_evals_per_s`.
    pub metric: String,
    /// The throughput (or time) derived from the median.
    pub value: f64,
    /// Unit of `value`.
    pub unit: String,
    /// Median wall time of one repeat, in seconds.
    pub median_s: f64,
    /// Fastest repeat.
    pub min_s: f64,
    /// Slowest repeat.
    pub max_s: f64,
    /// Number of timed repeats.
    pub repeats: usize,
    /// The benchmark's parameters.
    pub params: serde_json::Value,
}

/// Wall times of `repeats` runs of `run` after one warm-up run, sorted. `run` must finish its
/// device work before returning (it reads its result back), so the clock sees all of it.
pub fn time_runs(repeats: usize, mut run: impl FnMut()) -> Vec<f64> {
    run();
    let mut times: Vec<f64> = (0..repeats)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times
}

/// A record from sorted times; `work` is the amount done per repeat (e.g. gradient evaluations),
/// so `value = work / median`.
pub fn throughput(
    name: &str,
    backend: &str,
    metric: &str,
    work: f64,
    times: &[f64],
    params: serde_json::Value,
) -> Record {
    let median = times[times.len() / 2];
    Record {
        name: name.to_string(),
        backend: backend.to_string(),
        metric: metric.to_string(),
        value: work / median,
        unit: "1/s".to_string(),
        median_s: median,
        min_s: times[0],
        max_s: times[times.len() - 1],
        repeats: times.len(),
        params,
    }
}

/// Prints one markdown row of the results table.
pub fn print_row(record: &Record, unit: &str) {
    println!(
        "| {} | {} | {:.3} ms | {:.3} ms | {:.3} ms | {:.4e} | {unit} |",
        record.name,
        record.backend,
        record.median_s * 1e3,
        record.min_s * 1e3,
        record.max_s * 1e3,
        record.value
    );
}
