//! Export records: one JSON value per output line, for each format the ecosystem reads.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use crate::domain::{Candidate, CandidateId, Judgement, Prompt, PromptBody, Ranking};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// TRL preference pairs `{"prompt","chosen","rejected","margin"?}`, one per ordered pair
    Trl,
    /// OpenRLHF reward data: `{"chosen","rejected"}` as full chat transcripts (+ "margin")
    Openrlhf,
    /// One object per ranking with tie groups, annotator, time and provenance ids
    Rankings,
    /// Every prompt with all its candidates, sources, scores and rankings (a full backup)
    Kibble,
    /// SFT data for TRL's SFTTrainer: `{"messages": [...prompt, {"role":"assistant",...}]}` with
    /// each prompt's best answer (best mean rank over its rankings)
    Sft,
    /// Prompts only, in the import format `{"prompt","id"?}`: for a sampler elsewhere
    Prompts,
    /// Points per answer, one line per rated answer (HelpSteer2-like):
    /// `{"prompt","response","ratings":{criterion: points},"annotator"}`
    Ratings,
    /// Points per answer, one line per decision: `{"prompt","completions":[{"response","ratings"}]}`
    Ultrafeedback,
}

/// How several annotators' rankings of one prompt become one (`--merge`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merge {
    /// A pair where more rankings put A above B than B above A; ties and even splits drop
    Majority,
    /// One ranking by each answer's mean rank over the rankings that rank it (equal means tie)
    MeanRank,
}

/// The merged ordered pairs (chosen, rejected) of one prompt's full rankings.
pub fn merged_pairs(rankings: &[Ranking], how: Merge) -> Vec<(CandidateId, CandidateId)> {
    match how {
        Merge::MeanRank => {
            let groups = mean_rank_groups(rankings);
            let mut out = Vec::new();
            for (i, g) in groups.iter().enumerate() {
                for worse in &groups[i + 1..] {
                    for &c in g {
                        for &r in worse {
                            out.push((c, r));
                        }
                    }
                }
            }
            out
        }
        Merge::Majority => {
            let mut wins: std::collections::BTreeMap<(CandidateId, CandidateId), i64> =
                Default::default();
            for r in rankings {
                for p in r.pairs().0 {
                    // Keyed by the unordered pair: + when the smaller id wins.
                    let (key, sign) = if p.chosen < p.rejected {
                        ((p.chosen, p.rejected), 1)
                    } else {
                        ((p.rejected, p.chosen), -1)
                    };
                    *wins.entry(key).or_default() += sign;
                }
            }
            wins.into_iter()
                .filter(|(_, n)| *n != 0)
                .map(|((a, b), n)| if n > 0 { (a, b) } else { (b, a) })
                .collect()
        }
    }
}

/// Tie groups, best first, by mean 1-based rank over the rankings that rank each answer.
pub fn mean_rank_groups(rankings: &[Ranking]) -> Vec<Vec<CandidateId>> {
    let mut sums: std::collections::BTreeMap<CandidateId, (f64, f64)> = Default::default();
    for r in rankings
        .iter()
        .filter(|r| r.verdict == crate::domain::Verdict::Rank)
    {
        for (i, g) in r.groups.iter().enumerate() {
            for c in g {
                let e = sums.entry(*c).or_default();
                e.0 += (i + 1) as f64;
                e.1 += 1.0;
            }
        }
    }
    let mut means: Vec<(f64, CandidateId)> =
        sums.into_iter().map(|(c, (s, n))| (s / n, c)).collect();
    means.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut groups: Vec<Vec<CandidateId>> = Vec::new();
    let mut last = f64::NAN;
    for (m, c) in means {
        if (m - last).abs() < 1e-9 {
            groups.last_mut().expect("a group exists").push(c);
        } else {
            groups.push(vec![c]);
        }
        last = m;
    }
    groups
}

/// One pair record in `format` (TRL or OpenRLHF), with its margin and weight when given.
pub fn pair_record(
    format: ExportFormat,
    prompt: &Prompt,
    chosen: &Candidate,
    rejected: &Candidate,
    margin: Option<f64>,
    weight: Option<f64>,
) -> Value {
    let mut obj = Map::new();
    match format {
        ExportFormat::Openrlhf => {
            obj.insert("chosen".into(), transcript(&prompt.body, &chosen.text));
            obj.insert("rejected".into(), transcript(&prompt.body, &rejected.text));
        }
        _ => {
            obj.insert("prompt".into(), prompt.body.to_json());
            obj.insert("chosen".into(), response(&prompt.body, &chosen.text));
            obj.insert("rejected".into(), response(&prompt.body, &rejected.text));
        }
    }
    if let Some(m) = margin {
        obj.insert("margin".into(), number(m));
    }
    if let Some(w) = weight {
        obj.insert("weight".into(), json!(w));
    }
    Value::Object(obj)
}

/// TRL's conversational SFT row: the prompt's turns and the answer as the assistant's.
pub fn sft_record(prompt: &Prompt, answer: &Candidate) -> Value {
    json!({ "messages": transcript(&prompt.body, &answer.text) })
}

/// The prompt in the import format, so `kibble import` (or any sampler) reads it back.
pub fn prompt_record(prompt: &Prompt) -> Value {
    let mut obj = Map::new();
    if let Some(id) = &prompt.ext_id {
        obj.insert("id".into(), json!(id));
    }
    obj.insert("prompt".into(), prompt.body.to_json());
    Value::Object(obj)
}

/// A response in the shape TRL expects beside this prompt: text, or one assistant message.
fn response(prompt: &PromptBody, text: &str) -> Value {
    match prompt {
        PromptBody::Text(_) => Value::String(text.to_string()),
        PromptBody::Chat(_) => json!([{"role": "assistant", "content": text}]),
    }
}

/// The prompt as chat turns followed by the response (OpenRLHF's transcript form).
fn transcript(prompt: &PromptBody, text: &str) -> Value {
    let mut turns = match prompt {
        PromptBody::Text(t) => vec![json!({"role": "user", "content": t})],
        PromptBody::Chat(m) => m
            .iter()
            .map(|m| json!({"role": m.role, "content": m.content}))
            .collect(),
    };
    turns.push(json!({"role": "assistant", "content": text}));
    Value::Array(turns)
}

/// Whole numbers print as integers (`2`, not `2.0`), as people write strengths.
fn number(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        json!(x as i64)
    } else {
        json!(x)
    }
}

/// The pair records of one ranking (ties and skips give none); `weights` adds each pair's
/// 1 / (pairs of its ranking), so every ranking counts once whatever its K; `margin_default`
/// is the margin of a pair whose ranking has no strength (none: no `margin` field).
pub fn pair_records(
    format: ExportFormat,
    prompt: &Prompt,
    candidates: &HashMap<CandidateId, &Candidate>,
    ranking: &Ranking,
    weights: bool,
    margin_default: Option<f64>,
) -> Vec<Value> {
    let (pairs, _ties) = ranking.pairs();
    pairs
        .iter()
        .filter_map(|p| {
            let chosen = candidates.get(&p.chosen)?;
            let rejected = candidates.get(&p.rejected)?;
            Some(pair_record(
                format,
                prompt,
                chosen,
                rejected,
                p.margin.or(margin_default),
                weights.then_some(p.weight),
            ))
        })
        .collect()
}

pub fn ranking_record(prompt: &Prompt, candidates: &[Candidate], r: &Ranking) -> Value {
    json!({
        "ranking_id": r.id,
        "prompt_id": prompt.id,
        "prompt_ext_id": prompt.ext_id,
        "prompt": prompt.body.to_json(),
        "candidates": candidates.iter().map(|c| json!({"id": c.id, "text": c.text, "source": c.source})).collect::<Vec<_>>(),
        "verdict": r.verdict,
        "mode": r.mode,
        "groups": r.groups,
        "shown_order": r.shown_order,
        "strength": r.strength,
        "flags": r.flags,
        "note": r.note,
        "rushed": r.rushed,
        "answer_marks": r.answer_marks,
        "annotator": r.annotator,
        "os_user": r.os_user,
        "created_at": r.created_at_ms,
        "duration_ms": r.duration_ms,
    })
}

/// A kibble-format line that imports back to the same prompt, candidates and rankings.
pub fn kibble_record(
    prompt: &Prompt,
    candidates: &[Candidate],
    scores: &HashMap<CandidateId, f64>,
    rankings: &[(&Ranking, Vec<Judgement>)],
) -> Value {
    let index: HashMap<CandidateId, usize> = candidates
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id, i))
        .collect();
    let cands: Vec<Value> = candidates
        .iter()
        .map(|c| {
            let mut o = json!({"text": c.text, "source": c.source});
            if let Some(s) = scores.get(&c.id) {
                o["score"] = json!(s);
            }
            o
        })
        .collect();
    let at = |groups: &[Vec<CandidateId>]| -> Vec<Vec<usize>> {
        groups
            .iter()
            .map(|g| g.iter().filter_map(|id| index.get(id).copied()).collect())
            .collect()
    };
    let ranks: Vec<Value> = rankings
        .iter()
        .filter(|(r, _)| r.verdict == crate::domain::Verdict::Rank)
        .map(|(r, others)| {
            let groups = at(&r.groups);
            // Answer marks by candidate index, as groups are.
            let marks: Vec<Value> = r
                .answer_marks
                .iter()
                .filter_map(|m| {
                    Some(json!({"candidate": index.get(&m.candidate)?, "flags": m.flags, "note": m.note}))
                })
                .collect();
            let mut rec = json!({
                "annotator": r.annotator,
                "groups": groups,
                "mode": r.mode,
                "strength": r.strength,
                "flags": r.flags,
                "note": r.note,
                "answer_marks": marks,
                "created_at": r.created_at_ms,
                "duration_ms": r.duration_ms,
            });
            // The task's other criteria: further rankings, and points per candidate index.
            if let Some(c) = &r.criterion {
                rec["criterion"] = json!(c);
            }
            let mut orders = Map::new();
            let mut ratings = Map::new();
            for j in others {
                match j {
                    Judgement::Order {
                        criterion,
                        groups,
                        mode,
                    } => {
                        // Groups, or {"groups", "mode"} for a best/worst ranking.
                        let v = match mode {
                            crate::domain::RankingMode::Full => json!(at(groups)),
                            crate::domain::RankingMode::BestWorst => {
                                json!({"groups": at(groups), "mode": mode})
                            }
                        };
                        orders.insert(criterion.clone(), v);
                    }
                    Judgement::Points { criterion, points } => {
                        let per: Vec<Option<u8>> = candidates
                            .iter()
                            .map(|c| points.iter().find(|p| p.0 == c.id).map(|p| p.1))
                            .collect();
                        ratings.insert(criterion.clone(), json!(per));
                    }
                }
            }
            if !orders.is_empty() {
                rec["orders"] = Value::Object(orders);
            }
            if !ratings.is_empty() {
                rec["ratings"] = Value::Object(ratings);
            }
            rec
        })
        .collect();
    let mut obj = Map::new();
    if let Some(id) = &prompt.ext_id {
        obj.insert("id".into(), json!(id));
    }
    obj.insert("prompt".into(), prompt.body.to_json());
    if candidates.len() >= 2 {
        obj.insert("candidates".into(), Value::Array(cands));
    }
    if !ranks.is_empty() {
        obj.insert("rankings".into(), Value::Array(ranks));
    }
    if let Some(gold) = &prompt.gold {
        let groups: Vec<Vec<usize>> = gold
            .iter()
            .map(|g| g.iter().filter_map(|id| index.get(id).copied()).collect())
            .collect();
        obj.insert("gold".into(), json!(groups));
    }
    if prompt.meta.as_object().is_some_and(|m| !m.is_empty()) {
        obj.insert("meta".into(), prompt.meta.clone());
    }
    Value::Object(obj)
}
