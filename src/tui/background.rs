//! Background jobs started from a screen (a reward-model run, scoring, sampling, a round).
//! Each runs on its own thread with its own DB connection and reports through the app loop's
//! one channel (`Event::Job`), so the loop wakes when a job has news instead of polling.

use std::path::PathBuf;
use std::sync::mpsc::Sender;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::Event;
use crate::jobs::train_rm::{CancelToken, RmEvent};
use crate::store::Store;

/// What a job says. The figures a chart draws are in the DB (the job writes them first), so
/// the screens read them from there: one source whether the run started here or in the CLI.
#[derive(Debug)]
pub enum JobEvent {
    /// A reward-model run's progress (Train screen).
    Rm(RmEvent),
    /// Scoring ended: how many candidates were scored, or why not (Train screen).
    Scored(Result<usize, String>),
    /// A policy job made progress: its rows in the DB changed (Improve screen).
    Progress,
    /// A step of the Improve loop (sampling, a round) ended, with the line to show.
    LoopEnded(String),
}

/// Where a screen's job sends its events; the app loop (or a headless driver's `poll`) reads them.
#[derive(Debug, Clone)]
pub struct JobSender(Sender<Event>);

impl JobSender {
    pub fn new(tx: Sender<Event>) -> JobSender {
        JobSender(tx)
    }

    /// Sends `e`; a closed loop (the app is gone) is not the job's problem.
    pub fn send(&self, e: JobEvent) {
        let _ = self.0.send(Event::Job(e));
    }
}

/// A running job: its thread and the token that asks it to stop.
#[derive(Debug)]
pub struct Background {
    thread: JoinHandle<()>,
    pub cancel: CancelToken,
}

impl Background {
    /// Opens the DB file on a new thread and runs `work` there with a fresh cancel token.
    pub fn spawn(
        db: PathBuf,
        work: impl FnOnce(anyhow::Result<Store>, &CancelToken) + Send + 'static,
    ) -> Background {
        let cancel = CancelToken::default();
        let c = cancel.clone();
        let thread = std::thread::spawn(move || {
            work(Store::open(&db).map_err(anyhow::Error::from), &c);
        });
        Background { thread, cancel }
    }

    /// Blocks until the thread has ended or `deadline` passes.
    pub fn wait(&self, deadline: Instant) {
        while !self.thread.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
