//! Annotation quality from the ranking log: position bias, pairwise agreement between
//! annotators, Krippendorff's alpha (ordinal), and agreement with gold answers. Pure functions.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::domain::{CandidateId, PromptId, Ranking, RankingMode, Verdict};

mod series;

pub use series::*;

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct AnnotatorQuality {
    pub name: String,
    /// Full rankings this is measured on.
    pub ranked: usize,
    /// How often the first-shown answer was ranked best (ties share the credit).
    pub first_shown_best: Option<f64>,
    /// What `first_shown_best` would be with no position bias: mean of 1/K.
    pub first_shown_chance: Option<f64>,
    /// Share of candidate pairs ordered the same way as other annotators on shared prompts.
    pub agreement_with_others: Option<f64>,
    pub compared_pairs: usize,
    /// Share of candidate pairs ordered as the gold answer orders them.
    pub gold_agreement: Option<f64>,
    pub gold_pairs: usize,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Agreement {
    /// Prompts with full rankings by two or more annotators.
    pub shared_prompts: usize,
    pub pairwise_agreement: Option<f64>,
    pub krippendorff_alpha_ordinal: Option<f64>,
    pub annotators: Vec<AnnotatorQuality>,
}

/// One criterion of the task: how much it was judged, how much annotators agree on it, and
/// how well its newest reward model does on held-out judgements.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct CriterionQuality {
    pub criterion: String,
    /// `rank` or `rate LO-HI`.
    pub kind: String,
    /// Live decisions with a judgement on this criterion.
    pub decisions: usize,
    pub shared_prompts: usize,
    /// Pairs ordered alike by two annotators (for ratings: the order the points imply).
    pub pairwise_agreement: Option<f64>,
    /// Krippendorff's alpha: ordinal on ranks for rankings, interval on points for ratings.
    pub alpha: Option<f64>,
    pub alpha_metric: &'static str,
    /// Held-out pairwise accuracy of the newest reward model on this criterion.
    pub rm_accuracy: Option<f64>,
}

/// The header of `CriterionQuality::row`'s table.
pub const CRITERIA_HEADER: &str =
    "criterion      kind       decisions shared  pairwise  alpha            RM acc";

impl CriterionQuality {
    /// One line of the per-criterion table (`kibble stats`, the Data screen).
    pub fn row(&self) -> String {
        let pct = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{:.0}%", x * 100.0));
        let alpha = self
            .alpha
            .map_or("-".to_string(), |a| format!("{a:.3} {}", self.alpha_metric));
        format!(
            "{:<14} {:<10} {:>9} {:>6} {:>9}  {:<16} {:>6}",
            crate::text::sanitize_line(&self.criterion, 14),
            self.kind,
            self.decisions,
            self.shared_prompts,
            pct(self.pairwise_agreement),
            alpha,
            pct(self.rm_accuracy)
        )
    }
}

/// Agreement on one rated criterion: pairwise on the orders the points imply, and alpha with
/// the interval metric on the points each annotator gave each answer.
pub fn rated_agreement(rankings: &[Ranking]) -> (Agreement, Option<f64>) {
    let pairwise = measure(rankings, &HashMap::new());
    let mut units: BTreeMap<(PromptId, CandidateId), Vec<f64>> = BTreeMap::new();
    let mut latest: BTreeMap<(PromptId, &str), &Ranking> = BTreeMap::new();
    for r in rankings {
        latest.insert((r.prompt_id, r.annotator.as_str()), r);
    }
    for r in latest.values() {
        for (c, v) in &r.points {
            units
                .entry((r.prompt_id, *c))
                .or_default()
                .push(f64::from(*v));
        }
    }
    let units: Vec<Vec<f64>> = units.into_values().collect();
    (pairwise, krippendorff_interval_units(&units))
}

/// Krippendorff's alpha with the interval metric, δ² = (a − b)². Units with fewer than two
/// values are not pairable and skipped.
pub fn krippendorff_interval_units(units: &[Vec<f64>]) -> Option<f64> {
    let pairable: Vec<&Vec<f64>> = units.iter().filter(|u| u.len() >= 2).collect();
    let n: f64 = pairable.iter().map(|u| u.len() as f64).sum();
    if n <= 1.0 {
        return None;
    }
    // Σ over ordered pairs i≠j of (a_i − a_j)² = 2·m·Σa² − 2·(Σa)², per unit and over all values.
    let spread = |vals: &mut dyn Iterator<Item = f64>| {
        let (mut m, mut s, mut s2) = (0.0, 0.0, 0.0);
        for v in vals {
            m += 1.0;
            s += v;
            s2 += v * v;
        }
        2.0 * m * s2 - 2.0 * s * s
    };
    let d_o: f64 = pairable
        .iter()
        .map(|u| spread(&mut u.iter().copied()) / (u.len() as f64 - 1.0))
        .sum::<f64>()
        / n;
    let d_e = spread(&mut pairable.iter().flat_map(|u| u.iter().copied())) / (n * (n - 1.0));
    if d_e == 0.0 {
        return None;
    }
    Some(1.0 - d_o / d_e)
}

/// 1-based rank of each candidate; tied candidates share their group's rank.
fn ranks(r: &Ranking) -> HashMap<CandidateId, usize> {
    r.groups
        .iter()
        .enumerate()
        .flat_map(|(i, g)| g.iter().map(move |c| (*c, i + 1)))
        .collect()
}

/// +1 / -1 / 0 for each candidate pair (a < b by id) that both rank, comparing their orders.
fn pair_agreement(
    a: &HashMap<CandidateId, usize>,
    b: &HashMap<CandidateId, usize>,
) -> (usize, usize) {
    let mut common: Vec<CandidateId> = a.keys().filter(|c| b.contains_key(c)).copied().collect();
    common.sort_unstable();
    let (mut agree, mut total) = (0, 0);
    for (i, x) in common.iter().enumerate() {
        for y in &common[i + 1..] {
            let da = a[x].cmp(&a[y]);
            let db = b[x].cmp(&b[y]);
            // Only pairs both annotators ordered (not tied) count.
            if da != std::cmp::Ordering::Equal && db != std::cmp::Ordering::Equal {
                total += 1;
                if da == db {
                    agree += 1;
                }
            }
        }
    }
    (agree, total)
}

/// Prompts where two annotators' latest full rankings order some pair of answers oppositely
/// (ties aside): what a reviewer adjudicates. Ascending ids.
pub fn disagreeing_prompts(rankings: &[Ranking]) -> Vec<PromptId> {
    let mut latest: BTreeMap<(PromptId, &str), &Ranking> = BTreeMap::new();
    for r in rankings {
        if r.verdict == Verdict::Rank && r.mode == RankingMode::Full {
            latest.insert((r.prompt_id, r.annotator.as_str()), r);
        }
    }
    let mut by_prompt: BTreeMap<PromptId, Vec<HashMap<CandidateId, usize>>> = BTreeMap::new();
    for ((prompt, _), r) in latest {
        by_prompt.entry(prompt).or_default().push(ranks(r));
    }
    by_prompt
        .into_iter()
        .filter(|(_, rs)| {
            rs.iter().enumerate().any(|(i, a)| {
                rs[i + 1..].iter().any(|b| {
                    let (agree, total) = pair_agreement(a, b);
                    agree < total
                })
            })
        })
        .map(|(p, _)| p)
        .collect()
}

/// Measures agreement and bias over live rankings. `gold` maps prompts to their known answer
/// (tie groups of candidate ids). Only full rankings count; imports are people too if named so.
pub fn measure(rankings: &[Ranking], gold: &HashMap<PromptId, Vec<Vec<CandidateId>>>) -> Agreement {
    // The latest full ranking per (prompt, annotator).
    let mut latest: BTreeMap<(PromptId, &str), &Ranking> = BTreeMap::new();
    for r in rankings {
        if r.verdict == Verdict::Rank && r.mode == RankingMode::Full {
            latest.insert((r.prompt_id, r.annotator.as_str()), r);
        }
    }
    let mut per: BTreeMap<&str, AnnotatorQuality> = BTreeMap::new();
    let mut bias: HashMap<&str, (f64, f64, usize)> = HashMap::new();
    let mut by_prompt: BTreeMap<PromptId, Vec<&Ranking>> = BTreeMap::new();
    for ((prompt, who), r) in &latest {
        by_prompt.entry(*prompt).or_default().push(r);
        let q = per.entry(who).or_insert_with(|| AnnotatorQuality {
            name: who.to_string(),
            ..Default::default()
        });
        q.ranked += 1;
        if let (Some(first), Some(best)) = (r.shown_order.first(), r.groups.first()) {
            let b = bias.entry(who).or_default();
            if best.contains(first) {
                b.0 += 1.0 / best.len() as f64;
            }
            b.1 += 1.0 / r.shown_order.len().max(1) as f64;
            b.2 += 1;
        }
        if let Some(g) = gold.get(prompt) {
            let gold_ranking = Ranking {
                groups: g.clone(),
                ..(*r).clone()
            };
            let (a, t) = pair_agreement(&ranks(r), &ranks(&gold_ranking));
            let q = per.get_mut(who).expect("inserted above");
            q.gold_pairs += t;
            q.gold_agreement = Some(q.gold_agreement.unwrap_or(0.0) + a as f64);
        }
    }
    for (who, (hits, chance, n)) in bias {
        if let Some(q) = per.get_mut(who) {
            q.first_shown_best = Some(hits / n as f64);
            q.first_shown_chance = Some(chance / n as f64);
        }
    }
    let mut agree_by: HashMap<&str, (usize, usize)> = HashMap::new();
    let (mut agree_all, mut total_all) = (0, 0);
    let mut shared = 0;
    for rs in by_prompt.values() {
        if rs.len() < 2 {
            continue;
        }
        shared += 1;
        for (i, a) in rs.iter().enumerate() {
            for b in &rs[i + 1..] {
                let (ag, t) = pair_agreement(&ranks(a), &ranks(b));
                agree_all += ag;
                total_all += t;
                for who in [a.annotator.as_str(), b.annotator.as_str()] {
                    let e = agree_by.entry(who).or_default();
                    e.0 += ag;
                    e.1 += t;
                }
            }
        }
    }
    for q in per.values_mut() {
        if let Some((a, t)) = agree_by.get(q.name.as_str()) {
            q.compared_pairs = *t;
            q.agreement_with_others = (*t > 0).then(|| *a as f64 / *t as f64);
        }
        q.gold_agreement = q
            .gold_agreement
            .filter(|_| q.gold_pairs > 0)
            .map(|a| a / q.gold_pairs as f64);
    }
    Agreement {
        shared_prompts: shared,
        pairwise_agreement: (total_all > 0).then(|| agree_all as f64 / total_all as f64),
        krippendorff_alpha_ordinal: krippendorff_ordinal(&by_prompt),
        annotators: per.into_values().collect(),
    }
}

/// Krippendorff's alpha with the ordinal metric. Units are (prompt, candidate), values are
/// the ranks annotators gave; units with fewer than two values are not pairable and skipped.
fn krippendorff_ordinal(by_prompt: &BTreeMap<PromptId, Vec<&Ranking>>) -> Option<f64> {
    let mut units: Vec<Vec<usize>> = Vec::new();
    for rs in by_prompt.values() {
        if rs.len() < 2 {
            continue;
        }
        let rks: Vec<_> = rs.iter().map(|r| ranks(r)).collect();
        let mut cands: Vec<CandidateId> = rks.iter().flat_map(|m| m.keys().copied()).collect();
        cands.sort_unstable();
        cands.dedup();
        for c in cands {
            let values: Vec<usize> = rks.iter().filter_map(|m| m.get(&c).copied()).collect();
            if values.len() >= 2 {
                units.push(values);
            }
        }
    }
    krippendorff_ordinal_units(&units)
}

/// Alpha from units of ordinal values (1-based ranks).
pub fn krippendorff_ordinal_units(units: &[Vec<usize>]) -> Option<f64> {
    let max = units.iter().flatten().copied().max()?;
    let v = max + 1;
    // Coincidence matrix.
    let mut o = vec![vec![0.0f64; v]; v];
    for u in units {
        let m = u.len() as f64;
        for (i, a) in u.iter().enumerate() {
            for (j, b) in u.iter().enumerate() {
                if i != j {
                    o[*a][*b] += 1.0 / (m - 1.0);
                }
            }
        }
    }
    let n_c: Vec<f64> = o.iter().map(|row| row.iter().sum()).collect();
    let n: f64 = n_c.iter().sum();
    if n <= 1.0 {
        return None;
    }
    let delta2 = |c: usize, k: usize| -> f64 {
        let (lo, hi) = if c <= k { (c, k) } else { (k, c) };
        let s: f64 = n_c[lo..=hi].iter().sum::<f64>() - (n_c[lo] + n_c[hi]) / 2.0;
        s * s
    };
    let (mut d_o, mut d_e) = (0.0, 0.0);
    for c in 0..v {
        for k in 0..v {
            let d = delta2(c, k);
            d_o += o[c][k] * d;
            d_e += n_c[c] * n_c[k] * d;
        }
    }
    if d_e == 0.0 {
        return None;
    }
    Some(1.0 - (n - 1.0) * d_o / d_e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_alpha_is_one_when_raters_agree_and_low_when_they_do_not() {
        let same = vec![vec![1.0, 1.0], vec![3.0, 3.0], vec![5.0, 5.0]];
        assert_eq!(krippendorff_interval_units(&same), Some(1.0));
        // By hand: values 1,2 / 3,3 / 5,4; n = 6; D_o = (2+0+2)/6; D_e = Σ_{i≠j}(a−b)²/30.
        let close = vec![vec![1.0, 2.0], vec![3.0, 3.0], vec![5.0, 4.0]];
        let vals = [1.0f64, 2.0, 3.0, 3.0, 5.0, 4.0];
        let mut de = 0.0;
        for (i, a) in vals.iter().enumerate() {
            for (j, b) in vals.iter().enumerate() {
                if i != j {
                    de += (a - b) * (a - b);
                }
            }
        }
        let expected = 1.0 - (4.0 / 6.0) / (de / 30.0);
        assert!((krippendorff_interval_units(&close).unwrap() - expected).abs() < 1e-12);
        let crossed = vec![vec![1.0, 5.0], vec![5.0, 1.0]];
        assert!(krippendorff_interval_units(&crossed).unwrap() < 0.0);
        assert_eq!(krippendorff_interval_units(&[vec![2.0]]), None);
    }

    fn r(prompt: i64, who: &str, shown: &[i64], groups: &[&[i64]]) -> Ranking {
        Ranking {
            id: 0,
            prompt_id: prompt,
            annotator: who.into(),
            os_user: None,
            created_at_ms: 0,
            duration_ms: None,
            shown_order: shown.to_vec(),
            verdict: Verdict::Rank,
            mode: RankingMode::Full,
            groups: groups.iter().map(|g| g.to_vec()).collect(),
            strength: None,
            flags: vec![],
            note: None,
            rushed: false,
            answer_marks: vec![],
            task_version: 1,
            criterion: Some(crate::domain::OVERALL.into()),
            points: vec![],
        }
    }

    #[test]
    fn perfect_agreement_is_one() {
        let rs = vec![
            r(1, "a", &[1, 2, 3], &[&[1], &[2], &[3]]),
            r(1, "b", &[3, 2, 1], &[&[1], &[2], &[3]]),
            r(2, "a", &[4, 5, 6], &[&[6], &[5], &[4]]),
            r(2, "b", &[4, 5, 6], &[&[6], &[5], &[4]]),
        ];
        let m = measure(&rs, &HashMap::new());
        assert_eq!(m.shared_prompts, 2);
        assert_eq!(m.pairwise_agreement, Some(1.0));
        assert!((m.krippendorff_alpha_ordinal.unwrap() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn reversed_orders_disagree_and_alpha_is_negative() {
        let rs = vec![
            r(1, "a", &[1, 2, 3], &[&[1], &[2], &[3]]),
            r(1, "b", &[1, 2, 3], &[&[3], &[2], &[1]]),
        ];
        let m = measure(&rs, &HashMap::new());
        assert_eq!(m.pairwise_agreement, Some(0.0));
        assert!(m.krippendorff_alpha_ordinal.unwrap() < 0.0);
    }

    #[test]
    fn alpha_matches_a_hand_computed_case() {
        // Two coders, three units: (1,1), (2,2), (3,1). Coincidences: o11=2, o22=2, o13=o31=1.
        // n1=3, n2=2, n3=1, n=6. Ordinal d2(1,3) = (3+2+1 - (3+1)/2)^2 = 16, d2(1,2) = (5-2.5)^2
        // = 6.25, d2(2,3) = (3-1.5)^2 = 2.25. Do = 2*16 = 32. De = 2*(3*2*6.25 + 3*1*16 + 2*1*2.25)
        // = 2*(37.5+48+4.5) = 180. alpha = 1 - 5*32/180.
        let a = krippendorff_ordinal_units(&[vec![1, 1], vec![2, 2], vec![3, 1]]).unwrap();
        assert!((a - (1.0 - 5.0 * 32.0 / 180.0)).abs() < 1e-12, "{a}");
    }

    #[test]
    fn position_bias_and_gold() {
        // Always picks the first-shown answer as best: bias 1.0 against chance 1/3.
        let rs = vec![
            r(1, "a", &[1, 2, 3], &[&[1], &[2], &[3]]),
            r(2, "a", &[6, 5, 4], &[&[6], &[5], &[4]]),
        ];
        let gold: HashMap<_, _> = [
            (1, vec![vec![1], vec![2], vec![3]]),
            (2, vec![vec![4], vec![5], vec![6]]),
        ]
        .into_iter()
        .collect();
        let m = measure(&rs, &gold);
        let q = &m.annotators[0];
        assert_eq!(q.first_shown_best, Some(1.0));
        assert!((q.first_shown_chance.unwrap() - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(q.gold_pairs, 6);
        assert_eq!(q.gold_agreement, Some(0.5));
    }
}
