//! A register-tiled matrix product over a panel of [`PANEL`] columns, written once for any
//! vector width ([`Lanes`], `instruction_set.rs`): AVX-512, AVX2 with FMA, or scalar code.
//!
//! Why: the host MLP kernel multiplies a small weight matrix by a narrow panel of activations that
//! sits in the L1 cache. A general GEMM (matrixmultiply) first copies both operands into packed
//! buffers and reached 50–65 GFLOP/s per core on these shapes; reading the panel in place and
//! broadcasting weights straight from memory keeps the FMA units busy instead.

use super::instruction_set::Lanes;

/// Columns of a panel: batch rows processed together. Two AVX-512 vectors.
pub(super) const PANEL: usize = 32;

/// Depth of one pass over the panel: 128 rows of 32 floats (16 KiB) stay in a 32 KiB L1 cache
/// while every tile of the output reads them.
const DEPTH: usize = 128;

/// A matrix read through strides: element `(i, p)` is `values[i * row_stride + p * col_stride]`.
#[derive(Clone, Copy)]
pub(super) struct Strided<'a> {
    pub(super) values: &'a [f32],
    pub(super) row_stride: usize,
    pub(super) col_stride: usize,
}

/// `c[i] ← init[i] + Σₚ a(i, p) · b[p]` for `i < m`, `p < k`, where `b[p]` and `c[i]` are rows
/// of [`PANEL`] floats (`b` is `[k, PANEL]`, `c` is `[m, PANEL]`, row-major) and a missing `init`
/// means zero.
///
/// `MR` output rows by `NV · V::WIDTH` columns are computed at a time in `MR × NV` vector
/// accumulators; `NV · V::WIDTH` must divide [`PANEL`]. The tile must fit the vector registers
/// with the `NV` rows of `b` and one broadcast (AVX2's 16 registers: 6 × 2, not 3 × 4, whose
/// accumulators spill to the stack).
///
/// # Safety
/// The CPU supports the instruction set of `V`.
#[inline(always)]
pub(super) unsafe fn product<V: Lanes, const MR: usize, const NV: usize>(
    m: usize,
    k: usize,
    a: Strided,
    b: &[f32],
    c: &mut [f32],
    init: Option<&[f32]>,
) {
    // SAFETY: the caller's guarantee.
    unsafe { product_cols::<V, MR, NV>(m, k, a, b, c, init, PANEL) }
}

/// [`product`] for the first `cols` columns of the panel only (rounded up to whole tiles):
/// columns past them are left as they were, so a partial panel costs what it holds.
///
/// # Safety
/// As [`product`].
#[inline(always)]
pub(super) unsafe fn product_cols<V: Lanes, const MR: usize, const NV: usize>(
    m: usize,
    k: usize,
    a: Strided,
    b: &[f32],
    c: &mut [f32],
    init: Option<&[f32]>,
    cols: usize,
) {
    assert!(PANEL.is_multiple_of(NV * V::WIDTH) && m > 0 && k > 0 && cols <= PANEL);
    assert!((m - 1) * a.row_stride + (k - 1) * a.col_stride < a.values.len());
    assert!(b.len() >= k * PANEL && c.len() >= m * PANEL);
    assert!(init.is_none_or(|init| init.len() >= m));
    let mut start = 0;
    while start < k {
        let depth = start..(start + DEPTH).min(k);
        let first = start == 0;
        // SAFETY: the asserts above bound every index the tiles touch (rows < m, depth < k),
        // and the caller vouches for the instruction set.
        unsafe {
            let i = tiles::<V, MR, NV>(0, m, cols, &depth, a, b, c, init, first);
            let i = tiles::<V, 4, NV>(i, m, cols, &depth, a, b, c, init, first);
            let i = tiles::<V, 2, NV>(i, m, cols, &depth, a, b, c, init, first);
            tiles::<V, 1, NV>(i, m, cols, &depth, a, b, c, init, first);
        }
        start = depth.end;
    }
}

/// `c[i] ← c[i] · scale[i]` for rows `c[i]` of [`PANEL`] floats.
///
/// # Safety
/// The CPU supports the instruction set of `V`.
#[inline(always)]
pub(super) unsafe fn scale_rows<V: Lanes>(c: &mut [f32], scale: &[f32]) {
    assert!(c.len() == scale.len() * PANEL);
    for (row, &s) in c.chunks_exact_mut(PANEL).zip(scale) {
        // SAFETY: `row` holds PANEL = a multiple of `V::WIDTH` floats; the caller vouches for
        // the instruction set. Explicit vectors: written as a scalar loop, the compiler
        // vectorised across rows with gathers and scatters (20% of a Langevin step).
        unsafe {
            let s = V::splat(s);
            for v in (0..PANEL).step_by(V::WIDTH) {
                let p = row.as_mut_ptr().add(v);
                V::load(p).mul(s).store(p);
            }
        }
    }
}

/// As many `MR`-row tiles of [`product_cols`] as fit in rows `from..m`, over the column tiles
/// that hold the first `cols` columns; returns the first row left.
///
/// # Safety
/// As [`product`], whose asserts must hold.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn tiles<V: Lanes, const MR: usize, const NV: usize>(
    from: usize,
    m: usize,
    cols: usize,
    depth: &std::ops::Range<usize>,
    a: Strided,
    b: &[f32],
    c: &mut [f32],
    init: Option<&[f32]>,
    first: bool,
) -> usize {
    let mut i = from;
    while i + MR <= m {
        for j0 in (0..cols).step_by(NV * V::WIDTH) {
            // SAFETY: rows i..i + MR are below m, columns j0..j0 + NV·WIDTH within the panel;
            // see `product`.
            unsafe { tile::<V, MR, NV>(i, j0, depth, a, b, c, init, first) };
        }
        i += MR;
    }
    i
}

/// Rows `i0..i0 + MR`, columns `j0..j0 + NV·WIDTH` of [`product`] over one depth range: starts
/// from `init` (or zero) on the first range and from `c` after it.
///
/// # Safety
/// As [`product`], with `i0 + MR ≤ m` and `j0 + NV·WIDTH ≤ PANEL`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn tile<V: Lanes, const MR: usize, const NV: usize>(
    i0: usize,
    j0: usize,
    depth: &std::ops::Range<usize>,
    a: Strided,
    b: &[f32],
    c: &mut [f32],
    init: Option<&[f32]>,
    first: bool,
) {
    let (ap, bp, cp) = (
        a.values.as_ptr(),
        b.as_ptr().wrapping_add(j0),
        c.as_mut_ptr().wrapping_add(j0),
    );
    // SAFETY: every pointer below stays inside `a`, `b` or `c` by the asserts of `product`.
    unsafe {
        let mut acc = [[V::splat(0.0); NV]; MR];
        for (r, row) in acc.iter_mut().enumerate() {
            for (v, lane) in row.iter_mut().enumerate() {
                *lane = if first {
                    V::splat(init.map_or(0.0, |init| init[i0 + r]))
                } else {
                    V::load(cp.add((i0 + r) * PANEL + v * V::WIDTH))
                };
            }
        }
        for p in depth.clone() {
            let bp = bp.add(p * PANEL);
            let bv: [V; NV] = std::array::from_fn(|v| V::load(bp.add(v * V::WIDTH)));
            for (r, row) in acc.iter_mut().enumerate() {
                let x = V::splat(*ap.add((i0 + r) * a.row_stride + p * a.col_stride));
                for (lane, &bv) in row.iter_mut().zip(&bv) {
                    *lane = x.mul_add(bv, *lane);
                }
            }
        }
        for (r, row) in acc.iter().enumerate() {
            for (v, lane) in row.iter().enumerate() {
                lane.store(cp.add((i0 + r) * PANEL + v * V::WIDTH));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::instruction_set::Vector;
    use super::*;

    /// `product` against a plain triple loop, over shapes that exercise every tile size, the
    /// depth split and both stride orders.
    /// Only called after checking that the CPU supports `V`'s instruction set.
    fn check<V: Lanes, const MR: usize, const NV: usize>() {
        for (m, k) in [(1, 1), (3, 2), (13, 5), (17, 130), (40, 257)] {
            for transposed in [false, true] {
                let a: Vec<f32> = (0..m * k)
                    .map(|i| ((i * 7 % 11) as f32 - 5.0) / 4.0)
                    .collect();
                let b: Vec<f32> = (0..k * PANEL)
                    .map(|i| ((i * 5 % 13) as f32 - 6.0) / 8.0)
                    .collect();
                let init: Vec<f32> = (0..m).map(|i| i as f32 * 0.5).collect();
                let (row_stride, col_stride) = if transposed { (1, m) } else { (k, 1) };
                let mut c = vec![f32::NAN; m * PANEL];
                let strided = Strided {
                    values: &a,
                    row_stride,
                    col_stride,
                };
                // SAFETY: callers check the CPU first.
                unsafe { product::<V, MR, NV>(m, k, strided, &b, &mut c, Some(&init)) };
                for i in 0..m {
                    for j in 0..PANEL {
                        let want: f64 = init[i] as f64
                            + (0..k)
                                .map(|p| {
                                    a[i * row_stride + p * col_stride] as f64
                                        * b[p * PANEL + j] as f64
                                })
                                .sum::<f64>();
                        let got = c[i * PANEL + j] as f64;
                        assert!(
                            (got - want).abs() <= 1e-4 * (1.0 + want.abs()),
                            "{m}x{k} ({i},{j}): {got} vs {want}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn scalar_product_matches_a_triple_loop() {
        check::<Vector<pulp::Scalar>, 1, PANEL>();
    }

    /// Each vector instruction set the CPU has, in the tile shapes of `dispatch` and AVX2's
    /// 3 × 4.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn vector_products_match_a_triple_loop() {
        use pulp::x86::{V3, V4};
        if V4::is_available() {
            check::<Vector<V4>, 12, 2>();
        }
        if V3::is_available() {
            check::<Vector<V3>, 6, 2>();
            check::<Vector<V3>, 3, 4>();
        }
    }
}
