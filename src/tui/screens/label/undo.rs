//! Undo without losing work: an undone decision comes back to be fixed; a second undo first
//! settles it (fix saved, or put back as it was), and decisions after it rejoin the history in
//! the order the prompts were seen. Quitting puts a decision being fixed back as it was.

use super::*;

impl LabelScreen {
    /// Something on the label screen that is not in the DB yet: a ranking typed in, flags, a
    /// note, or an undone decision being fixed.
    pub fn unsaved_work(&self) -> bool {
        self.fixing.is_some() || self.typed_something()
    }

    pub(crate) fn typed_something(&self) -> bool {
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
    pub(crate) fn fix_changed(&self) -> bool {
        let (Some(fix), Some(item)) = (&self.fixing, &self.item) else {
            return false;
        };
        let (entry, flags, note, marks) = &fix.restored;
        *entry != self.entry
            || *flags != item.flags
            || *note != item.note
            || *marks != item.answer_marks
    }

    pub(crate) fn undo(&mut self, session: &mut Session) {
        if self.history.is_empty() {
            session.status = "nothing (more) to undo in this session".into();
            return;
        }
        if self.fixing.is_some() {
            if self.fix_changed() {
                session.overlay = Overlay::Confirm(Confirm::UndoWhileFixing);
            } else {
                // Nothing was changed: it goes back as it was, and undo walks on.
                self.undo_past_fix(session, false);
            }
            return;
        }
        if self.typed_something() {
            session.overlay = Overlay::Confirm(Confirm::UndoDropsEntry);
            return;
        }
        self.undo_last(session);
    }

    /// Settles the decision being fixed, keeping the fix (`keep`) or putting it back as it was,
    /// then undoes the decision before it. Nothing typed is dropped without the annotator's word.
    pub(crate) fn undo_past_fix(&mut self, session: &mut Session, keep: bool) {
        let Some(fix) = self.fixing.clone() else {
            return self.undo_last(session);
        };
        let settled = if keep {
            let said = if fix.old.verdict == Verdict::Skip && !self.typed_something() {
                Ok((Verdict::Skip, vec![]))
            } else {
                self.said_now().map(|s| (Verdict::Rank, s))
            };
            match said {
                Ok((verdict, said)) => self
                    .append_decision(session, verdict, &said)
                    .map(|s| s.map(|s| s.0)),
                Err(msg) => {
                    session.status = format!(
                        "the fix is not complete: {msg}; {} then r puts it back as it was",
                        session.keymap.label(Action::Undo)
                    );
                    return;
                }
            }
        } else {
            self.put_back(session, &fix.old)
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
                self.undo_last(session);
                session.status = format!("{what}; {}", session.status);
            }
            Err(e) => session.status = format!("NOT saved: {e} (nothing was undone)"),
        }
    }

    /// Retracts the newest decision of this session and brings its prompt back, pre-filled.
    pub(crate) fn undo_last(&mut self, session: &mut Session) {
        let Some(last) = self.history.pop() else {
            session.status = "nothing (more) to undo in this session".into();
            self.rejoin_ahead(session);
            return;
        };
        self.reopen(session, last);
    }

    /// Opens an earlier decision (from the history list) to change it: retracted, its prompt
    /// back on screen pre-filled; saving appends the new decision. Only with nothing unsaved
    /// on screen, so nothing is dropped.
    pub(crate) fn open_decision(
        &mut self,
        session: &mut Session,
        ranking_id: RankingId,
        prompt_id: PromptId,
    ) {
        if self.unsaved_work() {
            session.status = format!(
                "first save or clear ({}) what you typed here",
                session.keymap.label(Action::Clear)
            );
            return;
        }
        self.history.retain(|s| s.ranking_id != ranking_id);
        self.reopen(
            session,
            Saved {
                ranking_id,
                prompt_id,
            },
        );
    }

    /// Retracts `last` and brings its prompt back to be fixed.
    fn reopen(&mut self, session: &mut Session, last: Saved) {
        let old = match session.store.ranking(last.ranking_id) {
            Ok(Some(r)) => r,
            Ok(None) => {
                session.status = "that ranking is gone".into();
                self.rejoin_ahead(session);
                return;
            }
            Err(e) => {
                self.history.push(last);
                session.status = format!("could not undo: {e}");
                self.rejoin_ahead(session);
                return;
            }
        };
        if let Err(e) = session
            .store
            .retract_ranking(last.ranking_id, &session.cfg.annotator)
        {
            self.history.push(last);
            session.status = format!("could not undo: {e}");
            self.rejoin_ahead(session);
            return;
        }
        // A reviewer's undone decision is no longer the prompt's gold answer.
        if session.cfg.review {
            if let Err(e) = session.store.clear_gold(last.prompt_id) {
                session.status = format!("could not take back the gold answer: {e}");
            }
        }
        // The current prompt goes back to the queue; the undone one comes back pre-filled.
        if let Some(cur) = &self.item {
            let _ = session
                .store
                .release_lease(cur.prompt.id, &session.cfg.annotator);
        }
        self.session_count = self.session_count.saturating_sub(1);
        match self.load_item(session, last.prompt_id) {
            Ok(()) => {
                let _ = session.store.renew_lease(
                    last.prompt_id,
                    &session.cfg.annotator,
                    session.cfg.queue.lease_ms,
                );
                let others = session.store.judgements(old.id).unwrap_or_default();
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
                session.status = "undone: fix it and save again".into();
            }
            Err(e) => {
                // The retraction stands but the prompt is back in the queue: put it back now.
                if let Ok(Some(s)) = self.put_back(session, &old) {
                    self.history.push(s);
                }
                self.rejoin_ahead(session);
                session.status = format!("could not reload the prompt, so it was not undone: {e}");
            }
        }
        self.refresh_progress(session);
    }

    /// Undo could not go further back: the decisions held ahead return to the history, and the
    /// screen moves on if it shows a prompt that is already decided.
    pub(crate) fn rejoin_ahead(&mut self, session: &mut Session) {
        if self.ahead.is_empty() {
            return;
        }
        while let Some(s) = self.ahead.pop() {
            self.history.push(s);
        }
        if self.fixing.is_none() {
            if let Err(e) = self.next_item(session) {
                session.status = format!("could not load the next prompt: {e}");
            }
        }
    }
}
