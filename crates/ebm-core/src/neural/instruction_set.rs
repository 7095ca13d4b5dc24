//! The instruction sets the host kernels run on, and the one runtime choice among them.
//!
//! Why: the kernels (`host_mlp.rs`, `host_cnn.rs`, `panel_product.rs`) are written once over
//! [`Lanes`], a vector of `f32` lanes, and compiled for every instruction set below. The vectors
//! are pulp's: its `V4` token (AVX-512), `V3` (AVX2 with FMA) and `Scalar`. Which one runs is
//! decided in [`dispatch`] from pulp's CPU detection ([`crate::cpu_kernels::detected_arch`]),
//! and the target features reach the kernels through pulp's `vectorize`, so no kernel names an
//! instruction set, a target feature or an intrinsic.
//!
//! | instruction set | vector | tile of the product (rows × vectors) |
//! |---|---|---|
//! | AVX-512 (pulp `V4`) | 16 lanes | 12 × 2: 24 of the 32 vector registers |
//! | AVX2 with FMA (pulp `V3`) | 8 lanes | 6 × 2: 12 of the 16 (3 × 4 spills to the stack) |
//! | none (pulp `Scalar`) | 1 lane | 1 × [`PANEL`] |

use std::marker::PhantomData;

use pulp::{Simd, WithSimd};

use super::panel_product::PANEL;

/// A vector of `f32` lanes with the operations the kernels need.
///
/// Every method is `unsafe` because it may use instructions the CPU lacks: callers guarantee
/// that the CPU supports the instruction set of `Self` ([`dispatch`] chooses only such types).
pub(super) trait Lanes: Copy {
    /// Floats in one vector.
    const WIDTH: usize;
    /// How scalar code compiled beside these vectors computes `a · b + c`.
    type MulAdd: MulAdd;
    /// # Safety
    /// The CPU supports the instruction set of `Self`.
    unsafe fn splat(x: f32) -> Self;
    /// # Safety
    /// As [`Lanes::splat`], and `p` points at `WIDTH` readable floats.
    unsafe fn load(p: *const f32) -> Self;
    /// # Safety
    /// As [`Lanes::splat`], and `p` points at `WIDTH` writable floats.
    unsafe fn store(self, p: *mut f32);
    /// `self · b + c`, fused where the instruction set has it.
    ///
    /// # Safety
    /// As [`Lanes::splat`].
    unsafe fn mul_add(self, b: Self, c: Self) -> Self;
    /// `self · b`, lane by lane.
    ///
    /// # Safety
    /// As [`Lanes::splat`].
    unsafe fn mul(self, b: Self) -> Self;
    /// Runs `op` compiled with the instruction set's target features: the code `op` inlines
    /// (everything below it is `#[inline(always)]`) is vectorised for them.
    ///
    /// # Safety
    /// As [`Lanes::splat`].
    unsafe fn enter<Op: WithSimd>(op: Op) -> Op::Output;
}

/// Scalar `a · b + c`, for element-wise code (activations) that the compiler vectorises.
pub(super) trait MulAdd {
    fn mul_add(a: f32, b: f32, c: f32) -> f32;
}

/// A multiply, then an add: for CPUs without FMA, where `f32::mul_add` is a slow library call.
pub(super) struct Unfused;

impl MulAdd for Unfused {
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }
}

/// One fused multiply-add (`vfmadd` once inlined into code built with FMA): one rounding, and
/// half the latency in the polynomial chains of the activations.
pub(super) struct Fused;

impl MulAdd for Fused {
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
}

/// A pulp instruction-set token the kernels are compiled for.
pub(super) trait InstructionSet: Simd {
    /// Scalar multiply-add on this instruction set.
    type MulAdd: MulAdd;
    /// The token, without checking the CPU.
    ///
    /// # Safety
    /// The CPU supports the instruction set.
    unsafe fn assume() -> Self;
}

impl InstructionSet for pulp::Scalar {
    type MulAdd = Unfused;
    #[inline(always)]
    unsafe fn assume() -> Self {
        pulp::Scalar::new()
    }
}

#[cfg(target_arch = "x86_64")]
impl InstructionSet for pulp::x86::V3 {
    type MulAdd = Fused;
    #[inline(always)]
    unsafe fn assume() -> Self {
        // SAFETY: the caller's guarantee.
        unsafe { Self::new_unchecked() }
    }
}

#[cfg(target_arch = "x86_64")]
impl InstructionSet for pulp::x86::V4 {
    type MulAdd = Fused;
    #[inline(always)]
    unsafe fn assume() -> Self {
        // SAFETY: the caller's guarantee.
        unsafe { Self::new_unchecked() }
    }
}

/// One register of pulp's `f32` vector for instruction set `S`.
#[derive(Clone, Copy)]
pub(super) struct Vector<S: InstructionSet>(S::f32s);

impl<S: InstructionSet> Lanes for Vector<S> {
    const WIDTH: usize = S::F32_LANES;
    type MulAdd = S::MulAdd;

    #[inline(always)]
    unsafe fn splat(x: f32) -> Self {
        // SAFETY (the token, in every method): the trait's contract.
        Self(unsafe { S::assume() }.splat_f32s(x))
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        // SAFETY: `p` points at WIDTH readable floats, and `S::f32s` is WIDTH floats (plain
        // data, any alignment through `read_unaligned`).
        Self(unsafe { p.cast::<S::f32s>().read_unaligned() })
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        // SAFETY: as `load`, for writing.
        unsafe { p.cast::<S::f32s>().write_unaligned(self.0) }
    }
    #[inline(always)]
    unsafe fn mul_add(self, b: Self, c: Self) -> Self {
        Self(unsafe { S::assume() }.mul_add_e_f32s(self.0, b.0, c.0))
    }
    #[inline(always)]
    unsafe fn mul(self, b: Self) -> Self {
        Self(unsafe { S::assume() }.mul_f32s(self.0, b.0))
    }
    #[inline(always)]
    unsafe fn enter<Op: WithSimd>(op: Op) -> Op::Output {
        Simd::vectorize(unsafe { S::assume() }, op)
    }
}

/// A computation written once over the vector type and the tile shape of the product:
/// `MR × NV` accumulators of `V`.
pub(super) trait Vectorized {
    /// What the computation returns.
    type Output;
    /// Runs the computation; [`dispatch`] calls it inside [`Lanes::enter`].
    ///
    /// # Safety
    /// The CPU supports `V`'s instruction set.
    unsafe fn run<V: Lanes, const MR: usize, const NV: usize>(self) -> Self::Output;
}

/// `op` with its type arguments fixed, as pulp's entry point takes it.
struct Fixed<V, const MR: usize, const NV: usize, Op> {
    op: Op,
    lanes: PhantomData<V>,
}

impl<V: Lanes, const MR: usize, const NV: usize, Op: Vectorized> WithSimd for Fixed<V, MR, NV, Op> {
    type Output = Op::Output;
    #[inline(always)]
    fn with_simd<S: Simd>(self, _: S) -> Op::Output {
        // SAFETY: `dispatch` builds a `Fixed` only for an instruction set the CPU has.
        unsafe { self.op.run::<V, MR, NV>() }
    }
}

/// Runs `op` on the widest instruction set the CPU has, inside its target features: the one
/// place the host kernels choose an instruction set.
pub(super) fn dispatch<Op: Vectorized>(op: Op) -> Op::Output {
    fn on<V: Lanes, const MR: usize, const NV: usize, Op: Vectorized>(op: Op) -> Op::Output {
        let fixed = Fixed::<V, MR, NV, Op> {
            op,
            lanes: PhantomData,
        };
        // SAFETY: only called below for an instruction set pulp detected.
        unsafe { V::enter(fixed) }
    }
    match crate::cpu_kernels::detected_arch() {
        #[cfg(target_arch = "x86_64")]
        pulp::Arch::V4(_) => on::<Vector<pulp::x86::V4>, 12, 2, Op>(op),
        #[cfg(target_arch = "x86_64")]
        pulp::Arch::V3(_) => on::<Vector<pulp::x86::V3>, 6, 2, Op>(op),
        _ => on::<Vector<pulp::Scalar>, 1, PANEL, Op>(op),
    }
}
