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

use std::any::TypeId;

use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor, TensorData};

use super::Activation;
use super::cores::for_each_split;
use super::host_activation::activate;
#[cfg(target_arch = "x86_64")]
use super::panel_product::{Avx2, Avx512};
use super::panel_product::{Lanes, PANEL, Scalar, Strided, product, scale_rows};

/// Whether tensors of `Bk` with this dtype live in host memory this kernel may read: NdArray or
/// Flex with float32 (never an autodiff wrapper, whose graph must see every op).
pub(super) fn applies<Bk: Backend>(dtype: DType, activation: Activation) -> bool {
    let id = TypeId::of::<Bk>();
    #[cfg(feature = "ndarray")]
    let host = id == TypeId::of::<burn::backend::NdArray>();
    #[cfg(not(feature = "ndarray"))]
    let host = false;
    #[cfg(feature = "flex")]
    let host = host || id == TypeId::of::<burn::backend::Flex>();
    dtype == DType::F32 && host && !matches!(activation, Activation::Gelu)
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
    fn output(&self) -> [usize; 2] {
        self.input.map(|s| (s - 1) / self.stride + 1)
    }

    fn output_len(&self) -> usize {
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
pub(super) fn host_values<Bk: Backend, const D: usize>(t: Tensor<Bk, D>) -> Vec<f32> {
    // NdArray's `into_data` copies element by element through an iterator (a fifth of a call
    // on the seeds' CNN); its storage is read in place instead.
    #[cfg(feature = "ndarray")]
    if crate::host_tensor::is_ndarray_f32::<Bk>(t.dtype()) {
        return crate::host_tensor::HostF32::new(t).values().into_owned();
    }
    t.into_data()
        .into_vec::<f32>()
        .expect("checked by `applies`: float32")
}

/// One image's state through the sweeps.
struct Image {
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
    pub(super) fn run<Bk: Backend>(
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
            self.dispatch(|k| k.forward(image, with_grad))
        });
        let energy = self.dispatch(|k| k.head(&mut images, with_grad));
        let energy = Tensor::from_data(TensorData::new(energy, [n]), &device);
        if !with_grad {
            return (energy, None);
        }
        for_each_split(&mut images, |image| self.dispatch(|k| k.backward(image)));
        let grad: Vec<f32> = images.into_iter().flat_map(|image| image.grad).collect();
        (
            energy,
            Some(Tensor::from_data(TensorData::new(grad, [n, d]), &device)),
        )
    }

    /// Runs `f` with the widest vector unit the CPU has.
    fn dispatch<R>(&self, f: impl FnOnce(&dyn Kernel) -> R) -> R {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return f(&Build::<Avx512, 12, 2>::new(self));
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return f(&Build::<Avx2, 3, 4>::new(self));
            }
        }
        f(&Build::<Scalar, 1, PANEL>::new(self))
    }
}

/// The kernel's three sweeps, for one instruction set.
trait Kernel {
    /// The convolutions forward on one image, keeping `f′(z)` when a gradient is wanted.
    fn forward(&self, image: &mut Image, with_grad: bool);
    /// The head over all images: their energies, and the gradient with respect to each image's
    /// last activations when wanted.
    fn head(&self, images: &mut [Image], with_grad: bool) -> Vec<f32>;
    /// The convolutions backward on one image, leaving the input gradient in `image.grad`.
    fn backward(&self, image: &mut Image);
}

/// [`HostCnn`] with `MR × NV` accumulators of vector type `V`. Constructed only after checking
/// that the CPU has `V`'s instruction set.
struct Build<'a, V, const MR: usize, const NV: usize> {
    cnn: &'a HostCnn,
    _lanes: std::marker::PhantomData<V>,
}

impl<'a, V: Lanes, const MR: usize, const NV: usize> Build<'a, V, MR, NV> {
    fn new(cnn: &'a HostCnn) -> Self {
        Self {
            cnn,
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
fn crop(padded: &[f32], channels: usize, [h, w]: [usize; 2]) -> Vec<f32> {
    let mut out = Vec::with_capacity(channels * h * w);
    for plane in padded.chunks_exact((h + 2) * (w + 2)) {
        for row in plane.chunks_exact(w + 2).skip(1).take(h) {
            out.extend_from_slice(&row[1..=w]);
        }
    }
    out
}

/// For output positions `start..start + PANEL` of `conv`, the index in a padded input plane of
/// each patch's top-left tap, `(oh·s)·(W + 2) + ow·s`. Positions past `end` (a partial panel)
/// read the patch at 0: their results are dropped, and their backward signal is zero.
fn patch_origins(conv: &HostConv, start: usize, end: usize) -> [usize; PANEL] {
    let w_out = conv.output()[1];
    let row = conv.input[1] + 2;
    std::array::from_fn(|c| {
        let q = start + c;
        if q < end {
            (q / w_out) * conv.stride * row + (q % w_out) * conv.stride
        } else {
            0
        }
    })
}

/// The offset of tap `(kh, kw)` from a patch's top-left corner in a padded plane.
fn tap_offset(conv: &HostConv, r: usize) -> (usize, usize) {
    let (ci, kh, kw) = (r / 9, r % 9 / 3, r % 3);
    let plane = (conv.input[0] + 2) * (conv.input[1] + 2);
    (ci * plane, kh * (conv.input[1] + 2) + kw)
}

impl<V: Lanes, const MR: usize, const NV: usize> Build<'_, V, MR, NV> {
    /// # Safety
    /// The CPU supports `V`'s instruction set (guaranteed by [`HostCnn::dispatch`]).
    #[inline(always)]
    unsafe fn forward_impl(&self, image: &mut Image, with_grad: bool) {
        let convs = &self.cnn.convs;
        let first = convs.first().expect("at least one convolution");
        let mut input = pad(&image.activations, first.c_in, first.input);
        let mut patches = Vec::new();
        let mut z = Vec::new();
        for (l, conv) in convs.iter().enumerate() {
            let [ho, wo] = conv.output();
            let positions = ho * wo;
            let rows = conv.c_in * 9;
            patches.resize(rows * PANEL, 0.0);
            z.resize(conv.c_out * PANEL, 0.0);
            let mut out = vec![0.0f32; padded_len(conv.c_out, [ho, wo])];
            let mut slope = vec![0.0f32; if with_grad { conv.output_len() } else { 0 }];
            let mut panel_slope = vec![0.0f32; if with_grad { z.len() } else { 0 }];
            let weight = Strided {
                values: &conv.weight,
                row_stride: rows,
                col_stride: 1,
            };
            let out_plane = (ho + 2) * (wo + 2);
            for start in (0..positions).step_by(PANEL) {
                let cols = (positions - start).min(PANEL);
                let origins = patch_origins(conv, start, positions);
                for (r, row) in patches.chunks_exact_mut(PANEL).enumerate() {
                    let (plane, offset) = tap_offset(conv, r);
                    let plane = &input[plane + offset..];
                    for (value, &origin) in row.iter_mut().zip(&origins) {
                        *value = plane[origin];
                    }
                }
                // SAFETY: the caller vouches for the instruction set.
                unsafe {
                    product::<V, MR, NV>(
                        conv.c_out,
                        rows,
                        weight,
                        &patches,
                        &mut z,
                        Some(&conv.bias),
                    )
                };
                activate::<V::MulAdd>(self.cnn.activation, &mut z, &mut panel_slope);
                for co in 0..conv.c_out {
                    let plane = &mut out[co * out_plane..(co + 1) * out_plane];
                    for (c, &value) in z[co * PANEL..co * PANEL + cols].iter().enumerate() {
                        let q = start + c;
                        plane[(q / wo + 1) * (wo + 2) + q % wo + 1] = value;
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
    /// As [`Build::forward_impl`].
    #[inline(always)]
    unsafe fn head_impl(&self, images: &mut [Image], with_grad: bool) -> Vec<f32> {
        let cnn = self.cnn;
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
    /// As [`Build::forward_impl`].
    #[inline(always)]
    unsafe fn backward_impl(&self, image: &mut Image) {
        let mut gz = Vec::new();
        let mut patches = Vec::new();
        for (l, conv) in self.cnn.convs.iter().enumerate().rev() {
            let positions = conv.output_len() / conv.c_out;
            let rows = conv.c_in * 9;
            // g ⊙ f′(z) over the whole layer, then one panel at a time.
            let mut g = std::mem::take(&mut image.grad);
            for (gi, &si) in g.iter_mut().zip(&image.slopes[l]) {
                *gi *= si;
            }
            gz.resize(conv.c_out * PANEL, 0.0);
            patches.resize(rows * PANEL, 0.0);
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
                    row[cols..].fill(0.0);
                }
                // SAFETY: the caller vouches for the instruction set.
                unsafe { product::<V, MR, NV>(rows, conv.c_out, wt, &gz, &mut patches, None) };
                let origins = patch_origins(conv, start, positions);
                for (r, row) in patches.chunks_exact(PANEL).enumerate() {
                    let (plane, offset) = tap_offset(conv, r);
                    let plane = &mut previous[plane + offset..];
                    // Zero columns past the panel's end add nothing at the patch they name.
                    for (&value, &origin) in row.iter().zip(&origins) {
                        plane[origin] += value;
                    }
                }
            }
            image.grad = crop(&previous, conv.c_in, conv.input);
        }
    }
}

macro_rules! kernel_for {
    ($lanes:ty, $mr:literal, $nv:literal, $features:literal) => {
        impl Kernel for Build<'_, $lanes, $mr, $nv> {
            fn forward(&self, image: &mut Image, with_grad: bool) {
                #[target_feature(enable = $features)]
                fn run(k: &Build<'_, $lanes, $mr, $nv>, image: &mut Image, with_grad: bool) {
                    // SAFETY: `Build` for this instruction set exists only on CPUs that have it.
                    unsafe { k.forward_impl(image, with_grad) }
                }
                // SAFETY: as above.
                unsafe { run(self, image, with_grad) }
            }

            fn head(&self, images: &mut [Image], with_grad: bool) -> Vec<f32> {
                #[target_feature(enable = $features)]
                fn run(
                    k: &Build<'_, $lanes, $mr, $nv>,
                    images: &mut [Image],
                    with_grad: bool,
                ) -> Vec<f32> {
                    // SAFETY: as in `forward`.
                    unsafe { k.head_impl(images, with_grad) }
                }
                // SAFETY: as in `forward`.
                unsafe { run(self, images, with_grad) }
            }

            fn backward(&self, image: &mut Image) {
                #[target_feature(enable = $features)]
                fn run(k: &Build<'_, $lanes, $mr, $nv>, image: &mut Image) {
                    // SAFETY: as in `forward`.
                    unsafe { k.backward_impl(image) }
                }
                // SAFETY: as in `forward`.
                unsafe { run(self, image) }
            }
        }
    };
}

#[cfg(target_arch = "x86_64")]
kernel_for!(Avx512, 12, 2, "avx512f");
#[cfg(target_arch = "x86_64")]
kernel_for!(Avx2, 3, 4, "avx2,fma");

impl Kernel for Build<'_, Scalar, 1, PANEL> {
    fn forward(&self, image: &mut Image, with_grad: bool) {
        // SAFETY: scalar code runs on every CPU.
        unsafe { self.forward_impl(image, with_grad) }
    }

    fn head(&self, images: &mut [Image], with_grad: bool) -> Vec<f32> {
        // SAFETY: as above.
        unsafe { self.head_impl(images, with_grad) }
    }

    fn backward(&self, image: &mut Image) {
        // SAFETY: as above.
        unsafe { self.backward_impl(image) }
    }
}
