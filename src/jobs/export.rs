//! Exporting the store: live (not retracted) rankings as pairs or ranking records, or a full
//! kibble backup; optionally split by prompt into train and eval halves.

use std::collections::HashMap;
use std::io::Write;

use serde::Serialize;

use crate::data::export::{
    kibble_record, mean_rank_groups, merged_pairs, pair_record, pair_records, prompt_record,
    ranking_record, sft_record, ExportFormat, Merge,
};
use crate::data::ratings::{points_by_candidate, rating_records, ultrafeedback_record};
use crate::domain::{
    is_eval_prompt, Candidate, CandidateId, Judgement, PromptId, Ranking, Verdict,
};
use crate::store::{RankingFilter, Store};

#[derive(Debug, Clone)]
pub struct ExportOptions {
    pub format: ExportFormat,
    pub annotator: Option<String>,
    /// (eval fraction, seed): prompts go wholly to one side.
    pub split: Option<(f64, u64)>,
    /// Rankings left out (`--exclude flagged,rushed`).
    pub exclude: Exclude,
    /// Pair formats: a `weight` per pair (1 / pairs of its ranking).
    pub weights: bool,
    /// Pair formats: one merged set of pairs per prompt instead of every ranking's own.
    pub merge: Option<Merge>,
    /// Pair, ranking and SFT formats: the criterion judged (default: the task's first).
    /// A rated criterion gives the pairs its points imply.
    pub criterion: Option<String>,
    /// Where a prompt has a gold (adjudicated) answer, export it alone instead of its rankings
    /// (the task's first rank criterion only: that is what a reviewer's gold orders).
    pub prefer_gold: bool,
}

impl ExportOptions {
    /// Everything in `format`: every annotator, no split, nothing left out.
    pub fn new(format: ExportFormat) -> ExportOptions {
        ExportOptions {
            format,
            annotator: None,
            split: None,
            exclude: Exclude::default(),
            weights: false,
            merge: None,
            criterion: None,
            prefer_gold: false,
        }
    }
}

/// Which rankings an export leaves out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Exclude {
    pub flagged: bool,
    pub rushed: bool,
}

impl Exclude {
    /// `flagged,rushed` (either or both).
    pub fn parse(s: &str) -> Result<Exclude, String> {
        let mut e = Exclude::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "flagged" => e.flagged = true,
                "rushed" => e.rushed = true,
                other => return Err(format!("--exclude {other:?}: use flagged, rushed or both")),
            }
        }
        Ok(e)
    }

    /// A flag on the prompt or on any answer counts as flagged.
    fn keeps(&self, r: &Ranking) -> bool {
        let flagged = !r.flags.is_empty() || r.answer_marks.iter().any(|m| !m.flags.is_empty());
        !(self.flagged && flagged || self.rushed && r.rushed)
    }
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct ExportCounts {
    pub train_records: u64,
    pub eval_records: u64,
    pub train_prompts: u64,
    pub eval_prompts: u64,
}

/// Writes records to `train` (and to `eval` for prompts on the eval side of the split).
pub fn export(
    store: &Store,
    opts: &ExportOptions,
    train: &mut dyn Write,
    mut eval: Option<&mut dyn Write>,
) -> anyhow::Result<ExportCounts> {
    let (_, task) = store.task()?;
    let per_criterion = !matches!(
        opts.format,
        ExportFormat::Kibble
            | ExportFormat::Prompts
            | ExportFormat::Ratings
            | ExportFormat::Ultrafeedback
    );
    let picked = task
        .pick(opts.criterion.as_deref())
        .map_err(anyhow::Error::msg)?
        .name
        .clone();
    let filter = RankingFilter {
        annotator: opts.annotator.clone(),
        prompt_id: None,
        criterion: per_criterion.then_some(picked),
    };
    let mut by_prompt: HashMap<PromptId, Vec<Ranking>> = HashMap::new();
    for r in store.live_rankings(&filter)? {
        if opts.exclude.keeps(&r) {
            by_prompt.entry(r.prompt_id).or_default().push(r);
        }
    }
    let first_rank = task
        .criteria
        .iter()
        .find(|c| c.kind == crate::domain::CriterionKind::Rank)
        .map(|c| c.name.clone());
    let gold_applies = opts.prefer_gold && per_criterion && filter.criterion == first_rank;
    // TRL's RewardTrainer reads `margin` from every row once one row has it (a missing one is
    // None and stops it): when any exported ranking has a strength, every pair gets a margin,
    // 0 (plain Bradley-Terry) where its ranking has none.
    let margin_default = by_prompt
        .values()
        .flatten()
        .any(|r| r.strength.is_some())
        .then_some(0.0);
    let mut counts = ExportCounts::default();
    store.for_each_prompt(|prompt, candidates| {
        let adjudicated = match (&prompt.gold, gold_applies) {
            (Some(g), true) => Some(vec![gold_ranking(prompt.id, g, &first_rank)]),
            _ => None,
        };
        let rankings = match &adjudicated {
            Some(g) => g.as_slice(),
            None => by_prompt.get(&prompt.id).map(Vec::as_slice).unwrap_or(&[]),
        };
        let records = records_for(store, opts, prompt, candidates, rankings, margin_default)?;
        if records.is_empty() {
            return Ok(());
        }
        let to_eval = match opts.split {
            Some((frac, seed)) => is_eval_prompt(&store.prompt_hash(prompt.id)?, seed, frac),
            None => false,
        };
        let (out, recs, prompts): (&mut dyn Write, _, _) = match (&mut eval, to_eval) {
            (Some(e), true) => (&mut **e, &mut counts.eval_records, &mut counts.eval_prompts),
            _ => (
                &mut *train,
                &mut counts.train_records,
                &mut counts.train_prompts,
            ),
        };
        *prompts += 1;
        for rec in records {
            serde_json::to_writer(&mut *out, &rec)?;
            out.write_all(b"\n")?;
            *recs += 1;
        }
        Ok(())
    })?;
    Ok(counts)
}

/// A prompt's gold answer as the one ranking to export (annotator `gold`).
fn gold_ranking(
    prompt_id: PromptId,
    groups: &[Vec<CandidateId>],
    criterion: &Option<String>,
) -> Ranking {
    Ranking {
        id: 0,
        prompt_id,
        annotator: "gold".into(),
        os_user: None,
        created_at_ms: 0,
        duration_ms: None,
        shown_order: vec![],
        verdict: Verdict::Rank,
        mode: crate::domain::RankingMode::Full,
        groups: groups.to_vec(),
        strength: None,
        flags: vec![],
        note: None,
        rushed: false,
        answer_marks: vec![],
        task_version: 1,
        criterion: criterion.clone(),
        points: vec![],
    }
}

fn records_for(
    store: &Store,
    opts: &ExportOptions,
    prompt: &crate::domain::Prompt,
    candidates: &[Candidate],
    rankings: &[Ranking],
    margin_default: Option<f64>,
) -> anyhow::Result<Vec<serde_json::Value>> {
    let by_id: HashMap<CandidateId, &Candidate> = candidates.iter().map(|c| (c.id, c)).collect();
    let format = opts.format;
    Ok(match format {
        ExportFormat::Trl | ExportFormat::Openrlhf => match opts.merge {
            None => rankings
                .iter()
                .flat_map(|r| pair_records(format, prompt, &by_id, r, opts.weights, margin_default))
                .collect(),
            Some(how) => {
                let pairs = merged_pairs(rankings, how);
                let w = 1.0 / pairs.len().max(1) as f64;
                pairs
                    .iter()
                    .filter_map(|(c, r)| {
                        Some(pair_record(
                            format,
                            prompt,
                            by_id.get(c)?,
                            by_id.get(r)?,
                            None,
                            opts.weights.then_some(w),
                        ))
                    })
                    .collect()
            }
        },
        ExportFormat::Rankings => rankings
            .iter()
            .filter(|r| r.verdict == Verdict::Rank)
            .map(|r| ranking_record(prompt, candidates, r))
            .collect(),
        ExportFormat::Kibble => {
            let scores: HashMap<CandidateId, f64> =
                store.latest_scores(prompt.id)?.into_iter().collect();
            let judged = rankings
                .iter()
                .map(|r| Ok((r, store.judgements(r.id)?)))
                .collect::<anyhow::Result<Vec<_>>>()?;
            vec![kibble_record(prompt, candidates, &scores, &judged)]
        }
        // The best answer by mean rank; a tie for first gives no row (no single best).
        ExportFormat::Sft => match mean_rank_groups(rankings).first() {
            Some(best) if best.len() == 1 => by_id
                .get(&best[0])
                .map(|c| vec![sft_record(prompt, c)])
                .unwrap_or_default(),
            _ => vec![],
        },
        ExportFormat::Prompts => vec![prompt_record(prompt)],
        ExportFormat::Ratings | ExportFormat::Ultrafeedback => {
            let mut out = Vec::new();
            for r in rankings.iter().filter(|r| r.verdict == Verdict::Rank) {
                let judged: Vec<(String, Vec<(CandidateId, u8)>)> = store
                    .judgements(r.id)?
                    .into_iter()
                    .filter_map(|j| match j {
                        Judgement::Points { criterion, points } => Some((criterion, points)),
                        Judgement::Order { .. } => None,
                    })
                    .collect();
                let points = points_by_candidate(&judged);
                if format == ExportFormat::Ratings {
                    out.extend(rating_records(prompt, candidates, &r.annotator, &points));
                } else {
                    out.extend(ultrafeedback_record(
                        prompt,
                        candidates,
                        &r.annotator,
                        &points,
                    ));
                }
            }
            out
        }
    })
}
