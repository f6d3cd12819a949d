//! Reward-model training on a synthetic preference task with a known rule, checkpoints,
//! resume, padding invariance, cancel, and clear errors for broken backbone folders.

use std::path::Path;
use std::time::Instant;

use candle_core::Device;
use kibble::domain::{now_ms, NewRanking, PromptBody, RankingMode, Verdict};
use kibble::jobs::train_rm::{run, CancelToken, RmEvent, RmJobConfig};
use kibble::ml::checkpoint;
use kibble::ml::models::reward::Batch;
use kibble::store::{RunStatus, Store};

const WORDS: &[&str] = &[
    "river", "stone", "paper", "cloud", "engine", "garden", "window", "silver", "market", "planet",
    "bridge", "candle", "forest", "letter", "mirror", "number", "orange", "pencil", "rocket",
    "summer",
];

fn sentence(x: &mut u64, n: usize) -> String {
    (0..n)
        .map(|_| {
            *x ^= *x << 13;
            *x ^= *x >> 7;
            *x ^= *x << 17;
            WORDS[(*x % WORDS.len() as u64) as usize]
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Prompts with 2-3 answers; answers that mention "kiwi" are always preferred.
fn synthetic_db(path: &Path, prompts: usize) -> Store {
    let mut store = Store::open(path).unwrap();
    let mut x = 0x1234_5678_9abc_def1u64;
    let mut items = Vec::new();
    {
        let mut w = store.begin_import().unwrap();
        for i in 0..prompts {
            let p = w
                .add_prompt(
                    &PromptBody::Text(format!("question {i}: {}?", sentence(&mut x, 4))),
                    None,
                    &serde_json::json!({}),
                )
                .unwrap();
            let k = 2 + i % 2;
            let good_at = (x % k as u64) as usize;
            let cands: Vec<i64> = (0..k)
                .map(|j| {
                    let mut text = sentence(&mut x, 6);
                    if j == good_at {
                        let words: Vec<&str> = text.split(' ').collect();
                        let at = (x % words.len() as u64) as usize;
                        text = format!("{} kiwi {}", words[..at].join(" "), words[at..].join(" "));
                    }
                    w.add_candidate(p, &text, "synthetic").unwrap()
                })
                .collect();
            items.push((p, cands, good_at));
        }
        w.finish("synthetic", "kibble").unwrap();
    }
    for (p, cands, good_at) in items {
        let mut groups = vec![vec![cands[good_at]]];
        let rest: Vec<i64> = cands
            .iter()
            .copied()
            .filter(|c| *c != cands[good_at])
            .collect();
        groups.push(rest);
        store
            .append_ranking(&NewRanking {
                prompt_id: p,
                annotator: "rule".into(),
                os_user: None,
                created_at_ms: now_ms(),
                duration_ms: None,
                shown_order: cands.clone(),
                verdict: Verdict::Rank,
                mode: RankingMode::Full,
                groups,
                strength: None,
                flags: vec![],
                note: None,
                rushed: false,
                answer_marks: vec![],
                dedupe_key: None,
                task_version: 1,
                criterion: Some(kibble::domain::OVERALL.into()),
                judgements: vec![],
            })
            .unwrap();
    }
    store
}

/// A full fine-tune with a one-output head, in a window of `max_len` tokens.
fn backbone_options(max_len: usize) -> checkpoint::BackboneOptions {
    checkpoint::BackboneOptions {
        freeze: false,
        max_len,
        heads: 1,
        seed: 0,
        lora: None,
    }
}

/// Trains without watching the steps.
fn train(store: &mut Store, db: &Path, cfg: &RmJobConfig) -> kibble::jobs::train_rm::RmSummary {
    run(
        store,
        db,
        cfg,
        None,
        "test",
        &mut |_| {},
        &CancelToken::default(),
    )
    .unwrap()
}

fn quick_config() -> RmJobConfig {
    let mut cfg = RmJobConfig {
        vocab_size: 1000,
        max_len: 64,
        eval_fraction: 0.2,
        ..RmJobConfig::default()
    };
    cfg.train.epochs = 3;
    cfg.train.lr = 1e-3;
    cfg.train.seed = 7;
    cfg
}

#[test]
fn tiny_model_learns_a_known_rule_on_held_out_prompts() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("syn.db");
    let mut store = synthetic_db(&db, 240);
    let cfg = quick_config();
    let t = Instant::now();
    let mut losses = Vec::new();
    let s = run(
        &mut store,
        &db,
        &cfg,
        None,
        "test",
        &mut |e| {
            if let RmEvent::Step(m) = e {
                losses.push(m.loss);
            }
        },
        &CancelToken::default(),
    )
    .unwrap();
    let secs = t.elapsed().as_secs_f64();
    eprintln!(
        "trained {} steps in {secs:.1}s, eval accuracy {:?}",
        s.steps, s.eval_accuracy
    );
    assert_eq!(s.status, RunStatus::Done);
    let acc = s.eval_accuracy.unwrap();
    assert!(acc >= 0.95, "held-out accuracy {acc}");
    assert!(losses.last().unwrap() < &losses[0]);
    // Metrics and the checkpoint are in the DB.
    let loss_series = store.metric_series(s.run_id, "loss", -1).unwrap();
    assert_eq!(loss_series.len() as u64, s.steps);
    assert!(!store
        .metric_series(s.run_id, "eval_accuracy", -1)
        .unwrap()
        .is_empty());
    // The newest and the best checkpoint keep their files (the same one when the last
    // evaluation was the best); `Latest` means the best.
    let ck = store.checkpoints(Some(s.run_id)).unwrap();
    assert!((1..=2).contains(&ck.len()), "{} checkpoints kept", ck.len());
    let best = s.best.clone().expect("a best checkpoint");
    assert!(ck.iter().any(|c| c.id == best.checkpoint_id));
    assert_eq!(
        store.latest_checkpoint(&["rm"]).unwrap().unwrap().id,
        best.checkpoint_id
    );
    let ck_dir = Path::new(&best.path);
    for f in [
        "model.safetensors",
        "config.json",
        "tokenizer.json",
        "optimizer.safetensors",
    ] {
        assert!(ck_dir.join(f).exists(), "{f}");
    }

    // Save -> load gives bit-identical scores.
    let loaded = checkpoint::load(ck_dir, &Device::Cpu).unwrap();
    let enc = loaded
        .encoder
        .encode("question: river stone?", "a kiwi on paper")
        .unwrap();
    let enc2 = loaded
        .encoder
        .encode("question: river stone?", "paper cloud engine")
        .unwrap();
    let score = |m: &kibble::ml::models::reward::RewardModel| -> Vec<f32> {
        kibble::ml::training::reward::score(
            m,
            &[&enc, &enc2],
            loaded.encoder.pad_id,
            8,
            &Device::Cpu,
        )
        .unwrap()
    };
    let again = checkpoint::load(ck_dir, &Device::Cpu).unwrap();
    assert_eq!(score(&loaded.model), score(&again.model));
    assert!(score(&loaded.model)[0] > score(&loaded.model)[1]);

    // Scoring stores normalised scores for every candidate, incrementally.
    let cref = kibble::jobs::score::CheckpointRef::Latest;
    let first = kibble::jobs::score::score_candidates(&mut store, &cref, |_, _| {}).unwrap();
    assert_eq!(first.scored as i64, store.stats().unwrap().candidates);
    let second = kibble::jobs::score::score_candidates(&mut store, &cref, |_, _| {}).unwrap();
    assert_eq!(second.scored, 0);
}

#[test]
fn the_best_checkpoint_is_kept_and_a_run_without_progress_stops_early() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("stop.db");
    let mut store = synthetic_db(&db, 120);
    let mut cfg = quick_config();
    // No learning at all: the first evaluation stays the best, the next one does not improve.
    cfg.train.lr = 0.0;
    cfg.train.eval_every = 3;
    cfg.train.patience = 1;
    let s = train(&mut store, &db, &cfg);
    assert_eq!(s.status, RunStatus::Done);
    assert_eq!(s.steps, 6, "stopped after the second evaluation");
    assert!(
        s.message
            .as_deref()
            .unwrap_or("")
            .contains("stopped early at step 6"),
        "{:?}",
        s.message
    );
    let best = s.best.expect("best");
    assert_eq!(best.step, 3);
    let kept: Vec<(i64, i64)> = store
        .checkpoints(Some(s.run_id))
        .unwrap()
        .iter()
        .map(|c| (c.step, c.id))
        .collect();
    assert_eq!(kept.iter().map(|k| k.0).collect::<Vec<_>>(), vec![3, 6]);
    assert!(Path::new(&best.path).join("model.safetensors").exists());
    assert_eq!(
        store.latest_checkpoint(&["rm"]).unwrap().unwrap().step,
        3,
        "score and improve get the best, not the newest"
    );
}

#[test]
fn padding_does_not_change_a_reward() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("pad.db");
    let mut store = synthetic_db(&db, 40);
    let mut cfg = quick_config();
    cfg.train.epochs = 1;
    let s = train(&mut store, &db, &cfg);
    let loaded = checkpoint::load(Path::new(&s.checkpoint_path.unwrap()), &Device::Cpu).unwrap();
    let short = loaded.encoder.encode("q", "river kiwi").unwrap();
    let long = loaded
        .encoder
        .encode(
            "a much longer question about stones and rivers",
            "paper cloud engine garden window",
        )
        .unwrap();
    let alone = loaded
        .model
        .forward(
            &Batch::new(
                &[&short.ids],
                Some(&[&short.type_ids]),
                loaded.encoder.pad_id,
                &Device::Cpu,
            )
            .unwrap(),
        )
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()[0];
    let padded = loaded
        .model
        .forward(
            &Batch::new(
                &[&short.ids, &long.ids],
                Some(&[&short.type_ids, &long.type_ids]),
                loaded.encoder.pad_id,
                &Device::Cpu,
            )
            .unwrap(),
        )
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()[0];
    assert!((alone - padded).abs() < 1e-5, "{alone} vs {padded}");
}

/// Micro-batches (3 + 3 + 2 of a batch of 8 pairs) take the same steps as the whole batch:
/// the same losses and gradient norms, step after step (so the same weights in between).
#[test]
fn micro_batches_add_up_to_the_whole_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = quick_config();
    cfg.train.epochs = 1;
    cfg.train.batch_pairs = 8;
    let mut series = Vec::new();
    for (i, micro) in [0, 3].into_iter().enumerate() {
        cfg.train.micro_batch = micro;
        let db = dir.path().join(format!("{i}.db"));
        let mut store = synthetic_db(&db, 40);
        let s = train(&mut store, &db, &cfg);
        let get = |name| store.metric_series(s.run_id, name, -1).unwrap();
        series.push((get("loss"), get("grad_norm")));
    }
    let ((la, ga), (lb, gb)) = (&series[0], &series[1]);
    assert!(la.len() > 5, "{} steps", la.len());
    assert_eq!(la.len(), lb.len());
    for (a, b) in la.iter().zip(lb).chain(ga.iter().zip(gb)) {
        assert_eq!(a.step, b.step);
        let close = (a.value - b.value).abs() <= 1e-4 * a.value.abs().max(1.0);
        assert!(close, "step {}: {} vs {}", a.step, a.value, b.value);
    }
}

#[test]
fn resume_equals_uninterrupted_and_cancel_stops() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = quick_config();
    cfg.train.epochs = 2;
    cfg.train.eval_every = 4;
    // Uninterrupted.
    let db_a = dir.path().join("a.db");
    let mut a = synthetic_db(&db_a, 60);
    let full = run(
        &mut a,
        &db_a,
        &cfg,
        None,
        "t",
        &mut |_| {},
        &CancelToken::default(),
    )
    .unwrap();
    // Cancelled after step 6 (last checkpoint at step 4), then resumed.
    let db_b = dir.path().join("b.db");
    let mut b = synthetic_db(&db_b, 60);
    let cancel = CancelToken::default();
    let c2 = cancel.clone();
    let part = run(
        &mut b,
        &db_b,
        &cfg,
        None,
        "t",
        &mut |e| {
            if let RmEvent::Step(m) = e {
                if m.step == 6 {
                    c2.cancel();
                }
            }
        },
        &cancel,
    )
    .unwrap();
    assert_eq!(part.status, RunStatus::Cancelled);
    assert_eq!(part.steps, 7, "cancel stops within one step");
    let resumed = run(
        &mut b,
        &db_b,
        &cfg,
        Some(part.run_id),
        "t",
        &mut |_| {},
        &CancelToken::default(),
    )
    .unwrap();
    assert_eq!(resumed.status, RunStatus::Done);
    assert_eq!(resumed.steps, full.steps);
    let la = a.metric_series(full.run_id, "loss", -1).unwrap();
    let lb = b.metric_series(part.run_id, "loss", -1).unwrap();
    assert_eq!(la, lb, "loss curves differ after resume");
    let wa =
        std::fs::read(Path::new(&full.checkpoint_path.unwrap()).join("model.safetensors")).unwrap();
    let wb = std::fs::read(Path::new(&resumed.checkpoint_path.unwrap()).join("model.safetensors"))
        .unwrap();
    assert!(wa == wb, "final weights differ after resume");
}

#[test]
fn broken_backbone_folders_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let bb = dir.path().join("bert");
    std::fs::create_dir(&bb).unwrap();
    let err = |d: &Path| match checkpoint::load_backbone(d, &backbone_options(64), &Device::Cpu) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("loaded a broken folder"),
    };
    assert!(err(&bb).contains("config.json"), "{}", err(&bb));
    std::fs::write(bb.join("config.json"), "{not json").unwrap();
    let e = err(&bb);
    assert!(e.contains("config.json") && e.contains("malformed"), "{e}");
    std::fs::write(
        bb.join("config.json"),
        r#"{"hidden_size":32,"num_hidden_layers":1,"num_attention_heads":2,"intermediate_size":64,"max_position_embeddings":64,"vocab_size":50,"model_type":"bert"}"#,
    )
    .unwrap();
    let e = err(&bb);
    assert!(
        e.contains("model.safetensors") && e.contains("missing"),
        "{e}"
    );
    std::fs::write(bb.join("model.safetensors"), b"garbage").unwrap();
    let e = err(&bb);
    assert!(e.contains("model.safetensors"), "{e}");
}

/// A small random Llama-family model as an HF folder (config, weights, tokenizer with a chat
/// template), standing in for SmolLM2: the same files, sizes a test can train.
fn llama_folder(dir: &Path, texts: Vec<String>) {
    use std::collections::HashMap;
    std::fs::create_dir_all(dir).unwrap();
    let tok = kibble::ml::text::tokenizer::train_bpe(texts.into_iter(), 300).unwrap();
    let vocab = tok.get_vocab_size(true);
    let (d, layers, ff) = (32usize, 2usize, 64usize);
    let config = serde_json::json!({
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": vocab,
        "hidden_size": d, "intermediate_size": ff, "num_hidden_layers": layers,
        "num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-6,
        "rope_theta": 10000.0, "max_position_embeddings": 128, "tie_word_embeddings": true,
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut normal = |rows: usize, cols: usize| {
        let v: Vec<f32> = (0..rows * cols)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                ((x >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.2
            })
            .collect();
        candle_core::Tensor::from_vec(v, (rows, cols), &Device::Cpu).unwrap()
    };
    let ones =
        |n: usize| candle_core::Tensor::ones(n, candle_core::DType::F32, &Device::Cpu).unwrap();
    let mut w: HashMap<String, candle_core::Tensor> = HashMap::new();
    w.insert("model.embed_tokens.weight".into(), normal(vocab, d));
    w.insert("model.norm.weight".into(), ones(d));
    for i in 0..layers {
        let n = |s: &str| format!("model.layers.{i}.{s}");
        for (name, rows, cols) in [
            ("self_attn.q_proj.weight", d, d),
            ("self_attn.k_proj.weight", d / 2, d),
            ("self_attn.v_proj.weight", d / 2, d),
            ("self_attn.o_proj.weight", d, d),
            ("mlp.gate_proj.weight", ff, d),
            ("mlp.up_proj.weight", ff, d),
            ("mlp.down_proj.weight", d, ff),
        ] {
            w.insert(n(name), normal(rows, cols));
        }
        w.insert(n("input_layernorm.weight"), ones(d));
        w.insert(n("post_attention_layernorm.weight"), ones(d));
    }
    candle_core::safetensors::save(&w, dir.join("model.safetensors")).unwrap();
    tok.save(dir.join("tokenizer.json"), false).unwrap();
    let template = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}<sep>{% endfor %}\
                    {% if add_generation_prompt %}assistant: {% endif %}";
    let tc = serde_json::json!({ "chat_template": template, "eos_token": "<eos>" });
    std::fs::write(dir.join("tokenizer_config.json"), tc.to_string()).unwrap();
}

#[test]
fn a_decoder_reward_model_learns_the_rule_exports_for_transformers_and_loads_back() {
    use kibble::jobs::score::{CheckpointRef, Scorer};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("syn.db");
    let mut store = synthetic_db(&db, 240);
    let mut texts = Vec::new();
    store
        .for_each_prompt(|p, cands| {
            texts.push(p.body.as_plain_text());
            texts.extend(cands.iter().map(|c| c.text.clone()));
            Ok(())
        })
        .unwrap();
    let backbone = dir.path().join("llama");
    llama_folder(&backbone, texts);
    let mut cfg = quick_config();
    cfg.backbone = Some(backbone);
    cfg.train.lr = 3e-3;
    let s = train(&mut store, &db, &cfg);
    assert_eq!(s.status, RunStatus::Done);
    let acc = s.eval_accuracy.unwrap();
    assert!(acc >= 0.9, "held-out accuracy {acc}");
    let best = s.best.expect("a best checkpoint");
    let ck = Path::new(&best.path);
    let loaded = checkpoint::load(ck, &Device::Cpu).unwrap();
    assert_eq!(
        loaded.meta.model.arch,
        kibble::ml::models::config::Arch::Llama
    );
    // The pair is framed by the model's chat template; the answer ends the sequence.
    let e = loaded.encoder.encode("which fruit?", "a kiwi").unwrap();
    let text = loaded.encoder.tokenizer.decode(&e.ids, false).unwrap();
    assert!(
        text.starts_with("user: which fruit?<sep>assistant: "),
        "{text}"
    );
    assert!(text.ends_with("kiwi"), "{text}");

    // Exported as transformers' own class, then loaded back as an RM trained elsewhere: the
    // same normalised scores.
    let out = dir.path().join("hf-rm");
    kibble::jobs::export_model::export_reward_model(ck, &out).unwrap();
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["architectures"][0], "LlamaForSequenceClassification");
    assert_eq!(config["num_labels"], 1);
    let weights =
        candle_core::safetensors::load(out.join("model.safetensors"), &Device::Cpu).unwrap();
    assert_eq!(weights["score.weight"].dims(), &[1, 32]);
    assert!(!weights.contains_key("head.bias") && !weights.contains_key("score.bias"));
    let pairs = [
        ("question 1: river?", "paper kiwi cloud"),
        ("question 2: stone?", "paper cloud engine"),
        ("a longer question about the garden and the window?", "kiwi"),
    ];
    let mine = Scorer::open(None, &CheckpointRef::Dir(ck.to_path_buf())).unwrap();
    let theirs = Scorer::open(None, &CheckpointRef::Dir(out.clone())).unwrap();
    let (a, b) = (mine.score(&pairs).unwrap(), theirs.score(&pairs).unwrap());
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() < 1e-4, "{a:?} vs {b:?}");
    }
    assert!(a[0] > a[1], "{a:?}");

    // LoRA: the backbone stays as loaded, the adapters and head learn the rule, and the export
    // folds the adapters in.
    let db2 = dir.path().join("lora.db");
    let mut store2 = synthetic_db(&db2, 240);
    cfg.lora = Some(kibble::ml::models::llama::LoraConfig {
        rank: 4,
        alpha: 8.0,
    });
    let s = train(&mut store2, &db2, &cfg);
    let acc = s.eval_accuracy.unwrap();
    assert!(acc >= 0.85, "LoRA held-out accuracy {acc}");
    let ck = std::path::PathBuf::from(s.best.unwrap().path);
    let saved = candle_core::safetensors::load(ck.join("model.safetensors"), &Device::Cpu).unwrap();
    assert!(saved.keys().any(|k| k.contains(".lora_A.")));
    let base =
        candle_core::safetensors::load(dir.path().join("llama/model.safetensors"), &Device::Cpu)
            .unwrap();
    let name = "model.layers.0.self_attn.q_proj.weight";
    assert_eq!(
        saved[name].to_vec2::<f32>().unwrap(),
        base[name].to_vec2::<f32>().unwrap(),
        "the backbone stays frozen"
    );
    let out = dir.path().join("hf-lora");
    kibble::jobs::export_model::export_reward_model(&ck, &out).unwrap();
    let exported =
        candle_core::safetensors::load(out.join("model.safetensors"), &Device::Cpu).unwrap();
    assert!(!exported.keys().any(|k| k.contains("lora")));
    let mine = Scorer::open(None, &CheckpointRef::Dir(ck)).unwrap();
    let theirs = Scorer::open(None, &CheckpointRef::Dir(out)).unwrap();
    let (a, b) = (mine.score(&pairs).unwrap(), theirs.score(&pairs).unwrap());
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() < 1e-4, "{a:?} vs {b:?}");
    }
}
