//! The words of the domain: prompts, candidates, rankings and the preference pairs they imply.
//! Plain data shared by `store`, `data`, `jobs` and `tui`; no I/O here.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub mod metric;
pub mod task;
pub use task::{Criterion, CriterionKind, Judgement, Scale, Task, OVERALL};

pub type PromptId = i64;
pub type CandidateId = i64;
pub type RankingId = i64;

/// One turn of a chat prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

/// A prompt is either plain text or a list of chat messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptBody {
    Text(String),
    Chat(Vec<Message>),
}

impl From<&str> for PromptBody {
    fn from(text: &str) -> Self {
        PromptBody::Text(text.to_string())
    }
}

impl PromptBody {
    /// Stable content hash: re-importing the same prompt finds the same row.
    pub fn content_hash(&self) -> [u8; 16] {
        match self {
            PromptBody::Text(t) => hash16(&[b"t", t.as_bytes()]),
            PromptBody::Chat(msgs) => {
                let mut h = Sha256::new();
                h.update(b"c");
                for m in msgs {
                    // Length-prefix each part so ("ab","c") and ("a","bc") differ.
                    for part in [&m.role, &m.content] {
                        h.update((part.len() as u64).to_le_bytes());
                        h.update(part.as_bytes());
                    }
                }
                truncate16(&h.finalize())
            }
        }
    }

    /// The text a model would condition on, for display and tokenisation.
    pub fn as_plain_text(&self) -> String {
        match self {
            PromptBody::Text(t) => t.clone(),
            PromptBody::Chat(msgs) => msgs
                .iter()
                .map(|m| format!("{}: {}", m.role, m.content))
                .collect::<Vec<_>>()
                .join("\n\n"),
        }
    }

    /// JSON form used in every export format: a string or a list of `{role, content}`.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            PromptBody::Text(t) => serde_json::Value::String(t.clone()),
            PromptBody::Chat(m) => serde_json::to_value(m).unwrap_or_default(),
        }
    }
}

pub fn candidate_hash(text: &str) -> [u8; 16] {
    hash16(&[text.as_bytes()])
}

fn hash16(parts: &[&[u8]]) -> [u8; 16] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    truncate16(&h.finalize())
}

fn truncate16(full: &[u8]) -> [u8; 16] {
    let mut out = [0u8; 16];
    out.copy_from_slice(&full[..16]);
    out
}

#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    pub id: PromptId,
    pub ext_id: Option<String>,
    pub body: PromptBody,
    pub meta: serde_json::Value,
    pub priority: i64,
    /// Known answer of a gold prompt: tie groups of candidate ids, best first.
    pub gold: Option<Vec<Vec<CandidateId>>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub id: CandidateId,
    pub prompt_id: PromptId,
    pub text: String,
    pub source: String,
}

/// How a ranking's groups are to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RankingMode {
    /// Groups are a full order, best first; members of one group are tied.
    Full,
    /// Three groups: [best], [the rest, unordered among themselves], [worst].
    BestWorst,
}

impl RankingMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RankingMode::Full => "full",
            RankingMode::BestWorst => "best_worst",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "full" => Some(RankingMode::Full),
            "best_worst" => Some(RankingMode::BestWorst),
            _ => None,
        }
    }
}

/// What an annotator did with a prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Rank,
    Skip,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Rank => "rank",
            Verdict::Skip => "skip",
        }
    }
}

/// The most answers one prompt may have: the label screen gives each a key (a-i, 1-9), so
/// imports and sampling refuse more rather than store answers nobody can rank.
pub const MAX_CANDIDATES: usize = 9;

/// A ranking about to be appended to the log.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRanking {
    pub prompt_id: PromptId,
    pub annotator: String,
    /// OS user that ran the process, kept beside the annotator name.
    pub os_user: Option<String>,
    pub created_at_ms: i64,
    pub duration_ms: Option<i64>,
    pub shown_order: Vec<CandidateId>,
    pub verdict: Verdict,
    pub mode: RankingMode,
    /// Ordered tie groups of candidate ids, best first. Empty for a skip.
    pub groups: Vec<Vec<CandidateId>>,
    pub strength: Option<f64>,
    pub flags: Vec<String>,
    pub note: Option<String>,
    pub rushed: bool,
    /// Flags and notes on single answers (named by candidate id, not the shuffled letter).
    pub answer_marks: Vec<AnswerMark>,
    /// Makes imports idempotent: the same key is never stored twice.
    pub dedupe_key: Option<Vec<u8>>,
    /// The task version the decision was made under (see `store::Store::task`).
    pub task_version: i64,
    /// The rank criterion `groups` orders; `None` when nothing was ranked (a skip, or a task
    /// whose criteria are all rated).
    pub criterion: Option<String>,
    /// What was said on the item's other criteria (further rankings, and ratings).
    pub judgements: Vec<Judgement>,
}

/// What an annotator said about one answer: flags and a note, beside the ranking.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AnswerMark {
    pub candidate: CandidateId,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A ranking as stored in the append-only log.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranking {
    pub id: RankingId,
    pub prompt_id: PromptId,
    pub annotator: String,
    pub os_user: Option<String>,
    pub created_at_ms: i64,
    pub duration_ms: Option<i64>,
    pub shown_order: Vec<CandidateId>,
    pub verdict: Verdict,
    pub mode: RankingMode,
    pub groups: Vec<Vec<CandidateId>>,
    pub strength: Option<f64>,
    pub flags: Vec<String>,
    pub note: Option<String>,
    pub rushed: bool,
    pub answer_marks: Vec<AnswerMark>,
    pub task_version: i64,
    /// The criterion `groups` is about (see `NewRanking::criterion`).
    pub criterion: Option<String>,
    /// Read for a rate criterion: each answer's points; `groups` is then the order they imply
    /// and each pair's margin is its difference in points.
    pub points: Vec<(CandidateId, u8)>,
}

/// One "chosen is better than rejected" judgement implied by a ranking.
#[derive(Debug, Clone, PartialEq)]
pub struct PreferencePair {
    pub ranking_id: RankingId,
    pub prompt_id: PromptId,
    pub chosen: CandidateId,
    pub rejected: CandidateId,
    pub margin: Option<f64>,
    /// 1 / (number of ordered pairs in the ranking): each ranking counts once whatever its K.
    pub weight: f64,
}

/// Two candidates a ranking put in the same tie group.
#[derive(Debug, Clone, PartialEq)]
pub struct TiePair {
    pub ranking_id: RankingId,
    pub prompt_id: PromptId,
    pub a: CandidateId,
    pub b: CandidateId,
}

impl Ranking {
    /// The ordered pairs and the ties this ranking implies.
    /// A full ranking of K candidates in singleton groups gives K(K-1)/2 pairs.
    pub fn pairs(&self) -> (Vec<PreferencePair>, Vec<TiePair>) {
        let mut ordered: Vec<(CandidateId, CandidateId)> = Vec::new();
        let mut ties = Vec::new();
        if self.verdict != Verdict::Rank {
            return (Vec::new(), ties);
        }
        for (gi, group) in self.groups.iter().enumerate() {
            if self.mode == RankingMode::Full {
                for (i, &a) in group.iter().enumerate() {
                    for &b in &group[i + 1..] {
                        ties.push(TiePair {
                            ranking_id: self.id,
                            prompt_id: self.prompt_id,
                            a,
                            b,
                        });
                    }
                }
            }
            for worse in &self.groups[gi + 1..] {
                for &c in group {
                    for &r in worse {
                        ordered.push((c, r));
                    }
                }
            }
        }
        let weight = if ordered.is_empty() {
            0.0
        } else {
            1.0 / ordered.len() as f64
        };
        let pairs = ordered
            .into_iter()
            .map(|(chosen, rejected)| PreferencePair {
                ranking_id: self.id,
                prompt_id: self.prompt_id,
                chosen,
                rejected,
                margin: self.points_margin(chosen, rejected).or(self.strength),
                weight,
            })
            .collect();
        (pairs, ties)
    }
}

impl Ranking {
    /// For a rated criterion, how many points `chosen` got above `rejected`.
    pub fn points_margin(&self, chosen: CandidateId, rejected: CandidateId) -> Option<f64> {
        let of = |id| {
            self.points
                .iter()
                .find(|p| p.0 == id)
                .map(|p| f64::from(p.1))
        };
        Some(of(chosen)? - of(rejected)?)
    }
}

/// splitmix64: a tiny, fixed PRNG, so shuffles, splits and initial weights never depend on a
/// crate's RNG version or a global seed.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(Self::GOLDEN);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Fisher-Yates with splitmix64: the same order for the same seed, everywhere, forever.
pub fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut rng = SplitMix64::new(seed);
    for i in (1..items.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

/// (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Deterministic train/eval assignment by prompt: a prompt never lands on both sides,
/// and stays on its side as the DB grows.
pub fn is_eval_prompt(prompt_hash: &[u8; 16], seed: u64, eval_fraction: f64) -> bool {
    let mut h = Sha256::new();
    h.update(seed.to_le_bytes());
    h.update(prompt_hash);
    let d = h.finalize();
    let x = u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]]);
    (x as f64 / u64::MAX as f64) < eval_fraction
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranking(groups: Vec<Vec<i64>>, mode: RankingMode) -> Ranking {
        Ranking {
            id: 1,
            prompt_id: 1,
            annotator: "a".into(),
            os_user: None,
            created_at_ms: 0,
            duration_ms: None,
            shown_order: vec![],
            verdict: Verdict::Rank,
            mode,
            groups,
            strength: Some(2.0),
            flags: vec![],
            note: None,
            rushed: false,
            answer_marks: vec![],
            task_version: 1,
            criterion: Some(OVERALL.into()),
            points: vec![],
        }
    }

    #[test]
    fn rating_implied_pairs_take_the_difference_in_points_as_margin_and_equal_points_tie() {
        let points = vec![(1, 5), (2, 2), (3, 2)];
        let mut r = ranking(task::groups_from_points(&points), RankingMode::Full);
        r.points = points;
        let (p, t) = r.pairs();
        let margins: Vec<_> = p.iter().map(|p| (p.chosen, p.rejected, p.margin)).collect();
        assert_eq!(margins, vec![(1, 2, Some(3.0)), (1, 3, Some(3.0))]);
        assert_eq!(t.len(), 1);
        assert_eq!((t[0].a, t[0].b), (2, 3));
    }

    #[test]
    fn full_ranking_of_four_gives_six_pairs() {
        let (p, t) = ranking(vec![vec![1], vec![2], vec![3], vec![4]], RankingMode::Full).pairs();
        assert_eq!(p.len(), 6);
        assert!(t.is_empty());
        assert!((p.iter().map(|x| x.weight).sum::<f64>() - 1.0).abs() < 1e-12);
        assert_eq!((p[0].chosen, p[0].rejected), (1, 2));
    }

    #[test]
    fn ties_are_not_pairs() {
        // b > (a = d) > c
        let (p, t) = ranking(vec![vec![2], vec![1, 4], vec![3]], RankingMode::Full).pairs();
        let got: Vec<_> = p.iter().map(|x| (x.chosen, x.rejected)).collect();
        assert_eq!(got, vec![(2, 1), (2, 4), (2, 3), (1, 3), (4, 3)]);
        assert_eq!(t.len(), 1);
        assert_eq!((t[0].a, t[0].b), (1, 4));
    }

    #[test]
    fn best_worst_middle_is_unordered_not_tied() {
        let (p, t) = ranking(vec![vec![1], vec![2, 3], vec![4]], RankingMode::BestWorst).pairs();
        assert_eq!(p.len(), 5);
        assert!(t.is_empty());
    }

    #[test]
    fn split_is_deterministic_and_roughly_sized() {
        let n = (0..2000u32)
            .filter(|i| is_eval_prompt(&candidate_hash(&i.to_string()), 7, 0.1))
            .count();
        assert!((120..280).contains(&n), "{n}");
        let h = candidate_hash("x");
        assert_eq!(is_eval_prompt(&h, 1, 0.5), is_eval_prompt(&h, 1, 0.5));
    }

    #[test]
    fn chat_hash_is_unambiguous() {
        let a = PromptBody::Chat(vec![Message {
            role: "ab".into(),
            content: "c".into(),
        }]);
        let b = PromptBody::Chat(vec![Message {
            role: "a".into(),
            content: "bc".into(),
        }]);
        assert_ne!(a.content_hash(), b.content_hash());
        assert_ne!(
            PromptBody::Text("x".into()).content_hash(),
            candidate_hash("x")
        );
    }
}
