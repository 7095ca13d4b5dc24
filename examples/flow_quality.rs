//! The flow-era quality table: flow matching, Equilibrium Matching and Energy Matching trained on
//! the 2-D suite (eight Gaussians, two moons, checkerboard, pinwheel, swiss roll, the seeds'
//! mixture), scored by MMD² to held-out data, and by held-out NLL by quadrature for Energy
//! Matching (the one method whose model is an energy). With `--torchebm PYTHON`, TorchEBM 0.8.9
//! trains the same methods on the same points with the same settings and budget
//! (`bench/flow_quality_torchebm.py`), and both are scored by the same code here.
//!
//! Writes `table.md`, `results.json` and one picture per dataset (held-out data, then each
//! method's samples) to the output folder; docs/flow_quality.md shows a full run.
//!
//! `cargo run --release -p ebm-examples --example flow_quality -- [--quick] [--torchebm PYTHON] [--sets a,b] [--out DIR]`

#[path = "common/mod.rs"]
mod common;

use std::path::Path;
use std::time::Instant;

use common::{Args, pairs, rows, tensor};
use ebm::burn::module::AutodiffModule;
use ebm::ebm_core::neural::ConditionedMlpConfig;
use ebm::ebm_data::PointDataset;
use ebm::ebm_eval::{median_bandwidth, mmd_squared};
use ebm::ebm_plot::{ScatterPanel, plot_scatter_grid};
use ebm::ebm_sample::{FieldDescentConfig, FlowSamplerConfig};
use ebm::ebm_train::{EnergyMatchingConfig, EquilibriumMatchingConfig, FlowMatchingConfig};
use ebm::prelude::*;
use serde_json::{Value, json};

/// The budget and settings both libraries use.
struct Settings {
    sets: Vec<&'static str>,
    n_train: usize,
    n_eval: usize,
    hidden: Vec<usize>,
    epochs: usize,
    batch_size: usize,
    learning_rate: f64,
    descent_step: f64,
    descent_momentum: f64,
    descent_steps: usize,
    em_warmup_epochs: usize,
    em_langevin_steps: usize,
    em_sample_steps: usize,
    em_step_size: f64,
    em_epsilon_max: f64,
    em_tau_star: f64,
    em_contrastive_weight: f64,
    resolution: usize,
    seed: u64,
}

impl Settings {
    fn new(quick: bool) -> Self {
        let all = vec![
            "eight_gaussians",
            "two_moons",
            "checkerboard",
            "pinwheel",
            "swiss_roll",
            "mixture",
        ];
        Settings {
            sets: if quick { vec!["eight_gaussians"] } else { all },
            n_train: if quick { 512 } else { 4096 },
            n_eval: if quick { 256 } else { 2000 },
            hidden: if quick { vec![32, 32] } else { vec![256, 256] },
            epochs: if quick { 2 } else { 128 },
            batch_size: 256,
            learning_rate: 1e-3,
            descent_step: 0.01,
            descent_momentum: 0.35,
            descent_steps: 20,
            em_warmup_epochs: if quick { 1 } else { 112 },
            em_langevin_steps: if quick { 5 } else { 50 },
            em_sample_steps: if quick { 20 } else { 200 },
            em_step_size: 0.01,
            em_epsilon_max: 0.15,
            em_tau_star: 0.8,
            em_contrastive_weight: 2.0,
            resolution: if quick { 40 } else { 300 },
            seed: 11,
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "sets": self.sets, "hidden": self.hidden, "epochs": self.epochs,
            "batch_size": self.batch_size, "learning_rate": self.learning_rate, "seed": self.seed,
            "eqm_descent": {"step_size": self.descent_step, "momentum": self.descent_momentum,
                            "steps": self.descent_steps},
            "energy_matching": {"warmup_epochs": self.em_warmup_epochs,
                                "langevin_steps": self.em_langevin_steps,
                                "sample_steps": self.em_sample_steps,
                                "step_size": self.em_step_size,
                                "epsilon_max": self.em_epsilon_max,
                                "tau_star": self.em_tau_star,
                                "contrastive_weight": self.em_contrastive_weight},
        })
    }
}

/// One dataset of the suite: training points, held-out points, the noise every sampler starts
/// from, the plotting half-width and the quadrature grid (cell centres) with its cell area.
struct Set {
    name: &'static str,
    train: Vec<Vec<f64>>,
    held_out: Vec<Vec<f64>>,
    noise: Vec<Vec<f64>>,
    half_width: f64,
    grid: Vec<Vec<f64>>,
    cell_area: f64,
}

fn generate(name: &str, n: usize, seed: u64) -> PointDataset {
    let generated = match name {
        "eight_gaussians" => EightGaussiansConfig::new()
            .with_n_samples(n)
            .with_seed(seed)
            .generate(),
        "two_moons" => TwoMoonsConfig::new()
            .with_n_samples(n)
            .with_seed(seed)
            .generate(),
        "checkerboard" => CheckerboardConfig::new()
            .with_n_samples(n)
            .with_range_limit(2.0)
            .with_seed(seed)
            .generate(),
        "pinwheel" => PinwheelConfig::new()
            .with_n_samples(n)
            .with_seed(seed)
            .generate(),
        "swiss_roll" => SwissRollConfig::new()
            .with_n_samples(n)
            .with_seed(seed)
            .generate(),
        "mixture" => GaussianMixtureConfig::new()
            .with_n_samples(n)
            .with_n_components(5)
            .with_std(0.1)
            .with_radius(1.5)
            .with_seed(seed)
            .generate(),
        other => unreachable!("no dataset {other}"),
    };
    generated.expect("valid dataset")
}

fn points(d: &PointDataset) -> Vec<Vec<f64>> {
    d.points()
        .iter()
        .map(|p| vec![f64::from(p[0]), f64::from(p[1])])
        .collect()
}

impl Set {
    fn new<Bk: CpuKernels>(name: &'static str, s: &Settings, index: u64) -> Self {
        let train = points(&generate(name, s.n_train, 100 + index));
        let held_out = points(&generate(name, s.n_eval, 200 + index));
        let like = Tensor::<Bk, 2>::zeros([1, 2], &Default::default());
        let noise = rows(Noise::new(data_seed(300 + index)).normal([s.n_eval, 2], &like));
        let reach = train
            .iter()
            .chain(&held_out)
            .flatten()
            .fold(0.0f64, |m, v| m.max(v.abs()));
        let half_width = ((reach + 0.5) * 2.0).ceil() / 2.0;
        // The quadrature square reaches one unit past the pictures, where a model may still
        // put mass.
        let q = half_width + 1.0;
        let h = 2.0 * q / s.resolution as f64;
        let axis: Vec<f64> = (0..s.resolution)
            .map(|i| -q + h * (i as f64 + 0.5))
            .collect();
        let grid = axis
            .iter()
            .flat_map(|&y| axis.iter().map(move |&x| vec![x, y]))
            .collect();
        Set {
            name,
            train,
            held_out,
            noise,
            half_width,
            grid,
            cell_area: h * h,
        }
    }

    fn to_json(&self) -> Value {
        json!({"name": self.name, "train": self.train, "held_out": self.held_out,
               "noise": self.noise, "grid": self.grid})
    }
}

/// What one library's method produced on one set.
struct Outcome {
    samples: Vec<Vec<f64>>,
    train_s: f64,
    /// Energies on the quadrature grid and on the held-out points (energy models only).
    energies: Option<(Vec<f64>, Vec<f64>)>,
}

const METHODS: [(&str, &str); 3] = [
    ("fm", "flow matching"),
    ("eqm", "Equilibrium Matching"),
    ("em", "Energy Matching"),
];

fn energies<B: EbmBackend, E: Energy<B>>(
    model: &E,
    set: &Set,
    device: &ebm::burn::tensor::Device<Inner<B>>,
) -> (Vec<f64>, Vec<f64>) {
    let values = |x: &[Vec<f64>]| -> Vec<f64> {
        x.chunks(8192)
            .flat_map(|chunk| {
                model
                    .energy_value(tensor(chunk, device))
                    .into_data()
                    .convert::<f64>()
                    .to_vec::<f64>()
                    .expect("floats")
            })
            .collect()
    };
    (values(&set.grid), values(&set.held_out))
}

fn trainer_config(s: &Settings, seed: u64) -> TrainerConfig {
    TrainerConfig::new(s.epochs)
        .with_batch_size(s.batch_size)
        .with_learning_rate(Schedule::constant(s.learning_rate))
        .with_log_every(1000)
        .with_seed(seed)
}

/// Trains and samples the three methods with ebm.
fn run_ebm<B: EbmBackend>(s: &Settings, set: &Set) -> Vec<Outcome> {
    let device = Default::default();
    let data = tensor::<B>(&set.train, &device);
    let noise = tensor::<Inner<B>>(&set.noise, &device);
    let steps_per_epoch = s.n_train / s.batch_size;

    let started = Instant::now();
    let fm = ConditionedMlpConfig::new(2, s.hidden.clone())
        .with_seed(model_seed(s.seed))
        .init::<B>(&device)
        .expect("valid field");
    let objective = FlowMatchingConfig::new().init().expect("valid");
    let mut trainer = Trainer::new(
        fm,
        AdamConfig::new().init(),
        objective,
        trainer_config(s, s.seed),
    )
    .expect("valid trainer");
    trainer.fit(&data).expect("training runs");
    let train_s = started.elapsed().as_secs_f64();
    let sampler = FlowSamplerConfig::new().init().expect("valid");
    let samples = sampler
        .sample(
            &trainer.model().valid(),
            noise.clone(),
            None,
            data_seed(s.seed),
        )
        .expect("finite samples")
        .samples;
    let fm = Outcome {
        samples: rows(samples),
        train_s,
        energies: None,
    };

    let started = Instant::now();
    let field = ConditionedMlpConfig::new(2, s.hidden.clone())
        .with_time(false)
        .with_seed(model_seed(s.seed + 1))
        .init::<B>(&device)
        .expect("valid field");
    let objective = EquilibriumMatchingConfig::new().init().expect("valid");
    let mut trainer = Trainer::new(
        field,
        AdamConfig::new().init(),
        objective,
        trainer_config(s, s.seed + 1),
    )
    .expect("valid trainer");
    trainer.fit(&data).expect("training runs");
    let train_s = started.elapsed().as_secs_f64();
    let descent = FieldDescentConfig::new()
        .with_step_size(s.descent_step)
        .with_momentum(s.descent_momentum)
        .with_steps(s.descent_steps)
        .init()
        .expect("valid");
    let samples = descent
        .descend(&trainer.model().valid(), noise.clone(), None)
        .expect("finite samples");
    let eqm = Outcome {
        samples: rows(samples),
        train_s,
        energies: None,
    };

    let started = Instant::now();
    let energy = MlpConfig::new(2, s.hidden.clone())
        .with_seed(model_seed(s.seed + 2))
        .init::<B>(&device)
        .expect("valid MLP");
    let objective = EnergyMatchingConfig::new()
        .with_warmup_steps(s.em_warmup_epochs * steps_per_epoch)
        .with_langevin_steps(s.em_langevin_steps)
        .with_langevin_step_size(s.em_step_size)
        .with_epsilon_max(s.em_epsilon_max)
        .with_tau_star(s.em_tau_star)
        .with_contrastive_weight(s.em_contrastive_weight)
        .init()
        .expect("valid");
    let mut trainer = Trainer::new(
        energy,
        AdamConfig::new().init(),
        objective,
        trainer_config(s, s.seed + 2),
    )
    .expect("valid trainer");
    trainer.fit(&data).expect("training runs");
    let train_s = started.elapsed().as_secs_f64();
    let model = trainer.model();
    let langevin = LangevinConfig::new()
        .step_size(s.em_step_size)
        .noise_scale(Schedule::temperature(
            s.em_epsilon_max,
            s.em_tau_star,
            s.em_sample_steps,
        ))
        .init()
        .expect("valid sampler");
    let run = RunConfig::new(s.em_sample_steps).with_seed(data_seed(s.seed + 2));
    let samples = Sampler::<B>::sample(&langevin, model, noise, &run)
        .expect("sampling runs")
        .final_state;
    let em = Outcome {
        samples: rows(samples),
        train_s,
        energies: Some(energies::<B, _>(model, set, &device)),
    };
    vec![fm, eqm, em]
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|x| x.as_f64().unwrap_or(f64::NAN))
        .collect()
}

/// Reads what `bench/flow_quality_torchebm.py` wrote for one set.
fn read_torchebm(path: &Path) -> Vec<Outcome> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let v: Value = serde_json::from_str(&text).expect("TorchEBM's results are JSON");
    METHODS
        .iter()
        .map(|(key, _)| {
            let m = &v[key];
            Outcome {
                samples: m["samples"]
                    .as_array()
                    .expect("samples")
                    .iter()
                    .map(floats)
                    .collect(),
                train_s: m["train_s"].as_f64().expect("seconds"),
                energies: m
                    .get("grid_energy")
                    .map(|g| (floats(g), floats(&m["held_out_energy"]))),
            }
        })
        .collect()
}

/// Held-out NLL `mean E(x) + log Z`, with `log Z` by the midpoint rule over the grid; `None`
/// when an energy is not finite.
fn quadrature_nll(grid: &[f64], held_out: &[f64], cell_area: f64) -> Option<f64> {
    if grid.iter().chain(held_out).any(|e| !e.is_finite()) {
        return None;
    }
    let m = grid.iter().map(|e| -e).fold(f64::NEG_INFINITY, f64::max);
    let log_z = m + grid.iter().map(|e| (-e - m).exp()).sum::<f64>().ln() + cell_area.ln();
    Some(held_out.iter().sum::<f64>() / held_out.len() as f64 + log_z)
}

/// MMD² of the finite samples to the held-out data, with the set's fixed bandwidth, and the
/// number of non-finite samples.
fn score_mmd(samples: &[Vec<f64>], held_out: &[Vec<f64>], bandwidth: f64) -> (f64, usize) {
    let finite: Vec<Vec<f64>> = samples
        .iter()
        .filter(|r| r.iter().all(|v| v.is_finite()))
        .cloned()
        .collect();
    let lost = samples.len() - finite.len();
    let mmd = mmd_squared(&finite, held_out, Some(bandwidth))
        .map(|m| m.mmd2)
        .unwrap_or(f64::NAN);
    (mmd, lost)
}

fn run<B: EbmBackend>(args: &Args) {
    let mut s = Settings::new(args.quick);
    if let Some(list) = args.option("--sets") {
        let known = s.sets.clone();
        s.sets = list
            .split(',')
            .map(|name| {
                *known.iter().find(|k| **k == name).unwrap_or_else(|| {
                    eprintln!("error: --sets: no set `{name}` (the sets: {known:?})");
                    std::process::exit(2)
                })
            })
            .collect();
    }
    let data_dir = args.out.join("data");
    std::fs::create_dir_all(&data_dir).expect("output folder");
    let sets: Vec<Set> = s
        .sets
        .iter()
        .enumerate()
        .map(|(i, name)| Set::new::<Inner<B>>(name, &s, i as u64))
        .collect();
    let write = |path: &Path, v: &Value| {
        std::fs::write(path, serde_json::to_string(v).expect("JSON")).expect("writable");
    };
    write(&data_dir.join("settings.json"), &s.to_json());
    for set in &sets {
        write(&data_dir.join(format!("{}.json", set.name)), &set.to_json());
    }

    let torchebm_dir = args.out.join("torchebm");
    if let Some(python) = args.option("--torchebm") {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../bench/flow_quality_torchebm.py"
        );
        println!("TorchEBM: {python} {script}");
        let status = std::process::Command::new(python)
            .arg(script)
            .arg("--data")
            .arg(&data_dir)
            .arg("--out")
            .arg(&torchebm_dir)
            .env("OMP_WAIT_POLICY", "PASSIVE")
            .status()
            .expect("the TorchEBM script starts");
        assert!(status.success(), "the TorchEBM script failed: {status}");
    }
    let with_torchebm = args.option("--torchebm").is_some();

    let mut table = String::from(
        "| set | method | MMD² ebm | MMD² TorchEBM | NLL ebm | NLL TorchEBM | train s ebm | train s TorchEBM |\n|---|---|---|---|---|---|---|---|\n",
    );
    let mut results = Vec::new();
    for set in &sets {
        let started = Instant::now();
        let ebm = run_ebm::<B>(&s, set);
        println!("ebm {}: {:.1} s", set.name, started.elapsed().as_secs_f64());
        let torchebm =
            with_torchebm.then(|| read_torchebm(&torchebm_dir.join(format!("{}.json", set.name))));
        let bandwidth = median_bandwidth(&set.train, &set.held_out);
        let floor = mmd_squared(
            &set.train[..set.held_out.len().min(set.train.len())],
            &set.held_out,
            Some(bandwidth),
        )
        .expect("2-D points")
        .mmd2;
        table.push_str(&format!(
            "| {} | training data | {floor:.4} | | | | | |\n",
            set.name
        ));
        let mut panels = vec![ScatterPanel {
            title: "held-out data".into(),
            points: pairs(&set.held_out),
        }];
        let mut set_results = json!({"name": set.name, "bandwidth": bandwidth, "data_mmd2": floor});
        for (library, outcomes) in [("ebm", Some(&ebm)), ("TorchEBM", torchebm.as_ref())] {
            let Some(outcomes) = outcomes else { continue };
            for ((key, title), o) in METHODS.iter().zip(outcomes) {
                let finite: Vec<[f64; 2]> = pairs(&o.samples);
                panels.push(ScatterPanel {
                    title: format!("{library}: {title}"),
                    points: finite,
                });
                let (mmd, lost) = score_mmd(&o.samples, &set.held_out, bandwidth);
                let nll = o
                    .energies
                    .as_ref()
                    .and_then(|(g, h)| quadrature_nll(g, h, set.cell_area));
                set_results[format!("{library}/{key}")] =
                    json!({"mmd2": mmd, "non_finite": lost, "nll": nll, "train_s": o.train_s});
            }
        }
        for (key, title) in METHODS {
            let cell = |library: &str, field: &str, digits: usize| -> String {
                match set_results
                    .get(format!("{library}/{key}"))
                    .map(|r| &r[field])
                {
                    Some(Value::Number(n)) => {
                        format!("{:.*}", digits, n.as_f64().unwrap_or(f64::NAN))
                    }
                    _ => String::new(),
                }
            };
            let lost = |library: &str| -> String {
                match set_results
                    .get(format!("{library}/{key}"))
                    .map(|r| r["non_finite"].as_u64())
                {
                    Some(Some(n)) if n > 0 => format!(" ({n} non-finite)"),
                    _ => String::new(),
                }
            };
            table.push_str(&format!(
                "| {} | {title} | {}{} | {}{} | {} | {} | {} | {} |\n",
                set.name,
                cell("ebm", "mmd2", 4),
                lost("ebm"),
                cell("TorchEBM", "mmd2", 4),
                lost("TorchEBM"),
                cell("ebm", "nll", 3),
                cell("TorchEBM", "nll", 3),
                cell("ebm", "train_s", 1),
                cell("TorchEBM", "train_s", 1),
            ));
        }
        let h = set.half_width;
        let columns = panels.len().min(7);
        plot_scatter_grid(
            args.out.join(format!("{}.png", set.name)),
            set.name,
            &panels,
            columns,
            220,
            (-h, h),
            (-h, h),
        )
        .expect("plot");
        results.push(set_results);
    }
    std::fs::write(args.out.join("table.md"), &table).expect("writable");
    write(
        &args.out.join("results.json"),
        &json!({"settings": s.to_json(), "sets": results}),
    );
    println!("{table}");
    println!("table, results and pictures in {}", args.out.display());
}

fn main() {
    let args = Args::parse_with("out/flow_quality", &["--torchebm", "--sets"]);
    ebm::with_backend!(args.backend.as_str(), B => run::<B>(&args))
        .unwrap_or_else(common::unknown_backend);
}
