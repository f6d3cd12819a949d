//! App state and `update(Action)`: everything the labelling app knows and every change to it.
//! Rendering (`ui.rs`) only reads this. Decisions go to the store the moment they are made.

use std::cell::Cell;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use sha2::{Digest, Sha256};

use super::background::{JobEvent, JobSender};
use super::keymap::{Action, Keymap, Screen};
use super::Event;
use crate::analysis::Agreement;
use crate::domain::{
    now_ms, AnswerMark, Candidate, CandidateId, NewRanking, Prompt, PromptId, Ranking, RankingId,
    RankingMode, Verdict, MAX_CANDIDATES,
};
use crate::store::{QueueOptions, Stats, Store};

mod criteria;
mod decisions;
mod overlay_keys;
mod queue;
mod reading;
mod screen_keys;
mod state;
mod undo;

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

pub struct App {
    pub store: Store,
    pub cfg: AppConfig,
    pub keymap: Keymap,
    pub clock: Clock,
    pub screen: Screen,
    pub overlay: Overlay,
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
    pub status: String,
    pub show_scores: bool,
    /// First row of the Help screen (F7) shown, and its rows as last drawn.
    pub help_scroll: u16,
    pub help_view: Cell<View>,
    /// The Data screen's first row shown, and its rows as last drawn (it outgrows 80x24).
    pub data_scroll: u16,
    pub data_view: Cell<View>,
    /// Rows of the scrolled overlay (guidelines) as last drawn.
    pub overlay_view: Cell<View>,
    /// When the queue was last re-checked while it was empty.
    queue_checked: Duration,
    pub stats: Option<Stats>,
    /// My agreement with others and with gold, read when the queue runs out.
    pub my_quality: Option<crate::analysis::AnnotatorQuality>,
    pub agreement: Option<Agreement>,
    /// Per criterion of the task, read with the stats when the Data screen opens.
    pub criteria_quality: Vec<crate::analysis::CriterionQuality>,
    pub train: super::train::TrainScreen,
    pub runs: super::runs::RunsScreen,
    pub improve: super::improve::ImproveScreen,
    pub scores: super::scores::ScoresScreen,
    pub should_quit: bool,
    /// `q` was pressed once while a job runs: the next `q` cancels it and quits.
    quit_armed: bool,
    /// Called with each ranking id once it is durable (the headless driver prints them).
    pub on_saved: Option<Box<dyn FnMut(RankingId)>>,
    panic_on_key: bool,
    /// The sending end of the loop's channel (background jobs report through it), and its
    /// receiving end until a loop takes it.
    events: std::sync::mpsc::Sender<Event>,
    inbox: Option<std::sync::mpsc::Receiver<Event>>,
}

impl App {
    pub fn new(store: Store, cfg: AppConfig, keymap: Keymap, clock: Clock) -> anyhow::Result<App> {
        let train = super::train::TrainScreen::new(&store);
        let (events, inbox) = std::sync::mpsc::channel();
        let mut app = App {
            events,
            inbox: Some(inbox),
            train,
            runs: Default::default(),
            improve: super::improve::ImproveScreen::with_watch(cfg.watch),
            scores: Default::default(),
            store,
            cfg,
            keymap,
            clock,
            screen: Screen::Label,
            overlay: Overlay::None,
            item: None,
            task: Default::default(),
            task_version: 1,
            entry: Entry::default(),
            history: Vec::new(),
            labelling: Duration::ZERO,
            ahead: Vec::new(),
            fixing: None,
            session_count: 0,
            progress_at: Duration::ZERO,
            drawn_minute: 0,
            progress: Default::default(),
            criterion_counts: Vec::new(),
            status: String::new(),
            show_scores: false,
            help_scroll: 0,
            help_view: Cell::new(View::default()),
            data_scroll: 0,
            data_view: Cell::new(View::default()),
            overlay_view: Cell::new(View::default()),
            queue_checked: Duration::ZERO,
            stats: None,
            my_quality: None,
            agreement: None,
            criteria_quality: Vec::new(),
            should_quit: false,
            quit_armed: false,
            on_saved: None,
            panic_on_key: std::env::var_os("KIBBLE_TEST_PANIC").is_some(),
        };
        // The overlap is the DB's; a session that asks for another one (`--overlap`) sets it.
        if app.cfg.queue.overlap > 1 && app.cfg.queue.overlap != app.store.overlap()? {
            app.store.set_overlap(app.cfg.queue.overlap)?;
        }
        app.refresh_progress();
        app.next_item()?;
        if !app.keymap.warnings.is_empty() {
            app.status = app.keymap.warnings.join("; ");
        }
        app.show_new_guidelines()?;
        Ok(app)
    }

    /// Handles a key press; returns whether anything visible changed.
    pub fn on_key(&mut self, key: KeyEvent) -> bool {
        if self.panic_on_key {
            panic!("KIBBLE_TEST_PANIC: injected panic on a key press");
        }
        let ctrl_c =
            key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL);
        // Ctrl-C quits as q does (asking first when work is unsaved); asked, it means yes.
        if ctrl_c && self.overlay == Overlay::Confirm(Confirm::Quit) {
            self.quit();
            return true;
        }
        if ctrl_c && self.overlay == Overlay::None {
            self.update(Action::Quit);
            return true;
        }
        if self.overlay != Overlay::None {
            return self.overlay_key(key);
        }
        // On a rated criterion the digits are points (letters still pick the answer to rate).
        if let KeyCode::Char(c @ '0'..='9') = key.code {
            let plain = !key
                .modifiers
                .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
            if plain && self.screen == Screen::Label && self.rating_scale().is_some() {
                self.rate(c as u8 - b'0');
                return true;
            }
        }
        match self.keymap.action(&key) {
            Some(action) => {
                self.update(action);
                true
            }
            None => false,
        }
    }

    /// Periodic work (about once a second): renew the lease on the prompt being worked on, and
    /// follow runs started elsewhere (the CLI) on the screen that shows them. Returns whether
    /// to redraw.
    pub fn tick(&mut self) -> bool {
        let followed = match self.screen {
            // The elapsed time of a run started here moves every second.
            Screen::Train => self.train.follow(&self.store) || self.train.running(),
            Screen::Improve => self.improve.follow(&self.store),
            _ => false,
        };
        self.label_tick() || followed
    }

    fn label_tick(&mut self) -> bool {
        let now = self.clock.elapsed();
        let lease = Duration::from_millis(self.cfg.queue.lease_ms.max(0) as u64);
        if let Some(item) = &mut self.item {
            if now.saturating_sub(item.last_renewed) > lease / 3 {
                item.last_renewed = now;
                let id = item.prompt.id;
                if let Err(e) =
                    self.store
                        .renew_lease(id, &self.cfg.annotator, self.cfg.queue.lease_ms)
                {
                    self.status = format!("could not renew the lease: {e}");
                }
            }
        }
        // Others' work changes done/total: redraw when it does.
        let progressed =
            now.saturating_sub(self.progress_at) >= PROGRESS_EVERY && self.refresh_progress();
        // An empty queue is re-checked: prompts imported meanwhile appear without a restart.
        if self.item.is_none()
            && now.saturating_sub(self.queue_checked) >= PROGRESS_EVERY
            && self.recheck_queue()
        {
            return true;
        }
        // The header's rate and ETA drift with time: redraw once a minute, not every tick,
        // so an idle session over SSH sends (almost) nothing.
        let minute = now.as_secs() / 60;
        let changed = minute != self.drawn_minute;
        self.drawn_minute = minute;
        (changed || progressed) && self.screen == Screen::Label
    }

    pub fn update(&mut self, action: Action) {
        use Action::*;
        let quit_armed = std::mem::take(&mut self.quit_armed);
        match action {
            Quit if self.job_running().is_some() && !quit_armed => {
                self.quit_armed = true;
                self.status = format!(
                    "{} is running: q again cancels it and quits (x cancels only)",
                    self.job_running().unwrap_or_default()
                );
            }
            Quit if self.unsaved_work() => self.overlay = Overlay::Confirm(Confirm::Quit),
            Quit => self.quit(),
            Help => self.overlay = Overlay::Help,
            Screen(s) => self.switch_screen(s),
            // Nothing to label: a labelling key looks again now, not only on the 10 s tick, so
            // work another annotator left (an overlap slot, a lease that ran out) is served at
            // once. The key itself is not applied to the item that arrives.
            Pick(_) | Save | Skip
                if self.screen == super::keymap::Screen::Label && self.item.is_none() =>
            {
                self.recheck_queue();
            }
            _ if self.screen == super::keymap::Screen::Train => self.train_key(action),
            _ if self.screen == super::keymap::Screen::Runs => self.runs_key(action),
            _ if self.screen == super::keymap::Screen::Improve => self.improve_key(action),
            _ if self.screen == super::keymap::Screen::Scores => self.scores_key(action),
            ScrollDown | ScrollUp | PageDown | PageUp
                if self.screen == super::keymap::Screen::Help =>
            {
                let (lines, pages) = scroll_step(action);
                self.help_scroll = self
                    .help_view
                    .get()
                    .scrolled(self.help_scroll, lines, pages);
            }
            ScrollDown | ScrollUp | PageDown | PageUp
                if self.screen == super::keymap::Screen::Data =>
            {
                let (lines, pages) = scroll_step(action);
                self.data_scroll = self
                    .data_view
                    .get()
                    .scrolled(self.data_scroll, lines, pages);
            }
            _ if self.screen != super::keymap::Screen::Label => {}
            // A rated criterion: letters pick the answer to rate; ranking keys do not apply.
            Pick(i) if self.rating_scale().is_some() => {
                if let Some(item) = &mut self.item {
                    if (i as usize) < item.shown.len() {
                        item.focus = i as usize;
                    }
                }
            }
            Tie | Strength | ToggleMode if self.rating_scale().is_some() => {
                self.status = format!(
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
            Pick(i) => self.pick(i as usize),
            Tie => self.tie(),
            Unrank => self.unrank(),
            SameOrder => self.same_as_previous(),
            Clear => {
                // Clears the criterion on screen; what was said on the others stays.
                let keep = (self.entry.strength, self.entry.best_worst);
                self.entry.groups.clear();
                self.entry.tie_next = false;
                self.entry.points.clear();
                (self.entry.strength, self.entry.best_worst) = keep;
            }
            Save => self.save(),
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
                self.status = if bw {
                    "best/worst mode: pick the best answer, then the worst".into()
                } else {
                    "full ranking mode".into()
                };
            }
            Skip => self.skip(),
            Flag | FlagAnswer => {
                if let Some(item) = &self.item {
                    let answer = (action == FlagAnswer).then_some(item.focus);
                    let current = match answer {
                        None => item.flags.clone(),
                        Some(pos) => item.mark(pos).map(|m| m.flags.clone()).unwrap_or_default(),
                    };
                    let selected = self
                        .cfg
                        .flag_reasons
                        .iter()
                        .map(|r| current.contains(r))
                        .collect();
                    self.overlay = Overlay::Flag { selected, answer };
                }
            }
            Note | NoteAnswer => {
                if let Some(item) = &self.item {
                    let answer = (action == NoteAnswer).then_some(item.focus);
                    let buffer = match answer {
                        None => item.note.clone(),
                        Some(pos) => item.mark(pos).and_then(|m| m.note.clone()),
                    };
                    self.overlay = Overlay::Note {
                        buffer: buffer.unwrap_or_default(),
                        answer,
                    };
                }
            }
            Undo => self.undo(),
            Guidelines => {
                self.open_guidelines();
            }
            History => self.open_history(),
            Find => {
                self.overlay = Overlay::Find {
                    buffer: String::new(),
                }
            }
            ToggleScores => {
                self.show_scores = !self.show_scores;
                self.load_scores();
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
        }
    }

    fn db_path(&self) -> Option<std::path::PathBuf> {
        self.store.path().map(|p| p.to_path_buf())
    }

    fn confirmed(&mut self, what: Confirm) {
        match what {
            Confirm::CancelRun => {
                self.train.cancel();
                self.status = "cancelling: the run stops after this step".into();
            }
            Confirm::DeleteCheckpoints => {
                self.status = match self.runs.delete_checkpoints(&mut self.store) {
                    Ok(n) => format!("deleted {n} checkpoint(s)"),
                    Err(e) => format!("could not delete: {e:#}"),
                };
            }
            Confirm::Quit => self.quit(),
            Confirm::AllTie => {
                if let Ok(groups) = self.complete_groups() {
                    self.criterion_done(Some(Said::Order {
                        groups,
                        best_worst: false,
                    }));
                }
            }
            Confirm::UndoWhileFixing => self.undo_past_fix(true),
            Confirm::UndoDropsEntry => self.undo_last(),
        }
    }

    /// Takes in what a background job said (it arrived on the loop's channel).
    /// Returns whether anything visible changed.
    pub fn on_job(&mut self, e: JobEvent) -> bool {
        let (changed, news) = match e {
            e @ (JobEvent::Rm(_) | JobEvent::Scored(_)) => {
                let news = self.train.on_job(e, &self.store);
                (self.screen == Screen::Train, news)
            }
            e @ (JobEvent::Progress | JobEvent::LoopEnded(_)) => {
                let (changed, news) = self.improve.on_job(e, &self.store);
                (changed && self.screen == Screen::Improve, news)
            }
        };
        let has_news = news.is_some();
        if let Some(n) = news {
            self.status = crate::text::sanitize_line(&n, 200);
        }
        changed || has_news
    }

    /// Headless drivers (tests, `--script`) have no loop: this takes in the job events waiting
    /// in the app's own channel. Returns whether anything visible changed.
    pub fn poll(&mut self) -> bool {
        let mut changed = false;
        while let Some(Ok(e)) = self.inbox.as_ref().map(|rx| rx.try_recv()) {
            if let Event::Job(j) = e {
                changed |= self.on_job(j);
            }
        }
        changed
    }

    /// The channel the loop reads: keys and signals are sent into it too. The app keeps the
    /// receiving end until a loop takes it.
    pub fn events(&self) -> std::sync::mpsc::Sender<Event> {
        self.events.clone()
    }

    pub fn take_inbox(&mut self) -> Option<std::sync::mpsc::Receiver<Event>> {
        self.inbox.take()
    }

    /// Where a job started from a screen reports.
    pub fn jobs(&self) -> JobSender {
        JobSender::new(self.events.clone())
    }

    fn switch_screen(&mut self, s: Screen) {
        self.screen = s;
        if s == Screen::Runs {
            if let Err(e) = self.runs.refresh(&self.store) {
                self.status = format!("could not read runs: {e:#}");
            }
        }
        if s == Screen::Scores {
            self.scores.refresh(&self.store);
        }
        if s == Screen::Improve {
            if let Err(e) = self.improve.refresh(&self.store) {
                self.status = format!("could not read policy runs: {e:#}");
            }
        }
        if s == Screen::Train {
            self.train.data = super::train::DataSummary::read(&self.store).ok();
            self.train.form.read_criteria(&self.store);
        }
        if s == Screen::Data {
            match self
                .store
                .stats()
                .and_then(|st| Ok((st, self.store.agreement()?, self.store.criteria_quality()?)))
            {
                Ok((st, ag, cq)) => {
                    self.stats = Some(st);
                    self.agreement = Some(ag);
                    self.criteria_quality = cq;
                }
                Err(e) => self.status = format!("could not read stats: {e}"),
            }
        }
    }

    pub fn quit(&mut self) {
        // An undone decision that is being fixed goes back as it was: quitting never loses it.
        if let Some(fix) = self.fixing.take() {
            if let Err(e) = self.put_back(&fix.old) {
                eprintln!("kibble: could not put back #{}: {e}", fix.old.id);
            }
        }
        if let Some(item) = &self.item {
            let _ = self
                .store
                .release_lease(item.prompt.id, &self.cfg.annotator);
        }
        self.train.cancel();
        self.improve.cancel();
        self.should_quit = true;
    }

    /// What background job is running, if any.
    pub fn job_running(&self) -> Option<String> {
        if let Some(j) = &self.improve.job {
            return Some(j.what.to_string());
        }
        match &self.train.job {
            Some(super::train::Job::Train(_)) => Some("a reward-model run".into()),
            Some(super::train::Job::Score(_)) => Some("scoring".into()),
            None => None,
        }
    }

    /// After quitting: cancels jobs and waits (at most `limit`) for them to stop and record how
    /// they ended, so leaving the app never leaves a run marked running. A job stops
    /// within one training step.
    pub fn wait_for_jobs(&mut self, limit: Duration) {
        let Some(what) = self.job_running() else {
            return;
        };
        self.train.cancel();
        self.improve.cancel();
        eprintln!("kibble: waiting for {what} to stop (within one step)...");
        let deadline = Instant::now() + limit;
        self.train.wait(deadline);
        self.improve.wait(deadline);
    }
}

/// (lines, pages) a scrolling action moves by.
fn scroll_step(action: Action) -> (i32, i32) {
    use Action::*;
    match action {
        ScrollDown | PromptDown => (1, 0),
        ScrollUp | PromptUp => (-1, 0),
        PageDown | PromptPageDown => (0, 1),
        _ => (0, -1),
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
