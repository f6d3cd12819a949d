//! Parsing one JSONL line of each import format into an `ImportItem`.
//! Errors name the field and say what was expected and what was found.

use serde_json::{Map, Value};

use super::{Format, ImportCandidate, ImportItem, ImportRanking};
use crate::domain::{Message, PromptBody, RankingMode, MAX_CANDIDATES};

mod kibble;

use kibble::parse_kibble;
pub use kibble::point;

/// A problem with one line; the caller adds `FILE:LINE: ` in front.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError(pub String);

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

type Parsed<T> = Result<T, FieldError>;

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn expected(field: &str, what: &str, found: &Value) -> FieldError {
    FieldError(format!(
        "field \"{field}\": expected {what}, found {}",
        json_kind(found)
    ))
}

fn missing(field: &str) -> FieldError {
    FieldError(format!("missing field \"{field}\""))
}

fn string_field<'a>(field: &str, v: &'a Value) -> Parsed<&'a str> {
    v.as_str().ok_or_else(|| expected(field, "string", v))
}

fn non_empty_text(field: &str, v: &Value) -> Parsed<String> {
    let s = string_field(field, v)?;
    if s.trim().is_empty() {
        return Err(FieldError(format!("field \"{field}\": text is empty")));
    }
    Ok(s.to_string())
}

/// Parses the JSON of one line into an object.
pub fn parse_object(line: &str) -> Parsed<Map<String, Value>> {
    match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(FieldError(format!(
            "expected a JSON object per line, found {}",
            json_kind(&other)
        ))),
        Err(e) => Err(FieldError(format!("invalid JSON: {e}"))),
    }
}

/// Which format a line's keys look like.
pub fn detect(obj: &Map<String, Value>) -> Parsed<Format> {
    let has = |k: &str| obj.contains_key(k);
    if has("candidates") {
        Ok(Format::Kibble)
    } else if has("completions") {
        Ok(Format::Ultrafeedback)
    } else if has("prompt") && has("response") {
        Ok(Format::Ratings)
    } else if has("chosen") && has("rejected") {
        Ok(if has("prompt") {
            Format::Trl
        } else {
            Format::Hh
        })
    } else if has("prompt") {
        Ok(Format::Prompts)
    } else {
        Err(FieldError(
            "cannot tell the format from this line: expected a \"candidates\", \"chosen\"/\"rejected\" or \"prompt\" key; pass --format".into(),
        ))
    }
}

pub fn parse_item(format: Format, mut obj: Map<String, Value>) -> Parsed<ImportItem> {
    let item = match format {
        Format::Kibble => parse_kibble(&obj)?,
        Format::Trl => parse_trl(&obj)?,
        Format::Hh => parse_implicit(&obj)?,
        Format::Prompts => parse_prompt_only(&obj)?,
        Format::Ratings => super::ratings::parse_rating_line(&obj)?,
        Format::Ultrafeedback => super::ratings::parse_ultrafeedback(&obj)?,
    };
    let mut item = item;
    item.meta = collect_meta(format, &mut obj)?;
    Ok(item)
}

/// `meta` plus any keys the format does not know (e.g. `subset`, `source`), kept as metadata.
fn collect_meta(format: Format, obj: &mut Map<String, Value>) -> Parsed<Value> {
    let known: &[&str] = match format {
        Format::Kibble => &["prompt", "candidates", "id", "meta", "rankings", "gold"],
        Format::Trl => &["prompt", "chosen", "rejected", "margin", "id", "meta"],
        Format::Hh => &["chosen", "rejected", "margin", "id", "meta"],
        Format::Prompts => &["prompt", "id", "meta"],
        // Numbers on a ratings line are points (HelpSteer2), not metadata.
        Format::Ratings => &["prompt", "response", "ratings", "annotator", "id", "meta"],
        Format::Ultrafeedback => &["prompt", "completions", "annotator", "id", "meta"],
    };
    let mut meta = match obj.remove("meta") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(other) => return Err(expected("meta", "object", &other)),
    };
    for (k, v) in std::mem::take(obj) {
        if !known.contains(&k.as_str()) {
            meta.entry(k).or_insert(v);
        }
    }
    Ok(Value::Object(meta))
}

fn ext_id(obj: &Map<String, Value>) -> Parsed<Option<String>> {
    match obj.get("id") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(expected("id", "string", other)),
    }
}

fn margin(obj: &Map<String, Value>) -> Parsed<Option<f64>> {
    match obj.get("margin") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_f64() {
            Some(m) if m.is_finite() => Ok(Some(m)),
            _ => Err(expected("margin", "number", v)),
        },
    }
}

fn messages(field: &str, items: &[Value]) -> Parsed<Vec<Message>> {
    if items.is_empty() {
        return Err(FieldError(format!("field \"{field}\": no messages")));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let at = format!("{field}[{i}]");
            let obj = m.as_object().ok_or_else(|| expected(&at, "object", m))?;
            let role = obj
                .get("role")
                .ok_or_else(|| missing(&format!("{at}.role")))?;
            let content = obj
                .get("content")
                .ok_or_else(|| missing(&format!("{at}.content")))?;
            Ok(Message {
                role: string_field(&format!("{at}.role"), role)?.to_string(),
                content: string_field(&format!("{at}.content"), content)?.to_string(),
            })
        })
        .collect()
}

pub(super) fn prompt_body(obj: &Map<String, Value>) -> Parsed<PromptBody> {
    let v = obj.get("prompt").ok_or_else(|| missing("prompt"))?;
    match v {
        Value::String(_) => Ok(PromptBody::Text(non_empty_text("prompt", v)?)),
        Value::Array(items) => Ok(PromptBody::Chat(messages("prompt", items)?)),
        other => Err(expected("prompt", "string or list of messages", other)),
    }
}

/// A response: text for standard TRL rows, a list of messages (contents joined) for conversational ones.
fn response_text(field: &str, v: &Value, conversational: bool) -> Parsed<String> {
    if !conversational {
        return non_empty_text(field, v);
    }
    let items = v
        .as_array()
        .ok_or_else(|| expected(field, "list of messages (the prompt is one)", v))?;
    let text = join_contents(&messages(field, items)?);
    if text.trim().is_empty() {
        return Err(FieldError(format!("field \"{field}\": text is empty")));
    }
    Ok(text)
}

fn join_contents(msgs: &[Message]) -> String {
    msgs.iter()
        .map(|m| m.content.as_str())
        .collect::<Vec<_>>()
        .join("\n\n")
}

fn parse_prompt_only(obj: &Map<String, Value>) -> Parsed<ImportItem> {
    Ok(ImportItem {
        ext_id: ext_id(obj)?,
        prompt: prompt_body(obj)?,
        meta: Value::Null,
        candidates: vec![],
        rankings: vec![],
        gold: None,
        merge_with_previous: false,
    })
}

fn pair_item(
    obj: &Map<String, Value>,
    prompt: PromptBody,
    chosen: String,
    rejected: String,
) -> Parsed<ImportItem> {
    if chosen == rejected {
        return Err(FieldError(
            "fields \"chosen\" and \"rejected\": identical text; a pair needs 2 distinct candidates"
                .into(),
        ));
    }
    Ok(ImportItem {
        ext_id: ext_id(obj)?,
        prompt,
        meta: Value::Null,
        candidates: vec![
            ImportCandidate {
                text: chosen,
                source: None,
            },
            ImportCandidate {
                text: rejected,
                source: None,
            },
        ],
        rankings: vec![ImportRanking {
            annotator: None,
            groups: vec![vec![0], vec![1]],
            mode: RankingMode::Full,
            strength: margin(obj)?,
            flags: vec![],
            note: None,
            created_at_ms: None,
            duration_ms: None,
            answer_marks: vec![],
            criterion: None,
            ratings: vec![],
            orders: vec![],
        }],
        gold: None,
        merge_with_previous: false,
    })
}

fn parse_trl(obj: &Map<String, Value>) -> Parsed<ImportItem> {
    let mut prompt = prompt_body(obj)?;
    let chosen = obj.get("chosen").ok_or_else(|| missing("chosen"))?;
    let rejected = obj.get("rejected").ok_or_else(|| missing("rejected"))?;
    // The common mixed row: a string prompt with message-list answers is one user turn.
    if let (PromptBody::Text(t), Value::Array(_), Value::Array(_)) = (&prompt, chosen, rejected) {
        prompt = PromptBody::Chat(vec![Message {
            role: "user".into(),
            content: t.clone(),
        }]);
    }
    let chat = matches!(prompt, PromptBody::Chat(_));
    let chosen = response_text("chosen", chosen, chat)?;
    let rejected = response_text("rejected", rejected, chat)?;
    pair_item(obj, prompt, chosen, rejected)
}

const HUMAN: &str = "\n\nHuman:";
const ASSISTANT: &str = "\n\nAssistant:";

/// Implicit prompt (Anthropic HH style): `chosen`/`rejected` are whole transcripts and
/// their shared beginning, up to the last assistant turn marker, is the prompt.
fn parse_implicit(obj: &Map<String, Value>) -> Parsed<ImportItem> {
    let c = obj.get("chosen").ok_or_else(|| missing("chosen"))?;
    let r = obj.get("rejected").ok_or_else(|| missing("rejected"))?;
    match (c, r) {
        (Value::String(cs), Value::String(rs)) => {
            let common = common_prefix_len(cs, rs);
            let cut = cs[..common].rfind(ASSISTANT).ok_or_else(|| {
                FieldError(format!(
                    "fields \"chosen\"/\"rejected\": no shared prompt ending in {ASSISTANT:?}; is this HH format?"
                ))
            })? + ASSISTANT.len();
            let chosen = cs[cut..].trim_start().to_string();
            let rejected = rs[cut..].trim_start().to_string();
            for (field, text) in [("chosen", &chosen), ("rejected", &rejected)] {
                if text.trim().is_empty() {
                    return Err(FieldError(format!(
                        "field \"{field}\": empty response after the shared prompt"
                    )));
                }
            }
            pair_item(obj, hh_prompt(&cs[..cut]), chosen, rejected)
        }
        (Value::Array(ca), Value::Array(ra)) => {
            let cm = messages("chosen", ca)?;
            let rm = messages("rejected", ra)?;
            let shared = cm.iter().zip(&rm).take_while(|(a, b)| a == b).count();
            if shared == 0 || shared == cm.len() || shared == rm.len() {
                return Err(FieldError(
                    "fields \"chosen\"/\"rejected\": need shared prompt messages followed by different responses".into(),
                ));
            }
            pair_item(
                obj,
                PromptBody::Chat(cm[..shared].to_vec()),
                join_contents(&cm[shared..]),
                join_contents(&rm[shared..]),
            )
        }
        (Value::String(_) | Value::Array(_), other) => {
            Err(expected("rejected", "the same type as \"chosen\"", other))
        }
        (other, _) => Err(expected("chosen", "string or list of messages", other)),
    }
}

fn common_prefix_len(a: &str, b: &str) -> usize {
    let mut n = 0;
    for ((i, ca), cb) in a.char_indices().zip(b.chars()) {
        if ca != cb {
            return i;
        }
        n = i + ca.len_utf8();
    }
    n
}

/// Turns "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: more\n\nAssistant:" into chat turns.
fn hh_prompt(text: &str) -> PromptBody {
    let mut msgs = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (role, after) = if let Some(a) = rest.strip_prefix(HUMAN) {
            ("user", a)
        } else if let Some(a) = rest.strip_prefix(ASSISTANT) {
            ("assistant", a)
        } else {
            return PromptBody::Text(text.trim().to_string());
        };
        let end = [after.find(HUMAN), after.find(ASSISTANT)]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(after.len());
        let content = after[..end].trim();
        if !content.is_empty() {
            msgs.push(Message {
                role: role.into(),
                content: content.into(),
            });
        }
        rest = &after[end..];
    }
    if msgs.is_empty() {
        PromptBody::Text(text.trim().to_string())
    } else {
        PromptBody::Chat(msgs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(format: Format, line: &str) -> Parsed<ImportItem> {
        parse_item(format, parse_object(line)?)
    }

    #[test]
    fn wrong_type_names_field() {
        let e = item(Format::Trl, r#"{"prompt":"p","chosen":3,"rejected":"r"}"#).unwrap_err();
        assert_eq!(e.0, "field \"chosen\": expected string, found number");
        let e = item(Format::Kibble, r#"{"prompt":"p","candidates":["a",null]}"#).unwrap_err();
        assert_eq!(
            e.0,
            "field \"candidates[1]\": expected string or {\"text\": ...} object, found null"
        );
    }

    #[test]
    fn hh_transcripts_split_at_last_assistant_turn() {
        let line = r#"{"chosen":"\n\nHuman: Hi there\n\nAssistant: Hello!\n\nHuman: Name a fruit\n\nAssistant: An apple.","rejected":"\n\nHuman: Hi there\n\nAssistant: Hello!\n\nHuman: Name a fruit\n\nAssistant: A car."}"#;
        let it = item(Format::Hh, line).unwrap();
        let PromptBody::Chat(m) = &it.prompt else {
            panic!("expected chat")
        };
        assert_eq!(m.len(), 3);
        assert_eq!(m[2].content, "Name a fruit");
        assert_eq!(it.candidates[0].text, "An apple.");
        assert_eq!(it.candidates[1].text, "A car.");
    }

    #[test]
    fn hh_shared_first_word_stays_in_response() {
        let line = r#"{"chosen":"\n\nHuman: q\n\nAssistant: I think yes","rejected":"\n\nHuman: q\n\nAssistant: I think no"}"#;
        let it = item(Format::Hh, line).unwrap();
        assert_eq!(it.candidates[0].text, "I think yes");
    }

    #[test]
    fn kibble_dedupes_candidates_and_maps_rankings() {
        let line = r#"{"prompt":"p","candidates":["a","b","a","c"],"rankings":[{"annotator":"x","groups":[[3],[1,0]]}]}"#;
        let it = item(Format::Kibble, line).unwrap();
        assert_eq!(it.candidates.len(), 3);
        assert_eq!(it.rankings[0].groups, vec![vec![2], vec![1, 0]]);
        let e = item(Format::Kibble, r#"{"prompt":"p","candidates":["a","a"]}"#).unwrap_err();
        assert!(e.0.contains("at least 2 distinct"), "{}", e.0);
    }

    #[test]
    fn unknown_keys_become_meta() {
        let it = item(
            Format::Trl,
            r#"{"prompt":"p","chosen":"a","rejected":"b","subset":"math"}"#,
        )
        .unwrap();
        assert_eq!(it.meta["subset"], "math");
    }

    #[test]
    fn detect_formats() {
        let d = |l: &str| detect(&parse_object(l).unwrap());
        assert_eq!(d(r#"{"prompt":"p","candidates":[]}"#), Ok(Format::Kibble));
        assert_eq!(
            d(r#"{"prompt":"p","chosen":"a","rejected":"b"}"#),
            Ok(Format::Trl)
        );
        assert_eq!(d(r#"{"chosen":"a","rejected":"b"}"#), Ok(Format::Hh));
        assert_eq!(d(r#"{"prompt":"p"}"#), Ok(Format::Prompts));
        assert!(d(r#"{"x":1}"#).is_err());
    }
}
