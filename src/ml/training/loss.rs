//! Reward-model losses on rewards `r` (one per sequence). Every loss is a weighted mean, and
//! the weights make each ranking count once whatever its K (as InstructGPT does).
//!
//! Ties, when modelled, use Davidson's (1970) tie probability rather than Rao-Kupper's
//! (decisive pairs keep Bradley-Terry with their margin, see `bt_with_ties`): with
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

/// Each pair's own likelihood: Bradley-Terry with its margin where one answer won
/// (`-log σ(r_a - r_b - margin)`), Davidson's tie probability where it is a tie (`tie` = 1).
/// A tie elsewhere in the batch changes nothing for a decisive pair.
pub fn bt_with_ties(
    first: &Tensor,
    second: &Tensor,
    margin: &Tensor,
    tie: &Tensor,
    weights: &Tensor,
) -> Result<Tensor> {
    let d = (first - second)?;
    let win = log_sigmoid(&(&d - margin)?)?;
    let half = (&d * 0.5)?;
    let log_nu = half.zeros_like()?; // nu = 1
    let stacked = Tensor::stack(&[&half, &half.neg()?, &log_nu], D::Minus1)?;
    let log_tie = (&log_nu - stacked.log_sum_exp(D::Minus1)?)?;
    let ll = ((tie * &log_tie)? + ((tie.ones_like()? - tie)? * &win)?)?;
    weighted_mean(&ll.neg()?, weights)
}

/// Plackett-Luce on full rankings. `order` lists sequence indices best first per ranking,
/// with `groups` giving tie groups (Breslow: tied items choose among the same remaining set).
/// Each ranking's terms are divided by their number, so each ranking counts once (a tied last
/// group gives a term per member, not one).
pub fn plackett_luce(
    rewards: &Tensor,
    rankings: &[Vec<Vec<usize>>],
    weights: &[f32],
) -> Result<Tensor> {
    let mut terms = Vec::new();
    for (groups, w) in rankings.iter().zip(weights) {
        let flat: Vec<usize> = groups.iter().flatten().copied().collect();
        let mut mine = Vec::new();
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
                mine.push((lse.clone() - ri)?);
            }
            start += g.len();
        }
        let n = mine.len().max(1) as f64;
        for t in mine {
            terms.push((t * (*w as f64 / n))?);
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
    fn ties_get_davidson_and_decisive_pairs_keep_bt_with_their_margin() {
        check(
            |x| {
                let a = x.narrow(0, 0, 3)?;
                let b = x.narrow(0, 3, 3)?;
                bt_with_ties(
                    &a,
                    &b,
                    &t(&[0.5, 0.0, 1.0]),
                    &t(&[0.0, 1.0, 0.0]),
                    &t(&[1.0, 1.0, 0.5]),
                )
            },
            &X,
        );
        let scalar = |l: Tensor| -> f64 { l.to_scalar().unwrap() };
        // At d = 0 a tie has probability 1/3.
        let l = scalar(
            bt_with_ties(&t(&[0.0]), &t(&[0.0]), &t(&[0.0]), &t(&[1.0]), &t(&[1.0])).unwrap(),
        );
        assert!((l - 3f64.ln()).abs() < 1e-12);
        // A decisive pair with a margin beside a tie: its term is BT's, by hand.
        let (ra, rb, m) = (1.5f64, 0.2, 0.5);
        let bt_term = (1.0 + (-(ra - rb - m)).exp()).ln();
        let d: f64 = 0.3 - 0.1;
        let tie_term = ((d / 2.0).exp() + (-d / 2.0).exp() + 1.0).ln();
        let both = scalar(
            bt_with_ties(
                &t(&[ra, 0.3]),
                &t(&[rb, 0.1]),
                &t(&[m, 0.0]),
                &t(&[0.0, 1.0]),
                &t(&[1.0, 1.0]),
            )
            .unwrap(),
        );
        assert!((both - (bt_term + tie_term) / 2.0).abs() < 1e-12, "{both}");
    }

    #[test]
    fn plackett_luce_counts_a_ranking_once_even_with_a_tied_last_group() {
        // Equal rewards: every term is log(size of its choice set), so the loss of one ranking
        // is the mean of its terms. [[0],[1,2]]: (ln 3 + ln 2 + ln 2) / 3, weight 1.
        let r = t(&[0.0, 0.0, 0.0]);
        let l: f64 = plackett_luce(&r, &[vec![vec![0], vec![1, 2]]], &[1.0])
            .unwrap()
            .to_scalar()
            .unwrap();
        let want = (3f64.ln() + 2.0 * 2f64.ln()) / 3.0;
        assert!((l - want).abs() < 1e-12, "{l} vs {want}");
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
