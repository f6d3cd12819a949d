//! Kernel checks against plain loops, shared by `kernels_native.rs` (the AVX2 paths where the
//! CPU has them) and `kernels_portable.rs` (the same checks with `KIBBLE_PORTABLE=1`).

use candle_core::{Device, Tensor, Var};
use kibble::domain::SplitMix64;
use kibble::ml::kernels::blocked::{matmul, product_bias_residual, View};
use kibble::ml::kernels::panels::{linear, Packed};
use kibble::ml::kernels::quant::{qlinear, Q8Rows, QKind, QMatrix, QPacked};

fn rand(rng: &mut SplitMix64, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.next_f64() as f32 - 0.5).collect()
}

/// (a, (row stride, column stride)) for a plain product.
type Strided<'a> = (&'a [f32], (usize, usize));

fn naive(
    (a, (a_rs, a_cs)): Strided,
    (b, (b_rs, b_cs)): Strided,
    (m, k, n): (usize, usize, usize),
) -> Vec<f64> {
    let mut c = vec![0f64; m * n];
    for i in 0..m {
        for j in 0..n {
            for l in 0..k {
                c[i * n + j] += a[i * a_rs + l * a_cs] as f64 * b[l * b_rs + j * b_cs] as f64;
            }
        }
    }
    c
}

/// The blocked GEMM, row- and column-major operands (the column packing path), tile edges,
/// a residual; sizes that take the parallel row split.
pub fn gemm_matches_plain_loops() {
    let mut rng = SplitMix64::new(3);
    for (m, k, n) in [
        (1, 1, 1),
        (6, 16, 16),
        (12, 64, 32),
        (13, 300, 35),
        (97, 129, 70),
    ] {
        let a = rand(&mut rng, m * k);
        let b = rand(&mut rng, k * n);
        let res = rand(&mut rng, m * n);
        for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
            let (av, (ars, acs)) = if ta {
                (View::row_major(&a, k, m).t(), (1, m))
            } else {
                (View::row_major(&a, m, k), (k, 1))
            };
            let (bv, (brs, bcs)) = if tb {
                (View::row_major(&b, n, k).t(), (1, k))
            } else {
                (View::row_major(&b, k, n), (n, 1))
            };
            let want = naive((&a, (ars, acs)), (&b, (brs, bcs)), (m, k, n));
            let mut c = vec![f32::NAN; m * n];
            matmul(av, bv, &mut c, false);
            let mut acc = res.clone();
            matmul(av, bv, &mut acc, true);
            let bias = vec![0.25f32; n];
            let with = product_bias_residual(av, bv, &bias, &res);
            let tol = 1e-4 * (k as f64).sqrt();
            for i in 0..m * n {
                assert!(
                    (c[i] as f64 - want[i]).abs() < tol,
                    "{m}x{k}x{n} {ta}{tb} [{i}]"
                );
                let onto = want[i] + res[i] as f64;
                assert!(
                    (acc[i] as f64 - onto).abs() < tol,
                    "accumulate {m}x{k}x{n} [{i}]"
                );
                let w = want[i] + 0.25 + res[i] as f64;
                assert!(
                    (with[i] as f64 - w).abs() < tol,
                    "residual {m}x{k}x{n} [{i}]"
                );
            }
        }
    }
}

/// The sampler's packed-panel product at sizes that take its parallel and multi-tile paths,
/// every row-group size (1 to 6 and 8) and a last panel padded with zero rows.
pub fn panels_match_plain_loops() {
    let mut rng = SplitMix64::new(5);
    for (rows, d_in, d_out) in [
        (1, 8, 8),
        (3, 64, 20),
        (8, 576, 1536),
        (7, 4096, 70),
        (13, 300, 260),
    ] {
        let w = rand(&mut rng, d_out * d_in);
        let x = rand(&mut rng, rows * d_in);
        let b = rand(&mut rng, d_out);
        let p = Packed::new(&w, d_out, d_in);
        let y = linear(&x, rows, &p, &b);
        let want = naive((&x, (d_in, 1)), (&w, (1, d_in)), (rows, d_in, d_out));
        let tol = 1e-4 * (d_in as f64).sqrt();
        for (i, (got, want)) in y.iter().zip(&want).enumerate() {
            let o = i % d_out;
            assert!(
                (*got as f64 - (want + b[o] as f64)).abs() < tol,
                "{rows}x{d_in}->{d_out} [{}, {o}]",
                i / d_out
            );
        }
    }
}

/// Attention by plain loops in f64: qkv (b*t, 3d), key mask (b, t), heads of width d / h.
fn attention_reference(
    qkv: &[f64],
    mask: &[f64],
    b: usize,
    t: usize,
    h: usize,
    d: usize,
) -> Vec<f64> {
    let dh = d / h;
    let mut out = vec![0f64; b * t * d];
    for bi in 0..b {
        for hi in 0..h {
            for i in 0..t {
                let q = |c: usize| qkv[(bi * t + i) * 3 * d + hi * dh + c];
                let mut scores = vec![f64::NEG_INFINITY; t];
                for (j, s) in scores.iter_mut().enumerate() {
                    if mask[bi * t + j] > 0.5 {
                        let k = |c: usize| qkv[(bi * t + j) * 3 * d + d + hi * dh + c];
                        *s = (0..dh).map(|c| q(c) * k(c)).sum::<f64>() / (dh as f64).sqrt();
                    }
                }
                let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let z: f64 = e.iter().sum();
                for c in 0..dh {
                    out[(bi * t + i) * d + hi * dh + c] = (0..t)
                        .map(|j| e[j] / z * qkv[(bi * t + j) * 3 * d + 2 * d + hi * dh + c])
                        .sum();
                }
            }
        }
    }
    out
}

/// The fused attention op (forward and its hand-written backward) against plain loops, at head
/// dimension 64, seven positions (a partial 6 x 16 tile), a padded key, two heads.
pub fn attention_matches_plain_loops() {
    let (b, t, h, d) = (2, 7, 2, 128);
    let mut rng = SplitMix64::new(9);
    let qkv: Vec<f32> = rand(&mut rng, b * t * 3 * d);
    let mut mask = vec![1f32; b * t];
    mask[t - 1] = 0.0; // the first sequence's last key is padding
    let w: Vec<f32> = rand(&mut rng, b * t * d);
    let dev = Device::Cpu;
    let x = Var::from_vec(qkv.clone(), (b * t, 3 * d), &dev).unwrap();
    let m = Tensor::from_vec(mask.clone(), (b, t), &dev).unwrap();
    let out = kibble::ml::kernels::attention(x.as_tensor(), &m, b, t, h).unwrap();
    let got: Vec<f32> = out.flatten_all().unwrap().to_vec1().unwrap();
    let q64: Vec<f64> = qkv.iter().map(|v| *v as f64).collect();
    let m64: Vec<f64> = mask.iter().map(|v| *v as f64).collect();
    let want = attention_reference(&q64, &m64, b, t, h, d);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!((*g as f64 - w).abs() < 1e-5, "out[{i}]: {g} vs {w}");
    }
    // Gradient of sum(w * out) against central differences of the f64 reference.
    let wt = Tensor::from_vec(w.clone(), (b * t, d), &dev).unwrap();
    let loss = (out * wt).unwrap().sum_all().unwrap();
    let grads = loss.backward().unwrap();
    let g: Vec<f32> = grads
        .get(x.as_tensor())
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let f = |p: &[f64]| -> f64 {
        attention_reference(p, &m64, b, t, h, d)
            .iter()
            .zip(&w)
            .map(|(o, w)| o * *w as f64)
            .sum()
    };
    for _ in 0..40 {
        let i = (rng.next_u64() % q64.len() as u64) as usize;
        let (mut up, mut down) = (q64.clone(), q64.clone());
        up[i] += 1e-5;
        down[i] -= 1e-5;
        let num = (f(&up) - f(&down)) / 2e-5;
        assert!(
            (g[i] as f64 - num).abs() < 1e-3,
            "d qkv[{i}]: {} vs {num}",
            g[i]
        );
    }
}

/// GELU, layer norm and the masked softmax against their formulas.
pub fn row_ops_match_their_formulas() {
    let dev = Device::Cpu;
    let mut rng = SplitMix64::new(13);
    let xs = rand(&mut rng, 3 * 40);
    let x = Tensor::from_vec(
        xs.iter().map(|v| v * 8.0).collect::<Vec<f32>>(),
        (3, 40),
        &dev,
    )
    .unwrap();
    let g: Vec<f32> = kibble::ml::kernels::gelu(&x)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let xv: Vec<f32> = x.flatten_all().unwrap().to_vec1().unwrap();
    for (o, v) in g.iter().zip(&xv) {
        let v = *v as f64;
        let want = 0.5 * v * (1.0 + erf(v / std::f64::consts::SQRT_2));
        assert!(
            (*o as f64 - want).abs() < 1e-5,
            "gelu({v}) = {o}, want {want}"
        );
    }
    let ones = Tensor::ones(40, candle_core::DType::F32, &dev).unwrap();
    let zeros = Tensor::zeros(40, candle_core::DType::F32, &dev).unwrap();
    let ln: Vec<f32> = kibble::ml::kernels::layer_norm(&x, &ones, &zeros, 1e-5)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    for r in 0..3 {
        let row: Vec<f64> = xv[r * 40..(r + 1) * 40].iter().map(|v| *v as f64).collect();
        let mean = row.iter().sum::<f64>() / 40.0;
        let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 40.0;
        for (c, v) in row.iter().enumerate() {
            let want = (v - mean) / (var + 1e-5).sqrt();
            assert!(
                (ln[r * 40 + c] as f64 - want).abs() < 1e-4,
                "layer norm [{r},{c}]"
            );
        }
    }
}

/// erf by its series (enough terms for |x| < 6 in f64).
fn erf(x: f64) -> f64 {
    if x.abs() > 5.5 {
        return x.signum();
    }
    let mut sum = 0.0;
    let mut term = x;
    let mut n = 0.0;
    while term.abs() > 1e-17 || n < 5.0 {
        sum += term / (2.0 * n + 1.0);
        n += 1.0;
        term *= -x * x / n;
        if n > 200.0 {
            break;
        }
    }
    sum * 2.0 / std::f64::consts::PI.sqrt()
}

/// Quantised products (Q4_1 and Q8_0 weights, inputs rounded to 8-bit blocks) against plain
/// loops over the same rounded values: every row-group size, output counts that are not a
/// multiple of four, biases, and sizes that split over threads.
pub fn quantised_products_match_plain_loops() {
    let mut rng = SplitMix64::new(5);
    for kind in [QKind::Q4_1, QKind::Q8_0] {
        for (rows, d_in, d_out, bias) in [
            (1, 32, 5, false),
            (2, 64, 9, true),
            (3, 96, 17, false),
            (4, 64, 6, true),
            (5, 64, 33, true),
            (7, 32, 3, false),
            (8, 128, 70, false),
            (13, 64, 300, true),
        ] {
            let x = rand(&mut rng, rows * d_in);
            let w = rand(&mut rng, d_out * d_in);
            let b = if bias {
                rand(&mut rng, d_out)
            } else {
                Vec::new()
            };
            let q = QMatrix::quantize(kind, &w, d_out, d_in);
            let y = qlinear(&x, rows, &QPacked::new(&q), &b);
            let (xs, ws) = (Q8Rows::new(&x, rows, d_in).dequantize(), q.dequantize());
            let want = naive((&xs, (d_in, 1)), (&ws, (1, d_in)), (rows, d_in, d_out));
            for i in 0..rows {
                for o in 0..d_out {
                    let want = want[i * d_out + o] + b.get(o).copied().unwrap_or(0.0) as f64;
                    let got = y[i * d_out + o] as f64;
                    assert!(
                        (got - want).abs() <= 1e-4 * (1.0 + want.abs()),
                        "{kind:?} {rows}x{d_in}x{d_out} [{i},{o}]: {got} vs {want}"
                    );
                }
            }
            // Rounding moves each weight by at most half a step.
            for (a, r) in w.iter().zip(&ws) {
                let step = match kind {
                    QKind::Q4_1 => 1.0 / 15.0,
                    QKind::Q8_0 => 0.5 / 127.0,
                };
                assert!((a - r).abs() <= step * 0.51 + 1e-6, "{kind:?}: {a} -> {r}");
            }
        }
    }
}
