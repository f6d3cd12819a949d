//! Single-precision matrix products for training and batch scoring, `C (+)= A B` with any
//! element strides on A and B (so transposed weights and gradients need no copies).
//!
//! The classic blocked layout (Goto / BLIS): a KC-deep slice of B is packed once into
//! NR-column panels, each task packs an MC-row block of A into MR-row panels that stay in
//! L2, and a 6 x 16 AVX2 micro-kernel keeps its 12 accumulators in registers while it
//! streams both panels front to back. On our shapes (2048 x 256 x 1024 and friends) this
//! runs 1.2-1.5x faster than the generic `gemm` crate that candle's CPU matmul calls.

use rayon::prelude::*;

use crate::ml::kernels::SharedMut;

const MR: usize = 6;
const NR: usize = 16;
/// Depth of one packed slice: an A panel (6 KiB) and a B panel (16 KiB) fit in L1 together.
const KC: usize = 256;
/// Rows of A packed per task: 96 x 256 x 4 B = 96 KiB, resident in L2.
const MC: usize = 96;

/// A strided matrix view: element (i, j) at `data[i * rs + j * cs]`.
#[derive(Clone, Copy)]
pub struct View<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

impl<'a> View<'a> {
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> View<'a> {
        View {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }

    pub fn t(self) -> View<'a> {
        View {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
        }
    }

    fn at(&self, i: usize, j: usize) -> f32 {
        self.data[i * self.rs + j * self.cs]
    }
}

/// `c (m x n, row-major) = a (m x k) b (k x n)`, or `c += a b` with `accumulate`.
pub fn matmul(a: View, b: View, c: &mut [f32], accumulate: bool) {
    matmul_checked(a, b, None, c, accumulate)
}

/// `c = a b + bias` (one value per column), or `c += a b + bias` with `accumulate`: the bias
/// is added as each tile is written, so there is no separate pass over `c` for it.
pub fn matmul_bias(a: View, b: View, bias: &[f32], c: &mut [f32], accumulate: bool) {
    matmul_checked(a, b, Some(bias), c, accumulate)
}

fn matmul_checked(a: View, b: View, bias: Option<&[f32]>, c: &mut [f32], accumulate: bool) {
    assert_eq!(
        c.len(),
        a.rows * b.cols,
        "output is not {} x {}",
        a.rows,
        b.cols
    );
    check_bias(bias, b.cols);
    // SAFETY: c holds m x n elements, the bias (checked) n.
    unsafe {
        matmul_into(
            a,
            b,
            c.as_mut_ptr(),
            b.cols,
            Onto::c_if(accumulate),
            bias,
            false,
        )
    }
}

fn check_bias(bias: Option<&[f32]>, n: usize) {
    if let Some(bias) = bias {
        assert_eq!(
            bias.len(),
            n,
            "bias of {} values for {n} columns",
            bias.len()
        );
    }
}

/// `c (+)= a b` on this thread only, into m rows of a row-major matrix with row stride
/// `ldc`: for products that are already one of many rayon tasks (attention's per-head
/// products, where this ran 1.3-1.5x faster than the `gemm` crate).
///
/// # Safety
///
/// `c` points at m rows of `ldc >= n` elements, whose first n are initialised if
/// `accumulate`, and which nothing else reads or writes meanwhile.
pub unsafe fn matmul_serial(a: View, b: View, c: *mut f32, ldc: usize, accumulate: bool) {
    unsafe {
        assert!(ldc >= b.cols, "row stride {ldc} below {} columns", b.cols);
        matmul_into(a, b, c, ldc, Onto::c_if(accumulate), None, true)
    }
}

/// `a b` in a new row-major buffer (not zeroed first: every element is written once).
pub fn product(a: View, b: View) -> Vec<f32> {
    new_product(a, b, None, Onto::Nothing)
}

/// `a b + bias` (one value per column) in a new row-major buffer.
pub fn product_bias(a: View, b: View, bias: &[f32]) -> Vec<f32> {
    new_product(a, b, Some(bias), Onto::Nothing)
}

/// `residual + a b + bias` in a new row-major buffer: the micro-kernel reads the residual
/// where it would read `c` to accumulate, so there is no copy of it first (that copy was a
/// single-threaded pass of 2 MiB per residual in a training step).
pub fn product_bias_residual(a: View, b: View, bias: &[f32], residual: &[f32]) -> Vec<f32> {
    assert_eq!(
        residual.len(),
        a.rows * b.cols,
        "residual is not {} x {}",
        a.rows,
        b.cols
    );
    new_product(a, b, Some(bias), Onto::Residual(residual))
}

fn new_product(a: View, b: View, bias: Option<&[f32]>, onto: Onto) -> Vec<f32> {
    check_bias(bias, b.cols);
    let len = a.rows * b.cols;
    let mut c = Vec::with_capacity(len);
    // SAFETY: the buffer has room for m x n elements, and `matmul_into` onto anything but
    // `Itself` writes every one of them (reading none) before the length is set.
    unsafe {
        matmul_into(a, b, c.as_mut_ptr(), b.cols, onto, bias, false);
        c.set_len(len);
    }
    c
}

/// What a product is added to: nothing (`c = a b`), what `c` holds (`c += a b`), or another
/// matrix with `c`'s row stride (`c = r + a b`).
#[derive(Clone, Copy)]
enum Onto<'a> {
    Nothing,
    Itself,
    Residual(&'a [f32]),
}

impl Onto<'_> {
    /// `Itself` with `accumulate`, else `Nothing`.
    fn c_if(accumulate: bool) -> Onto<'static> {
        if accumulate {
            Onto::Itself
        } else {
            Onto::Nothing
        }
    }
}

/// SAFETY (callers): `c` points at m rows of `ldc` writable elements, the first n of each
/// initialised if onto `Itself`; a residual has m rows of stride `ldc`; `bias`, if any, has
/// n values.
unsafe fn matmul_into(
    a: View,
    b: View,
    c: *mut f32,
    ldc: usize,
    onto: Onto,
    bias: Option<&[f32]>,
    serial: bool,
) {
    unsafe {
        let (m, k, n) = (a.rows, a.cols, b.cols);
        assert_eq!(
            b.rows, k,
            "inner dimensions differ: {m}x{k} times {}x{n}",
            b.rows
        );
        if m == 0 || n == 0 {
            return;
        }
        if k == 0 {
            // An empty product: C is its start (nothing, itself or the residual) plus the bias.
            // Written through the pointer: with `Onto::Nothing` C is not initialised yet, so no
            // slice may be made over it before it is written.
            for i in 0..m {
                for j in 0..n {
                    let p = c.add(i * ldc + j);
                    let start = match onto {
                        Onto::Nothing => 0.0,
                        Onto::Itself => p.read(),
                        Onto::Residual(r) => r[i * ldc + j],
                    };
                    p.write(start + bias.map_or(0.0, |b| b[j]));
                }
            }
            return;
        }
        let last = (a.rows - 1) * a.rs + (a.cols - 1) * a.cs;
        assert!(last < a.data.len(), "A view runs past its buffer");
        let last = (b.rows - 1) * b.rs + (b.cols - 1) * b.cs;
        assert!(last < b.data.len(), "B view runs past its buffer");

        // Without AVX2 + FMA (an Arm machine, an old x86, or KIBBLE_PORTABLE=1) the `gemm`
        // crate's kernels run (NEON, AVX-512 or scalar, chosen at run time) instead of ours.
        if !crate::ml::kernels::cpu::avx2_fma() {
            return portable(a, b, c, ldc, onto, bias, serial);
        }

        let threads = rayon::current_num_threads();
        let parallel = !serial && threads > 1 && m * n * k >= 1 << 20;
        let mut b_packed = PACKED_B.take();
        pack_b(b, parallel, &mut b_packed);
        let npad = n.div_ceil(NR) * NR;

        // Row blocks of at most MC rows, as many as a multiple of the thread count and as equal
        // as MR-row panels allow: 21 blocks of 96 rows and one of 32 (m = 2048) left one thread
        // idle at the end of every product.
        let panels = m.div_ceil(MR);
        let mut m_blocks = m.div_ceil(MC);
        if parallel {
            m_blocks = (m_blocks.div_ceil(threads) * threads).min(panels);
        }
        let rows_of = |ib: usize| {
            (
                (ib * panels / m_blocks * MR).min(m),
                ((ib + 1) * panels / m_blocks * MR).min(m),
            )
        };
        // Split the columns too when there are too few row blocks to keep every thread busy.
        let n_chunks = if m_blocks >= 2 * threads {
            1
        } else {
            (2 * threads)
                .div_ceil(m_blocks)
                .min(n.div_ceil(4 * NR))
                .max(1)
        };
        let nc = n.div_ceil(n_chunks).div_ceil(NR) * NR;
        let tasks: Vec<((usize, usize), usize)> = (0..m_blocks)
            .flat_map(|ib| (0..n.div_ceil(nc)).map(move |jb| (rows_of(ib), jb * nc)))
            .collect();
        // Row-major A is read in place, six rows at a time: packing it meant a scalar
        // transpose of every block (5-7 % of a training step). Other layouts are packed.
        let direct_a = a.cs == 1;
        let dst = SharedMut(c);
        let run = |&((i0, i1), j0): &((usize, usize), usize)| {
            let mc = i1 - i0;
            debug_assert!(mc <= MC, "a row block of {mc} rows");
            let cols = nc.min(n - j0);
            let mut a_packed = Vec::new();
            for p0 in (0..k).step_by(KC) {
                let kc = KC.min(k - p0);
                // The first slice's partial sums go onto what `onto` names, later ones onto c.
                let from = |tile: *mut f32, at: usize| -> *const f32 {
                    match onto {
                        _ if p0 > 0 => tile,
                        Onto::Nothing => std::ptr::null(),
                        Onto::Itself => tile,
                        Onto::Residual(r) => r[at..].as_ptr(),
                    }
                };
                // The bias goes in with the first slice's partial sums.
                let bias = bias.filter(|_| p0 == 0);
                if !direct_a {
                    pack_a(a, i0, mc, p0, kc, &mut a_packed);
                }
                let slice = &b_packed[p0 * npad..];
                for jr in (0..cols).step_by(NR) {
                    let nr = NR.min(cols - jr);
                    let b_panel = &slice[(j0 + jr) / NR * kc * NR..][..kc * NR];
                    for ir in (0..mc).step_by(MR) {
                        let mr = MR.min(mc - ir);
                        let a_rows = if direct_a {
                            // Rows past the matrix repeat its last row: their results are
                            // never written out.
                            let top = &a.data[(i0 + ir) * a.rs + p0..];
                            ARows {
                                rows: std::array::from_fn(|r| top[r.min(mr - 1) * a.rs..].as_ptr()),
                                step: 1,
                            }
                        } else {
                            let panel = a_packed[ir / MR * kc * MR..][..kc * MR].as_ptr();
                            ARows {
                                rows: std::array::from_fn(|r| panel.add(r)),
                                step: MR,
                            }
                        };
                        // SAFETY: the tile (i0+ir.., j0+jr..) of c lies inside m x n, and no other
                        // task writes it (tasks own disjoint row blocks x column chunks). Each A
                        // row pointer has kc values `step` apart.
                        let at = (i0 + ir) * ldc + j0 + jr;
                        let tile = dst.ptr().add(at);
                        let out = Out {
                            from: from(tile, at),
                            bias: bias.map_or(std::ptr::null(), |b| b[j0 + jr..].as_ptr()),
                        };
                        kernel(kc, a_rows, b_panel, tile, ldc, (mr, nr), out);
                    }
                }
            }
        };
        if parallel && tasks.len() > 1 {
            tasks.par_iter().for_each(run);
        } else {
            tasks.iter().for_each(run);
        }
        PACKED_B.set(b_packed);
    }
}

thread_local! {
    /// The packed-B buffer, kept for the next product on this thread: allocating and
    /// zero-filling megabytes per product was 2-3 % of a training step.
    static PACKED_B: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
}

/// All of B into `out`, KC-deep slice by slice, each slice in NR-column panels, k-major:
/// the slice at depth p0 starts at `p0 * npad`, its panel q `q * kc * NR` later. Padding
/// past column n keeps whatever the buffer held: those lanes of the micro-kernel's result
/// are never written out (`mr x nr` tiles), so they cannot reach C. The same holds for
/// padding rows of A.
fn pack_b(b: View, parallel: bool, out: &mut Vec<f32>) {
    let (k, n) = (b.rows, b.cols);
    let panels = n.div_ceil(NR);
    let len = k * panels * NR;
    if out.len() < len {
        out.resize(len, 0.0);
    }
    // (slice start, panel index) of every kc x NR block, in memory order.
    let mut blocks = Vec::new();
    for p0 in (0..k).step_by(KC) {
        let kc = KC.min(k - p0);
        blocks.extend((0..panels).map(|q| (p0, kc, q)));
    }
    let mut chunks = Vec::with_capacity(blocks.len());
    let mut rest = &mut out[..len];
    for &(_, kc, _) in &blocks {
        let (head, tail) = rest.split_at_mut(kc * NR);
        chunks.push(head);
        rest = tail;
    }
    let fill = |(panel, &(p0, kc, q)): (&mut &mut [f32], &(usize, usize, usize))| {
        let j0 = q * NR;
        let nr = NR.min(n - j0);
        if b.cs == 1 {
            for (kk, dst) in panel.chunks_exact_mut(NR).enumerate() {
                let s = (p0 + kk) * b.rs + j0;
                // Each depth is a new row, so each read a new line (8 of 9 samples here sat
                // on the load): ask for the row eight ahead.
                prefetch(b.data.as_ptr().wrapping_add(s + 8 * b.rs));
                if nr == NR {
                    // A constant length compiles to two vector moves, not a memcpy call.
                    let src: &[f32; NR] = b.data[s..s + NR].try_into().unwrap();
                    dst.copy_from_slice(src);
                } else {
                    dst[..nr].copy_from_slice(&b.data[s..s + nr]);
                }
            }
        } else if b.rs == 1 {
            // Column-contiguous (a transposed weight): read each column front to back,
            // eight columns x eight depths at a time through an AVX transpose where it can.
            #[cfg(target_arch = "x86_64")]
            if nr == NR && crate::ml::kernels::cpu::avx() {
                let top = &b.data[j0 * b.cs + p0..];
                // SAFETY: AVX is available; columns j0..j0+NR each have kc values from p0.
                unsafe { avx2::pack_columns(top, b.cs, kc, panel) };
                return;
            }
            for l in 0..nr {
                let s = (j0 + l) * b.cs + p0;
                for (kk, v) in b.data[s..s + kc].iter().enumerate() {
                    panel[kk * NR + l] = *v;
                }
            }
        } else {
            for kk in 0..kc {
                for l in 0..nr {
                    panel[kk * NR + l] = b.at(p0 + kk, j0 + l);
                }
            }
        }
    };
    if parallel {
        chunks.par_iter_mut().zip(blocks.par_iter()).for_each(fill);
    } else {
        chunks.iter_mut().zip(blocks.iter()).for_each(fill);
    }
}

/// Rows i0..i0+mc, columns p0..p0+kc of A in MR-row panels, k-major.
fn pack_a(a: View, i0: usize, mc: usize, p0: usize, kc: usize, out: &mut Vec<f32>) {
    let panels = mc.div_ceil(MR);
    // No zero-fill when the buffer is reused: stale padding is harmless (see `pack_b`).
    out.resize(panels * kc * MR, 0.0);
    if a.rs == 1 && a.cs != 1 {
        // Column-contiguous (a transposed activation, as in weight gradients): each depth's
        // mc values lie together, so read them depth by depth, front to back, asking for
        // the depth eight ahead. Panel by panel, each read took 24 bytes from a new line, and
        // waiting for those lines was half the time of this function.
        for kk in 0..kc {
            let src = &a.data[(p0 + kk) * a.cs + i0..][..mc];
            let ahead = src.as_ptr().wrapping_add(8 * a.cs);
            for line in (0..mc).step_by(16) {
                prefetch(ahead.wrapping_add(line));
            }
            let (whole, rest) = src.split_at(mc / MR * MR);
            for (q, vals) in whole.chunks_exact(MR).enumerate() {
                // A constant length compiles to two moves, not a memcpy call.
                let vals: &[f32; MR] = vals.try_into().unwrap();
                out[q * kc * MR + kk * MR..][..MR].copy_from_slice(vals);
            }
            if !rest.is_empty() {
                out[mc / MR * kc * MR + kk * MR..][..rest.len()].copy_from_slice(rest);
            }
        }
        return;
    }
    for (q, panel) in out.chunks_exact_mut(kc * MR).enumerate() {
        let r0 = i0 + q * MR;
        let mr = MR.min(i0 + mc - r0);
        if a.cs == 1 {
            for r in 0..mr {
                let s = (r0 + r) * a.rs + p0;
                for (kk, v) in a.data[s..s + kc].iter().enumerate() {
                    panel[kk * MR + r] = *v;
                }
            }
        } else {
            for (kk, dst) in panel.chunks_exact_mut(MR).enumerate() {
                for (r, d) in dst[..mr].iter_mut().enumerate() {
                    *d = a.at(r0 + r, p0 + kk);
                }
            }
        }
    }
}

/// `matmul_into` through the `gemm` crate, for CPUs our micro-kernel is not compiled for.
///
/// # Safety
/// As `matmul_into`: C holds m rows of n writable values `ldc` apart.
unsafe fn portable(
    a: View,
    b: View,
    c: *mut f32,
    ldc: usize,
    onto: Onto,
    bias: Option<&[f32]>,
    serial: bool,
) {
    unsafe {
        let (m, k, n) = (a.rows, a.cols, b.cols);
        if let Onto::Residual(r) = onto {
            for i in 0..m {
                for j in 0..n {
                    c.add(i * ldc + j).write(r[i * ldc + j]);
                }
            }
        }
        let threads = rayon::current_num_threads();
        let parallelism = if serial || threads < 2 || m * n * k < 1 << 20 {
            gemm::Parallelism::None
        } else {
            gemm::Parallelism::Rayon(threads)
        };
        // dst = alpha * dst + beta * A B, reading dst only when C accumulates.
        gemm::gemm(
            m,
            n,
            k,
            c,
            1,
            ldc as isize,
            !matches!(onto, Onto::Nothing),
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            parallelism,
        );
        if let Some(bias) = bias {
            for i in 0..m {
                for (j, bv) in bias.iter().enumerate().take(n) {
                    let p = c.add(i * ldc + j);
                    p.write(p.read() + bv);
                }
            }
        }
    }
}

/// A hint to bring the cache line at `p` into L1 (no effect elsewhere than x86-64).
#[inline(always)]
fn prefetch(p: *const f32) {
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults, whatever the address.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(p as *const i8);
    }
}

/// MR rows of A for the micro-kernel: row r's value at depth kk is `rows[r][kk * step]`
/// (a packed panel: step MR; a row-major matrix read in place: step 1).
#[derive(Clone, Copy)]
struct ARows {
    rows: [*const f32; MR],
    step: usize,
}

/// How a micro-kernel writes its tile: added to the tile at `from` (c itself or a residual,
/// row stride ldc) or, where `from` is null, over c; plus a bias row (nr values) unless
/// `bias` is null.
#[derive(Clone, Copy)]
struct Out {
    from: *const f32,
    bias: *const f32,
}

/// One MR x NR tile: `c (+)= a b_panel (+ bias)`, only the top-left mr x nr written.
///
/// SAFETY (callers): `c` points at an mr x nr tile of a row-major matrix with row stride ldc;
/// every row of `a` has kc readable values.
unsafe fn kernel(
    kc: usize,
    a: ARows,
    b: &[f32],
    c: *mut f32,
    ldc: usize,
    (mr, nr): (usize, usize),
    out: Out,
) {
    unsafe {
        #[cfg(target_arch = "x86_64")]
        if crate::ml::kernels::cpu::avx2_fma() {
            return avx2::kernel(kc, a, b, c, ldc, (mr, nr), out);
        }
        let mut acc = [[0f32; NR]; MR];
        for kk in 0..kc {
            let bv = &b[kk * NR..][..NR];
            for (row, p) in acc.iter_mut().zip(a.rows) {
                let x = *p.add(kk * a.step);
                for (s, y) in row.iter_mut().zip(bv) {
                    *s += x * y;
                }
            }
        }
        write_tile(&acc, c, ldc, (mr, nr), out);
    }
}

/// SAFETY (callers): as `kernel`.
unsafe fn write_tile(
    acc: &[[f32; NR]; MR],
    c: *mut f32,
    ldc: usize,
    (mr, nr): (usize, usize),
    out: Out,
) {
    unsafe {
        for (r, row) in acc.iter().enumerate().take(mr) {
            for (j, v) in row.iter().enumerate().take(nr) {
                let dst = c.add(r * ldc + j);
                let v = if out.bias.is_null() {
                    *v
                } else {
                    v + *out.bias.add(j)
                };
                *dst = if out.from.is_null() {
                    v
                } else {
                    *out.from.add(r * ldc + j) + v
                };
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{ARows, Out, MR, NR};

    /// `panel[kk * NR + l] = col[l * cs + kk]` for NR columns of kc values: blocks of eight
    /// columns x eight depths go through an 8 x 8 transpose in registers.
    ///
    /// SAFETY (callers): AVX is available; `col` holds NR columns of kc values `cs` apart,
    /// and `panel` kc x NR values.
    #[target_feature(enable = "avx")]
    pub(super) unsafe fn pack_columns(col: &[f32], cs: usize, kc: usize, panel: &mut [f32]) {
        unsafe {
            assert!(col.len() > (NR - 1) * cs + kc - 1 && panel.len() >= kc * NR);
            let (src, dst) = (col.as_ptr(), panel.as_mut_ptr());
            let whole = kc / 8 * 8;
            for kk in (0..whole).step_by(8) {
                for half in 0..NR / 8 {
                    let r: [__m256; 8] =
                        std::array::from_fn(|l| _mm256_loadu_ps(src.add((half * 8 + l) * cs + kk)));
                    let t0 = _mm256_unpacklo_ps(r[0], r[1]);
                    let t1 = _mm256_unpackhi_ps(r[0], r[1]);
                    let t2 = _mm256_unpacklo_ps(r[2], r[3]);
                    let t3 = _mm256_unpackhi_ps(r[2], r[3]);
                    let t4 = _mm256_unpacklo_ps(r[4], r[5]);
                    let t5 = _mm256_unpackhi_ps(r[4], r[5]);
                    let t6 = _mm256_unpacklo_ps(r[6], r[7]);
                    let t7 = _mm256_unpackhi_ps(r[6], r[7]);
                    let s0 = _mm256_shuffle_ps::<0x44>(t0, t2);
                    let s1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
                    let s2 = _mm256_shuffle_ps::<0x44>(t1, t3);
                    let s3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
                    let s4 = _mm256_shuffle_ps::<0x44>(t4, t6);
                    let s5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
                    let s6 = _mm256_shuffle_ps::<0x44>(t5, t7);
                    let s7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
                    let rows = [
                        _mm256_permute2f128_ps::<0x20>(s0, s4),
                        _mm256_permute2f128_ps::<0x20>(s1, s5),
                        _mm256_permute2f128_ps::<0x20>(s2, s6),
                        _mm256_permute2f128_ps::<0x20>(s3, s7),
                        _mm256_permute2f128_ps::<0x31>(s0, s4),
                        _mm256_permute2f128_ps::<0x31>(s1, s5),
                        _mm256_permute2f128_ps::<0x31>(s2, s6),
                        _mm256_permute2f128_ps::<0x31>(s3, s7),
                    ];
                    for (i, row) in rows.into_iter().enumerate() {
                        _mm256_storeu_ps(dst.add((kk + i) * NR + half * 8), row);
                    }
                }
            }
            for kk in whole..kc {
                for l in 0..NR {
                    *dst.add(kk * NR + l) = *src.add(l * cs + kk);
                }
            }
        }
    }

    /// SAFETY (callers): AVX2 and FMA are available; otherwise as `super::kernel`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn kernel(
        kc: usize,
        a: ARows,
        b: &[f32],
        c: *mut f32,
        ldc: usize,
        (mr, nr): (usize, usize),
        out: Out,
    ) {
        unsafe {
            let (rows, step, bp) = (a.rows, a.step, b.as_ptr());
            // Ask for the C tile now so it is in cache when the loop below ends: waiting for it
            // afterwards (a miss per row) was about a sixth of the kernel's time.
            for r in 0..mr {
                let row = c.add(r * ldc);
                _mm_prefetch::<_MM_HINT_T0>(row as *const i8);
                _mm_prefetch::<_MM_HINT_T0>(row.add(nr - 1) as *const i8);
                if !out.from.is_null() && !std::ptr::eq(out.from, c) {
                    let src = out.from.add(r * ldc);
                    _mm_prefetch::<_MM_HINT_T0>(src as *const i8);
                    _mm_prefetch::<_MM_HINT_T0>(src.add(nr - 1) as *const i8);
                }
            }
            let mut lo = [_mm256_setzero_ps(); MR];
            let mut hi = [_mm256_setzero_ps(); MR];
            for kk in 0..kc {
                // B's panel is read from L2 or memory the first time through (one line per kk);
                // asking eight lines ahead gave 0-13 % per shape (3 % on average) in paired runs.
                // Asking for A's rows the same way made it slower. (`wrapping_add`: the address
                // may lie past the buffer, which a prefetch tolerates.)
                _mm_prefetch::<_MM_HINT_T0>(bp.wrapping_add((kk + 8) * NR) as *const i8);
                let b0 = _mm256_loadu_ps(bp.add(kk * NR));
                let b1 = _mm256_loadu_ps(bp.add(kk * NR + 8));
                for r in 0..MR {
                    let x = _mm256_broadcast_ss(&*rows[r].add(kk * step));
                    lo[r] = _mm256_fmadd_ps(x, b0, lo[r]);
                    hi[r] = _mm256_fmadd_ps(x, b1, hi[r]);
                }
            }
            if mr == MR && nr == NR {
                if !out.bias.is_null() {
                    let (b0, b1) = (_mm256_loadu_ps(out.bias), _mm256_loadu_ps(out.bias.add(8)));
                    for r in 0..MR {
                        lo[r] = _mm256_add_ps(lo[r], b0);
                        hi[r] = _mm256_add_ps(hi[r], b1);
                    }
                }
                for r in 0..MR {
                    let row = c.add(r * ldc);
                    let (mut l, mut h) = (lo[r], hi[r]);
                    if !out.from.is_null() {
                        let src = out.from.add(r * ldc);
                        l = _mm256_add_ps(l, _mm256_loadu_ps(src));
                        h = _mm256_add_ps(h, _mm256_loadu_ps(src.add(8)));
                    }
                    _mm256_storeu_ps(row, l);
                    _mm256_storeu_ps(row.add(8), h);
                }
                return;
            }
            let mut acc = [[0f32; NR]; MR];
            for r in 0..MR {
                _mm256_storeu_ps(acc[r].as_mut_ptr(), lo[r]);
                _mm256_storeu_ps(acc[r].as_mut_ptr().add(8), hi[r]);
            }
            super::write_tile(&acc, c, ldc, (mr, nr), out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: View, b: View) -> Vec<f32> {
        let mut c = vec![0f32; a.rows * b.cols];
        for i in 0..a.rows {
            for j in 0..b.cols {
                c[i * b.cols + j] = (0..a.cols).map(|p| a.at(i, p) * b.at(p, j)).sum();
            }
        }
        c
    }

    #[test]
    fn matches_a_plain_product_for_any_shape_and_layout() {
        let mut rng = crate::domain::SplitMix64::new(11);
        for (m, k, n) in [
            (1, 1, 1),
            (5, 3, 7),
            (6, 16, 16),
            (13, 300, 33),
            (100, 257, 50),
            (200, 40, 130),
            (7, 600, 300),
        ] {
            let mut r = || rng.next_f64() as f32 - 0.5;
            let a_data: Vec<f32> = (0..m * k).map(|_| r()).collect();
            let b_data: Vec<f32> = (0..k * n).map(|_| r()).collect();
            let c0: Vec<f32> = (0..m * n).map(|_| r()).collect();
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                let a = if ta {
                    View::row_major(&a_data, k, m).t()
                } else {
                    View::row_major(&a_data, m, k)
                };
                let b = if tb {
                    View::row_major(&b_data, n, k).t()
                } else {
                    View::row_major(&b_data, k, n)
                };
                let want = naive(a, b);
                let mut c = vec![f32::NAN; m * n];
                matmul(a, b, &mut c, false);
                let mut acc = c0.clone();
                matmul(a, b, &mut acc, true);
                let bias: Vec<f32> = (0..n).map(|j| j as f32 * 0.1 - 1.0).collect();
                let with_bias = product_bias(a, b, &bias);
                let mut acc_bias = c0.clone();
                matmul_bias(a, b, &bias, &mut acc_bias, true);
                let with_residual = product_bias_residual(a, b, &bias, &c0);
                for i in 0..m * n {
                    let tol = 1e-4 * (k as f32).sqrt();
                    assert!(
                        (c[i] - want[i]).abs() < tol,
                        "{m}x{k}x{n} t{ta}{tb} [{i}]: {} vs {}",
                        c[i],
                        want[i]
                    );
                    assert!((acc[i] - c0[i] - want[i]).abs() < tol, "accumulate [{i}]");
                    let b = bias[i % n];
                    assert!((with_bias[i] - b - want[i]).abs() < tol, "bias [{i}]");
                    let sum = acc_bias[i] - c0[i] - b;
                    assert!((sum - want[i]).abs() < tol, "bias, accumulate [{i}]");
                    // The same operations in the same order as adding onto a copy.
                    assert_eq!(with_residual[i], acc_bias[i], "bias, residual [{i}]");
                }
            }
        }
    }

    /// `cargo test --release --lib -- --ignored gemm_speed --nocapture`: GFLOP/s against
    /// the `gemm` crate (candle's CPU matmul) at the tiny models' training shapes and layouts:
    /// forward `x W^T`, input gradient `g W`, weight gradient `g^T x`.
    #[test]
    #[ignore]
    fn gemm_speed() {
        use candle_core::{Device, Tensor};
        for (what, m, k, n, ta, tb) in [
            ("fwd", 2048, 256, 1024, false, true),
            ("fwd", 2048, 1024, 256, false, true),
            ("fwd", 2048, 256, 8192, false, true),
            ("dx", 2048, 1024, 256, false, false),
            ("dx", 2048, 8192, 256, false, false),
            ("dW", 1024, 2048, 256, true, false),
            ("dW", 256, 2048, 1024, true, false),
            ("dW", 8192, 2048, 256, true, false),
        ] {
            let a_data = vec![0.5f32; m * k];
            let b_data = vec![0.25f32; n * k];
            let view = |d, r, c, t| {
                if t {
                    View::row_major(d, c, r).t()
                } else {
                    View::row_major(d, r, c)
                }
            };
            let tensor = |d: &[f32], r, c, t| {
                let dims = if t { (c, r) } else { (r, c) };
                let x = Tensor::from_vec(d.to_vec(), dims, &Device::Cpu).unwrap();
                if t {
                    x.t().unwrap()
                } else {
                    x
                }
            };
            let reps = (5_000_000_000 / (2 * m * k * n)).max(3);
            let mut c = vec![0f32; m * n];
            // Best of three alternating rounds: this box's speed drifts by tens of percent.
            let (mut ours, mut theirs) = (f64::MAX, f64::MAX);
            let (at, bt) = (tensor(&a_data, m, k, ta), tensor(&b_data, k, n, tb));
            for _ in 0..3 {
                let t = std::time::Instant::now();
                for _ in 0..reps {
                    let (a, b) = (view(&a_data, m, k, ta), view(&b_data, k, n, tb));
                    matmul(a, b, &mut c, false);
                }
                ours = ours.min(t.elapsed().as_secs_f64());
                let t = std::time::Instant::now();
                for _ in 0..reps {
                    std::hint::black_box(at.matmul(&bt).unwrap());
                }
                theirs = theirs.min(t.elapsed().as_secs_f64());
            }
            let f = (2 * m * k * n * reps) as f64 / 1e9;
            println!(
                "{what} {m}x{k}x{n}: ours {:.1} GFLOP/s, candle {:.1} GFLOP/s",
                f / ours,
                f / theirs
            );
        }
    }
}
