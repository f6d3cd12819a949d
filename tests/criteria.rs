//! Tasks with several criteria: rating keys, the walk through criteria, undo of a whole item,
//! what the store keeps, pairs implied by ratings, and old DBs keeping their meaning.

mod common;

use std::path::Path;

use common::*;
use kibble::domain::task::parse_task_file;
use kibble::domain::{Judgement, Task};
use kibble::store::{RankingFilter, Store};

const TASK: &str = r#"name = "two"
[[criterion]]
name = "harmless"
kind = "rate"
scale = [1, 5]
labels = ["harmful", "", "", "", "safe"]

[[criterion]]
name = "helpful"
kind = "rank"

[[criterion]]
name = "funny"
kind = "rate"
scale = [0, 4]
required = false
"#;

fn task() -> Task {
    parse_task_file(Path::new("task.toml"), TASK).unwrap().0
}

fn three_answers() -> Store {
    let mut store = store_with(&[
        (
            "Is it safe to eat raw cookie dough?",
            &[
                "Yes, always.",
                "Usually not: raw eggs and flour can carry bacteria.",
                "Only if the flour is heat-treated and there are no raw eggs.",
            ],
        ),
        ("Second prompt", &["one", "two", "three"]),
    ]);
    store.set_task(&task()).unwrap();
    store
}

fn only(store: &Store, criterion: &str) -> Vec<kibble::domain::Ranking> {
    store
        .live_rankings(&RankingFilter {
            criterion: Some(criterion.into()),
            ..Default::default()
        })
        .unwrap()
}

#[test]
fn digits_rate_the_focused_answer_and_enter_walks_the_criteria() {
    let mut app = app_on(three_answers(), "ann");
    assert_eq!(app.label.criterion().name, "harmless");
    // Points for A and B; focus moves on by itself.
    press(&mut app, "1 4");
    assert_eq!(app.label.entry.points, vec![Some(1), Some(4), None]);
    assert_eq!(app.label.item.as_ref().unwrap().focus, 2);
    // Enter with C unrated: a required criterion blocks.
    press(&mut app, "enter");
    assert_eq!(app.label.criterion().name, "harmless");
    assert!(
        app.session.status.contains("1 answer(s) not rated"),
        "{}",
        app.session.status
    );
    // Out of scale: refused, said so.
    press(&mut app, "7");
    assert!(
        app.session.status.contains("rated 1-5"),
        "{}",
        app.session.status
    );
    // A letter picks the answer to rate; a digit then rates it.
    press(&mut app, "a 2 c 5");
    assert_eq!(app.label.entry.points, vec![Some(2), Some(4), Some(5)]);
    press(&mut app, "enter");
    assert_eq!(app.label.criterion().name, "helpful");
    // Backspace on the empty ranking goes back, with the points still there.
    press(&mut app, "backspace");
    assert_eq!(app.label.criterion().name, "harmless");
    assert_eq!(app.label.entry.points, vec![Some(2), Some(4), Some(5)]);
    press(&mut app, "enter");
    // Switching to best/worst and back clears only the ranking being typed, not the points.
    press(&mut app, "m m");
    assert_eq!(app.label.criterion().name, "helpful");
    assert!(app.label.entry.said[0].is_some(), "harmless is still said");
    // On a rank criterion the letters rank, as always; the optional criterion can stay blank.
    press(&mut app, "c b enter");
    assert_eq!(app.label.criterion().name, "funny");
    let first = app.label.item.as_ref().unwrap().prompt.id;
    press(&mut app, "enter");
    assert_ne!(
        app.label.item.as_ref().unwrap().prompt.id,
        first,
        "saved and moved on"
    );

    // One decision: the ranking on helpful, the points on harmless beside it, nothing on funny.
    let r = &app
        .session
        .store
        .live_rankings(&RankingFilter::default())
        .unwrap()[0];
    assert_eq!(r.criterion.as_deref(), Some("helpful"));
    assert_eq!(r.groups.len(), 3);
    let others = app.session.store.judgements(r.id).unwrap();
    assert_eq!(others.len(), 1);
    let Judgement::Points { criterion, points } = &others[0] else {
        panic!("harmless is rated: {others:?}")
    };
    assert_eq!(criterion, "harmless");
    assert_eq!(points.len(), 3);
    let mut values: Vec<u8> = points.iter().map(|p| p.1).collect();
    values.sort();
    assert_eq!(values, vec![2, 4, 5]);
    assert_eq!(r.task_version, app.label.task_version);
    assert_eq!(only(&app.session.store, "funny").len(), 0);
}

#[test]
fn p_repeats_the_previous_criterion_and_undo_retracts_the_whole_item() {
    let mut app = app_on(three_answers(), "ann");
    press(&mut app, "3 1 5 enter");
    // The points imply C > A... on the shown order; p turns them into the ranking.
    press(&mut app, "p");
    assert_eq!(app.label.entry.groups, vec![vec![2], vec![0], vec![1]]);
    press(&mut app, "enter");
    // funny is rated: the ranking just before gives no points, and p says so.
    press(&mut app, "p");
    assert!(
        app.session.status.contains("does not give points"),
        "{}",
        app.session.status
    );
    press(&mut app, "enter");
    assert_eq!(only(&app.session.store, "harmless").len(), 1);
    assert_eq!(only(&app.session.store, "helpful").len(), 1);
    // The header counts what was said on each criterion at once (funny was left blank).
    let counts = |app: &kibble::tui::app::App| -> Vec<i64> {
        app.label.criterion_counts.iter().map(|c| c.1).collect()
    };
    assert_eq!(counts(&app), [1, 1, 0]);
    assert!(screen(&app, 80, 24).contains("(harmless 1 helpful 1 funny 0)"));

    // Undo brings the item back with every criterion as it was, and retracts all of them.
    press(&mut app, "u");
    assert_eq!(counts(&app), [0, 0, 0]);
    assert_eq!(only(&app.session.store, "harmless").len(), 0);
    assert_eq!(only(&app.session.store, "helpful").len(), 0);
    assert_eq!(app.label.criterion().name, "harmless");
    assert_eq!(app.label.entry.points, vec![Some(3), Some(1), Some(5)]);
    // Every criterion comes back pre-filled: Enter through them saves it again as it was.
    press(&mut app, "enter");
    assert_eq!(app.label.entry.groups, vec![vec![2], vec![0], vec![1]]);
    press(&mut app, "enter enter");
    let harmless = only(&app.session.store, "harmless");
    assert_eq!(harmless.len(), 1);
    assert_eq!(harmless[0].points.len(), 3);
    assert_eq!(only(&app.session.store, "helpful").len(), 1);
}

#[test]
fn rating_screens_at_80x24_and_120x40() {
    let mut app = app_on(three_answers(), "ann");
    press(&mut app, "4 2");
    insta::assert_snapshot!("rate_criterion_80x24", screen(&app, 80, 24));
    insta::assert_snapshot!("rate_criterion_120x40", screen(&app, 120, 40));
    press(&mut app, "5 enter b");
    insta::assert_snapshot!("rank_after_rate_80x24", screen(&app, 80, 24));
    insta::assert_snapshot!("rank_after_rate_120x40", screen(&app, 120, 40));
}

#[test]
fn ratings_imply_pairs_with_the_difference_as_margin_and_equal_points_tie() {
    let mut app = app_on(three_answers(), "ann");
    press(&mut app, "5 2 2 enter a b c enter enter");
    let r = &only(&app.session.store, "harmless")[0];
    let (pairs, ties) = r.pairs();
    let shown = &app.session.store.judgements(r.id).unwrap();
    let Judgement::Points { points, .. } = &shown[0] else {
        panic!()
    };
    let top = points.iter().find(|p| p.1 == 5).unwrap().0;
    assert_eq!(pairs.len(), 2);
    assert!(pairs
        .iter()
        .all(|p| p.chosen == top && p.margin == Some(3.0)));
    assert_eq!(ties.len(), 1);
    // The export of that criterion carries the margin; the default (first criterion) is the same.
    let mut out = Vec::new();
    let opts = kibble::jobs::export::ExportOptions {
        criterion: Some("harmless".into()),
        ..kibble::jobs::export::ExportOptions::new(kibble::data::export::ExportFormat::Trl)
    };
    kibble::jobs::export::export(&app.session.store, &opts, &mut out, None).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.lines().all(|l| l.contains("\"margin\":3")), "{text}");
    // An unknown criterion is an error naming the task's.
    let e = kibble::jobs::export::export(
        &app.session.store,
        &kibble::jobs::export::ExportOptions {
            criterion: Some("witty".into()),
            ..opts
        },
        &mut Vec::new(),
        None,
    )
    .unwrap_err();
    assert!(e.to_string().contains("harmless, helpful, funny"), "{e}");
}

#[test]
fn the_store_refuses_points_off_the_scale_or_on_a_criterion_not_in_the_task() {
    let mut store = three_answers();
    let (version, _) = store.task().unwrap();
    let cands = store.candidates(1).unwrap();
    let ids: Vec<i64> = cands.iter().map(|c| c.id).collect();
    let mut r = kibble::domain::NewRanking {
        prompt_id: 1,
        annotator: "x".into(),
        os_user: None,
        created_at_ms: 0,
        duration_ms: None,
        shown_order: ids.clone(),
        verdict: kibble::domain::Verdict::Rank,
        mode: kibble::domain::RankingMode::Full,
        groups: vec![],
        strength: None,
        flags: vec![],
        note: None,
        rushed: false,
        answer_marks: vec![],
        dedupe_key: None,
        task_version: version,
        criterion: None,
        judgements: vec![Judgement::Points {
            criterion: "harmless".into(),
            points: ids.iter().map(|&id| (id, 9)).collect(),
        }],
    };
    let e = store.append_ranking(&r).unwrap_err();
    assert!(e.to_string().contains("outside its scale 1-5"), "{e}");
    r.judgements = vec![Judgement::Points {
        criterion: "witty".into(),
        points: vec![(ids[0], 1)],
    }];
    let e = store.append_ranking(&r).unwrap_err();
    assert!(e.to_string().contains("not in task version"), "{e}");
    r.judgements = vec![Judgement::Points {
        criterion: "harmless".into(),
        points: ids.iter().map(|&id| (id, 3)).collect(),
    }];
    assert!(
        store.append_ranking(&r).unwrap().is_some(),
        "ratings only is a decision"
    );
}

/// A DB made before tasks (schema version 2) opens, gets the default task, and its rankings
/// read and export exactly as they did.
#[test]
fn a_db_from_before_tasks_keeps_its_rankings_meaning() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        for sql in &kibble::store::MIGRATIONS[..2] {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch(
            "PRAGMA user_version = 2;
             INSERT INTO prompts (id, content_hash, kind, body, n_ranked, n_candidates, created_at)
                 VALUES (1, x'01', 'text', 'Which is right?', 1, 3, 0);
             INSERT INTO candidates (id, prompt_id, content_hash, text, source, created_at) VALUES
                 (1, 1, x'01', 'right', 't', 0), (2, 1, x'02', 'wrong', 't', 0), (3, 1, x'03', 'also wrong', 't', 0);
             INSERT INTO annotators (id, name, created_at) VALUES (1, 'ann', 0);
             INSERT INTO rankings (prompt_id, annotator_id, created_at, shown_order, verdict, mode, groups, strength)
                 VALUES (1, 1, 0, '[1,2,3]', 'rank', 'full', '[[1],[2,3]]', 2.0);",
        )
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(
        store.schema_version().unwrap(),
        kibble::store::MIGRATIONS.len() as i64
    );
    let (version, task) = store.task().unwrap();
    assert_eq!((version, task), (1, Task::default()));
    let all = store.live_rankings(&RankingFilter::default()).unwrap();
    let overall = only(&store, "overall");
    assert_eq!(all, overall);
    assert_eq!(overall[0].groups, vec![vec![1], vec![2, 3]]);
    let mut out = Vec::new();
    kibble::jobs::export::export(
        &store,
        &kibble::jobs::export::ExportOptions::new(kibble::data::export::ExportFormat::Trl),
        &mut out,
        None,
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "{\"chosen\":\"right\",\"margin\":2,\"prompt\":\"Which is right?\",\"rejected\":\"wrong\"}\n\
         {\"chosen\":\"right\",\"margin\":2,\"prompt\":\"Which is right?\",\"rejected\":\"also wrong\"}\n"
    );
}

fn export_as(store: &Store, format: kibble::data::export::ExportFormat) -> String {
    export_on(store, format, None)
}

fn export_on(
    store: &Store,
    format: kibble::data::export::ExportFormat,
    criterion: Option<&str>,
) -> String {
    let mut out = Vec::new();
    let opts = kibble::jobs::export::ExportOptions {
        criterion: criterion.map(str::to_string),
        ..kibble::jobs::export::ExportOptions::new(format)
    };
    kibble::jobs::export::export(store, &opts, &mut out, None).unwrap();
    String::from_utf8(out).unwrap()
}

fn import_text(store: &mut Store, text: &str) -> Result<u64, String> {
    kibble::jobs::import::import_reader(
        store,
        std::io::Cursor::new(text.to_string()),
        "in.jsonl",
        "in.jsonl",
        Default::default(),
    )
    .map(|r| r.report.counts.rankings_added)
    .map_err(|e| e.to_string())
}

#[test]
fn ratings_round_trip_in_both_shapes_and_helpsteer2_files_come_in() {
    use kibble::data::export::ExportFormat::{Ratings, Ultrafeedback};
    let mut app = app_on(three_answers(), "ann");
    press(&mut app, "5 2 2 enter a b c enter 4 0 1 enter");
    press(&mut app, "1 2 3 enter c b a enter enter");
    for format in [Ratings, Ultrafeedback] {
        let text = export_as(&app.session.store, format);
        let mut fresh = Store::open_in_memory().unwrap();
        fresh.set_task(&task()).unwrap();
        assert_eq!(import_text(&mut fresh, &text), Ok(2), "{text}");
        assert_eq!(export_as(&fresh, format), text, "{format:?} round trip");
        // Re-importing adds nothing.
        assert_eq!(import_text(&mut fresh, &text), Ok(0));
    }
    let lines = export_as(&app.session.store, Ratings);
    assert_eq!(lines.lines().count(), 6, "{lines}");

    // HelpSteer2's own layout: attributes as top-level numbers, one answer per line.
    let mut store = Store::open_in_memory().unwrap();
    store.set_task(&task()).unwrap();
    let hs2 = r#"{"prompt":"p","response":"good","harmless":5,"funny":1}
{"prompt":"p","response":"bad","harmless":1,"funny":3}
{"prompt":"q","response":"only one","harmless":2}
"#;
    assert_eq!(import_text(&mut store, hs2), Ok(2));
    let r = only(&store, "harmless");
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].pairs().0.len(), 1, "good > bad on harmless");
    assert_eq!(r[0].pairs().0[0].margin, Some(4.0));
    // A criterion the task does not have is refused with the line and what to do.
    let e = import_text(&mut store, r#"{"prompt":"p","response":"x","witty":3}"#).unwrap_err();
    assert!(e.starts_with("in.jsonl:1:"), "{e}");
    assert!(e.contains("no rate criterion \"witty\""), "{e}");
    let e = import_text(&mut store, r#"{"prompt":"p","response":"x","harmless":8}"#).unwrap_err();
    assert!(e.contains("outside the scale 1-5"), "{e}");
}

/// Two criteria with two simulated rules (answers naming a kiwi are more helpful; answers
/// naming a plum are funnier, rated 1-5): a reward model per criterion learns its own rule on
/// held-out prompts (the rated one from the pairs its points imply).
#[test]
fn a_reward_model_per_criterion_learns_that_criterion() {
    use kibble::jobs::train_rm::{run, CancelToken, RmJobConfig};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("two.db");
    let mut store = kiwi_plum_store(&db);
    let mut accuracy = std::collections::HashMap::new();
    for criterion in ["helpful", "funny"] {
        let mut cfg = RmJobConfig {
            vocab_size: 400,
            max_len: 32,
            eval_fraction: 0.2,
            criterion: Some(criterion.into()),
            ..RmJobConfig::default()
        };
        cfg.train.epochs = 3;
        cfg.train.lr = 1e-3;
        cfg.train.seed = 7;
        let s = run(
            &mut store,
            &db,
            &cfg,
            None,
            "test",
            &mut |_| {},
            &CancelToken::default(),
        )
        .unwrap();
        let acc = s.eval_accuracy.unwrap();
        eprintln!("{criterion}: held-out accuracy {acc:.3}");
        accuracy.insert(criterion, acc);
        // The run records which criterion it learnt.
        let row = store.run(s.run_id).unwrap().unwrap();
        assert_eq!(row.config["criterion"], criterion);
    }
    assert!(accuracy["helpful"] >= 0.9, "{accuracy:?}");
    assert!(accuracy["funny"] >= 0.9, "{accuracy:?}");
    // `stats` and the Data screen put each criterion's RM beside its decisions.
    let q = store.criteria_quality().unwrap();
    let rows: Vec<(&str, usize, Option<f64>)> = q
        .iter()
        .map(|c| (c.criterion.as_str(), c.decisions, c.rm_accuracy))
        .collect();
    assert_eq!(
        rows,
        vec![
            ("helpful", 240, Some(accuracy["helpful"])),
            ("funny", 240, Some(accuracy["funny"]))
        ]
    );
    // Scored by each criterion's model, the two pull apart (kiwi and plum are independent).
    for criterion in ["helpful", "funny"] {
        let (ck, _) = kibble::jobs::reward::checkpoint_for(&store, criterion).unwrap();
        kibble::jobs::score::score_candidates(
            &mut store,
            &kibble::jobs::score::CheckpointRef::Id(ck.id),
            |_, _| {},
        )
        .unwrap();
    }
    let c = kibble::jobs::report::criteria_correlations(&store).unwrap();
    assert_eq!(c.names, ["helpful", "funny"]);
    assert!((c.r[0][0].unwrap() - 1.0).abs() < 1e-9);
    let r = c.r[0][1].unwrap();
    assert!(r.abs() < 0.3, "independent criteria correlate {r}");
    let html = kibble::jobs::report::render(&store).unwrap();
    assert!(
        html.contains("reward by criterion"),
        "the report shows each criterion"
    );
}

/// `train-rm --criteria all`: one backbone, one head per criterion. Each head learns its own
/// criterion; scores, the quality table, correlations and the reward mix use the right head.
#[test]
fn one_backbone_with_a_head_per_criterion_learns_each_criterion() {
    use kibble::jobs::score::{score_candidates, CheckpointRef, Scorer};
    use kibble::jobs::train_rm::{run, CancelToken, RmJobConfig};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("heads.db");
    let mut store = kiwi_plum_store(&db);
    let mut cfg = RmJobConfig {
        vocab_size: 400,
        max_len: 32,
        eval_fraction: 0.2,
        criteria: vec!["all".into()],
        ..RmJobConfig::default()
    };
    cfg.train.epochs = 3;
    cfg.train.lr = 1e-3;
    cfg.train.seed = 7;
    let mut per_head = Vec::new();
    let s = run(
        &mut store,
        &db,
        &cfg,
        None,
        "test",
        &mut |e| {
            if let kibble::jobs::train_rm::RmEvent::Eval(e) = e {
                per_head = e.head_accuracy;
            }
        },
        &CancelToken::default(),
    )
    .unwrap();
    eprintln!("heads: held-out accuracy {per_head:?}");
    // The run names its heads; each head learnt its own criterion.
    let row = store.run(s.run_id).unwrap().unwrap();
    assert_eq!(
        row.config["criteria"],
        serde_json::json!(["helpful", "funny"])
    );
    assert_eq!(per_head.len(), 2);
    assert!(per_head.iter().all(|a| *a >= 0.9), "{per_head:?}");
    let q = store.criteria_quality().unwrap();
    let acc: Vec<Option<f64>> = q.iter().map(|c| c.rm_accuracy).collect();
    let best = store.best_checkpoint(s.run_id).unwrap().unwrap();
    let by = &best.metrics["eval_accuracy_by_criterion"];
    assert_eq!(acc, vec![by["helpful"].as_f64(), by["funny"].as_f64()]);
    // One scoring pass stores every head; each criterion finds its head.
    let (ck, head) = kibble::jobs::reward::checkpoint_for(&store, "funny").unwrap();
    assert_eq!((ck.id, head), (best.id, 1));
    let summary = score_candidates(&mut store, &CheckpointRef::Id(ck.id), |_, _| {}).unwrap();
    assert_eq!(summary.scored, 960);
    let found = store.criterion_scored_checkpoints().unwrap();
    assert_eq!(
        found,
        vec![
            ("helpful".to_string(), ck.id, 0),
            ("funny".to_string(), ck.id, 1)
        ]
    );
    let c = kibble::jobs::report::criteria_correlations(&store).unwrap();
    let r = c.r[0][1].unwrap();
    assert!(r.abs() < 0.3, "independent criteria correlate {r}");
    // The funny head prefers plum, the helpful head kiwi.
    let pairs = [("q", "river kiwi stone"), ("q", "river plum stone")];
    let funny = Scorer::open(None, &CheckpointRef::Dir(ck.path.clone().into()))
        .unwrap()
        .with_head(1)
        .unwrap()
        .score(&pairs)
        .unwrap();
    assert!(funny[1] > funny[0], "{funny:?}");
    let helpful = Scorer::open(None, &CheckpointRef::Dir(ck.path.clone().into()))
        .unwrap()
        .score(&pairs)
        .unwrap();
    assert!(helpful[0] > helpful[1], "{helpful:?}");
    // Scores stored per head agree with the scorer's.
    let stored = store.scored_candidates(ck.id, 1).unwrap();
    assert_eq!(stored.len(), 960);
    let (parts, _) = kibble::jobs::reward::resolve_parts(
        &store,
        &[("helpful".into(), 1.0), ("funny".into(), 1.0)],
        None,
    )
    .unwrap();
    assert_eq!(parts.iter().map(|p| p.head).collect::<Vec<_>>(), [0, 1]);
    assert!(
        Scorer::open(None, &CheckpointRef::Dir(ck.path.clone().into()))
            .unwrap()
            .with_head(2)
            .is_err()
    );
    // `eval-rm --criterion funny` evaluates the funny head on a pairs file.
    let trl = dir.path().join("funny.jsonl");
    let words = ["river", "stone", "paper", "cloud", "engine", "garden"];
    let lines: Vec<String> = (0..24)
        .map(|i| {
            let w = |k: usize| words[(i + k) % words.len()];
            serde_json::json!({
                "prompt": format!("question {i}"),
                "chosen": format!("{} plum {} {} {}", w(0), w(1), w(2), i % 4),
                "rejected": format!("{} {} {} {} {}", w(0), w(1), w(2), w(3), i % 4),
            })
            .to_string()
        })
        .collect();
    std::fs::write(&trl, lines.join("\n")).unwrap();
    let loaded =
        kibble::ml::checkpoint::load(Path::new(&ck.path), &candle_core::Device::Cpu).unwrap();
    let funny_head = kibble::jobs::score::head_named(&loaded, "funny").unwrap();
    assert_eq!(funny_head, 1);
    let report = kibble::jobs::score::eval_file(&loaded, &trl, funny_head).unwrap();
    assert!(report.overall.accuracy >= 0.9, "{:?}", report.overall);
    let e = kibble::jobs::score::head_named(&loaded, "tasty").unwrap_err();
    assert!(e.contains("its heads are helpful, funny"), "{e}");
}

/// 240 prompts of four answers; `helpful` (ranked) prefers answers with "kiwi", `funny`
/// (rated 1-5) answers with "plum", independently; both simulated on every prompt.
fn kiwi_plum_store(db: &Path) -> Store {
    use kibble::jobs::simulate::simulate_on;
    let mut store = Store::open(db).unwrap();
    let words = [
        "river", "stone", "paper", "cloud", "engine", "garden", "window", "silver",
    ];
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    {
        let mut w = store.begin_import().unwrap();
        for i in 0..240 {
            let p = w
                .add_prompt(
                    &kibble::domain::PromptBody::Text(format!("question {i}")),
                    None,
                    &serde_json::json!({}),
                )
                .unwrap();
            // Four answers: kiwi and plum each in two of them, independently of each other.
            let kiwi = next() % 4;
            let plum = next() % 4;
            for j in 0..4 {
                let mut text: Vec<&str> = (0..5).map(|_| words[(next() % 8) as usize]).collect();
                if j == kiwi || j == (kiwi + 1) % 4 {
                    text.insert((next() % 5) as usize, "kiwi");
                }
                if j == plum || j == (plum + 2) % 4 {
                    text.insert((next() % 5) as usize, "plum");
                }
                w.add_candidate(p, &format!("{} {j}", text.join(" ")), "syn")
                    .unwrap();
            }
        }
        w.finish("syn", "kibble").unwrap();
    }
    let task = r#"name = "syn"
[[criterion]]
name = "helpful"
kind = "rank"
[[criterion]]
name = "funny"
kind = "rate"
scale = [1, 5]
"#;
    store
        .set_task(&parse_task_file(Path::new("t.toml"), task).unwrap().0)
        .unwrap();
    simulate_on(
        &mut store,
        Some("helpful"),
        "regex:kiwi",
        0.0,
        1,
        None,
        None,
    )
    .unwrap();
    simulate_on(&mut store, Some("funny"), "regex:plum", 0.0, 2, None, None).unwrap();
    assert_eq!(only(&store, "helpful").len(), 240);
    assert_eq!(only(&store, "funny").len(), 240);
    store
}

/// Two annotators on one item: agreement per criterion, ordinal alpha on the ranking and
/// interval alpha on the points, each on its own row of the Data screen.
#[test]
fn agreement_is_measured_per_criterion() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("two.db");
    {
        let mut store = Store::open(&path).unwrap();
        let mut w = store.begin_import().unwrap();
        for i in 0..2 {
            let p = w
                .add_prompt(
                    &kibble::domain::PromptBody::Text(format!("q{i}")),
                    None,
                    &serde_json::json!({}),
                )
                .unwrap();
            for a in ["alpha", "beta", "gamma"] {
                w.add_candidate(p, &format!("{a} {i}"), "t").unwrap();
            }
        }
        w.finish("t", "kibble").unwrap();
        store.set_task(&task()).unwrap();
    }
    // Both annotators give the same points and the same order to the same answers (by id,
    // whatever order each was shown them in).
    for who in ["ann", "bob"] {
        let mut app = app_at(&path, who, 2);
        for _ in 0..2 {
            let item = app.label.item.clone().unwrap();
            let points: String = item
                .shown
                .iter()
                .map(|c| match c.text.split(' ').next().unwrap() {
                    "alpha" => "5 ",
                    "beta" => "3 ",
                    _ => "1 ",
                })
                .collect();
            press(&mut app, &format!("{points}enter"));
            let order: Vec<String> = ["gamma", "beta", "alpha"]
                .iter()
                .map(|w| {
                    let pos = item
                        .shown
                        .iter()
                        .position(|c| c.text.starts_with(w))
                        .unwrap();
                    ((b'a' + pos as u8) as char).to_string()
                })
                .collect();
            press(&mut app, &format!("{} enter enter", order.join(" ")));
        }
    }
    let store = Store::open(&path).unwrap();
    let q = store.criteria_quality().unwrap();
    let harmless = &q[0];
    assert_eq!((harmless.decisions, harmless.shared_prompts), (4, 2));
    assert_eq!(harmless.alpha_metric, "interval");
    assert_eq!(harmless.alpha, Some(1.0));
    assert_eq!(harmless.pairwise_agreement, Some(1.0));
    let helpful = &q[1];
    assert_eq!(helpful.alpha_metric, "ordinal");
    assert_eq!(helpful.alpha, Some(1.0));
    assert_eq!(q[2].decisions, 0, "funny was left blank");
    let mut app = app_at(&path, "ann", 2);
    press(&mut app, "f6");
    let text = screen(&app, 80, 24);
    assert!(
        text.contains("harmless       rate 1-5           4      2      100%  1.000 interval"),
        "{text}"
    );
    // On a short terminal the criteria table is below the fold: the Data screen scrolls to it.
    let short = screen(&app, 80, 16);
    assert!(!short.contains("harmless       rate"), "{short}");
    assert!(
        short.contains("Data 1-"),
        "the title says it scrolls: {short}"
    );
    press(&mut app, "j j j j j j j j j j j j j j j j");
    let short = screen(&app, 80, 16);
    assert!(short.contains("harmless       rate 1-5"), "{short}");
}

/// A backup (`--format kibble`) keeps every criterion of every decision: further rankings and
/// ratings import back as they were.
#[test]
fn a_kibble_backup_keeps_every_criterion() {
    use kibble::data::export::ExportFormat::{Kibble, Ratings, Trl};
    let two_ranks =
        format!("{TASK}\n[[criterion]]\nname = \"concise\"\nkind = \"rank\"\nrequired = false\n");
    let task = parse_task_file(Path::new("t.toml"), &two_ranks).unwrap().0;
    let mut store = three_answers();
    store.set_task(&task).unwrap();
    let mut app = app_on(store, "ann");
    // harmless 5 2 2; helpful a>b>c; funny blank; concise best c, worst a (best/worst mode).
    press(&mut app, "5 2 2 enter a b c enter enter m c a enter");
    assert_eq!(only(&app.session.store, "concise").len(), 1);
    let backup = export_as(&app.session.store, Kibble);
    assert!(
        backup.contains("\"orders\":{\"concise\":{\"groups\""),
        "{backup}"
    );
    assert!(backup.contains("\"mode\":\"best_worst\""), "{backup}");
    assert!(backup.contains("\"ratings\":{\"harmless\":"), "{backup}");
    let mut fresh = Store::open_in_memory().unwrap();
    fresh.set_task(&task).unwrap();
    assert_eq!(import_text(&mut fresh, &backup), Ok(1));
    assert_eq!(export_as(&fresh, Kibble), backup);
    assert_eq!(
        export_as(&fresh, Ratings),
        export_as(&app.session.store, Ratings)
    );
    let concise = |s: &Store| export_on(s, Trl, Some("concise"));
    assert_eq!(concise(&fresh), concise(&app.session.store));
    assert_eq!(concise(&fresh).lines().count(), 3);
}

/// The Train screen picks the criterion a run learns; the Improve screen takes a reward mix
/// and refuses one naming a criterion without a reward model, keeping what was typed.
#[test]
fn train_and_improve_screens_choose_criteria() {
    let mut app = app_on(three_answers(), "ann");
    press(&mut app, "f2 k");
    assert_eq!(app.train.form.criterion, "harmless");
    press(&mut app, "tab");
    assert_eq!(app.train.form.criterion, "helpful");
    assert_eq!(
        app.train.form.job_config().criterion.as_deref(),
        Some("helpful")
    );
    assert!(screen(&app, 80, 24).contains("criterion helpful"));
    // After the task's criteria: all of them, one head each.
    press(&mut app, "tab tab");
    let cfg = app.train.form.job_config();
    assert_eq!(
        (cfg.criterion, cfg.criteria),
        (None, vec!["all".to_string()])
    );
    let s = screen(&app, 80, 24);
    assert!(s.contains("criterion all heads"), "{s}");
    press(&mut app, "tab");
    assert_eq!(app.train.form.criterion, "harmless");
    press(&mut app, "f3 n");
    type_text(&mut app, "helpful=1;harmless<-0.5");
    press(&mut app, "enter");
    assert!(
        app.session
            .status
            .contains("no reward model for \"helpful\""),
        "{}",
        app.session.status
    );
    let kibble::tui::app::Overlay::RewardMix { buffer } = &app.session.overlay else {
        panic!("the field stays open: {:?}", app.session.overlay)
    };
    assert_eq!(buffer, "helpful=1;harmless<-0.5");
    press(&mut app, "esc");
    assert!(screen(&app, 80, 24).contains("n reward: newest RM"));
}

/// Rankings made before the task changed are backed up with their criterion, and a backup
/// imports under the task version that has it (version 1 holds `overall` in every DB).
#[test]
fn a_backup_from_before_a_task_change_imports_under_its_own_version() {
    use kibble::data::export::ExportFormat::Kibble;
    let mut app = app_on(store_with(&[("q", &["a", "b", "c"])]), "ann");
    press(&mut app, "a b enter");
    app.session.store.set_task(&task()).unwrap();
    let backup = export_as(&app.session.store, Kibble);
    assert!(backup.contains("\"criterion\":\"overall\""), "{backup}");
    let mut fresh = Store::open_in_memory().unwrap();
    fresh.set_task(&task()).unwrap();
    assert_eq!(import_text(&mut fresh, &backup), Ok(1));
    let r = only(&fresh, "overall");
    assert_eq!((r.len(), r[0].task_version), (1, 1));
    assert_eq!(export_as(&fresh, Kibble), backup);
    // A criterion no version has is still refused, naming the current task's.
    let e = import_text(&mut fresh, &backup.replace("\"overall\"", "\"witty\"")).unwrap_err();
    assert!(e.contains("harmless, helpful, funny"), "{e}");
}
