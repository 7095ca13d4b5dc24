//! Standard-normal draws in bulk: the Box–Muller transform, vectorised.
//!
//! Why not `rand_distr::StandardNormal`: its ziggurat draws one value at a time with
//! data-dependent branches, and drawing the noise took 80% of a Langevin step on a 2-d analytic
//! energy (about 14 ns per value). Box–Muller turns pairs of uniforms into pairs of normals with
//! the same arithmetic for every pair, so the loops below run on full vector registers. Exact up
//! to float32 rounding, except that the radius is cut at √(2·32·ln 2) ≈ 6.66 (32-bit uniforms),
//! a tail of probability 2.7·10⁻¹¹.

use ebm_core::cpu_kernels::VectorLoop;
use rand::RngCore;

/// Pairs computed per block: the uniforms of one block fit in L1 next to the output.
const BLOCK: usize = 256;

/// Fills `out` with independent N(0, scale²) draws from `rng`.
pub(crate) fn fill_normal(rng: &mut impl RngCore, out: &mut [f32], scale: f32) {
    let mut bits = [0u32; 2 * BLOCK];
    for chunk in out.chunks_mut(2 * BLOCK) {
        let pairs = chunk.len().div_ceil(2);
        for word in bits[..2 * pairs].chunks_exact_mut(2) {
            let draw = rng.next_u64();
            word[0] = draw as u32;
            word[1] = (draw >> 32) as u32;
        }
        let mut normals = [0.0f32; 2 * BLOCK];
        transform(&bits[..2 * pairs], &mut normals[..2 * pairs], scale);
        chunk.copy_from_slice(&normals[..chunk.len()]);
    }
}

/// Box–Muller on pairs of 32-bit uniforms, compiled for the widest instruction set the CPU has.
fn transform(bits: &[u32], out: &mut [f32], scale: f32) {
    ebm_core::cpu_kernels::vectorize(Transform { bits, out, scale })
}

/// The arguments of [`transform_generic`], as the vectorised entry point takes them.
struct Transform<'a> {
    bits: &'a [u32],
    out: &'a mut [f32],
    scale: f32,
}

impl VectorLoop for Transform<'_> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        transform_generic(self.bits, self.out, self.scale)
    }
}

/// `(r cos θ, r sin θ)` with `r = √(−2 ln u₁)`, `θ = 2π u₂`, for `u₁ = (k₁ + ½)/2³²` in (0, 1) and
/// `u₂ = k₂/2³²`. The pairs are read de-interleaved so each loop is a plain element-wise map.
#[inline(always)]
fn transform_generic(bits: &[u32], out: &mut [f32], scale: f32) {
    let pairs = bits.len() / 2;
    let mut radius = [0.0f32; BLOCK];
    let mut angle = [0.0f32; BLOCK];
    for ((r, a), word) in radius
        .iter_mut()
        .zip(angle.iter_mut())
        .zip(bits.chunks_exact(2))
    {
        *r = scale * radius_squared(word[0]).sqrt();
        // θ − π, in [−π, π): the shift flips both signs, which leaves the law unchanged.
        *a = std::f32::consts::TAU * (word[1] as f32 * TO_UNIT - 0.5);
    }
    for ((pair, r), a) in out
        .chunks_exact_mut(2)
        .zip(&radius[..pairs])
        .zip(&angle[..pairs])
    {
        let (s, c) = sin_cos(*a);
        pair[0] = r * c;
        pair[1] = r * s;
    }
}

/// 2⁻³², from a 32-bit integer to the unit interval.
const TO_UNIT: f32 = 1.0 / 4_294_967_296.0;

/// `−2 ln u` for `u = (k + ½)/2³²`, the square of the radius. `ln(k + ½) − 32 ln 2` carries the
/// float32 rounding of a value near 22, about 2·10⁻⁶ absolute: the radius is within 10⁻⁵
/// relative above 1 and 10⁻⁴ above 0.1 (tested), and for u within 10⁻⁶ of 1 the difference
/// rounds to 0, which made the radius 0 (an exact (0, 0) pair, about once in 3·10⁷ pairs). The
/// floor is the smallest value the exact law takes on 32-bit uniforms, 2⁻³², so no radius is 0.
/// An exact `ln u` near 1 (`log1p`) cost 17% of a Langevin step on a Gaussian, for draws of
/// magnitude below 0.1 (probability 0.5%) that are already right to 10⁻⁴.
#[inline(always)]
fn radius_squared(k: u32) -> f32 {
    const LN_2_32: f32 = 32.0 * std::f32::consts::LN_2;
    (-2.0 * (ln(k as f32 + 0.5) - LN_2_32)).max(TO_UNIT)
}

/// `ln x` for normal positive `x`, to about 2 ulp (Cephes' `logf` polynomial), branch-free.
#[inline(always)]
fn ln(x: f32) -> f32 {
    const SQRT_HALF: f32 = std::f32::consts::FRAC_1_SQRT_2;
    let bits = x.to_bits();
    // x = m·2ᵉ with m in [1, 2); then move m to [√½, √2) so the polynomial's argument is small.
    let mut e = ((bits >> 23) as i32 - 127) as f32;
    let mut m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
    let low = m > std::f32::consts::SQRT_2;
    e += if low { 1.0 } else { 0.0 };
    m = if low { m * 0.5 } else { m };
    debug_assert!(m >= SQRT_HALF);
    let f = m - 1.0;
    let z = f * f;
    let mut p = 7.037_683_6e-2_f32;
    p = p * f - 1.151_461e-1;
    p = p * f + 1.167_699_8e-1;
    p = p * f - 1.242_014_1e-1;
    p = p * f + 1.424_932_3e-1;
    p = p * f - 1.666_805_8e-1;
    p = p * f + 2.000_071_4e-1;
    p = p * f - 2.499_999_4e-1;
    p = p * f + 3.333_333e-1;
    let y = f * z * p - 0.5 * z;
    f + y + e * std::f32::consts::LN_2
}

/// `(sin a, cos a)` for `a` in [−π, π], to a few ulp: fold into [−π/2, π/2] and evaluate odd
/// Taylor polynomials (degree 11), branch-free.
#[inline(always)]
fn sin_cos(a: f32) -> (f32, f32) {
    use std::f32::consts::{FRAC_PI_2, PI};
    // sin a = sin(π − a) folds |a| > π/2 back; cos a = sin(π/2 − |a|).
    let folded = if a > FRAC_PI_2 {
        PI - a
    } else if a < -FRAC_PI_2 {
        -PI - a
    } else {
        a
    };
    (sin_small(folded), sin_small(FRAC_PI_2 - a.abs()))
}

/// `sin x` for `x` in [−π/2, π/2]: the Taylor series to x¹¹ (error below 6·10⁻⁸).
#[inline(always)]
fn sin_small(x: f32) -> f32 {
    let z = x * x;
    let mut p = -2.505_210_8e-8_f32; // −1/11!
    p = p * z + 2.755_731_9e-6; // 1/9!
    p = p * z - 1.984_127e-4; // −1/7!
    p = p * z + 8.333_333e-3; // 1/5!
    p = p * z - 1.666_666_7e-1; // −1/3!
    x + x * z * p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_elementary_functions_match_libm() {
        let mut worst_ln = 0.0f32;
        let mut x = 0.5f32;
        while x < 4.3e9 {
            worst_ln = worst_ln.max((ln(x) - x.ln()).abs() / x.ln().abs().max(1.0));
            x *= 1.000_37;
        }
        assert!(worst_ln < 3e-7, "ln: {worst_ln}");
        let mut worst_trig = 0.0f32;
        let mut a = -std::f32::consts::PI;
        while a <= std::f32::consts::PI {
            let (s, c) = sin_cos(a);
            worst_trig = worst_trig.max((s - a.sin()).abs()).max((c - a.cos()).abs());
            a += 1e-4;
        }
        assert!(worst_trig < 3e-7, "sin/cos: {worst_trig}");
    }

    /// Moments and tail frequencies of 2²¹ draws against N(0, 4), at about five standard errors.
    #[test]
    fn the_radius_is_positive_for_every_uniform_and_accurate_away_from_zero() {
        // Both extremes of the words and a spread between: the radius is never 0 or NaN (u near
        // 1 gave 0 before the floor), and close to float64's away from 0.
        let mut words: Vec<u32> = (0..4096).chain(u32::MAX - 4095..=u32::MAX).collect();
        words.extend((0..=1 << 16).map(|i| i * 65_535));
        let (mut worst_above_1, mut worst_above_tenth) = (0f64, 0f64);
        for k in words {
            let r = (radius_squared(k) as f64).sqrt();
            assert!(r.is_finite() && r > 0.0, "radius {r} for k = {k}");
            let u = (k as f64 + 0.5) / 4_294_967_296.0;
            let exact = (-2.0 * u.ln()).sqrt();
            let error = (r - exact).abs() / exact;
            if exact > 1.0 {
                worst_above_1 = worst_above_1.max(error);
            } else if exact > 0.1 {
                worst_above_tenth = worst_above_tenth.max(error);
            }
        }
        assert!(worst_above_1 < 1e-5, "above 1: {worst_above_1:e}");
        assert!(
            worst_above_tenth < 1e-4,
            "in (0.1, 1]: {worst_above_tenth:e}"
        );
    }

    #[test]
    fn draws_have_the_normal_moments_and_tails() {
        let mut rng = ebm_core::random_stream::seeded_rng(11);
        let n = 1 << 21;
        let mut draws = vec![0.0f32; n];
        fill_normal(&mut rng, &mut draws, 2.0);
        let nf = n as f64;
        let z: Vec<f64> = draws.iter().map(|&v| f64::from(v) / 2.0).collect();
        let moment = |k: i32| z.iter().map(|v| v.powi(k)).sum::<f64>() / nf;
        assert!(
            moment(1).abs() < 5.0 * (1.0 / nf).sqrt(),
            "mean {}",
            moment(1)
        );
        assert!(
            (moment(2) - 1.0).abs() < 5.0 * (2.0 / nf).sqrt(),
            "var {}",
            moment(2)
        );
        assert!(
            moment(3).abs() < 5.0 * (15.0 / nf).sqrt(),
            "skew {}",
            moment(3)
        );
        assert!(
            (moment(4) - 3.0).abs() < 5.0 * (96.0 / nf).sqrt(),
            "kurt {}",
            moment(4)
        );
        // P(|Z| > 1) = 0.317311, P(|Z| > 3) = 0.0026998.
        for (cut, p) in [(1.0, 0.317_310_5), (3.0, 0.002_699_8)] {
            let freq = z.iter().filter(|v| v.abs() > cut).count() as f64 / nf;
            assert!(
                (freq - p).abs() < 5.0 * (p * (1.0 - p) / nf).sqrt(),
                "{cut}: {freq}"
            );
        }
        // The two values of a pair are uncorrelated.
        let cross = z.chunks_exact(2).map(|p| p[0] * p[1]).sum::<f64>() / (nf / 2.0);
        assert!(
            cross.abs() < 5.0 * (2.0 / nf).sqrt(),
            "pair correlation {cross}"
        );
    }

    #[test]
    fn odd_lengths_and_the_seed_alone_decide_the_values() {
        let draw = |seed, n| {
            let mut out = vec![0.0f32; n];
            fill_normal(
                &mut ebm_core::random_stream::seeded_rng(seed),
                &mut out,
                1.0,
            );
            out
        };
        assert_eq!(draw(3, 1001), draw(3, 1001));
        assert_ne!(draw(3, 1001), draw(4, 1001));
        assert!(draw(3, 1001).iter().all(|v| v.is_finite()));
    }
}
