//! kibble's own backup format: prompts with their candidates, rankings, flags, notes,
//! further rankings and ratings per criterion.

use super::*;

pub(super) fn parse_kibble(obj: &Map<String, Value>) -> Parsed<ImportItem> {
    let prompt = prompt_body(obj)?;
    let list = match obj.get("candidates") {
        Some(Value::Array(a)) => a,
        Some(other) => return Err(expected("candidates", "array", other)),
        // A backup line for a prompt that has nothing to rank yet.
        None => return parse_prompt_only(obj),
    };
    // Distinct candidates in first-seen order; `index_map` maps file positions to them.
    let mut candidates: Vec<ImportCandidate> = Vec::new();
    let mut index_map = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        let field = format!("candidates[{i}]");
        let cand = match v {
            Value::String(_) => ImportCandidate {
                text: non_empty_text(&field, v)?,
                source: None,
            },
            Value::Object(o) => ImportCandidate {
                text: non_empty_text(
                    &format!("{field}.text"),
                    o.get("text")
                        .ok_or_else(|| missing(&format!("{field}.text")))?,
                )?,
                source: match o.get("source") {
                    None | Some(Value::Null) => None,
                    Some(s) => Some(string_field(&format!("{field}.source"), s)?.to_string()),
                },
            },
            other => return Err(expected(&field, "string or {\"text\": ...} object", other)),
        };
        let pos = match candidates.iter().position(|c| c.text == cand.text) {
            Some(p) => p,
            None => {
                candidates.push(cand);
                candidates.len() - 1
            }
        };
        index_map.push(pos);
    }
    if candidates.len() < 2 {
        return Err(FieldError(format!(
            "field \"candidates\": need at least 2 distinct candidates, found {}",
            candidates.len()
        )));
    }
    if candidates.len() > MAX_CANDIDATES {
        return Err(FieldError(format!(
            "field \"candidates\": {} distinct candidates; kibble ranks at most {MAX_CANDIDATES} per \
             prompt (one key each): split them over several records or keep the best {MAX_CANDIDATES}",
            candidates.len()
        )));
    }
    let rankings = match obj.get("rankings") {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(rs)) => rs
            .iter()
            .enumerate()
            .map(|(i, r)| parse_kibble_ranking(&format!("rankings[{i}]"), r, &index_map))
            .collect::<Parsed<_>>()?,
        Some(other) => return Err(expected("rankings", "array", other)),
    };
    // A gold answer is written like a ranking's groups.
    let gold = match obj.get("gold") {
        None | Some(Value::Null) => None,
        Some(g) => {
            let wrapped = serde_json::json!({ "groups": g });
            Some(
                parse_kibble_ranking("gold", &wrapped, &index_map)
                    .map_err(|e| FieldError(e.0.replace("gold.groups", "gold")))?
                    .groups,
            )
        }
    };
    Ok(ImportItem {
        ext_id: ext_id(obj)?,
        prompt,
        meta: Value::Null,
        candidates,
        rankings,
        gold,
        merge_with_previous: false,
    })
}

/// A candidate index of the line (`v`), and the distinct candidate it names.
fn candidate_index(field: &str, v: &Value, index_map: &[usize]) -> Parsed<(u64, usize)> {
    let idx = v
        .as_u64()
        .ok_or_else(|| expected(field, "candidate index (integer)", v))?;
    let mapped = *index_map.get(idx as usize).ok_or_else(|| {
        FieldError(format!(
            "field \"{field}\": candidate index {idx} is out of range (there are {})",
            index_map.len()
        ))
    })?;
    Ok((idx, mapped))
}

/// `{"candidate": index, "flags"?: [str], "note"?: str}`: what was said about one answer.
fn answer_mark(
    field: &str,
    v: &Value,
    index_map: &[usize],
) -> Parsed<(usize, Vec<String>, Option<String>)> {
    let o = v.as_object().ok_or_else(|| expected(field, "object", v))?;
    let cf = format!("{field}.candidate");
    let (_, mapped) = candidate_index(
        &cf,
        o.get("candidate").ok_or_else(|| missing(&cf))?,
        index_map,
    )?;
    let flags = match o.get("flags") {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(fs)) => fs
            .iter()
            .enumerate()
            .map(|(i, f)| string_field(&format!("{field}.flags[{i}]"), f).map(str::to_string))
            .collect::<Parsed<_>>()?,
        Some(other) => return Err(expected(&format!("{field}.flags"), "array", other)),
    };
    let note = match o.get("note") {
        None | Some(Value::Null) => None,
        Some(n) => Some(string_field(&format!("{field}.note"), n)?.to_string()),
    };
    Ok((mapped, flags, note))
}

fn parse_kibble_ranking(field: &str, v: &Value, index_map: &[usize]) -> Parsed<ImportRanking> {
    let o = v.as_object().ok_or_else(|| expected(field, "object", v))?;
    let get = |k: &str| o.get(k).filter(|v| !v.is_null());
    let annotator = match get("annotator") {
        None => None,
        Some(a) => Some(string_field(&format!("{field}.annotator"), a)?.to_string()),
    };
    let criterion = match get("criterion") {
        None => None,
        Some(c) => Some(string_field(&format!("{field}.criterion"), c)?.to_string()),
    };
    let ratings = match get("ratings") {
        None => vec![],
        Some(v) => parse_ratings(&format!("{field}.ratings"), v, index_map)?,
    };
    let orders = match get("orders") {
        None => vec![],
        Some(Value::Object(o)) => o
            .iter()
            .map(|(name, g)| {
                // Groups, or {"groups", "mode"} for a best/worst ranking.
                let wrapped = match g {
                    Value::Object(_) => g.clone(),
                    _ => serde_json::json!({ "groups": g }),
                };
                let r =
                    parse_kibble_ranking(&format!("{field}.orders.{name}"), &wrapped, index_map)?;
                Ok((name.clone(), r.groups, r.mode))
            })
            .collect::<Parsed<_>>()?,
        Some(other) => {
            return Err(expected(
                &format!("{field}.orders"),
                "object of criterion: groups",
                other,
            ))
        }
    };
    let groups_field = format!("{field}.groups");
    // A decision of ratings only has no ranking.
    let empty = Value::Array(vec![]);
    let groups_v = match get("groups") {
        None if !ratings.is_empty() => &empty,
        g => g.ok_or_else(|| missing(&groups_field))?,
    };
    let groups_a = groups_v.as_array().ok_or_else(|| {
        expected(
            &groups_field,
            "array of arrays of candidate indices",
            groups_v,
        )
    })?;
    let mut groups = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (gi, g) in groups_a.iter().enumerate() {
        let gf = format!("{groups_field}[{gi}]");
        let members = g.as_array().ok_or_else(|| expected(&gf, "array", g))?;
        let mut group = Vec::new();
        for (mi, m) in members.iter().enumerate() {
            let mf = format!("{gf}[{mi}]");
            let (idx, mapped) = candidate_index(&mf, m, index_map)?;
            if !seen.insert(mapped) {
                return Err(FieldError(format!(
                    "field \"{mf}\": candidate {idx} appears twice in the ranking"
                )));
            }
            group.push(mapped);
        }
        if !group.is_empty() {
            groups.push(group);
        }
    }
    // A decision of ratings only ranks nothing; any ranking names two answers or more.
    let rated_only = seen.is_empty() && !ratings.is_empty();
    if seen.len() < 2 && !rated_only {
        return Err(FieldError(format!(
            "field \"{groups_field}\": a ranking needs at least 2 candidates"
        )));
    }
    let mode = match get("mode") {
        None => RankingMode::Full,
        Some(m) => {
            let s = string_field(&format!("{field}.mode"), m)?;
            RankingMode::parse(s).ok_or_else(|| {
                FieldError(format!(
                    "field \"{field}.mode\": expected \"full\" or \"best_worst\", found {s:?}"
                ))
            })?
        }
    };
    let num = |k: &str| -> Parsed<Option<f64>> {
        match get(k) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .filter(|x| x.is_finite())
                .map(Some)
                .ok_or_else(|| expected(&format!("{field}.{k}"), "number", v)),
        }
    };
    let flags = match get("flags") {
        None => vec![],
        Some(Value::Array(fs)) => fs
            .iter()
            .enumerate()
            .map(|(i, f)| string_field(&format!("{field}.flags[{i}]"), f).map(str::to_string))
            .collect::<Parsed<_>>()?,
        Some(other) => return Err(expected(&format!("{field}.flags"), "array", other)),
    };
    let note = match get("note") {
        None => None,
        Some(n) => Some(string_field(&format!("{field}.note"), n)?.to_string()),
    };
    let answer_marks = match get("answer_marks") {
        None => vec![],
        Some(Value::Array(ms)) => ms
            .iter()
            .enumerate()
            .map(|(i, m)| answer_mark(&format!("{field}.answer_marks[{i}]"), m, index_map))
            .collect::<Parsed<_>>()?,
        Some(other) => return Err(expected(&format!("{field}.answer_marks"), "array", other)),
    };
    Ok(ImportRanking {
        annotator,
        groups,
        mode,
        strength: num("strength")?,
        flags,
        note,
        answer_marks,
        created_at_ms: num("created_at")?.map(|x| x as i64),
        duration_ms: num("duration_ms")?.map(|x| x as i64),
        criterion,
        ratings,
        orders,
    })
}

/// `{"criterion": [points or null, one per candidate]}`: points by candidate index.
fn parse_ratings(
    field: &str,
    v: &Value,
    index_map: &[usize],
) -> Parsed<Vec<crate::data::CriterionPoints>> {
    let o = v
        .as_object()
        .ok_or_else(|| expected(field, "object of criterion: [points per candidate]", v))?;
    let mut out = Vec::new();
    for (name, list) in o {
        let f = format!("{field}.{name}");
        let a = list
            .as_array()
            .ok_or_else(|| expected(&f, "array of points (null: not rated)", list))?;
        if a.len() != index_map.len() {
            return Err(FieldError(format!(
                "field \"{f}\": {} points for {} candidates; give one per candidate (null: not rated)",
                a.len(),
                index_map.len()
            )));
        }
        let mut points = Vec::new();
        for (i, p) in a.iter().enumerate() {
            if p.is_null() {
                continue;
            }
            points.push((index_map[i], point(&format!("{f}[{i}]"), p)?));
        }
        out.push((name.clone(), points));
    }
    Ok(out)
}

/// One rating: a whole number 0-9.
pub fn point(field: &str, v: &Value) -> Parsed<u8> {
    v.as_u64()
        .filter(|p| *p <= 9)
        .map(|p| p as u8)
        .or_else(|| {
            v.as_f64()
                .filter(|x| x.fract() == 0.0 && (0.0..=9.0).contains(x))
                .map(|x| x as u8)
        })
        .ok_or_else(|| expected(field, "whole number of points 0-9", v))
}
