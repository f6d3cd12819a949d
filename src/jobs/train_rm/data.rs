//! Training data for a run, from the store: live rankings and ratings of the criteria learnt,
//! as token sequences and comparisons, split by prompt into train and held-out.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use super::RmJobConfig;
use crate::domain::{is_eval_prompt, Candidate, PromptId, RankingMode, Verdict};
use crate::ml::text::tokenizer::PairEncoder;
use crate::ml::training::reward::{Comparison, TrainData};
use crate::store::{RankingFilter, Store};

/// The criterion a run learns: the one it names, else the task's first.
pub fn criterion_of(store: &Store, cfg: &RmJobConfig) -> anyhow::Result<String> {
    let (_, task) = store.task()?;
    let picked = task
        .pick(cfg.criterion.as_deref())
        .map_err(anyhow::Error::msg)?;
    Ok(picked.name.clone())
}

/// The criteria a run learns, one per head: `criteria` (with `all` as every criterion of the
/// task), else the one `criterion_of` picks.
pub fn heads_of(store: &Store, cfg: &RmJobConfig) -> anyhow::Result<Vec<String>> {
    if cfg.criteria.is_empty() {
        return Ok(vec![criterion_of(store, cfg)?]);
    }
    if cfg.criterion.is_some() {
        anyhow::bail!("use either --criterion NAME (one head) or --criteria (one head each)");
    }
    let (_, task) = store.task()?;
    if cfg.criteria.iter().any(|c| c == "all") {
        return Ok(task.criteria.iter().map(|c| c.name.clone()).collect());
    }
    let mut out: Vec<String> = Vec::new();
    for name in &cfg.criteria {
        let c = task.pick(Some(name)).map_err(anyhow::Error::msg)?;
        if out.contains(&c.name) {
            anyhow::bail!("--criteria names {name:?} twice");
        }
        out.push(c.name.clone());
    }
    Ok(out)
}

/// Training data built from the store, with its provenance.
pub struct LoadedData {
    pub data: TrainData,
    pub texts: Vec<String>,
    pub ranking_ids: Vec<(i64, bool)>,
    pub data_hash: String,
}

/// Turns live rankings into sequences and comparisons; prompts go wholly to train or eval.
/// With `only`, exactly those rankings are used (resume), whatever else the DB now holds.
pub fn load_data(
    store: &Store,
    encoder: Option<&PairEncoder>,
    cfg: &RmJobConfig,
    only: Option<&[(i64, bool)]>,
) -> anyhow::Result<LoadedData> {
    let heads = heads_of(store, cfg)?;
    let mut rankings = Vec::new();
    for (head, criterion) in heads.iter().enumerate() {
        let filter = RankingFilter {
            annotator: cfg.annotator.clone(),
            prompt_id: None,
            criterion: Some(criterion.clone()),
        };
        rankings.extend(
            store
                .live_rankings(&filter)?
                .into_iter()
                .filter(|r| r.verdict == Verdict::Rank)
                .map(|r| (head, r)),
        );
    }
    let forced: Option<HashMap<i64, bool>> = only.map(|o| o.iter().copied().collect());
    if let Some(f) = &forced {
        rankings.retain(|(_, r)| f.contains_key(&r.id));
    }
    let mut prompts: HashMap<PromptId, (String, Vec<Candidate>, bool)> = HashMap::new();
    let mut seq_index: HashMap<(PromptId, i64), usize> = HashMap::new();
    let mut data = TrainData::default();
    let mut texts = Vec::new();
    let mut ids = Vec::new();
    let mut hasher = Sha256::new();
    for (head, r) in &rankings {
        if !prompts.contains_key(&r.prompt_id) {
            let p = store
                .prompt(r.prompt_id)?
                .ok_or_else(|| anyhow::anyhow!("ranking {} names a missing prompt", r.id))?;
            let eval = is_eval_prompt(&store.prompt_hash(p.id)?, cfg.train.seed, cfg.eval_fraction);
            prompts.insert(
                p.id,
                (p.body.as_plain_text(), store.candidates(p.id)?, eval),
            );
        }
        let (prompt_text, cands, prompt_eval) = &prompts[&r.prompt_id];
        let eval = forced.as_ref().map_or(*prompt_eval, |f| f[&r.id]);
        let mut seq_of = |cid: i64| -> anyhow::Result<usize> {
            if let Some(&i) = seq_index.get(&(r.prompt_id, cid)) {
                return Ok(i);
            }
            let text = &cands
                .iter()
                .find(|c| c.id == cid)
                .ok_or_else(|| anyhow::anyhow!("ranking {} names a missing candidate {cid}", r.id))?
                .text;
            texts.push(text.clone());
            let enc = match encoder {
                Some(e) => e.encode(prompt_text, text)?,
                None => Default::default(),
            };
            data.seqs.push(enc);
            seq_index.insert((r.prompt_id, cid), data.seqs.len() - 1);
            Ok(data.seqs.len() - 1)
        };
        let (pairs, ties) = r.pairs();
        let comparison = Comparison {
            pairs: pairs
                .iter()
                .map(|p| Ok((seq_of(p.chosen)?, seq_of(p.rejected)?)))
                .collect::<anyhow::Result<_>>()?,
            ties: ties
                .iter()
                .map(|t| Ok((seq_of(t.a)?, seq_of(t.b)?)))
                .collect::<anyhow::Result<_>>()?,
            groups: if r.mode == RankingMode::Full {
                Some(
                    r.groups
                        .iter()
                        .map(|g| g.iter().map(|&c| seq_of(c)).collect::<anyhow::Result<_>>())
                        .collect::<anyhow::Result<_>>()?,
                )
            } else {
                None
            },
            margin: r.strength.unwrap_or(0.0) as f32,
            pair_margins: (!r.points.is_empty()).then(|| {
                pairs
                    .iter()
                    .map(|p| p.margin.unwrap_or(0.0) as f32)
                    .collect()
            }),
            head: *head,
        };
        if heads.len() > 1 {
            hasher.update(heads[*head].as_bytes());
        }
        hasher.update(r.id.to_le_bytes());
        hasher.update(serde_json::to_vec(&r.groups)?);
        ids.push((r.id, eval));
        if eval {
            data.eval.push(comparison);
        } else {
            data.train.push(comparison);
        }
    }
    for (text, _, _) in prompts.values() {
        texts.push(text.clone());
    }
    // A decision judged on several criteria is one ranking of the run.
    let mut seen = std::collections::HashSet::new();
    ids.retain(|(id, _)| seen.insert(*id));
    let digest = hasher.finalize();
    Ok(LoadedData {
        data,
        texts,
        ranking_ids: ids,
        data_hash: digest.iter().map(|b| format!("{b:02x}")).collect(),
    })
}
