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
use crate::store::Store;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

pub fn run(db: &Path, items: usize, as_json: bool) -> anyhow::Result<()> {
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

    // An annotator's keystrokes per item: read, scroll, rank, take one back, rank again, save.
    let script = [
        "tab",
        "j",
        "j",
        "k",
        "backtab",
        "b",
        "=",
        "a",
        "backspace",
        "a",
        "c",
        "enter",
    ];
    let mut browse_us = Vec::new();
    let mut save_us = Vec::new();
    for _ in 0..items {
        if app.item.is_none() {
            break;
        }
        for name in script {
            let key = Key::parse(name).expect("valid key");
            let t = Instant::now();
            app.on_key(key_event(key));
            term.draw(|f| ui::render(&app, f))?;
            let us = t.elapsed().as_secs_f64() * 1e6;
            if name == "enter" {
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
        "startup_to_first_frame_ms": first_frame_ms,
        "key_to_frame_p50_us": percentile(&browse_us, 0.5),
        "key_to_frame_p99_us": percentile(&browse_us, 0.99),
        "save_to_frame_p50_us": percentile(&save_us, 0.5),
        "save_to_frame_p99_us": percentile(&save_us, 0.99),
        "peak_rss_mib": crate::jobs::bench::peak_rss_mib(),
    });
    if as_json {
        println!("{result}");
    } else {
        println!("{}", serde_json::to_string_pretty(&result)?);
    }
    Ok(())
}
