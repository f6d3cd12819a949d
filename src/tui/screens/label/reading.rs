//! What the annotator reads besides the item: the guidelines (once per version, and on G)
//! and the list of their recent decisions (H), from which one can be opened to change it.

use super::*;

impl LabelScreen {
    /// Opens the guidelines overlay, reading the text from the DB once.
    pub(crate) fn open_guidelines(&mut self, session: &mut Session) {
        let text = self.guidelines_text(session).unwrap_or_else(|| {
            "No guidelines yet. Set them with `kibble guidelines set FILE`.".into()
        });
        session.overlay = Overlay::Guidelines { text, scroll: 0 };
    }

    /// The guidelines to show: the task's, then the current prompt's own (`meta.guidelines`).
    fn guidelines_text(&self, session: &Session) -> Option<String> {
        let task = session.store.guidelines().ok().flatten();
        let own = self.item.as_ref().and_then(|i| {
            i.prompt
                .meta
                .get("guidelines")?
                .as_str()
                .map(str::to_string)
        });
        match (task, own) {
            (None, None) => None,
            (Some(t), None) => Some(t),
            (None, Some(o)) => Some(format!("# This prompt\n{o}")),
            (Some(t), Some(o)) => Some(format!("{t}\n\n# This prompt\n{o}")),
        }
    }

    /// Shows the task's guidelines once per annotator and version, the first time they open
    /// the app after the guidelines were set or changed.
    pub(crate) fn show_new_guidelines(&mut self, session: &mut Session) -> anyhow::Result<()> {
        let Some(text) = session.store.guidelines()? else {
            return Ok(());
        };
        let hash = format!("{:x}", Sha256::digest(text.as_bytes()));
        if !session
            .store
            .guidelines_seen(&session.cfg.annotator, &hash)?
        {
            session
                .store
                .mark_guidelines_seen(&session.cfg.annotator, &hash)?;
            self.open_guidelines(session);
        }
        Ok(())
    }

    /// Jumps to the first prompt matching `query` (id, external id or text) that I have not
    /// decided and nobody else holds; the prompt on screen goes back to the queue.
    pub(crate) fn find(&mut self, session: &mut Session, query: &str) {
        if self.unsaved_work() {
            session.status = format!(
                "first save or clear ({}) what you typed here",
                session.keymap.label(Action::Clear)
            );
            return;
        }
        let found = match session
            .store
            .find_prompts(&session.cfg.annotator, query, 50)
        {
            Ok(f) => f,
            Err(e) => {
                session.status = format!("could not search: {e}");
                return;
            }
        };
        let current = self.item.as_ref().map(|i| i.prompt.id);
        let Some(hit) = found
            .iter()
            .find(|f| !f.decided_by_me && !f.held_by_other && Some(f.prompt_id) != current)
        else {
            session.status = if found.iter().any(|f| f.decided_by_me) {
                format!(
                    "{} matching prompt(s), decided by you already: {} lists your decisions",
                    found.len(),
                    session.keymap.label(Action::History)
                )
            } else if found.iter().any(|f| f.held_by_other) {
                "the matching prompt is being labelled by someone else now".into()
            } else if found.iter().any(|f| Some(f.prompt_id) == current) {
                "that is the prompt on screen".into()
            } else {
                format!("no prompt to rank matches {query:?}")
            };
            return;
        };
        if let Some(cur) = current {
            let _ = session.store.release_lease(cur, &session.cfg.annotator);
        }
        let id = hit.prompt_id;
        if let Err(e) = session
            .store
            .renew_lease(id, &session.cfg.annotator, session.cfg.queue.lease_ms)
            .map_err(anyhow::Error::from)
            .and_then(|()| self.load_item(session, id))
        {
            session.status = format!("could not open prompt {id}: {e}");
            return;
        }
        session.status = format!(
            "found prompt {id} ({} match{})",
            found.len(),
            if found.len() == 1 { "" } else { "es" }
        );
    }

    pub(crate) fn open_history(&mut self, session: &mut Session) {
        let decisions = match session.store.recent_decisions(&session.cfg.annotator, 50) {
            Ok(d) => d,
            Err(e) => {
                session.status = format!("could not read your decisions: {e}");
                return;
            }
        };
        let entries: Vec<HistoryEntry> = decisions
            .into_iter()
            .map(|r| {
                // Letters as this annotator saw them; an import has no shown order.
                let order = order_letters(&r.groups, &r.shown_order);
                let prompt = match session.store.prompt(r.prompt_id) {
                    Ok(Some(p)) => match p.body {
                        crate::domain::PromptBody::Text(t) => t,
                        crate::domain::PromptBody::Chat(m) => {
                            m.last().map(|m| m.content.clone()).unwrap_or_default()
                        }
                    },
                    _ => String::new(),
                };
                HistoryEntry {
                    ranking_id: r.id,
                    prompt_id: r.prompt_id,
                    created_at_ms: r.created_at_ms,
                    verdict: r.verdict,
                    order,
                    prompt,
                }
            })
            .collect();
        if entries.is_empty() {
            session.status = "no decisions of yours yet".into();
            return;
        }
        session.overlay = Overlay::History {
            entries,
            selected: 0,
        };
    }
}
