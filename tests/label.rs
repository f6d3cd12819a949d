//! The label screen as an annotator meets it: undo never drops work, confirmations before
//! work is lost or a ranking says nothing, answers readable at 80x24 (nine of them, long code,
//! a long chat), paging by what is visible, and key map errors that help.

mod common;

use common::{add_xy_prompts, app_at, app_on, draw, press, screen, store_with, type_text};
use kibble::domain::{Message, PromptBody, Verdict};
use kibble::store::{RankingFilter, Store};
use kibble::tui::app::{App, AppConfig, Clock, Confirm, Overlay};
use kibble::tui::keymap::Keymap;

const FOUR: &[&str] = &[
    "Paris is the capital of France.",
    "Lyon.",
    "The capital of France is Paris, on the Seine.",
    "I am not sure, maybe Marseille?",
];

fn live(app: &kibble::tui::app::App) -> Vec<kibble::domain::Ranking> {
    app.session
        .store
        .live_rankings(&RankingFilter::default())
        .unwrap()
}

fn prompt_of(app: &kibble::tui::app::App) -> i64 {
    app.label.item.as_ref().unwrap().prompt.id
}

#[test]
fn a_second_undo_offers_to_keep_the_fix_and_walks_back_in_order() {
    let mut app = app_on(
        store_with(&[("Q1", FOUR), ("Q2", FOUR), ("Q3", FOUR)]),
        "alice",
    );
    let q1 = prompt_of(&app);
    press(&mut app, "a b c d enter");
    let q2 = prompt_of(&app);
    press(&mut app, "b a c d enter");
    let (first, second) = (
        app.label.history[0].ranking_id,
        app.label.history[1].ranking_id,
    );
    // Undo brings Q2 back; the annotator re-ranks it, then presses undo again.
    press(&mut app, "u");
    assert_eq!(prompt_of(&app), q2);
    press(&mut app, "esc c d = a");
    press(&mut app, "u");
    assert_eq!(
        app.session.overlay,
        Overlay::Confirm(Confirm::UndoWhileFixing)
    );
    assert_eq!(prompt_of(&app), q2, "nothing happens before the answer");
    // y: the fix is saved, then Q1 comes back.
    press(&mut app, "y");
    assert_eq!(prompt_of(&app), q1);
    let rankings = live(&app);
    let fix = rankings
        .iter()
        .find(|r| r.prompt_id == q2)
        .expect("fix kept");
    let shown = &fix.shown_order;
    assert_eq!(
        fix.groups,
        vec![vec![shown[2]], vec![shown[3], shown[0]], vec![shown[1]]]
    );
    assert!(app.session.store.is_retracted(first).unwrap());
    assert!(app.session.store.is_retracted(second).unwrap());
    // Saving Q1 again puts the history back in the order the prompts were seen.
    press(&mut app, "enter");
    let order: Vec<i64> = app.label.history.iter().map(|s| s.prompt_id).collect();
    assert_eq!(order, vec![q1, q2]);
    press(&mut app, "u");
    assert_eq!(
        prompt_of(&app),
        q2,
        "undo walks back to Q2's fix, not further"
    );
}

#[test]
fn undo_without_changes_puts_the_decision_back_and_r_restores_a_changed_one() {
    let mut app = app_on(
        store_with(&[("Q1", FOUR), ("Q2", FOUR), ("Q3", FOUR)]),
        "alice",
    );
    press(&mut app, "a b c d enter x");
    let q1 = app.label.history[0].prompt_id;
    // u u: the skip comes back unchanged and goes back as it was, then Q1 comes back.
    press(&mut app, "u u");
    assert_eq!(app.session.overlay, Overlay::None);
    assert_eq!(prompt_of(&app), q1);
    let rankings = live(&app);
    assert_eq!(rankings.len(), 1);
    assert_eq!(rankings[0].verdict, Verdict::Skip);
    // Q1 changed, then u and r: Q1 goes back as it was (nothing before it to undo).
    press(&mut app, "esc d c b");
    press(&mut app, "u");
    assert!(
        matches!(app.session.overlay, Overlay::None),
        "no earlier decision"
    );
    press(&mut app, "enter");
    assert_eq!(live(&app).len(), 2);
}

#[test]
fn r_puts_a_changed_fix_back_as_it_was() {
    let mut app = app_on(store_with(&[("Q1", FOUR), ("Q2", FOUR)]), "alice");
    press(&mut app, "a b c d enter b a c d enter");
    let before = live(&app)[1].groups.clone();
    press(&mut app, "u esc d c b a u");
    assert_eq!(
        app.session.overlay,
        Overlay::Confirm(Confirm::UndoWhileFixing)
    );
    press(&mut app, "r");
    let rankings = live(&app);
    // Q1 is undone now (being fixed); Q2 holds its old ranking again, as a new entry.
    assert_eq!(rankings.len(), 1);
    assert_eq!(rankings[0].groups, before);
}

#[test]
fn after_undo_one_key_still_decides_two_answers() {
    let mut app = app_on(store_with(&[("Q", &["yes", "no"]), ("R", FOUR)]), "alice");
    press(&mut app, "b");
    let first = live(&app)[0].clone();
    press(&mut app, "u a");
    let now = live(&app);
    assert_eq!(now.len(), 1, "a saved the prompt again");
    assert_ne!(now[0].id, first.id);
    assert_eq!(now[0].groups[0], vec![now[0].shown_order[0]]);
}

#[test]
fn quitting_with_unsaved_work_asks_and_a_fix_is_put_back() {
    let mut app = app_on(store_with(&[("Q1", FOUR), ("Q2", FOUR)]), "alice");
    press(&mut app, "a b q");
    assert_eq!(app.session.overlay, Overlay::Confirm(Confirm::Quit));
    assert!(!app.should_quit);
    press(&mut app, "n");
    assert!(!app.should_quit && app.label.entry.placed() == 2);
    // A fix in progress: quitting puts the undone decision back as it was.
    press(&mut app, "c d enter u esc");
    assert_eq!(live(&app).len(), 0);
    press(&mut app, "q y");
    assert!(app.should_quit);
    assert_eq!(live(&app).len(), 1);
}

#[test]
fn dialog_keys_come_from_the_key_map() {
    // A user who answers yes with "o" and keeps a note with ctrl-s (enter then types nothing).
    let keymap = Keymap::load(Some((
        "user.toml",
        "dialog_yes = [\"o\"]\ndialog_accept = [\"ctrl-s\"]\n",
    )))
    .unwrap();
    let mut cfg = AppConfig::new("alice");
    cfg.color = false;
    let store = store_with(&[("Q1", FOUR), ("Q2", FOUR)]);
    let mut app = App::new(store, cfg, keymap, Clock::Manual(Default::default())).unwrap();
    press(&mut app, "a = b = c = d enter");
    assert_eq!(app.session.overlay, Overlay::Confirm(Confirm::AllTie));
    assert!(screen(&app, 80, 24).contains("Save it anyway? o / n"));
    // "y" is no longer yes: the question is answered no.
    press(&mut app, "y");
    assert_eq!(app.session.overlay, Overlay::None);
    assert!(live(&app).is_empty());
    press(&mut app, "enter o");
    assert_eq!(live(&app).len(), 1);
    // In a note, Enter is not an action any more (nothing to type) and ctrl-s keeps it.
    press(&mut app, "n");
    type_text(&mut app, "why");
    press(&mut app, "enter");
    assert!(matches!(app.session.overlay, Overlay::Note { .. }));
    assert!(screen(&app, 80, 24).contains("^s keep, Esc cancel"));
    press(&mut app, "ctrl-s");
    assert_eq!(app.session.overlay, Overlay::None);
    assert_eq!(
        app.label.item.as_ref().unwrap().note.as_deref(),
        Some("why")
    );
}

#[test]
fn an_all_tie_ranking_is_confirmed_first() {
    let mut app = app_on(store_with(&[("Q1", FOUR), ("Q2", FOUR)]), "alice");
    press(&mut app, "a = b = c = d enter");
    assert_eq!(app.session.overlay, Overlay::Confirm(Confirm::AllTie));
    assert!(live(&app).is_empty());
    press(&mut app, "y");
    let r = live(&app);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].groups.len(), 1);
}

#[test]
fn a_rushed_save_says_so() {
    let store = store_with(&[("Q1", FOUR), ("Q2", FOUR)]);
    let mut cfg = kibble::tui::app::AppConfig::new("alice");
    cfg.min_seconds = 5.0;
    let mut app = kibble::tui::app::App::new(
        store,
        cfg,
        Keymap::load(None).unwrap(),
        kibble::tui::app::Clock::Manual(std::time::Duration::ZERO),
    )
    .unwrap();
    press(&mut app, "a b c d enter");
    assert!(
        app.session.status.contains("rushed (< 5 s)"),
        "{}",
        app.session.status
    );
}

fn nine() -> Vec<String> {
    (0..9)
        .map(|i| match i {
            4 => (0..16)
                .map(|l| format!("line {l} of answer four"))
                .collect::<Vec<_>>()
                .join("\n"),
            _ => format!("Answer number {i} in one line."),
        })
        .collect()
}

#[test]
fn nine_answers_at_80x24_give_the_focused_one_room_and_draw_every_frame_whole() {
    let nine = nine();
    let refs: Vec<&str> = nine.iter().map(String::as_str).collect();
    let mut app = app_on(store_with(&[("Pick the best of nine.", &refs)]), "alice");
    press(&mut app, "c a");
    insta::assert_snapshot!("nine_80x24", draw(&app, 80, 24).backend());
    insta::assert_snapshot!("nine_120x40", draw(&app, 120, 40).backend());
    // The focused answer shows several lines at 80x24, not one.
    let long = app
        .label
        .item
        .as_ref()
        .unwrap()
        .shown
        .iter()
        .position(|c| c.text.contains("line 0"))
        .unwrap();
    for _ in 0..long {
        press(&mut app, "tab");
    }
    let text = screen(&app, 80, 24);
    assert!(text.contains("line 0") && text.contains("line 5"), "{text}");
}

#[test]
fn page_down_moves_by_the_visible_height_with_one_line_of_overlap() {
    let long: String = (0..40)
        .map(|i| format!("    let step_{i} = {i};"))
        .collect::<Vec<_>>()
        .join("\n");
    let code = format!("```rust\n{long}\n```");
    let mut app = app_on(
        store_with(&[("Show code.", &[code.as_str(), "Short."])]),
        "alice",
    );
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
    draw(&app, 80, 24);
    let visible = app.label.item.as_ref().unwrap().answer_views[pos]
        .get()
        .visible;
    assert!(visible > 3);
    press(&mut app, "pagedown");
    assert_eq!(app.label.item.as_ref().unwrap().scroll[pos], visible - 1);
    // Scrolling stops at the end: one key back up moves at once.
    for _ in 0..20 {
        press(&mut app, "pagedown");
    }
    let end = app.label.item.as_ref().unwrap().scroll[pos];
    draw(&app, 80, 24);
    press(&mut app, "k");
    assert_eq!(app.label.item.as_ref().unwrap().scroll[pos], end - 1);
    // The long code answer as an annotator meets it, from its top.
    app.label.item.as_mut().unwrap().scroll[pos] = 0;
    insta::assert_snapshot!("long_code_80x24", draw(&app, 80, 24).backend());
    insta::assert_snapshot!("long_code_120x40", draw(&app, 120, 40).backend());
}

#[test]
fn a_long_chat_prompt_shows_its_last_turn_first() {
    let mut turns = Vec::new();
    for i in 0..8 {
        turns.push(Message {
            role: if i % 2 == 0 { "user" } else { "assistant" }.into(),
            content: format!("turn {i}: some words about the topic at hand"),
        });
    }
    turns.push(Message {
        role: "user".into(),
        content: "LAST QUESTION: so which is best?".into(),
    });
    let mut store = Store::open_in_memory().unwrap();
    let mut w = store.begin_import().unwrap();
    let p = w
        .add_prompt(&PromptBody::Chat(turns), None, &serde_json::json!({}))
        .unwrap();
    w.add_candidate(p, "This one.", "t").unwrap();
    w.add_candidate(p, "That one.", "t").unwrap();
    w.finish("t", "kibble").unwrap();
    let mut app = app_on(store, "alice");
    let text = screen(&app, 80, 24);
    assert!(text.contains("LAST QUESTION"), "{text}");
    insta::assert_snapshot!("long_chat_80x24", draw(&app, 80, 24).backend());
    insta::assert_snapshot!("long_chat_120x40", draw(&app, 120, 40).backend());
    // Paging the prompt up reaches its beginning.
    press(&mut app, "ctrl-u ctrl-u ctrl-u ctrl-u ctrl-u ctrl-u");
    assert!(screen(&app, 80, 24).contains("turn 0"));
}

#[test]
fn key_map_errors_list_the_actions_and_dropped_keys_are_warned_about() {
    let err = Keymap::load(Some(("mine.toml", "take_back = [\"x\"]\n"))).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with("mine.toml:1: unknown action \"take_back\""),
        "{msg}"
    );
    assert!(msg.contains("unrank") && msg.contains("pick_9"), "{msg}");
    let map = Keymap::load(Some(("mine.toml", "\nsave = [\"ctrl-s\"]\n"))).unwrap();
    assert_eq!(
        map.warnings,
        vec!["mine.toml:2: key \"Enter\" no longer does anything (it was save)".to_string()]
    );
}

#[test]
fn new_prompts_appear_in_an_empty_queue_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.db");
    drop(Store::open(&path).unwrap());
    let mut app = app_on(Store::open(&path).unwrap(), "alice");
    assert!(app.label.item.is_none());
    // Someone imports while the app is open.
    add_xy_prompts(
        &mut Store::open(&path).unwrap(),
        ["new".to_string()].into_iter(),
    );
    assert!(
        !app.tick() || app.label.item.is_none(),
        "not before the next check"
    );
    app.session.clock = kibble::tui::app::Clock::Manual(std::time::Duration::from_secs(11));
    assert!(app.tick(), "redraws when work arrives");
    assert!(app.label.item.is_some());
    assert_eq!(app.session.status, "new work arrived");
}

#[test]
fn guidelines_show_once_per_version_and_on_g() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    {
        let mut s = Store::open(&path).unwrap();
        s.set_guidelines(Some("# Rank by\n- **truth** first\n- then clarity"))
            .unwrap();
    }
    let open = |who: &str| app_on(Store::open(&path).unwrap(), who);
    let mut app = open("alice");
    assert!(matches!(app.session.overlay, Overlay::Guidelines { .. }));
    let text = screen(&app, 80, 24);
    assert!(
        text.contains("Rank by") && text.contains("truth first"),
        "{text}"
    );
    insta::assert_snapshot!("guidelines_80x24", draw(&app, 80, 24).backend());
    insta::assert_snapshot!("guidelines_120x40", draw(&app, 120, 40).backend());
    press(&mut app, "x");
    assert_eq!(app.session.overlay, Overlay::None);
    // Seen: not again for alice, but for bob; and again for alice when they change.
    assert_eq!(open("alice").session.overlay, Overlay::None);
    assert!(matches!(
        open("bob").session.overlay,
        Overlay::Guidelines { .. }
    ));
    Store::open(&path)
        .unwrap()
        .set_guidelines(Some("Rank by truth."))
        .unwrap();
    assert!(matches!(
        open("alice").session.overlay,
        Overlay::Guidelines { .. }
    ));
    // G shows them any time.
    let mut app = open("alice");
    press(&mut app, "x G");
    assert!(matches!(app.session.overlay, Overlay::Guidelines { .. }));
}

#[test]
fn the_history_list_opens_an_earlier_decision_to_change_it() {
    let mut app = app_on(
        store_with(&[("Q1", FOUR), ("Q2", FOUR), ("Q3", FOUR)]),
        "alice",
    );
    press(&mut app, "a b c d enter x");
    let q1 = app.label.history[0].prompt_id;
    press(&mut app, "H");
    let Overlay::History { entries, .. } = &app.session.overlay else {
        panic!("no history list");
    };
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[1].order, "A > B > C > D");
    insta::assert_snapshot!("history_80x24", draw(&app, 80, 24).backend());
    insta::assert_snapshot!("history_120x40", draw(&app, 120, 40).backend());
    // j to the older one (Q1), Enter: it is back to be changed; saving appends a new ranking.
    press(&mut app, "j enter");
    assert_eq!(prompt_of(&app), q1);
    press(&mut app, "esc d c b enter");
    let q1_rankings: Vec<_> = live(&app)
        .into_iter()
        .filter(|r| r.prompt_id == q1)
        .collect();
    assert_eq!(q1_rankings.len(), 1);
    let shown = &q1_rankings[0].shown_order;
    assert_eq!(q1_rankings[0].groups[0], vec![shown[3]]);
    // With something typed on screen, opening another decision is refused, not dropped.
    press(&mut app, "a H enter");
    assert!(
        app.session.status.contains("first"),
        "{}",
        app.session.status
    );
    assert_eq!(app.label.entry.placed(), 1);
}

#[test]
fn stats_count_flags_notes_and_rushed_decisions() {
    let mut app = app_on(store_with(&[("Q1", FOUR), ("Q2", FOUR)]), "alice");
    press(&mut app, "! 1 enter n");
    app.on_key(kibble::tui::key_event(
        kibble::tui::keymap::Key::parse("z").unwrap(),
    ));
    press(&mut app, "enter a b c d enter");
    let s = app.session.store.stats().unwrap();
    assert_eq!((s.flagged, s.noted), (1, 1));
    assert_eq!(s.annotators[0].flagged, 1);
}

#[test]
fn header_data_screen_and_stats_count_the_same_progress() {
    use kibble::jobs::import::{import_reader, ImportOptions};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("count.db");
    {
        let mut s = Store::open(&path).unwrap();
        let pairs = "{\"prompt\":\"p1\",\"chosen\":\"a\",\"rejected\":\"b\"}\n{\"prompt\":\"p2\",\"chosen\":\"a\",\"rejected\":\"b\"}\n";
        import_reader(
            &mut s,
            std::io::Cursor::new(pairs),
            "pairs",
            "pairs",
            ImportOptions::default(),
        )
        .unwrap();
        add_xy_prompts(&mut s, (0..4).map(|i| format!("q{i}")));
    }
    let open = |who: &str, overlap: u32| app_at(&path, who, overlap);
    // Overlap 1: the imported pairs count as done, apart from people's work.
    let mut a = open("a", 1);
    let stats = || Store::open(&path).unwrap().stats().unwrap();
    assert_eq!(a.label.progress.people(), (0, 4));
    assert_eq!(a.label.progress.imported, 2);
    assert_eq!(stats().progress, a.label.progress);
    press(&mut a, "a");
    assert_eq!(a.label.progress.people(), (1, 4));
    assert_eq!(stats().progress, a.label.progress);
    // A session asking for overlap 2 sets it for the DB; the other session follows on its tick.
    let mut b = open("b", 2);
    assert_eq!(stats().overlap, 2);
    a.session.clock = kibble::tui::app::Clock::Manual(std::time::Duration::from_secs(11));
    a.tick();
    assert_eq!(a.session.cfg.queue.overlap, 2);
    assert_eq!(a.label.progress, b.label.progress);
    assert_eq!(stats().progress, b.label.progress);
    // The prompt a ranked is served to b as well; done once both have ranked it.
    press(&mut b, "a");
    press(&mut a, "a");
    a.session.clock = kibble::tui::app::Clock::Manual(std::time::Duration::from_secs(22));
    b.session.clock = kibble::tui::app::Clock::Manual(std::time::Duration::from_secs(22));
    a.tick();
    b.tick();
    assert_eq!(a.label.progress, b.label.progress);
    assert_eq!(stats().progress, a.label.progress);
    assert_eq!(stats().progress.people().0, 1);
}

#[test]
fn flags_and_notes_on_one_answer_are_stored_by_its_id_and_come_back_on_undo() {
    let mut app = app_on(store_with(&[("Q1", FOUR), ("Q2", FOUR)]), "alice");
    press(&mut app, "tab F");
    assert!(matches!(
        app.session.overlay,
        Overlay::Flag {
            answer: Some(1),
            ..
        }
    ));
    assert!(screen(&app, 80, 24).contains("Flag answer B"));
    press(&mut app, "2 enter N");
    type_text(&mut app, "wrong year");
    press(&mut app, "enter");
    assert!(screen(&app, 80, 24).contains("flag: low quality · note"));
    let b = app.label.item.as_ref().unwrap().shown[1].id;
    press(&mut app, "a b c d enter");
    let saved = live(&app).pop().unwrap();
    assert_eq!(saved.answer_marks.len(), 1);
    assert_eq!(saved.answer_marks[0].candidate, b);
    assert_eq!(saved.answer_marks[0].flags, vec!["low quality".to_string()]);
    assert_eq!(saved.answer_marks[0].note.as_deref(), Some("wrong year"));
    // Undo brings them back with the ranking; unchanged, a second undo has nothing to settle.
    press(&mut app, "u");
    assert_eq!(
        app.label.item.as_ref().unwrap().answer_marks,
        saved.answer_marks
    );
    // A backup line carries them by candidate index and imports back the same.
    let mut out = Vec::new();
    press(&mut app, "enter");
    kibble::jobs::export::export(
        &app.session.store,
        &kibble::jobs::export::ExportOptions::new(kibble::data::export::ExportFormat::Kibble),
        &mut out,
        None,
    )
    .unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("\"answer_marks\":[{\"candidate\":"), "{text}");
    let mut fresh = Store::open_in_memory().unwrap();
    kibble::jobs::import::import_reader(
        &mut fresh,
        std::io::Cursor::new(text),
        "backup",
        "backup",
        kibble::jobs::import::ImportOptions::default(),
    )
    .unwrap();
    let back = fresh.live_rankings(&RankingFilter::default()).unwrap();
    let marked: Vec<_> = back.iter().filter(|r| !r.answer_marks.is_empty()).collect();
    assert_eq!(marked.len(), 1);
    assert_eq!(
        marked[0].answer_marks[0].note.as_deref(),
        Some("wrong year")
    );
}

#[test]
fn find_jumps_to_a_prompt_by_text_or_id() {
    let mut app = app_on(
        store_with(&[("Q1 apples", FOUR), ("Q2 pears", FOUR), ("Q3 plums", FOUR)]),
        "alice",
    );
    let first = prompt_of(&app);
    press(&mut app, "/");
    type_text(&mut app, "PLUMS");
    press(&mut app, "enter");
    let plums = prompt_of(&app);
    assert_ne!(plums, first);
    assert!(
        app.session.status.starts_with("found prompt"),
        "{}",
        app.session.status
    );
    // By id; the prompt left goes back to the queue (nothing was typed on it).
    press(&mut app, "/");
    type_text(&mut app, &first.to_string());
    press(&mut app, "enter");
    assert_eq!(prompt_of(&app), first);
    // A prompt I decided is not reopened by find: H is the way to change it.
    press(&mut app, "a b c d enter /");
    type_text(&mut app, "apples");
    press(&mut app, "enter");
    assert!(
        app.session.status.contains("decided by you"),
        "{}",
        app.session.status
    );
    // With a ranking typed, find refuses rather than dropping it.
    press(&mut app, "a /");
    type_text(&mut app, "pears");
    press(&mut app, "enter");
    assert!(
        app.session.status.contains("first save or clear"),
        "{}",
        app.session.status
    );
    assert_eq!(app.label.entry.placed(), 1);
}

#[test]
fn a_message_that_does_not_fit_beside_the_ranking_is_shown_first() {
    let nine = nine();
    let refs: Vec<&str> = nine.iter().map(String::as_str).collect();
    let mut app = app_on(store_with(&[("Nine.", &refs)]), "alice");
    press(&mut app, "s ! 1 enter a = b = c = d = e = f enter");
    let text = screen(&app, 80, 24);
    let status_row = text.lines().nth(22).unwrap();
    assert!(
        status_row.starts_with("3 answers unranked (the last may be left out)"),
        "{status_row}"
    );
    // With room for both, the ranking comes first as always.
    let wide = screen(&app, 160, 40);
    assert!(
        wide.lines().nth(38).unwrap().starts_with("rank: A = B"),
        "{wide}"
    );
}

#[test]
fn the_end_of_the_queue_sums_up_my_agreement_with_others() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("end.db");
    add_xy_prompts(
        &mut Store::open(&path).unwrap(),
        (0..2).map(|i| format!("q{i}")),
    );
    let mut a = app_at(&path, "a", 2);
    let mut b = app_at(&path, "b", 2);
    press(&mut a, "a a");
    press(&mut b, "a a");
    assert!(b.label.item.is_none());
    let q = b
        .label
        .my_quality
        .as_ref()
        .expect("read when the queue ran out");
    assert!(q.compared_pairs > 0);
    let text = screen(&b, 120, 40);
    assert!(
        text.contains("Your pairs agree with other annotators'"),
        "{text}"
    );
}

/// `--only tag:NAME` / `source:PREFIX`: a session is served only the prompts it asks for, says so
/// in the header, and says what ran out when none is left.
#[test]
fn a_session_can_be_served_only_a_tag_or_a_source() {
    use kibble::store::QueueFilter;
    let mut store = Store::open_in_memory().unwrap();
    let mut w = store.begin_import().unwrap();
    for (i, (tags, source)) in [
        (vec!["code"], "import:a"),
        (vec!["chat"], "policy:3/round1"),
        (vec!["code", "chat"], "policy:4/round2"),
        (vec![], "import:b"),
    ]
    .into_iter()
    .enumerate()
    {
        let p = w
            .add_prompt(
                &PromptBody::Text(format!("prompt {i}")),
                None,
                &serde_json::json!({ "tags": tags }),
            )
            .unwrap();
        w.add_candidate(p, "x", source).unwrap();
        w.add_candidate(p, "y", source).unwrap();
    }
    w.finish("t", "kibble").unwrap();
    let served = |store: &mut Store, who: &str, only: &[&str]| {
        let mut f = QueueFilter::default();
        for o in only {
            f.add(o).unwrap();
        }
        let mut got = Vec::new();
        while let Some(p) = store.claim_next_where(who, Default::default(), &f).unwrap() {
            got.push(p);
            store.release_lease(p, who).unwrap();
            // Decided, so it is not served again.
            let ids: Vec<i64> = store.candidates(p).unwrap().iter().map(|c| c.id).collect();
            store
                .append_ranking(&kibble::domain::NewRanking {
                    prompt_id: p,
                    annotator: who.into(),
                    os_user: None,
                    created_at_ms: 0,
                    duration_ms: None,
                    shown_order: ids.clone(),
                    verdict: kibble::domain::Verdict::Skip,
                    mode: kibble::domain::RankingMode::Full,
                    groups: vec![],
                    strength: None,
                    flags: vec![],
                    note: None,
                    rushed: false,
                    answer_marks: vec![],
                    dedupe_key: None,
                    task_version: 1,
                    criterion: None,
                    judgements: vec![],
                })
                .unwrap();
        }
        got
    };
    assert_eq!(served(&mut store, "a", &["tag:code"]), vec![1, 3]);
    assert_eq!(served(&mut store, "b", &["source:policy"]), vec![2, 3]);
    assert_eq!(
        served(&mut store, "c", &["tag:chat", "source:policy:4"]),
        vec![3]
    );
    assert_eq!(served(&mut store, "d", &[]), vec![1, 2, 3, 4]);
    let e = QueueFilter::default().add("colour:red").unwrap_err();
    assert!(e.contains("tag:NAME"), "{e}");

    let mut cfg = AppConfig::new("e");
    cfg.db_label = "test.db".into();
    cfg.color = false;
    cfg.only.add("tag:code").unwrap();
    let mut app = App::new(
        store,
        cfg,
        Keymap::load(None).unwrap(),
        Clock::Manual(std::time::Duration::ZERO),
    )
    .unwrap();
    assert_eq!(app.label.item.as_ref().unwrap().prompt.id, 1);
    let text = screen(&app, 80, 24);
    assert!(text.contains("· only tag:code ·"), "{text}");
    press(&mut app, "x x");
    let text = screen(&app, 80, 24);
    assert!(
        text.contains("Nothing left to label among tag:code."),
        "{text}"
    );
}

/// Review mode: a reviewer is served the prompt annotators disagree on, sees each one's ranking
/// in their own letters, and their ranking becomes its gold answer (undo takes it back);
/// `--prefer-gold` exports it instead of the annotators' rankings.
#[test]
fn review_mode_adjudicates_disagreements_into_gold() {
    use common::{app_with, keys_for_order};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db");
    {
        let mut store = Store::open(&path).unwrap();
        let mut w = store.begin_import().unwrap();
        for i in 0..3 {
            let p = w
                .add_prompt(
                    &PromptBody::Text(format!("question {i}")),
                    None,
                    &serde_json::json!({}),
                )
                .unwrap();
            for a in ["alpha", "beta", "gamma"] {
                w.add_candidate(p, &format!("{a} {i}"), "t").unwrap();
            }
        }
        w.finish("t", "kibble").unwrap();
    }
    // ann and bob agree on questions 1 and 2, and order question 0 oppositely; bob flags
    // question 2 (a flag asks for a second look too).
    for (who, first) in [
        ("ann", ["alpha", "beta", "gamma"]),
        ("bob", ["gamma", "beta", "alpha"]),
    ] {
        let mut app = app_at(&path, who, 2);
        while let Some(item) = app.label.item.clone() {
            let order = if item.prompt.id == 1 {
                first
            } else {
                ["alpha", "beta", "gamma"]
            };
            if who == "bob" && item.prompt.id == 3 {
                press(&mut app, "! 1 enter");
            }
            let keys = keys_for_order(&app, &order);
            press(&mut app, &keys);
        }
    }
    let mut cfg = AppConfig::new("rev");
    cfg.review = true;
    cfg.db_label = "r.db".into();
    let mut app = app_with(&path, cfg);
    assert_eq!(
        app.label.item.as_ref().unwrap().prompt.id,
        1,
        "the disagreement"
    );
    let others = &app.label.item.as_ref().unwrap().others;
    assert_eq!(others.len(), 2);
    insta::assert_snapshot!("review_80x24", screen(&app, 80, 24));
    insta::assert_snapshot!("review_120x40", screen(&app, 120, 40));
    let keys = keys_for_order(&app, &["beta", "alpha", "gamma"]);
    press(&mut app, &keys);
    assert_eq!(
        app.label.item.as_ref().unwrap().prompt.id,
        3,
        "the flagged one"
    );
    let keys = keys_for_order(&app, &["alpha", "beta", "gamma"]);
    press(&mut app, &keys);
    assert!(app.label.item.is_none(), "nothing else to review");
    assert!(screen(&app, 80, 24).contains("No disagreements left to review."));
    let gold = |app: &App| app.session.store.gold_answers().unwrap().get(&1).cloned();
    let texts = |app: &App, g: Vec<Vec<i64>>| -> Vec<String> {
        g.iter()
            .flatten()
            .map(|id| app.session.store.candidate(*id).unwrap().unwrap().text)
            .collect()
    };
    assert_eq!(
        texts(&app, gold(&app).unwrap()),
        ["beta 0", "alpha 0", "gamma 0"]
    );
    // Undo takes the gold back and brings the prompt back; saving again sets it again.
    press(&mut app, "u u");
    assert_eq!(gold(&app), None);
    assert_eq!(app.label.item.as_ref().unwrap().prompt.id, 1);
    press(&mut app, "enter");
    assert!(gold(&app).is_some());
    // Exports: the reviewer's pairs alone for question 0, everyone's elsewhere.
    let export = |prefer_gold: bool| {
        let mut out = Vec::new();
        let opts = kibble::jobs::export::ExportOptions {
            prefer_gold,
            ..kibble::jobs::export::ExportOptions::new(kibble::data::export::ExportFormat::Trl)
        };
        kibble::jobs::export::export(&app.session.store, &opts, &mut out, None).unwrap();
        String::from_utf8(out).unwrap()
    };
    let q0 = |text: &str| text.lines().filter(|l| l.contains("question 0")).count();
    assert_eq!(
        q0(&export(false)),
        9,
        "ann's, bob's and the reviewer's pairs"
    );
    assert_eq!(q0(&export(true)), 3, "the gold answer's pairs only");
    // Questions 0 and 2 (flagged) have gold: 3 pairs each; question 1 has ann's and bob's.
    assert_eq!(export(true).lines().count(), 3 + 2 * 3 + 3);
}
