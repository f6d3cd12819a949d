//! The screens (F1..F7). Each owns its state, what its keys do (`on_action`) and how it is
//! drawn (`render`); `App` routes keys, job events and ticks to them. They act through the
//! `Session`: the DB, the configuration, the status line and the overlay they may open.

pub mod data;
pub mod help;
pub mod improve;
pub mod label;
pub mod runs;
pub mod scores;
pub mod train;

use std::cell::Cell;
use std::path::PathBuf;
use std::sync::mpsc::Sender;

use super::app::{AppConfig, Clock, Overlay, View};
use super::background::JobSender;
use super::keymap::{Action, Keymap};
use super::Event;
use crate::store::Store;

/// What every screen works with: one annotator's session on one DB.
pub struct Session {
    pub store: Store,
    pub cfg: AppConfig,
    pub keymap: Keymap,
    pub clock: Clock,
    /// The line under the screen: what the last key did, or why it could not.
    pub status: String,
    /// The dialog on top of the screen, if any; it takes every key while open.
    pub overlay: Overlay,
    /// The loop's channel, where background jobs report.
    events: Sender<Event>,
}

impl Session {
    pub fn new(
        store: Store,
        cfg: AppConfig,
        keymap: Keymap,
        clock: Clock,
        events: Sender<Event>,
    ) -> Session {
        Session {
            store,
            cfg,
            keymap,
            clock,
            status: String::new(),
            overlay: Overlay::None,
            events,
        }
    }

    /// The DB file, which a background job opens for its own connection.
    pub fn db_path(&self) -> Option<PathBuf> {
        self.store.path().map(|p| p.to_path_buf())
    }

    /// Where a job started from a screen reports.
    pub fn jobs(&self) -> JobSender {
        JobSender::new(self.events.clone())
    }

    /// The sending end of the loop's channel (the input and signal threads send into it).
    pub fn events(&self) -> Sender<Event> {
        self.events.clone()
    }
}

/// (lines, pages) a scrolling action moves by.
pub fn scroll_step(action: Action) -> (i32, i32) {
    use Action::*;
    match action {
        ScrollDown | PromptDown => (1, 0),
        ScrollUp | PromptUp => (-1, 0),
        PageDown | PromptPageDown => (0, 1),
        _ => (0, -1),
    }
}

/// A text taller than its box (Help, Data): the first row shown, and the rows as last drawn
/// so paging moves by what is visible.
#[derive(Debug, Default)]
pub struct Scroller {
    pub at: u16,
    pub view: Cell<View>,
}

impl Scroller {
    /// j/k and the page keys move the text; other actions do nothing here.
    pub fn on_action(&mut self, action: Action) {
        if let Action::ScrollDown | Action::ScrollUp | Action::PageDown | Action::PageUp = action {
            let (lines, pages) = scroll_step(action);
            self.at = self.view.get().scrolled(self.at, lines, pages);
        }
    }
}
