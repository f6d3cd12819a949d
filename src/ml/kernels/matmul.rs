//! Matrix products: a candle op over our blocked GEMM, and `mm` for attention's small products.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, DType, Layout, Result, Shape, Tensor};
use num_traits::Float;

/// `a b` of two 2-D tensors. f32 on the CPU goes through `blocked::matmul`, which reads any
/// strides (so `w.t()` costs no copy) and is faster than candle's at our shapes; the rest
/// (other dtypes, devices, ranks) through candle's matmul.
pub fn matmul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let fast = a.device().is_cpu()
        && (a.dtype(), b.dtype()) == (DType::F32, DType::F32)
        && (a.rank(), b.rank()) == (2, 2);
    if fast {
        a.apply_op2(b, Matmul)
    } else {
        a.matmul(b)
    }
}

struct Matmul;

/// `r + a b` of 2-D tensors, as one product that starts from `r` (no separate sum): a LoRA
/// projection adds its base product onto the adapter's, so a training step keeps two
/// (rows x out) activations per projection instead of four.
pub fn matmul_onto(a: &Tensor, b: &Tensor, r: &Tensor) -> Result<Tensor> {
    let fast = a.device().is_cpu()
        && [a.dtype(), b.dtype(), r.dtype()] == [DType::F32; 3]
        && (a.rank(), b.rank()) == (2, 2)
        && r.dims() == [a.dim(0)?, b.dim(1)?];
    if fast {
        a.apply_op3(b, &r.contiguous()?, MatmulOnto)
    } else {
        r + a.matmul(b)?
    }
}

struct MatmulOnto;

impl CustomOp3 for MatmulOnto {
    fn name(&self) -> &'static str {
        "kibble-matmul-onto"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (CpuStorage::F32(a), CpuStorage::F32(b), CpuStorage::F32(r)) = (s1, s2, s3) else {
            candle_core::bail!("kibble-matmul-onto: f32 only");
        };
        let (m, k, n) = (l1.dims()[0], l1.dims()[1], l2.dims()[1]);
        if l2.dims()[0] != k || l3.dims() != [m, n] || !l3.is_contiguous() {
            candle_core::bail!("matmul onto: {m}x{k} times {:?} onto {:?}", l2.dims(), l3);
        }
        let r = &r[l3.start_offset()..][..m * n];
        let c = crate::ml::kernels::blocked::product_residual(view(a, l1), view(b, l2), r);
        Ok((CpuStorage::F32(c), Shape::from((m, n))))
    }

    fn bwd(
        &self,
        a: &Tensor,
        b: &Tensor,
        r: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (da, db) = Matmul.bwd(a, b, res, grad)?;
        Ok((da, db, r.track_op().then(|| grad.clone())))
    }
}

fn view<'a>(data: &'a [f32], layout: &Layout) -> crate::ml::kernels::blocked::View<'a> {
    let (dims, stride) = (layout.dims(), layout.stride());
    crate::ml::kernels::blocked::View {
        data: &data[layout.start_offset()..],
        rows: dims[0],
        cols: dims[1],
        rs: stride[0],
        cs: stride[1],
    }
}

impl CustomOp2 for Matmul {
    fn name(&self) -> &'static str {
        "kibble-matmul"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (CpuStorage::F32(a), CpuStorage::F32(b)) = (s1, s2) else {
            candle_core::bail!("kibble-matmul: f32 only");
        };
        let (m, k, n) = (l1.dims()[0], l1.dims()[1], l2.dims()[1]);
        if l2.dims()[0] != k {
            candle_core::bail!("matmul: {m}x{k} times {:?}", l2.dims());
        }
        let c = crate::ml::kernels::blocked::product(view(a, l1), view(b, l2));
        Ok((CpuStorage::F32(c), Shape::from((m, n))))
    }

    fn bwd(
        &self,
        a: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        // Only for what has a gradient: candle asks for both, and a frozen weight's (LoRA's
        // base, a reference model) would cost a third of the backward products and its size
        // in memory until the pass ends.
        let da = match a.track_op() {
            true => Some(matmul(grad, &b.t()?)?),
            false => None,
        };
        let db = match b.track_op() {
            true => Some(matmul(&a.t()?, grad)?),
            false => None,
        };
        Ok((da, db))
    }
}

/// `dst (m x n) = lhs (m x k) * rhs (k x n)` with element strides (row, column), single-threaded:
/// attention runs one (batch, head) per rayon task.
///
/// # Safety
/// For every i < m, j < n, l < k: `lhs + i*lhs_rs + l*lhs_cs` and `rhs + l*rhs_rs + j*rhs_cs`
/// are readable initialised values, and `dst + i*dst_rs + j` is writable and not read or
/// written by anyone else during the call (it need not be initialised: it is overwritten).
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn mm<T: 'static + Float>(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut T,
    dst_rs: usize,
    lhs: *const T,
    lhs_rs: usize,
    lhs_cs: usize,
    rhs: *const T,
    rhs_rs: usize,
    rhs_cs: usize,
) {
    unsafe {
        if std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>() && m * n * k > 0 {
            // Our kernel for f32 (training); the `gemm` crate for f64 (the gradient checks).
            let view = |p: *const T, rows: usize, cols: usize, rs: usize, cs: usize| {
                let len = (rows - 1) * rs + (cols - 1) * cs + 1;
                crate::ml::kernels::blocked::View {
                    data: std::slice::from_raw_parts(p as *const f32, len),
                    rows,
                    cols,
                    rs,
                    cs,
                }
            };
            let (a, b) = (
                view(lhs, m, k, lhs_rs, lhs_cs),
                view(rhs, k, n, rhs_rs, rhs_cs),
            );
            return crate::ml::kernels::blocked::matmul_serial(
                a,
                b,
                dst as *mut f32,
                dst_rs,
                false,
            );
        }
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_rs as isize,
            false,
            lhs,
            lhs_cs as isize,
            lhs_rs as isize,
            rhs,
            rhs_cs as isize,
            rhs_rs as isize,
            T::zero(),
            T::one(),
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}
