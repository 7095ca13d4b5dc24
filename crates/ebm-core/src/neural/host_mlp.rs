//! A fused MLP forward-and-input-gradient kernel over host memory, for the NdArray backend.
//!
//! Why: on NdArray each tensor op of the generic path is its own single-threaded pass with its own
//! allocation, and `exp` is scalar libm. This kernel cuts the batch into panels of
//! [`PANEL`] rows and takes each panel forward and back through every layer while it stays in
//! cache: one register-tiled product per layer and direction ([`product`]), one fused activation
//! pass per layer (a vectorised `exp`), all compiled for AVX-512 or AVX2 when the CPU has them,
//! and the panels split across the cores. It reads the tensors' storage in place and keeps its
//! scratch memory between calls. The generic path stays the definition: the tests check this
//! kernel against it and against the float64 reference.

use std::borrow::Cow;
use std::cell::RefCell;

use burn::tensor::{DType, Tensor, TensorData};

use super::Activation;
use super::cores::for_each_split;
use super::host_activation::activate;
use super::instruction_set::{Lanes, Vectorized, dispatch};
use super::panel_product::{PANEL, Strided, product, scale_rows};
use crate::cpu_kernels::{CpuKernels, HostValues};

/// Work (multiply-adds) below which splitting the batch across threads costs more than it saves.
const PARALLEL_MIN_MACS: usize = 1 << 20;

thread_local! {
    /// Scratch memory of [`HostMlp::run`], kept between calls: a fresh buffer per call costs page
    /// faults (the samplers call it every step with the same sizes).
    static WORK: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// One dense layer: `w` is `[d_in, d_out]`, row-major.
struct HostLayer {
    w: HostValues,
    b: HostValues,
    d_in: usize,
    d_out: usize,
}

/// The parameters of an MLP on the host, ready for [`HostMlp::run`].
pub(super) struct HostMlp {
    hidden: Vec<HostLayer>,
    out_w: HostValues,
    out_b: f32,
    activation: Activation,
}

/// Whether `Bk` runs this kernel on tensors of this dtype: a backend whose [`CpuKernels`] says
/// so (NdArray), float32, a supported activation.
pub(super) fn applies<Bk: CpuKernels>(dtype: DType, activation: Activation) -> bool {
    Bk::KERNELS.mlp && dtype == DType::F32 && !matches!(activation, Activation::Gelu)
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
    pub(super) fn new<Bk: CpuKernels>(
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
                    w: Bk::host_f32(w.clone()),
                    b: Bk::host_f32(b.clone()),
                    d_in,
                    d_out,
                }
            })
            .collect();
        Self {
            hidden,
            out_w: Bk::host_f32(out_w.clone()),
            out_b: Bk::host_f32(out_b.clone()).values()[0],
            activation,
        }
    }

    /// Energies `[N]` and, if `with_grad`, input gradients `[N, D]` of the rows of `x`.
    pub(super) fn run<Bk: CpuKernels>(
        &self,
        x: Tensor<Bk, 2>,
        with_grad: bool,
    ) -> (Tensor<Bk, 1>, Option<Tensor<Bk, 2>>) {
        let device = x.device();
        let [n, d] = x.dims();
        let x = Bk::host_f32(x);
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
        let threads = super::cores::cores();
        let chunks = if n * macs_per_row >= PARALLEL_MIN_MACS {
            threads.min(n).max(1)
        } else {
            1
        };
        // Whole panels per chunk, so that only the batch's last panel is partial.
        let rows_per_chunk = n.div_ceil(PANEL).div_ceil(chunks).max(1) * PANEL;
        let work_per_chunk = layers.work_len(d, with_grad);
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
            let mut parts: Vec<_> = x
                .chunks(rows_per_chunk * d)
                .zip(energy.chunks_mut(rows_per_chunk))
                .zip(grad_chunks)
                .zip(work.chunks_mut(work_per_chunk))
                .collect();
            // One part per core at most (`chunks`), so each core takes one.
            for_each_split(&mut parts, |(((xs, es), gs), ws)| {
                layers.run_rows(xs, d, es, gs.as_deref_mut(), ws)
            });
        });
        let energy = Tensor::from_data(TensorData::new(energy, [n]), &device);
        let grad = with_grad.then(|| Tensor::from_data(TensorData::new(grad, [n, d]), &device));
        (energy, grad)
    }
}

/// One call of [`Layers::panels`], for [`dispatch`].
struct Rows<'a> {
    layers: &'a Layers<'a>,
    x: &'a [f32],
    d: usize,
    energy: &'a mut [f32],
    grad: Option<&'a mut [f32]>,
    work: &'a mut [f32],
}

impl Vectorized for Rows<'_> {
    type Output = ();
    #[inline(always)]
    unsafe fn run<V: Lanes, const MR: usize, const NV: usize>(self) {
        let Self {
            layers,
            x,
            d,
            energy,
            grad,
            work,
        } = self;
        // SAFETY: the caller's guarantee.
        unsafe { layers.panels::<V, MR, NV>(x, d, energy, grad, work) }
    }
}

impl Layers<'_> {
    fn widest(&self) -> usize {
        self.hidden.iter().map(|l| l.d_out).max().unwrap_or(0)
    }

    /// Scratch floats [`Layers::panels`] needs (whatever the number of rows): the transposed
    /// input, two activation buffers and, when a gradient is wanted, the slopes of every layer
    /// and one backward buffer, each [`PANEL`] columns wide.
    fn work_len(&self, d: usize, with_grad: bool) -> usize {
        let slopes: usize = self.hidden.iter().map(|l| l.d_out).sum();
        let backward = if with_grad {
            slopes + self.widest().max(d)
        } else {
            0
        };
        PANEL * (d + 2 * self.widest() + backward)
    }

    /// [`Layers::panels`] on the widest instruction set the CPU has.
    fn run_rows(
        &self,
        x: &[f32],
        d: usize,
        energy: &mut [f32],
        grad: Option<&mut [f32]>,
        work: &mut [f32],
    ) {
        dispatch(Rows {
            layers: self,
            x,
            d,
            energy,
            grad,
            work,
        })
    }

    /// The rows of `x` in panels of [`PANEL`]: each panel goes forward (keeping `f′(z)` when a
    /// gradient is wanted) and back (`g ← W·(g ⊙ f′(z))`) through every layer while its
    /// activations stay in cache. Activations are feature-major (`[width, PANEL]`); the last
    /// panel is padded with zero rows whose results are dropped.
    ///
    /// # Safety
    /// The CPU supports the instruction set of `V`.
    #[inline(always)]
    unsafe fn panels<V: Lanes, const MR: usize, const NV: usize>(
        &self,
        x: &[f32],
        d: usize,
        energy: &mut [f32],
        mut grad: Option<&mut [f32]>,
        work: &mut [f32],
    ) {
        let rows = energy.len();
        let widest = PANEL * self.widest();
        let (xt, rest) = work.split_at_mut(PANEL * d);
        let (mut current, rest) = rest.split_at_mut(widest);
        let (mut previous, rest) = rest.split_at_mut(widest);
        let slopes_len = PANEL * self.hidden.iter().map(|l| l.d_out).sum::<usize>();
        let (slopes, backward) = if grad.is_some() {
            rest.split_at_mut(slopes_len)
        } else {
            (&mut rest[..0], &mut [][..])
        };
        for start in (0..rows).step_by(PANEL) {
            let n = (rows - start).min(PANEL);
            for (j, column) in xt.chunks_exact_mut(PANEL).enumerate() {
                for (c, value) in column.iter_mut().enumerate() {
                    *value = if c < n { x[(start + c) * d + j] } else { 0.0 };
                }
            }
            // Forward: zᵀ = b + Wᵀ·aᵀ with W stored `[d_in, d_out]`, so Wᵀ(i, p) = w[p·d_out + i].
            let mut slope_at = 0;
            for (l, layer) in self.hidden.iter().enumerate() {
                let input: &[f32] = if l == 0 { xt } else { previous };
                let z = &mut current[..PANEL * layer.d_out];
                let wt = Strided {
                    values: &layer.w,
                    row_stride: 1,
                    col_stride: layer.d_out,
                };
                // SAFETY: the caller vouches for the instruction set.
                unsafe {
                    product::<V, MR, NV>(layer.d_out, layer.d_in, wt, input, z, Some(&layer.b))
                };
                let slope: &mut [f32] = if grad.is_some() {
                    &mut slopes[slope_at..slope_at + z.len()]
                } else {
                    &mut []
                };
                slope_at += slope.len();
                activate::<V::MulAdd>(self.activation, z, slope);
                std::mem::swap(&mut current, &mut previous);
            }
            // E = b_out + w_outᵀ·a_L: a one-row product.
            let w_out = Strided {
                values: &self.out_w,
                row_stride: 0,
                col_stride: 1,
            };
            let last = self.hidden.last().expect("at least one hidden layer");
            let mut e = [0.0f32; PANEL];
            // SAFETY: the caller vouches for the instruction set.
            unsafe {
                product::<V, MR, NV>(1, last.d_out, w_out, previous, &mut e, Some(&[self.out_b]))
            };
            energy[start..start + n].copy_from_slice(&e[..n]);
            let Some(grad) = grad.as_deref_mut() else {
                continue;
            };
            // Backward: g = w_out ⊙ f′(z_L), in place of the last slope; then W·g per layer,
            // with W(i, p) = w[i·d_out + p].
            let mut end = slopes_len;
            // SAFETY: the caller vouches for the instruction set.
            unsafe { scale_rows::<V>(&mut slopes[end - PANEL * last.d_out..], &self.out_w) };
            for (l, layer) in self.hidden.iter().enumerate().rev() {
                let (before, g) = slopes[..end].split_at_mut(end - PANEL * layer.d_out);
                let out = &mut backward[..PANEL * layer.d_in];
                let w = Strided {
                    values: &layer.w,
                    row_stride: layer.d_out,
                    col_stride: 1,
                };
                // SAFETY: the caller vouches for the instruction set.
                unsafe { product::<V, MR, NV>(layer.d_in, layer.d_out, w, g, out, None) };
                end -= g.len();
                if l > 0 {
                    for (s, b) in before[end - out.len()..].iter_mut().zip(out.iter()) {
                        *s *= b;
                    }
                } else {
                    for (j, column) in out.chunks_exact(PANEL).enumerate() {
                        for (c, &value) in column[..n].iter().enumerate() {
                            grad[(start + c) * d + j] = value;
                        }
                    }
                }
            }
        }
    }
}
