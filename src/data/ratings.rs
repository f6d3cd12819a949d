//! Points per answer, in the two shapes the ecosystem uses:
//! - `ratings` (HelpSteer2-like): one line per answer, `{"prompt","response","ratings":{criterion: points}}`
//!   (HelpSteer2's own files, with the attributes as top-level numbers, read too); consecutive
//!   lines of one prompt and annotator are one decision.
//! - `ultrafeedback`: one line per decision, `{"prompt","completions":[{"response","ratings":{..}}]}`.

use serde_json::{json, Map, Value};

use super::formats::{point, prompt_body, FieldError};
use super::{ImportCandidate, ImportItem, ImportRanking};
use crate::domain::{Candidate, CandidateId, Prompt, RankingMode};

type Parsed<T> = Result<T, FieldError>;

/// Keys of a `ratings` line that are not points.
const RATINGS_KNOWN: &[&str] = &["prompt", "response", "ratings", "annotator", "id", "meta"];

fn ratings_object(field: &str, v: &Value) -> Parsed<Vec<(String, u8)>> {
    let o = v.as_object().ok_or_else(|| {
        FieldError(format!(
            "field \"{field}\": expected an object of criterion: points"
        ))
    })?;
    o.iter()
        .filter(|(_, p)| !p.is_null())
        .map(|(k, p)| Ok((k.clone(), point(&format!("{field}.{k}"), p)?)))
        .collect()
}

fn annotator(obj: &Map<String, Value>) -> Parsed<Option<String>> {
    match obj.get("annotator") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(FieldError("field \"annotator\": expected string".into())),
    }
}

/// A decision with points only: candidate `i` got `points[i]` on each criterion.
fn rated_item(
    obj: &Map<String, Value>,
    responses: Vec<String>,
    points: Vec<Vec<(String, u8)>>,
) -> Parsed<ImportItem> {
    let mut criteria: Vec<String> = points.iter().flatten().map(|p| p.0.clone()).collect();
    criteria.sort();
    criteria.dedup();
    let ratings = criteria
        .into_iter()
        .map(|c| {
            let per: Vec<(usize, u8)> = points
                .iter()
                .enumerate()
                .filter_map(|(i, ps)| ps.iter().find(|p| p.0 == c).map(|p| (i, p.1)))
                .collect();
            (c, per)
        })
        .collect();
    Ok(ImportItem {
        ext_id: obj.get("id").and_then(Value::as_str).map(str::to_string),
        prompt: prompt_body(obj)?,
        meta: Value::Null,
        candidates: responses
            .into_iter()
            .map(|text| ImportCandidate { text, source: None })
            .collect(),
        rankings: vec![ImportRanking {
            annotator: annotator(obj)?,
            groups: vec![],
            mode: RankingMode::Full,
            strength: None,
            flags: vec![],
            note: None,
            created_at_ms: None,
            duration_ms: None,
            answer_marks: vec![],
            criterion: None,
            ratings,
            orders: vec![],
        }],
        gold: None,
        merge_with_previous: false,
    })
}

/// One `ratings` line: one answer and its points. It joins the previous line's decision when
/// the prompt and annotator are the same (see `ImportItem::merge_with_previous`).
pub fn parse_rating_line(obj: &Map<String, Value>) -> Parsed<ImportItem> {
    let response = match obj.get("response") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(_) => {
            return Err(FieldError(
                "field \"response\": expected non-empty text".into(),
            ))
        }
        None => return Err(FieldError("missing field \"response\"".into())),
    };
    let points = match obj.get("ratings") {
        Some(v) => ratings_object("ratings", v)?,
        // HelpSteer2: the attributes are top-level numbers.
        None => obj
            .iter()
            .filter(|(k, v)| !RATINGS_KNOWN.contains(&k.as_str()) && v.is_number())
            .map(|(k, v)| Ok((k.clone(), point(k, v)?)))
            .collect::<Parsed<_>>()?,
    };
    if points.is_empty() {
        return Err(FieldError(
            "no points on this line: give \"ratings\": {\"criterion\": points}".into(),
        ));
    }
    let mut item = rated_item(obj, vec![response], vec![points])?;
    item.merge_with_previous = true;
    Ok(item)
}

/// One `ultrafeedback` line: every answer of a prompt with its points.
pub fn parse_ultrafeedback(obj: &Map<String, Value>) -> Parsed<ImportItem> {
    let list = obj
        .get("completions")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            FieldError(
                "field \"completions\": expected an array of {\"response\", \"ratings\"}".into(),
            )
        })?;
    let mut responses = Vec::new();
    let mut points = Vec::new();
    for (i, c) in list.iter().enumerate() {
        let f = format!("completions[{i}]");
        let text = c
            .get("response")
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| {
                FieldError(format!("field \"{f}.response\": expected non-empty text"))
            })?;
        if responses.iter().any(|r| r == text) {
            return Err(FieldError(format!(
                "field \"{f}.response\": the same answer twice"
            )));
        }
        responses.push(text.to_string());
        points.push(match c.get("ratings") {
            None | Some(Value::Null) => vec![],
            Some(v) => ratings_object(&format!("{f}.ratings"), v)?,
        });
    }
    if responses.len() < 2 {
        return Err(FieldError(
            "field \"completions\": at least 2 answers are needed to compare".into(),
        ));
    }
    rated_item(obj, responses, points)
}

/// Adds `next` (one more answer of the same decision) to `item`.
pub fn merge_rated(item: &mut ImportItem, next: ImportItem) {
    let offset = item.candidates.len();
    item.candidates.extend(next.candidates);
    let (Some(into), Some(from)) = (item.rankings.first_mut(), next.rankings.into_iter().next())
    else {
        return;
    };
    for (criterion, points) in from.ratings {
        let shifted = points.into_iter().map(|(i, v)| (i + offset, v));
        match into.ratings.iter_mut().find(|r| r.0 == criterion) {
            Some(r) => r.1.extend(shifted),
            None => into.ratings.push((criterion, shifted.collect())),
        }
    }
}

/// Whether `next` continues `item`'s decision (same prompt, same annotator).
pub fn continues(item: &ImportItem, next: &ImportItem) -> bool {
    next.merge_with_previous
        && item.merge_with_previous
        && item.prompt == next.prompt
        && item.rankings.first().map(|r| &r.annotator)
            == next.rankings.first().map(|r| &r.annotator)
}

/// Points of one decision, per candidate id: criterion -> points.
pub type PointsByCandidate = std::collections::BTreeMap<CandidateId, Map<String, Value>>;

pub fn points_by_candidate(judged: &[(String, Vec<(CandidateId, u8)>)]) -> PointsByCandidate {
    let mut out = PointsByCandidate::new();
    for (criterion, points) in judged {
        for (id, v) in points {
            out.entry(*id)
                .or_default()
                .insert(criterion.clone(), json!(v));
        }
    }
    out
}

/// `--format ratings`: one record per rated answer of one decision.
pub fn rating_records(
    prompt: &Prompt,
    candidates: &[Candidate],
    annotator: &str,
    points: &PointsByCandidate,
) -> Vec<Value> {
    candidates
        .iter()
        .filter_map(|c| {
            Some(json!({
                "prompt": prompt.body.to_json(),
                "response": c.text,
                "ratings": points.get(&c.id)?,
                "annotator": annotator,
            }))
        })
        .collect()
}

/// `--format ultrafeedback`: one record per decision with every answer it rated.
pub fn ultrafeedback_record(
    prompt: &Prompt,
    candidates: &[Candidate],
    annotator: &str,
    points: &PointsByCandidate,
) -> Option<Value> {
    let completions: Vec<Value> = candidates
        .iter()
        .filter_map(|c| Some(json!({"response": c.text, "ratings": points.get(&c.id)?})))
        .collect();
    (!completions.is_empty()).then(|| {
        json!({"prompt": prompt.body.to_json(), "completions": completions, "annotator": annotator})
    })
}
