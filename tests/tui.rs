//! The labelling app driven by real key events: snapshots at 80x24 (and 120x40), `update()`
//! behaviour, terminal safety of the drawn buffer, and queue sharing between annotators.

mod common;

use common::{add_xy_prompts, app_at, app_on, draw, press, store_with};
use kibble::domain::{RankingMode, Verdict};
use kibble::store::{RankingFilter, Store};
use kibble::tui::app::{App, Overlay};
use kibble::tui::key_event;
use kibble::tui::keymap::Key;

const FOUR: &[&str] = &[
    "Paris is the capital of France.",
    "Lyon.",
    "The capital of France is Paris, on the Seine.",
    "I am not sure, maybe Marseille?",
];

fn long_answer() -> String {
    let mut s = String::from("Here is a long explanation:\n```python\n");
    for i in 0..40 {
        s.push_str(&format!("    step_{i} = compute({i})  # line {i}\n"));
    }
    s.push_str("```\nDone.");
    s
}

#[test]
fn snapshot_k4_with_a_tie() {
    let mut app = app_on(
        store_with(&[("What is the capital of France?", FOUR)]),
        "alice",
    );
    press(&mut app, "c = a b");
    insta::assert_snapshot!(draw(&app, 80, 24).backend());
    assert_eq!(app.label.entry.groups, vec![vec![2, 0], vec![1]]);
}

#[test]
fn snapshot_k2_stacked_and_side_by_side() {
    let store = store_with(&[("Say hello in Japanese.", &["こんにちは", "Hello! 👋"])]);
    let mut app = app_on(store, "alice");
    press(&mut app, "s s");
    insta::assert_snapshot!("k2_80x24", draw(&app, 80, 24).backend());
    insta::assert_snapshot!("k2_120x40", draw(&app, 120, 40).backend());
}

#[test]
fn snapshot_long_candidate_scrolled() {
    let long = long_answer();
    let mut app = app_on(
        store_with(&[("Show me a long program.", &[long.as_str(), "Short answer."])]),
        "alice",
    );
    // Focus the long answer, wherever the shuffle put it, and scroll it.
    let pos = app
        .label
        .item
        .as_ref()
        .unwrap()
        .shown
        .iter()
        .position(|c| c.text.len() > 100)
        .unwrap();
    for _ in 0..pos {
        press(&mut app, "tab");
    }
    press(&mut app, "j j j j j pagedown");
    insta::assert_snapshot!(draw(&app, 80, 24).backend());
}

#[test]
fn snapshot_empty_queue_help_flag_and_too_small() {
    let mut app = app_on(Store::open_in_memory().unwrap(), "alice");
    insta::assert_snapshot!("empty_queue", draw(&app, 80, 24).backend());
    let mut app2 = app_on(store_with(&[("Q?", FOUR)]), "alice");
    press(&mut app2, "?");
    insta::assert_snapshot!("help_overlay", draw(&app2, 80, 24).backend());
    press(&mut app2, "x !");
    assert!(matches!(app2.session.overlay, Overlay::Flag { .. }));
    press(&mut app2, "1 3");
    insta::assert_snapshot!("flag_dialog", draw(&app2, 80, 24).backend());
    insta::assert_snapshot!("too_small", draw(&app2, 50, 10).backend());
    press(&mut app, "f6");
    insta::assert_snapshot!("data_screen", draw(&app, 80, 24).backend());
}

#[test]
fn rank_with_ties_backspace_and_save() {
    let mut app = app_on(store_with(&[("Q1", FOUR), ("Q2", FOUR)]), "alice");
    let first = app.label.item.as_ref().unwrap().prompt.id;
    press(&mut app, "b = d a");
    assert_eq!(app.label.entry.groups, vec![vec![1, 3], vec![0]]);
    press(&mut app, "backspace backspace");
    assert_eq!(app.label.entry.groups, vec![vec![1]]);
    press(&mut app, "d a enter");
    // C, the one left out, goes last.
    let saved = app
        .session
        .store
        .live_rankings(&RankingFilter::default())
        .unwrap();
    assert_eq!(saved.len(), 1);
    let shown = &saved[0].shown_order;
    assert_eq!(
        saved[0].groups,
        vec![
            vec![shown[1]],
            vec![shown[3]],
            vec![shown[0]],
            vec![shown[2]]
        ]
    );
    assert_eq!(saved[0].verdict, Verdict::Rank);
    assert_ne!(app.label.item.as_ref().unwrap().prompt.id, first);
    assert_eq!(app.label.session_count, 1);
}

#[test]
fn incomplete_ranking_is_not_saved() {
    let mut app = app_on(store_with(&[("Q1", FOUR)]), "alice");
    press(&mut app, "b enter");
    assert!(
        app.session.status.contains("unranked"),
        "{}",
        app.session.status
    );
    assert!(app
        .session
        .store
        .live_rankings(&RankingFilter::default())
        .unwrap()
        .is_empty());
}

#[test]
fn undo_after_save_restores_the_ranking() {
    let mut app = app_on(store_with(&[("Q1", FOUR), ("Q2", FOUR)]), "alice");
    let first = app.label.item.as_ref().unwrap().prompt.id;
    press(&mut app, "c = a b d enter");
    let id = app.label.history[0].ranking_id;
    press(&mut app, "u");
    assert_eq!(app.label.item.as_ref().unwrap().prompt.id, first);
    assert_eq!(app.label.entry.groups, vec![vec![2, 0], vec![1], vec![3]]);
    assert!(app.session.store.is_retracted(id).unwrap());
    assert_eq!(app.label.session_count, 0);
    // Saving again appends a new ranking; the log keeps both.
    press(&mut app, "enter");
    let live = app
        .session
        .store
        .live_rankings(&RankingFilter::default())
        .unwrap();
    assert_eq!(live.len(), 1);
    assert_ne!(live[0].id, id);
    assert!(app.session.store.ranking(id).unwrap().is_some());
}

#[test]
fn skip_flag_note_and_strength_are_recorded() {
    let mut app = app_on(store_with(&[("Q1", FOUR), ("Q2", &["yes", "no"])]), "alice");
    // Which prompt comes first is the queue's choice (id order): Q1 with four answers.
    press(&mut app, "! 1 5 enter n");
    for c in "bad data".chars() {
        app.on_key(key_event(
            Key::parse(&c.to_string()).unwrap_or(Key::parse("space").unwrap()),
        ));
    }
    press(&mut app, "enter x");
    // K = 2: strength twice (clearly), then one key decides and saves.
    press(&mut app, "s s b");
    let all = app
        .session
        .store
        .live_rankings(&RankingFilter::default())
        .unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].verdict, Verdict::Skip);
    assert_eq!(
        all[0].flags,
        vec!["unsafe".to_string(), "broken".to_string()]
    );
    assert_eq!(all[0].note.as_deref(), Some("bad data"));
    assert_eq!(all[1].verdict, Verdict::Rank);
    assert_eq!(all[1].strength, Some(2.0));
    assert_eq!(all[1].groups.len(), 2);
    assert_eq!(all[1].groups[0], vec![all[1].shown_order[1]]);
}

#[test]
fn best_worst_mode_and_k2_tie() {
    let mut app = app_on(store_with(&[("Q1", FOUR), ("Q2", &["yes", "no"])]), "alice");
    press(&mut app, "m b d enter =");
    let all = app
        .session
        .store
        .live_rankings(&RankingFilter::default())
        .unwrap();
    assert_eq!(all[0].mode, RankingMode::BestWorst);
    assert_eq!(all[0].groups.len(), 3);
    assert_eq!(all[0].groups[1].len(), 2);
    assert_eq!(all[1].groups, vec![all[1].shown_order.clone()]);
}

#[test]
fn shown_order_is_shuffled_per_annotator_reproducibly() {
    let many: Vec<String> = (0..9).map(|i| format!("answer {i}")).collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    let order = |who: &str| {
        let app = app_on(store_with(&[("Q", &refs)]), who);
        app.label
            .item
            .unwrap()
            .shown
            .iter()
            .map(|c| c.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(order("alice"), order("alice"));
    assert_ne!(order("alice"), order("bob"));
}

#[test]
fn hostile_text_never_reaches_the_screen_raw() {
    let attacks = [
        "osc52 \x1b]52;c;aGVsbG8=\x07 clipboard",
        "link \x1b]8;;http://evil.example\x1b\\click\x1b]8;;\x1b\\",
        "clear \x1b[2J\x1b[H\x1bc reset \x1bP1$qm\x1b\\ dcs",
        "c1 \u{9b}31m \u{9d}0;t\u{9c} bidi \u{202e}olleh\u{202c} \u{2066}iso\u{2069}",
    ];
    let zalgo = format!("z{}", "\u{301}".repeat(10_000));
    let mut texts: Vec<&str> = attacks.to_vec();
    texts.push(&zalgo);
    let app = app_on(store_with(&[("\x1b[31mred prompt\x07", &texts)]), "alice");
    for (w, h) in [(80, 24), (120, 40), (60, 16)] {
        let t = draw(&app, w, h);
        for cell in t.backend().buffer().content() {
            for c in cell.symbol().chars() {
                let u = c as u32;
                assert!(
                    u >= 0x20
                        && u != 0x7f
                        && !(0x80..=0x9f).contains(&u)
                        && !(0x202a..=0x202e).contains(&u)
                        && !(0x2066..=0x2069).contains(&u),
                    "raw control {u:#x} drawn at {w}x{h}"
                );
            }
            assert!(cell.symbol().chars().count() <= 8, "cell symbol too big");
        }
    }
}

#[test]
fn two_annotators_never_share_a_prompt_and_overlap_two_serves_each_twice() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.db");
    {
        add_xy_prompts(
            &mut Store::open(&path).unwrap(),
            (0..6).map(|i| format!("q{i}")),
        );
    }
    let open = |who: &str, overlap: u32| app_at(&path, who, overlap);
    let mut a = open("a", 1);
    let mut b = open("b", 1);
    for _ in 0..3 {
        let (pa, pb) = (
            a.label.item.as_ref().unwrap().prompt.id,
            b.label.item.as_ref().unwrap().prompt.id,
        );
        assert_ne!(pa, pb);
        press(&mut a, "a");
        press(&mut b, "b");
    }
    assert!(a.label.item.is_none() && b.label.item.is_none());

    // Overlap 2 on a fresh DB of 6 prompts: three annotators, each prompt served exactly twice.
    std::fs::remove_file(&path).unwrap();
    {
        add_xy_prompts(
            &mut Store::open(&path).unwrap(),
            (0..6).map(|i| format!("q{i}")),
        );
    }
    let mut apps: Vec<App> = ["x", "y", "z"].iter().map(|w| open(w, 2)).collect();
    loop {
        let mut any = false;
        for app in &mut apps {
            if app.label.item.is_some() {
                press(app, "a");
                any = true;
            }
        }
        if !any {
            break;
        }
    }
    let store = Store::open(&path).unwrap();
    let live = store.live_rankings(&RankingFilter::default()).unwrap();
    let mut per_prompt = std::collections::HashMap::<i64, Vec<String>>::new();
    for r in live {
        per_prompt.entry(r.prompt_id).or_default().push(r.annotator);
    }
    assert_eq!(per_prompt.len(), 6);
    for (p, who) in per_prompt {
        let distinct: std::collections::HashSet<_> = who.iter().collect();
        assert_eq!((who.len(), distinct.len()), (2, 2), "prompt {p}: {who:?}");
    }
}
