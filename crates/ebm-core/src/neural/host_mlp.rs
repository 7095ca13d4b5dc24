//! A fused MLP forward-and-input-gradient kernel over host memory, for the NdArray backend.
//!
//! Why: on NdArray each tensor op of the generic path is its own single-threaded pass with its own
//! allocation, and `exp` is scalar libm. Profiling the Langevin MLP benchmark showed sgemm at
//! ~30% and element-wise passes (libm `expf`, copies, zips) at ~50%. This kernel does the same
//! math with one sgemm per layer and direction, one fused activation pass per layer (a vectorised
//! `exp`, compiled for AVX-512 or AVX2 when the CPU has them), and the batch split across the
//! cores. It reads the tensors' storage in place and keeps its scratch memory between calls.
//! The generic path stays the definition: the tests check this kernel against it and against the
//! float64 reference.

use std::borrow::Cow;
use std::cell::RefCell;

use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor, TensorData};

use super::Activation;
use crate::host_tensor::{HostF32, is_ndarray_f32};

const SELU_ALPHA: f32 = 1.673_263_3;
const SELU_LAMBDA: f32 = 1.050_701;

/// Work (multiply-adds) below which splitting the batch across threads costs more than it saves.
const PARALLEL_MIN_MACS: usize = 1 << 20;

/// The number of cores, asked once: `available_parallelism` reads cgroup files on every call,
/// which cost 6% of a CD step.
fn threads() -> usize {
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(1, |t| t.get()))
}

thread_local! {
    /// Scratch memory of [`HostMlp::run`], kept between calls: a fresh buffer per call costs page
    /// faults (the samplers call it every step with the same sizes).
    static WORK: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// One dense layer: `w` is `[d_in, d_out]`, row-major.
struct HostLayer {
    w: HostF32,
    b: HostF32,
    d_in: usize,
    d_out: usize,
}

/// The parameters of an MLP on the host, ready for [`HostMlp::run`].
pub(super) struct HostMlp {
    hidden: Vec<HostLayer>,
    out_w: HostF32,
    out_b: f32,
    activation: Activation,
}

/// Whether tensors of `Bk` with this dtype live in host memory that this kernel may use.
pub(super) fn applies<Bk: Backend>(dtype: DType, activation: Activation) -> bool {
    is_ndarray_f32::<Bk>(dtype) && !matches!(activation, Activation::Gelu)
}

/// One hidden layer's parameters borrowed as slices for one call.
struct LayerView<'a> {
    w: Cow<'a, [f32]>,
    b: Cow<'a, [f32]>,
    d_in: usize,
    d_out: usize,
}

/// The parameters borrowed as slices for one call.
struct Layers<'a> {
    hidden: Vec<LayerView<'a>>,
    out_w: Cow<'a, [f32]>,
    out_b: f32,
    activation: Activation,
}

impl HostMlp {
    /// Takes the parameters (`(W, b)` per hidden layer, then the output layer) without copying.
    pub(super) fn new<Bk: Backend>(
        hidden: &[(Tensor<Bk, 2>, Tensor<Bk, 1>)],
        out_w: &Tensor<Bk, 2>,
        out_b: &Tensor<Bk, 1>,
        activation: Activation,
    ) -> Self {
        let hidden = hidden
            .iter()
            .map(|(w, b)| {
                let [d_in, d_out] = w.dims();
                HostLayer {
                    w: HostF32::new(w.clone()),
                    b: HostF32::new(b.clone()),
                    d_in,
                    d_out,
                }
            })
            .collect();
        Self {
            hidden,
            out_w: HostF32::new(out_w.clone()),
            out_b: HostF32::new(out_b.clone()).values()[0],
            activation,
        }
    }

    /// Energies `[N]` and, if `with_grad`, input gradients `[N, D]` of the rows of `x`.
    pub(super) fn run<Bk: Backend>(
        &self,
        x: Tensor<Bk, 2>,
        with_grad: bool,
    ) -> (Tensor<Bk, 1>, Option<Tensor<Bk, 2>>) {
        let device = x.device();
        let [n, d] = x.dims();
        let x = HostF32::new(x);
        let layers = Layers {
            hidden: self
                .hidden
                .iter()
                .map(|l| LayerView {
                    w: l.w.values(),
                    b: l.b.values(),
                    d_in: l.d_in,
                    d_out: l.d_out,
                })
                .collect(),
            out_w: self.out_w.values(),
            out_b: self.out_b,
            activation: self.activation,
        };
        let mut energy = vec![0.0f32; n];
        let mut grad = vec![0.0f32; if with_grad { n * d } else { 0 }];
        let macs_per_row: usize = self.hidden.iter().map(|l| l.d_in * l.d_out).sum();
        let threads = threads();
        let chunks = if n * macs_per_row >= PARALLEL_MIN_MACS {
            threads.min(n).max(1)
        } else {
            1
        };
        let rows_per_chunk = n.div_ceil(chunks).max(1);
        let work_per_chunk = layers.work_len(rows_per_chunk, with_grad);
        WORK.with_borrow_mut(|work| {
            let needed = work_per_chunk * n.div_ceil(rows_per_chunk);
            if work.len() < needed {
                work.resize(needed, 0.0);
            }
            let grad_chunks: Vec<Option<&mut [f32]>> = if with_grad {
                grad.chunks_mut(rows_per_chunk * d).map(Some).collect()
            } else {
                (0..n.div_ceil(rows_per_chunk)).map(|_| None).collect()
            };
            let x = x.values();
            let parts = x
                .chunks(rows_per_chunk * d)
                .zip(energy.chunks_mut(rows_per_chunk))
                .zip(grad_chunks)
                .zip(work.chunks_mut(work_per_chunk));
            if chunks <= 1 {
                for (((xs, es), gs), ws) in parts {
                    layers.run_rows(xs, d, es, gs, ws);
                }
            } else {
                let layers = &layers;
                std::thread::scope(|scope| {
                    for (((xs, es), gs), ws) in parts {
                        scope.spawn(move || layers.run_rows(xs, d, es, gs, ws));
                    }
                });
            }
        });
        let energy = Tensor::from_data(TensorData::new(energy, [n]), &device);
        let grad = with_grad.then(|| Tensor::from_data(TensorData::new(grad, [n, d]), &device));
        (energy, grad)
    }
}

impl Layers<'_> {
    fn widest(&self) -> usize {
        self.hidden.iter().map(|l| l.d_out).max().unwrap_or(0)
    }

    /// Scratch floats [`Layers::run_rows`] needs for `rows` rows: two activation buffers, the
    /// slopes of every layer and one backward buffer when a gradient is wanted.
    fn work_len(&self, rows: usize, with_grad: bool) -> usize {
        let slopes: usize = self.hidden.iter().map(|l| l.d_out).sum();
        rows * (2 * self.widest() + if with_grad { slopes + self.widest() } else { 0 })
    }

    /// [`Layers::rows`] compiled for the widest vector unit the CPU has, so that the
    /// activation loops run 16 (AVX-512) or 8 (AVX2) lanes wide instead of SSE2's 4.
    fn run_rows(
        &self,
        x: &[f32],
        d: usize,
        energy: &mut [f32],
        grad: Option<&mut [f32]>,
        work: &mut [f32],
    ) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU has AVX-512F (checked above).
                return unsafe { self.rows_avx512(x, d, energy, grad, work) };
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2 (checked above).
                return unsafe { self.rows_avx2(x, d, energy, grad, work) };
            }
        }
        self.rows(x, d, energy, grad, work)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn rows_avx512(
        &self,
        x: &[f32],
        d: usize,
        energy: &mut [f32],
        grad: Option<&mut [f32]>,
        work: &mut [f32],
    ) {
        self.rows(x, d, energy, grad, work)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn rows_avx2(
        &self,
        x: &[f32],
        d: usize,
        energy: &mut [f32],
        grad: Option<&mut [f32]>,
        work: &mut [f32],
    ) {
        self.rows(x, d, energy, grad, work)
    }

    /// Forward (keeping `f′(z)` when a gradient is wanted), then `g ← W·(g ⊙ f′(z))`.
    ///
    /// Activations are stored feature-major (`[width, rows]`): matrixmultiply packs an operand
    /// with contiguous copies when its rows (left operand) or columns (right operand) are
    /// contiguous, and element by element otherwise. Feature-major puts the large operand of
    /// every product (the activations) on the fast side; the weights, small, take the other.
    #[inline(always)]
    fn rows(
        &self,
        x: &[f32],
        d: usize,
        energy: &mut [f32],
        grad: Option<&mut [f32]>,
        work: &mut [f32],
    ) {
        let rows = energy.len();
        let widest = rows * self.widest();
        let (mut current, rest) = work.split_at_mut(widest);
        let (mut previous, rest) = rest.split_at_mut(widest);
        let (mut slopes, backward) = if grad.is_some() {
            let mut slopes = Vec::with_capacity(self.hidden.len());
            let mut rest = rest;
            for l in &self.hidden {
                let (slope, tail) = rest.split_at_mut(rows * l.d_out);
                slopes.push(slope);
                rest = tail;
            }
            (slopes, rest)
        } else {
            (Vec::new(), rest)
        };
        for (l, layer) in self.hidden.iter().enumerate() {
            let (w, b, d_in, d_out) = (&layer.w, &layer.b, &layer.d_in, &layer.d_out);
            let z = &mut current[..rows * d_out];
            for (row, &bias) in z.chunks_exact_mut(rows).zip(b.iter()) {
                row.fill(bias);
            }
            // zᵀ = b + Wᵀ·aᵀ; the input x is row-major [rows, d], so xᵀ is read with swapped
            // strides (a small operand: d columns).
            let a = if l == 0 {
                Operand::new(x, 1, d)
            } else {
                Operand::new(&previous[..rows * d_in], rows, 1)
            };
            let wt = Operand::new(w, 1, *d_out);
            gemm(*d_out, *d_in, rows, wt, a, Output::new(z, rows, 1), 1.0);
            let slope: &mut [f32] = match slopes.get_mut(l) {
                Some(slope) => slope,
                None => &mut [],
            };
            activate(self.activation, z, slope);
            std::mem::swap(&mut current, &mut previous);
        }
        energy.fill(self.out_b);
        for (row, &w) in previous.chunks_exact(rows).zip(self.out_w.iter()) {
            for (e, a) in energy.iter_mut().zip(row) {
                *e += w * a;
            }
        }
        let Some(grad) = grad else { return };
        debug_assert_eq!(grad.len(), rows * d);
        // g = w_out ⊙ f′(z_L), in place of the last slope.
        let mut g = slopes.pop().expect("at least one hidden layer");
        for (row, &w) in g.chunks_exact_mut(rows).zip(self.out_w.iter()) {
            for s in row.iter_mut() {
                *s *= w;
            }
        }
        for (l, layer) in self.hidden.iter().enumerate().rev() {
            let (w, d_in, d_out) = (&layer.w, &layer.d_in, &layer.d_out);
            // W·g. The first layer writes the input gradient (row-major [rows, d], so written
            // with swapped strides); the others the backward buffer, then fold in the slope.
            let out = if l == 0 {
                Output::new(&mut *grad, 1, d)
            } else {
                Output::new(&mut backward[..rows * d_in], rows, 1)
            };
            let wm = Operand::new(w, *d_out, 1);
            gemm(
                *d_in,
                *d_out,
                rows,
                wm,
                Operand::new(&*g, rows, 1),
                out,
                0.0,
            );
            if l > 0 {
                let next = slopes.pop().expect("one slope per hidden layer");
                for (s, b) in next.iter_mut().zip(backward.iter()) {
                    *s *= b;
                }
                g = next;
            }
        }
    }
}

/// A matrix operand: values and the strides of its rows and columns.
struct Operand<'a> {
    values: &'a [f32],
    row_stride: usize,
    col_stride: usize,
}

impl<'a> Operand<'a> {
    fn new(values: &'a [f32], row_stride: usize, col_stride: usize) -> Self {
        Self {
            values,
            row_stride,
            col_stride,
        }
    }
}

/// The matrix a product writes: values and the strides of its rows and columns.
struct Output<'a> {
    values: &'a mut [f32],
    row_stride: usize,
    col_stride: usize,
}

impl<'a> Output<'a> {
    fn new(values: &'a mut [f32], row_stride: usize, col_stride: usize) -> Self {
        Self {
            values,
            row_stride,
            col_stride,
        }
    }
}

/// Whether an `[rows, cols]` matrix with these strides stays inside `len` values.
fn fits(len: usize, rows: usize, cols: usize, row_stride: usize, col_stride: usize) -> bool {
    rows == 0 || cols == 0 || (rows - 1) * row_stride + (cols - 1) * col_stride < len
}

/// `c ← beta·c + a·b` with `a: [m, k]`, `b: [k, n]`, `c: [m, n]`. With `beta = 0`, `c` is only
/// written.
fn gemm(m: usize, k: usize, n: usize, a: Operand, b: Operand, c: Output, beta: f32) {
    assert!(
        fits(a.values.len(), m, k, a.row_stride, a.col_stride)
            && fits(b.values.len(), k, n, b.row_stride, b.col_stride)
            && fits(c.values.len(), m, n, c.row_stride, c.col_stride)
    );
    // SAFETY: the assert bounds every index the strides reach, and `c`, borrowed mutably, does
    // not alias `a` or `b`.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.values.as_ptr(),
            a.row_stride as isize,
            a.col_stride as isize,
            b.values.as_ptr(),
            b.row_stride as isize,
            b.col_stride as isize,
            beta,
            c.values.as_mut_ptr(),
            c.row_stride as isize,
            c.col_stride as isize,
        );
    }
}

/// `z ← f(z)` and, if `slope` is not empty, `slope ← f′(z)`, in one pass.
#[inline(always)]
fn activate(activation: Activation, z: &mut [f32], slope: &mut [f32]) {
    match activation {
        Activation::Silu => map(z, slope, |z| {
            let s = 1.0 / (1.0 + exp(-z));
            (z * s, s * (1.0 + z * (1.0 - s)))
        }),
        Activation::Softplus => map(z, slope, |z| {
            let e = exp(-z.abs());
            let s = 1.0 / (1.0 + e);
            (z.max(0.0) + e.ln_1p(), if z >= 0.0 { s } else { 1.0 - s })
        }),
        Activation::Selu => map(z, slope, |z| {
            let e = exp(z.min(0.0));
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
        Activation::Gelu => unreachable!("`applies` excludes GELU"),
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
fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5·2²³: adding it rounds to the nearest integer n, which then sits in the low mantissa
    // bits (the high bits are zero below bit 22, so they vanish in the shift that makes 2ⁿ).
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.3, 88.3);
    let shifted = x * LOG2E + ROUND;
    let n = shifted - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4_f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let y = p * r * r + r + 1.0;
    // 2ⁿ: the biased exponent n + 127 (in 1..=254 after the clamp) moved into place.
    y * f32::from_bits(shifted.to_bits().wrapping_add(127) << 23)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectorised_exp_matches_libm_within_two_ulp() {
        let mut worst = 0.0f32;
        let mut x = -87.0f32;
        while x < 88.0 {
            let (ours, libm) = (exp(x), x.exp());
            worst = worst.max((ours - libm).abs() / libm);
            x += 0.001_7;
        }
        assert!(worst < 2.5e-7, "worst relative error {worst}");
        assert!(exp(-200.0) < 1e-37 && exp(200.0) > 2e38 && exp(200.0).is_finite());
    }
}
