//! Review (adjudication): prompts annotators disagree on, served to a reviewer, whose ranking
//! becomes the prompt's gold answer in the same transaction as the ranking itself.

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::{annotator_id, rankings, Result, Store};
use crate::domain::{now_ms, NewRanking, PromptId, RankingId, Verdict};

impl Store {
    /// Prompts annotators disagree on, or that someone flagged (the prompt or one answer), that
    /// have no gold answer yet and that `reviewer` has not decided, ascending.
    pub fn review_queue(&self, reviewer: &str) -> Result<Vec<PromptId>> {
        // Decided by the reviewer: anything, skips included.
        let mine: std::collections::HashSet<PromptId> = self
            .live_rankings(&super::RankingFilter {
                annotator: Some(reviewer.to_string()),
                ..Default::default()
            })?
            .iter()
            .map(|r| r.prompt_id)
            .collect();
        // Disagreement is about one criterion: the first ranked one, as gold is.
        let others: Vec<_> = self
            .live_rankings(&self.first_rank_filter()?)?
            .into_iter()
            .filter(|r| r.annotator != reviewer)
            .collect();
        let gold = self.gold_answers()?;
        let mut queue: std::collections::BTreeSet<PromptId> =
            crate::analysis::disagreeing_prompts(&others)
                .into_iter()
                .collect();
        queue.extend(
            others
                .iter()
                .filter(|r| {
                    !r.flags.is_empty() || r.answer_marks.iter().any(|m| !m.flags.is_empty())
                })
                .map(|r| r.prompt_id),
        );
        Ok(queue
            .into_iter()
            .filter(|p| !mine.contains(p) && !gold.contains_key(p))
            .collect())
    }

    /// Leases `prompt` to `annotator` unless someone else holds it; whether it was taken.
    pub fn try_claim(&mut self, prompt: PromptId, annotator: &str, lease_ms: i64) -> Result<bool> {
        let now = now_ms();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let me = annotator_id(&tx, annotator)?;
        let held: Option<i64> = tx
            .prepare_cached(
                "SELECT annotator_id FROM leases WHERE prompt_id = ?1 AND annotator_id <> ?2 AND expires_at > ?3",
            )?
            .query_row(params![prompt, me, now], |r| r.get(0))
            .optional()?;
        if held.is_some() {
            return Ok(false);
        }
        tx.prepare_cached(
            "INSERT OR REPLACE INTO leases (prompt_id, annotator_id, expires_at) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![prompt, me, now + lease_ms])?;
        tx.commit()?;
        Ok(true)
    }

    /// Takes back a prompt's gold answer (a reviewer's decision that was undone).
    pub fn clear_gold(&mut self, prompt: PromptId) -> Result<()> {
        self.conn
            .prepare_cached("UPDATE prompts SET gold = NULL WHERE id = ?1")?
            .execute([prompt])?;
        Ok(())
    }

    /// A reviewer's decision: appended as a ranking and, when it ranks, made the prompt's gold
    /// answer, in one transaction (an undo takes it back with `clear_gold`).
    pub fn append_review(&mut self, r: &NewRanking) -> Result<Option<RankingId>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let id = rankings::insert_ranking(&tx, r)?;
        if id.is_some() && r.verdict == Verdict::Rank && !r.groups.is_empty() {
            tx.prepare_cached("UPDATE prompts SET gold = ?2 WHERE id = ?1")?
                .execute(params![r.prompt_id, serde_json::to_string(&r.groups)?])?;
        }
        tx.commit()?;
        Ok(id)
    }
}
