//! Activations on host slices, for the host kernels: `f` and `f′` in one pass, with a
//! vectorisable `exp`.

use super::Activation;
use super::instruction_set::MulAdd;

const SELU_ALPHA: f32 = 1.673_263_3;
const SELU_LAMBDA: f32 = 1.050_701;

/// `z ← f(z)` and, if `slope` is not empty, `slope ← f′(z)`, in one pass.
#[inline(always)]
pub(super) fn activate<M: MulAdd>(activation: Activation, z: &mut [f32], slope: &mut [f32]) {
    match activation {
        Activation::Silu => map(z, slope, |z| {
            let s = 1.0 / (1.0 + exp::<M>(-z));
            let zs = z * s;
            // σ + zσ(1 − σ)
            (zs, M::mul_add(zs, 1.0 - s, s))
        }),
        Activation::Softplus => map(z, slope, |z| {
            let e = exp::<M>(-z.abs());
            let s = 1.0 / (1.0 + e);
            (z.max(0.0) + e.ln_1p(), if z >= 0.0 { s } else { 1.0 - s })
        }),
        Activation::Selu => map(z, slope, |z| {
            let e = exp::<M>(z.min(0.0));
            if z > 0.0 {
                (SELU_LAMBDA * z, SELU_LAMBDA)
            } else {
                (
                    SELU_LAMBDA * SELU_ALPHA * (e - 1.0),
                    SELU_LAMBDA * SELU_ALPHA * e,
                )
            }
        }),
        Activation::LeakyRelu { negative_slope } => {
            let k = negative_slope as f32;
            map(z, slope, |z| {
                (z.max(0.0) + z.min(0.0) * k, if z > 0.0 { 1.0 } else { k })
            })
        }
        Activation::Relu => map(z, slope, |z| (z.max(0.0), if z > 0.0 { 1.0 } else { 0.0 })),
        Activation::Gelu => unreachable!("the host kernels exclude GELU"),
    }
}

/// `out ← f″(z)` element-wise.
#[inline(always)]
pub(super) fn curvature<M: MulAdd>(activation: Activation, z: &[f32], out: &mut [f32]) {
    match activation {
        Activation::Silu => each(z, out, |z| {
            let s = 1.0 / (1.0 + exp::<M>(-z));
            // σ(1 − σ)·(2 + z(1 − 2σ))
            s * (1.0 - s) * M::mul_add(z, 1.0 - 2.0 * s, 2.0)
        }),
        Activation::Softplus => each(z, out, |z| {
            let s = 1.0 / (1.0 + exp::<M>(-z));
            s * (1.0 - s)
        }),
        Activation::Selu => each(z, out, |z| {
            let e = exp::<M>(z.min(0.0));
            if z > 0.0 {
                0.0
            } else {
                SELU_LAMBDA * SELU_ALPHA * e
            }
        }),
        Activation::LeakyRelu { .. } | Activation::Relu => out.fill(0.0),
        Activation::Gelu => unreachable!("the host kernels exclude GELU"),
    }
}

/// `out ← f(z)` element-wise, in a loop the compiler vectorises.
#[inline(always)]
fn each(z: &[f32], out: &mut [f32], f: impl Fn(f32) -> f32) {
    for (o, &z) in out.iter_mut().zip(z) {
        *o = f(z);
    }
}

/// Applies `f = (value, slope)` element-wise. Two branch-free loops (with and without the slope)
/// so that the compiler vectorises them.
#[inline(always)]
fn map(z: &mut [f32], slope: &mut [f32], f: impl Fn(f32) -> (f32, f32)) {
    if slope.is_empty() {
        for zi in z.iter_mut() {
            *zi = f(*zi).0;
        }
    } else {
        for (zi, si) in z.iter_mut().zip(slope.iter_mut()) {
            let (value, d) = f(*zi);
            *zi = value;
            *si = d;
        }
    }
}

/// `eˣ` to about 2 ulp (Cephes' `expf` polynomial), written branch-free and without a
/// float-to-int cast (Rust's saturating `as i32` does not vectorise) so that the loops above
/// vectorise. Saturates to ~2.2e38 above 88.3 and to ~1e-38 below −87.3, which is all the
/// activations need (σ(z) then rounds to 0 or 1 as libm's would).
#[inline(always)]
fn exp<M: MulAdd>(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5·2²³: adding it rounds to the nearest integer n, which then sits in the low mantissa
    // bits (the high bits are zero below bit 22, so they vanish in the shift that makes 2ⁿ).
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.3, 88.3);
    let shifted = M::mul_add(x, LOG2E, ROUND);
    let n = shifted - ROUND;
    let r = M::mul_add(-n, LN2_LO, M::mul_add(-n, LN2_HI, x));
    let mut p = 1.987_569_1e-4_f32;
    for c in [
        1.398_199_9e-3,
        8.333_452e-3,
        4.166_579_6e-2,
        1.666_666_5e-1,
        0.5,
    ] {
        p = M::mul_add(p, r, c);
    }
    let y = M::mul_add(p, r * r, r + 1.0);
    // 2ⁿ: the biased exponent n + 127 (in 1..=254 after the clamp) moved into place.
    y * f32::from_bits(shifted.to_bits().wrapping_add(127) << 23)
}

#[cfg(test)]
mod tests {
    use super::super::instruction_set::{Fused, Unfused};
    use super::*;

    /// Both roundings of the polynomial: plain (scalar fallback) and fused (vector builds;
    /// `f32::mul_add` is exact on every CPU, only slower without FMA).
    #[test]
    fn vectorised_exp_matches_libm_within_two_ulp() {
        type Exp = fn(f32) -> f32;
        let variants: [(&str, Exp); 2] = [("plain", exp::<Unfused>), ("fused", exp::<Fused>)];
        for (name, exp) in variants {
            let mut worst = 0.0f32;
            let mut x = -87.0f32;
            while x < 88.0 {
                let (ours, libm) = (exp(x), x.exp());
                worst = worst.max((ours - libm).abs() / libm);
                x += 0.001_7;
            }
            assert!(worst < 2.5e-7, "{name}: worst relative error {worst}");
            assert!(exp(-200.0) < 1e-37 && exp(200.0) > 2e38 && exp(200.0).is_finite());
        }
    }
}
