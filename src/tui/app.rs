//! The app: the router between screens. It owns the session (DB, configuration, keys, clock,
//! status line, open overlay), one state per screen, and the loop's channel. A key goes to the
//! open overlay, else to the screen on show; a job's event to the screen that started it.
//! Rendering (`ui.rs`) only reads this.

use std::cell::Cell;
use std::sync::mpsc::{Receiver, Sender};
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::background::{JobEvent, JobSender};
use super::keymap::{Action, Keymap, Screen};
use super::screens::data::DataScreen;
use super::screens::help::HelpScreen;
use super::screens::improve::ImproveScreen;
use super::screens::label::LabelScreen;
use super::screens::runs::RunsScreen;
use super::screens::scores::ScoresScreen;
use super::screens::train::TrainScreen;
use super::screens::Session;
use super::Event;
use crate::store::Store;

mod overlay_keys;
mod state;

pub use super::screens::label::{
    letter, order_letters, shuffle_seed, Entry, Fixing, Item, Said, Saved, DEFAULT_FLAG_REASONS,
    STRENGTH_NAMES,
};
pub use state::*;

pub struct App {
    pub session: Session,
    pub screen: Screen,
    pub label: LabelScreen,
    pub train: TrainScreen,
    pub improve: ImproveScreen,
    pub scores: ScoresScreen,
    pub runs: RunsScreen,
    pub data: DataScreen,
    pub help: HelpScreen,
    /// Rows of the scrolled overlay (guidelines) as last drawn.
    pub overlay_view: Cell<View>,
    pub should_quit: bool,
    /// `q` was pressed once while a job runs: the next `q` cancels it and quits.
    quit_armed: bool,
    panic_on_key: bool,
    /// The receiving end of the loop's channel, until a loop takes it.
    inbox: Option<Receiver<Event>>,
}

impl App {
    pub fn new(store: Store, cfg: AppConfig, keymap: Keymap, clock: Clock) -> anyhow::Result<App> {
        let (events, inbox) = std::sync::mpsc::channel();
        let mut session = Session::new(store, cfg, keymap, clock, events);
        // The overlap is the DB's; a session that asks for another one (`--overlap`) sets it.
        if session.cfg.queue.overlap > 1 && session.cfg.queue.overlap != session.store.overlap()? {
            session.store.set_overlap(session.cfg.queue.overlap)?;
        }
        let mut label = LabelScreen::open(&mut session)?;
        if !session.keymap.warnings.is_empty() {
            session.status = session.keymap.warnings.join("; ");
        }
        label.show_new_guidelines(&mut session)?;
        Ok(App {
            train: TrainScreen::new(&session.store),
            improve: ImproveScreen::with_watch(session.cfg.watch),
            scores: Default::default(),
            runs: Default::default(),
            data: Default::default(),
            help: Default::default(),
            label,
            session,
            screen: Screen::Label,
            overlay_view: Cell::new(View::default()),
            should_quit: false,
            quit_armed: false,
            panic_on_key: std::env::var_os("KIBBLE_TEST_PANIC").is_some(),
            inbox: Some(inbox),
        })
    }

    /// Handles a key press; returns whether anything visible changed.
    pub fn on_key(&mut self, key: KeyEvent) -> bool {
        if self.panic_on_key {
            panic!("KIBBLE_TEST_PANIC: injected panic on a key press");
        }
        let ctrl_c =
            key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL);
        // Ctrl-C quits as q does (asking first when work is unsaved); asked, it means yes.
        if ctrl_c && self.session.overlay == Overlay::Confirm(Confirm::Quit) {
            self.quit();
            return true;
        }
        if ctrl_c && self.session.overlay == Overlay::None {
            self.update(Action::Quit);
            return true;
        }
        if self.session.overlay != Overlay::None {
            return self.overlay_key(key);
        }
        // On a rated criterion the digits are points (letters still pick the answer to rate).
        if let KeyCode::Char(c @ '0'..='9') = key.code {
            let plain = !key
                .modifiers
                .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
            if plain && self.screen == Screen::Label && self.label.rating_scale().is_some() {
                self.label.rate(&mut self.session, c as u8 - b'0');
                return true;
            }
        }
        match self.session.keymap.action(&key) {
            Some(action) => {
                self.update(action);
                true
            }
            None => false,
        }
    }

    /// Periodic work (about once a second): the Label screen's lease and counts, and runs
    /// started elsewhere (the CLI) followed on the screen that shows them. Returns whether
    /// to redraw.
    pub fn tick(&mut self) -> bool {
        let followed = match self.screen {
            // The elapsed time of a run started here moves every second.
            Screen::Train => self.train.follow(&self.session.store) || self.train.running(),
            Screen::Improve => self.improve.follow(&self.session.store),
            _ => false,
        };
        let shown = self.screen == Screen::Label;
        self.label.tick(&mut self.session, shown) || followed
    }

    pub fn update(&mut self, action: Action) {
        let quit_armed = std::mem::take(&mut self.quit_armed);
        match action {
            Action::Quit if self.job_running().is_some() && !quit_armed => {
                self.quit_armed = true;
                self.session.status = format!(
                    "{} is running: q again cancels it and quits (x cancels only)",
                    self.job_running().unwrap_or_default()
                );
            }
            Action::Quit if self.label.unsaved_work() => {
                self.session.overlay = Overlay::Confirm(Confirm::Quit)
            }
            Action::Quit => self.quit(),
            Action::Help => self.session.overlay = Overlay::Help,
            Action::Screen(s) => self.switch_screen(s),
            _ => {
                let session = &mut self.session;
                match self.screen {
                    Screen::Label => self.label.on_action(action, session),
                    Screen::Train => self.train.on_action(action, session),
                    Screen::Improve => self.improve.on_action(action, session),
                    Screen::Scores => self.scores.on_action(action, session),
                    Screen::Runs => self.runs.on_action(action, session),
                    Screen::Data => self.data.on_action(action),
                    Screen::Help => self.help.on_action(action),
                }
            }
        }
    }

    /// Takes in what a background job said (it arrived on the loop's channel).
    /// Returns whether anything visible changed.
    pub fn on_job(&mut self, e: JobEvent) -> bool {
        let store = &self.session.store;
        let (changed, news) = match e {
            e @ (JobEvent::Rm(_) | JobEvent::Scored(_)) => {
                (self.screen == Screen::Train, self.train.on_job(e, store))
            }
            e @ (JobEvent::Progress | JobEvent::LoopEnded(_)) => {
                let (changed, news) = self.improve.on_job(e, store);
                (changed && self.screen == Screen::Improve, news)
            }
        };
        let has_news = news.is_some();
        if let Some(n) = news {
            self.session.status = crate::text::sanitize_line(&n, 200);
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

    /// The loop's channel: keys and signals are sent into it too.
    pub fn events(&self) -> Sender<Event> {
        self.session.events()
    }

    /// The receiving end of the loop's channel, for the loop that will read it.
    pub fn take_inbox(&mut self) -> Option<Receiver<Event>> {
        self.inbox.take()
    }

    /// Where a job started from a screen reports.
    pub fn jobs(&self) -> JobSender {
        self.session.jobs()
    }

    fn confirmed(&mut self, what: Confirm) {
        match what {
            Confirm::CancelRun => {
                self.train.cancel();
                self.session.status = "cancelling: the run stops after this step".into();
            }
            Confirm::DeleteCheckpoints => {
                self.session.status = match self.runs.delete_checkpoints(&mut self.session.store) {
                    Ok(n) => format!("deleted {n} checkpoint(s)"),
                    Err(e) => format!("could not delete: {e:#}"),
                };
            }
            Confirm::Quit => self.quit(),
            Confirm::AllTie | Confirm::UndoWhileFixing | Confirm::UndoDropsEntry => {
                self.label.confirmed(&mut self.session, what)
            }
        }
    }

    fn switch_screen(&mut self, s: Screen) {
        self.screen = s;
        let session = &mut self.session;
        match s {
            Screen::Runs => {
                if let Err(e) = self.runs.refresh(&session.store) {
                    session.status = format!("could not read runs: {e:#}");
                }
            }
            Screen::Scores => self.scores.refresh(&session.store),
            Screen::Improve => {
                if let Err(e) = self.improve.refresh(&session.store) {
                    session.status = format!("could not read policy runs: {e:#}");
                }
            }
            Screen::Train => self.train.open(&session.store),
            Screen::Data => self.data.open(session),
            Screen::Label | Screen::Help => {}
        }
    }

    pub fn quit(&mut self) {
        self.label.leave(&mut self.session);
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
            Some(super::screens::train::Job::Train(_)) => Some("a reward-model run".into()),
            Some(super::screens::train::Job::Score(_)) => Some("scoring".into()),
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
