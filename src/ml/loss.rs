//! Reward-model losses on rewards `r` (one per sequence). Every loss is a weighted mean, and
//! the weights make each ranking count once whatever its K (as InstructGPT does).
//!
//! Ties, when modelled, use Davidson's (1970) model rather than Rao-Kupper: with
//! d = r_i - r_j, P(i wins) = e^{d/2} / (e^{d/2} + e^{-d/2} + nu) and P(tie) = nu / (same).
//! It needs no threshold, leaves BT's log-odds between the two wins unchanged
//! (P(i)/P(j) = e^d), and a tie simply pulls the two rewards together. nu = 1 (P(tie) = 1/3 at d = 0).

use candle_core::{Result, Tensor, D};

/// log(sigmoid(x)) = -softplus(-x), computed stably.
fn log_sigmoid(x: &Tensor) -> Result<Tensor> {
    // -softplus(-x) = min(x, 0) - log(1 + exp(-|x|))
    let neg_part = x.minimum(&x.zeros_like()?)?;
    neg_part - (x.abs()?.neg()?.exp()? + 1.0)?.log()?
}

fn weighted_mean(per_item: &Tensor, weights: &Tensor) -> Result<Tensor> {
    let total = weights
        .sum_all()?
        .to_dtype(candle_core::DType::F64)?
        .to_scalar::<f64>()?;
    (per_item * weights)?.sum_all()? / total.max(1e-12)
}

/// Bradley-Terry: mean of `w * -log sigmoid(r_chosen - r_rejected - margin)`.
pub fn bradley_terry(
    chosen: &Tensor,
    rejected: &Tensor,
    margin: &Tensor,
    weights: &Tensor,
) -> Result<Tensor> {
    let d = ((chosen - rejected)? - margin)?;
    weighted_mean(&log_sigmoid(&d)?.neg()?, weights)
}

/// Davidson's tie-aware likelihood on pairs; `tie` is 1 for a tie, 0 for "first wins".
pub fn davidson(first: &Tensor, second: &Tensor, tie: &Tensor, weights: &Tensor) -> Result<Tensor> {
    let half = ((first - second)? * 0.5)?;
    let log_nu = half.zeros_like()?; // nu = 1
                                     // log(e^{d/2} + e^{-d/2} + nu), stably, over a stacked last dimension.
    let stacked = Tensor::stack(&[&half, &half.neg()?, &log_nu], D::Minus1)?;
    let lse = stacked.log_sum_exp(D::Minus1)?;
    let log_win = (&half - &lse)?;
    let log_tie = (&log_nu - &lse)?;
    let ll = ((tie * &log_tie)? + ((tie.ones_like()? - tie)? * &log_win)?)?;
    weighted_mean(&ll.neg()?, weights)
}

/// Plackett-Luce on full rankings. `order` lists sequence indices best first per ranking,
/// with `groups` giving tie groups (Breslow: tied items choose among the same remaining set).
/// Each ranking's term is divided by its number of choices, so each counts once.
pub fn plackett_luce(
    rewards: &Tensor,
    rankings: &[Vec<Vec<usize>>],
    weights: &[f32],
) -> Result<Tensor> {
    let mut terms = Vec::new();
    for (groups, w) in rankings.iter().zip(weights) {
        let flat: Vec<usize> = groups.iter().flatten().copied().collect();
        let n_choices = flat.len().saturating_sub(1).max(1) as f64;
        let mut start = 0;
        for g in groups {
            let rest: Vec<u32> = flat[start..].iter().map(|&i| i as u32).collect();
            if rest.len() < 2 {
                break;
            }
            let idx = Tensor::from_vec(rest.clone(), rest.len(), rewards.device())?;
            let lse = rewards.index_select(&idx, 0)?.log_sum_exp(0)?;
            for &i in g {
                let ri = rewards.narrow(0, i, 1)?.squeeze(0)?;
                terms.push(((lse.clone() - ri)? * (*w as f64 / n_choices))?);
            }
            start += g.len();
        }
    }
    let total: f64 = weights.iter().map(|w| *w as f64).sum::<f64>().max(1e-12);
    if terms.is_empty() {
        return rewards.sum_all()? * 0.0;
    }
    Tensor::stack(&terms, 0)?.sum_all()? / total
}

/// Reward centring: `lambda * mean(w * (r_chosen + r_rejected)^2)`, keeps rewards near zero.
pub fn centring(
    chosen: &Tensor,
    rejected: &Tensor,
    weights: &Tensor,
    lambda: f64,
) -> Result<Tensor> {
    weighted_mean(&(chosen + rejected)?.sqr()?, weights)? * lambda
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device, Var};

    /// Autograd against central finite differences for a scalar loss of `x` (f64).
    fn check(f: impl Fn(&Tensor) -> Result<Tensor>, x0: &[f64]) {
        let dev = Device::Cpu;
        let x = Var::from_vec(x0.to_vec(), x0.len(), &dev).unwrap();
        let grads = f(x.as_tensor()).unwrap().backward().unwrap();
        let g: Vec<f64> = grads.get(x.as_tensor()).unwrap().to_vec1().unwrap();
        let h = 1e-6;
        for i in 0..x0.len() {
            let at = |delta: f64| -> f64 {
                let mut p = x0.to_vec();
                p[i] += delta;
                f(&Tensor::from_vec(p, x0.len(), &dev).unwrap())
                    .unwrap()
                    .to_scalar()
                    .unwrap()
            };
            let num = (at(h) - at(-h)) / (2.0 * h);
            assert!(
                (num - g[i]).abs() < 1e-6,
                "d/dx{i}: numeric {num}, autograd {}",
                g[i]
            );
        }
    }

    fn t(v: &[f64]) -> Tensor {
        Tensor::from_vec(v.to_vec(), v.len(), &Device::Cpu).unwrap()
    }

    const X: [f64; 6] = [0.3, -1.2, 2.0, 0.5, -0.7, 1.1];

    #[test]
    fn bt_gradient() {
        check(
            |x| {
                let c = x.narrow(0, 0, 3)?;
                let r = x.narrow(0, 3, 3)?;
                bradley_terry(&c, &r, &t(&[0.0, 1.0, 2.0]), &t(&[0.5, 0.25, 0.25]))
            },
            &X,
        );
    }

    #[test]
    fn davidson_gradient_and_values() {
        check(
            |x| {
                let a = x.narrow(0, 0, 3)?;
                let b = x.narrow(0, 3, 3)?;
                davidson(&a, &b, &t(&[0.0, 1.0, 0.0]), &t(&[1.0, 1.0, 0.5]))
            },
            &X,
        );
        // At d = 0 a tie has probability 1/3.
        let l: f64 = davidson(&t(&[0.0]), &t(&[0.0]), &t(&[1.0]), &t(&[1.0]))
            .unwrap()
            .to_scalar()
            .unwrap();
        assert!((l - 3f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn plackett_luce_gradient_and_two_item_case_is_bt() {
        let rankings = vec![vec![vec![2], vec![0, 1], vec![3]], vec![vec![5], vec![4]]];
        check(|x| plackett_luce(x, &rankings, &[1.0, 0.5]), &X);
        // With K = 2, PL is exactly BT.
        let r = t(&[1.0, 0.2]);
        let pl: f64 = plackett_luce(&r, &[vec![vec![0], vec![1]]], &[1.0])
            .unwrap()
            .to_scalar()
            .unwrap();
        let bt: f64 = bradley_terry(&t(&[1.0]), &t(&[0.2]), &t(&[0.0]), &t(&[1.0]))
            .unwrap()
            .to_scalar()
            .unwrap();
        assert!((pl - bt).abs() < 1e-12);
    }

    #[test]
    fn centring_gradient() {
        check(
            |x| {
                centring(
                    &x.narrow(0, 0, 3)?,
                    &x.narrow(0, 3, 3)?,
                    &t(&[1.0, 1.0, 2.0]),
                    0.01,
                )
            },
            &X,
        );
    }

    #[test]
    fn log_sigmoid_is_stable() {
        let v: Vec<f32> = log_sigmoid(&Tensor::new(&[-200f32, 0.0, 200.0], &Device::Cpu).unwrap())
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap()
            .to_vec1()
            .unwrap();
        assert!(v.iter().all(|x| x.is_finite()));
        assert!((v[0] + 200.0).abs() < 1e-3);
    }
}
