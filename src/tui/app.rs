//! App state and `update(Action)`: everything the labelling app knows and every change to it.
//! Rendering (`ui.rs`) only reads this. Decisions go to the store the moment they are made.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use sha2::{Digest, Sha256};

use super::keymap::{Action, Keymap, Screen};
use crate::analysis::Agreement;
use crate::domain::{
    now_ms, Candidate, CandidateId, NewRanking, Prompt, PromptId, RankingId, RankingMode, Verdict,
};
use crate::store::{QueueOptions, Stats, Store};

pub const MAX_CANDIDATES: usize = 9;
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

#[derive(Debug, Clone)]
pub struct AppConfig {
    pub annotator: String,
    pub os_user: Option<String>,
    pub db_label: String,
    pub queue: QueueOptions,
    /// Decisions faster than this are marked as rushed.
    pub min_seconds: f64,
    pub flag_reasons: Vec<String>,
    pub ascii: bool,
    pub color: bool,
    /// Thresholds of the Improve screen's reward-hacking watch.
    pub watch: super::improve::Watch,
}

impl AppConfig {
    pub fn new(annotator: &str) -> AppConfig {
        AppConfig {
            annotator: annotator.into(),
            os_user: None,
            db_label: String::new(),
            queue: QueueOptions::default(),
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
    pub prompt_scroll: u16,
    pub flags: Vec<String>,
    pub note: Option<String>,
}

/// The ranking being typed, in shown positions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Entry {
    pub groups: Vec<Vec<usize>>,
    pub tie_next: bool,
    /// 1..=3 (slightly, clearly, much better), or none.
    pub strength: Option<u8>,
    pub best_worst: bool,
}

impl Entry {
    pub fn placed(&self) -> usize {
        self.groups.iter().map(Vec::len).sum()
    }
    pub fn contains(&self, pos: usize) -> bool {
        self.groups.iter().any(|g| g.contains(&pos))
    }
    /// 1-based rank of a shown position, if placed.
    pub fn rank_of(&self, pos: usize) -> Option<usize> {
        self.groups
            .iter()
            .position(|g| g.contains(&pos))
            .map(|i| i + 1)
    }
}

/// Something that waits for a `y` before it happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirm {
    CancelRun,
    DeleteCheckpoints,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Overlay {
    None,
    Help,
    Confirm(Confirm),
    Flag { selected: Vec<bool> },
    Note { buffer: String },
}

/// One decision of this session, kept for undo.
#[derive(Debug, Clone)]
pub struct Saved {
    pub ranking_id: RankingId,
    pub prompt_id: PromptId,
}

pub struct App {
    pub store: Store,
    pub cfg: AppConfig,
    pub keymap: Keymap,
    pub clock: Clock,
    pub screen: Screen,
    pub overlay: Overlay,
    pub item: Option<Item>,
    pub entry: Entry,
    pub history: Vec<Saved>,
    pub session_count: u32,
    progress_at: Duration,
    drawn_minute: u64,
    /// (prompts with something to rank, prompts that reached the overlap).
    pub progress: (i64, i64),
    pub status: String,
    pub show_scores: bool,
    pub stats: Option<Stats>,
    pub agreement: Option<Agreement>,
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
}

impl App {
    pub fn new(store: Store, cfg: AppConfig, keymap: Keymap, clock: Clock) -> anyhow::Result<App> {
        let train = super::train::TrainScreen::new(&store);
        let mut app = App {
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
            entry: Entry::default(),
            history: Vec::new(),
            session_count: 0,
            progress_at: Duration::ZERO,
            drawn_minute: 0,
            progress: (0, 0),
            status: String::new(),
            show_scores: false,
            stats: None,
            agreement: None,
            should_quit: false,
            quit_armed: false,
            on_saved: None,
            panic_on_key: std::env::var_os("KIBBLE_TEST_PANIC").is_some(),
        };
        app.refresh_progress();
        app.next_item()?;
        Ok(app)
    }

    /// Handles a key press; returns whether anything visible changed.
    pub fn on_key(&mut self, key: KeyEvent) -> bool {
        if self.panic_on_key {
            panic!("KIBBLE_TEST_PANIC: injected panic on a key press");
        }
        if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
            self.quit();
            return true;
        }
        match &mut self.overlay {
            Overlay::Note { buffer } => {
                match key.code {
                    KeyCode::Enter => {
                        let text = buffer.trim().to_string();
                        if let Some(item) = &mut self.item {
                            item.note = (!text.is_empty()).then_some(text);
                        }
                        self.overlay = Overlay::None;
                    }
                    KeyCode::Esc => self.overlay = Overlay::None,
                    KeyCode::Backspace => {
                        buffer.pop();
                    }
                    KeyCode::Char(c) if !c.is_control() && buffer.chars().count() < 500 => {
                        buffer.push(c)
                    }
                    _ => return false,
                }
                return true;
            }
            Overlay::Flag { selected } => {
                match key.code {
                    KeyCode::Char(c @ '1'..='9') => {
                        let i = c as usize - '1' as usize;
                        if let Some(s) = selected.get_mut(i) {
                            *s = !*s;
                        }
                    }
                    KeyCode::Enter => {
                        let chosen: Vec<String> = self
                            .cfg
                            .flag_reasons
                            .iter()
                            .zip(selected.iter())
                            .filter(|(_, s)| **s)
                            .map(|(r, _)| r.clone())
                            .collect();
                        if let Some(item) = &mut self.item {
                            item.flags = chosen;
                        }
                        self.overlay = Overlay::None;
                    }
                    KeyCode::Esc => self.overlay = Overlay::None,
                    _ => return false,
                }
                return true;
            }
            Overlay::Help => {
                self.overlay = Overlay::None;
                return true;
            }
            Overlay::Confirm(what) => {
                let what = *what;
                self.overlay = Overlay::None;
                if key.code == KeyCode::Char('y') {
                    self.confirmed(what);
                } else {
                    self.status = "not done".into();
                }
                return true;
            }
            Overlay::None => {}
        }
        match self.keymap.action(&key) {
            Some(action) => {
                self.update(action);
                true
            }
            None => false,
        }
    }

    /// Periodic work: renew the lease on the prompt being worked on. Returns whether to redraw.
    pub fn tick(&mut self) -> bool {
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
        if now.saturating_sub(self.progress_at) >= PROGRESS_EVERY {
            self.refresh_progress();
        }
        // The header's rate and ETA drift with time: redraw once a minute, not every tick,
        // so an idle session over SSH sends (almost) nothing.
        let minute = now.as_secs() / 60;
        let changed = minute != self.drawn_minute;
        self.drawn_minute = minute;
        changed && self.screen == Screen::Label
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
            Quit => self.quit(),
            Help => self.overlay = Overlay::Help,
            Screen(s) => self.switch_screen(s),
            _ if self.screen == super::keymap::Screen::Train => self.train_key(action),
            _ if self.screen == super::keymap::Screen::Runs => self.runs_key(action),
            _ if self.screen == super::keymap::Screen::Improve => self.improve_key(action),
            _ if self.screen == super::keymap::Screen::Scores => self.scores_key(action),
            _ if self.screen != super::keymap::Screen::Label => {}
            Pick(i) => self.pick(i as usize),
            Tie => self.tie(),
            Unrank => self.unrank(),
            Clear => {
                let keep = (self.entry.strength, self.entry.best_worst);
                self.entry = Entry::default();
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
                let bw = !self.entry.best_worst;
                self.entry = Entry {
                    best_worst: bw,
                    strength: self.entry.strength,
                    ..Entry::default()
                };
                self.status = if bw {
                    "best/worst mode: pick the best answer, then the worst".into()
                } else {
                    "full ranking mode".into()
                };
            }
            Skip => self.skip(),
            Flag => {
                if let Some(item) = &self.item {
                    let selected = self
                        .cfg
                        .flag_reasons
                        .iter()
                        .map(|r| item.flags.contains(r))
                        .collect();
                    self.overlay = Overlay::Flag { selected };
                }
            }
            Note => {
                if let Some(item) = &self.item {
                    self.overlay = Overlay::Note {
                        buffer: item.note.clone().unwrap_or_default(),
                    };
                }
            }
            Undo => self.undo(),
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
                    let step: i32 = match action {
                        ScrollDown => 1,
                        ScrollUp => -1,
                        PageDown => 10,
                        _ => -10,
                    };
                    let s = &mut item.scroll[item.focus];
                    *s = (*s as i32 + step).clamp(0, u16::MAX as i32) as u16;
                }
            }
            PromptDown | PromptUp => {
                if let Some(item) = &mut self.item {
                    let step = if action == PromptDown { 1 } else { -1 };
                    item.prompt_scroll =
                        (item.prompt_scroll as i32 + step).clamp(0, u16::MAX as i32) as u16;
                }
            }
        }
    }

    fn db_path(&self) -> Option<std::path::PathBuf> {
        self.store.path().map(|p| p.to_path_buf())
    }

    fn train_key(&mut self, action: Action) {
        use super::train::FIELDS;
        let t = &mut self.train;
        match action {
            Action::ScrollDown => t.field = (t.field + 1) % FIELDS.len(),
            Action::ScrollUp => t.field = (t.field + FIELDS.len() - 1) % FIELDS.len(),
            Action::FocusNext if !t.running() => t.form.adjust(t.field, 1),
            Action::FocusPrev if !t.running() => t.form.adjust(t.field, -1),
            Action::Save => {
                let db = self.db_path();
                let who = self.cfg.annotator.clone();
                self.status = match self.train.start(db, &who) {
                    Ok(()) => "training started in the background; labelling goes on (F1)".into(),
                    Err(e) => format!("cannot start: {e}"),
                };
            }
            Action::Skip if t.running() => self.overlay = Overlay::Confirm(Confirm::CancelRun),
            Action::ToggleScores => {
                let db = self.db_path();
                self.status = match self.train.score_now(db) {
                    Ok(()) => "scoring all candidates in the background".into(),
                    Err(e) => format!("cannot score: {e}"),
                };
            }
            _ => {}
        }
    }

    fn improve_key(&mut self, action: Action) {
        let who = self.cfg.annotator.clone();
        let started = match action {
            Action::ScrollDown => return self.improve.move_by(1, &self.store),
            Action::ScrollUp => return self.improve.move_by(-1, &self.store),
            Action::ToggleMode => return self.improve.next_method(),
            Action::Strength => self
                .improve
                .start_sampling(self.db_path(), &who)
                .map(|()| "sampling the newest policy into the labelling queue".to_string()),
            Action::Save => self.improve.start_round(self.db_path(), &who).map(|()| {
                format!(
                    "{} round started in the background; its phase shows in the table",
                    self.improve.method.as_str()
                )
            }),
            Action::Skip => match self.improve.cancel() {
                Some(m) => Ok(m),
                None => return,
            },
            _ => return,
        };
        self.status = started.unwrap_or_else(|e| format!("cannot start: {e}"));
    }

    fn runs_key(&mut self, action: Action) {
        let r = &mut self.runs;
        match action {
            Action::ScrollDown if r.open.is_none() => r.move_by(1),
            Action::ScrollUp if r.open.is_none() => r.move_by(-1),
            Action::ToggleMode => r.toggle_mark(),
            Action::Save => {
                if let Err(e) = self.runs.open(&self.store) {
                    self.status = format!("cannot open the run: {e:#}");
                }
            }
            Action::Clear => r.open = None,
            Action::Skip if r.selected_run().is_some() => {
                self.overlay = Overlay::Confirm(Confirm::DeleteCheckpoints)
            }
            _ => {}
        }
    }

    fn scores_key(&mut self, action: Action) {
        let s = &mut self.scores;
        match action {
            Action::FocusNext => s.next_view(1),
            Action::FocusPrev => s.next_view(-1),
            Action::ScrollDown => s.bins = (s.bins + 2).min(60),
            Action::ScrollUp => s.bins = s.bins.saturating_sub(2).max(2),
            Action::ToggleMode => s.by_preference = !s.by_preference,
            Action::Save if s.view() == super::scores::View::LabelNext => {
                let ids = s.suggested_prompts();
                self.status = match self.store.set_priority(&ids, 10) {
                    Ok(()) => format!(
                        "{} prompts moved to the front of the labelling queue",
                        ids.len()
                    ),
                    Err(e) => format!("could not reorder the queue: {e}"),
                };
            }
            _ => {}
        }
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
        }
    }

    /// Drains background work (training, scoring, a run followed from the DB).
    pub fn poll(&mut self) -> bool {
        let (changed, news) = self.train.poll(&self.store);
        let has_news = news.is_some();
        if let Some(n) = news {
            self.status = n;
        }
        let job_news = self.improve.finished_job();
        let job_done = job_news.is_some();
        if let Some(n) = job_news {
            self.status = crate::text::sanitize_line(&n, 200);
        }
        let improve = self.screen == Screen::Improve && self.improve.poll(&self.store);
        improve
            || has_news
            || job_done
            || (self.screen == Screen::Train && (changed || self.train.running()))
    }

    /// How long the loop may sleep: short while a run is live on screen.
    pub fn tick_interval(&self, idle: Duration) -> Duration {
        if self.train.job.is_some()
            || self.improve.job.is_some()
            || (self.screen == Screen::Train && self.train.series.is_some())
            || self.screen == Screen::Improve
        {
            Duration::from_millis(200)
        } else {
            idle
        }
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
        }
        if s == Screen::Data {
            match self
                .store
                .stats()
                .and_then(|st| Ok((st, self.store.agreement()?)))
            {
                Ok((st, ag)) => {
                    self.stats = Some(st);
                    self.agreement = Some(ag);
                }
                Err(e) => self.status = format!("could not read stats: {e}"),
            }
        }
    }

    /// Best/worst mode is on and means something (three or more answers).
    pub fn best_worst_applies(&self) -> bool {
        self.entry.best_worst && self.k() >= 3
    }

    fn k(&self) -> usize {
        self.item.as_ref().map_or(0, |i| i.shown.len())
    }

    fn pick(&mut self, pos: usize) {
        let k = self.k();
        if pos >= k {
            if k > 0 {
                self.status = format!("there is no answer {}", letter(pos));
            }
            return;
        }
        if self.entry.contains(pos) {
            self.status = format!("{} is already ranked", letter(pos));
            return;
        }
        if self.best_worst_applies() {
            if self.entry.groups.len() < 2 {
                self.entry.groups.push(vec![pos]);
            }
            return;
        }
        if self.entry.tie_next && !self.entry.groups.is_empty() {
            self.entry.groups.last_mut().expect("non-empty").push(pos);
            self.entry.tie_next = false;
        } else {
            self.entry.groups.push(vec![pos]);
        }
        // Two answers: one key decides.
        if k == 2 && self.entry.groups.len() == 1 && self.entry.placed() == 1 {
            self.entry.groups.push(vec![1 - pos]);
            self.save();
        }
    }

    fn tie(&mut self) {
        if self.k() == 2 && self.entry.placed() == 0 {
            self.entry.groups = vec![vec![0, 1]];
            self.save();
        } else if self.best_worst_applies() {
            self.status = "no ties in best/worst mode".into();
        } else if self.entry.groups.is_empty() {
            self.status = "rank an answer first, then = ties the next one with it".into();
        } else {
            self.entry.tie_next = true;
        }
    }

    fn unrank(&mut self) {
        if self.entry.tie_next {
            self.entry.tie_next = false;
            return;
        }
        if let Some(last) = self.entry.groups.last_mut() {
            last.pop();
            if last.is_empty() {
                self.entry.groups.pop();
            }
        }
    }

    /// The complete ranking in shown positions, or why it is not complete yet.
    fn complete_groups(&self) -> Result<Vec<Vec<usize>>, String> {
        let k = self.k();
        let e = &self.entry;
        if self.best_worst_applies() {
            if e.groups.len() < 2 {
                return Err("pick the best answer, then the worst".into());
            }
            let (best, worst) = (e.groups[0][0], e.groups[1][0]);
            let middle: Vec<usize> = (0..k).filter(|p| *p != best && *p != worst).collect();
            return Ok(vec![vec![best], middle, vec![worst]]);
        }
        let mut groups = e.groups.clone();
        let missing: Vec<usize> = (0..k).filter(|p| !e.contains(*p)).collect();
        match missing.len() {
            0 => {}
            1 => groups.push(missing),
            n => {
                return Err(format!(
                    "{n} answers are not ranked yet (the last one may be left out)"
                ))
            }
        }
        // A single group (all tied) is a real judgement too.
        Ok(groups)
    }

    fn save(&mut self) {
        let groups = match self.complete_groups() {
            Ok(g) => g,
            Err(msg) => {
                self.status = msg;
                return;
            }
        };
        self.decide(Verdict::Rank, groups);
    }

    fn skip(&mut self) {
        self.decide(Verdict::Skip, vec![]);
    }

    /// Appends the decision to the log; on success moves to the next prompt.
    fn decide(&mut self, verdict: Verdict, groups: Vec<Vec<usize>>) {
        let Some(item) = &self.item else {
            return;
        };
        let elapsed = self.clock.elapsed().saturating_sub(item.started);
        let ids =
            |g: &Vec<usize>| -> Vec<CandidateId> { g.iter().map(|&p| item.shown[p].id).collect() };
        let ranking = NewRanking {
            prompt_id: item.prompt.id,
            annotator: self.cfg.annotator.clone(),
            os_user: self.cfg.os_user.clone(),
            created_at_ms: now_ms(),
            duration_ms: Some(elapsed.as_millis() as i64),
            shown_order: item.shown.iter().map(|c| c.id).collect(),
            verdict,
            mode: if self.best_worst_applies() && verdict == Verdict::Rank {
                RankingMode::BestWorst
            } else {
                RankingMode::Full
            },
            groups: groups.iter().map(ids).collect(),
            strength: self.entry.strength.map(f64::from),
            flags: item.flags.clone(),
            note: item.note.clone(),
            rushed: elapsed.as_secs_f64() < self.cfg.min_seconds,
            dedupe_key: None,
        };
        match self.store.append_ranking(&ranking) {
            Ok(Some(id)) => {
                self.history.push(Saved {
                    ranking_id: id,
                    prompt_id: ranking.prompt_id,
                });
                self.session_count += 1;
                // With overlap 1 this decision finished the prompt; others' work shows on the tick.
                if verdict == Verdict::Rank && self.cfg.queue.overlap == 1 {
                    self.progress.1 = (self.progress.1 + 1).min(self.progress.0);
                }
                if let Some(cb) = &mut self.on_saved {
                    cb(id);
                }
                self.status = match verdict {
                    Verdict::Rank => format!("saved #{id}"),
                    Verdict::Skip => format!("skipped (#{id})"),
                };
                // The mode carries over to the next prompt; strength is per decision.
                self.entry = Entry {
                    best_worst: self.entry.best_worst,
                    ..Entry::default()
                };
                if let Err(e) = self.next_item() {
                    self.status = format!("could not load the next prompt: {e}");
                }
            }
            Ok(None) => self.status = "already saved".into(),
            // Keep everything on screen so nothing is lost; the annotator can retry.
            Err(e) => self.status = format!("NOT saved: {e} (press the key again to retry)"),
        }
    }

    fn undo(&mut self) {
        let Some(last) = self.history.pop() else {
            self.status = "nothing to undo in this session".into();
            return;
        };
        let old = match self.store.ranking(last.ranking_id) {
            Ok(Some(r)) => r,
            Ok(None) => {
                self.status = "that ranking is gone".into();
                return;
            }
            Err(e) => {
                self.history.push(last);
                self.status = format!("could not undo: {e}");
                return;
            }
        };
        if let Err(e) = self
            .store
            .retract_ranking(last.ranking_id, &self.cfg.annotator)
        {
            self.history.push(last);
            self.status = format!("could not undo: {e}");
            return;
        }
        // The current prompt goes back to the queue; the undone one comes back pre-filled.
        if let Some(cur) = &self.item {
            let _ = self.store.release_lease(cur.prompt.id, &self.cfg.annotator);
        }
        self.session_count = self.session_count.saturating_sub(1);
        match self.load_item(last.prompt_id) {
            Ok(()) => {
                let _ = self.store.renew_lease(
                    last.prompt_id,
                    &self.cfg.annotator,
                    self.cfg.queue.lease_ms,
                );
                if let Some(item) = &mut self.item {
                    let pos: HashMap<CandidateId, usize> = item
                        .shown
                        .iter()
                        .enumerate()
                        .map(|(i, c)| (c.id, i))
                        .collect();
                    self.entry = Entry {
                        groups: old
                            .groups
                            .iter()
                            .map(|g| g.iter().filter_map(|id| pos.get(id).copied()).collect())
                            .collect(),
                        tie_next: false,
                        strength: old.strength.map(|s| s.round().clamp(1.0, 3.0) as u8),
                        best_worst: old.mode == RankingMode::BestWorst,
                    };
                    if self.entry.best_worst && self.entry.groups.len() == 3 {
                        self.entry.groups =
                            vec![self.entry.groups[0].clone(), self.entry.groups[2].clone()];
                    }
                    item.flags = old.flags.clone();
                    item.note = old.note.clone();
                }
                self.status = format!("undone #{}: fix it and save again", last.ranking_id);
            }
            Err(e) => self.status = format!("undone, but could not reload the prompt: {e}"),
        }
        self.refresh_progress();
    }

    pub fn quit(&mut self) {
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
            Some(super::train::Job::Train { .. }) => Some("a reward-model run".into()),
            Some(super::train::Job::Score { .. }) => Some("scoring".into()),
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

    /// Claims the next prompt from the queue.
    pub fn next_item(&mut self) -> anyhow::Result<()> {
        match self.store.claim_next(&self.cfg.annotator, self.cfg.queue)? {
            Some(id) => self.load_item(id),
            None => {
                self.item = None;
                Ok(())
            }
        }
    }

    /// Re-reads done/total. It scans an index (tens of ms at 1M candidates), so it runs at
    /// start, on undo and every `PROGRESS_EVERY` on the tick, not after each key.
    fn refresh_progress(&mut self) {
        self.progress_at = self.clock.elapsed();
        if let Ok(p) = self.store.queue_progress(self.cfg.queue.overlap) {
            self.progress = p;
        }
    }

    fn load_item(&mut self, prompt_id: PromptId) -> anyhow::Result<()> {
        let prompt = self
            .store
            .prompt(prompt_id)?
            .ok_or_else(|| anyhow::anyhow!("prompt {prompt_id} is missing"))?;
        let mut cands = self.store.candidates(prompt_id)?;
        cands.truncate(MAX_CANDIDATES);
        crate::domain::shuffle(&mut cands, shuffle_seed(&self.cfg.annotator, prompt_id));
        let now = self.clock.elapsed();
        self.item = Some(Item {
            scroll: vec![0; cands.len()],
            shown: cands,
            prompt,
            scores: HashMap::new(),
            started: now,
            last_renewed: now,
            focus: 0,
            prompt_scroll: 0,
            flags: vec![],
            note: None,
        });
        self.entry = Entry {
            best_worst: self.entry.best_worst,
            ..Entry::default()
        };
        self.load_scores();
        Ok(())
    }

    fn load_scores(&mut self) {
        if !self.show_scores {
            return;
        }
        if let Some(item) = &mut self.item {
            match self.store.latest_scores(item.prompt.id) {
                Ok(s) => item.scores = s.into_iter().collect(),
                Err(e) => self.status = format!("could not read scores: {e}"),
            }
        }
    }

    /// Decisions per hour in this session, once there is something to measure.
    pub fn per_hour(&self) -> Option<f64> {
        let h = self.clock.elapsed().as_secs_f64() / 3600.0;
        (self.session_count > 0 && h > 0.0).then(|| self.session_count as f64 / h)
    }
}

pub fn letter(pos: usize) -> char {
    (b'A' + pos as u8) as char
}

/// Same annotator and prompt, same order: reproducible, and different across annotators.
pub fn shuffle_seed(annotator: &str, prompt_id: PromptId) -> u64 {
    let mut h = Sha256::new();
    h.update(annotator.as_bytes());
    h.update(prompt_id.to_le_bytes());
    let d = h.finalize();
    u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}
