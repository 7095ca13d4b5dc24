//! The benchmark binary: `ebm-bench [--backend NAME] [--quick] [--filter TEXT] [--out FILE]
//! [--blackjax DIR]`.
//!
//! `--filter` takes comma-separated patterns: a benchmark runs when its name contains one of them,
//! or equals one written as `=name` (`--filter =cd_step,=dsm_step` leaves out `cnn_cd_step`).
//!
//! Normally run through `cargo xtask bench`, which builds it with the right backend feature.
//! Prints one markdown row per benchmark and writes the records as JSON to `--out`.
#![forbid(unsafe_code)]

mod flows;
mod gradients;
mod images;
mod record;
mod sampler_efficiency;
mod sampling;
mod training;

use std::path::PathBuf;

use record::Record;

/// Command-line options.
struct Options {
    backend: String,
    quick: bool,
    filter: Option<String>,
    out: Option<PathBuf>,
    /// blackjax's draws and timings (`bench/blackjax_reference.py --out DIR`), scored beside
    /// ours in the sampler-efficiency cases.
    blackjax: Option<PathBuf>,
}

impl Options {
    /// Whether the benchmark `name` passes `--filter`.
    fn selected(&self, name: &str) -> bool {
        self.filter.as_ref().is_none_or(|filter| {
            filter
                .split(',')
                .any(|pattern| match pattern.strip_prefix('=') {
                    Some(exact) => name == exact,
                    None => name.contains(pattern),
                })
        })
    }
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        backend: "ndarray".to_string(),
        quick: false,
        filter: None,
        out: None,
        blackjax: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| args.next().ok_or(format!("{flag} needs a value"));
        match arg.as_str() {
            "--backend" => options.backend = value("--backend")?,
            "--quick" => options.quick = true,
            "--filter" => options.filter = Some(value("--filter")?),
            "--out" => options.out = Some(PathBuf::from(value("--out")?)),
            "--blackjax" => options.blackjax = Some(PathBuf::from(value("--blackjax")?)),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(options)
}

/// Every benchmark group on backend `B` (an `Autodiff<_>` backend, on which the analytic
/// energies are defined).
fn suite<B: ebm::backend::EbmBackend>(options: &Options) -> Vec<Record>
where
    ebm::prelude::Gaussian: ebm::prelude::Energy<B>,
    ebm::prelude::DoubleWell: ebm::prelude::Energy<B>,
    ebm::prelude::Funnel: ebm::prelude::Energy<B>,
    ebm::prelude::Banana: ebm::prelude::Energy<B>,
{
    let device = Default::default();
    let mut records = gradients::run::<B>(options, &device);
    records.extend(sampling::run::<B>(options, &device));
    records.extend(training::run::<B>(options, &device));
    records.extend(images::run::<B>(options, &device));
    records.extend(flows::run::<B>(options, &device));
    records.extend(sampler_efficiency::run::<B>(options, &device));
    records
}

fn main() {
    let options = match parse_options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("ebm-bench: {e}");
            std::process::exit(2);
        }
    };
    println!("| benchmark | backend | median | warm-up run | min | max | throughput | unit |");
    println!("|---|---|---|---|---|---|---|---|");
    let records: Vec<Record> = match options.backend.as_str() {
        #[cfg(feature = "ndarray")]
        "ndarray" => suite::<ebm::backend::Cpu>(&options),
        #[cfg(feature = "flex")]
        "flex" => suite::<ebm::backend::Flex>(&options),
        #[cfg(feature = "wgpu")]
        "wgpu" => suite::<ebm::backend::Wgpu>(&options),
        // WGPU without fusion and autotuning: a build of its own (features only add).
        #[cfg(all(feature = "wgpu-unfused", not(feature = "wgpu")))]
        "wgpu-unfused" => suite::<ebm::backend::Wgpu>(&options),
        #[cfg(feature = "cuda")]
        "cuda" => suite::<ebm::backend::Cuda>(&options),
        other => {
            eprintln!("ebm-bench: backend `{other}` is not compiled in (enable its feature)");
            std::process::exit(3);
        }
    };
    if let Some(path) = &options.out {
        let json = serde_json::to_string_pretty(&records).expect("records serialise");
        if let Err(e) = std::fs::write(path, json) {
            eprintln!("ebm-bench: cannot write {}: {e}", path.display());
            std::process::exit(1);
        }
    }
}
