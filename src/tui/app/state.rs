//! The app's own state types: configuration, where time comes from, scrolled views, overlays
//! and confirmations (the router's; a screen's state lives with the screen).

use std::time::{Duration, Instant};

use crate::domain::{PromptId, RankingId, Verdict};
use crate::store::QueueOptions;

use super::DEFAULT_FLAG_REASONS;

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
    pub watch: crate::tui::screens::improve::Watch,
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
    /// The Improve screen's round settings being typed: `n=8 lr=2e-4 lora=16 epochs=1`.
    RoundSettings {
        buffer: String,
    },
    /// The Improve screen's first policy being typed: a GGUF file or HF folder, or empty for
    /// kibble's tiny policy trained on the DB.
    PolicySource {
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
