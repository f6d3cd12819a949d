//! Store behaviour on real files: migrations, version refusal, the queue, concurrency.

use std::path::Path;

use kibble::domain::{now_ms, NewRanking, PromptBody, RankingMode, Verdict};
use kibble::store::{QueueOptions, RankingFilter, Store, StoreError, MIGRATIONS};

fn add_prompts(store: &mut Store, n: usize, k: usize) -> Vec<(i64, Vec<i64>)> {
    let mut w = store.begin_import().unwrap();
    let mut out = Vec::new();
    for i in 0..n {
        let p = w
            .add_prompt(
                &PromptBody::Text(format!("prompt {i}")),
                None,
                &serde_json::json!({}),
            )
            .unwrap();
        let c = (0..k)
            .map(|j| {
                w.add_candidate(p, &format!("answer {i}.{j}"), "test")
                    .unwrap()
            })
            .collect();
        out.push((p, c));
    }
    w.finish("test", "kibble").unwrap();
    out
}

fn rank(prompt: i64, cands: &[i64], who: &str) -> NewRanking {
    NewRanking {
        prompt_id: prompt,
        annotator: who.into(),
        os_user: None,
        created_at_ms: now_ms(),
        duration_ms: Some(1000),
        shown_order: cands.to_vec(),
        verdict: Verdict::Rank,
        mode: RankingMode::Full,
        groups: cands.iter().map(|&c| vec![c]).collect(),
        strength: None,
        flags: vec![],
        note: None,
        rushed: false,
        answer_marks: vec![],
        dedupe_key: None,
        task_version: 1,
        criterion: Some(kibble::domain::OVERALL.into()),
        judgements: vec![],
    }
}

#[test]
fn fresh_db_is_migrated_with_pragmas() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.db");
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as i64);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    drop(store);
    // Opening again is a no-op.
    let store = Store::open(&path).unwrap();
    assert_eq!(store.integrity_check().unwrap(), "ok");
}

#[test]
fn newer_schema_is_refused_and_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE future (x); PRAGMA user_version = 99;")
            .unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    match Store::open(&path) {
        Err(e @ StoreError::NewerSchema { found: 99, .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("newer kibble"), "{msg}");
            assert!(msg.contains("not changed"), "{msg}");
        }
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("a newer DB was opened"),
    }
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert!(!Path::new(&format!("{}-wal", path.display())).exists());
}

#[test]
fn undo_appends_a_retraction_and_the_prompt_returns() {
    let mut store = Store::open_in_memory().unwrap();
    let prompts = add_prompts(&mut store, 1, 3);
    let (p, c) = &prompts[0];
    let opts = QueueOptions::default();
    assert_eq!(store.claim_next("ann", opts).unwrap(), Some(*p));
    let id = store.append_ranking(&rank(*p, c, "ann")).unwrap().unwrap();
    assert_eq!(store.claim_next("ann", opts).unwrap(), None);
    assert!(store.retract_ranking(id, "someone else").is_err());
    store.retract_ranking(id, "ann").unwrap();
    // The log still holds the ranking; it just no longer counts.
    assert!(store.ranking(id).unwrap().is_some());
    assert!(store.is_retracted(id).unwrap());
    assert!(store
        .live_rankings(&RankingFilter::default())
        .unwrap()
        .is_empty());
    assert_eq!(store.claim_next("ann", opts).unwrap(), Some(*p));
}

#[test]
fn leases_keep_annotators_apart_and_overlap_serves_k() {
    let mut store = Store::open_in_memory().unwrap();
    let prompts = add_prompts(&mut store, 3, 2);
    let one = QueueOptions::default();
    let a = store.claim_next("a", one).unwrap().unwrap();
    let b = store.claim_next("b", one).unwrap().unwrap();
    assert_ne!(a, b);
    // Claiming again returns the prompt still held.
    assert_eq!(store.claim_next("a", one).unwrap(), Some(a));

    let two = QueueOptions { overlap: 2, ..one };
    let mut served = std::collections::HashMap::<i64, usize>::new();
    for who in ["x", "y", "z"] {
        while let Some(p) = store.claim_next(who, two).unwrap() {
            let c = &prompts.iter().find(|(id, _)| *id == p).unwrap().1;
            store.append_ranking(&rank(p, c, who)).unwrap();
            *served.entry(p).or_default() += 1;
        }
    }
    // a and b hold leases on two prompts, so those got one more annotator at most.
    assert!(served.values().all(|&n| n <= 2), "{served:?}");
    let total: usize = served.values().sum();
    assert_eq!(total, 2 + 1 + 1, "{served:?}");
}

#[test]
fn ranking_must_name_candidates_of_its_prompt() {
    let mut store = Store::open_in_memory().unwrap();
    let prompts = add_prompts(&mut store, 2, 2);
    let mut bad = rank(prompts[0].0, &prompts[1].1, "a");
    assert!(store.append_ranking(&bad).is_err());
    bad.groups = vec![vec![prompts[0].1[0]], vec![prompts[0].1[0]]];
    bad.shown_order = prompts[0].1.clone();
    assert!(store.append_ranking(&bad).is_err());
}

/// 8 writers on one file DB, 500 rankings each, all at once.
#[test]
fn concurrent_writers_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let prompts = {
        let mut store = Store::open(&path).unwrap();
        add_prompts(&mut store, 100, 3)
    };
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let path = path.clone();
            let prompts = prompts.clone();
            std::thread::spawn(move || {
                let mut store = Store::open(&path).unwrap();
                for i in 0..500 {
                    let (p, c) = &prompts[(i * 7 + t) % prompts.len()];
                    store
                        .append_ranking(&rank(*p, c, &format!("w{t}")))
                        .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(
        store
            .live_rankings(&RankingFilter::default())
            .unwrap()
            .len(),
        4000
    );
    assert_eq!(store.integrity_check().unwrap(), "ok");
    let s = store.stats().unwrap();
    assert_eq!(s.annotators.len(), 8);
    assert!(s.annotators.iter().all(|a| a.rankings == 500));
}

#[test]
fn gold_prompts_are_served_at_the_rate_to_everyone() {
    let mut store = Store::open_in_memory().unwrap();
    let prompts = add_prompts(&mut store, 40, 2);
    {
        let mut w = store.begin_import().unwrap();
        for (p, c) in &prompts[..5] {
            w.set_gold(*p, &[vec![c[0]], vec![c[1]]]).unwrap();
        }
        w.finish("gold", "kibble").unwrap();
    }
    let gold: std::collections::HashSet<i64> = prompts[..5].iter().map(|p| p.0).collect();
    assert_eq!(store.queue_progress(1).unwrap(), (35, 0));
    let opts = QueueOptions {
        gold_rate: 0.3,
        ..QueueOptions::default()
    };
    for who in ["a", "b"] {
        let mut served_gold = 0;
        while let Some(p) = store.claim_next(who, opts).unwrap() {
            let c = &prompts.iter().find(|x| x.0 == p).unwrap().1;
            // Rank gold prompts correctly half the time.
            let mut r = rank(p, c, who);
            if gold.contains(&p) {
                served_gold += 1;
                if served_gold % 2 == 0 {
                    r.groups.reverse();
                }
            }
            store.append_ranking(&r).unwrap();
            if who == "a"
                && store
                    .live_rankings(&RankingFilter::default())
                    .unwrap()
                    .len()
                    >= 20
            {
                break;
            }
        }
        assert!(served_gold >= 2, "{who} saw {served_gold} gold prompts");
    }
    let ag = store.agreement().unwrap();
    let a = ag.annotators.iter().find(|q| q.name == "a").unwrap();
    assert!(a.gold_pairs >= 2);
    assert!(a.gold_agreement.unwrap() > 0.0 && a.gold_agreement.unwrap() < 1.0);
}
