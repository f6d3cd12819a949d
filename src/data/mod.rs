//! Import and export formats: kibble JSONL, TRL preference pairs (standard, conversational,
//! implicit-prompt/HH), prompts-only, OpenRLHF and ranking dumps. Pure: readers and values in,
//! values out; the store is written by `jobs::import`.

pub mod export;
pub mod formats;
pub mod ratings;
pub mod reader;
pub mod sample;

use crate::domain::{PromptBody, RankingMode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `{"prompt", "candidates": [...], "id"?, "meta"?, "rankings"?}`
    Kibble,
    /// TRL preference pairs: `{"prompt", "chosen", "rejected", "margin"?}`
    Trl,
    /// Implicit prompt: `{"chosen", "rejected"}` whole transcripts (Anthropic HH)
    Hh,
    /// `{"prompt"}` only, to be answered later by the policy
    Prompts,
    /// Points per answer, one answer per line (HelpSteer2-like):
    /// `{"prompt","response","ratings":{criterion: points}}`
    Ratings,
    /// Points per answer, one prompt per line: `{"prompt","completions":[{"response","ratings"}]}`
    Ultrafeedback,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Kibble => "kibble",
            Format::Trl => "trl",
            Format::Hh => "hh",
            Format::Prompts => "prompts",
            Format::Ratings => "ratings",
            Format::Ultrafeedback => "ultrafeedback",
        }
    }
}

/// Points on one criterion: (criterion, [(candidate index, points)]).
pub type CriterionPoints = (String, Vec<(usize, u8)>);

/// One candidate as read from a file.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportCandidate {
    pub text: String,
    /// Where it came from; `None` means "this import file".
    pub source: Option<String>,
}

/// A ranking as read from a file; groups index into `ImportItem::candidates`.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportRanking {
    /// `None` means the file itself (`import:<file name>`).
    pub annotator: Option<String>,
    pub groups: Vec<Vec<usize>>,
    pub mode: RankingMode,
    pub strength: Option<f64>,
    pub flags: Vec<String>,
    pub note: Option<String>,
    pub created_at_ms: Option<i64>,
    pub duration_ms: Option<i64>,
    /// Flags and notes on single answers: (candidate index, flags, note).
    pub answer_marks: Vec<(usize, Vec<String>, Option<String>)>,
    /// The rank criterion `groups` orders; `None`: the task's first rank criterion.
    pub criterion: Option<String>,
    /// Points per criterion: (criterion, [(candidate index, points)]).
    pub ratings: Vec<CriterionPoints>,
    /// Rankings on the task's other rank criteria: (criterion, tie groups of candidate indices,
    /// how the groups are read).
    pub orders: Vec<(String, Vec<Vec<usize>>, RankingMode)>,
}

/// Everything one line of any format contributes.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportItem {
    pub ext_id: Option<String>,
    pub prompt: PromptBody,
    pub meta: serde_json::Value,
    /// Distinct texts, in file order.
    pub candidates: Vec<ImportCandidate>,
    pub rankings: Vec<ImportRanking>,
    /// Known answer (tie groups of candidate indices) for a gold prompt.
    pub gold: Option<Vec<Vec<usize>>>,
    /// A `ratings` line: it joins the previous line's decision when prompt and annotator match.
    pub merge_with_previous: bool,
}
