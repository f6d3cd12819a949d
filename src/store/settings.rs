//! Settings of the whole DB (the labelling guidelines every annotator reads), and which
//! guidelines each annotator has been shown, so they appear once per new version.

use rusqlite::{params, OptionalExtension};

use super::{annotator_id, Result, Store};
use crate::domain::now_ms;

const GUIDELINES: &str = "guidelines";
const OVERLAP: &str = "overlap";

impl Store {
    /// The task's guidelines (`kibble guidelines set FILE`), if any.
    pub fn guidelines(&self) -> Result<Option<String>> {
        self.setting(GUIDELINES)
    }

    /// Replaces the guidelines; `None` removes them.
    pub fn set_guidelines(&mut self, text: Option<&str>) -> Result<()> {
        match text {
            Some(t) => self.set_setting(GUIDELINES, t),
            None => {
                self.conn
                    .execute("DELETE FROM settings WHERE key = ?1", [GUIDELINES])?;
                Ok(())
            }
        }
    }

    /// How many annotators each prompt is served to: a property of the DB, so every session
    /// (and `stats`) counts progress the same way. 1 until set.
    pub fn overlap(&self) -> Result<u32> {
        Ok(self
            .setting(OVERLAP)?
            .and_then(|v| v.parse().ok())
            .filter(|n| *n >= 1)
            .unwrap_or(1))
    }

    pub fn set_overlap(&mut self, overlap: u32) -> Result<()> {
        self.set_setting(OVERLAP, &overlap.max(1).to_string())
    }

    fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    fn set_setting(&mut self, key: &str, value: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO settings (key, value, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            params![key, value, now_ms()],
        )?;
        Ok(())
    }

    /// Whether this annotator has been shown guidelines with this hash.
    pub fn guidelines_seen(&self, annotator: &str, hash: &str) -> Result<bool> {
        let me = annotator_id(&self.conn, annotator)?;
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM guidelines_seen WHERE annotator_id = ?1 AND hash = ?2",
                params![me, hash],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    pub fn mark_guidelines_seen(&mut self, annotator: &str, hash: &str) -> Result<()> {
        let me = annotator_id(&self.conn, annotator)?;
        self.conn.execute(
            "INSERT OR IGNORE INTO guidelines_seen (annotator_id, hash, seen_at) VALUES (?1, ?2, ?3)",
            params![me, hash, now_ms()],
        )?;
        Ok(())
    }
}
