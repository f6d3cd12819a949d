//! Helpers the labelling-app tests share: a store with prompts, an app on it, keys, drawing.
#![allow(dead_code)] // each test file uses a different subset

use std::time::Duration;

use kibble::domain::PromptBody;
use kibble::store::Store;
use kibble::tui::app::{App, AppConfig, Clock};
use kibble::tui::keymap::{Key, Keymap};
use kibble::tui::{key_event, ui};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

/// An in-memory store with these (prompt, answers), in this order.
pub fn store_with(items: &[(&str, &[&str])]) -> Store {
    let mut store = Store::open_in_memory().unwrap();
    let mut w = store.begin_import().unwrap();
    for (prompt, cands) in items {
        let p = w
            .add_prompt(
                &PromptBody::Text(prompt.to_string()),
                None,
                &serde_json::json!({}),
            )
            .unwrap();
        for c in *cands {
            w.add_candidate(p, c, "test").unwrap();
        }
    }
    w.finish("test", "kibble").unwrap();
    store
}

pub fn app_on(store: Store, who: &str) -> App {
    let mut cfg = AppConfig::new(who);
    cfg.db_label = "test.db".into();
    cfg.color = false;
    App::new(
        store,
        cfg,
        Keymap::load(None).unwrap(),
        Clock::Manual(Duration::from_secs(0)),
    )
    .unwrap()
}

/// Presses keys written as in the key map, separated by spaces ("c = a enter").
pub fn press(app: &mut App, keys: &str) {
    for k in keys.split_whitespace() {
        app.on_key(key_event(Key::parse(k).unwrap()));
    }
}

pub fn draw(app: &App, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| ui::render(app, f)).unwrap();
    t
}

/// The screen as text, one line per row.
pub fn screen(app: &App, w: u16, h: u16) -> String {
    let t = draw(app, w, h);
    let buf = t.backend().buffer();
    (0..h)
        .map(|y| {
            (0..w)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Adds prompts `q0..q{n}` (or `names`), each with the answers "x" and "y", to the store.
pub fn add_xy_prompts(store: &mut Store, names: impl Iterator<Item = String>) {
    let mut w = store.begin_import().unwrap();
    for name in names {
        let p = w
            .add_prompt(&PromptBody::Text(name), None, &serde_json::json!({}))
            .unwrap();
        w.add_candidate(p, "x", "t").unwrap();
        w.add_candidate(p, "y", "t").unwrap();
    }
    w.finish("t", "kibble").unwrap();
}

/// Types text into whatever has the keys (a note, a search), space included.
pub fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        let key = if c == ' ' {
            "space".to_string()
        } else {
            c.to_string()
        };
        app.on_key(key_event(Key::parse(&key).unwrap()));
    }
}

/// An app on the DB file at `path` for `who`, asking for `overlap`, on a hand-driven clock.
pub fn app_at(path: &std::path::Path, who: &str, overlap: u32) -> App {
    let mut cfg = AppConfig::new(who);
    cfg.queue.overlap = overlap;
    app_with(path, cfg)
}

/// An app on the DB file at `path` with `cfg`, on a hand-driven clock, without colour.
pub fn app_with(path: &std::path::Path, mut cfg: AppConfig) -> App {
    cfg.color = false;
    App::new(
        Store::open(path).unwrap(),
        cfg,
        Keymap::load(None).unwrap(),
        Clock::Manual(Duration::ZERO),
    )
    .unwrap()
}

/// The keys that rank the answer texts starting with `order` (best first) on this screen,
/// whatever order this annotator was shown them in, then Enter.
pub fn keys_for_order(app: &App, order: &[&str]) -> String {
    let item = app.label.item.as_ref().expect("an item on screen");
    let mut keys: Vec<String> = order
        .iter()
        .map(|w| {
            let pos = item
                .shown
                .iter()
                .position(|c| c.text.starts_with(w))
                .expect("an answer starting so");
            ((b'a' + pos as u8) as char).to_string()
        })
        .collect();
    keys.push("enter".into());
    keys.join(" ")
}
