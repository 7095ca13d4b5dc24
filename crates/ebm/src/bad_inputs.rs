//! The bad-input table: each case, and the error kind (or the documented panic) it must give.
//! A panic from inside a dependency, a silent wrong number or an `Ok` where an error is due
//! fails the test, naming the case.

use std::panic::{AssertUnwindSafe, catch_unwind};

use burn::optim::AdamConfig;
use burn::tensor::{Tensor, TensorData};
use ebm_core::Energy;
use ebm_core::analytic::Gaussian;
use ebm_core::combinators::{FromLogDensity, Mixture};
use ebm_core::json_config::JsonConfig;
use ebm_core::neural::{Activation, Mlp, MlpConfig};
use ebm_sample::{LangevinConfig, MalaConfig, RunConfig, Sampler};
use ebm_testing::{TestBackend as B, TestInner as Cpu};
use ebm_train::{ContrastiveDivergenceConfig, Trainer, TrainerConfig};

/// What a case must produce: an error whose `Debug` starts with this variant name, a panic
/// whose message contains this text (our documented contract), or success.
enum Expect {
    Error(&'static str),
    Panic(&'static str),
    Ok,
}

type Case = (&'static str, Expect, Box<dyn Fn() -> Result<(), String>>);

fn err<E: std::fmt::Debug>(r: Result<impl Sized, E>) -> Result<(), String> {
    r.map(|_| ()).map_err(|e| format!("{e:?}"))
}

fn batch(rows: usize, cols: usize) -> Tensor<Cpu, 2> {
    Tensor::zeros([rows, cols], &Default::default())
}

fn mlp() -> Mlp<B> {
    MlpConfig::new(2, vec![4])
        .init::<B>(&Default::default())
        .unwrap()
}

type CdTrainer = Trainer<
    B,
    Mlp<B>,
    burn::optim::adaptor::OptimizerAdaptor<burn::optim::Adam, Mlp<B>, B>,
    ebm_train::ContrastiveDivergence<ebm_sample::Langevin>,
>;

/// CD on the MLP with `config`.
fn trainer(config: TrainerConfig) -> Result<CdTrainer, ebm_train::TrainError> {
    let cd = ContrastiveDivergenceConfig::new()
        .init(LangevinConfig::new().init().unwrap())
        .unwrap();
    Trainer::new(mlp(), AdamConfig::new().init(), cd, config)
}

fn cases() -> Vec<Case> {
    let device = Default::default();
    vec![
        // Direct energy calls: the documented panic that names the expected shape.
        (
            "MLP(2) on [4, 3]",
            Expect::Panic("expected [N ≥ 1, 2]"),
            Box::new(|| {
                let _ = Energy::<B>::energy_value(&mlp(), batch(4, 3));
                Ok(())
            }),
        ),
        (
            "MLP(2) gradient on [4, 1]",
            Expect::Panic("expected [N ≥ 1, 2]"),
            Box::new(|| {
                let _ = Energy::<B>::energy_and_grad(&mlp(), batch(4, 1));
                Ok(())
            }),
        ),
        (
            "MLP on an empty batch",
            Expect::Panic("the input batch is empty"),
            Box::new(|| {
                let _ = Energy::<B>::energy_value(&mlp(), batch(0, 2));
                Ok(())
            }),
        ),
        (
            "standard Gaussian(2) on [4, 3]",
            Expect::Panic("expected [N ≥ 1, 2]"),
            Box::new(|| {
                let _ = Energy::<B>::grad_energy(&Gaussian::standard(2).unwrap(), batch(4, 3));
                Ok(())
            }),
        ),
        (
            "Gaussian(2) on [4, 1]",
            Expect::Panic("expected [N ≥ 1, 2]"),
            Box::new(|| {
                let g =
                    Gaussian::new(vec![1.0, 0.0], vec![vec![2.0, 0.0], vec![0.0, 1.0]]).unwrap();
                let _ = Energy::<B>::grad_energy(&g, batch(4, 1));
                Ok(())
            }),
        ),
        (
            "check_input on [4, 3]",
            Expect::Error("Dimension"),
            Box::new(|| err(Energy::<B>::check_input(&mlp(), [4, 3]))),
        ),
        (
            "check_input on [0, 2]",
            Expect::Error("EmptyBatch"),
            Box::new(|| err(Energy::<B>::check_input(&mlp(), [0, 2]))),
        ),
        // Numbers that used to be silently wrong.
        (
            "mixture weights [1e308, 1e308]",
            Expect::Ok,
            Box::new(|| {
                let energy_at_1 = |weights: Vec<f64>| -> Result<f32, String> {
                    let parts = vec![
                        Gaussian::standard(1).unwrap(),
                        Gaussian::new(vec![2.0], vec![vec![1.0]]).unwrap(),
                    ];
                    let m = Mixture::new(parts, weights).map_err(|e| format!("{e:?}"))?;
                    let x = Tensor::<Cpu, 2>::ones([1, 1], &Default::default());
                    Ok(Energy::<B>::energy_value(&m, x).into_scalar())
                };
                // The same mixture as weights [1, 1].
                let huge = energy_at_1(vec![1e308, 1e308])?;
                let unit = energy_at_1(vec![1.0, 1.0])?;
                (huge == unit)
                    .then_some(())
                    .ok_or(format!("E = {huge}, expected {unit}"))
            }),
        ),
        (
            "Gaussian with correlation 1 − 1e-9",
            Expect::Error("InvalidParameter"),
            Box::new(|| {
                let r = 1.0 - 1e-9;
                err(Gaussian::new(
                    vec![0.0, 0.0],
                    vec![vec![1.0, r], vec![r, 1.0]],
                ))
            }),
        ),
        (
            "LeakyReLU with a NaN slope",
            Expect::Error("InvalidParameter"),
            Box::new(move || {
                err(MlpConfig::new(2, vec![4])
                    .with_activation(Activation::LeakyRelu {
                        negative_slope: f64::NAN,
                    })
                    .init::<B>(&device))
            }),
        ),
        (
            "MLP from NaN weights",
            Expect::Error("NonFinite"),
            Box::new(move || {
                let w = Tensor::<B, 2>::from_data(
                    TensorData::new(vec![f32::NAN, 1.0], [2, 1]),
                    &device,
                );
                err(Mlp::from_parameters(
                    vec![w],
                    vec![Tensor::zeros([1], &device)],
                    Activation::Silu,
                ))
            }),
        ),
        (
            "MMD of a NaN sample",
            Expect::Error("NonFinite"),
            Box::new(|| {
                let x = vec![vec![0.0], vec![f64::NAN], vec![1.0]];
                let y = vec![vec![0.0], vec![1.0]];
                err(ebm_eval::mmd_squared(&x, &y, None))
            }),
        ),
        (
            "KSD of a NaN sample",
            Expect::Error("NonFinite"),
            Box::new(move || {
                let x = vec![vec![0.0, 0.0], vec![f64::NAN, 1.0], vec![1.0, 0.5]];
                err(ebm_eval::kernel_stein_discrepancy::<B, _>(
                    &Gaussian::standard(2).unwrap(),
                    &x,
                    Some(1.0),
                    &device,
                ))
            }),
        ),
        (
            "log Z of an energy that is NaN",
            Expect::Error("NonFinite"),
            Box::new(move || {
                let nan = FromLogDensity::new(Some(2), |x: Tensor<B, 2>| {
                    let n = x.dims()[0];
                    x.sum_dim(1).reshape([n]).mul_scalar(f32::NAN)
                });
                err(ebm_eval::log_partition_2d::<B, _>(
                    &nan,
                    (-1.0, 1.0),
                    (-1.0, 1.0),
                    8,
                    &device,
                ))
            }),
        ),
        (
            "MALA started where the energy is NaN",
            Expect::Error("NonFinite"),
            Box::new(move || {
                let nan_outside = FromLogDensity::new(Some(1), |x: Tensor<B, 2>| {
                    let n = x.dims()[0];
                    let outside = x.clone().abs().greater_elem(1.0);
                    x.square().neg().mask_fill(outside, f32::NAN).reshape([n])
                });
                let init = Tensor::<Cpu, 2>::from_data([[0.0], [3.0]], &device);
                let mala = MalaConfig::new().init().unwrap();
                err(Sampler::<B>::sample(
                    &mala,
                    &nan_outside,
                    init,
                    &RunConfig::new(10),
                ))
            }),
        ),
        // Sizes that used to abort or panic inside a dependency.
        (
            "MLP width 2^36",
            Expect::Error("TooLarge"),
            Box::new(move || err(MlpConfig::new(2, vec![1 << 36]).init::<B>(&device))),
        ),
        (
            "energy grid 2^20 × 2^20",
            Expect::Error("TooLarge"),
            Box::new(move || {
                err(ebm_core::grid::energy_grid::<B, _>(
                    &Gaussian::standard(2).unwrap(),
                    (-1.0, 1.0),
                    (-1.0, 1.0),
                    [1 << 20, 1 << 20],
                    &device,
                ))
            }),
        ),
        (
            "2^62 chains from noise",
            Expect::Error("Input(TooLarge"),
            Box::new(move || {
                let langevin = LangevinConfig::new().init().unwrap();
                err(Sampler::<B>::sample_from_noise(
                    &langevin,
                    &Gaussian::standard(2).unwrap(),
                    1 << 62,
                    2,
                    &device,
                    &RunConfig::new(1),
                ))
            }),
        ),
        (
            "image grid at scale 100000",
            Expect::Error("Input"),
            Box::new(|| {
                let path = std::env::temp_dir().join("ebm-bad-input-grid.png");
                err(ebm_plot::plot_image_grid(
                    path,
                    &[0.5; 4],
                    [1, 2, 2],
                    1,
                    100_000,
                ))
            }),
        ),
        (
            "checkerboard range f64::MAX",
            Expect::Error("InvalidParameter"),
            Box::new(|| {
                let mut c = ebm_data::synthetic::CheckerboardConfig::new();
                c.range_limit = f64::MAX;
                err(c.generate())
            }),
        ),
        (
            "dataset of 2^40 points",
            Expect::Error("InvalidParameter"),
            Box::new(|| {
                let mut c = ebm_data::synthetic::CheckerboardConfig::new();
                c.n_samples = 1 << 40;
                err(c.generate())
            }),
        ),
        // Parameters.
        (
            "Langevin step size 0",
            Expect::Error("Schedule"),
            Box::new(|| err(LangevinConfig::new().step_size(0.0).init())),
        ),
        (
            "run with thin 0",
            Expect::Error("InvalidParameter"),
            Box::new(move || {
                let langevin = LangevinConfig::new().init().unwrap();
                err(Sampler::<B>::sample(
                    &langevin,
                    &Gaussian::standard(1).unwrap(),
                    batch(2, 1),
                    &RunConfig::new(5).with_thin(0),
                ))
            }),
        ),
        (
            "one diagnostic record",
            Expect::Error("InvalidParameter"),
            Box::new(move || {
                let langevin = LangevinConfig::new().init().unwrap();
                let run = RunConfig::new(5)
                    .with_diagnostics(true)
                    .with_max_diagnostic_records(Some(1));
                err(Sampler::<B>::sample(
                    &langevin,
                    &Gaussian::standard(1).unwrap(),
                    batch(2, 1),
                    &run,
                ))
            }),
        ),
        (
            "trainer batch size 0",
            Expect::Error("InvalidParameter"),
            Box::new(|| err(trainer(TrainerConfig::new(1).with_batch_size(0)))),
        ),
        (
            "checkpoint_every without checkpoint_dir",
            Expect::Error("InvalidParameter"),
            Box::new(|| {
                err(trainer(
                    TrainerConfig::new(1).with_checkpoint_every(Some(5)),
                ))
            }),
        ),
        (
            "an empty dataset",
            Expect::Error("EmptyDataset"),
            Box::new(|| {
                let mut t = trainer(TrainerConfig::new(1).with_quiet(true)).unwrap();
                err(t.fit(&Tensor::from_inner(batch(0, 2))))
            }),
        ),
        (
            "a checkpoint that does not exist",
            Expect::Error("Checkpoint"),
            Box::new(|| {
                let mut t = trainer(TrainerConfig::new(1)).unwrap();
                err(t.load_checkpoint(std::path::Path::new("/nonexistent/ebm-checkpoint")))
            }),
        ),
        (
            "HMC with 0 leapfrog steps",
            Expect::Error("InvalidParameter"),
            Box::new(|| err(ebm_sample::HmcConfig::new().with_n_leapfrog(0).init())),
        ),
        (
            "HMC masses for 3 coordinates on a 2-D target",
            Expect::Error("Input"),
            Box::new(move || {
                let hmc = ebm_sample::HmcConfig::new()
                    .with_mass(ebm_sample::Mass::Diagonal(vec![1.0, 1.0, 1.0]))
                    .init()
                    .unwrap();
                err(Sampler::<B>::sample(
                    &hmc,
                    &Gaussian::standard(2).unwrap(),
                    batch(2, 2),
                    &RunConfig::new(2),
                ))
            }),
        ),
        (
            "a cosine schedule over 0 steps",
            Expect::Error("Schedule"),
            Box::new(|| {
                let s = ebm_core::schedule::Schedule::Cosine {
                    start: 0.1,
                    end: 0.01,
                    n_steps: 0,
                };
                err(LangevinConfig::new().with_step_size(s).init())
            }),
        ),
        (
            "a noise ladder of 0 levels",
            Expect::Error("InvalidParameter"),
            Box::new(|| err(ebm_sample::NoiseLadderConfig::new().with_levels(0).init())),
        ),
        (
            "DSM with σ = NaN",
            Expect::Error("Schedule"),
            Box::new(|| {
                err(ebm_train::DenoisingScoreMatchingConfig::new()
                    .sigma(f64::NAN)
                    .init())
            }),
        ),
        (
            "an energy grid of 1 × 1",
            Expect::Error("InvalidParameter"),
            Box::new(move || {
                err(ebm_core::grid::energy_grid::<B, _>(
                    &Gaussian::standard(2).unwrap(),
                    (-1.0, 1.0),
                    (-1.0, 1.0),
                    [1, 1],
                    &device,
                ))
            }),
        ),
        (
            "an energy grid over a NaN range",
            Expect::Error("InvalidParameter"),
            Box::new(move || {
                err(ebm_core::grid::energy_grid::<B, _>(
                    &Gaussian::standard(2).unwrap(),
                    (f64::NAN, 1.0),
                    (-1.0, 1.0),
                    [4, 4],
                    &device,
                ))
            }),
        ),
        (
            "training data of width 3 for an MLP(2)",
            Expect::Error("Energy(Dimension"),
            Box::new(|| {
                let mut t = trainer(TrainerConfig::new(1).with_quiet(true)).unwrap();
                err(t.fit(&Tensor::from_inner(batch(10, 3))))
            }),
        ),
        (
            "training data with a NaN",
            Expect::Error("NonFiniteLoss"),
            Box::new(|| {
                let mut t = trainer(TrainerConfig::new(1).with_quiet(true)).unwrap();
                let data = Tensor::<Cpu, 2>::from_data(
                    TensorData::new(vec![0.0f32, f32::NAN, 1.0, 2.0], [2, 2]),
                    &Default::default(),
                );
                err(t.fit(&Tensor::from_inner(data)))
            }),
        ),
        (
            "a loss curve with only NaN points",
            Expect::Error("Input"),
            Box::new(|| {
                let path = std::env::temp_dir().join("ebm-bad-input-curve.png");
                let series = [ebm_plot::Series {
                    name: "loss".into(),
                    points: vec![(0.0, f64::NAN), (1.0, f64::NAN)],
                }];
                err(ebm_plot::plot_curves(
                    path,
                    "t",
                    "step",
                    &series,
                    (200, 100),
                ))
            }),
        ),
        (
            "a loss curve of size 0 × 0",
            Expect::Error("Input"),
            Box::new(|| {
                let path = std::env::temp_dir().join("ebm-bad-input-curve0.png");
                let series = [ebm_plot::Series {
                    name: "loss".into(),
                    points: vec![(0.0, 1.0), (1.0, 2.0)],
                }];
                err(ebm_plot::plot_curves(path, "t", "step", &series, (0, 0)))
            }),
        ),
        (
            "an image grid with NaN pixels",
            Expect::Error("Input"),
            Box::new(|| {
                let path = std::env::temp_dir().join("ebm-bad-input-nan.png");
                err(ebm_plot::plot_image_grid(
                    path,
                    &[0.5, f32::NAN, 0.5, 0.5],
                    [1, 2, 2],
                    1,
                    2,
                ))
            }),
        ),
        (
            "an IDX file that does not exist",
            Expect::Error("Io"),
            Box::new(|| {
                err(ebm_data::idx::read_idx_images(
                    "/nonexistent/train-images-idx3-ubyte",
                ))
            }),
        ),
        (
            "a truncated IDX file",
            Expect::Error("Malformed"),
            Box::new(|| {
                let bytes = [0u8, 0, 8, 3, 0, 0, 0, 9, 0, 0, 0, 28, 0, 0, 0, 28, 1, 2];
                err(ebm_data::idx::parse_idx(&bytes, std::path::Path::new("x")))
            }),
        ),
        (
            "an IDX header claiming 2^32 × 2^32 images",
            Expect::Error("Malformed"),
            Box::new(|| {
                let bytes = [
                    0u8, 0, 8, 3, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
                ];
                err(ebm_data::idx::parse_idx(&bytes, std::path::Path::new("x")))
            }),
        ),
        (
            "a landscape 100 pixels wide",
            Expect::Error("Input"),
            Box::new(move || {
                let grid = ebm_core::grid::energy_grid::<B, _>(
                    &Gaussian::standard(2).unwrap(),
                    (-1.0, 1.0),
                    (-1.0, 1.0),
                    [4, 4],
                    &device,
                )
                .unwrap();
                let options = ebm_plot::LandscapeOptions {
                    size: (100, 100),
                    ..Default::default()
                };
                let path = std::env::temp_dir().join("ebm-bad-input-landscape.png");
                err(ebm_plot::plot_landscape(path, &grid, &options, None, None))
            }),
        ),
        // Configs from JSON.
        (
            "a typo in a JSON config",
            Expect::Error("UnknownKey"),
            Box::new(|| {
                err(TrainerConfig::from_json(
                    r#"{"epochs": 3, "learning_rte": 0.1}"#,
                ))
            }),
        ),
        (
            "a JSON config with defaults left out",
            Expect::Ok,
            Box::new(|| err(TrainerConfig::from_json(r#"{"epochs": 3}"#))),
        ),
        (
            "a JSON config without its required field",
            Expect::Error("Missing"),
            Box::new(|| err(TrainerConfig::from_json(r#"{"batch_size": 3}"#))),
        ),
    ]
}

#[test]
fn every_bad_input_gets_its_error_kind() {
    let cases = cases();
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut failures = vec![];
    for (name, expect, run) in &cases {
        let outcome = catch_unwind(AssertUnwindSafe(run));
        let verdict = match (expect, outcome) {
            (Expect::Ok, Ok(Ok(()))) => None,
            (Expect::Error(kind), Ok(Err(e))) if e.starts_with(kind) => None,
            (Expect::Panic(text), Err(payload)) => {
                let message = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                (!message.contains(text)).then(|| format!("panicked with `{message}`"))
            }
            (_, Ok(Ok(()))) => Some("succeeded".to_string()),
            (_, Ok(Err(e))) => Some(format!("returned {e}")),
            (_, Err(_)) => Some("panicked".to_string()),
        };
        if let Some(v) = verdict {
            failures.push(format!("{name}: {v}"));
        }
    }
    std::panic::set_hook(hook);
    assert!(
        failures.is_empty(),
        "{} of {} cases:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
