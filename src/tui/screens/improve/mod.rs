//! The Improve screen: policy-improvement rounds as they happen. Each round's phase, held-out
//! reward before -> after and KL to its starting policy; the held-out reward histograms of all
//! rounds on shared bins (round 0 = the starting policy); live loss / KL charts of the selected
//! run; and a reward-hacking watch. The round wizard starts the policy's steps from here
//! (`s` samples answers into the labelling queue, Enter runs an improvement round with the
//! method `m` picks, `x` cancels); labelling is F1 and the reward model F2. Runs started from
//! the CLI are followed from the DB the same way.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::Session;
use crate::domain::metric;
use crate::jobs::policy::{
    ImproveConfig, Method, PolicyEvent, PolicyRef, PromptSelection, RoundSettings, SampleConfig,
    SftConfig, POLICY_RUN_KINDS,
};
use crate::jobs::reward::{parse_gate, parse_weights, resolve_parts, RewardGate, RewardPart};
use crate::jobs::train_rm::CancelToken;
use crate::store::{RunRow, Store};
use crate::tui::app::Overlay;
use crate::tui::background::{Background, JobEvent, JobSender};
use crate::tui::charts::RunSeries;
use crate::tui::keymap::Action;

pub(crate) mod view;
pub use view::render;

/// The reward-hacking watch's thresholds (`kibble --kl-warn K --length-drift-warn F`): warn when
/// a round's RM reward rises while its KL to the start exceeds `kl` or its mean response length
/// changes by more than the fraction `length_drift`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Watch {
    pub kl: f64,
    pub length_drift: f64,
}

impl Default for Watch {
    fn default() -> Self {
        Watch {
            kl: 5.0,
            length_drift: 0.3,
        }
    }
}

#[derive(Debug, Clone)]
pub struct RoundLine {
    pub run: RunRow,
    pub before: Vec<f64>,
    pub after: Vec<f64>,
    pub kl: Option<f64>,
    pub len_before: Option<f64>,
    pub len_after: Option<f64>,
    /// A round on a combination: each criterion's held-out mean before and after, and whether
    /// the round pushed it up (a positive weight, or the gate).
    pub criteria: Vec<CriterionLine>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CriterionLine {
    pub name: String,
    pub pushed: bool,
    pub before: f64,
    pub after: f64,
}

/// How far (in normalised reward) a pushed criterion may fall while the mix rises before the
/// watch says so.
const CRITERION_FALL_WARN: f64 = 0.25;

impl RoundLine {
    fn mean(v: &[f64]) -> Option<f64> {
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    }

    /// The reward-hacking watch: reward up while KL or length runs away.
    pub fn warning(&self, watch: &Watch) -> Option<String> {
        let gain = Self::mean(&self.after)? - Self::mean(&self.before)?;
        if gain <= 0.0 {
            return None;
        }
        if let Some(kl) = self.kl.filter(|k| *k > watch.kl) {
            return Some(format!("reward up but KL {kl:.1} > {}", watch.kl));
        }
        // One criterion bought with another: the mix rose while a criterion it weighs fell.
        if let Some(c) = self
            .criteria
            .iter()
            .find(|c| c.pushed && c.after < c.before - CRITERION_FALL_WARN)
        {
            return Some(format!(
                "mix up but {} {:+.2} -> {:+.2}",
                c.name, c.before, c.after
            ));
        }
        let (b, a) = (self.len_before?, self.len_after?);
        let drift = (a - b) / b.max(1.0);
        (drift.abs() > watch.length_drift)
            .then(|| format!("reward up but length {b:.0} -> {a:.0} tokens"))
    }

    /// `helpful -0.20 > +0.85 · funny +0.10 > +0.05`
    pub fn criteria_text(&self) -> Option<String> {
        (!self.criteria.is_empty()).then(|| {
            self.criteria
                .iter()
                .map(|c| {
                    format!(
                        "{} {:+.2} > {:+.2}",
                        crate::text::sanitize_line(&c.name, 24),
                        c.before,
                        c.after
                    )
                })
                .collect::<Vec<_>>()
                .join(" · ")
        })
    }
}

/// A step of the loop running on its own thread: what it is, its outcome when it ends.
#[derive(Debug)]
pub struct WizardJob {
    pub what: &'static str,
    job: Background,
}

#[derive(Debug)]
pub struct ImproveScreen {
    pub rounds: Vec<RoundLine>,
    pub selected: usize,
    pub series: Option<RunSeries>,
    /// The method Enter runs.
    pub method: Method,
    /// The policy sampling and rounds start from: the newest (a run of this DB), or a GGUF
    /// file / HF folder given with `p`.
    pub policy: PolicyRef,
    /// When the DB was last read for the table and charts.
    last_read: Option<Instant>,
    pub job: Option<WizardJob>,
    pub watch: Watch,
    /// The reward the next round uses, as typed (empty: the newest reward model) and resolved.
    pub reward_text: String,
    reward: (Vec<RewardPart>, Option<RewardGate>),
    /// The next round's main settings, as typed (`o`) and parsed.
    pub settings_text: String,
    pub settings: RoundSettings,
}

impl Default for ImproveScreen {
    fn default() -> Self {
        ImproveScreen {
            rounds: Vec::new(),
            selected: 0,
            series: None,
            method: Method::Bon,
            policy: PolicyRef::Latest,
            last_read: None,
            job: None,
            watch: Watch::default(),
            reward_text: String::new(),
            reward: (Vec::new(), None),
            settings_text: String::new(),
            settings: RoundSettings::default(),
        }
    }
}

impl ImproveScreen {
    /// Keys: j/k choose a round, p the policy to start from, m the method, n the reward,
    /// o the round's settings, s samples, Enter runs a round, x cancels.
    pub fn on_action(&mut self, action: Action, session: &mut Session) {
        let (db, jobs) = (session.db_path(), session.jobs());
        let who = session.cfg.annotator.clone();
        let started = match action {
            Action::ScrollDown => return self.move_by(1, &session.store),
            Action::ScrollUp => return self.move_by(-1, &session.store),
            Action::ToggleMode => return self.next_method(),
            Action::Note => {
                session.overlay = Overlay::RewardMix {
                    buffer: self.reward_text.clone(),
                };
                return;
            }
            Action::RoundSettings => {
                session.overlay = Overlay::RoundSettings {
                    buffer: self.settings_text.clone(),
                };
                return;
            }
            Action::SameOrder => {
                session.overlay = Overlay::PolicySource {
                    buffer: match &self.policy {
                        PolicyRef::Dir(p) => p.display().to_string(),
                        _ => String::new(),
                    },
                };
                return;
            }
            Action::Strength => self
                .start_sampling(db, &who, &jobs)
                .map(|()| format!("sampling {} into the labelling queue", self.policy_text())),
            Action::Save => self.start_round(db, &who, &jobs).map(|()| {
                format!(
                    "{} round started in the background; its phase shows in the table",
                    self.method.as_str()
                )
            }),
            Action::Skip => match self.cancel() {
                Some(m) => Ok(m),
                None => return,
            },
            _ => return,
        };
        session.status = started.unwrap_or_else(|e| format!("cannot start: {e}"));
    }

    pub fn with_watch(watch: Watch) -> ImproveScreen {
        ImproveScreen {
            watch,
            ..Default::default()
        }
    }

    pub fn next_method(&mut self) {
        self.method = match self.method {
            Method::Bon => Method::Dpo,
            Method::Dpo => Method::Rloo,
            Method::Rloo => Method::Bon,
        };
    }

    /// The first policy, from `p`: empty trains kibble's tiny policy on the DB's best-ranked
    /// answers (every answer when nothing is ranked yet) in the background; a path names a GGUF
    /// file or an HF folder that sampling and rounds then start from.
    pub fn set_policy(
        &mut self,
        text: &str,
        db: Option<PathBuf>,
        who: &str,
        tx: &JobSender,
    ) -> Result<String, String> {
        if text.is_empty() {
            self.spawn(
                "training the tiny policy",
                db,
                who,
                tx,
                |store, who, progress, cancel| {
                    let db = store.path().map(|p| p.to_path_buf()).unwrap_or_default();
                    let cfg = SftConfig {
                        all_candidates: store
                            .live_rankings(&store.first_rank_filter()?)?
                            .iter()
                            .all(|r| r.verdict != crate::domain::Verdict::Rank),
                        ..SftConfig::default()
                    };
                    let s =
                        crate::jobs::policy::train_sft(store, &db, &cfg, who, progress, cancel)?;
                    Ok(format!(
                    "run {} {}: the tiny policy learnt from {} ({} steps); press s to sample it",
                    s.run_id,
                    s.status.as_str(),
                    if cfg.all_candidates { "every answer" } else { "the best-ranked answers" },
                    s.steps
                ))
                },
            )?;
            self.policy = PolicyRef::Latest;
            return Ok("training the tiny policy on this DB in the background".into());
        }
        let path = PathBuf::from(text);
        let is_model = path.is_file() && crate::ml::text::pretrained::is_gguf(&path)
            || path.join("config.json").is_file();
        if !is_model {
            return Err(format!(
                "{text}: not a GGUF file or a folder with config.json (an HF model)"
            ));
        }
        self.policy = PolicyRef::Dir(path);
        Ok(format!("sampling and rounds start from {text}"))
    }

    /// What the next sample and round start from, for the screen.
    pub fn policy_text(&self) -> String {
        match &self.policy {
            PolicyRef::Latest => "the newest policy".into(),
            PolicyRef::Run(id) => format!("policy run {id}"),
            PolicyRef::Dir(p) => crate::text::sanitize_line(&p.display().to_string(), 60),
        }
    }

    /// Samples 4 answers of 64 tokens (or the settings' `n` and `tokens`) per unlabelled prompt
    /// from the policy into the queue.
    pub fn start_sampling(
        &mut self,
        db: Option<PathBuf>,
        who: &str,
        tx: &JobSender,
    ) -> Result<(), String> {
        let mut cfg = SampleConfig {
            policy: self.policy.clone(),
            prompts: PromptSelection::Unlabelled,
            n: self.settings.n.unwrap_or(4),
            gen: crate::ml::infer::decode::GenConfig {
                max_new_tokens: self.settings.tokens.unwrap_or(64),
                ..Default::default()
            },
            chat_template: None,
        };
        self.spawn("sampling", db, who, tx, move |store, who, progress, cancel| {
            // The model's own sampling settings (generation_config.json), else kibble's.
            let ms = crate::jobs::policy::model_sampling(store, &cfg.policy)?;
            ms.apply(&mut cfg.gen);
            let s = crate::jobs::policy::sample(store, &cfg, who, progress, cancel)?;
            let full = if s.not_stored_full > 0 {
                format!(" ({} not stored: prompt full)", s.not_stored_full)
            } else {
                String::new()
            };
            if s.cancelled {
                return Ok(format!(
                    "run {} cancelled: the {} answers sampled before are in the queue (F1)",
                    s.run_id, s.candidates_added
                ));
            }
            Ok(format!(
                "run {}: {} new answers{full} for {} prompts ({:.0} tokens/s, temperature {}, top-p {}), source {}; rank them on F1",
                s.run_id, s.candidates_added, s.prompts, s.tokens_per_s, ms.temperature, ms.top_p, s.source
            ))
        })
    }

    /// Sets the next rounds' main settings from `n=8 lr=2e-4 lora=16 epochs=1` (empty: the
    /// method's defaults). Sampling with `s` takes `n` too.
    pub fn set_settings(&mut self, text: &str) -> Result<String, String> {
        self.settings = RoundSettings::parse(text)?;
        self.settings_text = text.to_string();
        Ok(format!(
            "next {} round: {}",
            self.method.as_str(),
            self.settings.describe(self.method)
        ))
    }

    /// Sets the reward of the next rounds from `helpful=1,funny=0.5; harmless<-0.5` (each
    /// criterion's newest reward model), or the newest reward model when empty.
    pub fn set_reward(&mut self, store: &Store, text: &str) -> Result<String, String> {
        if text.is_empty() {
            self.reward = (Vec::new(), None);
            self.reward_text.clear();
            return Ok("rounds use the newest reward model".into());
        }
        let (weights, gate) = match text.split_once(';') {
            Some((w, g)) if !g.trim().is_empty() => (w, Some(g.trim())),
            Some((w, _)) => (w, None),
            None => (text, None),
        };
        let weights = parse_weights(weights)?;
        let gate = gate.map(parse_gate).transpose()?;
        self.reward =
            resolve_parts(store, &weights, gate.as_ref()).map_err(|e| format!("{e:#}"))?;
        self.reward_text = text.to_string();
        Ok(format!("rounds maximise {text}"))
    }

    /// One improvement round with the chosen method, from the newest policy and RM (or the
    /// reward mix set with `set_reward`).
    pub fn start_round(
        &mut self,
        db: Option<PathBuf>,
        who: &str,
        tx: &JobSender,
    ) -> Result<(), String> {
        let method = self.method;
        let mut cfg = ImproveConfig {
            policy: self.policy.clone(),
            method,
            reward: self.reward.0.clone(),
            gate: self.reward.1.clone(),
            ..ImproveConfig::default()
        };
        self.settings.apply(&mut cfg);
        let db_file = db.clone();
        self.spawn(method.as_str(), db, who, tx, move |store, who, progress, cancel| {
            let db = db_file.unwrap_or_default();
            // Best-of-n and DPO sample as the model asks; RLOO stays on-policy (temperature 1).
            if method != Method::Rloo {
                crate::jobs::policy::model_sampling(store, &cfg.policy)?.apply(&mut cfg.gen);
            }
            let s = crate::jobs::policy::improve(store, &db, &cfg, who, progress, cancel)?;
            Ok(match (s.message, s.round) {
                (Some(m), _) if m == s.status.as_str() => format!("run {} {m}", s.run_id),
                (Some(m), _) => format!("run {} {}: {m}", s.run_id, s.status.as_str()),
                (None, Some(r)) => format!(
                    "run {} done: held-out reward {:+.2} -> {:+.2}, KL {:.2}; press s to sample the new policy",
                    s.run_id, r.before_mean, r.after_mean, r.kl
                ),
                (None, None) => format!("run {} {}", s.run_id, s.status.as_str()),
            })
        })
    }

    fn spawn(
        &mut self,
        what: &'static str,
        db: Option<PathBuf>,
        who: &str,
        tx: &JobSender,
        work: impl FnOnce(
                &mut Store,
                &str,
                &mut dyn FnMut(PolicyEvent),
                &CancelToken,
            ) -> anyhow::Result<String>
            + Send
            + 'static,
    ) -> Result<(), String> {
        if let Some(j) = &self.job {
            return Err(format!("{} is still running (x cancels it)", j.what));
        }
        let db = db.ok_or("the loop needs a database file")?;
        let who = who.to_string();
        let tx = tx.clone();
        let job = Background::spawn(db, move |store, cancel| {
            let mut progress = |_: PolicyEvent| tx.send(JobEvent::Progress);
            let outcome = store.and_then(|mut store| work(&mut store, &who, &mut progress, cancel));
            tx.send(JobEvent::LoopEnded(match outcome {
                Ok(m) => m,
                Err(e) => format!("{what} failed: {e:#}"),
            }));
        });
        self.job = Some(WizardJob { what, job });
        Ok(())
    }

    /// Blocks until the job's thread has ended or `deadline` passes.
    pub fn wait(&mut self, deadline: Instant) {
        if let Some(j) = &self.job {
            j.job.wait(deadline);
        }
    }

    pub fn cancel(&mut self) -> Option<String> {
        let j = self.job.as_ref()?;
        j.job.cancel.cancel();
        Some(format!("cancelling {} (it stops within a step)", j.what))
    }

    /// Takes in what this screen's job said: its rows changed, or it ended (the line to show).
    /// Returns (whether the screen changed, the news).
    pub fn on_job(&mut self, e: JobEvent, store: &Store) -> (bool, Option<String>) {
        match e {
            // Steps come fast: the DB is read again at most four times a second (the end and
            // the tick read it anyway).
            JobEvent::Progress => {
                if self
                    .last_read
                    .is_some_and(|t| t.elapsed() < Duration::from_millis(250))
                {
                    return (false, None);
                }
                (self.reread(store), None)
            }
            JobEvent::LoopEnded(msg) => {
                let was_round = self.job.take().is_some_and(|j| j.what != "sampling");
                self.reread(store);
                // A round that made a policy: the next sample and round start from it, not from
                // the file they started from.
                let newest = self
                    .rounds
                    .iter()
                    .rev()
                    .find(|r| POLICY_RUN_KINDS.contains(&r.run.kind.as_str()));
                if was_round
                    && newest.is_some_and(|r| r.run.status == crate::store::RunStatus::Done)
                {
                    self.policy = PolicyRef::Latest;
                }
                (true, Some(msg))
            }
            JobEvent::Rm(_) | JobEvent::Scored(_) => (false, None),
        }
    }

    pub fn refresh(&mut self, store: &Store) -> anyhow::Result<()> {
        let series = |id: i64, name: &str| -> anyhow::Result<Vec<f64>> {
            Ok(store
                .metric_series(id, name, -1)?
                .iter()
                .map(|p| p.value)
                .collect())
        };
        let one = |id: i64, name: &str| -> anyhow::Result<Option<f64>> {
            Ok(series(id, name)?.first().copied())
        };
        let mut rounds = Vec::new();
        for run in store.runs()? {
            if !POLICY_RUN_KINDS.contains(&run.kind.as_str()) && run.kind != "sample" {
                continue;
            }
            // A combination's criteria, from the run's config, and their metrics.
            let mut criteria = Vec::new();
            let parts = run.config["reward"].as_array().cloned().unwrap_or_default();
            let named = parts
                .iter()
                .map(|p| {
                    (
                        p["criterion"].as_str(),
                        p["weight"].as_f64().unwrap_or(0.0) > 0.0,
                    )
                })
                .chain(std::iter::once((
                    run.config["gate"]["criterion"].as_str(),
                    true,
                )));
            for (name, pushed) in named {
                let Some(name) = name else { continue };
                let b = one(run.id, &format!("heldout_reward_before_mean.{name}"))?;
                let a = one(run.id, &format!("heldout_reward_after_mean.{name}"))?;
                if let (Some(before), Some(after)) = (b, a) {
                    if !criteria.iter().any(|c: &CriterionLine| c.name == name) {
                        criteria.push(CriterionLine {
                            name: name.to_string(),
                            pushed,
                            before,
                            after,
                        });
                    }
                }
            }
            rounds.push(RoundLine {
                criteria,
                before: series(run.id, metric::HELDOUT_REWARD_BEFORE)?,
                after: series(run.id, metric::HELDOUT_REWARD_AFTER)?,
                kl: one(run.id, metric::HELDOUT_KL)?,
                len_before: one(run.id, metric::HELDOUT_LEN_BEFORE)?,
                len_after: one(run.id, metric::HELDOUT_LEN_AFTER)?,
                run,
            });
        }
        rounds.reverse(); // oldest first: round order
                          // The newest round is selected at first; later the user's choice stays.
        self.selected = if self.rounds.is_empty() {
            rounds.len().saturating_sub(1)
        } else {
            self.selected.min(rounds.len().saturating_sub(1))
        };
        self.rounds = rounds;
        if let Some(r) = self.rounds.get(self.selected) {
            if self.series.as_ref().is_none_or(|s| s.run_id != r.run.id) {
                self.series = Some(RunSeries::load(store, r.run.id)?);
            } else if let Some(s) = &mut self.series {
                s.refresh_from(store)?;
            }
        }
        Ok(())
    }

    /// Follows the DB (runs started from the CLI); called once a second. True when something
    /// the screen shows changed, so an idle screen is not redrawn.
    pub fn follow(&mut self, store: &Store) -> bool {
        self.reread(store)
    }

    fn reread(&mut self, store: &Store) -> bool {
        self.last_read = Some(Instant::now());
        let before = self.fingerprint();
        self.refresh(store).is_ok() && self.fingerprint() != before
    }

    /// What a redraw depends on: each round's status, phase and results, the charted steps.
    fn fingerprint(&self) -> String {
        let mut f: String = self
            .rounds
            .iter()
            .map(|r| {
                format!(
                    "{} {} {:?} {};",
                    r.run.id,
                    r.run.status.as_str(),
                    r.run.message,
                    r.after.len()
                )
            })
            .collect();
        f.push_str(&self.series.as_ref().map_or(-1, |s| s.last_step).to_string());
        f
    }

    pub fn move_by(&mut self, d: i32, store: &Store) {
        if !self.rounds.is_empty() {
            self.selected =
                (self.selected as i32 + d).clamp(0, self.rounds.len() as i32 - 1) as usize;
            self.series = None;
            let _ = self.refresh(store);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_bins_and_warning() {
        assert_eq!(
            view::histogram(&[0.0, 0.5, 1.0, 1.0], 0.0, 1.0, 2),
            vec![1, 3]
        );
        assert_eq!(view::bars(&[0, 4, 8], true), "  ==@@");
        let run = RunRow {
            id: 1,
            kind: "dpo".into(),
            config: serde_json::Value::Null,
            status: crate::store::RunStatus::Done,
            message: None,
            started_at_ms: 0,
            finished_at_ms: None,
            heartbeat_at_ms: 0,
            parent_run_id: None,
            round: Some(1),
        };
        let mut r = RoundLine {
            run,
            before: vec![0.0],
            after: vec![1.0],
            kl: Some(0.5),
            len_before: Some(20.0),
            len_after: Some(21.0),
            criteria: vec![],
        };
        let w = Watch::default();
        assert_eq!(r.warning(&w), None);
        r.kl = Some(8.0);
        assert!(r.warning(&w).unwrap().contains("KL"));
        let lenient = Watch {
            kl: 10.0,
            ..Watch::default()
        };
        assert_eq!(r.warning(&lenient), None);
        r.kl = Some(0.5);
        r.len_after = Some(40.0);
        assert!(r.warning(&w).unwrap().contains("length"));
        r.after = vec![-1.0];
        assert_eq!(r.warning(&w), None);
        // A combination that rose while a criterion it pushes fell: said, per criterion.
        r.after = vec![1.0];
        r.len_after = Some(21.0);
        r.criteria = vec![
            CriterionLine {
                name: "helpful".into(),
                pushed: true,
                before: 0.0,
                after: 1.5,
            },
            CriterionLine {
                name: "harmless".into(),
                pushed: true,
                before: 0.2,
                after: -0.4,
            },
        ];
        assert_eq!(
            r.warning(&w).as_deref(),
            Some("mix up but harmless +0.20 -> -0.40")
        );
        assert_eq!(
            r.criteria_text().as_deref(),
            Some("helpful +0.00 > +1.50 · harmless +0.20 > -0.40")
        );
        r.criteria[1].pushed = false;
        assert_eq!(r.warning(&w), None, "a criterion weighted 0 may fall");
    }
}
