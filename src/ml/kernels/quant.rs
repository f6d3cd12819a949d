//! Quantised weights for sampling: GGML's Q4_1 and Q8_0 blocks (32 weights along the input
//! dimension with one scale; Q4_1 also a minimum), kept quantised so SmolLM2-135M samples from
//! ~100 MB of weights instead of 540 MB of f32. Decoding reads every weight once per step, so
//! fewer bytes is fewer milliseconds. As llama.cpp does, a product quantises its input rows
//! to 8 bits per block too and multiplies in integers (32 products per instruction):
//! `sum_k w_k x_k = d_w d_x sum_k q_k p_k (+ m_w d_x sum_k p_k for Q4_1)`.

use crate::ml::kernels::{over_ranges, SharedMut};

/// Weights per block.
pub const BLOCK: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QKind {
    /// 4-bit unsigned values with a scale and a minimum: `w = d q + m`.
    Q4_1,
    /// 8-bit signed values with a scale: `w = d q`.
    Q8_0,
}

impl QKind {
    /// Bytes of one block in a GGUF file (the scales are f16 there).
    pub fn ggml_block_bytes(self) -> usize {
        match self {
            QKind::Q4_1 => 4 + BLOCK / 2,
            QKind::Q8_0 => 2 + BLOCK,
        }
    }

    /// Bytes of values per block here (scales are kept apart, as f32).
    fn values(self) -> usize {
        match self {
            QKind::Q4_1 => BLOCK / 2,
            QKind::Q8_0 => BLOCK,
        }
    }
}

/// A rows x cols matrix (rows = outputs), row-major blocks along cols.
#[derive(Debug, Clone)]
pub struct QMatrix {
    pub kind: QKind,
    pub rows: usize,
    pub cols: usize,
    /// Q4_1: 16 bytes a block, weight j in the low nibble of byte j and weight j + 16 in its
    /// high nibble (GGML's order); Q8_0: 32 signed bytes.
    qs: Vec<u8>,
    /// Scale of each block (rows x cols/32).
    d: Vec<f32>,
    /// Q4_1's minimum of each block; empty for Q8_0.
    m: Vec<f32>,
}

impl QMatrix {
    /// From a GGUF tensor's bytes (rows of blocks; each block its f16 scale, for Q4_1 its f16
    /// minimum, then the values). Checks the shape against the byte count first.
    pub fn from_ggml(
        kind: QKind,
        rows: usize,
        cols: usize,
        bytes: &[u8],
    ) -> Result<QMatrix, String> {
        if cols == 0 || !cols.is_multiple_of(BLOCK) {
            return Err(format!(
                "{cols} columns is not a whole number of {BLOCK}-weight blocks"
            ));
        }
        let blocks = rows
            .checked_mul(cols / BLOCK)
            .ok_or_else(|| format!("{rows} x {cols} is too large"))?;
        let size = kind.ggml_block_bytes();
        if bytes.len() != blocks * size {
            return Err(format!(
                "{rows} x {cols} {kind:?} needs {} bytes, the file has {}",
                blocks * size,
                bytes.len()
            ));
        }
        let f16 = |b: &[u8]| half::f16::from_le_bytes([b[0], b[1]]).to_f32();
        let mut w = QMatrix::empty(kind, rows, cols);
        for blk in bytes.chunks_exact(size) {
            w.d.push(f16(&blk[0..2]));
            let values = match kind {
                QKind::Q4_1 => {
                    w.m.push(f16(&blk[2..4]));
                    &blk[4..]
                }
                QKind::Q8_0 => &blk[2..],
            };
            w.qs.extend_from_slice(values);
        }
        Ok(w)
    }

    fn empty(kind: QKind, rows: usize, cols: usize) -> QMatrix {
        let blocks = rows * cols / BLOCK;
        QMatrix {
            kind,
            rows,
            cols,
            qs: Vec::with_capacity(blocks * kind.values()),
            d: Vec::with_capacity(blocks),
            m: Vec::with_capacity(if kind == QKind::Q4_1 { blocks } else { 0 }),
        }
    }

    /// Quantises row-major f32 weights as GGML does (round to nearest).
    pub fn quantize(kind: QKind, w: &[f32], rows: usize, cols: usize) -> QMatrix {
        assert!(
            cols.is_multiple_of(BLOCK),
            "{cols} columns is not a whole number of blocks"
        );
        assert_eq!(w.len(), rows * cols, "weight is not {rows} x {cols}");
        let mut q = QMatrix::empty(kind, rows, cols);
        for blk in w.chunks_exact(BLOCK) {
            match kind {
                QKind::Q8_0 => {
                    let amax = blk.iter().fold(0f32, |a, v| a.max(v.abs()));
                    let d = amax / 127.0;
                    let id = if d > 0.0 { 1.0 / d } else { 0.0 };
                    q.d.push(d);
                    q.qs.extend(blk.iter().map(|v| (v * id).round() as i8 as u8));
                }
                QKind::Q4_1 => {
                    let lo = blk.iter().copied().fold(f32::INFINITY, f32::min);
                    let hi = blk.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    let d = (hi - lo) / 15.0;
                    let id = if d > 0.0 { 1.0 / d } else { 0.0 };
                    let v = |x: f32| (((x - lo) * id).round() as u8).min(15);
                    q.d.push(d);
                    q.m.push(lo);
                    q.qs.extend((0..BLOCK / 2).map(|j| v(blk[j]) | (v(blk[j + 16]) << 4)));
                }
            }
        }
        q
    }

    fn blocks_per_row(&self) -> usize {
        self.cols / BLOCK
    }

    /// The matrix with its rows in the order `order` names (row i is old row `order[i]`).
    pub fn select_rows(&self, order: &[usize]) -> QMatrix {
        let nb = self.blocks_per_row();
        let vb = nb * self.kind.values();
        let mut out = QMatrix::empty(self.kind, order.len(), self.cols);
        for &o in order {
            assert!(o < self.rows, "row {o} of {}", self.rows);
            out.qs.extend_from_slice(&self.qs[o * vb..(o + 1) * vb]);
            out.d.extend_from_slice(&self.d[o * nb..(o + 1) * nb]);
            if self.kind == QKind::Q4_1 {
                out.m.extend_from_slice(&self.m[o * nb..(o + 1) * nb]);
            }
        }
        out
    }

    /// The rows of `parts` one after another; None unless all share kind and width.
    pub fn stack(parts: &[&QMatrix]) -> Option<QMatrix> {
        let first = parts.first()?;
        if parts
            .iter()
            .any(|p| p.kind != first.kind || p.cols != first.cols)
        {
            return None;
        }
        let rows = parts.iter().map(|p| p.rows).sum();
        let mut out = QMatrix::empty(first.kind, rows, first.cols);
        for p in parts {
            out.qs.extend_from_slice(&p.qs);
            out.d.extend_from_slice(&p.d);
            out.m.extend_from_slice(&p.m);
        }
        Some(out)
    }

    /// Row `o` as f32, into `out` (cols long).
    pub fn dequantize_row(&self, o: usize, out: &mut [f32]) {
        assert!(
            o < self.rows && out.len() == self.cols,
            "row {o} of {}",
            self.rows
        );
        let nb = self.blocks_per_row();
        let vb = self.kind.values();
        for (b, dst) in out.chunks_exact_mut(BLOCK).enumerate() {
            let i = o * nb + b;
            let m = self.m.get(i).copied().unwrap_or(0.0);
            dequantize_block(
                self.kind,
                &self.qs[i * vb..(i + 1) * vb],
                (self.d[i], m),
                dst,
            );
        }
    }

    /// All rows as f32, row-major.
    pub fn dequantize(&self) -> Vec<f32> {
        let mut out = vec![0f32; self.rows * self.cols];
        for (o, row) in out.chunks_exact_mut(self.cols).enumerate() {
            self.dequantize_row(o, row);
        }
        out
    }
}

/// One block's 32 weights from its values `q` and (scale, minimum), into `dst`.
fn dequantize_block(kind: QKind, q: &[u8], (d, m): (f32, f32), dst: &mut [f32]) {
    match kind {
        QKind::Q8_0 => {
            for (x, &v) in dst.iter_mut().zip(q) {
                *x = d * (v as i8) as f32;
            }
        }
        QKind::Q4_1 => {
            for j in 0..BLOCK / 2 {
                dst[j] = d * (q[j] & 0x0F) as f32 + m;
                dst[j + 16] = d * (q[j] >> 4) as f32 + m;
            }
        }
    }
}

/// Input rows quantised to 8 bits per block: values, each block's scale and, for Q4_1's
/// minimum term, `d * sum(values)`.
pub struct Q8Rows {
    q: Vec<i8>,
    /// Each block as [x0..16, x0..16, x16..32, x16..32]: Q4_1's kernel multiplies two
    /// outputs' low nibbles (weights 0..16 of each) by the first half at once.
    dup: Vec<i8>,
    d: Vec<f32>,
    s: Vec<f32>,
    cols: usize,
}

impl Q8Rows {
    pub fn new(x: &[f32], rows: usize, cols: usize) -> Q8Rows {
        assert!(
            cols.is_multiple_of(BLOCK),
            "{cols} columns is not a whole number of blocks"
        );
        assert_eq!(x.len(), rows * cols, "input is not {rows} x {cols}");
        let blocks = rows * cols / BLOCK;
        let mut out = Q8Rows {
            q: vec![0; rows * cols],
            dup: vec![0; 2 * rows * cols],
            d: Vec::with_capacity(blocks),
            s: Vec::with_capacity(blocks),
            cols,
        };
        // Rounds to nearest (ties to even) with two adds, which vectorise; |v * id| <= 127.
        const ROUND: f32 = 12_582_912.0;
        let (qs, dups) = (
            out.q.chunks_exact_mut(BLOCK),
            out.dup.chunks_exact_mut(2 * BLOCK),
        );
        for ((blk, q), dup) in x.chunks_exact(BLOCK).zip(qs).zip(dups) {
            let amax = blk.iter().fold(0f32, |a, v| a.max(v.abs()));
            let d = amax / 127.0;
            let id = if d > 0.0 { 1.0 / d } else { 0.0 };
            for (p, v) in q.iter_mut().zip(blk) {
                *p = ((v * id + ROUND) - ROUND) as i32 as i8;
            }
            let sum: i32 = q.iter().map(|v| *v as i32).sum();
            for (half, src) in dup.chunks_exact_mut(BLOCK).zip(q.chunks_exact(BLOCK / 2)) {
                half[..BLOCK / 2].copy_from_slice(src);
                half[BLOCK / 2..].copy_from_slice(src);
            }
            out.d.push(d);
            out.s.push(d * sum as f32);
        }
        out
    }

    /// The rows as the f32 values the products see.
    pub fn dequantize(&self) -> Vec<f32> {
        self.q
            .chunks_exact(BLOCK)
            .zip(&self.d)
            .flat_map(|(q, d)| q.iter().map(move |v| d * *v as f32))
            .collect()
    }
}

/// Outputs per panel.
const LANES: usize = 8;

/// A `QMatrix` laid out for products: panels of 8 output rows, and within a panel block by
/// block, the 8 rows' values side by side and their 8 scales (and minimums) as one vector.
/// A product then reads each panel front to back and turns 8 outputs' integer dot products
/// into one vector of 8 sums, scaled with one multiply. The last panel is padded with rows
/// of scale 0.
pub struct QPacked {
    pub kind: QKind,
    pub rows: usize,
    pub cols: usize,
    qs: Vec<u8>,
    d: Vec<f32>,
    m: Vec<f32>,
}

impl QPacked {
    pub fn new(w: &QMatrix) -> QPacked {
        let (nb, vb) = (w.blocks_per_row(), w.kind.values());
        let panels = w.rows.div_ceil(LANES);
        let mut out = QPacked {
            kind: w.kind,
            rows: w.rows,
            cols: w.cols,
            qs: vec![0; panels * nb * LANES * vb],
            d: vec![0.0; panels * nb * LANES],
            m: vec![
                0.0;
                if w.kind == QKind::Q4_1 {
                    panels * nb * LANES
                } else {
                    0
                }
            ],
        };
        for o in 0..w.rows {
            for blk in 0..nb {
                let (from, to) = (o * nb + blk, out.slot(o, blk));
                out.qs[to * vb..(to + 1) * vb].copy_from_slice(&w.qs[from * vb..(from + 1) * vb]);
                out.d[to] = w.d[from];
                if w.kind == QKind::Q4_1 {
                    out.m[to] = w.m[from];
                }
            }
        }
        out
    }

    /// Index (in blocks) of row o's block `blk`.
    fn slot(&self, o: usize, blk: usize) -> usize {
        ((o / LANES) * (self.cols / BLOCK) + blk) * LANES + o % LANES
    }

    /// Row `o` as f32, into `out` (cols long).
    pub fn dequantize_row(&self, o: usize, out: &mut [f32]) {
        assert!(
            o < self.rows && out.len() == self.cols,
            "row {o} of {}",
            self.rows
        );
        let vb = self.kind.values();
        for (blk, dst) in out.chunks_exact_mut(BLOCK).enumerate() {
            let i = self.slot(o, blk);
            let m = self.m.get(i).copied().unwrap_or(0.0);
            dequantize_block(
                self.kind,
                &self.qs[i * vb..(i + 1) * vb],
                (self.d[i], m),
                dst,
            );
        }
    }

    /// Bytes held (values and scales, padding included).
    pub fn bytes(&self) -> usize {
        self.qs.len() + 4 * (self.d.len() + self.m.len())
    }
}

/// `y (rows x w.rows) = x (rows x w.cols) W^T + b`; an empty `b` is no bias.
pub fn qlinear(x: &[f32], rows: usize, w: &QPacked, b: &[f32]) -> Vec<f32> {
    assert!(
        b.is_empty() || b.len() == w.rows,
        "bias is not {} long",
        w.rows
    );
    let xq = Q8Rows::new(x, rows, w.cols);
    let mut y = vec![0f32; rows * w.rows];
    let dst = SharedMut(y.as_mut_ptr());
    let run = |(p0, p1): (usize, usize)| {
        for p in p0..p1 {
            let mut r0 = 0;
            while r0 < rows {
                let g = (rows - r0).min(2);
                // SAFETY: y is rows x w.rows; each task writes only its own panels' columns.
                unsafe { panel_rows(w, &xq, p, (r0, g), b, dst.ptr()) };
                r0 += g;
            }
        }
    };
    let panels = w.rows.div_ceil(LANES);
    let blocks = rows * panels * LANES * (w.cols / BLOCK);
    let tasks = if blocks >= 4096 {
        (rayon::current_num_threads() * 2).min(panels)
    } else {
        1
    };
    over_ranges(panels, tasks, run);
    y
}

/// Rows r0..r0+g (g <= 4) of x times panel p of W, into y.
///
/// SAFETY (callers): `y` is rows x w.rows and no other thread writes panel p's columns.
unsafe fn panel_rows(
    w: &QPacked,
    x: &Q8Rows,
    p: usize,
    (r0, g): (usize, usize),
    b: &[f32],
    y: *mut f32,
) {
    let nb = w.cols / BLOCK;
    assert!((1..=4).contains(&g) && p * LANES < w.rows && x.cols == w.cols);
    assert!((r0 + g) * x.cols <= x.q.len() && (p + 1) * nb * LANES <= w.d.len());
    let mut sums = [[0f32; LANES]; 4];
    #[cfg(target_arch = "x86_64")]
    if crate::ml::kernels::cpu::avx2_fma() {
        // SAFETY: AVX2 and FMA are present (and VNNI where taken); the panel and rows were
        // checked above.
        unsafe {
            let q4 = w.kind == QKind::Q4_1;
            macro_rules! kernel {
                ($f:ident) => {
                    match (q4, g) {
                        (true, 1) => avx2::$f::<true, 1>(w, x, p, r0, &mut sums),
                        (true, 2) => avx2::$f::<true, 2>(w, x, p, r0, &mut sums),
                        (true, 3) => avx2::$f::<true, 3>(w, x, p, r0, &mut sums),
                        (true, _) => avx2::$f::<true, 4>(w, x, p, r0, &mut sums),
                        (false, 1) => avx2::$f::<false, 1>(w, x, p, r0, &mut sums),
                        (false, 2) => avx2::$f::<false, 2>(w, x, p, r0, &mut sums),
                        (false, 3) => avx2::$f::<false, 3>(w, x, p, r0, &mut sums),
                        (false, _) => avx2::$f::<false, 4>(w, x, p, r0, &mut sums),
                    }
                };
            }
            if crate::ml::kernels::cpu::avx512_vnni() {
                kernel!(panel_vnni)
            } else {
                kernel!(panel)
            }
        }
    } else {
        portable_panel(w, x, p, (r0, g), &mut sums);
    }
    #[cfg(not(target_arch = "x86_64"))]
    portable_panel(w, x, p, (r0, g), &mut sums);
    for (r, row) in sums.iter().enumerate().take(g) {
        for (j, v) in row.iter().enumerate() {
            let o = p * LANES + j;
            if o < w.rows {
                // SAFETY (of the caller's contract): (r0 + r, o) lies inside y.
                unsafe { *y.add((r0 + r) * w.rows + o) = v + b.get(o).copied().unwrap_or(0.0) };
            }
        }
    }
}

/// The panel product in plain integer loops (the same sums as the AVX2 kernel).
fn portable_panel(
    w: &QPacked,
    x: &Q8Rows,
    p: usize,
    (r0, g): (usize, usize),
    sums: &mut [[f32; LANES]; 4],
) {
    let (nb, vb) = (w.cols / BLOCK, w.kind.values());
    for (r, row) in sums.iter_mut().enumerate().take(g) {
        for blk in 0..nb {
            let xi = (r0 + r) * nb + blk;
            let xq = &x.q[xi * BLOCK..(xi + 1) * BLOCK];
            for (j, sum) in row.iter_mut().enumerate() {
                let i = (p * nb + blk) * LANES + j;
                let wq = &w.qs[i * vb..(i + 1) * vb];
                let dot: i32 = match w.kind {
                    QKind::Q8_0 => wq
                        .iter()
                        .zip(xq)
                        .map(|(a, b)| *a as i8 as i32 * *b as i32)
                        .sum(),
                    QKind::Q4_1 => (0..BLOCK / 2)
                        .map(|k| {
                            (wq[k] & 0x0F) as i32 * xq[k] as i32
                                + (wq[k] >> 4) as i32 * xq[k + 16] as i32
                        })
                        .sum(),
                };
                *sum += w.d[i] * x.d[xi] * dot as f32;
                if w.kind == QKind::Q4_1 {
                    *sum += w.m[i] * x.s[xi];
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{Q8Rows, QPacked, BLOCK, LANES};

    /// Q8_0: one output's 32 weights of a block (at `at`) times R input blocks: 8 i32
    /// partial sums each. u8 x i8: |w| is the unsigned side, w's sign moves onto x.
    #[inline(always)]
    unsafe fn q8_partials<const R: usize, const VNNI: bool>(
        at: *const u8,
        xv: &[__m256i; R],
    ) -> [__m256i; R] {
        unsafe {
            let wv = _mm256_loadu_si256(at as *const __m256i);
            let aw = _mm256_sign_epi8(wv, wv);
            let zero = _mm256_setzero_si256();
            let mut out = [zero; R];
            for r in 0..R {
                out[r] = dot4::<VNNI>(zero, aw, _mm256_sign_epi8(xv[r], wv));
            }
            out
        }
    }

    /// Q8_0: the 8 outputs' sums of one block, per row, in output order.
    #[inline(always)]
    unsafe fn q8_sums<const R: usize, const VNNI: bool>(
        base: *const u8,
        xq: *const i8,
        xi: &[usize; R],
    ) -> [__m256i; R] {
        unsafe {
            let mut xv = [_mm256_setzero_si256(); R];
            for r in 0..R {
                xv[r] = _mm256_loadu_si256(xq.add(xi[r] * BLOCK) as *const __m256i);
            }
            // hadd of pairs, of quads, then the two 128-bit halves added.
            let mut quads = [[_mm256_setzero_si256(); R]; 2];
            for (half, quad) in quads.iter_mut().enumerate() {
                let mut pairs = [[_mm256_setzero_si256(); R]; 2];
                for (k, pair) in pairs.iter_mut().enumerate() {
                    let j = half * 4 + k * 2;
                    let a = q8_partials::<R, VNNI>(base.add(j * BLOCK), &xv);
                    let b = q8_partials::<R, VNNI>(base.add((j + 1) * BLOCK), &xv);
                    for r in 0..R {
                        pair[r] = _mm256_hadd_epi32(a[r], b[r]);
                    }
                }
                for r in 0..R {
                    quad[r] = _mm256_hadd_epi32(pairs[0][r], pairs[1][r]);
                }
            }
            let mut out = xv;
            for r in 0..R {
                out[r] = _mm256_add_epi32(
                    _mm256_permute2x128_si256(quads[0][r], quads[1][r], 0x20),
                    _mm256_permute2x128_si256(quads[0][r], quads[1][r], 0x31),
                );
            }
            out
        }
    }

    /// Q4_1: [j x4 | j+1 x4] partial sums of outputs j and j + 1 of a block (their 32 bytes
    /// at `at`).
    #[inline(always)]
    unsafe fn q4_pair<const R: usize, const VNNI: bool>(
        at: *const u8,
        dup: *const i8,
        xi: &[usize; R],
    ) -> [__m256i; R] {
        unsafe {
            let low = _mm256_set1_epi8(0x0F);
            let v = _mm256_loadu_si256(at as *const __m256i);
            let lo = _mm256_and_si256(v, low);
            let hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
            let zero = _mm256_setzero_si256();
            let mut out = [zero; R];
            for r in 0..R {
                let xd = dup.add(xi[r] * 2 * BLOCK);
                let xlo = _mm256_loadu_si256(xd as *const __m256i);
                let xhi = _mm256_loadu_si256(xd.add(BLOCK) as *const __m256i);
                out[r] = if VNNI {
                    dot4::<true>(dot4::<true>(zero, lo, xlo), hi, xhi)
                } else {
                    // One widening for both halves: their i16 sums still fit (2 x 2 x 15 x 127).
                    let pairs = _mm256_add_epi16(
                        _mm256_maddubs_epi16(lo, xlo),
                        _mm256_maddubs_epi16(hi, xhi),
                    );
                    _mm256_madd_epi16(pairs, _mm256_set1_epi16(1))
                };
            }
            out
        }
    }

    /// Q4_1: the 8 outputs' sums of one block, per row, in output order. One 32-byte load
    /// holds outputs j and j + 1 (16 bytes each): its low nibbles are both outputs' weights
    /// 0..16, its high nibbles their weights 16..32, multiplied by x's halves duplicated.
    #[inline(always)]
    unsafe fn q4_sums<const R: usize, const VNNI: bool>(
        base: *const u8,
        dup: *const i8,
        xi: &[usize; R],
    ) -> [__m256i; R] {
        unsafe {
            let p01 = q4_pair::<R, VNNI>(base, dup, xi);
            let p23 = q4_pair::<R, VNNI>(base.add(BLOCK), dup, xi);
            let mut ab = p01;
            for r in 0..R {
                ab[r] = _mm256_hadd_epi32(p01[r], p23[r]);
            }
            let p45 = q4_pair::<R, VNNI>(base.add(2 * BLOCK), dup, xi);
            let p67 = q4_pair::<R, VNNI>(base.add(3 * BLOCK), dup, xi);
            // hadd(ab, cd) holds outputs [0, 2, 4, 6 | 1, 3, 5, 7].
            let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
            for r in 0..R {
                let cd = _mm256_hadd_epi32(p45[r], p67[r]);
                ab[r] = _mm256_permutevar8x32_epi32(_mm256_hadd_epi32(ab[r], cd), order);
            }
            ab
        }
    }

    /// R rows from r0 times panel p: `sums[r][j]`, output j of the panel.
    ///
    /// SAFETY (callers): AVX2 and FMA; panel p and rows r0..r0+R exist.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn panel<const Q4: bool, const R: usize>(
        w: &QPacked,
        x: &Q8Rows,
        p: usize,
        r0: usize,
        sums: &mut [[f32; LANES]; 4],
    ) {
        unsafe { panel_body::<Q4, R, false>(w, x, p, r0, sums) }
    }

    /// `panel` with AVX-512 VNNI's `vpdpbusd` (on 256-bit registers): one instruction
    /// multiplies, sums each four products and accumulates, where AVX2 takes three.
    ///
    /// SAFETY (callers): as `panel`, and AVX-512 VNNI and VL are present.
    #[target_feature(enable = "avx2,fma,avx512vnni,avx512vl")]
    pub(super) unsafe fn panel_vnni<const Q4: bool, const R: usize>(
        w: &QPacked,
        x: &Q8Rows,
        p: usize,
        r0: usize,
        sums: &mut [[f32; LANES]; 4],
    ) {
        unsafe { panel_body::<Q4, R, true>(w, x, p, r0, sums) }
    }

    /// Sum of each four adjacent u8 x i8 products of `u` and `s`, added to `acc`'s i32 lanes.
    /// Without VNNI a pair's i16 sum cannot overflow: the unsigned side is at most 128
    /// (Q8_0's |-128|; Q4_1's 15) and the signed one 127.
    #[inline(always)]
    unsafe fn dot4<const VNNI: bool>(acc: __m256i, u: __m256i, s: __m256i) -> __m256i {
        unsafe {
            if VNNI {
                _mm256_dpbusd_epi32(acc, u, s)
            } else {
                let pairs = _mm256_maddubs_epi16(u, s);
                _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)))
            }
        }
    }

    #[inline(always)]
    unsafe fn panel_body<const Q4: bool, const R: usize, const VNNI: bool>(
        w: &QPacked,
        x: &Q8Rows,
        p: usize,
        r0: usize,
        sums: &mut [[f32; LANES]; 4],
    ) {
        unsafe {
            let nb = w.cols / BLOCK;
            let vb = if Q4 { BLOCK / 2 } else { BLOCK };
            let mut acc = [_mm256_setzero_ps(); R];
            for blk in 0..nb {
                let i = (p * nb + blk) * LANES;
                let base = w.qs.as_ptr().add(i * vb);
                let mut xi = [0usize; R];
                for (r, v) in xi.iter_mut().enumerate() {
                    *v = (r0 + r) * nb + blk;
                }
                let s = if Q4 {
                    q4_sums::<R, VNNI>(base, x.dup.as_ptr(), &xi)
                } else {
                    q8_sums::<R, VNNI>(base, x.q.as_ptr(), &xi)
                };
                let dv = _mm256_loadu_ps(w.d.as_ptr().add(i));
                let mv = if Q4 {
                    _mm256_loadu_ps(w.m.as_ptr().add(i))
                } else {
                    _mm256_setzero_ps()
                };
                for r in 0..R {
                    let scale = _mm256_mul_ps(dv, _mm256_set1_ps(*x.d.get_unchecked(xi[r])));
                    acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[r]), scale, acc[r]);
                    if Q4 {
                        let xs = _mm256_set1_ps(*x.s.get_unchecked(xi[r]));
                        acc[r] = _mm256_fmadd_ps(mv, xs, acc[r]);
                    }
                }
            }
            for r in 0..R {
                _mm256_storeu_ps(sums[r].as_mut_ptr(), acc[r]);
            }
        }
    }
}

/// A weight as a model file holds it: f32 values (row-major), or quantised blocks.
#[derive(Debug, Clone)]
pub enum Weight {
    F32(Vec<f32>),
    Quant(QMatrix),
}

impl Weight {
    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            Weight::F32(v) => v.len(),
            Weight::Quant(q) => q.rows * q.cols,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values as f32.
    pub fn into_f32(self) -> Vec<f32> {
        match self {
            Weight::F32(v) => v,
            Weight::Quant(q) => q.dequantize(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The AVX2 and the VNNI kernels give the same sums bit for bit (the integer sums are
    /// exact, the float steps the same), and the portable loops agree with them; the
    /// oracle test in `tests/kernels/` runs whichever this CPU takes.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn every_kernel_gives_the_same_sums() {
        if !crate::ml::kernels::cpu::avx2_fma() {
            return;
        }
        let mut rng = crate::domain::SplitMix64::new(9);
        let mut r = || rng.next_f64() as f32 - 0.5;
        for kind in [QKind::Q4_1, QKind::Q8_0] {
            let (rows, cols, outs) = (4, 96, 8);
            let x: Vec<f32> = (0..rows * cols).map(|_| r()).collect();
            let w: Vec<f32> = (0..outs * cols).map(|_| r()).collect();
            let w = QPacked::new(&QMatrix::quantize(kind, &w, outs, cols));
            let x = Q8Rows::new(&x, rows, cols);
            let (mut plain, mut avx2, mut vnni) =
                ([[0f32; LANES]; 4], [[0f32; LANES]; 4], [[0f32; LANES]; 4]);
            portable_panel(&w, &x, 0, (0, 4), &mut plain);
            // SAFETY: AVX2 and FMA were detected; panel 0 and rows 0..4 exist.
            unsafe {
                match kind {
                    QKind::Q4_1 => avx2::panel::<true, 4>(&w, &x, 0, 0, &mut avx2),
                    QKind::Q8_0 => avx2::panel::<false, 4>(&w, &x, 0, 0, &mut avx2),
                }
            }
            for (a, b) in plain.iter().flatten().zip(avx2.iter().flatten()) {
                assert!(
                    (a - b).abs() <= 1e-5 * (1.0 + a.abs()),
                    "{kind:?}: {a} vs {b}"
                );
            }
            if crate::ml::kernels::cpu::avx512_vnni() {
                // SAFETY: VNNI and VL were detected too.
                unsafe {
                    match kind {
                        QKind::Q4_1 => avx2::panel_vnni::<true, 4>(&w, &x, 0, 0, &mut vnni),
                        QKind::Q8_0 => avx2::panel_vnni::<false, 4>(&w, &x, 0, 0, &mut vnni),
                    }
                }
                assert_eq!(avx2, vnni, "{kind:?}");
            }
        }
    }

    /// GGML's byte layout: the f16 scale (and minimum) first, nibbles low then high.
    #[test]
    fn ggml_blocks_read_as_llama_cpp_writes_them() {
        let f16 = |x: f32| half::f16::from_f32(x).to_le_bytes();
        let mut q4 = Vec::new();
        q4.extend(f16(0.5));
        q4.extend(f16(-1.0));
        q4.extend((0..16u8).map(|j| j | ((15 - j) << 4)));
        let w = QMatrix::from_ggml(QKind::Q4_1, 1, 32, &q4).unwrap();
        let v = w.dequantize();
        assert_eq!((v[0], v[3], v[16], v[31]), (-1.0, 0.5, 6.5, -1.0));

        let mut q8 = Vec::new();
        q8.extend(f16(0.25));
        q8.extend((0..32).map(|j| (j as i8 - 16) as u8));
        let w = QMatrix::from_ggml(QKind::Q8_0, 1, 32, &q8).unwrap();
        assert_eq!((w.dequantize()[0], w.dequantize()[31]), (-4.0, 3.75));

        let e = QMatrix::from_ggml(QKind::Q8_0, 2, 32, &q8).unwrap_err();
        assert!(e.contains("needs 68 bytes, the file has 34"), "{e}");
        let e = QMatrix::from_ggml(QKind::Q8_0, 1, 20, &q8).unwrap_err();
        assert!(e.contains("20 columns"), "{e}");
        // Rows pick and stack as whole rows of blocks.
        let two = QMatrix::stack(&[&w, &w]).unwrap();
        assert_eq!(two.select_rows(&[1]).dequantize(), w.dequantize());
    }
}
