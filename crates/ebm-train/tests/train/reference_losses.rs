//! The loss functions of `ebm-train` against TorchEBM's float64 reference (the MLP energies of
//! `ebm-reference/data/mlp_energy.json`): loss values and every parameter gradient, with the
//! reference's own inputs (negatives, noise, projections). Tolerances as in `ebm-core`'s test:
//! rtol 1e-5 first order, 1e-4 second order.

use ebm_core::Energy;
use ebm_reference::mlp::*;
use ebm_train::{
    contrastive_loss, denoising_score_matching_loss, exact_score_matching_loss,
    hutchinson_score_matching_loss, sliced_score_matching_loss,
};

#[test]
fn contrastive_divergence_matches() {
    let file = file();
    for model in &file.models {
        for (key, w) in [
            ("energy_reg_weight_0.0", 0.0),
            ("energy_reg_weight_0.001", 0.001),
        ] {
            let mlp = mlp(model);
            let neg = batch(&file.inputs.neg).inner();
            let (loss, pos_mean, _) = contrastive_loss(&mlp, batch(&file.inputs.x), neg, w);
            let mean_e = values(mlp.energy(batch(&file.inputs.x)).inner())
                .iter()
                .map(|&v| v as f64)
                .sum::<f64>()
                / 8.0;
            assert!((values(pos_mean)[0] as f64 - mean_e).abs() < 1e-5);
            check_loss(
                model,
                &mlp,
                key,
                &model.losses["contrastive_divergence"][key],
                loss,
                1e-5,
            );
        }
    }
}

#[test]
fn exact_score_matching_matches() {
    let file = file();
    for model in &file.models {
        let mlp = mlp(model);
        let loss = exact_score_matching_loss(&mlp, batch(&file.inputs.x));
        check_loss(
            model,
            &mlp,
            "score_matching_exact",
            &model.losses["score_matching_exact"],
            loss,
            1e-4,
        );
    }
}

#[test]
fn sliced_score_matching_matches() {
    let file = file();
    for model in &file.models {
        let mlp = mlp(model);
        let p = file.inputs.ssm_v.len();
        let x = batch(&file.inputs.x).repeat_dim(0, p);
        let v_rows: Vec<Vec<f64>> = file.inputs.ssm_v.iter().flatten().cloned().collect();
        let loss = sliced_score_matching_loss(&mlp, x, batch(&v_rows));
        check_loss(
            model,
            &mlp,
            "sliced_score_matching",
            &model.losses["sliced_score_matching"],
            loss,
            1e-4,
        );
    }
}

#[test]
fn denoising_score_matching_matches() {
    let file = file();
    for model in &file.models {
        let mlp = mlp(model);
        let loss = denoising_score_matching_loss(
            &mlp,
            batch(&file.inputs.x),
            batch(&file.inputs.dsm_eps),
            file.inputs.dsm_sigma,
        );
        check_loss(
            model,
            &mlp,
            "denoising_score_matching",
            &model.losses["denoising_score_matching"],
            loss,
            1e-4,
        );
    }
}

/// TorchEBM has no real Hutchinson estimator (it silently computes the exact trace), so there is
/// no reference value for it. Instead: averaged over all 2³ Rademacher sign patterns the
/// off-diagonal terms of `vᵀHv` cancel exactly, so our Hutchinson loss with those 8 probes per
/// sample must equal the reference's exact loss and parameter gradients.
#[test]
fn hutchinson_with_all_sign_patterns_equals_the_exact_reference() {
    let file = file();
    let x_rows = &file.inputs.x;
    let n = x_rows.len();
    let patterns: Vec<Vec<f64>> = (0..8)
        .map(|m| {
            (0..3)
                .map(|j| if m >> j & 1 == 1 { 1.0 } else { -1.0 })
                .collect()
        })
        .collect();
    // Row p·n + i pairs sample i with pattern p.
    let v_rows: Vec<Vec<f64>> = patterns
        .iter()
        .flat_map(|p| std::iter::repeat_n(p.clone(), n))
        .collect();
    for model in &file.models {
        let mlp = mlp(model);
        let loss =
            hutchinson_score_matching_loss(&mlp, batch(x_rows).repeat_dim(0, 8), batch(&v_rows));
        check_loss(
            model,
            &mlp,
            "hutchinson (all sign patterns)",
            &model.losses["score_matching_exact"],
            loss,
            1e-4,
        );
    }
}
