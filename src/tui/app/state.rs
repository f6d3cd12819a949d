//! The labelling app's state types: configuration, the item on screen and what was typed on
//! it, overlays, confirmations, and the session's decisions kept for undo.

use super::*;

#[derive(Debug, Clone)]
pub struct AppConfig {
    pub annotator: String,
    pub os_user: Option<String>,
    pub db_label: String,
    pub queue: QueueOptions,
    /// Only prompts with this tag and/or candidate source (`--only`).
    pub only: crate::store::QueueFilter,
    /// Review mode (`--review`): prompts annotators disagree on, their rankings shown; the
    /// reviewer's ranking becomes the prompt's gold answer.
    pub review: bool,
    /// Decisions faster than this are marked as rushed.
    pub min_seconds: f64,
    pub flag_reasons: Vec<String>,
    pub ascii: bool,
    pub color: bool,
    /// Thresholds of the Improve screen's reward-hacking watch.
    pub watch: crate::tui::improve::Watch,
}

impl AppConfig {
    pub fn new(annotator: &str) -> AppConfig {
        AppConfig {
            annotator: annotator.into(),
            os_user: None,
            db_label: String::new(),
            queue: QueueOptions::default(),
            only: Default::default(),
            review: false,
            min_seconds: 0.0,
            flag_reasons: DEFAULT_FLAG_REASONS.iter().map(|s| s.to_string()).collect(),
            ascii: false,
            color: true,
            watch: Default::default(),
        }
    }
}

/// Where time comes from: the real clock, or a hand-driven one for tests and snapshots.
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    Real(Instant),
    Manual(Duration),
}

impl Clock {
    pub fn elapsed(&self) -> Duration {
        match self {
            Clock::Real(start) => start.elapsed(),
            Clock::Manual(d) => *d,
        }
    }
}

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

    pub(super) fn mark_mut(&mut self, pos: usize) -> &mut AnswerMark {
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
    pub(super) fn tidy_marks(&mut self) {
        self.answer_marks
            .retain(|m| !m.flags.is_empty() || m.note.is_some());
    }
}

/// A scrolled text as last drawn: rows visible and rows in all. Zero until drawn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct View {
    pub visible: u16,
    pub total: u16,
}

impl View {
    /// The first row after moving `lines` rows (or `pages` screens, one row of overlap) from `at`.
    pub fn scrolled(self, at: u16, lines: i32, pages: i32) -> u16 {
        // Before the first draw the height is unknown: a page is then 10 rows.
        let page = if self.visible == 0 {
            10
        } else {
            i32::from(self.visible.saturating_sub(1).max(1))
        };
        let last = if self.visible == 0 {
            u16::MAX as i32
        } else {
            i32::from(self.total.saturating_sub(self.visible))
        };
        let from = i32::from(at).min(last);
        (from + lines + pages * page).clamp(0, last) as u16
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

/// Something that waits for an answer before it happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirm {
    CancelRun,
    DeleteCheckpoints,
    /// `q` with unsaved work on screen.
    Quit,
    /// Enter on a ranking that ties every answer (it carries no preference).
    AllTie,
    /// `u` while an undone decision is being fixed: `y` keeps the fix, `r` puts it back as it was.
    UndoWhileFixing,
    /// `u` with a ranking typed in on a new prompt: it would be dropped.
    UndoDropsEntry,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Overlay {
    None,
    Help,
    Confirm(Confirm),
    /// Flag reasons being chosen for the prompt, or for the answer shown at `answer`.
    Flag {
        selected: Vec<bool>,
        answer: Option<usize>,
    },
    /// A note being typed on the prompt, or on the answer shown at `answer`.
    Note {
        buffer: String,
        answer: Option<usize>,
    },
    /// The task's guidelines and the prompt's own (read once, when opened), scrolled to
    /// this row.
    Guidelines {
        text: String,
        scroll: u16,
    },
    /// A search being typed: a prompt id, external id or text.
    Find {
        buffer: String,
    },
    /// The Improve screen's reward being typed: `criterion=weight,...; criterion<threshold`.
    RewardMix {
        buffer: String,
    },
    /// My recent decisions, newest first; Enter opens the selected one to change it.
    History {
        entries: Vec<HistoryEntry>,
        selected: usize,
    },
}

/// One line of the history list.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    pub ranking_id: RankingId,
    pub prompt_id: PromptId,
    pub created_at_ms: i64,
    pub verdict: Verdict,
    /// The ranking as letters in the order the annotator saw the answers ("B > A = C").
    pub order: String,
    pub prompt: String,
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
