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
    /// Median wall time of one repeat, in seconds (the steady state: after one warm-up run).
    pub median_s: f64,
    /// Wall time of the warm-up run before the timed repeats: on a fused GPU backend it includes
    /// compiling the kernels and autotuning them.
    #[serde(default)]
    pub warmup_s: f64,
    /// Fastest repeat.
    pub min_s: f64,
    /// Slowest repeat.
    pub max_s: f64,
    /// Number of timed repeats.
    pub repeats: usize,
    /// The benchmark's parameters.
    pub params: serde_json::Value,
}

/// The wall times of a benchmark: the warm-up run and the timed repeats after it.
#[derive(Debug, Clone)]
pub struct Timings {
    /// The first run.
    pub warmup_s: f64,
    /// The repeats after it, sorted.
    pub sorted: Vec<f64>,
}

impl Timings {
    /// Every time divided by `n` (e.g. per step when one run is `n` steps).
    pub fn per(&self, n: usize) -> Timings {
        Timings {
            warmup_s: self.warmup_s / n as f64,
            sorted: self.sorted.iter().map(|t| t / n as f64).collect(),
        }
    }
}

/// Wall times of one warm-up run of `run` and `repeats` runs after it. `run` must finish its
/// device work before returning (it reads its result back), so the clock sees all of it.
pub fn time_runs(repeats: usize, mut run: impl FnMut()) -> Timings {
    let mut timed = || {
        let start = Instant::now();
        run();
        start.elapsed().as_secs_f64()
    };
    let warmup_s = timed();
    let mut sorted: Vec<f64> = (0..repeats).map(|_| timed()).collect();
    sorted.sort_by(f64::total_cmp);
    Timings { warmup_s, sorted }
}

/// A record from sorted times; `work` is the amount done per repeat (e.g. gradient evaluations),
/// so `value = work / median`.
pub fn throughput(
    name: &str,
    backend: &str,
    metric: &str,
    work: f64,
    timings: &Timings,
    params: serde_json::Value,
) -> Record {
    let times = &timings.sorted;
    let median = times[times.len() / 2];
    Record {
        name: name.to_string(),
        backend: backend.to_string(),
        metric: metric.to_string(),
        value: work / median,
        unit: "1/s".to_string(),
        median_s: median,
        warmup_s: timings.warmup_s,
        min_s: times[0],
        max_s: times[times.len() - 1],
        repeats: times.len(),
        params,
    }
}

/// Prints one markdown row of the results table.
pub fn print_row(record: &Record, unit: &str) {
    println!(
        "| {} | {} | {:.3} ms | {:.3} ms | {:.3} ms | {:.3} ms | {:.4e} | {unit} |",
        record.name,
        record.backend,
        record.median_s * 1e3,
        record.warmup_s * 1e3,
        record.min_s * 1e3,
        record.max_s * 1e3,
        record.value
    );
}
