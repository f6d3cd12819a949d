//! Exporting the store: live (not retracted) rankings as pairs or ranking records, or a full
//! kibble backup; optionally split by prompt into train and eval halves.

use std::collections::HashMap;
use std::io::Write;

use serde::Serialize;

use crate::data::export::{kibble_record, pair_records, ranking_record, ExportFormat};
use crate::domain::{is_eval_prompt, Candidate, CandidateId, PromptId, Ranking, Verdict};
use crate::store::{RankingFilter, Store};

#[derive(Debug, Clone)]
pub struct ExportOptions {
    pub format: ExportFormat,
    pub annotator: Option<String>,
    /// (eval fraction, seed): prompts go wholly to one side.
    pub split: Option<(f64, u64)>,
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
    let filter = RankingFilter {
        annotator: opts.annotator.clone(),
        prompt_id: None,
    };
    let mut by_prompt: HashMap<PromptId, Vec<Ranking>> = HashMap::new();
    for r in store.live_rankings(&filter)? {
        by_prompt.entry(r.prompt_id).or_default().push(r);
    }
    let mut counts = ExportCounts::default();
    store.for_each_prompt(|prompt, candidates| {
        let rankings = by_prompt.get(&prompt.id).map(Vec::as_slice).unwrap_or(&[]);
        let records = records_for(store, opts.format, prompt, candidates, rankings)?;
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

fn records_for(
    store: &Store,
    format: ExportFormat,
    prompt: &crate::domain::Prompt,
    candidates: &[Candidate],
    rankings: &[Ranking],
) -> anyhow::Result<Vec<serde_json::Value>> {
    let by_id: HashMap<CandidateId, &Candidate> = candidates.iter().map(|c| (c.id, c)).collect();
    Ok(match format {
        ExportFormat::Trl | ExportFormat::Openrlhf => rankings
            .iter()
            .flat_map(|r| pair_records(format, prompt, &by_id, r))
            .collect(),
        ExportFormat::Rankings => rankings
            .iter()
            .filter(|r| r.verdict == Verdict::Rank)
            .map(|r| ranking_record(prompt, candidates, r))
            .collect(),
        ExportFormat::Kibble => {
            let scores: HashMap<CandidateId, f64> =
                store.latest_scores(prompt.id)?.into_iter().collect();
            vec![kibble_record(prompt, candidates, &scores, rankings)]
        }
    })
}
