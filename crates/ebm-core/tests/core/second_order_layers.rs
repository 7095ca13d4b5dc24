//! Which of Burn 0.21's layers survive second order through its nested autodiff
//! (`Autodiff<Autodiff<NdArray>>`): for each layer `L`, the Hessian-vector product of
//! `E(x) = Σ (½L(x)² + ⅓L(x)³)` (the cube keeps it informative for normalisations, whose `‖L(x)‖²` is constant) — the outer backward pass's input gradient, differentiated again by the
//! inner graph — against central differences of the first-order gradient. Score matching needs
//! exactly this: the inner graph must record the outer backward pass (the parameter gradients
//! of `‖∇ₓE‖²` use the same recorded ops as `∂ₓ`).
//!
//! Each layer's outcome is pinned, so a Burn upgrade that changes one fails here and the table in
//! `docs/second_order_layers.md` must be redone. Run with `--nocapture` to print the table.

use std::panic::{AssertUnwindSafe, catch_unwind};

use burn::backend::{Autodiff, NdArray};
use burn::module::AutodiffModule;
use burn::nn::conv::Conv2dConfig;
use burn::nn::pool::{AdaptiveAvgPool2dConfig, AvgPool2dConfig, MaxPool2dConfig};
use burn::nn::{BatchNormConfig, GroupNormConfig, LayerNormConfig, LinearConfig};
use burn::tensor::{Tensor, activation};

type A1 = Autodiff<NdArray>;
type A2 = Autodiff<A1>;

const SHAPE: [usize; 4] = [2, 4, 6, 6];

#[derive(Debug, PartialEq)]
enum Outcome {
    /// `H·v` agrees with finite differences.
    Exact,
    /// `H·v` is computed but wrong (worst relative error).
    Wrong(f32),
    /// The nested backward pass panics (Burn: "Can't differentiate … backward").
    Panics,
}

fn values(t: Tensor<NdArray, 4>) -> Vec<f32> {
    t.into_data().to_vec::<f32>().unwrap()
}

/// `H·v` by nested autodiff, and by central differences of the gradient, for one layer given as
/// its forward on both backends (`forward2` on `A2`, `forward1` on the module's `valid()` copy).
fn outcome(
    forward2: impl Fn(Tensor<A2, 4>) -> Tensor<A2, 2>,
    forward1: impl Fn(Tensor<A1, 4>) -> Tensor<A1, 2>,
) -> Outcome {
    let device = Default::default();
    let x = ebm_testing::normal::<NdArray, 4>(SHAPE, 1.0, 1, &device);
    let v = ebm_testing::normal::<NdArray, 4>(SHAPE, 1.0, 2, &device);
    let energy2 = |y: Tensor<A2, 2>| {
        (y.clone().powf_scalar(2.0).mul_scalar(0.5) + y.powf_scalar(3.0).div_scalar(3.0)).sum()
    };
    let nested = catch_unwind(AssertUnwindSafe(|| {
        let x1 = Tensor::<A1, 4>::from_inner(x.clone()).require_grad();
        let x2 = Tensor::<A2, 4>::from_inner(x1.clone()).require_grad();
        let grads = energy2(forward2(x2.clone())).backward();
        let g = x2.grad(&grads).expect("input gradient");
        let second = (g * Tensor::from_inner(v.clone())).sum().backward();
        x1.grad(&second).expect("H·v")
    }));
    let Ok(hv) = nested else {
        return Outcome::Panics;
    };
    let grad_at = |x: Tensor<NdArray, 4>| {
        let x1 = Tensor::<A1, 4>::from_inner(x).require_grad();
        let y = forward1(x1.clone());
        let e =
            (y.clone().powf_scalar(2.0).mul_scalar(0.5) + y.powf_scalar(3.0).div_scalar(3.0)).sum();
        x1.grad(&e.backward()).expect("gradient")
    };
    let h = 1e-3;
    let fd = (grad_at(x.clone() + v.clone().mul_scalar(h))
        - grad_at(x.clone() - v.clone().mul_scalar(h)))
    .div_scalar(2.0 * h);
    let (hv, fd) = (values(hv), values(fd));
    let scale = fd.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
    let worst = hv
        .iter()
        .zip(&fd)
        .fold(0.0f32, |m, (a, b)| m.max((a - b).abs() / scale));
    assert!(scale > 1e-2, "a degenerate case: H·v ≈ 0 says nothing");
    if worst <= 1e-2 {
        Outcome::Exact
    } else {
        Outcome::Wrong(worst)
    }
}

/// One layer's forward, written once and instantiated for both backends.
macro_rules! layer {
    ($module:expr, |$m:ident, $x:ident| $body:expr) => {{
        let module = $module;
        let valid = module.valid();
        outcome(
            |$x: Tensor<A2, 4>| {
                let $m = &module;
                $body
            },
            |$x: Tensor<A1, 4>| {
                let $m = &valid;
                $body
            },
        )
    }};
}

/// A function of tensors, instantiated for both backends.
macro_rules! function {
    (|$x:ident| $body:expr) => {
        outcome(|$x: Tensor<A2, 4>| $body, |$x: Tensor<A1, 4>| $body)
    };
}

#[test]
fn burns_layers_under_nested_autodiff() {
    let device = Default::default();
    let features = SHAPE[1] * SHAPE[2] * SHAPE[3];
    let cases: Vec<(&str, Outcome, Outcome)> = vec![
        (
            "nn::Linear",
            layer!(
                LinearConfig::new(features, 8).init::<A2>(&device),
                |m, x| m.forward(x.flatten(1, 3))
            ),
            Outcome::Panics,
        ),
        (
            "nn::Conv2d (3×3, stride 2, padding 1)",
            layer!(
                Conv2dConfig::new([4, 3], [3, 3])
                    .with_stride([2, 2])
                    .with_padding(burn::nn::PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .init::<A2>(&device),
                |m, x| m.forward(x).flatten(1, 3)
            ),
            Outcome::Exact,
        ),
        (
            "nn::LayerNorm",
            layer!(LayerNormConfig::new(6).init::<A2>(&device), |m, x| m
                .forward(x)
                .flatten(1, 3)),
            Outcome::Exact,
        ),
        (
            "nn::BatchNorm (training mode)",
            layer!(BatchNormConfig::new(4).init::<A2>(&device), |m, x| m
                .forward(x)
                .flatten(1, 3)),
            Outcome::Exact,
        ),
        (
            "nn::GroupNorm",
            layer!(GroupNormConfig::new(2, 4).init(&device), |m, x| m
                .forward(x)
                .flatten(1, 3)),
            Outcome::Exact,
        ),
        (
            "nn::pool::AvgPool2d (2×2)",
            function!(|x| AvgPool2dConfig::new([2, 2]).init().forward(x).flatten(1, 3)),
            Outcome::Panics,
        ),
        (
            "nn::pool::MaxPool2d (2×2)",
            function!(|x| MaxPool2dConfig::new([2, 2]).init().forward(x).flatten(1, 3)),
            Outcome::Panics,
        ),
        (
            "nn::pool::AdaptiveAvgPool2d (3×3)",
            function!(|x| AdaptiveAvgPool2dConfig::new([3, 3])
                .init()
                .forward(x)
                .flatten(1, 3)),
            Outcome::Panics,
        ),
        (
            "activation::relu",
            function!(|x| activation::relu(x).flatten(1, 3)),
            Outcome::Exact,
        ),
        (
            "activation::gelu",
            function!(|x| activation::gelu(x).flatten(1, 3)),
            Outcome::Exact,
        ),
        (
            "activation::silu",
            function!(|x| activation::silu(x).flatten(1, 3)),
            Outcome::Exact,
        ),
        (
            "activation::sigmoid",
            function!(|x| activation::sigmoid(x).flatten(1, 3)),
            Outcome::Exact,
        ),
        (
            "activation::tanh",
            function!(|x| activation::tanh(x).flatten(1, 3)),
            Outcome::Exact,
        ),
        (
            "activation::softplus",
            function!(|x| activation::softplus(x, 1.0).flatten(1, 3)),
            Outcome::Exact,
        ),
        (
            "activation::selu",
            function!(|x| activation::selu(x).flatten(1, 3)),
            Outcome::Exact,
        ),
        (
            "tensor matmul (x·W with W a tensor)",
            function!(|x| {
                let w = Tensor::ones([features, 5], &x.device()).mul_scalar(0.1);
                x.flatten::<2>(1, 3).matmul(w)
            }),
            Outcome::Exact,
        ),
    ];
    println!("| layer | nested autodiff H·v |\n|---|---|");
    for (name, got, _) in &cases {
        println!("| {name} | {got:?} |");
    }
    for (name, got, expected) in cases {
        assert_eq!(got, expected, "{name}");
    }
}
