//! Bulk writes for imports: one transaction for a whole file, committed or dropped as one.

use rusqlite::{params, OptionalExtension, Transaction, TransactionBehavior};
use serde::Serialize;

use super::{rankings, Result, Store};
use crate::domain::{candidate_hash, now_ms, CandidateId, NewRanking, PromptBody, PromptId};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ImportCounts {
    pub prompts_added: u64,
    pub candidates_added: u64,
    pub rankings_added: u64,
    pub lines: u64,
    pub rejected: u64,
}

/// Writes everything of one import; nothing is visible to others until `finish`.
/// Dropping it without `finish` rolls everything back.
pub struct ImportWriter<'a> {
    tx: Transaction<'a>,
    counts: ImportCounts,
    now: i64,
    /// Candidates added to one prompt and not yet counted in `prompts.n_candidates`.
    uncounted: Option<(PromptId, i64)>,
}

impl Store {
    pub fn begin_import(&mut self) -> Result<ImportWriter<'_>> {
        // A bigger page cache keeps a large import from spilling to the WAL page by page.
        self.conn.pragma_update(None, "cache_size", -64 * 1024)?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        Ok(ImportWriter {
            tx,
            counts: ImportCounts::default(),
            now: now_ms(),
            uncounted: None,
        })
    }
}

impl ImportWriter<'_> {
    /// How many distinct candidates the prompt with this body would have once `texts` are added
    /// (texts it already holds count once). Lets callers refuse what the label screen can't show.
    pub fn candidates_after(&mut self, body: &PromptBody, texts: &[&str]) -> Result<usize> {
        let prompt: Option<PromptId> = self
            .tx
            .prepare_cached("SELECT id FROM prompts WHERE content_hash = ?1")?
            .query_row([&body.content_hash()[..]], |r| r.get(0))
            .optional()?;
        let Some(prompt) = prompt else {
            return Ok(texts.len());
        };
        let mut total = self.candidate_count(prompt)?;
        for t in texts {
            total += usize::from(!self.has_candidate(prompt, t)?);
        }
        Ok(total)
    }

    /// Candidates the prompt holds now, this import's included.
    pub fn candidate_count(&mut self, prompt: PromptId) -> Result<usize> {
        let n: i64 = self
            .tx
            .prepare_cached("SELECT count(*) FROM candidates WHERE prompt_id = ?1")?
            .query_row([prompt], |r| r.get(0))?;
        Ok(n as usize)
    }

    pub fn has_candidate(&mut self, prompt: PromptId, text: &str) -> Result<bool> {
        Ok(self
            .tx
            .prepare_cached("SELECT 1 FROM candidates WHERE prompt_id = ?1 AND content_hash = ?2")?
            .query_row(params![prompt, &candidate_hash(text)[..]], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// Finds the prompt by content hash or inserts it. Re-imports find the existing row.
    pub fn add_prompt(
        &mut self,
        body: &PromptBody,
        ext_id: Option<&str>,
        meta: &serde_json::Value,
    ) -> Result<PromptId> {
        let hash = body.content_hash();
        let (kind, text) = match body {
            PromptBody::Text(t) => ("text", t.clone()),
            PromptBody::Chat(m) => ("chat", serde_json::to_string(m)?),
        };
        let inserted = self
            .tx
            .prepare_cached(
                "INSERT OR IGNORE INTO prompts (ext_id, content_hash, kind, body, meta, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                ext_id,
                &hash[..],
                kind,
                text,
                meta.to_string(),
                self.now
            ])?;
        if inserted == 1 {
            self.counts.prompts_added += 1;
            return Ok(self.tx.last_insert_rowid());
        }
        Ok(self
            .tx
            .prepare_cached("SELECT id FROM prompts WHERE content_hash = ?1")?
            .query_row([&hash[..]], |r| r.get(0))?)
    }

    /// Finds the candidate by (prompt, content hash) or inserts it.
    pub fn add_candidate(
        &mut self,
        prompt_id: PromptId,
        text: &str,
        source: &str,
    ) -> Result<CandidateId> {
        let hash = candidate_hash(text);
        let inserted = self
            .tx
            .prepare_cached(
                "INSERT OR IGNORE INTO candidates (prompt_id, content_hash, text, source, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![prompt_id, &hash[..], text, source, self.now])?;
        if inserted == 1 {
            self.counts.candidates_added += 1;
            let id = self.tx.last_insert_rowid();
            match &mut self.uncounted {
                Some((p, n)) if *p == prompt_id => *n += 1,
                _ => {
                    self.flush_candidate_count()?;
                    self.uncounted = Some((prompt_id, 1));
                }
            }
            return Ok(id);
        }
        Ok(self
            .tx
            .prepare_cached("SELECT id FROM candidates WHERE prompt_id = ?1 AND content_hash = ?2")?
            .query_row(params![prompt_id, &hash[..]], |r| r.get(0))?)
    }

    /// Marks a prompt as gold: its known answer, as tie groups of candidate ids.
    pub fn set_gold(&mut self, prompt_id: PromptId, groups: &[Vec<CandidateId>]) -> Result<()> {
        self.tx
            .prepare_cached("UPDATE prompts SET gold = ?2 WHERE id = ?1")?
            .execute(params![prompt_id, serde_json::to_string(groups)?])?;
        Ok(())
    }

    /// Adds the candidates inserted since the last flush to their prompt's count
    /// (one UPDATE per prompt rather than one per candidate).
    fn flush_candidate_count(&mut self) -> Result<()> {
        if let Some((prompt, n)) = self.uncounted.take() {
            self.tx
                .prepare_cached(
                    "UPDATE prompts SET n_candidates = n_candidates + ?2 WHERE id = ?1",
                )?
                .execute(params![prompt, n])?;
        }
        Ok(())
    }

    /// Appends a ranking unless one with the same dedupe key is already stored.
    pub fn add_ranking(&mut self, ranking: &NewRanking) -> Result<Option<i64>> {
        self.flush_candidate_count()?;
        let id = rankings::insert_ranking(&self.tx, ranking)?;
        if id.is_some() {
            self.counts.rankings_added += 1;
        }
        Ok(id)
    }

    /// Every task version, newest first: an imported decision is recorded under the newest one
    /// that has its criteria (a backup made before the task changed imports as it was made).
    pub fn tasks(&self) -> Result<Vec<(i64, crate::domain::Task)>> {
        super::tasks::all(&self.tx)
    }

    pub fn count_line(&mut self, rejected: bool) {
        self.counts.lines += 1;
        if rejected {
            self.counts.rejected += 1;
        }
    }

    pub fn counts(&self) -> ImportCounts {
        self.counts
    }

    /// Records the import and commits everything at once.
    pub fn finish(mut self, file_name: &str, format: &str) -> Result<ImportCounts> {
        self.flush_candidate_count()?;
        let c = self.counts;
        self.tx.execute(
            "INSERT INTO imports (file_name, format, at, prompts_added, candidates_added, rankings_added, rejected)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                file_name,
                format,
                self.now,
                c.prompts_added as i64,
                c.candidates_added as i64,
                c.rankings_added as i64,
                c.rejected as i64
            ],
        )?;
        self.tx.commit()?;
        Ok(c)
    }
}
