//! `cargo xtask bench [--backend ndarray,flex,wgpu,cuda] [--quick] [--filter NAME] [--out DIR]`
//!
//! Builds `ebm-bench` once per requested backend (with that backend's cargo feature), runs it,
//! and merges the records into `DIR/results.json` (default `target/bench`). A backend whose
//! build or device is unavailable is reported as skipped, with the reason, not as a failure.

use std::path::PathBuf;
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("bench") => bench(&args[1..]),
        _ => {
            eprintln!(
                "usage: cargo xtask bench [--backend ndarray,flex,wgpu,cuda] [--quick] [--filter NAME] [--out DIR]"
            );
            ExitCode::from(2)
        }
    }
}

fn bench(args: &[String]) -> ExitCode {
    let mut backends = vec!["ndarray".to_string()];
    let mut out = PathBuf::from("target/bench");
    let mut passthrough = Vec::new();
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
                Some(v) => passthrough.extend([arg.clone(), v.clone()]),
                None => return usage_error("--filter needs a value"),
            },
            other => return usage_error(&format!("unknown argument `{other}`")),
        }
    }
    if let Err(e) = std::fs::create_dir_all(&out) {
        eprintln!("xtask: cannot create {}: {e}", out.display());
        return ExitCode::FAILURE;
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
            .status();
        match status {
            Ok(s) if s.success() => {
                let text = std::fs::read_to_string(&part).unwrap_or_default();
                match serde_json::from_str::<Vec<serde_json::Value>>(&text) {
                    Ok(records) => all.extend(records),
                    Err(e) => println!("skipped {backend}: unreadable results ({e})"),
                }
            }
            Ok(s) => println!("skipped {backend}: the benchmark build or run failed ({s})"),
            Err(e) => println!("skipped {backend}: cannot run cargo ({e})"),
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

fn usage_error(message: &str) -> ExitCode {
    eprintln!("xtask: {message}");
    ExitCode::from(2)
}
