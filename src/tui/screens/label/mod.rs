//! The Label screen (F1): a prompt and its answers; the annotator ranks or rates them on each
//! criterion of the task, and every decision is in the DB the moment it is made. The state is
//! here, what each key does in `on_action` and the files beside it, drawing in `view.rs`.

mod criteria;
mod decisions;
mod queue;
mod reading;
mod state;
mod undo;
pub mod view;

use std::cell::Cell;
use std::collections::HashMap;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::{scroll_step, Session};
use crate::domain::{
    now_ms, AnswerMark, Candidate, CandidateId, NewRanking, Prompt, PromptId, Ranking, RankingId,
    RankingMode, Verdict, MAX_CANDIDATES,
};
use crate::tui::app::{Confirm, HistoryEntry, Overlay, View};
use crate::tui::keymap::Action;

pub use criteria::Said;
pub use state::*;

pub const DEFAULT_FLAG_REASONS: &[&str] = &[
    "unsafe",
    "low quality",
    "wrong language",
    "private data",
    "broken",
];
/// How often the header's done/total is re-read from the DB.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);
pub const STRENGTH_NAMES: [&str; 3] = ["slightly", "clearly", "much"];

#[derive(Default)]
pub struct LabelScreen {
    pub item: Option<Item>,
    /// The labelling task (criteria) and its version, read as each item is loaded.
    pub task: crate::domain::Task,
    pub task_version: i64,
    pub entry: Entry,
    pub history: Vec<Saved>,
    /// Time spent on this session's decisions (from an item shown to its decision).
    pub labelling: Duration,
    /// Decisions made after the one being fixed (nearest last): they rejoin `history` in order
    /// once the fix is saved, so `u` keeps walking back through prompts in the order seen.
    pub ahead: Vec<Saved>,
    pub fixing: Option<Fixing>,
    pub session_count: u32,
    progress_at: Duration,
    drawn_minute: u64,
    /// Prompts to rank, those that reached the DB's overlap, and those that came ranked.
    pub progress: crate::store::Progress,
    /// Live decisions per criterion, in task order, when the task has several (the header).
    pub criterion_counts: Vec<(String, i64)>,
    pub show_scores: bool,
    /// When the queue was last re-checked while it was empty.
    queue_checked: Duration,
    /// My agreement with others and with gold, read when the queue runs out.
    pub my_quality: Option<crate::analysis::AnnotatorQuality>,
    /// Called with each ranking id once it is durable (the headless driver prints them).
    pub on_saved: Option<Box<dyn FnMut(RankingId)>>,
}

impl LabelScreen {
    /// The first item, the header's counts, and the guidelines if they changed since this
    /// annotator last read them.
    pub fn open(session: &mut Session) -> anyhow::Result<LabelScreen> {
        let mut label = LabelScreen {
            task_version: 1,
            ..Default::default()
        };
        label.refresh_progress(session);
        label.next_item(session)?;
        Ok(label)
    }

    /// Periodic work: renew the lease on the prompt being worked on, follow others' progress,
    /// look at an empty queue again. Returns whether to redraw (`shown`: the screen is on).
    pub fn tick(&mut self, session: &mut Session, shown: bool) -> bool {
        let now = session.clock.elapsed();
        let lease = Duration::from_millis(session.cfg.queue.lease_ms.max(0) as u64);
        if let Some(item) = &mut self.item {
            if now.saturating_sub(item.last_renewed) > lease / 3 {
                item.last_renewed = now;
                let id = item.prompt.id;
                if let Err(e) = session.store.renew_lease(
                    id,
                    &session.cfg.annotator,
                    session.cfg.queue.lease_ms,
                ) {
                    session.status = format!("could not renew the lease: {e}");
                }
            }
        }
        // Others' work changes done/total: redraw when it does.
        let progressed = now.saturating_sub(self.progress_at) >= PROGRESS_EVERY
            && self.refresh_progress(session);
        // An empty queue is re-checked: prompts imported meanwhile appear without a restart.
        if self.item.is_none()
            && now.saturating_sub(self.queue_checked) >= PROGRESS_EVERY
            && self.recheck_queue(session)
        {
            return true;
        }
        // The header's rate and ETA drift with time: redraw once a minute, not every tick,
        // so an idle session over SSH sends (almost) nothing.
        let minute = now.as_secs() / 60;
        let changed = minute != self.drawn_minute;
        self.drawn_minute = minute;
        (changed || progressed) && shown
    }

    /// A confirmation that belongs to this screen was answered yes (`y`).
    pub fn confirmed(&mut self, session: &mut Session, what: Confirm) {
        match what {
            Confirm::AllTie => {
                if let Ok(groups) = self.complete_groups() {
                    self.criterion_done(
                        session,
                        Some(Said::Order {
                            groups,
                            best_worst: false,
                        }),
                    );
                }
            }
            Confirm::UndoWhileFixing => self.undo_past_fix(session, true),
            Confirm::UndoDropsEntry => self.undo_last(session),
            Confirm::CancelRun | Confirm::DeleteCheckpoints | Confirm::Quit => {}
        }
    }

    /// Leaving the app: an undone decision being fixed goes back as it was (quitting never
    /// loses it), and the prompt on screen is released to others.
    pub fn leave(&mut self, session: &mut Session) {
        if let Some(fix) = self.fixing.take() {
            if let Err(e) = self.put_back(session, &fix.old) {
                eprintln!("kibble: could not put back #{}: {e}", fix.old.id);
            }
        }
        if let Some(item) = &self.item {
            let _ = session
                .store
                .release_lease(item.prompt.id, &session.cfg.annotator);
        }
    }

    pub fn on_action(&mut self, action: Action, session: &mut Session) {
        use Action::*;
        match action {
            // Nothing to label: a labelling key looks again now, not only on the 10 s tick, so
            // work another annotator left (an overlap slot, a lease that ran out) is served at
            // once. The key itself is not applied to the item that arrives.
            Pick(_) | Save | Skip if self.item.is_none() => {
                self.recheck_queue(session);
            }
            // A rated criterion: letters pick the answer to rate; ranking keys do not apply.
            Pick(i) if self.rating_scale().is_some() => {
                if let Some(item) = &mut self.item {
                    if (i as usize) < item.shown.len() {
                        item.focus = i as usize;
                    }
                }
            }
            Tie | Strength | ToggleMode if self.rating_scale().is_some() => {
                session.status = format!(
                    "{} is rated: type points ({}) on each answer",
                    self.criterion().name,
                    self.criterion().kind.describe()
                );
            }
            Unrank if self.criterion_back() => {}
            Unrank if self.rating_scale().is_some() => {
                let focus = self.item.as_ref().map_or(0, |i| i.focus);
                if let Some(v) = self.entry.points.get_mut(focus) {
                    *v = None;
                }
            }
            Pick(i) => self.pick(session, i as usize),
            Tie => self.tie(session),
            Unrank => self.unrank(),
            SameOrder => self.same_as_previous(session),
            Clear => {
                // Clears the criterion on screen; what was said on the others stays.
                let keep = (self.entry.strength, self.entry.best_worst);
                self.entry.groups.clear();
                self.entry.tie_next = false;
                self.entry.points.clear();
                (self.entry.strength, self.entry.best_worst) = keep;
            }
            Save => self.save(session),
            Strength => {
                self.entry.strength = match self.entry.strength {
                    None => Some(1),
                    Some(3) => None,
                    Some(n) => Some(n + 1),
                };
            }
            ToggleMode => {
                // Clears the ranking on screen only: what was said on the item's other
                // criteria stays.
                let bw = !self.entry.best_worst;
                self.entry.best_worst = bw;
                self.entry.groups.clear();
                self.entry.tie_next = false;
                session.status = if bw {
                    "best/worst mode: pick the best answer, then the worst".into()
                } else {
                    "full ranking mode".into()
                };
            }
            Skip => self.skip(session),
            Flag | FlagAnswer => {
                if let Some(item) = &self.item {
                    let answer = (action == FlagAnswer).then_some(item.focus);
                    let current = match answer {
                        None => item.flags.clone(),
                        Some(pos) => item.mark(pos).map(|m| m.flags.clone()).unwrap_or_default(),
                    };
                    let selected = session
                        .cfg
                        .flag_reasons
                        .iter()
                        .map(|r| current.contains(r))
                        .collect();
                    session.overlay = Overlay::Flag { selected, answer };
                }
            }
            Note | NoteAnswer => {
                if let Some(item) = &self.item {
                    let answer = (action == NoteAnswer).then_some(item.focus);
                    let buffer = match answer {
                        None => item.note.clone(),
                        Some(pos) => item.mark(pos).and_then(|m| m.note.clone()),
                    };
                    session.overlay = Overlay::Note {
                        buffer: buffer.unwrap_or_default(),
                        answer,
                    };
                }
            }
            Undo => self.undo(session),
            Guidelines => {
                self.open_guidelines(session);
            }
            History => self.open_history(session),
            Find => {
                session.overlay = Overlay::Find {
                    buffer: String::new(),
                }
            }
            ToggleScores => {
                self.show_scores = !self.show_scores;
                self.load_scores(session);
            }
            FocusNext | FocusPrev => {
                if let Some(item) = &mut self.item {
                    let k = item.shown.len();
                    item.focus = if action == FocusNext {
                        (item.focus + 1) % k
                    } else {
                        (item.focus + k - 1) % k
                    };
                }
            }
            ScrollDown | ScrollUp | PageDown | PageUp => {
                if let Some(item) = &mut self.item {
                    let (lines, pages) = scroll_step(action);
                    let view = item.answer_views[item.focus].get();
                    let s = &mut item.scroll[item.focus];
                    *s = view.scrolled(*s, lines, pages);
                }
            }
            PromptDown | PromptUp | PromptPageDown | PromptPageUp => {
                if let Some(item) = &mut self.item {
                    let (lines, pages) = scroll_step(action);
                    item.prompt_scroll =
                        item.prompt_view
                            .get()
                            .scrolled(item.prompt_scroll, lines, pages);
                }
            }
            Quit | Help | Screen(_) | RoundSettings | DialogAccept | DialogCancel | DialogYes
            | DialogPutBack => {}
        }
    }
}

pub fn letter(pos: usize) -> char {
    (b'A' + pos as u8) as char
}

/// Tie groups of candidate ids as letters in a shown order: `B > A = C` (`?`: not shown).
pub fn order_letters(groups: &[Vec<CandidateId>], shown: &[CandidateId]) -> String {
    let letter_of = |c: &CandidateId| {
        shown
            .iter()
            .position(|s| s == c)
            .map_or("?".to_string(), |p| letter(p).to_string())
    };
    groups
        .iter()
        .map(|g| g.iter().map(letter_of).collect::<Vec<_>>().join(" = "))
        .collect::<Vec<_>>()
        .join(" > ")
}

/// Same annotator and prompt, same order: reproducible, and different across annotators.
pub fn shuffle_seed(annotator: &str, prompt_id: PromptId) -> u64 {
    let mut h = Sha256::new();
    h.update(annotator.as_bytes());
    h.update(prompt_id.to_le_bytes());
    let d = h.finalize();
    u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}
