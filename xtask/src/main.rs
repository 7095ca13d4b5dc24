//! `cargo xtask bench [--backend ndarray,flex,wgpu,wgpu-unfused,cuda] [--quick] [--filter NAME] [--out DIR]
//! [--torchebm PYTHON] [--blackjax PYTHON]`
//!
//! Builds `ebm-bench` once per requested backend (with that backend's cargo feature), runs it,
//! and merges the records into `DIR/results.json` (default `target/bench`). A backend whose
//! build or device is unavailable is reported as skipped, with the reason, not as a failure.
//!
//! With `--torchebm PYTHON`, the same suite also runs on TorchEBM (`bench/torchebm_reference.py`
//! under that interpreter, which must have `torchebm` installed), its records join the file
//! with backend `torchebm`, and a table gives each NdArray figure's speed-up over TorchEBM
//! beside the goal of the benchmark issue: the ratios come from one run on one machine.
//!
//! With `--blackjax PYTHON`, `bench/blackjax_reference.py` first runs blackjax's MALA and HMC on
//! the sampler-efficiency targets under that interpreter (which must have `jax` and `blackjax`),
//! writing its draws to `DIR/blackjax`; the NdArray run scores them with the same ESS estimator
//! as its own (records with backend `blackjax`), and a table gives the ratios of ESS per gradient
//! evaluation and ESS per second beside the goals of the sampling issue.
//!
//! With both builds of a GPU backend (`--backend wgpu,wgpu-unfused`), a table gives the fused
//! build's speed-up over the unfused one, in the steady state and in the warm-up run.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, ExitStatus};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("bench") => bench(&args[1..]),
        _ => {
            eprintln!(
                "usage: cargo xtask bench [--backend ndarray,flex,wgpu,wgpu-unfused,cuda] [--quick] [--filter NAME] [--out DIR] [--torchebm PYTHON] [--blackjax PYTHON]"
            );
            ExitCode::from(2)
        }
    }
}

fn bench(args: &[String]) -> ExitCode {
    let mut backends = vec!["ndarray".to_string()];
    let mut out = PathBuf::from("target/bench");
    let mut passthrough = Vec::new();
    let mut filter = Vec::new();
    let mut torchebm = None;
    let mut blackjax = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--backend" => match it.next() {
                Some(v) => backends = v.split(',').map(str::to_string).collect(),
                None => return usage_error("--backend needs a value"),
            },
            "--out" => match it.next() {
                Some(v) => out = PathBuf::from(v),
                None => return usage_error("--out needs a value"),
            },
            "--quick" => passthrough.push(arg.clone()),
            "--filter" => match it.next() {
                Some(v) => filter = vec![arg.clone(), v.clone()],
                None => return usage_error("--filter needs a value"),
            },
            "--torchebm" => match it.next() {
                Some(v) => torchebm = Some(v.clone()),
                None => return usage_error("--torchebm needs a Python interpreter"),
            },
            "--blackjax" => match it.next() {
                Some(v) => blackjax = Some(v.clone()),
                None => return usage_error("--blackjax needs a Python interpreter"),
            },
            other => return usage_error(&format!("unknown argument `{other}`")),
        }
    }
    if (torchebm.is_some() || blackjax.is_some()) && !passthrough.is_empty() {
        return usage_error("--torchebm and --blackjax compare the full-size suite; drop --quick");
    }
    if let Err(e) = std::fs::create_dir_all(&out) {
        eprintln!("xtask: cannot create {}: {e}", out.display());
        return ExitCode::FAILURE;
    }
    let blackjax_dir = out.join("blackjax");
    let mut blackjax_ran = false;
    if let Some(python) = &blackjax {
        let status = Command::new(python)
            .arg("bench/blackjax_reference.py")
            .arg("--out")
            .arg(&blackjax_dir)
            .args(&filter)
            .status();
        match status {
            Ok(s) if s.success() => blackjax_ran = true,
            Ok(s) => println!("skipped blackjax: the reference run failed ({s})"),
            Err(e) => println!("skipped blackjax: cannot run {python} ({e})"),
        }
    }
    let mut all = Vec::new();
    for backend in &backends {
        let part = out.join(format!("results-{backend}.json"));
        let status = Command::new(env!("CARGO"))
            .args([
                "run",
                "--release",
                "--quiet",
                "-p",
                "ebm-bench",
                "--no-default-features",
                "--features",
                backend,
                "--",
            ])
            .args(["--backend", backend, "--out"])
            .arg(&part)
            .args(&passthrough)
            .args(&filter)
            .args(if blackjax_ran && backend == "ndarray" {
                vec!["--blackjax".into(), blackjax_dir.clone().into_os_string()]
            } else {
                vec![]
            })
            .status();
        let failed = "the benchmark build or run failed";
        if let Some(records) = records_of(backend, status, failed, "cargo", &part) {
            all.extend(records);
        }
    }
    if blackjax_ran {
        print_efficiency_ratios(&all);
    }
    for (fused, unfused) in [("wgpu", "wgpu-unfused"), ("cuda", "cuda-unfused")] {
        if backends.iter().any(|b| b == fused) && backends.iter().any(|b| b == unfused) {
            print_fusion_ratios(&all, fused, unfused);
        }
    }
    if let Some(python) = &torchebm {
        let part = out.join("results-torchebm.json");
        let status = Command::new(python)
            .arg("bench/torchebm_reference.py")
            .arg("--out")
            .arg(&part)
            .args(&filter)
            .status();
        let failed = "the reference run failed";
        if let Some(records) = records_of("torchebm", status, failed, python, &part) {
            print_ratios(&all, &records);
            all.extend(records);
        }
    }
    let path = out.join("results.json");
    match std::fs::write(
        &path,
        serde_json::to_string_pretty(&all).expect("serialises"),
    ) {
        Ok(()) => {
            println!("wrote {} records to {}", all.len(), path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("xtask: cannot write {}: {e}", path.display());
            ExitCode::FAILURE
        }
    }
}

/// The records a run wrote to `part`, or `None` after printing why `name` is skipped: the run
/// failed (`failed`), `program` could not start, or the file is unreadable.
fn records_of(
    name: &str,
    status: std::io::Result<ExitStatus>,
    failed: &str,
    program: &str,
    part: &Path,
) -> Option<Vec<serde_json::Value>> {
    match status {
        Ok(s) if s.success() => {
            let text = std::fs::read_to_string(part).unwrap_or_default();
            match serde_json::from_str(&text) {
                Ok(records) => Some(records),
                Err(e) => {
                    println!("skipped {name}: unreadable results ({e})");
                    None
                }
            }
        }
        Ok(s) => {
            println!("skipped {name}: {failed} ({s})");
            None
        }
        Err(e) => {
            println!("skipped {name}: cannot run {program} ({e})");
            None
        }
    }
}

/// The speed-up goals of the benchmark issue, over TorchEBM on the same machine.
const GOALS: [(&str, f64); 14] = [
    ("langevin_mlp_small", 2.0),
    ("langevin_mlp_wide", 1.2),
    ("langevin_gaussian", 3.0),
    ("langevin_doublewell", 3.0),
    ("hmc_gaussian", 3.0),
    ("cd_step", 2.0),
    ("pcd_step", 2.0),
    ("sm_exact_step", 1.5),
    ("ssm_step", 1.5),
    ("dsm_step", 1.5),
    ("fm_step", 2.0),
    ("eqm_step", 2.0),
    ("em_step", 2.0),
    ("flow_sample_dopri5", 2.0),
];

/// Prints each NdArray record's speed-up over the TorchEBM record of the same name.
fn print_ratios(ours: &[serde_json::Value], reference: &[serde_json::Value]) {
    println!("\n| benchmark | ndarray | torchebm | speed-up | goal | met |");
    println!("|---|---|---|---|---|---|");
    for theirs in reference {
        let name = theirs["name"].as_str().unwrap_or_default();
        let Some(mine) = ours
            .iter()
            .find(|r| r["name"] == name && r["backend"] == "ndarray")
        else {
            continue;
        };
        let (a, b) = (mine["median_s"].as_f64(), theirs["median_s"].as_f64());
        let (Some(a), Some(b)) = (a, b) else { continue };
        // Both time the same work, so the speed-up is the ratio of the medians.
        let speed_up = b / a;
        let goal = GOALS.iter().find(|(n, _)| *n == name).map(|(_, g)| *g);
        let (goal_text, met) = match goal {
            Some(g) => (format!("≥ {g}×"), if speed_up >= g { "yes" } else { "no" }),
            None => ("-".to_string(), "-"),
        };
        println!(
            "| {name} | {:.4e} | {:.4e} | {speed_up:.2}× | {goal_text} | {met} |",
            mine["value"].as_f64().unwrap_or(f64::NAN),
            theirs["value"].as_f64().unwrap_or(f64::NAN),
        );
    }
}

/// Prints, per sampler-efficiency case, the NdArray run's ESS per gradient evaluation and per
/// second against blackjax's, with the goals of the sampling issue: at least blackjax's ESS per
/// gradient for the same algorithm, and twice its ESS per second.
fn print_efficiency_ratios(all: &[serde_json::Value]) {
    println!(
        "\n| case | ESS/grad ndarray | ESS/grad blackjax | ratio (goal ≥ 1) | ESS/s ndarray | ESS/s blackjax | ratio (goal ≥ 2) | max abs z ndarray / blackjax |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for theirs in all.iter().filter(|r| r["backend"] == "blackjax") {
        let name = &theirs["name"];
        let Some(mine) = all
            .iter()
            .find(|r| &r["name"] == name && r["backend"] == "ndarray")
        else {
            continue;
        };
        let per_grad =
            |r: &serde_json::Value| r["params"]["ess_per_grad"].as_f64().unwrap_or(f64::NAN);
        let per_s = |r: &serde_json::Value| r["value"].as_f64().unwrap_or(f64::NAN);
        let z = |r: &serde_json::Value| r["params"]["max_abs_z"].as_f64().unwrap_or(f64::NAN);
        println!(
            "| {} | {:.3e} | {:.3e} | {:.2} | {:.3e} | {:.3e} | {:.2} | {:.1} / {:.1} |",
            name.as_str().unwrap_or_default(),
            per_grad(mine),
            per_grad(theirs),
            per_grad(mine) / per_grad(theirs),
            per_s(mine),
            per_s(theirs),
            per_s(mine) / per_s(theirs),
            z(mine),
            z(theirs),
        );
    }
}

/// Prints, per benchmark run on both builds of one GPU backend, how much faster the fused build
/// is than the unfused one: in the steady state (medians after the warm-up run) and in the
/// warm-up run (which holds the fused build's kernel compilation and autotuning).
fn print_fusion_ratios(all: &[serde_json::Value], fused: &str, unfused: &str) {
    println!(
        "\n| benchmark | {fused} steady | {unfused} steady | speed-up | {fused} warm-up | {unfused} warm-up | speed-up |"
    );
    println!("|---|---|---|---|---|---|---|");
    for f in all.iter().filter(|r| r["backend"] == fused) {
        let Some(u) = all
            .iter()
            .find(|r| r["backend"] == unfused && r["name"] == f["name"])
        else {
            continue;
        };
        let get = |r: &serde_json::Value, key: &str| r[key].as_f64().unwrap_or(f64::NAN);
        let (fs, us) = (get(f, "median_s"), get(u, "median_s"));
        let (fw, uw) = (get(f, "warmup_s"), get(u, "warmup_s"));
        println!(
            "| {} | {:.3} s | {:.3} s | {:.2}× | {:.3} s | {:.3} s | {:.2}× |",
            f["name"].as_str().unwrap_or_default(),
            fs,
            us,
            us / fs,
            fw,
            uw,
            uw / fw
        );
    }
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("xtask: {message}");
    ExitCode::from(2)
}
