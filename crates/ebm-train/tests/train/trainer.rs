//! The training loop: bit-exact resume from checkpoints, checkpoints killed mid-write, corrupt
//! and mismatched checkpoints, non-finite losses, and bad input.

use burn::optim::AdamConfig;
use burn::tensor::{Distribution, Tensor};
use ebm_core::neural::{Mlp, MlpConfig};
use ebm_core::schedule::Schedule;
use ebm_sample::{Langevin, LangevinConfig};
use ebm_testing::{TestBackend, TestInner};
use ebm_train::*;

type B = TestBackend;
type Cpu = TestInner;

fn data(n: usize) -> Tensor<B, 2> {
    Tensor::<B, 2>::from_data(
        Tensor::<Cpu, 2>::random([n, 2], Distribution::Normal(0.0, 1.0), &Default::default())
            .into_data(),
        &Default::default(),
    )
}

fn fixed_data() -> Tensor<B, 2> {
    // Deterministic data that does not depend on Burn's global RNG.
    let v: Vec<f32> = (0..600).map(|i| ((i as f32) * 0.37).sin() * 1.5).collect();
    Tensor::from_data(
        burn::tensor::TensorData::new(v, [300, 2]),
        &Default::default(),
    )
}

fn langevin() -> Langevin {
    LangevinConfig::new().step_size(0.01).init().unwrap()
}

fn mlp(width: usize) -> Mlp<B> {
    MlpConfig::new(2, vec![width, width])
        .with_seed(3)
        .init::<B>(&Default::default())
        .unwrap()
}

type PcdTrainer = Trainer<
    B,
    Mlp<B>,
    burn::optim::adaptor::OptimizerAdaptor<burn::optim::Adam, Mlp<B>, B>,
    PersistentContrastiveDivergence<B, Langevin>,
>;

fn pcd_config() -> PersistentContrastiveDivergenceConfig {
    PersistentContrastiveDivergenceConfig::new()
        .with_k(5)
        .with_buffer_size(500)
}

fn trainer_config(epochs: usize) -> TrainerConfig {
    TrainerConfig::new(epochs)
        .with_batch_size(64)
        .with_learning_rate(Schedule::ExponentialDecay {
            start: 1e-2,
            rate: 0.99,
            min: 1e-4,
        })
        .with_grad_clip_norm(Some(1.0))
        .with_ema_decay(Some(0.9))
        .with_log_every(1)
        .with_seed(5)
        .with_quiet(true)
}

fn pcd_trainer_with(
    model: Mlp<B>,
    pcd: PersistentContrastiveDivergenceConfig,
    config: TrainerConfig,
) -> PcdTrainer {
    let pcd = pcd.init::<B, _>(langevin()).unwrap();
    Trainer::new(model, AdamConfig::new().init(), pcd, config).unwrap()
}

fn pcd_trainer(epochs: usize, width: usize) -> PcdTrainer {
    pcd_trainer_with(mlp(width), pcd_config(), trainer_config(epochs))
}

/// The replay buffer's values.
fn buffer(t: &PcdTrainer) -> Vec<f32> {
    let states = t.objective().buffer().unwrap().states().clone();
    states.into_data().to_vec::<f32>().unwrap()
}

fn params(m: &Mlp<B>) -> Vec<f32> {
    let mut v = vec![];
    for l in m.hidden.iter().chain(std::iter::once(&m.output)) {
        v.extend(l.weight.val().into_data().to_vec::<f32>().unwrap());
        v.extend(l.bias.val().into_data().to_vec::<f32>().unwrap());
    }
    v
}

#[test]
fn resuming_from_a_checkpoint_is_bit_exact() {
    let data = fixed_data();
    let dir = std::env::temp_dir().join(format!("ebm-resume-{}", std::process::id()));
    // Straight: 4 epochs.
    let mut straight = pcd_trainer(4, 16);
    straight.fit(&data).unwrap();
    // Interrupted: 2 epochs, checkpoint, then a fresh trainer (other initial weights would be
    // overwritten) loads it and finishes.
    let mut first = pcd_trainer(2, 16);
    first.fit(&data).unwrap();
    first.save_checkpoint(&dir).unwrap();
    let mut second = pcd_trainer(4, 16);
    second.load_checkpoint(&dir).unwrap();
    assert_eq!(second.step(), first.step());
    second.fit(&data).unwrap();
    assert_eq!(second.step(), straight.step());
    assert_eq!(
        params(second.model()),
        params(straight.model()),
        "model parameters differ"
    );
    assert_eq!(
        params(second.ema().unwrap()),
        params(straight.ema().unwrap()),
        "EMA differs"
    );
    assert_eq!(buffer(&second), buffer(&straight), "replay buffers differ");
    // The last logged losses agree too.
    assert_eq!(second.history().last(), straight.history().last());
    std::fs::remove_dir_all(&dir).ok();
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ebm-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    dir
}

fn version_dirs(root: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "LATEST")
        .collect();
    names.sort();
    names
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn the_trainers_seed_decides_the_whole_run() {
    // The objective has no seed of its own: its replay buffer, slots, restarts and sampler
    // noise are streams of the trainer's seed, as is the data order.
    let data = fixed_data();
    let run = |seed: u64| {
        let mut t = pcd_trainer_with(mlp(8), pcd_config(), trainer_config(1).with_seed(seed));
        t.fit(&data).unwrap();
        (params(t.model()), buffer(&t))
    };
    let (params_a, buffer_a) = run(5);
    assert_eq!(run(5), (params_a.clone(), buffer_a.clone()));
    let (params_b, buffer_b) = run(6);
    assert_ne!(params_a, params_b);
    assert_ne!(buffer_a, buffer_b);
    // The step's streams are the run seed's named streams at that step.
    let step = TrainStep::new(7, 5);
    assert_eq!(
        step.stream("pcd/slots"),
        ebm_core::random_stream::stream_seed(5, "pcd/slots", 7)
    );
    assert_ne!(step.stream("pcd/slots"), step.stream("pcd/sampler"));
}

#[test]
fn a_checkpoint_directory_keeps_versions_and_refuses_foreign_paths() {
    let data = fixed_data();
    let dir = scratch("versions");
    let mut trainer = pcd_trainer_with(
        mlp(8),
        pcd_config(),
        trainer_config(1).with_checkpoint_keep(2),
    );
    let mut steps = vec![];
    for _ in 0..4 {
        trainer.fit(&data).unwrap();
        trainer.save_checkpoint(&dir).unwrap();
        steps.push(trainer.step());
    }
    // The newest two versions, nothing temporary.
    assert_eq!(version_dirs(&dir), ["v0000000003", "v0000000004"]);
    let mut fresh = pcd_trainer(1, 8);
    fresh.load_checkpoint(&dir).unwrap();
    assert_eq!(fresh.step(), steps[3]);
    // An older version loads by its own path.
    fresh.load_checkpoint(&dir.join("v0000000003")).unwrap();
    assert_eq!(fresh.step(), steps[2]);

    // A regular file under the checkpoint's name is neither moved nor overwritten.
    let file = scratch("user-file");
    std::fs::write(&file, b"the user's notes").unwrap();
    assert!(matches!(
        trainer.save_checkpoint(&file),
        Err(TrainError::Checkpoint { .. })
    ));
    assert_eq!(std::fs::read(&file).unwrap(), b"the user's notes");
    // Nor is a directory that holds something else.
    let other = scratch("user-dir");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("data.csv"), b"1,2").unwrap();
    assert!(matches!(
        trainer.save_checkpoint(&other),
        Err(TrainError::Checkpoint { .. })
    ));
    assert_eq!(version_dirs(&other), ["data.csv"]);
    // Nothing there: a typed error.
    assert!(matches!(
        fresh.load_checkpoint(&dir.join("nope")),
        Err(TrainError::Checkpoint { .. })
    ));
    // An I/O failure keeps its cause: an empty directory has no LATEST to read.
    let empty = scratch("empty-dir");
    std::fs::create_dir_all(&empty).unwrap();
    let err = fresh.load_checkpoint(&empty).unwrap_err();
    let io = std::error::Error::source(&err)
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .unwrap_or_else(|| panic!("no io::Error source in {err:?}"));
    assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
    // Periodic checkpoints need both settings.
    for config in [
        trainer_config(1).with_checkpoint_every(Some(5)),
        trainer_config(1).with_checkpoint_dir(Some(dir.display().to_string())),
        trainer_config(1).with_checkpoint_keep(0),
    ] {
        let pcd = pcd_config().init::<B, _>(langevin()).unwrap();
        assert!(matches!(
            Trainer::new(mlp(8), AdamConfig::new().init(), pcd, config),
            Err(TrainError::InvalidParameter(
                ebm_core::InvalidParameter { .. }
            ))
        ));
    }
    for path in [dir, file, other] {
        std::fs::remove_dir_all(&path)
            .or_else(|_| std::fs::remove_file(&path))
            .ok();
    }
}

#[test]
fn every_corruption_of_a_checkpoint_is_a_typed_error() {
    use rand::{Rng, SeedableRng};
    let data = fixed_data();
    let pristine = scratch("pristine");
    let mut trainer = pcd_trainer(1, 8);
    trainer.fit(&data).unwrap();
    trainer.save_checkpoint(&pristine).unwrap();
    let version = std::path::PathBuf::from("v0000000001");
    let files: Vec<std::path::PathBuf> = [
        "model.bin",
        "optimizer.bin",
        "ema.bin",
        "objective.bin",
        "manifest.json",
    ]
    .iter()
    .map(|f| version.join(f))
    .chain(std::iter::once("LATEST".into()))
    .collect();
    let mut fresh = pcd_trainer(1, 8);
    let before = params(fresh.model());
    let mut rng = rand::rngs::SmallRng::seed_from_u64(11);
    let work = scratch("corrupted");
    let mut kinds = [0usize; 5];
    for i in 0..200 {
        std::fs::remove_dir_all(&work).ok();
        copy_dir(&pristine, &work);
        let file = work.join(&files[i % files.len()]);
        let mut bytes = std::fs::read(&file).unwrap();
        let kind = rng.random_range(0..5);
        kinds[kind] += 1;
        match kind {
            0 => {
                let bit = rng.random_range(0..bytes.len() * 8);
                bytes[bit / 8] ^= 1 << (bit % 8);
            }
            1 => {
                let at = rng.random_range(0..bytes.len());
                bytes[at] = bytes[at].wrapping_add(rng.random_range(1..=255));
            }
            2 => bytes.truncate(rng.random_range(0..bytes.len())),
            3 => bytes.push(rng.random()),
            _ => {
                std::fs::remove_file(&file).unwrap();
            }
        }
        if kind != 4 {
            std::fs::write(&file, &bytes).unwrap();
        }
        match fresh.load_checkpoint(&work) {
            Err(TrainError::CheckpointCorrupt { .. }) => {}
            // Without LATEST there is no checkpoint.
            Err(TrainError::Checkpoint { .. }) if kind == 4 && file.ends_with("LATEST") => {}
            other => panic!(
                "corruption {i} (kind {kind}) of {}: {other:?}",
                file.display()
            ),
        }
        assert_eq!(
            params(fresh.model()),
            before,
            "a failed load changed the model"
        );
        assert_eq!(fresh.step(), 0);
    }
    assert!(kinds.iter().all(|&k| k > 20), "{kinds:?}");
    // The pristine copy still loads.
    fresh.load_checkpoint(&pristine).unwrap();
    assert_eq!(params(fresh.model()), params(trainer.model()));
    std::fs::remove_dir_all(&work).ok();
    std::fs::remove_dir_all(&pristine).ok();
}

#[test]
fn a_checkpoint_from_another_configuration_names_the_field() {
    use ebm_core::neural::Activation;
    let data = fixed_data();
    let dir = scratch("mismatch");
    let mut trainer = pcd_trainer(1, 8);
    trainer.fit(&data).unwrap();
    trainer.save_checkpoint(&dir).unwrap();
    let model = |hidden: Vec<usize>, activation: Activation| {
        MlpConfig::new(2, hidden)
            .with_activation(activation)
            .with_seed(3)
            .init::<B>(&Default::default())
            .unwrap()
    };
    let cases: Vec<(PcdTrainer, &str)> = vec![
        (pcd_trainer(1, 16), "model.parameter_shapes"),
        (
            pcd_trainer_with(
                model(vec![8, 8, 8], Activation::Silu),
                pcd_config(),
                trainer_config(1),
            ),
            "model.parameter_shapes",
        ),
        (
            pcd_trainer_with(
                model(vec![8, 8], Activation::Relu),
                pcd_config(),
                trainer_config(1),
            ),
            "model.structure",
        ),
        (
            pcd_trainer_with(
                mlp(8),
                pcd_config().with_buffer_size(400),
                trainer_config(1),
            ),
            "objective.persistent_contrastive_divergence.buffer_size",
        ),
        (
            pcd_trainer_with(mlp(8), pcd_config(), trainer_config(1).with_batch_size(32)),
            "trainer.batch_size",
        ),
        (
            pcd_trainer_with(mlp(8), pcd_config(), trainer_config(1).with_ema_decay(None)),
            "trainer.ema_decay",
        ),
    ];
    for (mut other, want) in cases {
        let before = params(other.model());
        match other.load_checkpoint(&dir) {
            Err(TrainError::CheckpointMismatch { field, .. }) => assert_eq!(field, want),
            r => panic!("expected a mismatch in {want}, got {r:?}"),
        }
        assert_eq!(
            params(other.model()),
            before,
            "a failed load changed the model"
        );
    }
    // What only sets the length of the run may change.
    let mut longer = pcd_trainer_with(mlp(8), pcd_config(), trainer_config(5).with_log_every(7));
    longer.load_checkpoint(&dir).unwrap();
    assert_eq!(params(longer.model()), params(trainer.model()));
    std::fs::remove_dir_all(&dir).ok();
}

const CRASH_CHILD: &str = "EBM_CRASH_TEST_CHECKPOINT_DIR";

/// The run the crash test kills: 100 steps, a checkpoint after every one, resuming from the
/// checkpoint directory when there is one.
fn crash_run(dir: Option<&std::path::Path>) -> PcdTrainer {
    let config = trainer_config(20).with_log_every(10);
    let config = match dir {
        Some(d) => config
            .with_checkpoint_every(Some(1))
            .with_checkpoint_dir(Some(d.display().to_string())),
        None => config,
    };
    pcd_trainer_with(mlp(8), pcd_config(), config)
}

/// The child process of [`checkpoints_survive_being_killed_at_any_instant`]; without its
/// environment variable it does nothing.
#[test]
fn checkpoint_crash_child() {
    let Some(dir) = std::env::var_os(CRASH_CHILD) else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let mut trainer = crash_run(Some(&dir));
    if dir.join("LATEST").exists() {
        trainer.load_checkpoint(&dir).unwrap();
    }
    trainer.fit(&fixed_data()).unwrap();
}

#[cfg(unix)]
#[test]
fn checkpoints_survive_being_killed_at_any_instant() {
    use rand::{Rng, SeedableRng};
    use std::time::Duration;
    // What a kill can break is on the file system, the same for every backend; a child on
    // lavapipe takes longer to start than the kill window, so it would never make progress.
    if ebm_testing::BACKEND_NAME != "ndarray" {
        return;
    }
    let data = fixed_data();
    let mut straight = crash_run(None);
    straight.fit(&data).unwrap();
    let mut rng = rand::rngs::SmallRng::seed_from_u64(17);
    let dir = scratch("crash");
    let (mut kills, mut campaigns) = (0, 0);
    while kills < 50 {
        // One campaign: start from nothing, kill the child again and again, restart it from the
        // checkpoint, until a child finishes the run.
        std::fs::remove_dir_all(&dir).ok();
        campaigns += 1;
        let mut progress = 0;
        loop {
            let mut child = std::process::Command::new(std::env::current_exe().unwrap())
                .args([
                    "trainer::checkpoint_crash_child",
                    "--exact",
                    "--test-threads=1",
                ])
                .env(CRASH_CHILD, &dir)
                // Each of the switch's three stages pauses 4 ms: most kills land inside it.
                .env("EBM_CHECKPOINT_FAULT_DELAY_MS", "4")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_millis(rng.random_range(20..250)));
            if child.try_wait().unwrap().is_some() {
                assert!(child.wait().unwrap().success(), "the child failed");
                break;
            }
            child.kill().unwrap();
            child.wait().unwrap();
            kills += 1;
            // A complete checkpoint, never older than the last one seen.
            let mut probe = crash_run(None);
            match probe.load_checkpoint(&dir) {
                Ok(()) => {
                    assert!(probe.step() >= progress, "progress was lost");
                    progress = probe.step();
                }
                Err(TrainError::Checkpoint { .. }) if progress == 0 => {}
                Err(e) => panic!("after kill {kills}: {e}"),
            }
        }
        let mut last = crash_run(None);
        last.load_checkpoint(&dir).unwrap();
        assert_eq!(last.step(), straight.step());
        assert_eq!(
            params(last.model()),
            params(straight.model()),
            "model differs"
        );
        assert_eq!(params(last.ema().unwrap()), params(straight.ema().unwrap()));
        assert_eq!(buffer(&last), buffer(&straight), "replay buffer differs");
    }
    eprintln!("{kills} kills over {campaigns} resumed runs");
    std::fs::remove_dir_all(&dir).ok();
}

/// An objective whose loss (or, with `gradient_only`, only its parameter gradient) is NaN at the
/// steps in `bad`. Its record counts the steps it has seen, to show that a bad step leaves no
/// trace in the objective.
#[derive(Clone)]
struct NanAt {
    bad: std::ops::Range<usize>,
    gradient_only: bool,
    seen: usize,
}

impl NanAt {
    fn new(bad: std::ops::Range<usize>) -> Self {
        Self {
            bad,
            gradient_only: false,
            seen: 0,
        }
    }
}

impl Objective<B, Mlp<B>> for NanAt {
    type Record = usize;

    fn check_batch(&self, model: &Mlp<B>, dims: [usize; 2]) -> Result<(), TrainError> {
        Ok(ebm_core::Energy::check_input(model, dims)?)
    }

    fn loss(
        &mut self,
        model: &Mlp<B>,
        batch: Tensor<B, 2>,
        step: TrainStep,
    ) -> Result<LossOutput<B>, TrainError> {
        use ebm_core::Energy;
        self.seen += 1;
        let step = step.index;
        let e = model.energy(batch);
        let pos = e.clone().detach().inner().mean();
        let loss = match (self.bad.contains(&step), self.gradient_only) {
            (false, _) => e.mean(),
            (true, false) => e.mean().mul_scalar(f32::NAN),
            // A term that is exactly 0 in the forward pass whose derivative is f32::MAX: the
            // loss stays finite, the gradient norm overflows.
            (true, true) => {
                let m = e.mean();
                m.clone() + (m.clone() - m.detach()).mul_scalar(f32::MAX)
            }
        };
        Ok(LossOutput {
            loss,
            metrics: Metrics::new().with(metrics::names::POS_ENERGY, pos),
            negatives: None,
        })
    }

    fn to_record(&self) -> usize {
        self.seen
    }

    fn load_record(&mut self, seen: usize) {
        self.seen = seen;
    }
}

fn nan_trainer(
    objective: NanAt,
    config: TrainerConfig,
) -> Trainer<B, Mlp<B>, burn::optim::adaptor::OptimizerAdaptor<burn::optim::Adam, Mlp<B>, B>, NanAt>
{
    Trainer::new(mlp(4), AdamConfig::new().init(), objective, config).unwrap()
}

fn seen(trainer: &Trainer<B, Mlp<B>, impl burn::optim::Optimizer<Mlp<B>, B>, NanAt>) -> usize {
    trainer.objective().to_record()
}

#[test]
fn a_non_finite_step_never_reaches_the_parameters() {
    let data = fixed_data(); // 300 rows: 6 steps of 50 per epoch
    let config = TrainerConfig::new(1).with_batch_size(50).with_quiet(true);

    // Error: the trainer stops at step 2 and keeps what it had after steps 0 and 1, although the
    // loss is read only at step 0 (a log step) and at the end of the epoch.
    let mut trainer = nan_trainer(NanAt::new(2..3), config.clone());
    match trainer.fit(&data) {
        Err(TrainError::NonFiniteLoss { step: 2, loss, .. }) => assert!(loss.is_nan()),
        other => panic!(
            "expected NonFiniteLoss at step 2, got {:?}",
            other.map(|h| h.len())
        ),
    }
    assert_eq!(trainer.step(), 2);
    assert_eq!(
        seen(&trainer),
        2,
        "the bad step left its trace in the objective"
    );
    assert!(params(trainer.model()).iter().all(|v| v.is_finite()));

    // A NaN gradient under a finite loss is caught the same way.
    let mut trainer = nan_trainer(
        NanAt {
            gradient_only: true,
            ..NanAt::new(4..5)
        },
        config.clone(),
    );
    assert!(matches!(
        trainer.fit(&data),
        Err(TrainError::NonFiniteGradient { step: 4 })
    ));
    assert!(params(trainer.model()).iter().all(|v| v.is_finite()));

    // Skip: checking the loss at every step (log_every = 1) and only at log steps and epoch ends
    // (log_every = 4: steps 0 and 4, and the epoch ends) give the same model, the same history
    // and the same count, the bad step being replayed after a rollback.
    let skip = TrainerConfig::new(2)
        .with_batch_size(50)
        .with_quiet(true)
        .with_on_non_finite(NonFiniteLoss::Skip);
    let mut every = nan_trainer(NanAt::new(2..4), skip.clone().with_log_every(1));
    every.fit(&data).unwrap();
    let mut deferred = nan_trainer(NanAt::new(2..4), skip.clone().with_log_every(4));
    deferred.fit(&data).unwrap();
    for t in [&every, &deferred] {
        assert_eq!(t.skipped_steps(), 2);
        assert_eq!(t.step(), 12);
        assert_eq!(seen(t), 10);
    }
    assert_eq!(params(every.model()), params(deferred.model()));
    assert!(params(every.model()).iter().all(|v| v.is_finite()));
    let logged: Vec<_> = every.history().iter().filter(|l| l.step % 4 == 0).collect();
    assert_eq!(logged.len(), deferred.history().len());
    for (a, b) in logged.iter().zip(deferred.history()) {
        assert_eq!(*a, b);
    }

    // Skip has a limit: a model that keeps producing NaN stops the run.
    let mut trainer = nan_trainer(
        NanAt::new(1..usize::MAX),
        skip.with_max_consecutive_skips(3),
    );
    assert!(matches!(
        trainer.fit(&data),
        Err(TrainError::TooManySkips {
            step: 3,
            consecutive: 3
        })
    ));
    assert!(params(trainer.model()).iter().all(|v| v.is_finite()));
}

#[test]
fn bad_input_gives_typed_errors() {
    let config = TrainerConfig::new(1).with_quiet(true);
    let cd = || ContrastiveDivergenceConfig::new().init(langevin()).unwrap();
    // No skip allowance.
    assert!(matches!(
        Trainer::new(
            mlp(4),
            AdamConfig::new().init(),
            cd(),
            config.clone().with_max_consecutive_skips(0)
        ),
        Err(TrainError::InvalidParameter(ebm_core::InvalidParameter {
            name: "max_consecutive_skips",
            ..
        }))
    ));
    // Empty dataset.
    let mut trainer = Trainer::new(mlp(4), AdamConfig::new().init(), cd(), config.clone()).unwrap();
    let empty = Tensor::<B, 2>::zeros([0, 2], &Default::default());
    assert!(matches!(trainer.fit(&empty), Err(TrainError::EmptyDataset)));
    // Data whose width does not match the energy.
    let wide = Tensor::<B, 2>::zeros([10, 3], &Default::default());
    assert!(matches!(
        trainer.fit(&wide),
        Err(TrainError::Energy(ebm_core::EnergyError::Dimension {
            expected: 2,
            got: 3
        }))
    ));
    // A replay buffer smaller than the batch.
    let pcd = PersistentContrastiveDivergenceConfig::new()
        .with_buffer_size(10)
        .init::<B, _>(langevin())
        .unwrap();
    let mut trainer = Trainer::new(
        mlp(4),
        AdamConfig::new().init(),
        pcd,
        config.clone().with_batch_size(32),
    )
    .unwrap();
    assert!(matches!(
        trainer.fit(&data(100)),
        Err(TrainError::InvalidParameter(ebm_core::InvalidParameter {
            name: "batch size",
            ..
        }))
    ));
    // k = 0.
    assert!(matches!(
        ContrastiveDivergenceConfig::new()
            .with_k(0)
            .init(langevin()),
        Err(TrainError::InvalidParameter(ebm_core::InvalidParameter {
            name: "k",
            ..
        }))
    ));
    assert!(matches!(
        PersistentContrastiveDivergenceConfig::new()
            .with_k(0)
            .init::<B, _>(langevin()),
        Err(TrainError::InvalidParameter(ebm_core::InvalidParameter {
            name: "k",
            ..
        }))
    ));
    // σ ≤ 0.
    assert!(matches!(
        DenoisingScoreMatchingConfig::new().sigma(0.0).init(),
        Err(TrainError::Schedule(ebm_core::schedule::InvalidSchedule {
            field: "sigma",
            ..
        }))
    ));
    assert!(matches!(
        DenoisingScoreMatchingConfig::new()
            .with_sigma(Schedule::Linear {
                start: 0.1,
                end: -0.1,
                n_steps: 5
            })
            .init(),
        Err(TrainError::Schedule(ebm_core::schedule::InvalidSchedule {
            field: "sigma",
            ..
        }))
    ));
    // Trainer parameters.
    assert!(matches!(
        Trainer::new(
            mlp(4),
            AdamConfig::new().init(),
            cd(),
            config.clone().with_batch_size(0)
        ),
        // A count is reported as the count it is.
        Err(TrainError::InvalidParameter(ebm_core::InvalidParameter {
            name: "batch_size",
            value: ebm_core::ParamValue::Count(0),
            ..
        }))
    ));
    assert!(matches!(
        SlicedScoreMatchingConfig::new().with_projections(0).init(),
        Err(TrainError::InvalidParameter(ebm_core::InvalidParameter {
            name: "projections",
            ..
        }))
    ));
}

#[test]
fn configs_describe_a_run_in_json() {
    let config = TrainerConfig::new(3).with_learning_rate(Schedule::Cosine {
        start: 1e-3,
        end: 1e-5,
        n_steps: 100,
    });
    let json = serde_json::to_string(&config).unwrap();
    let back: TrainerConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(back.learning_rate, config.learning_rate);
    let pcd = PersistentContrastiveDivergenceConfig::new().with_restart_fraction(0.1);
    let back: PersistentContrastiveDivergenceConfig =
        serde_json::from_str(&serde_json::to_string(&pcd).unwrap()).unwrap();
    assert_eq!(back.restart_fraction, 0.1);
}

/// Records the number of rows of every batch it sees, and logs it as a metric that it computes
/// only when asked (counting the calls).
#[derive(Clone)]
struct BatchSizes(
    std::rc::Rc<std::cell::RefCell<Vec<usize>>>,
    std::rc::Rc<std::cell::Cell<usize>>,
);

impl Objective<B, Mlp<B>> for BatchSizes {
    type Record = ();

    fn check_batch(&self, model: &Mlp<B>, dims: [usize; 2]) -> Result<(), TrainError> {
        Ok(ebm_core::Energy::check_input(model, dims)?)
    }

    fn data_energy(&self, model: &Mlp<B>, batch: &Tensor<B, 2>) -> Option<Tensor<Cpu, 1>> {
        Some(ebm_core::Energy::energy_value(model, batch.clone().inner()).mean())
    }

    fn loss(
        &mut self,
        model: &Mlp<B>,
        batch: Tensor<B, 2>,
        _step: TrainStep,
    ) -> Result<LossOutput<B>, TrainError> {
        use ebm_core::Energy;
        self.0.borrow_mut().push(batch.dims()[0]);
        Ok(LossOutput {
            loss: model.energy(batch).mean(),
            metrics: Metrics::new(),
            negatives: None,
        })
    }

    fn log_metrics(
        &self,
        _model: &Mlp<B>,
        batch: &Tensor<B, 2>,
        _output: &LossOutput<B>,
    ) -> Metrics<Cpu> {
        self.1.set(self.1.get() + 1);
        let rows = batch.dims()[0] as f32;
        Metrics::new().with("rows", Tensor::from_floats([rows], &Default::default()))
    }
}

#[test]
fn the_last_batch_is_filled_to_the_batch_size_unless_asked_otherwise() {
    let data = fixed_data(); // 300 rows
    for (last, want) in [
        (LastBatch::Fill, vec![128, 128, 128]),
        (LastBatch::Keep, vec![128, 128, 44]),
    ] {
        let sizes = BatchSizes(Default::default(), Default::default());
        let config = TrainerConfig::new(2)
            .with_batch_size(128)
            .with_last_batch(last)
            .with_log_every(2)
            .with_quiet(true);
        let mut trainer =
            Trainer::new(mlp(4), AdamConfig::new().init(), sizes.clone(), config).unwrap();
        trainer.fit(&data).unwrap();
        let seen = sizes.0.borrow().clone();
        assert_eq!(seen, [want.clone(), want].concat(), "{last:?}");
        // Logged-step metrics are computed at the logged steps (0, 2, 4 of 6) and nowhere else.
        let history = trainer.history();
        assert_eq!(sizes.1.get(), 3);
        let logged: Vec<f64> = history.iter().filter_map(|l| l.metric("rows")).collect();
        let every_other: Vec<f64> = seen.iter().step_by(2).map(|&n| n as f64).collect();
        assert_eq!(logged, every_other);
        // Score-matching-like objectives leave the data energy to the trainer's log steps.
        assert!(
            trainer
                .history()
                .iter()
                .all(|l| l.metric("pos_energy").is_some_and(f64::is_finite))
        );
    }
}

#[test]
fn diverging_negative_chains_follow_the_trainers_policy() {
    use ebm_core::neural::{Quadratic, QuadraticConfig};
    // On E = ½|x|², Langevin with step 10 multiplies the chains by -9 a step: they overflow to
    // infinity, then NaN, within k = 60 steps.
    let exploding = || LangevinConfig::new().step_size(10.0).init().unwrap();
    let quadratic = || {
        QuadraticConfig::new(2)
            .init::<B>(&Default::default())
            .unwrap()
    };
    let finite = |q: &Quadratic<B>| {
        q.precision_matrix().iter().all(|v| v.is_finite())
            && q.mean
                .val()
                .into_data()
                .to_vec::<f32>()
                .unwrap()
                .iter()
                .all(|v| v.is_finite())
    };
    let data = fixed_data();
    let config = TrainerConfig::new(1).with_batch_size(50).with_quiet(true);
    let pcd = || {
        pcd_config()
            .with_k(60)
            .with_buffer_size(100)
            .init::<B, _>(exploding())
            .unwrap()
    };
    // Error: the error names the training step and the chains.
    let mut trainer =
        Trainer::new(quadratic(), AdamConfig::new().init(), pcd(), config.clone()).unwrap();
    match trainer.fit(&data) {
        Err(TrainError::NonFiniteLoss {
            step: 0, chains, ..
        }) => {
            assert!(
                !chains.is_empty() && chains.iter().all(|&c| c < 50),
                "{chains:?}"
            )
        }
        other => panic!("expected NonFiniteLoss at step 0, got {other:?}"),
    }
    assert!(finite(trainer.model()));
    // Skip: CD and PCD skip the steps, up to the limit, and the parameters stay finite.
    let skip = config
        .with_on_non_finite(NonFiniteLoss::Skip)
        .with_max_consecutive_skips(3);
    let cd = ContrastiveDivergenceConfig::new()
        .with_k(60)
        .init(exploding())
        .unwrap();
    let mut trainer =
        Trainer::new(quadratic(), AdamConfig::new().init(), cd, skip.clone()).unwrap();
    assert!(matches!(
        trainer.fit(&data),
        Err(TrainError::TooManySkips {
            step: 2,
            consecutive: 3
        })
    ));
    assert!(finite(trainer.model()));
    let mut trainer = Trainer::new(quadratic(), AdamConfig::new().init(), pcd(), skip).unwrap();
    assert!(matches!(
        trainer.fit(&data),
        Err(TrainError::TooManySkips { .. })
    ));
    assert!(finite(trainer.model()));
    if let Some(buffer) = trainer.objective().buffer() {
        assert!(
            ebm_sample::non_finite_chains(buffer.states()).is_empty(),
            "NaN chains reached the buffer"
        );
    }
}

#[test]
fn the_epoch_callback_sees_each_epoch_once_with_its_logged_steps() {
    use std::sync::{Arc, Mutex};
    /// (epoch, step, logged steps, mean loss) of one callback.
    type Seen = (usize, usize, usize, f64);
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let sink = seen.clone();
    // 300 rows in batches of 64: 5 steps per epoch, all logged.
    let mut trainer = pcd_trainer(3, 4).with_epoch_callback(move |e| {
        sink.lock()
            .unwrap()
            .push((e.epoch, e.step, e.logs.len(), e.mean_loss().unwrap()))
    });
    trainer.fit(&fixed_data()).unwrap();
    let seen = seen.lock().unwrap();
    let history = trainer.history();
    assert_eq!(
        seen.iter().map(|s| (s.0, s.1, s.2)).collect::<Vec<_>>(),
        vec![(0, 5, 5), (1, 10, 5), (2, 15, 5)]
    );
    for (epoch, &(_, _, _, mean)) in seen.iter().enumerate() {
        let losses: Vec<f64> = history[5 * epoch..5 * epoch + 5]
            .iter()
            .map(|l| l.loss)
            .collect();
        let expected = losses.iter().sum::<f64>() / 5.0;
        assert!(
            (mean - expected).abs() < 1e-12,
            "epoch {epoch}: {mean} vs {expected}"
        );
    }
}
