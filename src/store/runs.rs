//! Training runs, their per-step metrics, checkpoints and the reward scores a checkpoint gave.
//! Everything a job shows is written here, so any process can watch or review a run.

use rusqlite::{params, OptionalExtension, Row};
use serde::Serialize;

use super::{Result, Store};
use crate::domain::{now_ms, CandidateId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Done,
    Failed,
    Cancelled,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Done => "done",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }
    fn parse(s: &str) -> RunStatus {
        match s {
            "running" => RunStatus::Running,
            "done" => RunStatus::Done,
            "cancelled" => RunStatus::Cancelled,
            _ => RunStatus::Failed,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RunRow {
    pub id: i64,
    pub kind: String,
    pub config: serde_json::Value,
    pub status: RunStatus,
    pub message: Option<String>,
    pub started_at_ms: i64,
    pub finished_at_ms: Option<i64>,
    pub heartbeat_at_ms: i64,
    /// Policy runs: the run whose policy this one started from, and its improvement round.
    pub parent_run_id: Option<i64>,
    pub round: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MetricPoint {
    pub step: i64,
    pub value: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ScoredCandidate {
    pub id: CandidateId,
    pub prompt_id: i64,
    pub source: String,
    pub chars: i64,
    pub value: f64,
    pub preview: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckpointRow {
    pub id: i64,
    pub run_id: i64,
    pub step: i64,
    pub path: String,
    pub metrics: serde_json::Value,
}

fn run_from_row(row: &Row) -> rusqlite::Result<(RunRow, String)> {
    let status: String = row.get(3)?;
    Ok((
        RunRow {
            id: row.get(0)?,
            kind: row.get(1)?,
            config: serde_json::Value::Null,
            status: RunStatus::parse(&status),
            message: row.get(4)?,
            started_at_ms: row.get(5)?,
            finished_at_ms: row.get(6)?,
            heartbeat_at_ms: row.get(7)?,
            parent_run_id: row.get(8)?,
            round: row.get(9)?,
        },
        row.get(2)?,
    ))
}

/// A checkpoint row with its metrics JSON not yet decoded.
fn checkpoint_from_row(row: &Row) -> rusqlite::Result<(CheckpointRow, String)> {
    Ok((
        CheckpointRow {
            id: row.get(0)?,
            run_id: row.get(1)?,
            step: row.get(2)?,
            path: row.get(3)?,
            metrics: serde_json::Value::Null,
        },
        row.get(4)?,
    ))
}

fn finish_checkpoint((mut c, metrics): (CheckpointRow, String)) -> Result<CheckpointRow> {
    c.metrics = serde_json::from_str(&metrics)?;
    Ok(c)
}

fn finish_run((mut run, config): (RunRow, String)) -> Result<RunRow> {
    run.config = serde_json::from_str(&config)?;
    Ok(run)
}

const SELECT_RUN: &str =
    "SELECT id, kind, config, status, message, started_at, finished_at, heartbeat_at, parent_run_id, round FROM runs";

/// A run whose process has not written a heartbeat for this long is considered dead.
const STALE_HEARTBEAT_MS: i64 = 5 * 60 * 1000;

impl Store {
    pub fn create_run(
        &mut self,
        kind: &str,
        config: &serde_json::Value,
        created_by: &str,
    ) -> Result<i64> {
        let now = now_ms();
        self.conn.execute(
            "INSERT INTO runs (kind, config, status, created_by, host, pid, started_at, heartbeat_at)
             VALUES (?1, ?2, 'running', ?3, ?4, ?5, ?6, ?6)",
            params![
                kind,
                config.to_string(),
                created_by,
                hostname(),
                std::process::id(),
                now
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    pub fn finish_run(
        &mut self,
        run_id: i64,
        status: RunStatus,
        message: Option<&str>,
    ) -> Result<()> {
        self.conn.execute(
            "UPDATE runs SET status = ?2, message = ?3, finished_at = ?4 WHERE id = ?1",
            params![run_id, status.as_str(), message, now_ms()],
        )?;
        Ok(())
    }

    /// Marks a run as running again in this process (resume).
    /// What a running job is doing now (its phase); replaced by the final message.
    pub fn set_run_message(&mut self, run_id: i64, message: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE runs SET message = ?2, heartbeat_at = ?3 WHERE id = ?1",
            params![run_id, message, now_ms()],
        )?;
        Ok(())
    }

    /// Places a policy run in the improvement loop: which run it continues, which round it is.
    pub fn set_run_lineage(&mut self, run_id: i64, parent: Option<i64>, round: i64) -> Result<()> {
        self.conn.execute(
            "UPDATE runs SET parent_run_id = ?2, round = ?3 WHERE id = ?1",
            params![run_id, parent, round],
        )?;
        Ok(())
    }

    /// The checkpoint to use from the newest run of these kinds that has one: its best
    /// (reward models keep the best by held-out accuracy), else its newest.
    pub fn latest_checkpoint(&self, kinds: &[&str]) -> Result<Option<CheckpointRow>> {
        let marks = vec!["?"; kinds.len()].join(", ");
        let mut stmt = self.conn.prepare(&format!(
            "SELECT c.id, c.run_id, c.step, c.path, c.metrics FROM checkpoints c
             JOIN runs r ON r.id = c.run_id
             WHERE c.deleted_at IS NULL AND r.kind IN ({marks})
             ORDER BY c.run_id DESC, c.best DESC, c.id DESC LIMIT 1"
        ))?;
        let raw = stmt
            .query_row(rusqlite::params_from_iter(kinds), checkpoint_from_row)
            .optional()?;
        raw.map(finish_checkpoint).transpose()
    }

    pub fn reopen_run(&mut self, run_id: i64) -> Result<()> {
        self.conn.execute(
            "UPDATE runs SET status = 'running', message = NULL, finished_at = NULL,
                 host = ?2, pid = ?3, heartbeat_at = ?4 WHERE id = ?1",
            params![run_id, hostname(), std::process::id(), now_ms()],
        )?;
        Ok(())
    }

    pub fn run(&self, run_id: i64) -> Result<Option<RunRow>> {
        let raw = self
            .conn
            .query_row(
                &format!("{SELECT_RUN} WHERE id = ?1"),
                [run_id],
                run_from_row,
            )
            .optional()?;
        raw.map(finish_run).transpose()
    }

    pub fn runs(&self) -> Result<Vec<RunRow>> {
        let mut stmt = self
            .conn
            .prepare(&format!("{SELECT_RUN} ORDER BY id DESC"))?;
        let raws = stmt
            .query_map([], run_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        raws.into_iter().map(finish_run).collect()
    }

    /// Records a batch of (step, name, value) metrics and refreshes the run's heartbeat.
    pub fn add_metrics(&mut self, run_id: i64, points: &[(i64, &str, f64)]) -> Result<()> {
        let now = now_ms();
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT OR REPLACE INTO metrics (run_id, name, step, value, at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for (step, name, value) in points {
                stmt.execute(params![run_id, name, step, value, now])?;
            }
            tx.execute(
                "UPDATE runs SET heartbeat_at = ?2 WHERE id = ?1",
                params![run_id, now],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// One metric series of a run, in step order, from `after_step` on (for incremental polling).
    pub fn metric_series(
        &self,
        run_id: i64,
        name: &str,
        after_step: i64,
    ) -> Result<Vec<MetricPoint>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT step, value FROM metrics WHERE run_id = ?1 AND name = ?2 AND step > ?3 ORDER BY step",
        )?;
        let rows = stmt.query_map(params![run_id, name, after_step], |r| {
            Ok(MetricPoint {
                step: r.get(0)?,
                value: r.get(1)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn add_checkpoint(
        &mut self,
        run_id: i64,
        step: i64,
        path: &str,
        metrics: &serde_json::Value,
    ) -> Result<i64> {
        self.conn.execute(
            "INSERT INTO checkpoints (run_id, step, path, metrics, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![run_id, step, path, metrics.to_string(), now_ms()],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    pub fn checkpoints(&self, run_id: Option<i64>) -> Result<Vec<CheckpointRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, run_id, step, path, metrics FROM checkpoints
             WHERE deleted_at IS NULL AND (?1 IS NULL OR run_id = ?1) ORDER BY id",
        )?;
        let raws = stmt
            .query_map([run_id], checkpoint_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        raws.into_iter().map(finish_checkpoint).collect()
    }

    /// Records which rankings a run trained (or evaluated) on.
    pub fn add_run_rankings(&mut self, run_id: i64, rankings: &[(i64, bool)]) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT OR IGNORE INTO run_rankings (run_id, ranking_id, split) VALUES (?1, ?2, ?3)",
            )?;
            for (id, eval) in rankings {
                stmt.execute(params![run_id, id, if *eval { "eval" } else { "train" }])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The ranking ids a run used, with whether each was on the eval side.
    pub fn run_rankings(&self, run_id: i64) -> Result<Vec<(i64, bool)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT ranking_id, split = 'eval' FROM run_rankings WHERE run_id = ?1 ORDER BY ranking_id")?;
        let rows = stmt.query_map([run_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Makes this checkpoint its run's best (and no other).
    pub fn set_best_checkpoint(&mut self, run_id: i64, checkpoint_id: i64) -> Result<()> {
        self.conn.execute(
            "UPDATE checkpoints SET best = (id = ?2) WHERE run_id = ?1",
            params![run_id, checkpoint_id],
        )?;
        Ok(())
    }

    /// The run's best checkpoint, if one was marked.
    pub fn best_checkpoint(&self, run_id: i64) -> Result<Option<CheckpointRow>> {
        let raw = self
            .conn
            .query_row(
                "SELECT id, run_id, step, path, metrics FROM checkpoints
                 WHERE run_id = ?1 AND best = 1 AND deleted_at IS NULL",
                [run_id],
                checkpoint_from_row,
            )
            .optional()?;
        raw.map(finish_checkpoint).transpose()
    }

    /// Marks a checkpoint's files as gone (the row stays, for the history).
    pub fn mark_checkpoint_deleted(&mut self, checkpoint_id: i64) -> Result<()> {
        self.conn.execute(
            "UPDATE checkpoints SET deleted_at = ?2 WHERE id = ?1",
            params![checkpoint_id, now_ms()],
        )?;
        Ok(())
    }

    pub fn checkpoint(&self, id: i64) -> Result<Option<CheckpointRow>> {
        Ok(self.checkpoints(None)?.into_iter().find(|c| c.id == id))
    }

    /// Candidates the checkpoint has not scored yet, with their prompt id: (candidate, prompt, text).
    pub fn unscored_candidates(
        &self,
        checkpoint_id: i64,
    ) -> Result<Vec<(CandidateId, i64, String)>> {
        let mut stmt = self.conn.prepare(
            "SELECT c.id, c.prompt_id, c.text FROM candidates c
             WHERE NOT EXISTS (SELECT 1 FROM scores s
                               WHERE s.checkpoint_id = ?1 AND s.head = 0 AND s.candidate_id = c.id)
             ORDER BY c.prompt_id, c.id",
        )?;
        let rows = stmt.query_map([checkpoint_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Every candidate scored by a checkpoint's `head` (0 for a one-head model), with what the
    /// Scores screen plots.
    pub fn scored_candidates(
        &self,
        checkpoint_id: i64,
        head: usize,
    ) -> Result<Vec<ScoredCandidate>> {
        let mut stmt = self.conn.prepare(
            "SELECT c.id, c.prompt_id, c.source, length(c.text), s.value, substr(c.text, 1, 200)
             FROM scores s JOIN candidates c ON c.id = s.candidate_id
             WHERE s.checkpoint_id = ?1 AND s.head = ?2 ORDER BY c.id",
        )?;
        let rows = stmt.query_map(params![checkpoint_id, head as i64], |r| {
            Ok(ScoredCandidate {
                id: r.get(0)?,
                prompt_id: r.get(1)?,
                source: r.get(2)?,
                chars: r.get(3)?,
                value: r.get(4)?,
                preview: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The newest checkpoint that has scores, if any.
    pub fn latest_scored_checkpoint(&self) -> Result<Option<i64>> {
        Ok(self
            .conn
            .query_row("SELECT max(checkpoint_id) FROM scores", [], |r| r.get(0))?)
    }

    /// Stores reward scores of a one-head checkpoint: (candidate, normalised value, raw value).
    pub fn add_scores(
        &mut self,
        checkpoint_id: i64,
        scores: &[(CandidateId, f64, f64)],
    ) -> Result<()> {
        self.add_head_scores(checkpoint_id, std::slice::from_ref(&scores.to_vec()))
    }

    /// Stores the scores of every head of a checkpoint (`per_head[h]` for head `h`) in one
    /// transaction, so a candidate is scored by all heads or by none.
    pub fn add_head_scores(
        &mut self,
        checkpoint_id: i64,
        per_head: &[Vec<(CandidateId, f64, f64)>],
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT OR REPLACE INTO scores (checkpoint_id, head, candidate_id, value, raw)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for (head, scores) in per_head.iter().enumerate() {
                for (cand, value, raw) in scores {
                    stmt.execute(params![checkpoint_id, head as i64, cand, value, raw])?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Runs left "running" by a process that died are marked failed, so nothing runs forever.
    pub(super) fn fail_dead_runs(&self) -> Result<()> {
        let host = hostname();
        let now = now_ms();
        let mut stmt = self
            .conn
            .prepare("SELECT id, host, pid, heartbeat_at FROM runs WHERE status = 'running'")?;
        let running = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        for (id, run_host, pid, heartbeat) in running {
            let dead = if run_host.as_deref() == Some(host.as_str()) {
                pid.is_none_or(|p| !process_alive(p))
            } else {
                now - heartbeat > STALE_HEARTBEAT_MS
            };
            if dead {
                self.conn.execute(
                    "UPDATE runs SET status = 'failed', finished_at = ?2,
                        message = 'the process running it stopped without finishing (killed or crashed)'
                     WHERE id = ?1 AND status = 'running'",
                    params![id, now],
                )?;
            }
        }
        Ok(())
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "localhost".into())
}

fn process_alive(pid: i64) -> bool {
    if pid == std::process::id() as i64 {
        return true;
    }
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}
