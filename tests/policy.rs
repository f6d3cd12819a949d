//! The RLHF loop end to end on a task with a rule the policy never sees: answers mentioning
//! "kiwi" are preferred by a simulated annotator. Prompts -> simulate -> reward model -> SFT
//! policy -> one best-of-n round and one DPO round, each of which must raise the rule's score
//! of fresh samples on held-out prompts. Also: sampling into the queue, export -> reload.

use std::path::Path;

use candle_core::Device;
use kibble::domain::{is_eval_prompt, PromptBody};
use kibble::jobs::policy::{
    self, load_policy, ImproveConfig, Method, PolicyRef, PromptSelection, SampleConfig, SftConfig,
};
use kibble::jobs::simulate::simulate;
use kibble::jobs::train_rm::{self, CancelToken, RmJobConfig};
use kibble::ml::infer::decode::{Decoder, GenConfig};
use kibble::ml::training::policy::PolicyTrainConfig;
use kibble::ml::training::reward::TrainConfig;
use kibble::store::{RowCount, RunStatus, Store};

const WORDS: &[&str] = &[
    "river", "stone", "paper", "cloud", "engine", "garden", "window", "silver", "market", "planet",
    "bridge", "candle", "forest", "letter", "mirror", "number",
];
const EVAL_FRACTION: f64 = 0.2;

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

/// 160 prompts x 4 answers; one answer in four mentions "kiwi" (and, with `also`, another
/// answer mentions that word).
fn loop_db(path: &Path) -> (Store, Vec<String>) {
    words_db(path, None)
}

fn words_db(path: &Path, also: Option<&str>) -> (Store, Vec<String>) {
    let mut store = Store::open(path).unwrap();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut held_out = Vec::new();
    let mut w = store.begin_import().unwrap();
    for i in 0..160 {
        let text = format!("question {i}: {}?", sentence(&mut x, 3));
        let body = PromptBody::Text(text.clone());
        if is_eval_prompt(&body.content_hash(), 0, EVAL_FRACTION) {
            held_out.push(text);
        }
        let p = w.add_prompt(&body, None, &serde_json::json!({})).unwrap();
        for j in 0..4 {
            let mut a = sentence(&mut x, 5);
            if j == i % 4 {
                a = format!("{a} kiwi");
            }
            if let Some(w) = also.filter(|_| j == (i + 2) % 4) {
                a = format!("{a} {w}");
            }
            w.add_candidate(p, &a, "synthetic").unwrap();
        }
    }
    w.finish("synthetic", "kibble").unwrap();
    (store, held_out)
}

/// Fraction of fresh samples (4 per held-out prompt, fixed seed) that mention kiwi.
fn kiwi_rate(policy_dir: &Path, prompts: &[String]) -> f64 {
    word_rate(policy_dir, prompts, "kiwi")
}

fn word_rate(policy_dir: &Path, prompts: &[String], word: &str) -> f64 {
    let loaded = load_policy(policy_dir, &Device::Cpu).unwrap();
    let dec = Decoder::from_policy(&loaded.policy).unwrap();
    let ids: Vec<Vec<u32>> = prompts
        .iter()
        .flat_map(|p| {
            let e = loaded.codec.prompt(&p.as_str().into(), 64).unwrap();
            std::iter::repeat_n(e, 4)
        })
        .collect();
    let gen = GenConfig {
        max_new_tokens: 16,
        seed: 4242,
        stop_tokens: vec![loaded.codec.eos],
        ..GenConfig::default()
    };
    let samples = dec.generate(&ids, &gen);
    let hits = samples
        .iter()
        .filter(|s| loaded.codec.text(&s.tokens).contains(word))
        .count();
    hits as f64 / samples.len() as f64
}

/// The reward model both loops train (on one criterion of the task, or its first).
fn rm_config(criterion: Option<&str>) -> RmJobConfig {
    RmJobConfig {
        vocab_size: 400,
        max_len: 48,
        eval_fraction: EVAL_FRACTION,
        criterion: criterion.map(str::to_string),
        train: TrainConfig {
            epochs: 2,
            lr: 1e-3,
            ..TrainConfig::default()
        },
        ..RmJobConfig::default()
    }
}

/// SFT warm start on every candidate, as both loops use it.
fn sft_config() -> SftConfig {
    SftConfig {
        vocab_size: 400,
        epochs: 4,
        max_response_tokens: 16,
        all_candidates: true,
        eval_fraction: EVAL_FRACTION,
        train: PolicyTrainConfig {
            lr: 2e-3,
            ..PolicyTrainConfig::default()
        },
        ..SftConfig::default()
    }
}

fn improve_cfg(method: Method, sft_run: i64) -> ImproveConfig {
    ImproveConfig {
        method,
        policy: PolicyRef::Run(sft_run),
        n: 4,
        epochs: 2,
        batch: 8,
        eval_prompts: 64,
        eval_fraction: EVAL_FRACTION,
        max_response_tokens: 16,
        gen: GenConfig {
            max_new_tokens: 16,
            seed: 1,
            ..GenConfig::default()
        },
        train: PolicyTrainConfig {
            // DPO at the SFT learning rates pushes both answers down and drifts (KL > 5).
            lr: if method == Method::Dpo { 1e-5 } else { 5e-4 },
            warmup_frac: 0.0,
            ..PolicyTrainConfig::default()
        },
        // Periodic checkpoints (each replacing the last) run in every round of the test.
        checkpoint_every: 10,
        ..ImproveConfig::default()
    }
}

#[test]
fn best_of_n_and_dpo_rounds_each_raise_a_hidden_rule_on_held_out_prompts() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("loop.db");
    let (mut store, held_out) = loop_db(&db);
    assert!(held_out.len() >= 20, "{}", held_out.len());
    let cancel = CancelToken::default();

    // The simulated annotator knows the rule; nobody else does.
    let sim = simulate(&mut store, "regex:kiwi", 0.0, 0, None, None).unwrap();
    assert_eq!(sim.ranked, 160);

    // Reward model on the simulated rankings.
    let rm_cfg = rm_config(None);
    let rm = train_rm::run(&mut store, &db, &rm_cfg, None, "test", &mut |_| {}, &cancel).unwrap();
    assert_eq!(rm.status, RunStatus::Done, "{:?}", rm.message);
    assert!(rm.eval_accuracy.unwrap() > 0.8, "{:?}", rm.eval_accuracy);

    // SFT warm start on every candidate: the policy says kiwi about a quarter of the time.
    let sft_cfg = sft_config();
    let sft = policy::train_sft(&mut store, &db, &sft_cfg, "test", &mut |_| {}, &cancel).unwrap();
    assert_eq!(sft.status, RunStatus::Done, "{:?}", sft.message);
    let sft_dir = sft.checkpoint_path.clone().unwrap();
    let base = kiwi_rate(Path::new(&sft_dir), &held_out);
    assert!(base > 0.05 && base < 0.6, "SFT policy kiwi rate {base}");

    // RLOO end to end: samples at temperature 1 only (refused otherwise), one whole round.
    let mut reshaped = improve_cfg(Method::Rloo, sft.run_id);
    reshaped.gen.temperature = 0.7;
    let refused = policy::improve(&mut store, &db, &reshaped, "test", &mut |_| {}, &cancel);
    assert!(refused.unwrap_err().to_string().contains("on-policy"));
    let rloo = policy::improve(
        &mut store,
        &db,
        &ImproveConfig {
            rloo_steps: 12,
            ..improve_cfg(Method::Rloo, sft.run_id)
        },
        "test",
        &mut |_| {},
        &cancel,
    )
    .unwrap();
    assert_eq!(rloo.status, RunStatus::Done, "rloo: {:?}", rloo.message);
    let r = rloo.round.clone().unwrap();
    assert!(r.kl.is_finite() && r.after_mean.is_finite());
    assert_eq!(
        store.metric_series(rloo.run_id, "loss", -1).unwrap().len(),
        12
    );

    let mut bon_checkpoint = None;
    for method in [Method::Bon, Method::Dpo] {
        let s = policy::improve(
            &mut store,
            &db,
            &improve_cfg(method, sft.run_id),
            "test",
            &mut |_| {},
            &cancel,
        )
        .unwrap();
        assert_eq!(s.status, RunStatus::Done, "{method:?}: {:?}", s.message);
        let report = s.round.clone().unwrap();
        let after = kiwi_rate(Path::new(s.checkpoint_path.as_ref().unwrap()), &held_out);
        eprintln!(
            "{method:?}: kiwi rate {base:.3} -> {after:.3}; RM reward {:.3} -> {:.3}; KL {:.3}",
            report.before_mean, report.after_mean, report.kl
        );
        // Same seed, same prompts: a no-op round would give exactly the base rate.
        assert!(after >= base + 0.15, "{method:?}: {base} -> {after}");
        assert!(report.after_mean > report.before_mean);
        assert!(
            report.kl.is_finite() && report.kl < 20.0,
            "{method:?} KL {}",
            report.kl
        );
        let run = store.run(s.run_id).unwrap().unwrap();
        assert_eq!(run.round, Some(1));
        assert_eq!(run.parent_run_id, Some(sft.run_id));
        assert!(!store
            .metric_series(s.run_id, "loss", -1)
            .unwrap()
            .is_empty());
        assert_eq!(
            store
                .metric_series(s.run_id, "heldout_reward_after", -1)
                .unwrap()
                .len(),
            report.after.len()
        );
        if method == Method::Bon {
            bon_checkpoint = s.checkpoint_path.clone();
        }
    }

    // Cancel the same bon round after 3 steps, resume it: it ends where the uninterrupted
    // round ended, bit for bit.
    let stop = CancelToken::default();
    let stopper = stop.clone();
    let cut = policy::improve(
        &mut store,
        &db,
        &improve_cfg(Method::Bon, sft.run_id),
        "test",
        &mut |e| {
            if matches!(e, policy::PolicyEvent::Step(m) if m.step == 3) {
                stopper.cancel();
            }
        },
        &stop,
    )
    .unwrap();
    assert_eq!(cut.status, RunStatus::Cancelled);
    assert_eq!(cut.steps, 3);
    let resumed =
        policy::resume_improve(&mut store, &db, cut.run_id, &mut |_| {}, &cancel).unwrap();
    assert_eq!(resumed.status, RunStatus::Done, "{:?}", resumed.message);
    let weights = |dir: &str| {
        candle_core::safetensors::load(Path::new(dir).join("model.safetensors"), &Device::Cpu)
            .unwrap()
    };
    let (a, b) = (
        weights(bon_checkpoint.as_ref().unwrap()),
        weights(resumed.checkpoint_path.as_ref().unwrap()),
    );
    assert_eq!(a.len(), b.len());
    for (name, t) in &a {
        let diff = kibble::ml::kernels::max_abs_diff(t, &b[name]).unwrap();
        assert_eq!(diff, 0.0, "{name} differs after resume");
    }
    let again = policy::resume_improve(&mut store, &db, cut.run_id, &mut |_| {}, &cancel);
    assert!(again.unwrap_err().to_string().contains("has finished"));

    // Samples go into the labelling queue with their provenance.
    let before = store.count_rows(RowCount::Candidates).unwrap();
    let sampled = policy::sample(
        &mut store,
        &SampleConfig {
            policy: PolicyRef::Run(sft.run_id),
            prompts: PromptSelection::All,
            n: 2,
            gen: GenConfig {
                max_new_tokens: 12,
                ..GenConfig::default()
            },
            chat_template: None,
        },
        "test",
        &mut |_| {},
        &cancel,
    )
    .unwrap();
    assert_eq!(sampled.source, format!("policy:{}/round0", sft.run_id));
    assert!(
        sampled.candidates_added > 100,
        "{}",
        sampled.candidates_added
    );
    assert_eq!(
        store.count_rows(RowCount::Candidates).unwrap(),
        before + sampled.candidates_added as i64
    );
    // `--prompts FILE` with a prompts JSONL: a new chat prompt is added, then answered.
    let jsonl = dir.path().join("ask.jsonl");
    std::fs::write(
        &jsonl,
        "{\"prompt\": [{\"role\": \"user\", \"content\": \"a brand new question about kiwi\"}], \"id\": \"new-1\"}\n",
    )
    .unwrap();
    let from_file = policy::sample(
        &mut store,
        &SampleConfig {
            policy: PolicyRef::Run(sft.run_id),
            prompts: PromptSelection::File(jsonl),
            n: 2,
            gen: GenConfig {
                max_new_tokens: 8,
                ..GenConfig::default()
            },
            chat_template: None,
        },
        "test",
        &mut |_| {},
        &cancel,
    )
    .unwrap();
    assert_eq!(from_file.prompts, 1);
    assert!(from_file.candidates_added >= 1);
    // kibble's tiny policy samples at temperature 1 unless told otherwise.
    let ms = policy::model_sampling(&store, &PolicyRef::Run(sft.run_id)).unwrap();
    assert_eq!((ms.temperature, ms.top_p), (1.0, 1.0));
    // The simulated annotator now has new candidates to rank on those prompts.
    assert!(
        simulate(&mut store, "regex:kiwi", 0.1, 3, None, None)
            .unwrap()
            .ranked
            > 100
    );

    // Export as GPT-2 and load back: same logits.
    let out = dir.path().join("hf");
    kibble::jobs::export_model::export_policy(Path::new(&sft_dir), &out).unwrap();
    for f in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "generation_config.json",
    ] {
        assert!(out.join(f).exists(), "{f}");
    }
    let (back, _) = kibble::jobs::export_model::load_gpt2(&out, &Device::Cpu).unwrap();
    let orig = load_policy(Path::new(&sft_dir), &Device::Cpu).unwrap();
    let ids =
        candle_core::Tensor::from_vec(vec![3u32, 9, 27, 5, 11], (1, 5), &Device::Cpu).unwrap();
    let mask = candle_core::Tensor::ones((1, 5), candle_core::DType::F32, &Device::Cpu).unwrap();
    let a: Vec<Vec<f32>> = orig.policy.logits(&ids, &mask).unwrap().to_vec2().unwrap();
    let b: Vec<Vec<f32>> = back.logits(&ids, &mask).unwrap().to_vec2().unwrap();
    assert_eq!(a, b);
}

#[test]
fn simulate_rejects_bad_rules_and_train_policy_needs_data() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("empty.db");
    let mut store = Store::open(&db).unwrap();
    let e = simulate(&mut store, "regex:(", 0.0, 0, None, None).unwrap_err();
    assert!(
        e.to_string().contains("not a valid regular expression"),
        "{e}"
    );
    let e = simulate(&mut store, "kindest", 0.0, 0, None, None).unwrap_err();
    assert!(e.to_string().contains("expected regex:PATTERN"), "{e}");
    let e = policy::train_sft(
        &mut store,
        &db,
        &SftConfig::default(),
        "t",
        &mut |_| {},
        &CancelToken::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("rank some prompts"), "{e}");
    let e = policy::improve(
        &mut store,
        &db,
        &ImproveConfig::default(),
        "t",
        &mut |_| {},
        &CancelToken::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("train-policy --sft"), "{e}");
}

#[test]
fn sampling_defaults_come_from_generation_config_else_labelable_ones() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.db")).unwrap();
    let model = dir.path().join("model");
    std::fs::create_dir(&model).unwrap();
    let at = |json: Option<&str>| {
        if let Some(j) = json {
            std::fs::write(model.join("generation_config.json"), j).unwrap();
        }
        policy::model_sampling(&store, &PolicyRef::Dir(model.clone())).unwrap()
    };
    // No generation_config.json: a pretrained model gets temperature 0.7, top-p 0.9.
    let d = at(None);
    assert_eq!((d.temperature, d.top_k, d.top_p), (0.7, 0, 0.9));
    let g = at(Some(
        r#"{"do_sample": true, "temperature": 0.3, "top_p": 0.8, "top_k": 40}"#,
    ));
    assert_eq!((g.temperature, g.top_k, g.top_p), (0.3, 40, 0.8));
    assert!(g.source.contains("generation_config.json"));
    // Greedy (do_sample false) is not what labelling wants: the defaults again.
    let greedy = at(Some(r#"{"do_sample": false, "temperature": 0.3}"#));
    assert_eq!((greedy.temperature, greedy.top_p), (0.7, 0.9));
    // A GGUF file looks beside itself.
    std::fs::write(
        model.join("generation_config.json"),
        r#"{"temperature": 0.5}"#,
    )
    .unwrap();
    let gguf = policy::model_sampling(&store, &PolicyRef::Dir(model.join("m.gguf"))).unwrap();
    assert_eq!(gguf.temperature, 0.5);
}

/// Two criteria, two hidden rules: "kiwi" answers are more helpful (ranked), "plum" answers
/// funnier (rated 1-5). A reward model per criterion; a best-of-n round on `helpful=1,funny=0`
/// moves kiwi and not plum, and `helpful=0,funny=1` the reverse.
#[test]
fn a_round_on_a_weighted_combination_moves_the_criteria_it_weights() {
    use kibble::jobs::reward::{parse_weights, resolve_parts};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("two.db");
    let (mut store, held_out) = words_db(&db, Some("plum"));
    let cancel = CancelToken::default();
    let task = "name = \"two\"\n[[criterion]]\nname = \"helpful\"\nkind = \"rank\"\n\
                [[criterion]]\nname = \"funny\"\nkind = \"rate\"\nscale = [1, 5]\n";
    let (task, _) = kibble::domain::task::parse_task_file(Path::new("t.toml"), task).unwrap();
    store.set_task(&task).unwrap();
    let sim = kibble::jobs::simulate::simulate_on;
    sim(
        &mut store,
        Some("helpful"),
        "regex:kiwi",
        0.0,
        0,
        None,
        None,
    )
    .unwrap();
    sim(&mut store, Some("funny"), "regex:plum", 0.0, 0, None, None).unwrap();
    for criterion in ["helpful", "funny"] {
        let rm_cfg = rm_config(Some(criterion));
        let rm =
            train_rm::run(&mut store, &db, &rm_cfg, None, "test", &mut |_| {}, &cancel).unwrap();
        assert!(
            rm.eval_accuracy.unwrap() > 0.8,
            "{criterion}: {:?}",
            rm.eval_accuracy
        );
    }
    let sft_cfg = sft_config();
    let sft = policy::train_sft(&mut store, &db, &sft_cfg, "test", &mut |_| {}, &cancel).unwrap();
    let sft_dir = sft.checkpoint_path.clone().unwrap();
    let rate = |dir: &str, w: &str| word_rate(Path::new(dir), &held_out, w);
    let (kiwi0, plum0) = (rate(&sft_dir, "kiwi"), rate(&sft_dir, "plum"));
    let mut moved = Vec::new();
    for weights in ["helpful=1,funny=0", "helpful=0,funny=1"] {
        let (parts, gate) = resolve_parts(&store, &parse_weights(weights).unwrap(), None).unwrap();
        let cfg = ImproveConfig {
            reward: parts,
            gate,
            ..improve_cfg(Method::Bon, sft.run_id)
        };
        let s = policy::improve(&mut store, &db, &cfg, "test", &mut |_| {}, &cancel).unwrap();
        assert_eq!(s.status, RunStatus::Done, "{weights}: {:?}", s.message);
        let report = s.round.unwrap();
        let names: Vec<&str> = report
            .criteria
            .iter()
            .map(|c| c.criterion.as_str())
            .collect();
        assert_eq!(names, ["helpful", "funny"], "each criterion is reported");
        let dir = s.checkpoint_path.unwrap();
        let (dk, dp) = (rate(&dir, "kiwi") - kiwi0, rate(&dir, "plum") - plum0);
        eprintln!(
            "{weights}: kiwi {kiwi0:.2}{dk:+.2}, plum {plum0:.2}{dp:+.2}; {:?}",
            report.criteria
        );
        moved.push((dk, dp));
    }
    let ((k1, p1), (k2, p2)) = (moved[0], moved[1]);
    assert!(
        k1 > 0.1 && k1 > 2.0 * p1.max(0.0),
        "helpful=1 moves kiwi, not plum: {moved:?}"
    );
    assert!(
        p2 > 0.1 && p2 > 2.0 * k2.max(0.0),
        "funny=1 moves plum, not kiwi: {moved:?}"
    );
}
