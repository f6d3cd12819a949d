//! Gradient and oracle checks of the fused ops.

#[allow(unused_imports)]
use super::activations::gelu_f64;
#[allow(unused_imports)]
use super::*;
#[allow(unused_imports)]
use candle_core::{DType, Result, Tensor, D};

#[cfg(test)]
mod norm_tests {
    use super::*;
    use candle_core::{Device, Var};

    /// Central finite differences of `f` (a scalar function of `x`) against autograd.
    fn check_grad(f: impl Fn(&Tensor) -> Result<Tensor>, x0: &[f64], shape: &[usize]) {
        let dev = Device::Cpu;
        let x = Var::from_vec(x0.to_vec(), shape, &dev).unwrap();
        let y = f(x.as_tensor()).unwrap();
        let grads = y.backward().unwrap();
        let g: Vec<f64> = grads
            .get(x.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let h = 1e-6;
        for i in 0..x0.len() {
            let mut p = x0.to_vec();
            p[i] += h;
            let mut m = x0.to_vec();
            m[i] -= h;
            let fp: f64 = f(&Tensor::from_vec(p, shape, &dev).unwrap())
                .unwrap()
                .to_scalar()
                .unwrap();
            let fm: f64 = f(&Tensor::from_vec(m, shape, &dev).unwrap())
                .unwrap()
                .to_scalar()
                .unwrap();
            let num = (fp - fm) / (2.0 * h);
            assert!(
                (num - g[i]).abs() < 1e-6,
                "grad {i}: numeric {num} vs autograd {}",
                g[i]
            );
        }
    }

    fn weights(n: usize) -> Tensor {
        let w: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin()).collect();
        Tensor::from_vec(w, n, &Device::Cpu).unwrap()
    }

    #[test]
    fn softmax_gradient_matches_finite_differences() {
        let x0: Vec<f64> = (0..12).map(|i| (i as f64 * 0.7).cos()).collect();
        let w = weights(4);
        check_grad(
            |x| softmax_last_dim(x)?.broadcast_mul(&w)?.sum_all(),
            &x0,
            &[3, 4],
        );
    }

    #[test]
    fn layer_norm_gradient_matches_finite_differences() {
        let x0: Vec<f64> = (0..15).map(|i| (i as f64 * 1.3).sin() * 2.0).collect();
        let w = weights(5);
        let gamma = (weights(5) + 1.0).unwrap();
        let beta = weights(5);
        check_grad(
            |x| {
                layer_norm(x, &gamma, &beta, 1e-5)?
                    .broadcast_mul(&w)?
                    .sum_all()
            },
            &x0,
            &[3, 5],
        );
    }

    #[test]
    fn fused_forward_matches_composed() {
        let x = Tensor::from_vec(
            (0..20).map(|i| (i as f32).sin()).collect::<Vec<_>>(),
            (4, 5),
            &Device::Cpu,
        )
        .unwrap();
        let a = softmax_last_dim(&x).unwrap();
        let b = candle_nn::ops::softmax(&x, D::Minus1).unwrap();
        assert!(max_abs_diff(&a, &b).unwrap() < 1e-6);
    }
}

#[cfg(test)]
mod fused_tests {
    use super::*;
    use candle_core::{Device, Var};

    fn grad_check(f: impl Fn(&Tensor) -> Result<Tensor>, x0: Vec<f64>, shape: &[usize]) {
        grad_check_within(f, x0, shape, 1e-5)
    }

    /// The gradient of the scalar `f` at `x0` matches central differences within `tol`.
    pub(super) fn grad_check_within(
        f: impl Fn(&Tensor) -> Result<Tensor>,
        x0: Vec<f64>,
        shape: &[usize],
        tol: f64,
    ) {
        let dev = Device::Cpu;
        let x = Var::from_vec(x0.clone(), shape, &dev).unwrap();
        let g: Vec<f64> = f(x.as_tensor())
            .unwrap()
            .backward()
            .unwrap()
            .get(x.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        for i in 0..x0.len() {
            let at = |d: f64| -> f64 {
                let mut p = x0.clone();
                p[i] += d;
                f(&Tensor::from_vec(p, shape, &dev).unwrap())
                    .unwrap()
                    .to_scalar()
                    .unwrap()
            };
            let num = (at(1e-6) - at(-1e-6)) / 2e-6;
            assert!((num - g[i]).abs() < tol, "{i}: {num} vs {}", g[i]);
        }
    }

    fn w(n: usize) -> Tensor {
        Tensor::from_vec(
            (0..n).map(|i| (i as f64 * 0.61).sin()).collect::<Vec<_>>(),
            n,
            &Device::Cpu,
        )
        .unwrap()
    }

    #[test]
    fn masked_softmax_gradient_and_mask() {
        // (b=2, h=1, q=2, k=3); second batch row has its last key padded.
        let mask =
            Tensor::from_vec(vec![1.0f64, 1.0, 1.0, 1.0, 1.0, 0.0], (2, 3), &Device::Cpu).unwrap();
        let x0: Vec<f64> = (0..12).map(|i| (i as f64 * 0.9).cos()).collect();
        grad_check(
            |x| {
                masked_softmax(x, &mask, 0.7)?
                    .broadcast_mul(&w(3))?
                    .sum_all()
            },
            x0.clone(),
            &[2, 1, 2, 3],
        );
        let y: Vec<f64> = masked_softmax(
            &Tensor::from_vec(x0, (2, 1, 2, 3), &Device::Cpu).unwrap(),
            &mask,
            0.7,
        )
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
        assert_eq!(y[8], 0.0);
        assert!((y[6] + y[7] - 1.0).abs() < 1e-12);
    }

    #[test]
    fn gelu_f32_matches_candle_erf() {
        let x = Tensor::from_vec(
            (0..2001)
                .map(|i| i as f32 * 0.005 - 5.0)
                .collect::<Vec<_>>(),
            2001,
            &Device::Cpu,
        )
        .unwrap();
        let d: f32 = (gelu(&x).unwrap() - x.gelu_erf().unwrap())
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar()
            .unwrap();
        assert!(d < 2e-6, "{d}");
    }

    /// The f32 kernels' GELU, slope and gradient against the f64 (libm erf) reference.
    #[test]
    fn gelu_f32_kernels_match_the_f64_reference() {
        let x: Vec<f32> = (0..4801).map(|i| i as f32 * 0.005 - 12.0).collect();
        let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let ones = vec![1f64; x.len()];
        let (want, want_slope) = (gelu_f64(&x64, None), gelu_f64(&x64, Some(&ones)));
        let mut y = x.clone();
        let slope = gelu_in_place_with_slope(&mut y);
        let grad = gelu_f32(&x, Some(&vec![1f32; x.len()]));
        let plain = gelu_f32(&x, None);
        for i in 0..x.len() {
            let (w, ws) = (want[i] as f32, want_slope[i] as f32);
            assert!((y[i] - w).abs() < 2e-6, "gelu({}): {} vs {w}", x[i], y[i]);
            assert_eq!(y[i], plain[i], "in place and plain GELU at {}", x[i]);
            assert!(
                (slope[i] - ws).abs() < 2e-6,
                "slope at {}: {} vs {ws}",
                x[i],
                slope[i]
            );
            assert_eq!(slope[i], grad[i], "slope and gradient at {}", x[i]);
        }
    }

    #[test]
    fn gelu_matches_erf_and_gradient() {
        let x0: Vec<f64> = (0..9).map(|i| i as f64 * 0.7 - 3.0).collect();
        let x = Tensor::from_vec(x0.clone(), 9, &Device::Cpu).unwrap();
        let a: Vec<f64> = gelu(&x).unwrap().to_vec1().unwrap();
        let b: Vec<f64> = x.gelu_erf().unwrap().to_vec1().unwrap();
        for (p, q) in a.iter().zip(&b) {
            assert!((p - q).abs() < 1e-6, "{p} vs {q}");
        }
        grad_check(|x| gelu(x)?.mul(&w(9))?.sum_all(), x0, &[9]);
    }

    #[test]
    fn token_logprobs_match_log_softmax_and_finite_differences() {
        let targets = [2u32, 0, 3];
        let x0: Vec<f64> = (0..12).map(|i| (i as f64 * 1.3).sin() * 2.0).collect();
        let x = Tensor::from_vec(x0.clone(), (3, 4), &Device::Cpu).unwrap();
        let got: Vec<f64> = token_logprobs(&x, &targets).unwrap().to_vec1().unwrap();
        let ls: Vec<Vec<f64>> = candle_nn::ops::log_softmax(&x, D::Minus1)
            .unwrap()
            .to_vec2()
            .unwrap();
        for (i, &t) in targets.iter().enumerate() {
            assert!((got[i] - ls[i][t as usize]).abs() < 1e-12);
        }
        grad_check(
            |x| token_logprobs(x, &targets)?.mul(&w(3))?.sum_all(),
            x0,
            &[3, 4],
        );
    }

    /// The f32 kernels use `exp_f32` and eight-way sums: same values as candle's f32 ops.
    #[test]
    fn f32_log_softmax_and_softmax_match_candle() {
        let dev = Device::Cpu;
        let (rows, v) = (5, 1003);
        let x0: Vec<f32> = (0..rows * v)
            .map(|i| (i as f32 * 0.37).sin() * 9.0)
            .collect();
        let x = Tensor::from_vec(x0, (rows, v), &dev).unwrap();
        let targets: Vec<u32> = (0..rows as u32).map(|r| r * 101).collect();
        let got = token_logprobs(&x, &targets).unwrap();
        let idx = Tensor::new(targets.as_slice(), &dev)
            .unwrap()
            .unsqueeze(1)
            .unwrap();
        let want = candle_nn::ops::log_softmax(&x, D::Minus1)
            .unwrap()
            .gather(&idx, 1)
            .unwrap()
            .squeeze(1)
            .unwrap();
        assert!(max_abs_diff(&got, &want).unwrap() < 1e-4);
        let want = candle_nn::ops::softmax_last_dim(&x).unwrap();
        assert!(max_abs_diff(&softmax_last_dim(&x).unwrap(), &want).unwrap() < 1e-6);
    }

    #[test]
    fn bias_add_gradients() {
        let dev = Device::Cpu;
        let b = Var::from_vec(vec![0.1f64, -0.2, 0.3], 3, &dev).unwrap();
        let x = Var::from_vec((0..6).map(|i| i as f64).collect::<Vec<_>>(), (2, 3), &dev).unwrap();
        let y = bias_add(x.as_tensor(), b.as_tensor()).unwrap();
        let loss = y.broadcast_mul(&w(3)).unwrap().sum_all().unwrap();
        let g = loss.backward().unwrap();
        let gb: Vec<f64> = g.get(b.as_tensor()).unwrap().to_vec1().unwrap();
        let wv: Vec<f64> = w(3).to_vec1().unwrap();
        for i in 0..3 {
            assert!((gb[i] - 2.0 * wv[i]).abs() < 1e-12);
        }
    }

    /// Three sequences of three tokens: full, padded, and with no real token at all.
    #[test]
    fn masked_mean_pool_matches_the_composed_ops_and_finite_differences() {
        let dev = Device::Cpu;
        let mask = Tensor::new(&[[1f64, 1., 1.], [1., 0., 0.], [0., 0., 0.]], &dev).unwrap();
        let x0: Vec<f64> = (0..18).map(|i| (i as f64 * 0.37).cos()).collect();
        let x = Tensor::from_vec(x0.clone(), (9, 2), &dev).unwrap();
        let pooled: Vec<Vec<f64>> = masked_mean_pool(&x, &mask).unwrap().to_vec2().unwrap();
        assert_eq!(
            pooled[1],
            vec![x0[6], x0[7]],
            "one real token pools to itself"
        );
        assert_eq!(pooled[2], vec![0.0, 0.0], "no real token pools to zeros");
        let want = (x0[0] + x0[2] + x0[4]) / 3.0;
        assert!((pooled[0][0] - want).abs() < 1e-12);
        grad_check(
            |x| masked_mean_pool(x, &mask)?.broadcast_mul(&w(2))?.sum_all(),
            x0,
            &[9, 2],
        );
    }

    /// Values in [-0.5, 0.5), `n` at a time, from `seed`.
    fn uniform(seed: u64) -> impl FnMut(usize) -> Vec<f32> {
        let mut rng = crate::domain::SplitMix64::new(seed);
        move |n| (0..n).map(|_| rng.next_f64() as f32 - 0.5).collect()
    }

    /// `r + x w^T` as one product: the same values and gradients (x, w and r) as candle's.
    #[test]
    fn matmul_onto_and_its_gradients_match_candle() {
        let dev = Device::Cpu;
        let mut r = uniform(6);
        let x = Var::from_vec(r(7 * 20), (7, 20), &dev).unwrap();
        let w = Var::from_vec(r(13 * 20), (13, 20), &dev).unwrap();
        let onto = Var::from_vec(r(7 * 13), (7, 13), &dev).unwrap();
        let g = Tensor::from_vec(r(7 * 13), (7, 13), &dev).unwrap();
        let grads = |y: Tensor| {
            let gs = (y * &g).unwrap().sum_all().unwrap().backward().unwrap();
            [x.as_tensor(), w.as_tensor(), onto.as_tensor()].map(|t| gs.get(t).unwrap().clone())
        };
        let ours = matmul_onto(x.as_tensor(), &w.t().unwrap(), onto.as_tensor()).unwrap();
        let theirs = (onto.as_tensor() + x.matmul(&w.t().unwrap()).unwrap()).unwrap();
        assert!(max_abs_diff(&ours, &theirs).unwrap() < 1e-5);
        for (a, b) in grads(ours).iter().zip(grads(theirs).iter()) {
            assert!(max_abs_diff(a, b).unwrap() < 1e-5);
        }
        // A frozen weight (a plain tensor, as LoRA's base) gets no gradient.
        let frozen_t = w.as_tensor().detach().t().unwrap();
        let y = matmul_onto(x.as_tensor(), &frozen_t, onto.as_tensor()).unwrap();
        let gs = (y * &g).unwrap().sum_all().unwrap().backward().unwrap();
        assert!(gs.get(&frozen_t).is_none() && gs.get(x.as_tensor()).is_some());
        let y = matmul(x.as_tensor(), &frozen_t).unwrap();
        let gs = (y * &g).unwrap().sum_all().unwrap().backward().unwrap();
        assert!(gs.get(&frozen_t).is_none() && gs.get(x.as_tensor()).is_some());
    }

    #[test]
    fn matmul_and_its_gradients_match_candle_for_strided_inputs() {
        let dev = Device::Cpu;
        let mut r = uniform(5);
        let x = Var::from_vec(r(7 * 20), (7, 20), &dev).unwrap();
        let w = Var::from_vec(r(13 * 20), (13, 20), &dev).unwrap();
        let g = Tensor::from_vec(r(7 * 13), (7, 13), &dev).unwrap();
        let grads = |y: Tensor| {
            let gs = (y * &g).unwrap().sum_all().unwrap().backward().unwrap();
            [x.as_tensor(), w.as_tensor()].map(|t| gs.get(t).unwrap().clone())
        };
        let ours = matmul(x.as_tensor(), &w.t().unwrap()).unwrap();
        let theirs = x.matmul(&w.t().unwrap()).unwrap();
        assert!(max_abs_diff(&ours, &theirs).unwrap() < 1e-5);
        for (a, b) in grads(ours).iter().zip(grads(theirs).iter()) {
            assert!(max_abs_diff(a, b).unwrap() < 1e-5);
        }
    }
}

#[cfg(test)]
mod attention_tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn causal_attention_ignores_the_future_and_its_gradient_matches_finite_differences() {
        let dev = Device::Cpu;
        let (b, t, h, d) = (1, 4, 2, 4);
        let x0: Vec<f64> = (0..b * t * 3 * d)
            .map(|i| ((i * 5 % 11) as f64 * 0.41).cos())
            .collect();
        let mask = Tensor::ones((b, t), DType::F64, &dev).unwrap();
        let run = |x: Vec<f64>| -> Vec<Vec<f64>> {
            let x = Tensor::from_vec(x, (b * t, 3 * d), &dev).unwrap();
            causal_attention(&x, &mask, b, t, h)
                .unwrap()
                .to_vec2()
                .unwrap()
        };
        let base = run(x0.clone());
        // Changing the last position's q, k and v leaves every earlier output unchanged.
        let mut changed = x0.clone();
        for v in &mut changed[(t - 1) * 3 * d..] {
            *v += 0.5;
        }
        let other = run(changed);
        assert_eq!(base[..t - 1], other[..t - 1]);
        assert_ne!(base[t - 1], other[t - 1]);
        // The first position attends only to itself: its output is its own v.
        for j in 0..d {
            assert!((base[0][j] - x0[2 * d + j]).abs() < 1e-12);
        }
        let wt = Tensor::from_vec(
            (0..b * t * d)
                .map(|i| (i as f64 * 0.7).sin())
                .collect::<Vec<_>>(),
            (b * t, d),
            &dev,
        )
        .unwrap();
        let f = |x: &Tensor| causal_attention(x, &mask, b, t, h)?.mul(&wt)?.sum_all();
        super::fused_tests::grad_check_within(f, x0, &[b * t, 3 * d], 1e-6);
    }

    #[test]
    fn fused_attention_matches_composed_and_its_gradient_matches_finite_differences() {
        let dev = Device::Cpu;
        let (b, t, h, d) = (2, 3, 2, 4);
        let x0: Vec<f64> = (0..b * t * 3 * d)
            .map(|i| ((i * 7 % 13) as f64 * 0.37).sin())
            .collect();
        let mask = Tensor::from_vec(vec![1.0f64, 1.0, 1.0, 1.0, 1.0, 0.0], (b, t), &dev).unwrap();
        let w = Tensor::from_vec(
            (0..b * t * d)
                .map(|i| (i as f64 * 0.3).cos())
                .collect::<Vec<_>>(),
            (b * t, d),
            &dev,
        )
        .unwrap();
        let x = Tensor::from_vec(x0.clone(), (b * t, 3 * d), &dev).unwrap();
        // Composed reference.
        let dh = d / h;
        let split = |i: usize| {
            x.narrow(1, i * d, d)
                .unwrap()
                .reshape((b, t, h, dh))
                .unwrap()
                .transpose(1, 2)
                .unwrap()
                .contiguous()
                .unwrap()
        };
        let (q, k, v) = (split(0), split(1), split(2));
        let bias = ((mask.ones_like().unwrap() - &mask).unwrap() * -1e9)
            .unwrap()
            .reshape((b, 1, 1, t))
            .unwrap();
        let scores = ((q.matmul(&k.t().unwrap()).unwrap() * (1.0 / (dh as f64).sqrt())).unwrap())
            .broadcast_add(&bias)
            .unwrap();
        let reference = candle_nn::ops::softmax(&scores, D::Minus1)
            .unwrap()
            .matmul(&v)
            .unwrap()
            .transpose(1, 2)
            .unwrap()
            .reshape((b * t, d))
            .unwrap();
        let fused = attention(&x, &mask, b, t, h).unwrap();
        let diff: f64 = (fused - reference)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar()
            .unwrap();
        assert!(diff < 1e-12, "{diff}");
        // Gradient.
        let f = |x: &Tensor| attention(x, &mask, b, t, h)?.mul(&w)?.sum_all();
        super::fused_tests::grad_check_within(f, x0, &[b * t, 3 * d], 1e-6);
    }
}

/// The Llama decoder's fused row ops against the same maths in candle's own ops, values and
/// every gradient, in f64 (exact maths) and f32 (the fast exp).
#[cfg(test)]
mod decoder_ops_tests {
    use super::*;
    use candle_core::{Device, Var};

    fn vars(seed: u64, shapes: &[&[usize]], dtype: DType) -> Vec<Var> {
        let mut rng = crate::domain::SplitMix64::new(seed);
        shapes
            .iter()
            .map(|s| {
                let n: usize = s.iter().product();
                let v: Vec<f64> = (0..n).map(|_| rng.next_f64() * 2.0 - 1.0).collect();
                let t = Tensor::from_vec(v, *s, &Device::Cpu).unwrap();
                Var::from_tensor(&t.to_dtype(dtype).unwrap()).unwrap()
            })
            .collect()
    }

    /// `f`'s output and the gradients of `sum(f * weights)` for every input, fused and composed,
    /// agree within `tol`.
    fn same_as_composed(
        inputs: &[Var],
        fused: impl Fn(&[&Tensor]) -> Result<Tensor>,
        composed: impl Fn(&[&Tensor]) -> Result<Tensor>,
        tol: f32,
    ) {
        let ts: Vec<&Tensor> = inputs.iter().map(|v| v.as_tensor()).collect();
        let (a, b) = (fused(&ts).unwrap(), composed(&ts).unwrap());
        assert_eq!(a.dims(), b.dims());
        let n = a.elem_count();
        let wts = Tensor::from_vec(
            (0..n).map(|i| (i as f64 * 0.37).sin()).collect::<Vec<_>>(),
            a.shape(),
            &Device::Cpu,
        )
        .unwrap()
        .to_dtype(a.dtype())
        .unwrap();
        assert!(max_abs_diff(&a, &b).unwrap() < tol, "outputs differ");
        let ga = (a * &wts).unwrap().sum_all().unwrap().backward().unwrap();
        let gb = (b * &wts).unwrap().sum_all().unwrap().backward().unwrap();
        for (i, t) in ts.iter().enumerate() {
            let (x, y) = (ga.get(t).unwrap(), gb.get(t).unwrap());
            assert_eq!(x.dims(), y.dims());
            let diff = max_abs_diff(x, y).unwrap();
            assert!(diff < tol, "input {i}: gradients differ by {diff}");
            assert!(max_abs_diff(x, &x.zeros_like().unwrap()).unwrap() > 0.0);
        }
    }

    #[test]
    fn rms_norm_matches_the_composed_ops() {
        for (dtype, tol) in [(DType::F64, 1e-10), (DType::F32, 1e-5)] {
            let v = vars(1, &[&[37, 20], &[20]], dtype);
            same_as_composed(
                &v,
                |t| rms_norm(t[0], t[1], 1e-5),
                |t| rms_norm_composed(t[0], t[1], 1e-5),
                tol,
            );
        }
        // A frozen weight (LoRA's base) gets no gradient; the input's still matches.
        let v = vars(2, &[&[5, 8]], DType::F64);
        let w = vars(3, &[&[8]], DType::F64)[0].as_tensor().detach();
        let x = v[0].as_tensor();
        let gs = rms_norm(x, &w, 1e-6)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        assert!(gs.get(&w).is_none());
        let want = rms_norm_composed(x, &w, 1e-6)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        assert!(max_abs_diff(gs.get(x).unwrap(), want.get(x).unwrap()).unwrap() < 1e-12);
    }

    #[test]
    fn rope_qkv_matches_the_composed_ops_with_and_without_grouped_heads() {
        // Any tables will do: both forms read cos and sin at every (position, dim).
        let (b, t, dh) = (2, 5, 6);
        let cos: Vec<f32> = (0..t * dh).map(|i| (i as f32 * 0.3).cos()).collect();
        let sin: Vec<f32> = (0..t * dh).map(|i| (i as f32 * 0.7).sin()).collect();
        let rope = Rope {
            cos,
            sin,
            seq: t,
            head_dim: dh,
        };
        for (heads, kv) in [(4, 2), (4, 4), (3, 1)] {
            for (dtype, tol) in [(DType::F64, 1e-10), (DType::F32, 1e-5)] {
                let v = vars(
                    heads as u64,
                    &[&[b * t, heads * dh], &[b * t, kv * dh], &[b * t, kv * dh]],
                    dtype,
                );
                same_as_composed(
                    &v,
                    |x| rope_qkv(x[0], x[1], x[2], &rope, heads, kv),
                    |x| rope_qkv_composed(x[0], x[1], x[2], &rope, heads, kv),
                    tol,
                );
            }
        }
    }

    #[test]
    fn swiglu_matches_the_composed_ops() {
        for (dtype, tol) in [(DType::F64, 1e-12), (DType::F32, 1e-5)] {
            let v = vars(4, &[&[9, 70], &[9, 70]], dtype);
            // Large gates too, where the sigmoid saturates.
            let gate = (v[0].as_tensor() * 12.0).unwrap();
            let gate = Var::from_tensor(&gate).unwrap();
            let v = [gate, v[1].clone()];
            same_as_composed(
                &v,
                |x| swiglu(x[0], x[1]),
                |x| swiglu_composed(x[0], x[1]),
                tol,
            );
        }
    }
}
