//! A CNN energy-and-input-gradient kernel over host memory, for the CPU backends (NdArray, Flex).
//!
//! Why: on the CPU backends a convolution is an op of its own with a layout change and an
//! `im2col` copy on every call, and its transpose (the input gradient) runs one image at a time.
//! This kernel keeps each image channel-major (`[C, H·W]`, the tensors' own layout) through every
//! layer and computes each 3×3 convolution over panels of [`PANEL`] output positions: the panel's
//! patches are gathered into a `[9·C_in, PANEL]` block that stays in cache, multiplied by the
//! kernel with the register-tiled [`product`] of the MLP kernel, and activated in the same pass
//! that keeps `f′(z)`. The head runs over panels of [`PANEL`] images. The backward sweep takes the
//! same products with the kernel transposed and scatters the patches back (`col2im`). Images are
//! split across the cores. The generic tensor-op path of [`super::Cnn`] stays the definition: the
//! tests check this kernel against it.

use burn::tensor::{DType, Tensor, TensorData};

use super::Activation;
use super::cores::for_each_split;
use super::host_activation::{activate, curvature};
use super::instruction_set::{self, Lanes, Vectorized};
use super::panel_product::{PANEL, Strided, product, product_cols, scale_rows};
use crate::cpu_kernels::CpuKernels;

/// Whether `Bk` runs this kernel on tensors of this dtype: a backend whose [`CpuKernels`] says
/// so (NdArray, Flex; never an autodiff wrapper, whose graph must see every op), float32.
pub(super) fn applies<Bk: CpuKernels>(dtype: DType, activation: Activation) -> bool {
    Bk::KERNELS.cnn && dtype == DType::F32 && !matches!(activation, Activation::Gelu)
}

/// One 3×3 convolution with padding 1.
pub(super) struct HostConv {
    /// `[C_out, C_in·9]`, row-major (the `[C_out, C_in, 3, 3]` kernel as stored).
    pub(super) weight: Vec<f32>,
    pub(super) bias: Vec<f32>,
    pub(super) c_in: usize,
    pub(super) c_out: usize,
    pub(super) stride: usize,
    /// `(H, W)` of the layer's input.
    pub(super) input: [usize; 2],
}

impl HostConv {
    pub(super) fn output(&self) -> [usize; 2] {
        self.input.map(|s| (s - 1) / self.stride + 1)
    }

    pub(super) fn output_len(&self) -> usize {
        let [h, w] = self.output();
        self.c_out * h * w
    }
}

/// The parameters of a CNN on the host.
pub(super) struct HostCnn {
    pub(super) convs: Vec<HostConv>,
    /// `[features, hidden]`, row-major.
    pub(super) hidden_w: Vec<f32>,
    pub(super) hidden_b: Vec<f32>,
    /// `[hidden]`.
    pub(super) out_w: Vec<f32>,
    pub(super) out_b: f32,
    pub(super) activation: Activation,
}

/// Reads a float32 tensor's values (a copy).
pub(super) fn host_values<Bk: CpuKernels, const D: usize>(t: Tensor<Bk, D>) -> Vec<f32> {
    with_values(t, <[f32]>::to_vec)
}

/// Runs `f` on a float32 tensor's values, read in place where the backend lends its storage
/// (NdArray; Flex when contiguous), else from a copy. NdArray's own `into_data` copies element by
/// element through an iterator (a fifth of a call on the seeds' CNN), and Flex's copies every
/// tensor whose storage is shared.
pub(super) fn with_values<Bk: CpuKernels, const D: usize, R>(
    t: Tensor<Bk, D>,
    f: impl FnOnce(&[f32]) -> R,
) -> R {
    f(&Bk::host_f32(t).values())
}

/// One image's state through the sweeps.
pub(super) struct Image {
    /// The input, then the activations of the latest layer (`[C, H·W]`).
    activations: Vec<f32>,
    /// `f′(z)` of every layer (empty without a gradient).
    slopes: Vec<Vec<f32>>,
    /// The gradient with respect to the last activations, then to the input.
    grad: Vec<f32>,
}

impl HostCnn {
    /// Energies `[N]` and, if `with_grad`, input gradients `[N, C·H·W]` of the flattened images
    /// in `x` (`[N, C·H·W]`, channel-major as the tensors are).
    pub(super) fn run<Bk: CpuKernels>(
        &self,
        x: Tensor<Bk, 2>,
        with_grad: bool,
    ) -> (Tensor<Bk, 1>, Option<Tensor<Bk, 2>>) {
        let device = x.device();
        let [n, d] = x.dims();
        let values = host_values(x);
        let mut images: Vec<Image> = values
            .chunks_exact(d)
            .map(|image| Image {
                activations: image.to_vec(),
                slopes: Vec::new(),
                grad: Vec::new(),
            })
            .collect();
        for_each_split(&mut images, |image| {
            dispatch(|k| k.forward(self, image, with_grad))
        });
        let energy = dispatch(|k| k.head(self, &mut images, with_grad));
        let energy = Tensor::from_data(TensorData::new(energy, [n]), &device);
        if !with_grad {
            return (energy, None);
        }
        for_each_split(&mut images, |image| dispatch(|k| k.backward(self, image)));
        let grad: Vec<f32> = images.into_iter().flat_map(|image| image.grad).collect();
        (
            energy,
            Some(Tensor::from_data(TensorData::new(grad, [n, d]), &device)),
        )
    }
}

/// Runs `f` with the kernel for the widest instruction set the CPU has.
pub(super) fn dispatch<R>(f: impl FnOnce(&dyn Kernel) -> R) -> R {
    instruction_set::dispatch(WithKernel(f))
}

/// `f` given the kernel of the instruction set [`instruction_set::dispatch`] chose.
struct WithKernel<F>(F);

impl<R, F: FnOnce(&dyn Kernel) -> R> Vectorized for WithKernel<F> {
    type Output = R;
    #[inline(always)]
    unsafe fn run<V: Lanes, const MR: usize, const NV: usize>(self) -> R {
        (self.0)(&Build::<V, MR, NV>::new())
    }
}

/// The kernel's sweeps over a whole CNN, and its single-layer operations, for one instruction
/// set.
pub(super) trait Kernel {
    /// The convolutions forward on one image, keeping `f′(z)` when a gradient is wanted.
    fn forward<'a>(&self, cnn: &'a HostCnn, image: &'a mut Image, with_grad: bool);
    /// The head over all images: their energies, and the gradient with respect to each image's
    /// last activations when wanted.
    fn head<'a>(&self, cnn: &'a HostCnn, images: &'a mut [Image], with_grad: bool) -> Vec<f32>;
    /// The convolutions backward on one image, leaving the input gradient in `image.grad`.
    fn backward<'a>(&self, cnn: &'a HostCnn, image: &'a mut Image);
    /// `W ⋆ x + b` of one image: `[C_in, H·W]` in, `[C_out, H'·W']` written to `out`.
    fn conv<'a>(&self, conv: &'a HostConv, x: &'a [f32], out: &'a mut [f32]);
    /// The adjoint of the convolution's linear part, `Wᵀ ⋆ g`: `[C_out, H'·W']` in,
    /// `[C_in, H·W]` written to `out`.
    fn conv_transpose<'a>(&self, conv: &'a HostConv, g: &'a [f32], out: &'a mut [f32]);
    /// Adds one image's kernel gradient `Σ δ ⊗ patches(x)` to `weight` (`[C_out, C_in·9]`),
    /// for the input `x` (`[C_in, H·W]`) and the output signal `δ` (`[C_out, H'·W']`).
    fn conv_weight_grad<'a>(
        &self,
        conv: &'a HostConv,
        x: &'a [f32],
        delta: &'a [f32],
        weight: &'a mut [f32],
    );
    /// `z ← f(z)` and `slope ← f′(z)` element-wise.
    fn activate<'a>(&self, activation: Activation, z: &'a mut [f32], slope: &'a mut [f32]);
    /// `out ← f″(z)` element-wise.
    fn curvature<'a>(&self, activation: Activation, z: &'a [f32], out: &'a mut [f32]);
}

/// One instruction set: `MR × NV` accumulators of vector type `V`. Constructed only after
/// checking that the CPU has `V`'s instruction set.
struct Build<V, const MR: usize, const NV: usize> {
    _lanes: std::marker::PhantomData<V>,
}

impl<V: Lanes, const MR: usize, const NV: usize> Build<V, MR, NV> {
    fn new() -> Self {
        Self {
            _lanes: std::marker::PhantomData,
        }
    }
}

/// A `[C, H, W]` block stored with a one-pixel zero border, `[C, (H + 2)·(W + 2)]`, so that every
/// tap of a 3×3 patch (padding 1) lands inside its plane and needs no bounds test.
fn padded_len(channels: usize, [h, w]: [usize; 2]) -> usize {
    channels * (h + 2) * (w + 2)
}

/// `[C, H·W]` into a zero-bordered `[C, (H + 2)·(W + 2)]`.
fn pad(values: &[f32], channels: usize, [h, w]: [usize; 2]) -> Vec<f32> {
    let mut out = vec![0.0f32; padded_len(channels, [h, w])];
    for (plane, padded) in values
        .chunks_exact(h * w)
        .zip(out.chunks_exact_mut((h + 2) * (w + 2)))
    {
        for (row, padded_row) in plane
            .chunks_exact(w)
            .zip(padded.chunks_exact_mut(w + 2).skip(1))
        {
            padded_row[1..=w].copy_from_slice(row);
        }
    }
    out
}

/// The interior `[C, H·W]` of a zero-bordered block.
fn crop(padded: &[f32], channels: usize, size: [usize; 2]) -> Vec<f32> {
    let mut out = vec![0.0f32; channels * size[0] * size[1]];
    crop_into(padded, size, &mut out);
    out
}

/// [`crop`] into `out` (`[C, H·W]`).
fn crop_into(padded: &[f32], [h, w]: [usize; 2], out: &mut [f32]) {
    let rows = padded
        .chunks_exact((h + 2) * (w + 2))
        .flat_map(|plane| plane.chunks_exact(w + 2).skip(1).take(h));
    for (row, dst) in rows.zip(out.chunks_exact_mut(w)) {
        dst.copy_from_slice(&row[1..=w]);
    }
}

/// For output positions `start..start + PANEL` of `conv`, the index in a padded input plane of
/// each patch's top-left tap, `(oh·s)·(W + 2) + ow·s`. Positions past `end` (a partial panel)
/// read the patch at 0: their results are dropped.
fn patch_origins(conv: &HostConv, start: usize, end: usize) -> [usize; PANEL] {
    std::array::from_fn(|c| {
        let q = start + c;
        if q < end { patch_origin(conv, q) } else { 0 }
    })
}

/// The index in a padded input plane of output position `q`'s top-left tap.
fn patch_origin(conv: &HostConv, q: usize) -> usize {
    let w_out = conv.output()[1];
    (q / w_out * (conv.input[1] + 2) + q % w_out) * conv.stride
}

/// The offset of tap `(kh, kw)` from a patch's top-left corner in a padded plane.
fn tap_offset(conv: &HostConv, r: usize) -> (usize, usize) {
    let (ci, kh, kw) = (r / 9, r % 9 / 3, r % 3);
    let plane = (conv.input[0] + 2) * (conv.input[1] + 2);
    (ci * plane, kh * (conv.input[1] + 2) + kw)
}

impl<V: Lanes, const MR: usize, const NV: usize> Build<V, MR, NV> {
    /// `W ⋆ x + b` for the output positions `start..start + PANEL` of one zero-bordered input:
    /// the panel's patches are gathered into `patches` (`[C_in·9, PANEL]`) and the result left
    /// in `z` (`[C_out, PANEL]`; columns past the last position hold stale values to drop).
    ///
    /// # Safety
    /// The CPU supports `V`'s instruction set (guaranteed by [`dispatch`]).
    #[inline(always)]
    unsafe fn conv_panel(
        conv: &HostConv,
        input: &[f32],
        bias: Option<&[f32]>,
        start: usize,
        patches: &mut [f32],
        z: &mut [f32],
    ) {
        let positions = conv.output_len() / conv.c_out;
        let rows = conv.c_in * 9;
        let cols = (positions - start).min(PANEL);
        let origins = patch_origins(conv, start, positions);
        for (r, row) in patches.chunks_exact_mut(PANEL).enumerate() {
            let (plane, offset) = tap_offset(conv, r);
            let plane = &input[plane + offset..];
            for (value, &origin) in row.iter_mut().zip(&origins) {
                *value = plane[origin];
            }
        }
        let weight = Strided {
            values: &conv.weight,
            row_stride: rows,
            col_stride: 1,
        };
        // SAFETY: the caller vouches for the instruction set.
        unsafe { product_cols::<V, MR, NV>(conv.c_out, rows, weight, patches, z, bias, cols) };
    }

    /// # Safety
    /// As [`Build::conv_panel`].
    #[inline(always)]
    unsafe fn forward_impl(cnn: &HostCnn, image: &mut Image, with_grad: bool) {
        let convs = &cnn.convs;
        let first = convs.first().expect("at least one convolution");
        let mut input = pad(&image.activations, first.c_in, first.input);
        for (l, conv) in convs.iter().enumerate() {
            let [ho, wo] = conv.output();
            let positions = ho * wo;
            let mut patches = vec![0.0f32; conv.c_in * 9 * PANEL];
            let mut z = vec![0.0f32; conv.c_out * PANEL];
            let mut out = vec![0.0f32; padded_len(conv.c_out, [ho, wo])];
            let mut slope = vec![0.0f32; if with_grad { conv.output_len() } else { 0 }];
            let mut panel_slope = vec![0.0f32; if with_grad { z.len() } else { 0 }];
            let out_plane = (ho + 2) * (wo + 2);
            for start in (0..positions).step_by(PANEL) {
                let cols = (positions - start).min(PANEL);
                // SAFETY: the caller vouches for the instruction set.
                unsafe {
                    Self::conv_panel(conv, &input, Some(&conv.bias), start, &mut patches, &mut z)
                };
                activate::<V::MulAdd>(cnn.activation, &mut z, &mut panel_slope);
                // Where each position of the panel lands in a zero-bordered output plane.
                let dest: [usize; PANEL] = std::array::from_fn(|c| {
                    let q = start + c;
                    (q / wo + 1) * (wo + 2) + q % wo + 1
                });
                for co in 0..conv.c_out {
                    let plane = &mut out[co * out_plane..(co + 1) * out_plane];
                    for (&value, &at) in z[co * PANEL..co * PANEL + cols].iter().zip(&dest) {
                        plane[at] = value;
                    }
                    if with_grad {
                        let at = co * positions + start;
                        slope[at..at + cols]
                            .copy_from_slice(&panel_slope[co * PANEL..co * PANEL + cols]);
                    }
                }
            }
            image.slopes.push(slope);
            input = out;
            if l + 1 == convs.len() {
                image.activations = crop(&input, conv.c_out, [ho, wo]);
            }
        }
    }

    /// # Safety
    /// As [`Build::conv_panel`].
    #[inline(always)]
    unsafe fn head_impl(cnn: &HostCnn, images: &mut [Image], with_grad: bool) -> Vec<f32> {
        let hidden = cnn.hidden_b.len();
        let features = cnn.hidden_w.len() / hidden;
        let mut energy = vec![0.0f32; images.len()];
        let mut a = vec![0.0f32; features * PANEL];
        let mut z = vec![0.0f32; hidden * PANEL];
        let mut slope = vec![0.0f32; if with_grad { z.len() } else { 0 }];
        let mut g = vec![0.0f32; features * PANEL];
        for (block, images) in images.chunks_mut(PANEL).enumerate() {
            for (c, image) in images.iter().enumerate() {
                for (f, &value) in image.activations.iter().enumerate() {
                    a[f * PANEL + c] = value;
                }
            }
            for f in 0..features {
                a[f * PANEL + images.len()..(f + 1) * PANEL].fill(0.0);
            }
            // zᵀ = b + Wᵀ·aᵀ, with W stored `[features, hidden]`.
            let wt = Strided {
                values: &cnn.hidden_w,
                row_stride: 1,
                col_stride: hidden,
            };
            // SAFETY: the caller vouches for the instruction set.
            unsafe { product::<V, MR, NV>(hidden, features, wt, &a, &mut z, Some(&cnn.hidden_b)) };
            activate::<V::MulAdd>(cnn.activation, &mut z, &mut slope);
            let w_out = Strided {
                values: &cnn.out_w,
                row_stride: 0,
                col_stride: 1,
            };
            let mut e = [0.0f32; PANEL];
            // SAFETY: as above.
            unsafe { product::<V, MR, NV>(1, hidden, w_out, &z, &mut e, Some(&[cnn.out_b])) };
            let at = block * PANEL;
            energy[at..at + images.len()].copy_from_slice(&e[..images.len()]);
            if !with_grad {
                continue;
            }
            // SAFETY: as above.
            unsafe { scale_rows::<V>(&mut slope, &cnn.out_w) };
            let w = Strided {
                values: &cnn.hidden_w,
                row_stride: hidden,
                col_stride: 1,
            };
            // SAFETY: as above.
            unsafe { product::<V, MR, NV>(features, hidden, w, &slope, &mut g, None) };
            for (c, image) in images.iter_mut().enumerate() {
                image.grad = (0..features).map(|f| g[f * PANEL + c]).collect();
            }
        }
        energy
    }

    /// # Safety
    /// As [`Build::conv_panel`].
    #[inline(always)]
    unsafe fn backward_impl(cnn: &HostCnn, image: &mut Image) {
        for (l, conv) in cnn.convs.iter().enumerate().rev() {
            // g ⊙ f′(z) over the whole layer, then its transposed convolution.
            let mut g = std::mem::take(&mut image.grad);
            for (gi, &si) in g.iter_mut().zip(&image.slopes[l]) {
                *gi *= si;
            }
            // SAFETY: the caller vouches for the instruction set.
            let previous = unsafe { Self::conv_transpose_padded(conv, &g) };
            image.grad = crop(&previous, conv.c_in, conv.input);
        }
    }

    /// # Safety
    /// As [`Build::conv_panel`].
    #[inline(always)]
    unsafe fn conv_impl(conv: &HostConv, x: &[f32], out: &mut [f32]) {
        let input = pad(x, conv.c_in, conv.input);
        let positions = conv.output_len() / conv.c_out;
        let mut patches = vec![0.0f32; conv.c_in * 9 * PANEL];
        let mut z = vec![0.0f32; conv.c_out * PANEL];
        let bias = (!conv.bias.is_empty()).then_some(conv.bias.as_slice());
        for start in (0..positions).step_by(PANEL) {
            let cols = (positions - start).min(PANEL);
            // SAFETY: the caller vouches for the instruction set.
            unsafe { Self::conv_panel(conv, &input, bias, start, &mut patches, &mut z) };
            for (co, row) in z.chunks_exact(PANEL).enumerate() {
                let at = co * positions + start;
                out[at..at + cols].copy_from_slice(&row[..cols]);
            }
        }
    }

    /// # Safety
    /// As [`Build::conv_panel`].
    #[inline(always)]
    unsafe fn conv_transpose_impl(conv: &HostConv, g: &[f32], out: &mut [f32]) {
        // SAFETY: the caller vouches for the instruction set.
        let previous = unsafe { Self::conv_transpose_padded(conv, g) };
        crop_into(&previous, conv.input, out);
    }

    /// `Wᵀ ⋆ g` on a zero-bordered plane (whose border collects what falls off the image).
    ///
    /// # Safety
    /// As [`Build::conv_panel`].
    #[inline(always)]
    unsafe fn conv_transpose_padded(conv: &HostConv, g: &[f32]) -> Vec<f32> {
        let positions = conv.output_len() / conv.c_out;
        let rows = conv.c_in * 9;
        let mut gz = vec![0.0f32; conv.c_out * PANEL];
        let mut patches = vec![0.0f32; rows * PANEL];
        let mut previous = vec![0.0f32; padded_len(conv.c_in, conv.input)];
        // Wᵀ: element (r, co) of the `[C_out, C_in·9]` kernel read transposed.
        let wt = Strided {
            values: &conv.weight,
            row_stride: 1,
            col_stride: rows,
        };
        for start in (0..positions).step_by(PANEL) {
            let cols = (positions - start).min(PANEL);
            for (co, row) in gz.chunks_exact_mut(PANEL).enumerate() {
                let at = co * positions + start;
                row[..cols].copy_from_slice(&g[at..at + cols]);
            }
            // SAFETY: the caller vouches for the instruction set.
            unsafe {
                product_cols::<V, MR, NV>(rows, conv.c_out, wt, &gz, &mut patches, None, cols)
            };
            let origins = patch_origins(conv, start, positions);
            for (r, row) in patches.chunks_exact(PANEL).enumerate() {
                let (plane, offset) = tap_offset(conv, r);
                let plane = &mut previous[plane + offset..];
                for (&value, &origin) in row[..cols].iter().zip(&origins) {
                    plane[origin] += value;
                }
            }
        }
        previous
    }

    /// # Safety
    /// As [`Build::conv_panel`].
    #[inline(always)]
    unsafe fn activate_impl(activation: Activation, z: &mut [f32], slope: &mut [f32]) {
        activate::<V::MulAdd>(activation, z, slope);
    }

    /// # Safety
    /// As [`Build::conv_panel`].
    #[inline(always)]
    unsafe fn curvature_impl(activation: Activation, z: &[f32], out: &mut [f32]) {
        curvature::<V::MulAdd>(activation, z, out);
    }

    /// `∂/∂W` of `⟨δ, W ⋆ x⟩`: for each block of [`PANEL`] kernel columns (taps), the taps of
    /// every output position are gathered into a `[positions, PANEL]` block and multiplied by
    /// `δ` (`[C_out, positions]`), so the product's depth is the image's positions.
    ///
    /// # Safety
    /// As [`Build::conv_panel`].
    #[inline(always)]
    unsafe fn conv_weight_grad_impl(conv: &HostConv, x: &[f32], delta: &[f32], weight: &mut [f32]) {
        let input = pad(x, conv.c_in, conv.input);
        let positions = conv.output_len() / conv.c_out;
        let rows = conv.c_in * 9;
        let origins: Vec<usize> = (0..positions).map(|q| patch_origin(conv, q)).collect();
        let mut taps = vec![0.0f32; positions * PANEL];
        let mut block = vec![0.0f32; conv.c_out * PANEL];
        let d = Strided {
            values: delta,
            row_stride: positions,
            col_stride: 1,
        };
        for r0 in (0..rows).step_by(PANEL) {
            // Columns past `width` keep stale taps: their results are never read.
            let width = (rows - r0).min(PANEL);
            let offsets: Vec<usize> = (r0..r0 + width)
                .map(|r| {
                    let (plane, offset) = tap_offset(conv, r);
                    plane + offset
                })
                .collect();
            for (q, &origin) in origins.iter().enumerate() {
                let at = &input[origin..];
                for (value, &offset) in taps[q * PANEL..].iter_mut().zip(&offsets) {
                    *value = at[offset];
                }
            }
            // SAFETY: the caller vouches for the instruction set.
            unsafe {
                product_cols::<V, MR, NV>(conv.c_out, positions, d, &taps, &mut block, None, width)
            };
            for (co, sums) in block.chunks_exact(PANEL).enumerate() {
                let row = &mut weight[co * rows + r0..co * rows + r0 + width];
                for (w, &s) in row.iter_mut().zip(sums) {
                    *w += s;
                }
            }
        }
    }
}

/// One method of [`Kernel`]: its arguments become a call that [`Lanes::enter`] runs inside the
/// instruction set's target features, where the `#[inline(always)]` implementation is compiled.
macro_rules! kernel_method {
    (fn $name:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)? = $imp:ident) => {
        fn $name<'a>(&self, $($arg: $ty),*) $(-> $ret)? {
            struct Call<'a, V, const MR: usize, const NV: usize> {
                $($arg: $ty,)*
                lanes: std::marker::PhantomData<V>,
            }
            impl<'a, V: Lanes, const MR: usize, const NV: usize> pulp::WithSimd
                for Call<'a, V, MR, NV>
            {
                type Output = kernel_method!(@output $($ret)?);
                #[inline(always)]
                fn with_simd<S: pulp::Simd>(self, _: S) -> Self::Output {
                    // SAFETY: a `Build` exists only for an instruction set the CPU has.
                    unsafe { Build::<V, MR, NV>::$imp($(self.$arg),*) }
                }
            }
            let call = Call::<V, MR, NV> {
                $($arg,)*
                lanes: std::marker::PhantomData,
            };
            // SAFETY: as above.
            unsafe { V::enter(call) }
        }
    };
    (@output) => { () };
    (@output $ret:ty) => { $ret };
}

impl<V: Lanes, const MR: usize, const NV: usize> Kernel for Build<V, MR, NV> {
    kernel_method!(fn forward(cnn: &'a HostCnn, image: &'a mut Image, with_grad: bool)
        = forward_impl);
    kernel_method!(fn head(cnn: &'a HostCnn, images: &'a mut [Image], with_grad: bool) -> Vec<f32>
        = head_impl);
    kernel_method!(fn backward(cnn: &'a HostCnn, image: &'a mut Image) = backward_impl);
    kernel_method!(fn conv(conv: &'a HostConv, x: &'a [f32], out: &'a mut [f32]) = conv_impl);
    kernel_method!(fn conv_transpose(conv: &'a HostConv, g: &'a [f32], out: &'a mut [f32])
        = conv_transpose_impl);
    kernel_method!(fn conv_weight_grad(
        conv: &'a HostConv, x: &'a [f32], delta: &'a [f32], weight: &'a mut [f32]
    ) = conv_weight_grad_impl);
    kernel_method!(fn activate(activation: Activation, z: &'a mut [f32], slope: &'a mut [f32])
        = activate_impl);
    kernel_method!(fn curvature(activation: Activation, z: &'a [f32], out: &'a mut [f32])
        = curvature_impl);
}
