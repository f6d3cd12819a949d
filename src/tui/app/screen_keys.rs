//! Keys on the screens other than Label: each maps the shared actions to its own meaning.

use super::*;

impl App {
    pub(super) fn train_key(&mut self, action: Action) {
        use crate::tui::train::FIELDS;
        let t = &mut self.train;
        match action {
            Action::ScrollDown => t.field = (t.field + 1) % FIELDS.len(),
            Action::ScrollUp => t.field = (t.field + FIELDS.len() - 1) % FIELDS.len(),
            Action::FocusNext if !t.running() => t.form.adjust(t.field, 1),
            Action::FocusPrev if !t.running() => t.form.adjust(t.field, -1),
            Action::Save => {
                let db = self.db_path();
                let who = self.cfg.annotator.clone();
                let jobs = self.jobs();
                self.status = match self.train.start(db, &who, &jobs) {
                    Ok(()) => "training started in the background; labelling goes on (F1)".into(),
                    Err(e) => format!("cannot start: {e}"),
                };
            }
            Action::Skip if t.running() => self.overlay = Overlay::Confirm(Confirm::CancelRun),
            Action::ToggleScores => {
                let db = self.db_path();
                let jobs = self.jobs();
                self.status = match self.train.score_now(db, &jobs) {
                    Ok(()) => "scoring all candidates in the background".into(),
                    Err(e) => format!("cannot score: {e}"),
                };
            }
            _ => {}
        }
    }

    pub(super) fn improve_key(&mut self, action: Action) {
        let who = self.cfg.annotator.clone();
        let jobs = self.jobs();
        let started = match action {
            Action::ScrollDown => return self.improve.move_by(1, &self.store),
            Action::ScrollUp => return self.improve.move_by(-1, &self.store),
            Action::ToggleMode => return self.improve.next_method(),
            Action::Note => {
                self.overlay = Overlay::RewardMix {
                    buffer: self.improve.reward_text.clone(),
                };
                return;
            }
            Action::Strength => self
                .improve
                .start_sampling(self.db_path(), &who, &jobs)
                .map(|()| "sampling the newest policy into the labelling queue".to_string()),
            Action::Save => self
                .improve
                .start_round(self.db_path(), &who, &jobs)
                .map(|()| {
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

    pub(super) fn runs_key(&mut self, action: Action) {
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

    pub(super) fn scores_key(&mut self, action: Action) {
        let s = &mut self.scores;
        match action {
            Action::FocusNext => s.next_view(1),
            Action::FocusPrev => s.next_view(-1),
            Action::ScrollDown => s.bins = (s.bins + 2).min(60),
            Action::ScrollUp => s.bins = s.bins.saturating_sub(2).max(2),
            Action::ToggleMode => s.by_preference = !s.by_preference,
            Action::Save if s.view() == crate::tui::scores::View::LabelNext => {
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
}
