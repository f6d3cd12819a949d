//! The Train screen: a form for a reward-model run, a data summary, the run as a background
//! job (its own thread and DB connection; its events reach the app loop's channel), live charts, cancel,
//! and "score all candidates now". Runs started elsewhere (the CLI) are followed from the DB.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

use super::Session;
use crate::domain::metric;
use crate::domain::Verdict;
use crate::jobs::train_rm::{RmEvent, RmJobConfig, RmSummary};
use crate::ml::training::reward::{LossKind, TieMode};
use crate::store::{RankingFilter, RunStatus, Store};
use crate::tui::app::{Confirm, Overlay};
use crate::tui::background::{Background, JobEvent, JobSender};
use crate::tui::charts::{draw_run_panels, RunSeries};
use crate::tui::keymap::Action;

/// What the form edits; turned into an `RmJobConfig` when the run starts.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainForm {
    pub preset: String,
    /// `None`: auto, from the data size (the presets' default).
    pub epochs: Option<usize>,
    pub lr: f64,
    pub batch: usize,
    pub loss: LossKind,
    pub ties: TieMode,
    pub eval_fraction: f64,
    /// The task criterion to learn, one of `criteria` (the task's, in order, then `all` when
    /// it has several: one head per criterion on one backbone).
    pub criterion: String,
    pub criteria: Vec<String>,
}

/// The criterion field's last choice: every criterion, one head each (`--criteria all`).
const ALL: &str = "all";

pub const FIELDS: [&str; 8] = [
    "model",
    "epochs",
    "lr",
    "batch",
    "loss",
    "ties",
    "eval",
    "criterion",
];

impl TrainForm {
    /// Prefilled from the last reward-model run, else the `tiny` preset.
    pub fn from_last_run(store: &Store) -> TrainForm {
        let last: Option<RmJobConfig> = store.runs().ok().and_then(|runs| {
            runs.into_iter()
                .filter(|r| r.kind == "rm")
                .find_map(|r| serde_json::from_value(r.config).ok())
        });
        // The preset with the last run's backbone (tiny has none).
        let names = crate::jobs::train_rm::preset_names();
        let preset = names
            .iter()
            .find(|n| {
                crate::jobs::train_rm::preset(n)
                    .is_ok_and(|p| Some(&p.backbone) == last.as_ref().map(|c| &c.backbone))
            })
            .map_or("tiny", |n| n.as_str());
        let cfg = last
            .or_else(|| crate::jobs::train_rm::preset(preset).ok())
            .unwrap_or_default();
        let mut form = Self::from_config(preset, &cfg);
        form.criterion = if cfg.criteria.is_empty() {
            cfg.criterion.clone().unwrap_or_default()
        } else {
            ALL.into()
        };
        form.read_criteria(store);
        form
    }

    /// The task's criteria (it may have changed since the form was filled); the chosen one
    /// stays while the task still has it, else the task's first.
    pub fn read_criteria(&mut self, store: &Store) {
        if let Ok((_, task)) = store.task() {
            self.criteria = task.criteria.into_iter().map(|c| c.name).collect();
            if self.criteria.len() > 1 {
                self.criteria.push(ALL.into());
            }
        }
        if !self.criteria.contains(&self.criterion) {
            self.criterion = self.criteria[0].clone();
        }
    }

    fn from_config(preset: &str, cfg: &RmJobConfig) -> TrainForm {
        TrainForm {
            criterion: crate::domain::OVERALL.into(),
            criteria: vec![crate::domain::OVERALL.into()],
            preset: preset.into(),
            epochs: cfg.auto_epochs.is_none().then_some(cfg.train.epochs),
            lr: cfg.train.lr,
            batch: cfg.train.batch_pairs,
            loss: cfg.train.loss,
            ties: cfg.train.ties,
            eval_fraction: cfg.eval_fraction,
        }
    }

    pub fn value(&self, i: usize) -> String {
        match i {
            0 => self.preset.clone(),
            1 => self.epochs.map_or("auto".into(), |n| n.to_string()),
            2 => format!("{:.0e}", self.lr),
            3 => self.batch.to_string(),
            4 => format!("{:?}", self.loss).to_lowercase(),
            5 => format!("{:?}", self.ties).to_lowercase(),
            7 if self.criterion == ALL => "all heads".into(),
            7 => self.criterion.clone(),
            _ => format!("{:.2}", self.eval_fraction),
        }
    }

    /// Steps the field up (`+1`) or down (`-1`).
    pub fn adjust(&mut self, i: usize, dir: i32) {
        let up = dir > 0;
        match i {
            0 => {
                // Another model: its preset's settings (a pretrained encoder wants a small lr).
                let names = crate::jobs::train_rm::preset_names();
                let n = names.len().max(1);
                let at = names.iter().position(|p| *p == self.preset).unwrap_or(0);
                let next = &names[if up { (at + 1) % n } else { (at + n - 1) % n }];
                if let Ok(cfg) = crate::jobs::train_rm::preset(next) {
                    let keep = (self.criterion.clone(), self.criteria.clone());
                    *self = Self::from_config(next, &cfg);
                    (self.criterion, self.criteria) = keep;
                }
            }
            // auto <-> 1 <-> 2 ...
            1 => {
                self.epochs = match (self.epochs, up) {
                    (None, true) => Some(1),
                    (None, false) => None,
                    (Some(1), false) => None,
                    (Some(n), true) => Some(n + 1),
                    (Some(n), false) => Some(n - 1),
                }
            }
            2 => self.lr = if up { self.lr * 2.0 } else { self.lr / 2.0 }.clamp(1e-7, 1e-1),
            3 => self.batch = if up { self.batch * 2 } else { self.batch / 2 }.clamp(1, 256),
            4 => {
                self.loss = if self.loss == LossKind::Bt {
                    LossKind::Pl
                } else {
                    LossKind::Bt
                }
            }
            5 => {
                self.ties = if self.ties == TieMode::Drop {
                    TieMode::Model
                } else {
                    TieMode::Drop
                }
            }
            7 => {
                let n = self.criteria.len().max(1);
                let at = self
                    .criteria
                    .iter()
                    .position(|c| *c == self.criterion)
                    .unwrap_or(0);
                let next = if up { (at + 1) % n } else { (at + n - 1) % n };
                if let Some(c) = self.criteria.get(next) {
                    self.criterion = c.clone();
                }
            }
            _ => {
                self.eval_fraction =
                    (self.eval_fraction + if up { 0.05 } else { -0.05 }).clamp(0.0, 0.5)
            }
        }
    }

    pub fn job_config(&self) -> RmJobConfig {
        let mut cfg = crate::jobs::train_rm::preset(&self.preset).unwrap_or_default();
        cfg.eval_fraction = self.eval_fraction;
        match self.epochs {
            Some(n) => {
                cfg.train.epochs = n;
                cfg.auto_epochs = None;
            }
            None => cfg.auto_epochs = cfg.auto_epochs.or(Some(Default::default())),
        }
        cfg.train.lr = self.lr;
        cfg.train.batch_pairs = self.batch;
        cfg.train.loss = self.loss;
        cfg.train.ties = self.ties;
        if self.criterion == ALL {
            cfg.criteria = vec![ALL.into()];
        } else {
            cfg.criterion = Some(self.criterion.clone());
        }
        cfg
    }
}

/// What there is to train on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DataSummary {
    pub rankings: usize,
    pub pairs: usize,
    /// Rankings not used by the newest reward-model run.
    pub new_since_last_run: usize,
    pub per_annotator: BTreeMap<String, usize>,
}

impl DataSummary {
    pub fn read(store: &Store) -> anyhow::Result<DataSummary> {
        let rankings: Vec<_> = store
            .live_rankings(&RankingFilter::default())?
            .into_iter()
            .filter(|r| r.verdict == Verdict::Rank)
            .collect();
        let used: HashSet<i64> = match store.runs()?.into_iter().find(|r| r.kind == "rm") {
            Some(run) => store
                .run_rankings(run.id)?
                .into_iter()
                .map(|r| r.0)
                .collect(),
            None => HashSet::new(),
        };
        let mut s = DataSummary {
            rankings: rankings.len(),
            ..DataSummary::default()
        };
        for r in &rankings {
            s.pairs += r.pairs().0.len();
            if !used.contains(&r.id) {
                s.new_since_last_run += 1;
            }
            *s.per_annotator.entry(r.annotator.clone()).or_default() += 1;
        }
        Ok(s)
    }
}

pub enum Job {
    Train(Background),
    Score(Background),
}

pub struct TrainScreen {
    pub form: TrainForm,
    pub field: usize,
    pub job: Option<Job>,
    pub series: Option<RunSeries>,
    pub summary: Option<RmSummary>,
    pub data: Option<DataSummary>,
    pub started: Option<Instant>,
    /// When the chart last read the DB.
    last_read: Option<Instant>,
}

impl TrainScreen {
    /// Keys: j/k choose a field, Left/Right change it, Enter starts the run, x cancels it,
    /// r scores every candidate with the newest checkpoint.
    pub fn on_action(&mut self, action: Action, session: &mut Session) {
        match action {
            Action::ScrollDown => self.field = (self.field + 1) % FIELDS.len(),
            Action::ScrollUp => self.field = (self.field + FIELDS.len() - 1) % FIELDS.len(),
            Action::FocusNext if !self.running() => self.form.adjust(self.field, 1),
            Action::FocusPrev if !self.running() => self.form.adjust(self.field, -1),
            Action::Save => {
                let (db, jobs) = (session.db_path(), session.jobs());
                session.status = match self.start(db, &session.cfg.annotator, &jobs) {
                    Ok(()) => "training started in the background; labelling goes on (F1)".into(),
                    Err(e) => format!("cannot start: {e}"),
                };
            }
            Action::Skip if self.running() => {
                session.overlay = Overlay::Confirm(Confirm::CancelRun)
            }
            Action::ToggleScores => {
                let (db, jobs) = (session.db_path(), session.jobs());
                session.status = match self.score_now(db, &jobs) {
                    Ok(()) => "scoring all candidates in the background".into(),
                    Err(e) => format!("cannot score: {e}"),
                };
            }
            _ => {}
        }
    }

    /// The screen opens: the data summary and the task's criteria are read again.
    pub fn open(&mut self, store: &Store) {
        self.data = DataSummary::read(store).ok();
        self.form.read_criteria(store);
    }

    pub fn new(store: &Store) -> TrainScreen {
        // The newest reward-model run's curves and best checkpoint, so a person coming back
        // sees where training stands rather than "No run yet".
        let newest = store
            .runs()
            .ok()
            .and_then(|runs| runs.into_iter().find(|r| r.kind == "rm"));
        TrainScreen {
            form: TrainForm::from_last_run(store),
            field: 0,
            job: None,
            series: newest.and_then(|r| RunSeries::load(store, r.id).ok()),
            summary: None,
            data: None,
            started: None,
            last_read: None,
        }
    }

    pub fn running(&self) -> bool {
        matches!(self.job, Some(Job::Train(_)))
    }

    /// Starts the run on its own thread with its own connection to the DB file.
    pub fn start(&mut self, db: Option<PathBuf>, who: &str, tx: &JobSender) -> Result<(), String> {
        if self.job.is_some() {
            return Err("a job is already running".into());
        }
        let db = db.ok_or("training needs a database file")?;
        let cfg = self.form.job_config();
        if let Some(b) = &cfg.backbone {
            if !backbone_present(b) {
                return Err(format!(
                    "{} is missing: run scripts/fetch-models.sh",
                    b.display()
                ));
            }
        }
        let who = who.to_string();
        let tx = tx.clone();
        let db_path = db.clone();
        let job = Background::spawn(db, move |store, cancel| {
            let mut emit = |e| tx.send(JobEvent::Rm(e));
            let result = store.and_then(|mut store| {
                crate::jobs::train_rm::run(
                    &mut store, &db_path, &cfg, None, &who, &mut emit, cancel,
                )
            });
            if let Err(e) = result {
                emit(RmEvent::Done(RmSummary {
                    run_id: 0,
                    status: RunStatus::Failed,
                    checkpoint_id: None,
                    checkpoint_path: None,
                    best: None,
                    eval_accuracy: None,
                    eval_loss: None,
                    steps: 0,
                    seconds: 0.0,
                    message: Some(format!("{e:#}")),
                }));
            }
        });
        self.job = Some(Job::Train(job));
        self.summary = None;
        self.series = None;
        self.started = Some(Instant::now());
        Ok(())
    }

    pub fn cancel(&mut self) {
        if let Some(Job::Train(job)) = &self.job {
            job.cancel.cancel();
        }
    }

    /// Blocks until the job's thread is gone or `deadline` passes.
    pub fn wait(&mut self, deadline: Instant) {
        if let Some(Job::Train(job) | Job::Score(job)) = &self.job {
            job.wait(deadline);
        }
    }

    /// Scores every candidate with the newest checkpoint, in the background.
    pub fn score_now(&mut self, db: Option<PathBuf>, tx: &JobSender) -> Result<(), String> {
        if self.job.is_some() {
            return Err("a job is already running".into());
        }
        let db = db.ok_or("scoring needs a database file")?;
        let tx = tx.clone();
        let job = Background::spawn(db, move |store, _| {
            let r = store
                .and_then(|mut s| {
                    crate::jobs::score::score_candidates(
                        &mut s,
                        &crate::jobs::score::CheckpointRef::Latest,
                        |_, _| {},
                    )
                })
                .map(|s| s.scored)
                .map_err(|e| format!("{e:#}"));
            tx.send(JobEvent::Scored(r));
        });
        self.job = Some(Job::Score(job));
        Ok(())
    }

    /// Takes in what this screen's job said. Returns a status line when there is news.
    pub fn on_job(&mut self, e: JobEvent, store: &Store) -> Option<String> {
        match e {
            JobEvent::Rm(RmEvent::Started { run_id, .. }) => {
                self.series = RunSeries::load(store, run_id).ok();
                None
            }
            // Steps come fast: the chart reads the DB at most four times a second (the run's
            // end reads it once more).
            JobEvent::Rm(RmEvent::Step(_) | RmEvent::Eval(_)) => {
                if self
                    .last_read
                    .is_none_or(|t| t.elapsed() >= Duration::from_millis(250))
                {
                    self.last_read = Some(Instant::now());
                    if let Some(s) = &mut self.series {
                        let _ = s.refresh_from(store);
                    }
                }
                None
            }
            JobEvent::Rm(RmEvent::Checkpoint { .. }) => None,
            JobEvent::Rm(RmEvent::Done(summary)) => {
                if let Some(s) = &mut self.series {
                    let _ = s.refresh_from(store);
                }
                let news = match summary.status {
                    RunStatus::Done => format!(
                        "run {} done: eval accuracy {}; press r to score all candidates",
                        summary.run_id,
                        summary
                            .eval_accuracy
                            .map_or("-".into(), |a| format!("{a:.3}"))
                    ),
                    s => format!(
                        "run {} {}: {}",
                        summary.run_id,
                        s.as_str(),
                        summary.message.clone().unwrap_or_default()
                    ),
                };
                self.summary = Some(summary);
                self.job = None;
                self.data = DataSummary::read(store).ok();
                Some(news)
            }
            JobEvent::Scored(r) => {
                self.job = None;
                Some(match r {
                    Ok(n) => format!("scored {n} candidates; see the Scores screen"),
                    Err(e) => format!("scoring failed: {e}"),
                })
            }
            JobEvent::Progress | JobEvent::LoopEnded(_) => None,
        }
    }

    /// Follows a reward-model run started elsewhere (the CLI) from the DB; called once a
    /// second while no job of this screen runs. Returns whether the chart changed.
    pub fn follow(&mut self, store: &Store) -> bool {
        let mut changed = false;
        if self.job.is_none() {
            if let Ok(runs) = store.runs() {
                if let Some(r) = runs
                    .iter()
                    .find(|r| r.kind == "rm" && r.status == RunStatus::Running)
                {
                    if self.series.as_ref().is_none_or(|s| s.run_id != r.id) {
                        self.series = Some(RunSeries::new(r.id));
                        self.started = None;
                    }
                    if let Some(s) = &mut self.series {
                        changed |= s.refresh_from(store).unwrap_or(false);
                    }
                }
            }
        }
        if self.data.is_none() {
            self.data = DataSummary::read(store).ok();
            changed = true;
        }
        changed
    }
}

/// The evaluation whose checkpoint the run keeps: highest held-out accuracy, then lowest
/// held-out loss, then the earliest (as the job decides). (step, accuracy).
fn best_eval(s: &RunSeries) -> Option<(f64, f64)> {
    let acc = s.get(metric::EVAL_ACCURACY);
    let loss = s.get(metric::EVAL_LOSS);
    acc.iter()
        .zip(loss.iter())
        .max_by(|(a1, l1), (a2, l2)| {
            a1.1.total_cmp(&a2.1)
                .then(l2.1.total_cmp(&l1.1))
                .then(a2.0.total_cmp(&a1.0))
        })
        .map(|(a, _)| (a.0, a.1))
}

fn fmt_secs(s: f64) -> String {
    let s = s.max(0.0) as u64;
    format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

pub fn render(
    t: &TrainScreen,
    f: &mut Frame,
    area: Rect,
    color: bool,
    ascii: bool,
    accent: Style,
    dim: Style,
) {
    let cols = Layout::horizontal([Constraint::Length(28), Constraint::Fill(1)]).split(area);
    let left = Layout::vertical([
        Constraint::Length(FIELDS.len() as u16 + 3),
        Constraint::Fill(1),
    ])
    .split(cols[0]);
    let mut lines: Vec<Line> = FIELDS
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let text = format!(
                "{}{name:<7} {}",
                if i == t.field { "> " } else { "  " },
                t.form.value(i)
            );
            if i == t.field {
                Line::styled(text, accent.add_modifier(Modifier::REVERSED))
            } else {
                Line::from(text)
            }
        })
        .collect();
    lines.push(Line::styled(
        if t.running() {
            " x cancel"
        } else {
            " Enter start"
        },
        dim,
    ));
    f.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" Reward model "),
        ),
        left[0],
    );
    let mut data = Vec::new();
    if let Some(d) = &t.data {
        data.push(Line::from(format!("{} rankings", d.rankings)));
        data.push(Line::from(format!("{} pairs", d.pairs)));
        data.push(Line::from(format!(
            "{} new since last run",
            d.new_since_last_run
        )));
        for (who, n) in d
            .per_annotator
            .iter()
            .take(left[1].height.saturating_sub(5) as usize)
        {
            data.push(Line::styled(
                format!(" {} {n}", crate::text::sanitize_line(who, 18)),
                dim,
            ));
        }
    }
    f.render_widget(
        Paragraph::new(data).block(Block::default().borders(Borders::ALL).title(" Data ")),
        left[1],
    );
    let right = Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).split(cols[1]);
    match &t.series {
        Some(s) => {
            let step = s.last_step + 1;
            let pps = s.get(metric::PAIRS_PER_S).last().map_or(0.0, |p| p.1);
            let elapsed = t.started.map(|i| i.elapsed().as_secs_f64());
            let eta = match (elapsed, s.total_steps) {
                (Some(e), total) if step > 0 && total > 0 => {
                    fmt_secs(e / step as f64 * (total as f64 - step as f64))
                }
                _ => "-".into(),
            };
            let acc = s
                .get(metric::EVAL_ACCURACY)
                .last()
                .map_or("-".into(), |p| format!("{:.3}", p.1));
            let best = best_eval(s).map_or(String::new(), |(step, acc)| {
                format!("  best: step {step:.0}, acc {acc:.3} (the checkpoint kept)")
            });
            // A run whose length was never recorded shows its step alone, not "step N/0".
            let of_total = match s.total_steps {
                0 => String::new(),
                total => format!("/{total}"),
            };
            let head = format!(
                "run {}  step {step}{of_total}  epoch {}  {pps:.1} pairs/s  elapsed {}  ETA {eta}  eval acc {acc}{best}",
                s.run_id,
                s.epoch as u64 + 1,
                elapsed.map_or("-".into(), fmt_secs),
            );
            f.render_widget(
                Paragraph::new(crate::text::truncate_to_width(
                    &head,
                    right[0].width as usize,
                ))
                .style(accent),
                right[0],
            );
            draw_run_panels(f, right[1], s, None, color, ascii);
        }
        None => {
            let msg = match &t.summary {
                Some(s) if s.status == RunStatus::Failed => {
                    format!("last run failed: {}", s.message.clone().unwrap_or_default())
                }
                _ => "No run yet. Pick the settings, then Enter starts training in the background; labelling goes on meanwhile.".into(),
            };
            f.render_widget(
                Paragraph::new(crate::text::sanitize(&msg))
                    .wrap(ratatui::widgets::Wrap { trim: true })
                    .style(if color {
                        Style::default().fg(Color::Gray)
                    } else {
                        Style::default()
                    }),
                right[1],
            );
        }
    }
}

/// A backbone is a GGUF file or an HF folder with its `config.json` (the `smollm2` preset's is
/// a file, so looking for `FILE.gguf/config.json` refused it).
fn backbone_present(path: &Path) -> bool {
    if crate::ml::text::pretrained::is_gguf(path) {
        path.is_file()
    } else {
        path.join("config.json").is_file()
    }
}

#[cfg(test)]
mod tests {
    use super::backbone_present;

    #[test]
    fn a_gguf_file_and_an_hf_folder_are_backbones_and_missing_ones_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let gguf = dir.path().join("m.Q4_1.gguf");
        assert!(!backbone_present(&gguf));
        std::fs::write(&gguf, b"GGUF").unwrap();
        assert!(backbone_present(&gguf));
        let hf = dir.path().join("minilm");
        std::fs::create_dir(&hf).unwrap();
        assert!(!backbone_present(&hf));
        std::fs::write(hf.join("config.json"), b"{}").unwrap();
        assert!(backbone_present(&hf));
    }
}
