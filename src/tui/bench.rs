//! `kibble bench tui`: startup to first frame, and key press -> frame drawn (update + draw into
//! an 80x24 `TestBackend`), on an existing DB. Saving keys are timed apart: they wait for fsync.

use std::path::Path;
use std::time::{Duration, Instant};

use ratatui::backend::TestBackend;
use ratatui::Terminal;
use serde_json::json;

use super::app::{App, AppConfig, Clock};
use super::keymap::{Key, Keymap};
use super::{key_event, ui};
use crate::jobs::bench::percentile;
use crate::store::Store;

/// Time to draw the Train screen (80x24) with 100k points in every series.
fn train_screen_draw_us(app: &mut App) -> anyhow::Result<Vec<f64>> {
    let mut s = super::charts::RunSeries::new(0);
    s.total_steps = 100_000;
    for step in 0..100_000 {
        let x = step as f64;
        for name in super::charts::SERIES {
            s.push(name, x, (x * 0.001).sin() + (step % 7) as f64 * 0.01);
        }
    }
    app.train.series = Some(s);
    app.update(super::keymap::Action::Screen(super::keymap::Screen::Train));
    let mut term = Terminal::new(TestBackend::new(80, 24))?;
    let mut times = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        term.draw(|f| ui::render(app, f))?;
        times.push(t.elapsed().as_secs_f64() * 1e6);
    }
    app.train.series = None;
    app.update(super::keymap::Action::Screen(super::keymap::Screen::Label));
    times.sort_by(f64::total_cmp);
    Ok(times)
}

/// An annotator's keystrokes for one item of `k` answers: read and scroll, then per criterion
/// rank (with a tie, a take-back and a re-rank) or rate each answer, Enter after each.
fn keystrokes(task: &crate::domain::Task, k: usize) -> Vec<String> {
    let mut keys: Vec<String> = ["tab", "j", "j", "k", "backtab"].map(String::from).to_vec();
    for c in &task.criteria {
        match &c.kind {
            crate::domain::CriterionKind::Rank => {
                keys.extend(["b", "=", "a", "backspace", "a", "c"].map(String::from))
            }
            crate::domain::CriterionKind::Rate(s) => {
                keys.extend((0..k).map(|j| (s.min + (j as u8 % (s.max - s.min + 1))).to_string()))
            }
        }
        keys.push("enter".into());
    }
    keys
}

pub fn run(db: &Path, items: usize, with_training: bool, as_json: bool) -> anyhow::Result<()> {
    let t0 = Instant::now();
    let store = Store::open(db)?;
    let app = App::new(
        store,
        AppConfig::new("bench-tui"),
        Keymap::load(None)?,
        Clock::Manual(Duration::ZERO),
    )?;
    let mut app = app;
    let mut term = Terminal::new(TestBackend::new(80, 24))?;
    term.draw(|f| ui::render(&app, f))?;
    let first_frame_ms = t0.elapsed().as_secs_f64() * 1e3;
    let train_draw = train_screen_draw_us(&mut app)?;
    if with_training {
        app.train.form.epochs = Some(1);
        let jobs = app.jobs();
        app.train
            .start(Some(db.to_path_buf()), "bench-tui", &jobs)
            .map_err(|e| anyhow::anyhow!(e))?;
        // Let it get past tokenizer training and into the steps.
        std::thread::sleep(Duration::from_secs(3));
    }

    let (_, task) = app.session.store.task()?;
    let mut browse_us = Vec::new();
    let mut save_us = Vec::new();
    for _ in 0..items {
        let Some(item) = &app.label.item else {
            break;
        };
        let script = keystrokes(&task, item.shown.len());
        let last = script.len() - 1;
        for (i, name) in script.iter().enumerate() {
            let key = Key::parse(name).expect("valid key");
            let t = Instant::now();
            app.on_key(key_event(key));
            term.draw(|f| ui::render(&app, f))?;
            let us = t.elapsed().as_secs_f64() * 1e6;
            // Only the last Enter writes (one transaction with every criterion); the others
            // move to the next criterion.
            if i == last {
                save_us.push(us);
            } else {
                browse_us.push(us);
            }
        }
    }
    browse_us.sort_by(f64::total_cmp);
    save_us.sort_by(f64::total_cmp);
    let result = json!({
        "db": db.display().to_string(),
        "items": save_us.len(),
        "criteria": task.names(),
        "startup_to_first_frame_ms": first_frame_ms,
        "key_to_frame_p50_us": percentile(&browse_us, 0.5),
        "key_to_frame_p99_us": percentile(&browse_us, 0.99),
        "save_to_frame_p50_us": percentile(&save_us, 0.5),
        "save_to_frame_p99_us": percentile(&save_us, 0.99),
        "train_screen_100k_points_draw_p50_us": percentile(&train_draw, 0.5),
        "train_screen_100k_points_draw_p99_us": percentile(&train_draw, 0.99),
        "training_in_background": with_training && app.train.job.is_some(),
        "peak_rss_mib": crate::jobs::bench::peak_rss_mib(),
    });
    app.train.cancel();
    if as_json {
        println!("{result}");
    } else {
        println!("{}", serde_json::to_string_pretty(&result)?);
    }
    Ok(())
}
