//! Flow matching, Equilibrium Matching and Energy Matching against TorchEBM 0.8.9's own loss
//! classes in float64 (`tests/data/flow_losses.json`, made by `tests/data/flow_losses.py`): the
//! loss values and every parameter gradient on fixed noise, times, labels and negatives.
//! Flow and equilibrium matching train our `ConditionedMlp` loaded with the weights of
//! TorchEBM's `TimeConditionedMLP`; Energy Matching trains the MLP energies of
//! `ebm-reference`. Tolerances as in the other reference tests: 1e-5 relative first order, 1e-4
//! for losses through an input gradient.

use burn::module::Param;
use burn::tensor::{Tensor, TensorData};
use ebm_core::interpolant::Interpolant;
use ebm_core::neural::{ConditionedMlp, ConditionedMlpConfig, Dense, FieldModel};
use ebm_reference::mlp::{self, B, assert_close, check_loss, flatten, values};
use ebm_train::{
    Coupling, EquilibriumEnergy, EquilibriumMatchingConfig, PathBatch, TargetScale,
    energy_matching_contrastive_loss, energy_matching_flow_loss, equilibrium_matching_loss,
    flow_matching_loss,
};
use serde_json::Value;

fn reference() -> Value {
    serde_json::from_str(include_str!("../../data/flow_losses.json")).expect("reference parses")
}

fn tensor<const D: usize>(v: &Value) -> Tensor<B, D> {
    let (values, shape) = flatten(v);
    let shape: [usize; D] = shape.try_into().expect("rank");
    Tensor::from_data(TensorData::new(values, shape), &Default::default())
}

/// A torch `Linear` `[out][in]` as our `Dense` `[in, out]`.
fn dense(params: &Value, name: &str) -> Dense<B> {
    let w: Tensor<B, 2> = tensor(&params[format!("{name}.weight")]);
    let b: Tensor<B, 1> = tensor(&params[format!("{name}.bias")]);
    Dense {
        weight: Param::from_tensor(w.transpose().detach().require_grad()),
        bias: Param::from_tensor(b.require_grad()),
    }
}

fn field(file: &Value) -> ConditionedMlp<B> {
    let params = &file["field"]["params"];
    let mut net = ConditionedMlpConfig::new(2, vec![16, 16])
        .with_classes(Some(3))
        .with_condition_dim(Some(8))
        .with_frequencies(8)
        .init::<B>(&Default::default())
        .unwrap();
    net.hidden = vec![dense(params, "net.0"), dense(params, "net.2")];
    net.output = dense(params, "net.4");
    let time = net.time.as_mut().expect("time-conditioned");
    time.first = dense(params, "t_embedder.mlp.0");
    time.second = dense(params, "t_embedder.mlp.2");
    let table: Tensor<B, 2> = tensor(&params["y_embedder.embedding.weight"]);
    net.labels = Some(Param::from_tensor(table.require_grad()));
    net
}

/// Our loss and every parameter gradient against a case `{loss, param_grads}`.
fn check_field_loss(net: &ConditionedMlp<B>, what: &str, case: &Value, loss: Tensor<B, 1>) {
    assert_close(
        &format!("{what} loss"),
        &values(loss.clone().inner()),
        &[case["loss"].as_f64().unwrap()],
        1e-5,
    );
    let grads = loss.backward();
    let time = net.time.as_ref().unwrap();
    let layers = [
        ("net.0", &net.hidden[0]),
        ("net.2", &net.hidden[1]),
        ("net.4", &net.output),
        ("t_embedder.mlp.0", &time.first),
        ("t_embedder.mlp.2", &time.second),
    ];
    let grad_or_zero = |p: &Param<Tensor<B, 2>>| {
        p.val()
            .grad(&grads)
            .unwrap_or_else(|| p.val().inner().zeros_like())
    };
    for (name, layer) in layers {
        let Some(reference) = case["param_grads"].get(format!("{name}.weight")) else {
            continue;
        };
        let ours = grad_or_zero(&layer.weight).transpose();
        assert_close(
            &format!("{what} d/d{name}.weight"),
            &values(ours),
            &flatten(reference).0,
            1e-4,
        );
        let bias = layer.bias.val().grad(&grads).unwrap();
        assert_close(
            &format!("{what} d/d{name}.bias"),
            &values(bias),
            &flatten(&case["param_grads"][format!("{name}.bias")]).0,
            1e-4,
        );
    }
    let table = net.labels.as_ref().unwrap();
    let ours = grad_or_zero(table);
    let reference = case["param_grads"]
        .get("y_embedder.embedding.weight")
        .map(|v| flatten(v).0)
        .unwrap_or_else(|| vec![0.0; 32]);
    assert_close(
        &format!("{what} d/dlabels"),
        &values(ours),
        &reference,
        1e-4,
    );
}

fn labels(file: &Value) -> Vec<usize> {
    file["field"]["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect()
}

fn paths(file: &Value, interpolant: Interpolant, coupling: Coupling) -> PathBatch<B> {
    let f = &file["field"];
    let x0: Tensor<B, 2> = tensor(&f["x0"]);
    let x1 = coupling.couple(&x0, tensor(&f["x1"]), 0).unwrap();
    PathBatch::new(&interpolant, x0, x1, tensor(&f["t"]))
}

#[test]
fn the_conditioned_mlp_is_torchebms_time_conditioned_mlp() {
    let file = reference();
    let net = field(&file);
    let f = &file["field"];
    let labels = labels(&file);
    let out = net.field(tensor(&f["x1"]), tensor(&f["t"]), Some(&labels));
    assert_close(
        "field",
        &values(out.inner()),
        &flatten(&f["output"]).0,
        1e-5,
    );
    let out = net.field(tensor(&f["x1"]), tensor(&f["t"]), None);
    assert_close(
        "field without labels",
        &values(out.inner()),
        &flatten(&f["output_unlabelled"]).0,
        1e-5,
    );
}

#[test]
fn flow_matching_matches() {
    let file = reference();
    let labels = labels(&file);
    let cases = &file["field"]["flow_matching"];
    let vp = Interpolant::variance_preserving();
    for (name, interpolant, coupling, labelled, negated) in [
        (
            "linear",
            Interpolant::Linear,
            Coupling::Independent,
            false,
            false,
        ),
        (
            "cosine",
            Interpolant::Cosine,
            Coupling::Independent,
            false,
            false,
        ),
        ("vp", vp, Coupling::Independent, false, false),
        (
            "linear_labels",
            Interpolant::Linear,
            Coupling::Independent,
            true,
            false,
        ),
        (
            "linear_negated",
            Interpolant::Linear,
            Coupling::Independent,
            false,
            true,
        ),
        (
            "linear_exact_ot",
            Interpolant::Linear,
            Coupling::ExactOt,
            false,
            false,
        ),
    ] {
        let net = field(&file);
        let paths = paths(&file, interpolant, coupling);
        let y = labelled.then_some(labels.as_slice());
        let loss = flow_matching_loss(&net, &paths, y, negated);
        check_field_loss(&net, &format!("flow matching {name}"), &cases[name], loss);
    }
}

#[test]
fn equilibrium_matching_matches() {
    let file = reference();
    let labels = labels(&file);
    let cases = &file["field"]["equilibrium_matching"];
    let base = EquilibriumMatchingConfig::new();
    for (name, config, labelled) in [
        ("implicit", base.clone(), false),
        (
            "implicit_cosine",
            base.clone().with_interpolant(Interpolant::Cosine),
            false,
        ),
        (
            "implicit_linear_scale",
            base.clone()
                .with_target_scale(TargetScale::Linear { multiplier: 2.0 }),
            false,
        ),
        (
            "constant_true_time",
            base.clone()
                .with_target_scale(TargetScale::Constant { multiplier: 1.0 })
                .with_time_invariant(false),
            false,
        ),
        (
            "dot",
            base.clone().with_energy(EquilibriumEnergy::Dot),
            false,
        ),
        ("l2", base.clone().with_energy(EquilibriumEnergy::L2), false),
        (
            "dot_labels",
            base.clone().with_energy(EquilibriumEnergy::Dot),
            true,
        ),
    ] {
        let net = field(&file);
        let paths = paths(&file, config.interpolant, Coupling::Independent);
        let y = labelled.then_some(labels.as_slice());
        let loss = equilibrium_matching_loss(&net, &config, &paths, y);
        check_field_loss(
            &net,
            &format!("equilibrium matching {name}"),
            &cases[name],
            loss,
        );
    }
    // With the true clock and c = 1, Equilibrium Matching is negated flow matching.
    assert_eq!(
        cases["constant_true_time"]["loss"],
        file["field"]["flow_matching"]["linear_negated"]["loss"]
    );
}

#[test]
fn energy_matching_matches() {
    let file = reference();
    let mlp_file = mlp::file();
    let em = &file["energy_matching"];
    for model in &mlp_file.models {
        for (name, coupling, smoothing, cutoff, contrastive) in [
            ("phase1_independent", Coupling::Independent, true, 0.8, None),
            (
                "phase1_exact_ot_no_smoothing",
                Coupling::ExactOt,
                false,
                0.8,
                None,
            ),
            ("phase1_cutoff_0.5", Coupling::Independent, true, 0.5, None),
            (
                "phase2",
                Coupling::Independent,
                true,
                0.8,
                Some((0.25, None)),
            ),
            (
                "phase2_clamped",
                Coupling::Independent,
                true,
                0.8,
                Some((0.0, Some(0.02))),
            ),
        ] {
            let net = mlp::mlp(model);
            let x0: Tensor<B, 2> = tensor(&em["x0"]);
            let data = mlp::batch(&mlp_file.inputs.x);
            let x1 = coupling.couple(&x0, data.clone(), 0).unwrap();
            let paths = PathBatch::new(&Interpolant::Linear, x0, x1, tensor(&em["t"]));
            let noise = smoothing.then(|| tensor::<2>(&em["smoothing_noise"]).mul_scalar(0.1));
            let mut loss = energy_matching_flow_loss(&net, &paths, noise, cutoff);
            if let Some((trim, clamp)) = contrastive {
                let negatives = mlp::batch(&mlp_file.inputs.neg).inner();
                let (cd, _) =
                    energy_matching_contrastive_loss(&net, data, negatives, 2.0, trim, clamp);
                loss = loss + cd;
            }
            let case = &em["cases"][&model.name][name];
            check_loss(model, &net, name, case, loss, 1e-4);
        }
    }
}
