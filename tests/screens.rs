//! Train, Runs and Scores screens: snapshots at 80x24 and 120x40 from real key events, and an
//! end-to-end training started from the Train screen by keys.

mod common;

use std::path::Path;
use std::time::Duration;

use kibble::domain::PromptBody;
use kibble::store::{RunStatus, Store};
use kibble::tui::app::{App, AppConfig, Clock};
use kibble::tui::charts::RunSeries;
use kibble::tui::keymap::{Key, Keymap};
use kibble::tui::{key_event, ui};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

fn press(app: &mut App, keys: &str) {
    for k in keys.split_whitespace() {
        app.on_key(key_event(Key::parse(k).unwrap()));
    }
}

fn draw(app: &App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| ui::render(app, f)).unwrap();
    format!("{}", t.backend())
}

/// A DB at `dir/name` holding the bundled sample data.
fn seeded_db(dir: &Path, name: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    let mut store = Store::open(&path).unwrap();
    kibble::commands::seed_sample_data(&mut store).unwrap();
    path
}

fn app_for(path: &Path) -> App {
    let mut cfg = AppConfig::new("tester");
    cfg.db_label = "test.db".into();
    cfg.color = false;
    App::new(
        Store::open(path).unwrap(),
        cfg,
        Keymap::load(None).unwrap(),
        Clock::Manual(Duration::ZERO),
    )
    .unwrap()
}

/// Two finished runs with curves, fixed timestamps, and scores that grow with length.
fn seeded(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("s.db");
    let mut store = Store::open(&path).unwrap();
    let mut cands = Vec::new();
    {
        let mut w = store.begin_import().unwrap();
        for i in 0..30 {
            let p = w
                .add_prompt(
                    &PromptBody::Text(format!("prompt {i}")),
                    None,
                    &serde_json::json!({}),
                )
                .unwrap();
            for j in 0..2 {
                let text = "word ".repeat(1 + (i * 2 + j) % 17);
                cands.push((
                    w.add_candidate(p, &format!("{i}.{j} {text}"), "import:t.jsonl")
                        .unwrap(),
                    text.len(),
                ));
            }
        }
        w.finish("t", "kibble").unwrap();
    }
    for run in 0..2 {
        let id = store
            .create_run("rm", &serde_json::json!({}), "tester")
            .unwrap();
        let mut pts = Vec::new();
        for step in 0..200i64 {
            let x = step as f64;
            pts.push((
                step,
                "loss",
                0.7 * (-x / (60.0 + 40.0 * run as f64)).exp() + 0.05 * (x * 0.7).sin().abs(),
            ));
            pts.push((step, "accuracy", 0.5 + 0.45 * (1.0 - (-x / 50.0).exp())));
            pts.push((step, "lr", 3e-4 * (1.0 - x / 200.0)));
            pts.push((step, "chosen_reward", x / 100.0));
            pts.push((step, "rejected_reward", -x / 120.0));
        }
        for step in [49i64, 99, 149, 199] {
            pts.push((
                step,
                "eval_accuracy",
                0.6 + step as f64 / 800.0 + run as f64 * 0.02,
            ));
            pts.push((step, "eval_loss", 0.6 - step as f64 / 600.0));
        }
        let named: Vec<(i64, &str, f64)> = pts.iter().map(|(s, n, v)| (*s, *n, *v)).collect();
        store.add_metrics(id, &named).unwrap();
        let ck = store
            .add_checkpoint(id, 200, "/nonexistent/ckpt", &serde_json::json!({}))
            .unwrap();
        store.finish_run(id, RunStatus::Done, None).unwrap();
        if run == 1 {
            let scores: Vec<(i64, f64, f64)> = cands
                .iter()
                .map(|(c, len)| (*c, *len as f64 / 40.0 - 1.0 + ((*c % 5) as f64) * 0.1, 0.0))
                .collect();
            store.add_scores(ck, &scores).unwrap();
        }
    }
    drop(store);
    // Fixed times so the Runs list snapshots are stable.
    let db = rusqlite::Connection::open(&path).unwrap();
    db.execute_batch(
        "UPDATE runs SET started_at = 1795770000000 + id * 60000, finished_at = 1795770000000 + id * 60000 + 95000,
                         heartbeat_at = 1795770000000 + id * 60000 + 95000",
    )
    .unwrap();
    path
}

#[test]
fn train_screen_form_progress_and_finish() {
    let dir = tempfile::tempdir().unwrap();
    let path = seeded(dir.path());
    let mut app = app_for(&path);
    press(&mut app, "f2 j j right");
    insta::assert_snapshot!("train_form_80x24", draw(&app, 80, 24));
    // A run in progress, fed with synthetic metric events.
    let mut s = RunSeries::new(7);
    s.total_steps = 300;
    for step in 0..120 {
        let x = step as f64;
        s.push("loss", x, 0.7 * (-x / 50.0).exp() + 0.1);
        s.push("accuracy", x, 0.5 + x / 300.0);
        s.push("lr", x, 3e-4);
        s.push("chosen_reward", x, x / 100.0);
        s.push("rejected_reward", x, -x / 100.0);
        s.push("pairs_per_s", x, 12.5);
    }
    s.push("eval_accuracy", 99.0, 0.81);
    app.train.series = Some(s);
    insta::assert_snapshot!("train_running_80x24", draw(&app, 80, 24));
    insta::assert_snapshot!("train_running_120x40", draw(&app, 120, 40));
}

#[test]
fn runs_list_open_and_overlay() {
    let dir = tempfile::tempdir().unwrap();
    let path = seeded(dir.path());
    let mut app = app_for(&path);
    press(&mut app, "f5");
    insta::assert_snapshot!("runs_list_80x24", draw(&app, 80, 24));
    press(&mut app, "enter");
    insta::assert_snapshot!("run_open_120x40", draw(&app, 120, 40));
    press(&mut app, "esc m j m enter");
    let (main, other) = app.runs.open.as_ref().unwrap();
    assert_eq!((main.run_id, other.as_ref().unwrap().run_id), (2, 1));
    insta::assert_snapshot!("runs_overlay_80x24", draw(&app, 80, 24));
    insta::assert_snapshot!("runs_overlay_120x40", draw(&app, 120, 40));
}

#[test]
fn scores_histogram_and_length_bias() {
    let dir = tempfile::tempdir().unwrap();
    let path = seeded(dir.path());
    let mut app = app_for(&path);
    press(&mut app, "f4");
    insta::assert_snapshot!("scores_histogram_80x24", draw(&app, 80, 24));
    insta::assert_snapshot!("scores_histogram_120x40", draw(&app, 120, 40));
    press(&mut app, "tab");
    let screen = draw(&app, 80, 24);
    assert!(screen.contains("WARNING: length bias"), "{screen}");
    insta::assert_snapshot!("scores_length_bias_80x24", screen);
    insta::assert_snapshot!("scores_length_bias_120x40", draw(&app, 120, 40));
    // Label next: Enter puts the suggestions at the front of the queue.
    press(&mut app, "tab tab tab enter");
    assert!(
        app.session.status.contains("front of the labelling queue"),
        "{}",
        app.session.status
    );
    let first = app.scores.suggested_prompts()[0];
    assert_eq!(
        app.session.store.prompt(first).unwrap().unwrap().priority,
        10
    );
}

#[test]
fn training_started_from_the_train_screen_by_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = seeded_db(dir.path(), "e2e.db");
    let mut app = app_for(&path);
    // One epoch to keep the test short: the epochs field is the second one.
    press(&mut app, "f2 j left left left left left enter");
    assert!(
        app.session.status.contains("training started"),
        "{}",
        app.session.status
    );
    let t0 = std::time::Instant::now();
    while app.train.job.is_some() {
        app.poll();
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            t0.elapsed() < Duration::from_secs(240),
            "training did not finish"
        );
    }
    let summary = app.train.summary.clone().unwrap();
    assert_eq!(summary.status, RunStatus::Done, "{:?}", summary.message);
    let store = Store::open(&path).unwrap();
    assert!(!store.checkpoints(Some(summary.run_id)).unwrap().is_empty());
    assert!(!store
        .metric_series(summary.run_id, "loss", -1)
        .unwrap()
        .is_empty());
    let s = app.train.series.as_ref().unwrap();
    assert!(!s.get("loss").is_empty());
    let screen = draw(&app, 120, 40);
    assert!(
        screen.contains('⣀') || screen.contains('⠉') || screen.contains('⠒'),
        "no chart points drawn:\n{screen}"
    );
}

#[test]
fn quitting_during_a_run_asks_once_then_cancels_it_and_waits() {
    let dir = tempfile::tempdir().unwrap();
    let path = seeded_db(dir.path(), "quit.db");
    let mut app = app_for(&path);
    press(&mut app, "f2 enter");
    assert!(
        app.session.status.contains("training started"),
        "{}",
        app.session.status
    );
    press(&mut app, "q");
    assert!(!app.should_quit);
    assert!(
        app.session.status.contains("q again"),
        "{}",
        app.session.status
    );
    press(&mut app, "q");
    assert!(app.should_quit);
    app.wait_for_jobs(Duration::from_secs(120));
    let store = Store::open(&path).unwrap();
    let runs = store.runs().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(
        runs[0].status,
        RunStatus::Cancelled,
        "{:?}",
        runs[0].message
    );
}

#[test]
fn report_is_self_contained_html_with_the_charts() {
    let dir = tempfile::tempdir().unwrap();
    let path = seeded(dir.path());
    let html = kibble::jobs::report::render(&Store::open(&path).unwrap()).unwrap();
    assert!(html.starts_with("<!doctype html>"));
    assert!(
        html.matches("<svg").count() >= 4,
        "histograms, scatter and curves"
    );
    assert!(html.contains("Length bias"));
    assert!(!html.contains("<script") && !html.contains("src=\"http"));
}

#[test]
fn improve_screen_rounds_histograms_and_hacking_watch() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("i.db");
    {
        let mut store = Store::open(&path).unwrap();
        let sft = store
            .create_run("sft", &serde_json::json!({}), "t")
            .unwrap();
        store.set_run_lineage(sft, None, 0).unwrap();
        store.finish_run(sft, RunStatus::Done, None).unwrap();
        for (round, kl, len_after) in [(1, 0.4, 21.0), (2, 7.5, 22.0)] {
            let run = store
                .create_run("bon", &serde_json::json!({}), "t")
                .unwrap();
            store.set_run_lineage(run, Some(run - 1), round).unwrap();
            let shift = round as f64 * 0.5;
            let mut pts: Vec<(i64, &str, f64)> = vec![
                (0, "heldout_kl", kl),
                (0, "heldout_len_before", 20.0),
                (0, "heldout_len_after", len_after),
            ];
            for i in 0..40 {
                let v = ((i * 7 % 13) as f64 / 6.0) - 1.0;
                pts.push((i, "heldout_reward_before", v + shift - 0.5));
                pts.push((i, "heldout_reward_after", v + shift));
                pts.push((i, "loss", 3.0 - i as f64 * 0.05));
                pts.push((i, "kl", i as f64 * 0.01));
            }
            store.add_metrics(run, &pts).unwrap();
            store.finish_run(run, RunStatus::Done, None).unwrap();
        }
    }
    let mut app = app_for(&path);
    press(&mut app, "f3");
    assert_eq!(app.improve.rounds.len(), 3);
    assert!(app.improve.rounds[2]
        .warning(&app.improve.watch)
        .unwrap()
        .contains("KL 7.5"));
    insta::assert_snapshot!("improve_80x24", draw(&app, 80, 24));
    press(&mut app, "k");
    assert_eq!(app.improve.series.as_ref().unwrap().run_id, 2);
    // The first round can be selected too (it used to jump back to the newest).
    press(&mut app, "k");
    assert_eq!(app.improve.selected, 0);
    assert_eq!(app.improve.series.as_ref().unwrap().run_id, 1);

    // The wizard: m picks the method; s starts sampling in the background. These runs have
    // no checkpoints, so the job fails and says why in the status line.
    press(&mut app, "m");
    assert_eq!(app.improve.method.as_str(), "dpo");
    press(&mut app, "s");
    assert!(
        app.session.status.contains("sampling"),
        "{}",
        app.session.status
    );
    press(&mut app, "s");
    assert!(
        app.session.status.contains("still running"),
        "{}",
        app.session.status
    );
    let t = std::time::Instant::now();
    while app.improve.job.is_some() && t.elapsed() < Duration::from_secs(30) {
        app.poll();
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        app.session
            .status
            .contains("sampling failed: no policy yet"),
        "{}",
        app.session.status
    );
}

/// Waits (polling the app's job events) for the Improve screen's job to end.
fn wait_for_improve_job(app: &mut App) {
    let t0 = std::time::Instant::now();
    while app.improve.job.is_some() {
        app.poll();
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            t0.elapsed() < Duration::from_secs(300),
            "the job did not end"
        );
    }
}

#[test]
fn the_first_policy_is_made_from_the_improve_screen_by_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = seeded_db(dir.path(), "first.db");
    let mut app = app_for(&path);
    press(&mut app, "f3");
    assert!(draw(&app, 80, 24).contains("No policy yet: p trains the tiny policy"));
    // A path that names no model is refused; the field stays open to be fixed.
    press(&mut app, "p");
    for c in "/nowhere/m.gguf".chars() {
        app.on_key(key_event(Key::parse(&c.to_string()).unwrap()));
    }
    press(&mut app, "enter");
    assert!(matches!(
        app.session.overlay,
        kibble::tui::app::Overlay::PolicySource { .. }
    ));
    assert!(
        app.session.status.contains("not a GGUF file"),
        "{}",
        app.session.status
    );
    // Empty: kibble's tiny policy, trained on the DB's best-ranked answers.
    press(&mut app, "esc p enter");
    assert!(
        app.session.status.contains("training the tiny policy"),
        "{}",
        app.session.status
    );
    wait_for_improve_job(&mut app);
    assert!(
        app.session
            .status
            .contains("done: the tiny policy learnt from the best-ranked answers"),
        "{}",
        app.session.status
    );
    let store = Store::open(&path).unwrap();
    let sft: Vec<_> = store
        .runs()
        .unwrap()
        .into_iter()
        .filter(|r| r.kind == "sft")
        .collect();
    assert_eq!(sft.len(), 1);
    assert_eq!(sft[0].status, RunStatus::Done);
    assert!(!store.checkpoints(Some(sft[0].id)).unwrap().is_empty());
    // o sets the next round's main settings; a wrong one keeps the field open and says why,
    // Ctrl-U clears what was typed, and sampling takes their n.
    press(&mut app, "o");
    common::type_text(&mut app, "n=0");
    press(&mut app, "enter");
    assert!(matches!(
        app.session.overlay,
        kibble::tui::app::Overlay::RoundSettings { .. }
    ));
    assert!(
        app.session.status.contains("from 1 to 64"),
        "{}",
        app.session.status
    );
    press(&mut app, "ctrl-u");
    common::type_text(&mut app, "n=2 lr=3e-4 tokens=24");
    press(&mut app, "enter");
    assert!(matches!(
        app.session.overlay,
        kibble::tui::app::Overlay::None
    ));
    assert!(
        draw(&app, 80, 24).contains("o settings: n 2 · lr 3e-4 · LoRA off · tokens 24 · epochs 2"),
        "{}",
        draw(&app, 80, 24)
    );
    // The loop goes on from the menu: s samples the new policy into the labelling queue.
    press(&mut app, "s");
    wait_for_improve_job(&mut app);
    assert!(
        app.session.status.contains("new answers"),
        "{}",
        app.session.status
    );
    let (mut sampled, mut most) = (0, 0);
    store
        .for_each_prompt(|_, cands| {
            let here = cands
                .iter()
                .filter(|c| c.source.starts_with("policy:"))
                .count();
            sampled += here;
            most = most.max(here);
            Ok(())
        })
        .unwrap();
    assert!(sampled > 0);
    assert!(most <= 2, "n=2 sampled {most} answers for one prompt");
}
