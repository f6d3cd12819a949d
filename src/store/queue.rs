//! The labelling queue: hands each annotator a prompt they have not decided on, under a lease,
//! so that no two annotators hold the same prompt at once (or at most `overlap` of them).

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::{annotator_id, Result, Store};
use crate::domain::{now_ms, PromptId};

/// A prompt `find_prompts` matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FoundPrompt {
    pub prompt_id: PromptId,
    pub decided_by_me: bool,
    pub held_by_other: bool,
}

/// Labelling progress at an overlap; see `Store::queue_progress_split`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Progress {
    /// Prompts with something to rank (gold prompts aside).
    pub total: i64,
    /// Those ranked by `overlap` annotators.
    pub done: i64,
    /// Of `done`, those whose rankings all came from imports (not people's work here).
    pub imported: i64,
}

impl Progress {
    /// (people's done, what there was for people to do).
    pub fn people(&self) -> (i64, i64) {
        (self.done - self.imported, self.total - self.imported)
    }
}

#[derive(Debug, Clone, Copy)]
pub struct QueueOptions {
    /// How many different annotators should rank each prompt.
    pub overlap: u32,
    /// How long a claim lasts without renewal.
    pub lease_ms: i64,
    /// Share of items that are gold prompts (known answer), for quality control.
    pub gold_rate: f64,
}

impl Default for QueueOptions {
    fn default() -> Self {
        QueueOptions {
            overlap: 1,
            lease_ms: 10 * 60 * 1000,
            gold_rate: 0.0,
        }
    }
}

/// Which prompts a session is served (`kibble --only tag:NAME --only source:PREFIX`): both
/// must hold when both are given. Gold prompts and a prompt the annotator holds still come.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueFilter {
    /// A value of the prompt's `meta.tags`.
    pub tag: Option<String>,
    /// The start of one of its candidates' sources (`import:`, `policy:3`, `model:`).
    pub source: Option<String>,
}

impl QueueFilter {
    /// Adds `tag:NAME` or `source:PREFIX`.
    pub fn add(&mut self, s: &str) -> std::result::Result<(), String> {
        match s.split_once(':') {
            Some(("tag", v)) if !v.is_empty() => self.tag = Some(v.to_string()),
            Some(("source", v)) if !v.is_empty() => self.source = Some(v.to_string()),
            _ => {
                return Err(format!(
                    "--only {s:?}: use tag:NAME (a value of the prompt's meta.tags) or source:PREFIX (e.g. source:policy)"
                ))
            }
        }
        Ok(())
    }

    /// `tag:code source:policy`, or empty.
    pub fn label(&self) -> String {
        let mut parts = Vec::new();
        if let Some(t) = &self.tag {
            parts.push(format!("tag:{t}"));
        }
        if let Some(s) = &self.source {
            parts.push(format!("source:{s}"));
        }
        parts.join(" ")
    }
}

/// The best prompt at one `n_ranked` level, or none. Uses the partial index `prompts_queue`:
/// it walks prompts in priority order and stops at the first one this annotator may take.
const NEXT_AT_LEVEL: &str = "
    SELECT p.id, p.priority FROM prompts p INDEXED BY prompts_queue
    WHERE p.n_candidates >= 2 AND p.gold IS NULL AND p.n_ranked = ?1
      AND NOT EXISTS (
          SELECT 1 FROM rankings r WHERE r.prompt_id = p.id AND r.annotator_id = ?2
             AND NOT EXISTS (SELECT 1 FROM retractions x WHERE x.ranking_id = r.id))
      AND p.n_ranked + (SELECT count(*) FROM leases l
                        WHERE l.prompt_id = p.id AND l.annotator_id <> ?2 AND l.expires_at > ?3) < ?4
      AND (?5 IS NULL OR EXISTS (SELECT 1 FROM json_each(p.meta, '$.tags') t WHERE t.value = ?5))
      AND (?6 IS NULL OR EXISTS (SELECT 1 FROM candidates c
                                 WHERE c.prompt_id = p.id AND substr(c.source, 1, length(?6)) = ?6))
    ORDER BY p.priority DESC, p.id
    LIMIT 1";

/// A gold prompt this annotator has not decided on yet.
const NEXT_GOLD: &str = "
    SELECT p.id FROM prompts p INDEXED BY prompts_gold
    WHERE p.gold IS NOT NULL AND p.n_candidates >= 2
      AND NOT EXISTS (
          SELECT 1 FROM rankings r WHERE r.prompt_id = p.id AND r.annotator_id = ?1
             AND NOT EXISTS (SELECT 1 FROM retractions x WHERE x.ranking_id = r.id))
    ORDER BY p.id LIMIT 1";

/// Whether this annotator's next item should be gold: a deterministic draw from how many
/// decisions they have made, so the rate holds without any state outside the DB.
fn gold_turn(conn: &rusqlite::Connection, me: i64, rate: f64) -> Result<bool> {
    if rate <= 0.0 {
        return Ok(false);
    }
    let n: i64 = conn
        .prepare_cached("SELECT count(*) FROM rankings WHERE annotator_id = ?1")?
        .query_row([me], |r| r.get(0))?;
    let x = crate::domain::SplitMix64::new(n as u64 ^ (me as u64).rotate_left(32)).next_u64();
    Ok((x as f64 / u64::MAX as f64) < rate)
}

impl Store {
    /// Claims the next prompt for `annotator` and returns it, or `None` when the queue is empty.
    /// A prompt this annotator still holds a live lease on (say, after a crash) comes back first.
    pub fn claim_next(&mut self, annotator: &str, opts: QueueOptions) -> Result<Option<PromptId>> {
        self.claim_next_where(annotator, opts, &QueueFilter::default())
    }

    /// `claim_next` among the prompts `filter` lets through.
    pub fn claim_next_where(
        &mut self,
        annotator: &str,
        opts: QueueOptions,
        filter: &QueueFilter,
    ) -> Result<Option<PromptId>> {
        let now = now_ms();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let me = annotator_id(&tx, annotator)?;
        let held: Option<PromptId> = tx
            .prepare_cached(
                "SELECT l.prompt_id FROM leases l WHERE l.annotator_id = ?1 AND l.expires_at > ?2
                   AND NOT EXISTS (
                       SELECT 1 FROM rankings r WHERE r.prompt_id = l.prompt_id AND r.annotator_id = ?1
                          AND NOT EXISTS (SELECT 1 FROM retractions x WHERE x.ranking_id = r.id))
                 ORDER BY l.expires_at LIMIT 1",
            )?
            .query_row(params![me, now], |r| r.get(0))
            .optional()?;
        let gold = if held.is_none() && gold_turn(&tx, me, opts.gold_rate)? {
            tx.prepare_cached(NEXT_GOLD)?
                .query_row(params![me], |r| r.get(0))
                .optional()?
        } else {
            None
        };
        let chosen = match held.or(gold) {
            Some(id) => Some(id),
            None => {
                // Prefer prompts already ranked by others (to finish overlap), then fresh ones;
                // priority always wins.
                let mut best: Option<(i64, i64, PromptId)> = None;
                let mut stmt = tx.prepare_cached(NEXT_AT_LEVEL)?;
                for level in (0..opts.overlap.max(1) as i64).rev() {
                    let found: Option<(PromptId, i64)> = stmt
                        .query_row(
                            params![
                                level,
                                me,
                                now,
                                opts.overlap.max(1),
                                filter.tag,
                                filter.source
                            ],
                            |r| Ok((r.get(0)?, r.get(1)?)),
                        )
                        .optional()?;
                    if let Some((id, priority)) = found {
                        let key = (priority, level, -id);
                        if best.is_none_or(|b| key > b) {
                            best = Some(key);
                        }
                    }
                }
                best.map(|(_, _, neg_id)| -neg_id)
            }
        };
        if let Some(id) = chosen {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO leases (prompt_id, annotator_id, expires_at) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![id, me, now + opts.lease_ms])?;
        }
        tx.prepare_cached("DELETE FROM leases WHERE expires_at < ?1")?
            .execute([now - opts.lease_ms])?;
        tx.commit()?;
        Ok(chosen)
    }

    /// Extends this annotator's lease on a prompt they are still working on.
    pub fn renew_lease(
        &mut self,
        prompt_id: PromptId,
        annotator: &str,
        lease_ms: i64,
    ) -> Result<()> {
        let me = annotator_id(&self.conn, annotator)?;
        self.conn
            .prepare_cached(
                "INSERT OR REPLACE INTO leases (prompt_id, annotator_id, expires_at) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![prompt_id, me, now_ms() + lease_ms])?;
        Ok(())
    }

    /// Gives a prompt back to the queue (quit without deciding).
    /// Prompts to rank whose id, external id or text matches `query` (text: case-insensitive
    /// substring), in id order, at most `limit`. With each: whether this annotator decided it
    /// already, and whether someone else holds it now.
    pub fn find_prompts(
        &self,
        annotator: &str,
        query: &str,
        limit: usize,
    ) -> Result<Vec<FoundPrompt>> {
        let me = annotator_id(&self.conn, annotator)?;
        let id: Option<i64> = query.trim().trim_start_matches('#').parse().ok();
        let like = format!(
            "%{}%",
            query
                .trim()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        let mut stmt = self.conn.prepare(
            "SELECT p.id,
                    EXISTS (SELECT 1 FROM rankings r WHERE r.prompt_id = p.id AND r.annotator_id = ?4
                              AND NOT EXISTS (SELECT 1 FROM retractions x WHERE x.ranking_id = r.id)),
                    EXISTS (SELECT 1 FROM leases l WHERE l.prompt_id = p.id AND l.annotator_id <> ?4
                              AND l.expires_at > ?5)
             FROM prompts p
             WHERE p.n_candidates >= 2 AND p.gold IS NULL
               AND (p.id = ?1 OR p.ext_id = ?2 OR p.body LIKE ?3 ESCAPE '\\')
             ORDER BY p.id LIMIT ?6",
        )?;
        let rows = stmt.query_map(
            params![id, query.trim(), like, me, now_ms(), limit as i64],
            |r| {
                Ok(FoundPrompt {
                    prompt_id: r.get(0)?,
                    decided_by_me: r.get(1)?,
                    held_by_other: r.get(2)?,
                })
            },
        )?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn release_lease(&mut self, prompt_id: PromptId, annotator: &str) -> Result<()> {
        let me = annotator_id(&self.conn, annotator)?;
        self.conn
            .prepare_cached("DELETE FROM leases WHERE prompt_id = ?1 AND annotator_id = ?2")?
            .execute(params![prompt_id, me])?;
        Ok(())
    }

    /// Number of prompts with something to rank, and how many of them reached `overlap` rankings.
    pub fn queue_progress(&self, overlap: u32) -> Result<(i64, i64)> {
        self.queue_progress_split(overlap)
            .map(|p| (p.total, p.done))
    }

    /// The labelling progress everyone sees (app header, Data screen, `kibble stats`): prompts
    /// to rank, those that reached `overlap`, and how many of the latter came ranked from an
    /// import (their rankings all by `import:` annotators), so people's own work shows apart.
    pub fn queue_progress_split(&self, overlap: u32) -> Result<Progress> {
        // Both counts come from narrow indexes: all prompts, minus the (few) gold ones.
        let count = |sql: &str| -> Result<(i64, i64)> {
            Ok(self
                .conn
                .prepare_cached(sql)?
                .query_row([overlap], |r| Ok((r.get(0)?, r.get(1)?)))?)
        };
        let (all, all_done) = count(
            "SELECT count(*), coalesce(sum(n_ranked >= ?1), 0) FROM prompts INDEXED BY prompts_counts
             WHERE n_candidates >= 2",
        )?;
        let (gold, gold_done) = count(
            "SELECT count(*), coalesce(sum(n_ranked >= ?1), 0) FROM prompts INDEXED BY prompts_gold
             WHERE gold IS NOT NULL AND n_candidates >= 2",
        )?;
        let imported: i64 = self
            .conn
            .prepare_cached(
                "SELECT count(*) FROM prompts p INDEXED BY prompts_counts
                 WHERE p.n_candidates >= 2 AND p.n_ranked >= ?1 AND p.gold IS NULL
                   AND NOT EXISTS (
                       SELECT 1 FROM rankings r JOIN annotators a ON a.id = r.annotator_id
                       WHERE r.prompt_id = p.id AND a.name NOT LIKE 'import:%'
                         AND NOT EXISTS (SELECT 1 FROM retractions x WHERE x.ranking_id = r.id))",
            )?
            .query_row([overlap], |r| r.get(0))?;
        Ok(Progress {
            total: all - gold,
            done: all_done - gold_done,
            imported,
        })
    }
}
