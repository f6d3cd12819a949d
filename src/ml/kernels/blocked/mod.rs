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

mod microkernel;
mod pack;

#[cfg(target_arch = "x86_64")]
use microkernel::avx2;
use microkernel::*;
use pack::*;

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

/// `residual + a b` in a new row-major buffer (the residual read where `c` would be).
pub fn product_residual(a: View, b: View, residual: &[f32]) -> Vec<f32> {
    product_onto(a, b, None, residual)
}

/// `residual + a b + bias` in a new row-major buffer: the micro-kernel reads the residual
/// where it would read `c` to accumulate, so there is no copy of it first (that copy was a
/// single-threaded pass of 2 MiB per residual in a training step).
pub fn product_bias_residual(a: View, b: View, bias: &[f32], residual: &[f32]) -> Vec<f32> {
    product_onto(a, b, Some(bias), residual)
}

fn product_onto(a: View, b: View, bias: Option<&[f32]>, residual: &[f32]) -> Vec<f32> {
    assert_eq!(
        residual.len(),
        a.rows * b.cols,
        "residual is not {} x {}",
        a.rows,
        b.cols
    );
    new_product(a, b, bias, Onto::Residual(residual))
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
            // SmolLM2-135M at 4 x 128 tokens (the decoder reward model's bench).
            ("fwd", 512, 576, 1536, false, true),
            ("fwd", 512, 1536, 576, false, true),
            ("fwd", 512, 576, 192, false, true),
            ("dx", 512, 1536, 576, false, false),
            ("dx", 512, 576, 1536, false, false),
            ("dW", 1536, 512, 576, true, false),
            ("dW", 192, 512, 576, true, false),
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
