//! What the annotator reads besides the item: the guidelines (once per version, and on G)
//! and the list of their recent decisions (H), from which one can be opened to change it.

use super::*;

impl App {
    /// The guidelines to show: the task's, then the current prompt's own (`meta.guidelines`).
    pub fn guidelines_text(&self) -> Option<String> {
        let task = self.store.guidelines().ok().flatten();
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
    pub(super) fn show_new_guidelines(&mut self) -> anyhow::Result<()> {
        let Some(text) = self.store.guidelines()? else {
            return Ok(());
        };
        let hash = format!("{:x}", Sha256::digest(text.as_bytes()));
        if !self.store.guidelines_seen(&self.cfg.annotator, &hash)? {
            self.store
                .mark_guidelines_seen(&self.cfg.annotator, &hash)?;
            self.overlay = Overlay::Guidelines { scroll: 0 };
        }
        Ok(())
    }

    pub(super) fn open_history(&mut self) {
        let decisions = match self.store.recent_decisions(&self.cfg.annotator, 50) {
            Ok(d) => d,
            Err(e) => {
                self.status = format!("could not read your decisions: {e}");
                return;
            }
        };
        let entries: Vec<HistoryEntry> = decisions
            .into_iter()
            .map(|r| {
                // Letters as this annotator saw them; an import has no shown order.
                let letter_of = |c: &CandidateId| {
                    r.shown_order
                        .iter()
                        .position(|s| s == c)
                        .map_or("?".to_string(), |p| letter(p).to_string())
                };
                let order = r
                    .groups
                    .iter()
                    .map(|g| g.iter().map(letter_of).collect::<Vec<_>>().join(" = "))
                    .collect::<Vec<_>>()
                    .join(" > ");
                let prompt = match self.store.prompt(r.prompt_id) {
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
            self.status = "no decisions of yours yet".into();
            return;
        }
        self.overlay = Overlay::History {
            entries,
            selected: 0,
        };
    }
}
