//! Counts for `kibble stats` and the app header: totals and per-annotator throughput.

use serde::Serialize;

use super::{Result, Store};
use crate::domain::metric;
use crate::domain::now_ms;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AnnotatorStats {
    pub name: String,
    pub rankings: i64,
    pub skips: i64,
    pub retracted: i64,
    /// Live decisions carrying a flag, and carrying a note (on the prompt or on an answer).
    pub flagged: i64,
    pub noted: i64,
    /// Live rankings saved faster than `--min-seconds`.
    pub rushed: i64,
    /// Median seconds spent per decision, where durations were recorded.
    pub median_seconds: Option<f64>,
    /// Decisions per hour of recorded labelling time.
    pub per_hour: Option<f64>,
    pub last_at_ms: Option<i64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Stats {
    pub prompts: i64,
    pub candidates: i64,
    /// Prompts with at least two candidates (something to rank).
    pub rankable_prompts: i64,
    pub ranked_prompts: i64,
    pub rankings: i64,
    pub skips: i64,
    pub retracted: i64,
    pub flagged: i64,
    pub noted: i64,
    pub rankings_last_hour: i64,
    /// The DB's overlap and the labelling progress at it (as the app's header shows it).
    pub overlap: u32,
    pub progress: super::Progress,
    pub annotators: Vec<AnnotatorStats>,
}

impl Store {
    /// Agreement between annotators, position bias and gold accuracy over live rankings.
    pub fn agreement(&self) -> Result<crate::analysis::Agreement> {
        let rankings = self.live_rankings(&super::RankingFilter::default())?;
        Ok(crate::analysis::measure(&rankings, &self.gold_answers()?))
    }

    /// Per criterion of the current task: decisions, agreement, and the newest reward model's
    /// held-out accuracy on it.
    pub fn criteria_quality(&self) -> Result<Vec<crate::analysis::CriterionQuality>> {
        use crate::domain::CriterionKind;
        let (_, task) = self.task()?;
        let gold = self.gold_answers()?;
        let runs = self.runs()?;
        let mut out = Vec::new();
        for c in &task.criteria {
            let rankings: Vec<_> = self
                .live_rankings(&super::RankingFilter {
                    criterion: Some(c.name.clone()),
                    ..Default::default()
                })?
                .into_iter()
                .filter(|r| r.verdict == crate::domain::Verdict::Rank)
                .collect();
            let (agreement, alpha, metric) = match &c.kind {
                CriterionKind::Rank => {
                    let a = crate::analysis::measure(&rankings, &gold);
                    let alpha = a.krippendorff_alpha_ordinal;
                    (a, alpha, "ordinal")
                }
                CriterionKind::Rate(_) => {
                    let (a, alpha) = crate::analysis::rated_agreement(&rankings);
                    (a, alpha, "interval")
                }
            };
            // The newest reward-model run on this criterion (a head of several: its own accuracy).
            let mut rm_accuracy = None;
            for run in runs
                .iter()
                .filter(|r| head_for(r, &task, &c.name).is_some())
            {
                let best = self.best_checkpoint(run.id)?;
                rm_accuracy = best.and_then(|b| {
                    let m = &b.metrics;
                    m["eval_accuracy_by_criterion"][&c.name]
                        .as_f64()
                        .or_else(|| m[metric::EVAL_ACCURACY].as_f64())
                });
                if rm_accuracy.is_some() {
                    break;
                }
            }
            out.push(crate::analysis::CriterionQuality {
                criterion: c.name.clone(),
                kind: c.kind.describe(),
                decisions: rankings.len(),
                shared_prompts: agreement.shared_prompts,
                pairwise_agreement: agreement.pairwise_agreement,
                alpha,
                alpha_metric: metric,
                rm_accuracy,
            });
        }
        Ok(out)
    }

    /// Reward-model runs on `criterion`, newest first.
    pub fn rm_runs_on(&self, criterion: &str) -> Result<Vec<super::RunRow>> {
        let (_, task) = self.task()?;
        Ok(self
            .runs()?
            .into_iter()
            .filter(|r| head_for(r, &task, criterion).is_some())
            .collect())
    }

    /// Each criterion of the task with the newest checkpoint of its reward models that has
    /// scores (`kibble score --criterion NAME`), for per-criterion histograms and correlations.
    /// Returns (criterion, checkpoint, head).
    pub fn criterion_scored_checkpoints(&self) -> Result<Vec<(String, i64, usize)>> {
        let (_, task) = self.task()?;
        let runs = self.runs()?;
        let mut out = Vec::new();
        for c in &task.criteria {
            for (run, head) in runs
                .iter()
                .filter_map(|r| Some((r, head_for(r, &task, &c.name)?)))
            {
                let scored: Option<i64> = self.conn.query_row(
                    "SELECT max(s.checkpoint_id) FROM scores s
                     JOIN checkpoints k ON k.id = s.checkpoint_id
                     WHERE k.run_id = ?1 AND s.head = ?2",
                    rusqlite::params![run.id, head as i64],
                    |r| r.get(0),
                )?;
                if let Some(id) = scored {
                    out.push((c.name.clone(), id, head));
                    break;
                }
            }
        }
        Ok(out)
    }

    pub fn stats(&self) -> Result<Stats> {
        let c = &self.conn;
        let (prompts, rankable, ranked): (i64, i64, i64) = c.query_row(
            "SELECT count(*), coalesce(sum(n_candidates >= 2), 0), coalesce(sum(n_ranked > 0), 0) FROM prompts",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        // The trigger-kept per-prompt counts add up to the candidate total without a table scan.
        let candidates: i64 = c.query_row(
            "SELECT coalesce(sum(n_candidates), 0) FROM prompts",
            [],
            |r| r.get(0),
        )?;
        let hour_ago = now_ms() - 3_600_000;
        let overlap = self.overlap()?;
        let mut stmt = c.prepare(
            "SELECT a.name,
                    sum(r.verdict = 'rank' AND x.ranking_id IS NULL),
                    sum(r.verdict = 'skip' AND x.ranking_id IS NULL),
                    sum(x.ranking_id IS NOT NULL),
                    sum(CASE WHEN x.ranking_id IS NULL THEN r.duration_ms END),
                    count(CASE WHEN x.ranking_id IS NULL THEN r.duration_ms END),
                    max(r.created_at),
                    sum(r.created_at > ?1 AND x.ranking_id IS NULL AND r.verdict = 'rank'),
                    sum(x.ranking_id IS NULL AND (r.flags <> '[]' OR r.answer_marks LIKE '%\"flags\"%')),
                    sum(x.ranking_id IS NULL AND (r.note IS NOT NULL OR r.answer_marks LIKE '%\"note\"%')),
                    sum(x.ranking_id IS NULL AND r.rushed)
             FROM rankings r
             JOIN annotators a ON a.id = r.annotator_id
             LEFT JOIN retractions x ON x.ranking_id = r.id
             GROUP BY a.id ORDER BY a.name",
        )?;
        let mut annotators = Vec::new();
        let mut last_hour = 0;
        let rows = stmt.query_map([hour_ago], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, Option<i64>>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, Option<i64>>(6)?,
                r.get::<_, i64>(7)?,
                (
                    r.get::<_, i64>(8)?,
                    r.get::<_, i64>(9)?,
                    r.get::<_, i64>(10)?,
                ),
            ))
        })?;
        for row in rows {
            let (name, rankings, skips, retracted, total_ms, timed, last_at_ms, recent, marks) =
                row?;
            let (flagged, noted, rushed) = marks;
            last_hour += recent;
            let per_hour = match total_ms {
                Some(ms) if ms > 0 => Some(timed as f64 / (ms as f64 / 3_600_000.0)),
                _ => None,
            };
            annotators.push(AnnotatorStats {
                median_seconds: self.median_duration_s(&name)?,
                name,
                rankings,
                skips,
                retracted,
                flagged,
                noted,
                rushed,
                per_hour,
                last_at_ms,
            });
        }
        let sum = |f: fn(&AnnotatorStats) -> i64| annotators.iter().map(f).sum::<i64>();
        let (rankings, skips, retracted) =
            (sum(|a| a.rankings), sum(|a| a.skips), sum(|a| a.retracted));
        let (flagged, noted) = (sum(|a| a.flagged), sum(|a| a.noted));
        Ok(Stats {
            prompts,
            candidates,
            rankable_prompts: rankable,
            ranked_prompts: ranked,
            rankings,
            skips,
            retracted,
            flagged,
            noted,
            rankings_last_hour: last_hour,
            overlap,
            progress: self.queue_progress_split(overlap)?,
            annotators,
        })
    }

    fn median_duration_s(&self, annotator: &str) -> Result<Option<f64>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT r.duration_ms FROM rankings r JOIN annotators a ON a.id = r.annotator_id
             WHERE a.name = ?1 AND r.duration_ms IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM retractions x WHERE x.ranking_id = r.id)
             ORDER BY r.duration_ms",
        )?;
        let v: Vec<i64> = stmt
            .query_map([annotator], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(median(&v).map(|ms| ms / 1000.0))
    }
}

fn median(sorted: &[i64]) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    Some(if n % 2 == 1 {
        sorted[n / 2] as f64
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) as f64 / 2.0
    })
}

/// The criteria a reward-model run learnt, in head order: its `criteria` (one head each),
/// else the one criterion its config names, else the task's first (runs from before tasks name
/// none). Empty for other runs.
pub fn criteria_learnt<'a>(run: &'a super::RunRow, task: &'a crate::domain::Task) -> Vec<&'a str> {
    if run.kind != "rm" {
        return Vec::new();
    }
    if let Some(list) = run.config["criteria"].as_array().filter(|l| !l.is_empty()) {
        return list.iter().filter_map(|v| v.as_str()).collect();
    }
    vec![run.config["criterion"]
        .as_str()
        .unwrap_or(&task.first().name)]
}

/// The head of a run's models that learnt `criterion`, if the run learnt it.
pub fn head_for(run: &super::RunRow, task: &crate::domain::Task, criterion: &str) -> Option<usize> {
    criteria_learnt(run, task)
        .iter()
        .position(|c| *c == criterion)
}
