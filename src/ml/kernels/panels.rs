//! `y = x W^T + b` for the sampling engine. A decode step multiplies a handful of rows by
//! every weight matrix, so its time is spent streaming W from memory; W is therefore stored
//! once, at load, in panels of 8 output rows laid out k-major (`Packed`): the kernel reads
//! each panel front to back, keeps one accumulator vector per input row in registers, and
//! writes 8 outputs per row at once (no per-output horizontal sums). Long inputs (prefill)
//! walk the panels in L2-sized tiles so a tile is read from memory once for all rows.

use crate::ml::kernels::{over_ranges, SharedMut};

const LANES: usize = 8;

/// W (d_out x d_in), packed: panel p holds rows 8p..8p+8, element (j, k) at
/// `p * d_in * 8 + k * 8 + j`; the last panel is padded with zero rows.
pub struct Packed {
    data: Vec<f32>,
    pub d_in: usize,
    pub d_out: usize,
}

impl Packed {
    /// Packs row-major W (d_out x d_in).
    pub fn new(w: &[f32], d_out: usize, d_in: usize) -> Packed {
        assert_eq!(w.len(), d_out * d_in, "weight is not {d_out} x {d_in}");
        let panels = d_out.div_ceil(LANES);
        let mut data = vec![0f32; panels * d_in * LANES];
        for (o, row) in w.chunks_exact(d_in).enumerate() {
            let (p, j) = (o / LANES, o % LANES);
            let base = p * d_in * LANES;
            for (k, v) in row.iter().enumerate() {
                data[base + k * LANES + j] = *v;
            }
        }
        Packed { data, d_in, d_out }
    }

    fn panels(&self) -> usize {
        self.d_out.div_ceil(LANES)
    }

    /// Number of weights (without padding).
    pub fn len(&self) -> usize {
        self.d_in * self.d_out
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `y (rows x d_out) = x (rows x d_in) W^T + b`; an empty `b` is no bias.
pub fn linear(x: &[f32], rows: usize, w: &Packed, b: &[f32]) -> Vec<f32> {
    let (d_in, d_out) = (w.d_in, w.d_out);
    // The row groups below read x and write y through raw pointers sized from these.
    assert_eq!(x.len(), rows * d_in, "x is not {rows} x {d_in}");
    assert!(b.is_empty() || b.len() == d_out, "bias is not {d_out} long");
    let mut y = vec![0f32; rows * d_out];
    let dst = SharedMut(y.as_mut_ptr());
    // Panels per tile: about 128 KiB of weights, read once from memory for every row group.
    let tile = ((128 << 10) / (4 * LANES * d_in)).max(1);
    let run = |(p0, p1): (usize, usize)| {
        let mut t0 = p0;
        while t0 < p1 {
            let t1 = (t0 + tile).min(p1);
            let mut r0 = 0;
            while r0 < rows {
                // Eight rows (a batch-8 decode step) go through one panel at a time in one
                // pass, so each weight is read once; smaller groups take the two-panel kernel.
                let g = match rows - r0 {
                    n if n >= 8 => 8,
                    n => n.min(6),
                };
                // SAFETY: each task writes only its own panels' columns of y.
                unsafe { panels_rows(x, (r0, g), w, b, (t0, t1), dst.ptr(), d_out) };
                r0 += g;
            }
            t0 = t1;
        }
    };
    let panels = w.panels();
    let work = rows * d_in * d_out;
    let tasks = if work >= 1 << 18 {
        (rayon::current_num_threads() * 4).min(panels)
    } else {
        1
    };
    over_ranges(panels, tasks, run);
    y
}

/// Rows r0..r0+g (g <= 6, or 8) times panels p0..p1, written into y.
///
/// SAFETY (callers): `y` is rows x d_out and no other thread writes these panels' columns.
unsafe fn panels_rows(
    x: &[f32],
    (r0, g): (usize, usize),
    w: &Packed,
    b: &[f32],
    (p0, p1): (usize, usize),
    y: *mut f32,
    d_out: usize,
) {
    unsafe {
        let d_in = w.d_in;
        debug_assert!(
            (1..=6).contains(&g) || g == 8,
            "row groups are 1 to 6 or 8 rows"
        );
        let xs = &x[r0 * d_in..(r0 + g) * d_in];
        let yp = y.add(r0 * d_out);
        #[cfg(target_arch = "x86_64")]
        if crate::ml::kernels::cpu::avx2_fma() {
            if g == 8 {
                for p in p0..p1 {
                    let pw = &w.data[p * d_in * LANES..(p + 1) * d_in * LANES];
                    avx2::panel::<8>(xs, pw, d_in, b, p, yp, d_out);
                }
                return;
            }
            let mut p = p0;
            // Two panels at a time for up to 6 rows: 2R accumulators hide the FMA latency and
            // each broadcast feeds two FMAs.
            if g <= 6 {
                while p + 2 <= p1 {
                    let pw = &w.data[p * d_in * LANES..(p + 2) * d_in * LANES];
                    match g {
                        6 => avx2::panel2::<6>(xs, pw, d_in, b, p, yp, d_out),
                        5 => avx2::panel2::<5>(xs, pw, d_in, b, p, yp, d_out),
                        4 => avx2::panel2::<4>(xs, pw, d_in, b, p, yp, d_out),
                        3 => avx2::panel2::<3>(xs, pw, d_in, b, p, yp, d_out),
                        2 => avx2::panel2::<2>(xs, pw, d_in, b, p, yp, d_out),
                        _ => avx2::panel2::<1>(xs, pw, d_in, b, p, yp, d_out),
                    }
                    p += 2;
                }
            }
            for p in p..p1 {
                let pw = &w.data[p * d_in * LANES..(p + 1) * d_in * LANES];
                match g {
                    6 => avx2::panel::<6>(xs, pw, d_in, b, p, yp, d_out),
                    5 => avx2::panel::<5>(xs, pw, d_in, b, p, yp, d_out),
                    4 => avx2::panel::<4>(xs, pw, d_in, b, p, yp, d_out),
                    3 => avx2::panel::<3>(xs, pw, d_in, b, p, yp, d_out),
                    2 => avx2::panel::<2>(xs, pw, d_in, b, p, yp, d_out),
                    _ => avx2::panel::<1>(xs, pw, d_in, b, p, yp, d_out),
                }
            }
            return;
        }
        for p in p0..p1 {
            let pw = &w.data[p * d_in * LANES..(p + 1) * d_in * LANES];
            for r in 0..g {
                let mut acc = [0f32; LANES];
                for (k, wk) in pw.chunks_exact(LANES).enumerate() {
                    let xv = xs[r * d_in + k];
                    for (a, wv) in acc.iter_mut().zip(wk) {
                        *a += xv * wv;
                    }
                }
                store(&acc, b, p, yp.add(r * d_out), d_out);
            }
        }
    }
}

/// Writes one panel's 8 outputs (plus bias) of one row, fewer at the padded end.
///
/// SAFETY (callers): `yrow` points at a row of d_out values.
unsafe fn store(acc: &[f32; LANES], b: &[f32], p: usize, yrow: *mut f32, d_out: usize) {
    unsafe {
        for (j, a) in acc.iter().enumerate() {
            let o = p * LANES + j;
            if o < d_out {
                *yrow.add(o) = a + b.get(o).copied().unwrap_or(0.0);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::LANES;

    /// How far ahead, in floats, the one-panel kernel asks for weights. With eight rows the
    /// hardware prefetcher alone left a decode step's weight streaming at about 11 GB/s
    /// here; asking 4 KiB ahead (best of 768 to 2048 floats, measured with
    /// `decode_step_bandwidth`) gives 14-16. The two-panel kernel (1-6 rows) does not ask:
    /// there it made batch-1 sampling slower (28 against 30-34 tok/s).
    /// Prefetching past a buffer's end is harmless: prefetches never fault (the address is
    /// formed with `wrapping_add`, which may leave the allocation).
    const PREFETCH: usize = 1024;

    /// R rows times one panel: R accumulator vectors; per k one panel load, R broadcasts.
    ///
    /// SAFETY (callers): AVX2 and FMA are available; `x` is R x d_in; `pw` one panel;
    /// `y` points at row 0 of R rows of d_out.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn panel<const R: usize>(
        x: &[f32],
        pw: &[f32],
        d_in: usize,
        b: &[f32],
        p: usize,
        y: *mut f32,
        d_out: usize,
    ) {
        unsafe {
            let mut acc = [_mm256_setzero_ps(); R];
            let (xp, wp) = (x.as_ptr(), pw.as_ptr());
            for k in 0..d_in {
                _mm_prefetch::<_MM_HINT_T0>(wp.wrapping_add(k * LANES + PREFETCH) as *const i8);
                let wv = _mm256_loadu_ps(wp.add(k * LANES));
                for (r, a) in acc.iter_mut().enumerate() {
                    *a = _mm256_fmadd_ps(_mm256_broadcast_ss(&*xp.add(r * d_in + k)), wv, *a);
                }
            }
            write::<R>(&acc, b, p, y, d_out);
        }
    }

    /// R rows times two adjacent panels.
    ///
    /// SAFETY (callers): as `panel`, with `pw` two panels.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn panel2<const R: usize>(
        x: &[f32],
        pw: &[f32],
        d_in: usize,
        b: &[f32],
        p: usize,
        y: *mut f32,
        d_out: usize,
    ) {
        unsafe {
            let mut a0 = [_mm256_setzero_ps(); R];
            let mut a1 = [_mm256_setzero_ps(); R];
            let (xp, w0) = (x.as_ptr(), pw.as_ptr());
            let w1 = w0.add(d_in * LANES);
            for k in 0..d_in {
                let v0 = _mm256_loadu_ps(w0.add(k * LANES));
                let v1 = _mm256_loadu_ps(w1.add(k * LANES));
                for r in 0..R {
                    let xv = _mm256_broadcast_ss(&*xp.add(r * d_in + k));
                    a0[r] = _mm256_fmadd_ps(xv, v0, a0[r]);
                    a1[r] = _mm256_fmadd_ps(xv, v1, a1[r]);
                }
            }
            write::<R>(&a0, b, p, y, d_out);
            write::<R>(&a1, b, p + 1, y, d_out);
        }
    }

    /// SAFETY (callers): `y` is R rows of d_out.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn write<const R: usize>(
        acc: &[__m256; R],
        b: &[f32],
        p: usize,
        y: *mut f32,
        d_out: usize,
    ) {
        unsafe {
            let full = (p + 1) * LANES <= d_out && b.is_empty();
            for (r, a) in acc.iter().enumerate() {
                if full {
                    _mm256_storeu_ps(y.add(r * d_out + p * LANES), *a);
                } else {
                    let mut lanes = [0f32; LANES];
                    _mm256_storeu_ps(lanes.as_mut_ptr(), *a);
                    super::store(&lanes, b, p, y.add(r * d_out), d_out);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_plain_product_for_any_shape() {
        let mut rng = crate::domain::SplitMix64::new(3);
        for (rows, d_in, d_out, bias) in [
            (1, 5, 3, true),
            (3, 16, 17, false),
            (8, 33, 24, true),
            (11, 40, 70, true),
            (20, 64, 9, false),
        ] {
            let mut r = || rng.next_f64() as f32 - 0.5;
            let x: Vec<f32> = (0..rows * d_in).map(|_| r()).collect();
            let w: Vec<f32> = (0..d_out * d_in).map(|_| r()).collect();
            let b: Vec<f32> = if bias {
                (0..d_out).map(|_| r()).collect()
            } else {
                Vec::new()
            };
            let y = linear(&x, rows, &Packed::new(&w, d_out, d_in), &b);
            for i in 0..rows {
                for o in 0..d_out {
                    let mut s = b.get(o).copied().unwrap_or(0.0);
                    for k in 0..d_in {
                        s += x[i * d_in + k] * w[o * d_in + k];
                    }
                    let got = y[i * d_out + o];
                    assert!(
                        (got - s).abs() < 1e-4,
                        "{rows}x{d_in}x{d_out} [{i},{o}]: {got} vs {s}"
                    );
                }
            }
        }
    }

    /// `cargo test --release --lib -- --ignored decode_step_bandwidth --nocapture`: GB/s of a
    /// whole SmolLM2-135M decode step's products (538 MB of weights, far more than the caches).
    #[test]
    #[ignore]
    fn decode_step_bandwidth() {
        let mut shapes = Vec::new();
        for _ in 0..30 {
            shapes.extend([(576, 960), (576, 576), (576, 3072), (1536, 576)]);
        }
        shapes.push((576, 49152));
        let ws: Vec<Packed> = shapes
            .iter()
            .map(|&(i, o)| Packed::new(&vec![0.25f32; i * o], o, i))
            .collect();
        let bytes: usize = shapes.iter().map(|(i, o)| 4 * i * o).sum();
        for rows in [8, 1] {
            let xs: Vec<Vec<f32>> = [576, 1536]
                .iter()
                .map(|&d| vec![0.5f32; rows * d])
                .collect();
            let mut times = Vec::new();
            for _ in 0..8 {
                let t = std::time::Instant::now();
                for w in &ws {
                    let x = if w.d_in == 576 { &xs[0] } else { &xs[1] };
                    std::hint::black_box(linear(x, rows, w, &[]));
                }
                times.push(t.elapsed().as_secs_f64());
            }
            times.sort_by(f64::total_cmp);
            println!(
                "rows {rows}: best {:.1} ms, median {:.1} ms per step; {:.1} GB/s at best",
                times[0] * 1e3,
                times[4] * 1e3,
                bytes as f64 / times[0] / 1e9
            );
        }
    }

    /// `cargo test --release --lib -- --ignored panel_bandwidth --nocapture`: GB/s of weight
    /// streaming at SmolLM2's shapes.
    #[test]
    #[ignore]
    fn panel_bandwidth() {
        for (rows, d_in, d_out) in [
            (8, 576, 49152),
            (8, 576, 3072),
            (8, 1536, 576),
            (1, 576, 49152),
            (8, 576, 64),
        ] {
            let x = vec![0.5f32; rows * d_in];
            let w = Packed::new(&vec![0.25f32; d_in * d_out], d_out, d_in);
            let n = (2_000_000_000 / (4 * d_in * d_out)).max(3);
            let t = std::time::Instant::now();
            for _ in 0..n {
                std::hint::black_box(linear(&x, rows, &w, &[]));
            }
            let s = t.elapsed().as_secs_f64();
            println!(
                "rows {rows} {d_in}x{d_out}: {:.1} GB/s, {:.1} GFLOP/s",
                (4 * d_in * d_out * n) as f64 / s / 1e9,
                (2 * rows * d_in * d_out * n) as f64 / s / 1e9
            );
        }
    }
}
