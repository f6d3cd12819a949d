//! The Label screen's state types: the item on screen and what was typed on it, and the
//! session's decisions kept for undo.

use super::*;

/// The prompt on screen and everything the annotator did to it so far.
#[derive(Debug, Clone)]
pub struct Item {
    pub prompt: Prompt,
    /// Candidates in the order shown (seeded shuffle per annotator and prompt).
    pub shown: Vec<Candidate>,
    pub scores: HashMap<CandidateId, f64>,
    pub started: Duration,
    pub last_renewed: Duration,
    pub focus: usize,
    pub scroll: Vec<u16>,
    /// First prompt line shown; `u16::MAX` means "the end" (where a chat's last turn is).
    pub prompt_scroll: u16,
    /// Each answer's and the prompt's rows as last drawn, so paging moves by what is visible.
    /// Rendering writes them (a layout cache, like a ratatui `StatefulWidget`'s state).
    pub answer_views: Vec<Cell<View>>,
    pub prompt_view: Cell<View>,
    pub flags: Vec<String>,
    pub note: Option<String>,
    /// Flags and notes on single answers, by candidate id (not the shuffled letter).
    pub answer_marks: Vec<AnswerMark>,
    /// Review mode: each other annotator's ranking, in this screen's letters.
    pub others: Vec<(String, String)>,
}

impl Item {
    /// The marks on the answer shown at `pos`, if any.
    pub fn mark(&self, pos: usize) -> Option<&AnswerMark> {
        let id = self.shown.get(pos)?.id;
        self.answer_marks.iter().find(|m| m.candidate == id)
    }

    pub(crate) fn mark_mut(&mut self, pos: usize) -> &mut AnswerMark {
        let id = self.shown[pos].id;
        if let Some(i) = self.answer_marks.iter().position(|m| m.candidate == id) {
            return &mut self.answer_marks[i];
        }
        self.answer_marks.push(AnswerMark {
            candidate: id,
            ..Default::default()
        });
        self.answer_marks.last_mut().expect("just pushed")
    }

    /// Drops marks left empty, so "no marks" is always the empty list.
    pub(crate) fn tidy_marks(&mut self) {
        self.answer_marks
            .retain(|m| !m.flags.is_empty() || m.note.is_some());
    }
}

/// The ranking being typed, in shown positions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Entry {
    pub groups: Vec<Vec<usize>>,
    pub tie_next: bool,
    /// 1..=3 (slightly, clearly, much better), or none.
    pub strength: Option<u8>,
    pub best_worst: bool,
    /// Points per shown position on a rated criterion.
    pub points: Vec<Option<u8>>,
    /// The task criterion being answered (index), and what was said on each so far.
    pub step: usize,
    pub said: Vec<Option<Said>>,
}

impl Entry {
    pub fn placed(&self) -> usize {
        self.groups.iter().map(Vec::len).sum()
    }
    pub fn contains(&self, pos: usize) -> bool {
        self.groups.iter().any(|g| g.contains(&pos))
    }
    /// Criterion `step`, pre-filled with what was said on it before (if anything).
    pub fn show(&mut self, step: usize) {
        self.step = step;
        self.groups.clear();
        self.tie_next = false;
        self.points.clear();
        match self.said.get(step).cloned().flatten() {
            Some(Said::Order { groups, best_worst }) => {
                self.best_worst = best_worst;
                // Best/worst is typed as two picks: best, then worst.
                self.groups = if best_worst && groups.len() == 3 {
                    vec![groups[0].clone(), groups[2].clone()]
                } else {
                    groups
                };
            }
            Some(Said::Points(p)) => self.points = p,
            None => {}
        }
    }

    /// 1-based rank of a shown position, if placed.
    pub fn rank_of(&self, pos: usize) -> Option<usize> {
        self.groups
            .iter()
            .position(|g| g.contains(&pos))
            .map(|i| i + 1)
    }
}

/// One decision of this session, kept for undo.
#[derive(Debug, Clone)]
pub struct Saved {
    pub ranking_id: RankingId,
    pub prompt_id: PromptId,
}

/// An undone decision back on screen to be fixed: the ranking it was (retracted in the log)
/// and the state it was restored to, so a change can be told from none.
#[derive(Debug, Clone)]
pub struct Fixing {
    pub old: Ranking,
    pub(super) restored: (Entry, Vec<String>, Option<String>, Vec<AnswerMark>),
}
