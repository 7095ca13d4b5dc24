//! The synthetic generators against the statistics of TorchEBM 0.8.9's datasets
//! (`tests/data/datasets.json`, 100 000 points each): means within 5 standard errors, standard
//! deviations and covariances within 2% of the scale, plus each generator's own structure.

use ebm_data::synthetic::*;
use ebm_data::{DataError, PointDataset};
use serde_json::Value;

fn reference(name: &str) -> Value {
    let file: Value = serde_json::from_str(include_str!("data/datasets.json")).unwrap();
    file["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == name)
        .unwrap()
        .clone()
}

struct Stats {
    mean: [f64; 2],
    cov: [[f64; 2]; 2],
}

fn stats(d: &PointDataset) -> Stats {
    let p = d.points();
    let n = p.len() as f64;
    let mean = [0, 1].map(|j| p.iter().map(|x| x[j] as f64).sum::<f64>() / n);
    let mut cov = [[0.0; 2]; 2];
    for x in p {
        for i in 0..2 {
            for j in 0..2 {
                cov[i][j] += (x[i] as f64 - mean[i]) * (x[j] as f64 - mean[j]) / (n - 1.0);
            }
        }
    }
    Stats { mean, cov }
}

fn compare(name: &str, d: &PointDataset) {
    let r = reference(name);
    let s = stats(d);
    let rs = &r["stats"];
    let scale = (rs["cov"][0][0].as_f64().unwrap() + rs["cov"][1][1].as_f64().unwrap()) / 2.0;
    for j in 0..2 {
        let se = (rs["cov"][j][j].as_f64().unwrap() / d.points().len() as f64).sqrt();
        let rm = rs["mean"][j].as_f64().unwrap();
        // Our sample's standard error plus the reference's.
        assert!(
            (s.mean[j] - rm).abs() < 5.0 * se * 2f64.sqrt() + 1e-9,
            "{name}: mean[{j}] {} vs {rm}",
            s.mean[j]
        );
        for k in 0..2 {
            let rc = rs["cov"][j][k].as_f64().unwrap();
            assert!(
                (s.cov[j][k] - rc).abs() < 0.02 * scale,
                "{name}: cov[{j}][{k}] {} vs {rc}",
                s.cov[j][k]
            );
        }
    }
}

const N: usize = 100_000;

#[test]
fn gaussian_mixture_matches() {
    let cfg = GaussianMixtureConfig::new().with_n_samples(N).with_seed(1);
    let d = cfg.generate().unwrap();
    compare("GaussianMixtureDataset", &d);
    // Every point is within a few std of its nearest centre, and centres get equal shares.
    let centres = cfg.centres();
    let mut counts = vec![0usize; centres.len()];
    for p in d.points() {
        let (k, dist) = centres
            .iter()
            .map(|c| ((p[0] as f64 - c[0]).powi(2) + (p[1] as f64 - c[1]).powi(2)).sqrt())
            .enumerate()
            .fold(
                (0, f64::INFINITY),
                |a, (i, v)| if v < a.1 { (i, v) } else { a },
            );
        assert!(dist < 6.0 * cfg.std);
        counts[k] += 1;
    }
    assert!(counts.iter().all(|&c| c == N / 8), "{counts:?}");
}

#[test]
fn eight_gaussians_matches() {
    compare(
        "EightGaussiansDataset",
        &EightGaussiansConfig::new()
            .with_n_samples(N)
            .with_seed(2)
            .generate()
            .unwrap(),
    );
}

#[test]
fn two_moons_matches() {
    compare(
        "TwoMoonsDataset",
        &TwoMoonsConfig::new()
            .with_n_samples(N)
            .with_seed(3)
            .generate()
            .unwrap(),
    );
}

#[test]
fn swiss_roll_is_standardised() {
    let d = SwissRollConfig::new()
        .with_n_samples(N)
        .with_seed(4)
        .generate()
        .unwrap();
    compare("SwissRollDataset", &d);
    let s = stats(&d);
    assert!(s.mean[0].abs() < 1e-6 && s.mean[1].abs() < 1e-6);
    assert!(((s.cov[0][0].sqrt() + s.cov[1][1].sqrt()) / 2.0 - 0.5).abs() < 1e-4);
}

#[test]
fn circle_matches() {
    compare(
        "CircleDataset",
        &CircleConfig::new()
            .with_n_samples(N)
            .with_seed(5)
            .generate()
            .unwrap(),
    );
}

#[test]
fn checkerboard_fills_only_odd_cells() {
    let d = CheckerboardConfig::new()
        .with_n_samples(N)
        .with_seed(6)
        .generate()
        .unwrap();
    compare("CheckerboardDataset", &d);
    assert!(
        d.points()
            .iter()
            .all(|p| ((p[0].floor() as i64) + (p[1].floor() as i64)).rem_euclid(2) == 1)
    );
    let cells: std::collections::HashSet<(i64, i64)> = d
        .points()
        .iter()
        .map(|p| (p[0].floor() as i64, p[1].floor() as i64))
        .collect();
    assert_eq!(
        cells.len() as u64,
        reference("CheckerboardDataset")["checkerboard"]["occupied_cells"]
            .as_u64()
            .unwrap()
    );
}

#[test]
fn pinwheel_matches() {
    compare(
        "PinwheelDataset",
        &PinwheelConfig::new()
            .with_n_samples(N)
            .with_seed(7)
            .generate()
            .unwrap(),
    );
}

#[test]
fn grid_has_m_squared_points_in_ij_order() {
    let d = GridConfig::new().with_noise(0.0).generate().unwrap();
    assert_eq!(d.points().len(), 100);
    assert_eq!(d.points()[1], [-1.0, -1.0 + 2.0 / 9.0]);
    let pooled: Vec<[f32; 2]> = (0..1000)
        .flat_map(|s| {
            GridConfig::new()
                .with_seed(s)
                .generate()
                .unwrap()
                .points()
                .to_vec()
        })
        .collect();
    compare("GridDataset", &PointDataset::new(pooled));
}

#[test]
fn same_seed_same_data_and_bad_parameters_are_errors() {
    let a = GaussianMixtureConfig::new()
        .with_seed(42)
        .generate()
        .unwrap();
    let b = GaussianMixtureConfig::new()
        .with_seed(42)
        .generate()
        .unwrap();
    let c = GaussianMixtureConfig::new()
        .with_seed(43)
        .generate()
        .unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert!(matches!(
        GaussianMixtureConfig::new().with_n_samples(0).generate(),
        Err(DataError::InvalidParameter(ebm_core::InvalidParameter {
            name: "n_samples",
            ..
        }))
    ));
    assert!(matches!(
        GaussianMixtureConfig::new().with_std(-1.0).generate(),
        Err(DataError::InvalidParameter(ebm_core::InvalidParameter {
            name: "std",
            ..
        }))
    ));
    assert!(matches!(
        PinwheelConfig::new().with_n_classes(0).generate(),
        Err(DataError::InvalidParameter(
            ebm_core::InvalidParameter { .. }
        ))
    ));
    assert!(matches!(
        GridConfig::new().with_n_samples_per_dim(1).generate(),
        Err(DataError::InvalidParameter(
            ebm_core::InvalidParameter { .. }
        ))
    ));
    assert!(matches!(
        CheckerboardConfig::new().with_range_limit(0.5).generate(),
        Err(DataError::InvalidParameter(
            ebm_core::InvalidParameter { .. }
        ))
    ));
}

/// Value stability: the first points each generator draws for its default seed.
#[test]
fn the_points_of_a_seed_are_pinned() {
    use ebm_data::synthetic::*;
    let first = |d: ebm_data::PointDataset| d.points()[..2].to_vec();
    for (name, got, pinned) in [
        (
            "gaussian mixture",
            first(GaussianMixtureConfig::new().generate().unwrap()),
            [[0.705_333_5, -0.724_827_95], [0.693_706_4, 0.730_985_1]],
        ),
        (
            "two moons",
            first(TwoMoonsConfig::new().generate().unwrap()),
            [[1.965_162_5, 0.227_258_79], [0.382_679_4, 0.942_094_45]],
        ),
        (
            "checkerboard",
            first(CheckerboardConfig::new().generate().unwrap()),
            [[-1.183_246_3, 1.434_155_6], [-3.880_599, -0.650_392_5]],
        ),
    ] {
        let close = got
            .iter()
            .flatten()
            .zip(pinned.iter().flatten())
            .all(|(a, b)| (a - b).abs() < 1e-6);
        assert!(close, "{name}: {got:?}");
    }
}
