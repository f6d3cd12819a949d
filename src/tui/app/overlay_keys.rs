//! Keys while an overlay is open (note, flags, help, confirmations, guidelines, history):
//! the overlay takes every key, so typing a note never ranks an answer. Its keys come from
//! the key map's dialog scope (`dialog_accept`, `dialog_cancel`, `dialog_yes`,
//! `dialog_put_back`); in a text field every other key types.

use super::*;
use crate::tui::screens::scroll_step;

impl App {
    /// Handles a key for the open overlay; returns whether anything visible changed.
    pub(super) fn overlay_key(&mut self, key: KeyEvent) -> bool {
        let dialog = self.session.keymap.dialog_action(&key);
        match &mut self.session.overlay {
            Overlay::Note { buffer, answer } => {
                match dialog {
                    Some(Action::DialogAccept) => {
                        let text = buffer.trim().to_string();
                        let note = (!text.is_empty()).then_some(text);
                        let answer = *answer;
                        if let Some(item) = &mut self.label.item {
                            match answer {
                                None => item.note = note,
                                Some(pos) => item.mark_mut(pos).note = note,
                            }
                            item.tidy_marks();
                        }
                        self.session.overlay = Overlay::None;
                    }
                    Some(Action::DialogCancel) => self.session.overlay = Overlay::None,
                    _ => return edit_line(buffer, &key, 500),
                }
                true
            }
            Overlay::Flag { selected, answer } => {
                match (key.code, dialog) {
                    (KeyCode::Char(c @ '1'..='9'), _) => {
                        let i = c as usize - '1' as usize;
                        if let Some(s) = selected.get_mut(i) {
                            *s = !*s;
                        }
                    }
                    (_, Some(Action::DialogAccept)) => {
                        let chosen: Vec<String> = self
                            .session
                            .cfg
                            .flag_reasons
                            .iter()
                            .zip(selected.iter())
                            .filter(|(_, s)| **s)
                            .map(|(r, _)| r.clone())
                            .collect();
                        let answer = *answer;
                        if let Some(item) = &mut self.label.item {
                            match answer {
                                None => item.flags = chosen,
                                Some(pos) => item.mark_mut(pos).flags = chosen,
                            }
                            item.tidy_marks();
                        }
                        self.session.overlay = Overlay::None;
                    }
                    (_, Some(Action::DialogCancel)) => self.session.overlay = Overlay::None,
                    _ => return false,
                }
                true
            }
            Overlay::Find { buffer } => {
                match dialog {
                    Some(Action::DialogAccept) => {
                        let query = buffer.trim().to_string();
                        self.session.overlay = Overlay::None;
                        if !query.is_empty() {
                            self.label.find(&mut self.session, &query);
                        }
                    }
                    Some(Action::DialogCancel) => self.session.overlay = Overlay::None,
                    _ => return edit_line(buffer, &key, 200),
                }
                true
            }
            Overlay::RewardMix { buffer } => {
                match dialog {
                    Some(Action::DialogAccept) => {
                        let text = buffer.trim().to_string();
                        let said = self.improve.set_reward(&self.session.store, &text);
                        self.field_answered(said);
                    }
                    Some(Action::DialogCancel) => self.session.overlay = Overlay::None,
                    _ => return edit_line(buffer, &key, 200),
                }
                true
            }
            Overlay::RoundSettings { buffer } => {
                match dialog {
                    Some(Action::DialogAccept) => {
                        let said = self.improve.set_settings(buffer.trim());
                        self.field_answered(said);
                    }
                    Some(Action::DialogCancel) => self.session.overlay = Overlay::None,
                    _ => return edit_line(buffer, &key, 200),
                }
                true
            }
            Overlay::PolicySource { buffer } => {
                match dialog {
                    Some(Action::DialogAccept) => {
                        let text = buffer.trim().to_string();
                        let (db, jobs) = (self.session.db_path(), self.session.jobs());
                        let who = self.session.cfg.annotator.clone();
                        let said = self.improve.set_policy(&text, db, &who, &jobs);
                        self.field_answered(said);
                    }
                    Some(Action::DialogCancel) => self.session.overlay = Overlay::None,
                    _ => return edit_line(buffer, &key, 500),
                }
                true
            }
            Overlay::Help => {
                self.session.overlay = Overlay::None;
                true
            }
            Overlay::Guidelines { scroll, .. } => {
                match self.session.keymap.action(&key) {
                    Some(
                        a @ (Action::ScrollDown
                        | Action::ScrollUp
                        | Action::PageDown
                        | Action::PageUp),
                    ) => {
                        let (lines, pages) = scroll_step(a);
                        *scroll = self.overlay_view.get().scrolled(*scroll, lines, pages);
                    }
                    _ => self.session.overlay = Overlay::None,
                }
                true
            }
            Overlay::History { entries, selected } => {
                match (dialog, self.session.keymap.action(&key)) {
                    (_, Some(Action::ScrollDown | Action::FocusNext)) => {
                        *selected = (*selected + 1).min(entries.len().saturating_sub(1))
                    }
                    (_, Some(Action::ScrollUp | Action::FocusPrev)) => {
                        *selected = selected.saturating_sub(1)
                    }
                    (Some(Action::DialogAccept), _) => {
                        let chosen = entries.get(*selected).map(|e| (e.ranking_id, e.prompt_id));
                        self.session.overlay = Overlay::None;
                        if let Some((ranking, prompt)) = chosen {
                            self.label.open_decision(&mut self.session, ranking, prompt);
                        }
                    }
                    _ => self.session.overlay = Overlay::None,
                }
                true
            }
            Overlay::Confirm(what) => {
                let what = *what;
                self.session.overlay = Overlay::None;
                match dialog {
                    Some(Action::DialogYes) => self.confirmed(what),
                    Some(Action::DialogPutBack) if what == Confirm::UndoWhileFixing => {
                        self.label.undo_past_fix(&mut self.session, false)
                    }
                    _ => self.session.status = "not done".into(),
                }
                true
            }
            Overlay::None => false,
        }
    }
}

impl App {
    /// A one-line field's Enter was taken (`Ok`: what to say, and the field closes) or refused
    /// (`Err`: why, and the field stays open with what was typed, to be fixed).
    fn field_answered(&mut self, said: Result<String, String>) {
        match said {
            Ok(said) => {
                self.session.overlay = Overlay::None;
                self.session.status = said;
            }
            Err(e) => self.session.status = e,
        }
    }
}

/// Typing into a one-line field (a note, a search): a character up to `max`, Backspace, or
/// Ctrl-U to clear it (as in a shell). Other Ctrl and Alt chords type nothing.
/// Returns whether the field changed.
fn edit_line(buffer: &mut String, key: &KeyEvent, max: usize) -> bool {
    let chord = key
        .modifiers
        .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
    match key.code {
        KeyCode::Backspace => buffer.pop().is_some(),
        KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => {
            let had = !buffer.is_empty();
            buffer.clear();
            had
        }
        KeyCode::Char(c) if !chord && !c.is_control() && buffer.chars().count() < max => {
            buffer.push(c);
            true
        }
        _ => false,
    }
}
