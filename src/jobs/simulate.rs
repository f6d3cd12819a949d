//! The simulated annotator: ranks pending prompts by a declared rule, with optional noise, as
//! annotator `sim:<rule>`, so the whole RLHF loop can run unattended in tests and demos.

use regex::Regex;
use serde::Serialize;

use crate::domain::{
    now_ms, CriterionKind, Judgement, NewRanking, RankingMode, SplitMix64, Verdict,
};
use crate::jobs::score::{CheckpointRef, Scorer};
use crate::store::{RankingFilter, Store};

/// How the simulated annotator prefers one answer to another.
pub enum Rule {
    /// More matches of the pattern is better.
    Regex(Regex),
    Shorter,
    Longer,
    /// A reward-model checkpoint as judge (id or folder).
    Checkpoint(Box<Scorer>),
}

impl Rule {
    /// `regex:PATTERN`, `shorter`, `longer` or `checkpoint:ID|DIR`.
    pub fn parse(s: &str, store: &Store) -> anyhow::Result<Rule> {
        if let Some(p) = s.strip_prefix("regex:") {
            return Ok(Rule::Regex(Regex::new(p).map_err(|e| {
                anyhow::anyhow!("--rule {s:?}: not a valid regular expression: {e}")
            })?));
        }
        if let Some(c) = s.strip_prefix("checkpoint:") {
            let scorer = Scorer::open(Some(store), &CheckpointRef::parse(Some(c)))?;
            return Ok(Rule::Checkpoint(Box::new(scorer)));
        }
        match s {
            "shorter" => Ok(Rule::Shorter),
            "longer" => Ok(Rule::Longer),
            _ => anyhow::bail!(
                "--rule {s:?}: expected regex:PATTERN, shorter, longer or checkpoint:ID"
            ),
        }
    }

    /// A score per answer: higher is preferred.
    pub fn scores(&self, prompt: &str, answers: &[&str]) -> anyhow::Result<Vec<f64>> {
        Ok(match self {
            Rule::Regex(r) => answers
                .iter()
                .map(|a| r.find_iter(a).count() as f64)
                .collect(),
            Rule::Shorter => answers
                .iter()
                .map(|a| -(a.chars().count() as f64))
                .collect(),
            Rule::Longer => answers.iter().map(|a| a.chars().count() as f64).collect(),
            Rule::Checkpoint(scorer) => {
                let pairs: Vec<(&str, &str)> = answers.iter().map(|a| (prompt, *a)).collect();
                scorer.raw(&pairs)?.into_iter().map(f64::from).collect()
            }
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SimulateSummary {
    pub annotator: String,
    pub ranked: usize,
    pub flipped: usize,
}

/// Ranks every prompt whose candidates this annotator has not all ranked yet (new policy
/// samples make a prompt pending again). Equal scores are ties. With `noise`, each adjacent
/// pair of groups is swapped with that probability. One transaction.
pub fn simulate(
    store: &mut Store,
    rule_text: &str,
    noise: f64,
    seed: u64,
    limit: Option<usize>,
    os_user: Option<String>,
) -> anyhow::Result<SimulateSummary> {
    simulate_on(store, None, rule_text, noise, seed, limit, os_user)
}

/// `simulate` on one criterion of the task (default: its first). A rank criterion gets the
/// order the rule gives; a rate criterion gets points spread over its scale by the rule's
/// scores (lowest answer at the bottom of the scale, highest at the top).
pub fn simulate_on(
    store: &mut Store,
    criterion: Option<&str>,
    rule_text: &str,
    noise: f64,
    seed: u64,
    limit: Option<usize>,
    os_user: Option<String>,
) -> anyhow::Result<SimulateSummary> {
    if !(0.0..=1.0).contains(&noise) {
        anyhow::bail!("--noise {noise}: expected a probability between 0 and 1");
    }
    let rule = Rule::parse(rule_text, store)?;
    let (task_version, task) = store.task()?;
    let criterion = task.pick(criterion).map_err(anyhow::Error::msg)?.clone();
    // One simulated annotator per rule and criterion (the first criterion keeps the old name).
    let annotator = if criterion.name == task.first().name {
        format!("sim:{rule_text}")
    } else {
        format!("sim:{}:{rule_text}", criterion.name)
    };
    let mut covered: std::collections::HashMap<i64, std::collections::HashSet<i64>> =
        Default::default();
    for r in store.live_rankings(&RankingFilter {
        annotator: Some(annotator.clone()),
        prompt_id: None,
        criterion: Some(criterion.name.clone()),
    })? {
        covered
            .entry(r.prompt_id)
            .or_default()
            .extend(r.groups.iter().flatten());
    }
    let mut todo = Vec::new();
    store.for_each_prompt(|p, cands| {
        let seen = covered.get(&p.id);
        let pending = cands.len() >= 2
            && p.gold.is_none()
            && cands
                .iter()
                .any(|c| seen.is_none_or(|s| !s.contains(&c.id)));
        if pending && limit.is_none_or(|l| todo.len() < l) {
            todo.push((p.id, p.body.as_plain_text(), cands.to_vec()));
        }
        Ok(())
    })?;
    let mut rng = SplitMix64::new(seed);
    let mut flipped = 0;
    let mut rankings = Vec::with_capacity(todo.len());
    for (prompt_id, prompt, cands) in &todo {
        let answers: Vec<&str> = cands.iter().map(|c| c.text.as_str()).collect();
        let scores = rule.scores(prompt, &answers)?;
        let mut order: Vec<usize> = (0..cands.len()).collect();
        order.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]).then(a.cmp(b)));
        let mut groups: Vec<Vec<usize>> = Vec::new();
        for i in order {
            match groups.last_mut() {
                Some(g) if scores[g[0]] == scores[i] => g.push(i),
                _ => groups.push(vec![i]),
            }
        }
        for j in 0..groups.len().saturating_sub(1) {
            if noise > 0.0 && rng.next_f64() < noise {
                groups.swap(j, j + 1);
                flipped += 1;
            }
        }
        let ids = |g: &Vec<usize>| g.iter().map(|&i| cands[i].id).collect::<Vec<_>>();
        let (groups, named, judgements) = match &criterion.kind {
            CriterionKind::Rank => (
                groups.iter().map(ids).collect(),
                Some(criterion.name.clone()),
                vec![],
            ),
            CriterionKind::Rate(scale) => {
                // Groups best first: spread them evenly from the top of the scale down.
                let span = f64::from(scale.max - scale.min);
                let steps = (groups.len().max(2) - 1) as f64;
                let points = groups
                    .iter()
                    .enumerate()
                    .flat_map(|(gi, g)| {
                        let p = scale.max - (gi as f64 * span / steps).round() as u8;
                        g.iter().map(move |&i| (cands[i].id, p))
                    })
                    .collect();
                (
                    vec![],
                    None,
                    vec![Judgement::Points {
                        criterion: criterion.name.clone(),
                        points,
                    }],
                )
            }
        };
        rankings.push(NewRanking {
            task_version,
            criterion: named,
            judgements,
            prompt_id: *prompt_id,
            annotator: annotator.clone(),
            os_user: os_user.clone(),
            created_at_ms: now_ms(),
            duration_ms: None,
            shown_order: cands.iter().map(|c| c.id).collect(),
            verdict: Verdict::Rank,
            mode: RankingMode::Full,
            groups,
            strength: None,
            flags: Vec::new(),
            note: None,
            rushed: false,
            answer_marks: vec![],
            dedupe_key: None,
        });
    }
    let mut w = store.begin_import()?;
    for r in &rankings {
        w.add_ranking(r)?;
    }
    w.finish(&annotator, "simulate")?;
    Ok(SimulateSummary {
        annotator,
        ranked: rankings.len(),
        flipped,
    })
}
