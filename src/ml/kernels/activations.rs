//! GELU (exact, via erf) and bias add, forward and backward.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, DType, Layout, Result, Shape, Tensor};
use num_traits::Float;
use rayon::prelude::*;

use super::*;

/// erf with |error| < 1.2e-7 (Numerical Recipes' erfc Chebyshev fit), enough for f32 GELU.
pub(crate) fn erf64(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 {
        1.0 - r
    } else {
        r - 1.0
    }
}

/// Exact (erf) GELU, `x * Phi(x)`; backward `Phi(x) + x * phi(x)`.
struct Gelu;

/// The standard normal's CDF and density at v, `(Phi(v), phi(v))`, sharing one exp: erf by
/// Abramowitz & Stegun 7.1.26 (absolute error < 1.5e-7), whose `exp(-x^2)` at
/// `x = |v| / sqrt 2` is the density's `exp(-v^2 / 2)`. The tail `1 - erf` is computed
/// directly, not as a difference. No branches: it vectorises.
#[inline(always)]
fn phi_and_density(v: f32) -> (f32, f32) {
    let e = exp_f32(-0.5 * v * v);
    let t = 1.0 / (1.0 + 0.327_591_1 * std::f32::consts::FRAC_1_SQRT_2 * v.abs());
    let poly = t
        * (0.254_829_6
            + t * (-0.284_496_74 + t * (1.421_413_8 + t * (-1.453_152_1 + t * 1.061_405_4))));
    // Half of 1 - erf(|v| / sqrt 2): Phi(v) for v < 0, 1 - Phi(v) for v >= 0.
    let tail = 0.5 * poly * e;
    let cdf = if v < 0.0 { tail } else { 1.0 - tail };
    (cdf, 0.398_942_3 * e)
}

pub(crate) fn gelu_f32(x: &[f32], grad: Option<&[f32]>) -> Vec<f32> {
    let mut out = vec![0f32; x.len()];
    const CHUNK: usize = 16 * 1024;
    match grad {
        None => out
            .par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK))
            .for_each(|(o, xs)| gelu_chunk(o, xs, None)),
        Some(g) => out
            .par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK).zip(g.par_chunks(CHUNK)))
            .for_each(|(o, (xs, gs))| gelu_chunk(o, xs, Some(gs))),
    }
    out
}

/// GELU in place, returning its slope `Phi(x) + x phi(x)` at the old values, for a training
/// forward pass: the backward pass is then one multiply, with no erf or exp (it was 4 % of a
/// step). In place and into an unzeroed buffer, because this pass is bound by memory.
pub(crate) fn gelu_in_place_with_slope(x: &mut [f32]) -> Vec<f32> {
    const CHUNK: usize = 16 * 1024;
    let mut slope = Vec::with_capacity(x.len());
    slope.spare_capacity_mut()[..x.len()]
        .par_chunks_mut(CHUNK)
        .zip(x.par_chunks_mut(CHUNK))
        .for_each(|(s, xs)| {
            #[cfg(target_arch = "x86_64")]
            if crate::ml::kernels::cpu::avx2_fma() {
                // SAFETY: the CPU supports the features the function is compiled for.
                return unsafe { gelu_with_slope_avx2(xs, s) };
            }
            gelu_with_slope_body(xs, s)
        });
    // SAFETY: every element was written above (the chunks cover all of x.len()).
    unsafe { slope.set_len(x.len()) };
    slope
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn gelu_with_slope_avx2(x: &mut [f32], slope: &mut [std::mem::MaybeUninit<f32>]) {
    gelu_with_slope_body(x, slope)
}

#[inline(always)]
fn gelu_with_slope_body(x: &mut [f32], slope: &mut [std::mem::MaybeUninit<f32>]) {
    for (v, s) in x.iter_mut().zip(slope.iter_mut()) {
        let (cdf, pdf) = phi_and_density(*v);
        s.write(cdf + *v * pdf);
        *v *= cdf;
    }
}

/// GELU (or its gradient times `g`) of one chunk, eight lanes wide where the CPU has AVX2.
fn gelu_chunk(out: &mut [f32], x: &[f32], g: Option<&[f32]>) {
    #[cfg(target_arch = "x86_64")]
    if crate::ml::kernels::cpu::avx2_fma() {
        // SAFETY: the CPU supports the features the function is compiled for.
        return unsafe { gelu_chunk_avx2(out, x, g) };
    }
    gelu_chunk_body(out, x, g)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn gelu_chunk_avx2(out: &mut [f32], x: &[f32], g: Option<&[f32]>) {
    gelu_chunk_body(out, x, g)
}

#[inline(always)]
fn gelu_chunk_body(out: &mut [f32], x: &[f32], g: Option<&[f32]>) {
    match g {
        None => {
            for (o, &v) in out.iter_mut().zip(x) {
                *o = v * phi_and_density(v).0;
            }
        }
        Some(g) => {
            for ((o, &v), &gi) in out.iter_mut().zip(x).zip(g) {
                let (cdf, pdf) = phi_and_density(v);
                *o = gi * (cdf + v * pdf);
            }
        }
    }
}

/// The f64 path (gradient tests): plain libm erf.
pub(super) fn gelu_f64(x: &[f64], grad: Option<&[f64]>) -> Vec<f64> {
    x.iter()
        .enumerate()
        .map(|(i, &v)| {
            let cdf = 0.5 * (1.0 + erf64(v * std::f64::consts::FRAC_1_SQRT_2));
            match grad {
                None => v * cdf,
                Some(g) => g[i] * (cdf + v * 0.398_942_280_401_432_7 * (-0.5 * v * v).exp()),
            }
        })
        .collect()
}

impl CustomOp1 for Gelu {
    fn name(&self) -> &'static str {
        "kibble-gelu"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let out = match storage {
            CpuStorage::F32(s) => CpuStorage::F32(gelu_f32(contiguous(s, layout, "gelu")?, None)),
            CpuStorage::F64(s) => CpuStorage::F64(gelu_f64(contiguous(s, layout, "gelu")?, None)),
            _ => candle_core::bail!("gelu: unsupported dtype"),
        };
        Ok((out, layout.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(arg.apply_op2_no_bwd(&grad.contiguous()?, &GeluBwd)?))
    }
}

struct GeluBwd;

impl CustomOp2 for GeluBwd {
    fn name(&self) -> &'static str {
        "kibble-gelu-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let out = match (s1, s2) {
            (CpuStorage::F32(x), CpuStorage::F32(g)) => CpuStorage::F32(gelu_f32(
                contiguous(x, l1, "gelu-bwd")?,
                Some(contiguous(g, l2, "gelu-bwd")?),
            )),
            (CpuStorage::F64(x), CpuStorage::F64(g)) => CpuStorage::F64(gelu_f64(
                contiguous(x, l1, "gelu-bwd")?,
                Some(contiguous(g, l2, "gelu-bwd")?),
            )),
            _ => candle_core::bail!("gelu-bwd: unsupported dtype"),
        };
        Ok((out, l1.shape().clone()))
    }
}

pub fn gelu(x: &Tensor) -> Result<Tensor> {
    if x.device().is_cpu() && matches!(x.dtype(), DType::F32 | DType::F64) {
        x.contiguous()?.apply_op1(Gelu)
    } else {
        x.gelu_erf()
    }
}

/// `x + b` for rows x (n, d) and a bias (d); the bias gradient is a column sum done in one
/// parallel pass instead of candle's generic strided reduction.
struct BiasAdd;

impl CustomOp2 for BiasAdd {
    fn name(&self) -> &'static str {
        "kibble-bias-add"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        fn add<T: Float + Send + Sync>(x: &[T], b: &[T]) -> Vec<T> {
            let d = b.len();
            let mut out = x.to_vec();
            out.par_chunks_mut(d * 64).for_each(|rows| {
                for row in rows.chunks_mut(d) {
                    for (o, bi) in row.iter_mut().zip(b) {
                        *o = *o + *bi;
                    }
                }
            });
            out
        }
        let out = float_kernel!("bias-add", (s1, l1) => x, (s2, l2) => b; add(x, b));
        Ok((out, l1.shape().clone()))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        if !b.track_op() {
            return Ok((Some(grad.clone()), None));
        }
        let d = b.dim(0)?;
        let n = grad.elem_count() / d;
        // Column sums as a (1, n) x (n, d) product: gemm is the fastest reduction we have.
        let ones = Tensor::ones((1, n), grad.dtype(), grad.device())?;
        let db = ones.matmul(&grad.reshape((n, d))?)?.reshape(d)?;
        Ok((Some(grad.clone()), Some(db)))
    }
}

pub fn bias_add(x: &Tensor, b: &Tensor) -> Result<Tensor> {
    if x.device().is_cpu() && matches!(x.dtype(), DType::F32 | DType::F64) && x.rank() == 2 {
        x.contiguous()?.apply_op2(&b.contiguous()?, BiasAdd)
    } else {
        x.broadcast_add(b)
    }
}
