//! Undo without losing work: an undone decision comes back to be fixed; a second undo first
//! settles it (fix saved, or put back as it was), and decisions after it rejoin the history in
//! the order the prompts were seen. Quitting puts a decision being fixed back as it was.

use super::*;

impl App {
    /// Something on the label screen that is not in the DB yet: a ranking typed in, flags, a
    /// note, or an undone decision being fixed.
    pub fn unsaved_work(&self) -> bool {
        self.fixing.is_some() || self.typed_something()
    }

    pub(super) fn typed_something(&self) -> bool {
        self.item.as_ref().is_some_and(|item| {
            self.entry.placed() > 0
                || self.entry.points.iter().any(Option::is_some)
                || self.entry.said.iter().any(Option::is_some)
                || !item.flags.is_empty()
                || item.note.is_some()
                || !item.answer_marks.is_empty()
        })
    }

    /// Whether the decision being fixed differs from what was brought back.
    pub(super) fn fix_changed(&self) -> bool {
        let (Some(fix), Some(item)) = (&self.fixing, &self.item) else {
            return false;
        };
        let (entry, flags, note, marks) = &fix.restored;
        *entry != self.entry
            || *flags != item.flags
            || *note != item.note
            || *marks != item.answer_marks
    }

    pub(super) fn undo(&mut self) {
        if self.history.is_empty() {
            self.status = "nothing (more) to undo in this session".into();
            return;
        }
        if self.fixing.is_some() {
            if self.fix_changed() {
                self.overlay = Overlay::Confirm(Confirm::UndoWhileFixing);
            } else {
                // Nothing was changed: it goes back as it was, and undo walks on.
                self.undo_past_fix(false);
            }
            return;
        }
        if self.typed_something() {
            self.overlay = Overlay::Confirm(Confirm::UndoDropsEntry);
            return;
        }
        self.undo_last();
    }

    /// Settles the decision being fixed, keeping the fix (`keep`) or putting it back as it was,
    /// then undoes the decision before it. Nothing typed is dropped without the annotator's word.
    pub(super) fn undo_past_fix(&mut self, keep: bool) {
        let Some(fix) = self.fixing.clone() else {
            return self.undo_last();
        };
        let settled = if keep {
            let said = if fix.old.verdict == Verdict::Skip && !self.typed_something() {
                Ok((Verdict::Skip, vec![]))
            } else {
                self.said_now().map(|s| (Verdict::Rank, s))
            };
            match said {
                Ok((verdict, said)) => self.append_decision(verdict, &said).map(|s| s.map(|s| s.0)),
                Err(msg) => {
                    self.status = format!(
                        "the fix is not complete: {msg}; {} then r puts it back as it was",
                        self.keymap.label(Action::Undo)
                    );
                    return;
                }
            }
        } else {
            self.put_back(&fix.old)
        };
        match settled {
            Ok(saved) => {
                self.ahead.extend(saved);
                self.fixing = None;
                let what = if keep {
                    "fix saved"
                } else {
                    "put back as it was"
                };
                self.undo_last();
                self.status = format!("{what}; {}", self.status);
            }
            Err(e) => self.status = format!("NOT saved: {e} (nothing was undone)"),
        }
    }

    /// Retracts the newest decision of this session and brings its prompt back, pre-filled.
    pub(super) fn undo_last(&mut self) {
        let Some(last) = self.history.pop() else {
            self.status = "nothing (more) to undo in this session".into();
            self.rejoin_ahead();
            return;
        };
        self.reopen(last);
    }

    /// Opens an earlier decision (from the history list) to change it: retracted, its prompt
    /// back on screen pre-filled; saving appends the new decision. Only with nothing unsaved
    /// on screen, so nothing is dropped.
    pub(super) fn open_decision(&mut self, ranking_id: RankingId, prompt_id: PromptId) {
        if self.unsaved_work() {
            self.status = format!(
                "first save or clear ({}) what you typed here",
                self.keymap.label(Action::Clear)
            );
            return;
        }
        self.history.retain(|s| s.ranking_id != ranking_id);
        self.reopen(Saved {
            ranking_id,
            prompt_id,
        });
    }

    /// Retracts `last` and brings its prompt back to be fixed.
    fn reopen(&mut self, last: Saved) {
        let old = match self.store.ranking(last.ranking_id) {
            Ok(Some(r)) => r,
            Ok(None) => {
                self.status = "that ranking is gone".into();
                self.rejoin_ahead();
                return;
            }
            Err(e) => {
                self.history.push(last);
                self.status = format!("could not undo: {e}");
                self.rejoin_ahead();
                return;
            }
        };
        if let Err(e) = self
            .store
            .retract_ranking(last.ranking_id, &self.cfg.annotator)
        {
            self.history.push(last);
            self.status = format!("could not undo: {e}");
            self.rejoin_ahead();
            return;
        }
        // A reviewer's undone decision is no longer the prompt's gold answer.
        if self.cfg.review {
            if let Err(e) = self.store.clear_gold(last.prompt_id) {
                self.status = format!("could not take back the gold answer: {e}");
            }
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
                let others = self.store.judgements(old.id).unwrap_or_default();
                self.entry = self.restored_entry(&old, &others);
                if let Some(item) = &mut self.item {
                    item.flags = old.flags.clone();
                    item.note = old.note.clone();
                    item.answer_marks = old.answer_marks.clone();
                    self.fixing = Some(Fixing {
                        restored: (
                            self.entry.clone(),
                            item.flags.clone(),
                            item.note.clone(),
                            item.answer_marks.clone(),
                        ),
                        old,
                    });
                }
                self.status = "undone: fix it and save again".into();
            }
            Err(e) => {
                // The retraction stands but the prompt is back in the queue: put it back now.
                if let Ok(Some(s)) = self.put_back(&old) {
                    self.history.push(s);
                }
                self.rejoin_ahead();
                self.status = format!("could not reload the prompt, so it was not undone: {e}");
            }
        }
        self.refresh_progress();
    }

    /// Undo could not go further back: the decisions held ahead return to the history, and the
    /// screen moves on if it shows a prompt that is already decided.
    pub(super) fn rejoin_ahead(&mut self) {
        if self.ahead.is_empty() {
            return;
        }
        while let Some(s) = self.ahead.pop() {
            self.history.push(s);
        }
        if self.fixing.is_none() {
            if let Err(e) = self.next_item() {
                self.status = format!("could not load the next prompt: {e}");
            }
        }
    }
}
