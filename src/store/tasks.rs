//! The labelling task, versioned: each decision records the version it was made under, so a
//! changed task never changes what an old decision meant.

use rusqlite::{params, Connection, OptionalExtension};

use super::{Result, Store, StoreError};
use crate::domain::{now_ms, CriterionKind, Judgement, NewRanking, Task};

pub(super) fn task_version(conn: &Connection, version: i64) -> Result<Task> {
    let text: Option<String> = conn
        .prepare_cached("SELECT definition FROM tasks WHERE version = ?1")?
        .query_row([version], |r| r.get(0))
        .optional()?;
    let text = text.ok_or_else(|| StoreError::Invalid(format!("no task version {version}")))?;
    Ok(serde_json::from_str(&text)?)
}

/// Every task version, newest first.
pub(super) fn all(conn: &Connection) -> Result<Vec<(i64, Task)>> {
    let mut stmt = conn.prepare("SELECT version, definition FROM tasks ORDER BY version DESC")?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter()
        .map(|(v, text)| Ok((v, serde_json::from_str(&text)?)))
        .collect()
}

pub(super) fn current(conn: &Connection) -> Result<(i64, Task)> {
    let (version, text): (i64, String) = conn.query_row(
        "SELECT version, definition FROM tasks ORDER BY version DESC LIMIT 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok((version, serde_json::from_str(&text)?))
}

/// A decision says something on criteria of its task only, of the right kind, within scale.
pub(super) fn validate_criteria(conn: &Connection, r: &NewRanking) -> Result<()> {
    let task = task_version(conn, r.task_version)?;
    let kind_of = |name: &str| {
        task.criterion(name).map(|c| &c.kind).ok_or_else(|| {
            StoreError::Invalid(format!(
                "criterion {name:?} is not in task version {} ({})",
                r.task_version,
                task.names().join(", ")
            ))
        })
    };
    if let Some(c) = &r.criterion {
        if kind_of(c)? != &CriterionKind::Rank {
            return Err(StoreError::Invalid(format!(
                "criterion {c:?} is not ranked"
            )));
        }
    }
    let mut seen = vec![r.criterion.as_deref()];
    for j in &r.judgements {
        let name = j.criterion();
        if seen.contains(&Some(name)) {
            return Err(StoreError::Invalid(format!(
                "criterion {name:?} is judged twice"
            )));
        }
        seen.push(Some(name));
        match (j, kind_of(name)?) {
            (Judgement::Order { .. }, CriterionKind::Rank) => {}
            (Judgement::Points { points, .. }, CriterionKind::Rate(scale)) => {
                if let Some((_, v)) = points.iter().find(|(_, v)| !scale.contains(*v)) {
                    return Err(StoreError::Invalid(format!(
                        "{v} points on {name:?} is outside its scale {}-{}",
                        scale.min, scale.max
                    )));
                }
            }
            _ => {
                return Err(StoreError::Invalid(format!(
                    "criterion {name:?} is {}, not what was given",
                    kind_of(name)?.describe()
                )))
            }
        }
    }
    Ok(())
}

impl Store {
    /// The current task and its version.
    pub fn task(&self) -> Result<(i64, Task)> {
        current(&self.conn)
    }

    pub fn task_at(&self, version: i64) -> Result<Task> {
        task_version(&self.conn, version)
    }

    /// Makes `task` the current one (a new version, unless it is the current one already).
    pub fn set_task(&mut self, task: &Task) -> Result<i64> {
        let tx = self.conn.transaction()?;
        let (version, now) = current(&tx)?;
        if &now == task {
            return Ok(version);
        }
        tx.execute(
            "INSERT INTO tasks (version, definition, created_at) VALUES (?1, ?2, ?3)",
            params![version + 1, serde_json::to_string(task)?, now_ms()],
        )?;
        tx.commit()?;
        Ok(version + 1)
    }

    /// Only the decisions on the current task's first rank criterion (what `overall` always
    /// was): for readers that want one ranking per decision, not a mix of criteria.
    pub fn first_rank_filter(&self) -> Result<super::RankingFilter> {
        let (_, task) = self.task()?;
        let first = task
            .criteria
            .iter()
            .find(|c| c.kind == CriterionKind::Rank)
            .unwrap_or(task.first());
        Ok(super::RankingFilter {
            criterion: Some(first.name.clone()),
            ..Default::default()
        })
    }

    /// Live decisions per criterion (rankings and ratings together), in no particular order.
    pub fn criterion_counts(&self) -> Result<Vec<(String, i64)>> {
        let mut stmt = self.conn.prepare(
            "SELECT c, count(*) FROM (
                 SELECT r.criterion AS c FROM rankings r
                 WHERE r.verdict = 'rank' AND r.criterion IS NOT NULL
                   AND NOT EXISTS (SELECT 1 FROM retractions x WHERE x.ranking_id = r.id)
                 UNION ALL
                 SELECT o.criterion FROM criterion_orders o
                 WHERE NOT EXISTS (SELECT 1 FROM retractions x WHERE x.ranking_id = o.ranking_id)
                 UNION ALL
                 SELECT criterion FROM (SELECT DISTINCT ranking_id, criterion FROM ratings) t
                 WHERE NOT EXISTS (SELECT 1 FROM retractions x WHERE x.ranking_id = t.ranking_id))
             GROUP BY c",
        )?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }
}
