//! The ranking log: append, retract (undo), and read back the rankings that still count.

use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};

use super::{annotator_id, json_ids, Result, Store, StoreError};
use crate::domain::{
    now_ms, task::groups_from_points, Judgement, NewRanking, PreferencePair, PromptId, Ranking,
    RankingId, RankingMode, TiePair, Verdict,
};

/// Which live rankings to read.
#[derive(Debug, Clone, Default)]
pub struct RankingFilter {
    pub annotator: Option<String>,
    pub prompt_id: Option<PromptId>,
    /// Only decisions that judged this criterion, with `groups` (and `points`, for a rated
    /// one) on it. `None`: every decision, with the ranking it was saved with.
    pub criterion: Option<String>,
}

const SELECT_RANKING: &str =
    "SELECT r.id, r.prompt_id, a.name, r.os_user, r.created_at, r.duration_ms,
        r.shown_order, r.verdict, r.mode, r.groups, r.strength, r.flags, r.note, r.rushed,
        r.answer_marks, r.task_version, r.criterion
     FROM rankings r JOIN annotators a ON a.id = r.annotator_id";

pub(super) fn insert_ranking(conn: &Connection, r: &NewRanking) -> Result<Option<RankingId>> {
    validate(conn, r)?;
    let annotator = annotator_id(conn, &r.annotator)?;
    let inserted = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO rankings (prompt_id, annotator_id, os_user, created_at, duration_ms,
                 shown_order, verdict, mode, groups, strength, flags, note, rushed, dedupe_key,
                 answer_marks, task_version, criterion)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
        )?
        .execute(params![
            r.prompt_id,
            annotator,
            r.os_user,
            r.created_at_ms,
            r.duration_ms,
            serde_json::to_string(&r.shown_order)?,
            r.verdict.as_str(),
            r.mode.as_str(),
            serde_json::to_string(&r.groups)?,
            r.strength,
            serde_json::to_string(&r.flags)?,
            r.note,
            r.rushed,
            r.dedupe_key,
            serde_json::to_string(&r.answer_marks)?,
            r.task_version,
            r.criterion,
        ])?;
    if inserted == 0 {
        return Ok(None);
    }
    let id = conn.last_insert_rowid();
    for j in &r.judgements {
        match j {
            Judgement::Order {
                criterion,
                groups,
                mode,
            } => {
                conn.prepare_cached(
                    "INSERT INTO criterion_orders (ranking_id, criterion, groups, mode) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![id, criterion, serde_json::to_string(groups)?, mode.as_str()])?;
            }
            Judgement::Points { criterion, points } => {
                let mut insert = conn.prepare_cached(
                    "INSERT INTO ratings (ranking_id, criterion, candidate_id, value) VALUES (?1, ?2, ?3, ?4)",
                )?;
                for (cand, value) in points {
                    insert.execute(params![id, criterion, cand, value])?;
                }
            }
        }
    }
    refresh_n_ranked(conn, r.prompt_id)?;
    // The decision ends this annotator's lease on the prompt.
    conn.prepare_cached("DELETE FROM leases WHERE prompt_id = ?1 AND annotator_id = ?2")?
        .execute(params![r.prompt_id, annotator])?;
    Ok(Some(id))
}

/// A ranking names each candidate once, all of them of its own prompt; its criteria are
/// those of its task.
fn validate(conn: &Connection, r: &NewRanking) -> Result<()> {
    super::tasks::validate_criteria(conn, r)?;
    let mut seen = std::collections::HashSet::new();
    let mut owner = conn.prepare_cached("SELECT prompt_id FROM candidates WHERE id = ?1")?;
    let marked = r.answer_marks.iter().map(|m| &m.candidate);
    let judged: Vec<i64> = r
        .judgements
        .iter()
        .flat_map(|j| match j {
            Judgement::Order { groups, .. } => groups.iter().flatten().copied().collect(),
            Judgement::Points { points, .. } => points.iter().map(|p| p.0).collect::<Vec<_>>(),
        })
        .collect();
    for &id in r
        .groups
        .iter()
        .flatten()
        .chain(&r.shown_order)
        .chain(marked)
        .chain(&judged)
    {
        let prompt: Option<i64> = owner.query_row([id], |row| row.get(0)).optional()?;
        if prompt != Some(r.prompt_id) {
            return Err(StoreError::Invalid(format!(
                "candidate {id} does not belong to prompt {}",
                r.prompt_id
            )));
        }
    }
    for id in r.groups.iter().flatten() {
        if !seen.insert(*id) {
            return Err(StoreError::Invalid(format!(
                "ranking lists candidate {id} twice"
            )));
        }
    }
    // A task of ratings only saves its points with an empty ranking.
    let rated_only = r.criterion.is_none() && !r.judgements.is_empty();
    if r.verdict == Verdict::Rank && seen.len() < 2 && !rated_only {
        return Err(StoreError::Invalid(
            "a ranking needs at least two candidates".into(),
        ));
    }
    if r.verdict == Verdict::Rank && r.criterion.is_none() && !rated_only {
        return Err(StoreError::Invalid(
            "a ranking names the criterion it orders".into(),
        ));
    }
    Ok(())
}

/// Keeps `prompts.n_ranked` (distinct annotators with a live ranking) in step with the log.
fn refresh_n_ranked(conn: &Connection, prompt_id: PromptId) -> Result<()> {
    conn.prepare_cached(
        "UPDATE prompts SET n_ranked = (
             SELECT count(DISTINCT r.annotator_id) FROM rankings r
             WHERE r.prompt_id = ?1 AND r.verdict = 'rank'
               AND NOT EXISTS (SELECT 1 FROM retractions x WHERE x.ranking_id = r.id))
         WHERE id = ?1",
    )?
    .execute([prompt_id])?;
    Ok(())
}

fn ranking_from_row(row: &Row) -> rusqlite::Result<RawRanking> {
    Ok(RawRanking {
        id: row.get(0)?,
        prompt_id: row.get(1)?,
        annotator: row.get(2)?,
        os_user: row.get(3)?,
        created_at_ms: row.get(4)?,
        duration_ms: row.get(5)?,
        shown_order: row.get(6)?,
        verdict: row.get(7)?,
        mode: row.get(8)?,
        groups: row.get(9)?,
        strength: row.get(10)?,
        flags: row.get(11)?,
        note: row.get(12)?,
        rushed: row.get(13)?,
        answer_marks: row.get(14)?,
        task_version: row.get(15)?,
        criterion: row.get(16)?,
    })
}

/// A row before its JSON columns are decoded.
struct RawRanking {
    id: i64,
    prompt_id: i64,
    annotator: String,
    os_user: Option<String>,
    created_at_ms: i64,
    duration_ms: Option<i64>,
    shown_order: String,
    verdict: String,
    mode: String,
    groups: String,
    strength: Option<f64>,
    flags: String,
    note: Option<String>,
    rushed: bool,
    answer_marks: String,
    task_version: i64,
    criterion: Option<String>,
}

impl RawRanking {
    fn decode(self) -> Result<Ranking> {
        Ok(Ranking {
            id: self.id,
            prompt_id: self.prompt_id,
            annotator: self.annotator,
            os_user: self.os_user,
            created_at_ms: self.created_at_ms,
            duration_ms: self.duration_ms,
            shown_order: json_ids(&self.shown_order)?,
            verdict: if self.verdict == "skip" {
                Verdict::Skip
            } else {
                Verdict::Rank
            },
            mode: RankingMode::parse(&self.mode).unwrap_or(RankingMode::Full),
            groups: serde_json::from_str(&self.groups)?,
            strength: self.strength,
            flags: serde_json::from_str(&self.flags)?,
            note: self.note,
            rushed: self.rushed,
            answer_marks: serde_json::from_str(&self.answer_marks)?,
            task_version: self.task_version,
            criterion: self.criterion,
            points: Vec::new(),
        })
    }
}

impl Store {
    /// Appends one decision in its own transaction; durable when this returns.
    pub fn append_ranking(&mut self, r: &NewRanking) -> Result<Option<RankingId>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let id = insert_ranking(&tx, r)?;
        tx.commit()?;
        Ok(id)
    }

    /// Undo: appends a retraction of `ranking_id`. Only its own annotator may retract it.
    pub fn retract_ranking(&mut self, ranking_id: RankingId, annotator: &str) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let who = annotator_id(&tx, annotator)?;
        let row: Option<(i64, i64)> = tx
            .query_row(
                "SELECT prompt_id, annotator_id FROM rankings WHERE id = ?1",
                [ranking_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((prompt_id, owner)) = row else {
            return Err(StoreError::Invalid(format!(
                "no ranking with id {ranking_id}"
            )));
        };
        if owner != who {
            return Err(StoreError::Invalid(format!(
                "ranking {ranking_id} belongs to another annotator"
            )));
        }
        tx.execute(
            "INSERT OR IGNORE INTO retractions (ranking_id, annotator_id, created_at) VALUES (?1, ?2, ?3)",
            params![ranking_id, who, now_ms()],
        )?;
        refresh_n_ranked(&tx, prompt_id)?;
        tx.commit()?;
        Ok(())
    }

    pub fn ranking(&self, id: RankingId) -> Result<Option<Ranking>> {
        let sql = format!("{SELECT_RANKING} WHERE r.id = ?1");
        let raw = self
            .conn
            .query_row(&sql, [id], ranking_from_row)
            .optional()?;
        raw.map(RawRanking::decode).transpose()
    }

    pub fn is_retracted(&self, id: RankingId) -> Result<bool> {
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM retractions WHERE ranking_id = ?1)",
            [id],
            |r| r.get(0),
        )?)
    }

    /// This annotator's newest live decisions (rankings and skips), newest first.
    pub fn recent_decisions(&self, annotator: &str, limit: usize) -> Result<Vec<Ranking>> {
        let sql = format!(
            "{SELECT_RANKING}
             WHERE NOT EXISTS (SELECT 1 FROM retractions x WHERE x.ranking_id = r.id)
               AND a.name = ?1
             ORDER BY r.id DESC LIMIT ?2"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let raws = stmt
            .query_map(params![annotator, limit as i64], ranking_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        raws.into_iter().map(RawRanking::decode).collect()
    }

    /// Rankings and skips that have not been retracted, oldest first. With a criterion, only
    /// the decisions that judged it, each as its judgement on that criterion.
    pub fn live_rankings(&self, filter: &RankingFilter) -> Result<Vec<Ranking>> {
        let sql = format!(
            "{SELECT_RANKING}
             WHERE NOT EXISTS (SELECT 1 FROM retractions x WHERE x.ranking_id = r.id)
               AND (?1 IS NULL OR a.name = ?1)
               AND (?2 IS NULL OR r.prompt_id = ?2)
               AND (?3 IS NULL OR (r.verdict = 'rank' AND (r.criterion = ?3
                    OR EXISTS (SELECT 1 FROM criterion_orders o WHERE o.ranking_id = r.id AND o.criterion = ?3)
                    OR EXISTS (SELECT 1 FROM ratings g WHERE g.ranking_id = r.id AND g.criterion = ?3))))
             ORDER BY r.id"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let raws = stmt
            .query_map(
                params![filter.annotator, filter.prompt_id, filter.criterion],
                ranking_from_row,
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut out = Vec::with_capacity(raws.len());
        for raw in raws {
            let mut r = raw.decode()?;
            if let Some(c) = &filter.criterion {
                if r.criterion.as_ref() != Some(c) {
                    self.judged_on(&mut r, c)?;
                }
            }
            out.push(r);
        }
        Ok(out)
    }

    /// Rewrites `r` as its decision on criterion `c` (stored beside its main ranking).
    fn judged_on(&self, r: &mut Ranking, c: &str) -> Result<()> {
        let judgement = self
            .judgements(r.id)?
            .into_iter()
            .find(|j| j.criterion() == c)
            .ok_or_else(|| {
                StoreError::Invalid(format!("decision {} has nothing on {c:?}", r.id))
            })?;
        r.criterion = Some(c.to_string());
        r.strength = None;
        match judgement {
            Judgement::Order { groups, mode, .. } => {
                r.groups = groups;
                r.mode = mode;
            }
            Judgement::Points { points, .. } => {
                r.groups = groups_from_points(&points);
                r.mode = RankingMode::Full;
                r.points = points;
            }
        }
        Ok(())
    }

    /// What a decision said on its criteria other than the one its `groups` order (by name).
    pub fn judgements(&self, ranking_id: RankingId) -> Result<Vec<Judgement>> {
        let mut out = Vec::new();
        let mut orders = self.conn.prepare_cached(
            "SELECT criterion, groups, mode FROM criterion_orders WHERE ranking_id = ?1 ORDER BY criterion",
        )?;
        let rows = orders
            .query_map([ranking_id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        for (criterion, groups, mode) in rows {
            out.push(Judgement::Order {
                criterion,
                groups: serde_json::from_str(&groups)?,
                mode: RankingMode::parse(&mode).unwrap_or(RankingMode::Full),
            });
        }
        let rows = self
            .conn
            .prepare_cached(
                "SELECT criterion, candidate_id, value FROM ratings WHERE ranking_id = ?1 ORDER BY criterion",
            )?
            .query_map([ranking_id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, u8>(2)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        for (criterion, cand, value) in rows {
            match out.last_mut() {
                Some(Judgement::Points {
                    criterion: c,
                    points,
                }) if *c == criterion => points.push((cand, value)),
                _ => out.push(Judgement::Points {
                    criterion,
                    points: vec![(cand, value)],
                }),
            }
        }
        Ok(out)
    }

    /// Ordered pairs and ties implied by every live ranking.
    pub fn preference_pairs(
        &self,
        filter: &RankingFilter,
    ) -> Result<(Vec<PreferencePair>, Vec<TiePair>)> {
        let mut pairs = Vec::new();
        let mut ties = Vec::new();
        for r in self.live_rankings(filter)? {
            let (p, t) = r.pairs();
            pairs.extend(p);
            ties.extend(t);
        }
        Ok((pairs, ties))
    }

    pub fn count_rows(&self, table: RowCount) -> Result<i64> {
        let sql = match table {
            RowCount::Prompts => "SELECT count(*) FROM prompts",
            RowCount::Candidates => "SELECT count(*) FROM candidates",
            RowCount::RankingLog => "SELECT count(*) FROM rankings",
            RowCount::Retractions => "SELECT count(*) FROM retractions",
        };
        Ok(self.conn.query_row(sql, [], |r| r.get(0))?)
    }
}

#[derive(Debug, Clone, Copy)]
pub enum RowCount {
    Prompts,
    Candidates,
    RankingLog,
    Retractions,
}
