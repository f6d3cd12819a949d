//! `kibble bench ...`: speed figures anyone can reproduce on their own machine.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use serde_json::json;

use crate::domain::{now_ms, NewRanking, RankingMode, Verdict};
use crate::jobs::import::{import_file, ImportOptions};
use crate::store::{QueueOptions, Store};

const WORDS: &[&str] = &[
    "the", "model", "answer", "because", "which", "function", "returns", "value", "data", "should",
    "explain", "quickly", "reward", "policy", "training", "example", "simple", "list", "string",
    "error", "file", "user", "system", "better", "worse", "clear", "step", "first", "then",
    "finally", "result", "number", "python", "rust", "query", "index", "memory",
];

/// Writes a kibble JSONL of `prompts` x `k` with realistic lengths (prompt ~120 B, answers ~350 B).
pub fn generate_kibble_jsonl(
    path: &Path,
    prompts: usize,
    k: usize,
    words: usize,
) -> std::io::Result<u64> {
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut sentence = |n: usize| {
        let mut s = String::new();
        for i in 0..n {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if i > 0 {
                s.push(' ');
            }
            s.push_str(WORDS[(x % WORDS.len() as u64) as usize]);
        }
        s
    };
    let mut bytes = 0;
    for p in 0..prompts {
        let prompt = format!("Question {p}: {}?", sentence(18));
        let cands: Vec<String> = (0..k)
            .map(|c| format!("Answer {c}. {}.", sentence(words + c)))
            .collect();
        let line = serde_json::to_string(
            &json!({"id": format!("q{p}"), "prompt": prompt, "candidates": cands}),
        )?;
        bytes += line.len() as u64 + 1;
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(bytes)
}

/// Peak resident memory of this process in MiB (VmHWM), if the OS tells.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Resets the peak-RSS counter so a phase can be measured on its own (Linux only).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The p-quantile (0..=1) of sorted values, nearest rank.
pub fn percentile(sorted_us: &[f64], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted_us.len() - 1) as f64 * p).round() as usize;
    sorted_us[i]
}

pub fn bench_import(
    prompts: usize,
    k: usize,
    words: usize,
    keep: Option<&Path>,
    as_json: bool,
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("bench.jsonl");
    let db = match keep {
        Some(p) => p.to_path_buf(),
        None => dir.path().join("bench.db"),
    };
    if db.exists() {
        anyhow::bail!("{} exists; pass a new path to --keep", db.display());
    }
    eprintln!("generating {prompts} prompts x {k} candidates ...");
    let bytes = generate_kibble_jsonl(&file, prompts, k, words)?;

    let mut store = Store::open(&db)?;
    reset_peak_rss();
    let rss_before = peak_rss_mib();
    let t = Instant::now();
    let report = import_file(&mut store, &file, ImportOptions::default())?;
    let import_s = t.elapsed().as_secs_f64();
    let import_peak = peak_rss_mib();
    let cands = report.counts.candidates_added as f64;

    // The labelling loop: 8 annotators in turn claim the next prompt and rank it.
    let annotators: Vec<String> = (0..8).map(|i| format!("bench{i}")).collect();
    let mut claim_us = Vec::new();
    let mut append_us = Vec::new();
    for i in 0..2000 {
        let who = &annotators[i % annotators.len()];
        let t = Instant::now();
        let pid = store
            .claim_next(who, QueueOptions::default())?
            .ok_or_else(|| anyhow::anyhow!("queue unexpectedly empty"))?;
        claim_us.push(t.elapsed().as_secs_f64() * 1e6);
        let ids: Vec<i64> = store.candidates(pid)?.iter().map(|c| c.id).collect();
        let t = Instant::now();
        store.append_ranking(&NewRanking {
            prompt_id: pid,
            annotator: who.clone(),
            os_user: None,
            created_at_ms: now_ms(),
            duration_ms: Some(5000),
            shown_order: ids.clone(),
            verdict: Verdict::Rank,
            mode: RankingMode::Full,
            groups: ids.iter().map(|&id| vec![id]).collect(),
            strength: None,
            flags: vec![],
            note: None,
            rushed: false,
            answer_marks: vec![],
            dedupe_key: None,
            task_version: 1,
            criterion: Some(crate::domain::OVERALL.into()),
            judgements: vec![],
        })?;
        append_us.push(t.elapsed().as_secs_f64() * 1e6);
    }
    claim_us.sort_by(f64::total_cmp);
    append_us.sort_by(f64::total_cmp);

    let mut stats_ms = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        store.stats()?;
        stats_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    stats_ms.sort_by(f64::total_cmp);

    let result = json!({
        "prompts": prompts,
        "candidates": cands,
        "words_per_answer": words,
        "file_mib": bytes as f64 / (1 << 20) as f64,
        "import_seconds": import_s,
        "candidates_per_second": cands / import_s,
        "import_peak_rss_mib": import_peak,
        "rss_before_import_mib": rss_before,
        "next_prompt_p50_us": percentile(&claim_us, 0.5),
        "next_prompt_p99_us": percentile(&claim_us, 0.99),
        "append_ranking_p50_us": percentile(&append_us, 0.5),
        "append_ranking_p99_us": percentile(&append_us, 0.99),
        "stats_median_ms": percentile(&stats_ms, 0.5),
    });
    if as_json {
        println!("{result}");
    } else {
        println!("{}", serde_json::to_string_pretty(&result)?);
    }
    Ok(())
}

const RM_VOCAB: usize = 8192;
const RM_T: usize = 128;

/// `n` sequences of `RM_T` random ids below `vocab` (the peer scripts draw from 1000 up for a
/// pretrained vocabulary; the ids' values do not change the work).
fn random_tokens_from(
    n: usize,
    vocab: usize,
    seed: u64,
) -> Vec<crate::ml::text::tokenizer::Encoded> {
    let low = if vocab > 2000 { 1000 } else { 0 };
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            let ids: Vec<u32> = (0..RM_T)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (low as u64 + x % (vocab - low) as u64) as u32
                })
                .collect();
            crate::ml::text::tokenizer::Encoded {
                type_ids: vec![0; ids.len()],
                ids,
            }
        })
        .collect()
}

/// FLOPs per token (train, infer) by the peer scripts' formula: 6N (2N) over the non-embedding
/// parameters N, plus attention. Approximate for pretrained backbones.
fn tiny_flops(model: &crate::ml::models::reward::RewardModel) -> (f64, f64) {
    let c = &model.config;
    let total: usize = model.params.all().values().map(|t| t.elem_count()).sum();
    let emb = (c.vocab_size + c.max_len) * c.d_model;
    let n = (total - emb) as f64;
    let (l, t, d) = (c.n_layers as f64, RM_T as f64, c.d_model as f64);
    (6.0 * n + 12.0 * l * t * d, 2.0 * n + 4.0 * l * t * d)
}

fn threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// The model a reward-model bench runs: the tiny one, or `backbone` with a fresh head and a
/// window of `RM_T` tokens.
fn bench_model(
    backbone: Option<&Path>,
    device: &candle_core::Device,
) -> anyhow::Result<crate::ml::models::reward::RewardModel> {
    use crate::ml::models::config::ModelConfig;
    use crate::ml::models::reward::RewardModel;
    Ok(match backbone {
        Some(dir) => {
            let opts = crate::ml::checkpoint::BackboneOptions {
                freeze: false,
                max_len: RM_T,
                heads: 1,
                seed: 1234,
                lora: None,
            };
            crate::ml::checkpoint::load_backbone(dir, &opts, device)?.0
        }
        None => RewardModel::new(&ModelConfig::tiny(RM_VOCAB), 1234, device)?,
    })
}

/// `bench rm-train`: the tiny model at torch_rm_bench.py's shapes (8 pairs a step), or a
/// pretrained backbone at torch_bert_rm_bench.py's (16 pairs, lr 5e-5).
pub fn bench_rm_train(
    warmup: usize,
    steps: usize,
    backbone: Option<&Path>,
    pairs: Option<usize>,
    as_json: bool,
) -> anyhow::Result<()> {
    use crate::ml::training::reward::{Comparison, TrainConfig, TrainData, Trainer};
    let device = candle_core::Device::Cpu;
    let model = bench_model(backbone, &device)?;
    let pairs = pairs
        .unwrap_or(if backbone.is_some() { 16 } else { 8 })
        .max(1);
    let n_steps = warmup + steps;
    let seqs = random_tokens_from(2 * pairs * n_steps, model.config.vocab_size, 1234);
    let train = (0..pairs * n_steps)
        .map(|i| Comparison {
            pairs: vec![(2 * i, 2 * i + 1)],
            ties: vec![],
            groups: None,
            margin: 0.0,
            pair_margins: None,
            head: 0,
        })
        .collect();
    let data = TrainData {
        seqs,
        train,
        eval: vec![],
    };
    let (train_flop_per_tok, _) = tiny_flops(&model);
    let cfg = TrainConfig {
        epochs: 1,
        batch_pairs: pairs,
        warmup_frac: 0.0,
        lr: if backbone.is_some() { 5e-5 } else { 3e-4 },
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(model, cfg, data, 0, &device)?;
    let mut times = Vec::new();
    let mut losses = Vec::new();
    for i in 0..n_steps {
        let t = Instant::now();
        let m = trainer.train_step()?;
        let dt = t.elapsed().as_secs_f64();
        losses.push(m.loss);
        if i >= warmup {
            times.push(dt);
        } else {
            eprintln!(
                "[rm] warm-up step {i}: {:.1} ms loss={:.4}",
                dt * 1e3,
                m.loss
            );
        }
    }
    let wall: f64 = times.iter().sum();
    let steps_per_s = steps as f64 / wall;
    let tokens_per_step = (2 * pairs * RM_T) as f64;
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    let result = json!({
        "bench": "kibble rm-train",
        "backbone": backbone.map(|b| b.display().to_string()),
        "threads": threads(),
        "pairs_per_step": pairs,
        "seq_len": RM_T,
        "timed_steps": steps,
        "steps_per_s": steps_per_s,
        "pairs_per_s": steps_per_s * pairs as f64,
        "tokens_per_s": steps_per_s * tokens_per_step,
        "median_step_ms": percentile(&sorted, 0.5) * 1e3,
        "achieved_gflops": train_flop_per_tok * tokens_per_step * steps_per_s / 1e9,
        "loss_first": losses.first(),
        "loss_last": losses.last(),
        "peak_rss_mib": peak_rss_mib(),
    });
    print_result(&result, as_json)
}

pub fn bench_rm_score(
    warmup: usize,
    batches: usize,
    backbone: Option<&Path>,
    as_json: bool,
) -> anyhow::Result<()> {
    let device = candle_core::Device::Cpu;
    let batch = 64;
    let model = bench_model(backbone, &device)?;
    let (_, infer_flop_per_tok) = tiny_flops(&model);
    let seqs = random_tokens_from(batch * (warmup + batches), model.config.vocab_size, 1235);
    let mut times = Vec::new();
    for (i, chunk) in seqs.chunks(batch).enumerate() {
        let refs: Vec<_> = chunk.iter().collect();
        let t = Instant::now();
        crate::ml::training::reward::score(&model, &refs, 0, batch, &device)?;
        if i >= warmup {
            times.push(t.elapsed().as_secs_f64());
        }
    }
    let wall: f64 = times.iter().sum();
    let seqs_per_s = (batches * batch) as f64 / wall;
    let result = json!({
        "bench": "kibble rm-score",
        "backbone": backbone.map(|b| b.display().to_string()),
        "threads": threads(),
        "batch": batch,
        "seq_len": RM_T,
        "timed_batches": batches,
        "seqs_per_s": seqs_per_s,
        "tokens_per_s": seqs_per_s * RM_T as f64,
        "achieved_gflops": infer_flop_per_tok * RM_T as f64 * seqs_per_s / 1e9,
        "peak_rss_mib": peak_rss_mib(),
    });
    print_result(&result, as_json)
}

fn print_result(result: &serde_json::Value, as_json: bool) -> anyhow::Result<()> {
    if as_json {
        println!("{result}");
    } else {
        println!("{}", serde_json::to_string_pretty(result)?);
    }
    Ok(())
}

/// Random ids in 3..vocab (the special tokens stay out), from a seeded generator.
fn random_ids(n: usize, vocab: usize, rng: &mut crate::domain::SplitMix64) -> Vec<u32> {
    (0..n)
        .map(|_| 3 + (rng.next_u64() % (vocab as u64 - 3)) as u32)
        .collect()
}

const POLICY_VOCAB: usize = 8192;

/// Prompts for `bench sample --model`: real questions, so the text can be read.
const BENCH_PROMPTS: [&str; 8] = [
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "Explain what a reward model is in one paragraph.",
    "Give me three tips for learning to cook.",
    "Why is the sky blue?",
    "Summarise the plot of Romeo and Juliet.",
    "How do I reverse a list in Python?",
    "What should I pack for a weekend hike?",
];

pub fn bench_sample(
    warmup: usize,
    iters: usize,
    batch: usize,
    model: Option<(&Path, bool)>,
    show: bool,
    as_json: bool,
) -> anyhow::Result<()> {
    use crate::ml::infer::decode::{Decoder, GenConfig};
    let (model, dequantise) = (model.map(|m| m.0), model.is_some_and(|m| m.1));
    use crate::ml::models::config::PolicyConfig;
    use crate::ml::models::policy::Policy;
    let new_tokens = 128;
    let load_started = Instant::now();
    let (decoder, codec, prompts) = match model {
        None => {
            let policy = Policy::new(
                &PolicyConfig::tiny(POLICY_VOCAB),
                1234,
                &candle_core::Device::Cpu,
            )?;
            let mut rng = crate::domain::SplitMix64::new(1234);
            let prompts: Vec<Vec<u32>> = (0..batch)
                .map(|_| random_ids(32, POLICY_VOCAB, &mut rng))
                .collect();
            (Decoder::from_policy(&policy)?, None, prompts)
        }
        Some(path) => {
            let loaded = if dequantise {
                let p = crate::jobs::policy::load_policy(path, &candle_core::Device::Cpu)?;
                crate::jobs::policy::Sampler {
                    decoder: Decoder::from_policy(&p.policy)?,
                    codec: p.codec,
                    meta: p.meta,
                }
            } else {
                crate::jobs::policy::load_sampler(path, None)?
            };
            let prompts = (0..batch)
                .map(|i| {
                    loaded
                        .codec
                        .prompt(&BENCH_PROMPTS[i % BENCH_PROMPTS.len()].into(), 256)
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            (loaded.decoder, Some(loaded.codec), prompts)
        }
    };
    let load_s = load_started.elapsed().as_secs_f64();
    let prompt_len = prompts.iter().map(|p| p.len()).sum::<usize>() / prompts.len().max(1);
    let mut last = Vec::new();
    let mut times = Vec::new();
    for i in 0..warmup + iters {
        let gen = GenConfig {
            max_new_tokens: new_tokens,
            temperature: 1.0,
            seed: i as u64,
            batch,
            ..GenConfig::default()
        };
        let t = Instant::now();
        let out = decoder.generate(&prompts, &gen);
        let dt = t.elapsed().as_secs_f64();
        anyhow::ensure!(out.iter().all(|s| s.tokens.len() == new_tokens));
        if i >= warmup {
            times.push(dt);
        }
        last = out;
    }
    let shown = match (&codec, last.first()) {
        (Some(c), Some(s)) if show => Some(crate::text::sanitize(&c.text(&s.tokens))),
        _ => None,
    };
    let wall: f64 = times.iter().sum();
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    let result = json!({
        "bench": "kibble sample",
        "model": model.map(|m| m.display().to_string()).unwrap_or("tiny (random weights)".into()),
        "weights": if dequantise { "f32" } else { "as sampled (GGUF blocks as stored, other Llamas Q8_0)" },
        "weight_mib": decoder.weight_bytes() as f64 / (1u64 << 20) as f64,
        "params": decoder.parameters(),
        "load_s": load_s,
        "threads": threads(),
        "batch": batch,
        "prompt_len": prompt_len,
        "new_tokens": new_tokens,
        "timed_calls": iters,
        "tokens_per_s": (iters * batch * new_tokens) as f64 / wall,
        "ms_per_decode_step": wall * 1e3 / (iters * new_tokens) as f64,
        "median_call_ms": percentile(&sorted, 0.5) * 1e3,
        "peak_rss_mib": peak_rss_mib(),
        "sample": shown,
    });
    print_result(&result, as_json)
}

pub fn bench_dpo(warmup: usize, steps: usize, as_json: bool) -> anyhow::Result<()> {
    use crate::ml::models::config::PolicyConfig;
    use crate::ml::models::policy::{Policy, SeqBatch};
    use crate::ml::training::policy::{PolicyTrainConfig, PolicyTrainer};
    let device = candle_core::Device::Cpu;
    let (pairs, t_len, prompt_len) = (8, 128, 32);
    let cfg = PolicyConfig::tiny(POLICY_VOCAB);
    let policy = Policy::new(&cfg, 1234, &device)?;
    let n_steps = warmup + steps;
    let train = PolicyTrainConfig {
        lr: 3e-4,
        warmup_frac: 0.0,
        clip_norm: f64::INFINITY,
        ..PolicyTrainConfig::default()
    };
    let mut trainer = PolicyTrainer::new(policy, train, n_steps as u64)?;
    let mut rng = crate::domain::SplitMix64::new(1236);
    let mut times = Vec::new();
    let mut losses = Vec::new();
    for i in 0..n_steps {
        let prompts: Vec<Vec<u32>> = (0..pairs)
            .map(|_| random_ids(prompt_len, POLICY_VOCAB, &mut rng))
            .collect();
        let seqs: Vec<Vec<u32>> = (0..2 * pairs)
            .map(|j| {
                let mut s = prompts[j % pairs].clone();
                s.extend(random_ids(t_len - prompt_len, POLICY_VOCAB, &mut rng));
                s
            })
            .collect();
        let rows: Vec<(&[u32], usize)> = seqs.iter().map(|s| (s.as_slice(), prompt_len)).collect();
        let batch = SeqBatch::new(&rows, 0, &device)?;
        let t = Instant::now();
        let m = trainer.dpo_step(&batch)?;
        let dt = t.elapsed().as_secs_f64();
        losses.push(m.loss);
        if i >= warmup {
            times.push(dt);
        }
    }
    let wall: f64 = times.iter().sum();
    let steps_per_s = steps as f64 / wall;
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    // The peer's formula: tokens * [(6 N + 3 attn) + (2 N + attn)], N = non-embedding + V*D.
    let (d, l) = (cfg.d_model as f64, cfg.n_layers as f64);
    let non_emb = l * (4.0 * d * d + 2.0 * d * cfg.d_ff as f64);
    let n_mm = non_emb + POLICY_VOCAB as f64 * d;
    let tok = (2 * pairs * t_len) as f64;
    let attn = 2.0 * l * t_len as f64 * d;
    let flop_step = tok * ((6.0 * n_mm + 3.0 * attn) + (2.0 * n_mm + attn));
    let result = json!({
        "bench": "kibble dpo",
        "threads": threads(),
        "pairs_per_step": pairs,
        "seq_len": t_len,
        "prompt_len": prompt_len,
        "timed_steps": steps,
        "steps_per_s": steps_per_s,
        "pairs_per_s": steps_per_s * pairs as f64,
        "tokens_per_s": steps_per_s * tok,
        "median_step_ms": percentile(&sorted, 0.5) * 1e3,
        "achieved_gflops": flop_step * steps_per_s / 1e9,
        "loss_first": losses.first(),
        "loss_last": losses.last(),
        "peak_rss_mib": peak_rss_mib(),
    });
    print_result(&result, as_json)
}
