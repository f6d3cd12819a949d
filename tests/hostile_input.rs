//! Hostile input: every importer and the keymap parser get random and adversarial bytes and must
//! answer with an error or a clean import — never a panic, never a partial import.

use std::io::Cursor;

use kibble::jobs::import::{import_reader, ImportOptions};
use kibble::store::Store;
use kibble::tui::keymap::Keymap;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

const SEEDS: &[&str] = &[
    r#"{"prompt":"p","candidates":["a","b"],"id":"x","meta":{"k":1},"rankings":[{"annotator":"z","groups":[[1],[0]]}],"gold":[[0],[1]]}"#,
    r#"{"prompt":[{"role":"user","content":"hi"}],"chosen":[{"role":"assistant","content":"a"}],"rejected":[{"role":"assistant","content":"b"}],"margin":2}"#,
    r#"{"chosen":"\n\nHuman: q\n\nAssistant: yes","rejected":"\n\nHuman: q\n\nAssistant: no"}"#,
    r#"{"prompt":"only a prompt","id":7}"#,
];

/// Imports `bytes`; on error nothing may have been written.
fn import_checked(bytes: &[u8], skip_invalid: bool) {
    let mut store = Store::open_in_memory().unwrap();
    let before = store.stats().unwrap();
    let r = import_reader(
        &mut store,
        Cursor::new(bytes.to_vec()),
        "fuzz.jsonl",
        "fuzz.jsonl",
        ImportOptions {
            format: None,
            skip_invalid,
        },
    );
    if r.is_err() {
        assert_eq!(
            store.stats().unwrap(),
            before,
            "a failed import wrote something"
        );
    }
}

#[test]
fn mutated_lines_never_panic_or_import_partially() {
    let mut rng = Rng(0xfeed_beef);
    for round in 0..3000 {
        let base = SEEDS[round % SEEDS.len()].as_bytes().to_vec();
        let mut lines = Vec::new();
        for _ in 0..(1 + rng.next() % 4) {
            let mut l = base.clone();
            for _ in 0..(rng.next() % 6) {
                let i = (rng.next() as usize) % l.len().max(1);
                match rng.next() % 4 {
                    0 => l[i] = rng.next() as u8,
                    1 => {
                        l.remove(i.min(l.len() - 1));
                    }
                    2 => {
                        let specials = b"{}[]\",:\\\0\xff";
                        l.insert(i, specials[(rng.next() % specials.len() as u64) as usize])
                    }
                    _ => l.truncate(i),
                }
                if l.is_empty() {
                    break;
                }
            }
            lines.extend_from_slice(&l);
            lines.push(b'\n');
        }
        import_checked(&lines, round % 2 == 0);
    }
}

#[test]
fn specific_attacks_are_clear_errors() {
    // Deeply nested JSON (beyond serde's recursion limit).
    let deep = format!("{{\"prompt\":{}1{}}}\n", "[".repeat(5000), "]".repeat(5000));
    import_checked(deep.as_bytes(), false);
    // NUL bytes inside and outside strings.
    import_checked(
        b"{\"prompt\":\"a\\u0000b\",\"candidates\":[\"x\\u0000\",\"y\"]}\n\0\0\0\n",
        false,
    );
    // A prompt with 10,000 candidates is refused with a clear error (the label screen ranks
    // at most 9), and nothing is written.
    let many: Vec<String> = (0..10_000).map(|i| format!("answer {i}")).collect();
    let line = serde_json::json!({"prompt": "many", "candidates": many}).to_string();
    let mut store = Store::open_in_memory().unwrap();
    let err = import_reader(
        &mut store,
        Cursor::new(format!("{line}\n")),
        "m",
        "m",
        ImportOptions::default(),
    )
    .err()
    .expect("refused");
    assert!(
        err.to_string()
            .starts_with("m:1: field \"candidates\": 10000 distinct candidates"),
        "{err}"
    );
    assert_eq!(store.stats().unwrap().candidates, 0);
    // Duplicate ids with different text: two prompts (content decides identity), id kept as metadata.
    let dup = "{\"id\":\"same\",\"prompt\":\"one\",\"candidates\":[\"a\",\"b\"]}\n{\"id\":\"same\",\"prompt\":\"two\",\"candidates\":[\"a\",\"b\"]}\n";
    let mut store = Store::open_in_memory().unwrap();
    import_reader(
        &mut store,
        Cursor::new(dup),
        "d",
        "d",
        ImportOptions::default(),
    )
    .unwrap();
    assert_eq!(store.stats().unwrap().prompts, 2);
    // A 100 MB line is refused without being held in memory, and nothing is written.
    let mut big = b"{\"prompt\":\"".to_vec();
    big.resize(100 << 20, b'x');
    big.extend_from_slice(b"\",\"candidates\":[\"a\",\"b\"]}\n");
    let mut store = Store::open_in_memory().unwrap();
    let err = import_reader(
        &mut store,
        Cursor::new(big),
        "big",
        "big",
        ImportOptions::default(),
    )
    .err()
    .expect("a 100 MB line must be refused");
    assert!(err.to_string().contains("longer than 16 MiB"), "{err}");
    assert_eq!(store.stats().unwrap().prompts, 0);
}

#[test]
fn keymap_parser_takes_garbage_without_panicking() {
    let mut rng = Rng(42);
    let pieces = [
        "skip", "=", "[", "]", "\"", "x", "ctrl-", "f99", "pick_0", "pick_9", "\n", " ", "#", "é",
        "\0", "quit", ",",
    ];
    for _ in 0..5000 {
        let text: String = (0..(rng.next() % 20))
            .map(|_| pieces[(rng.next() % pieces.len() as u64) as usize])
            .collect();
        let _ = Keymap::load(Some(("fuzz.toml", &text)));
    }
}

/// A small BERT folder in HF layout, as `export-model` writes one (what `--backbone` loads).
fn bert_folder(dir: &std::path::Path) -> std::path::PathBuf {
    use kibble::ml::checkpoint::{self, CheckpointMeta};
    use kibble::ml::models::config::{Arch, ModelConfig};
    use kibble::ml::models::reward::RewardModel;
    use kibble::ml::text::tokenizer::{train_bpe, PairEncoder};
    let texts = (0..50).map(|i| format!("a prompt {i} and an answer {}", i * 2));
    let mut tok = train_bpe(texts, 200).unwrap();
    tok.add_special_tokens(
        &["[PAD]", "[CLS]", "[SEP]"].map(|t| tokenizers::AddedToken::from(t, true)),
    );
    let config = ModelConfig {
        arch: Arch::Bert,
        vocab_size: tok.get_vocab_size(true),
        max_len: 16,
        d_model: 16,
        n_layers: 2,
        n_heads: 2,
        d_ff: 32,
        ln_eps: 1e-12,
        type_vocab_size: 2,
        freeze_backbone: false,
        n_outputs: 1,
        decoder: None,
        lora: None,
    };
    let dev = candle_core::Device::Cpu;
    let model = RewardModel::new(&config, 1, &dev).unwrap();
    let encoder = PairEncoder::for_bert(tok, 16).unwrap();
    let meta = CheckpointMeta {
        kind: checkpoint::KIND.into(),
        model: config,
        train: Default::default(),
        step: 1,
        max_len: 16,
        reward_mean: 0.0,
        reward_std: 1.0,
        heads: vec![],
        head_stats: vec![],
        ranking_ids: vec![],
        data_hash: String::new(),
        metrics: serde_json::Value::Null,
        format: None,
    };
    let ckpt = dir.join("ckpt");
    checkpoint::save(&ckpt, &model, &encoder, &meta, None).unwrap();
    let out = dir.join("bert");
    kibble::jobs::export_model::export_reward_model(&ckpt, &out).unwrap();
    out
}

/// Loads the folder as a backbone and, when that succeeds, scores a pair with it: either a
/// clear error naming one of its files, or a working model. Never a panic.
fn load_and_score(dir: &std::path::Path) -> Result<(), String> {
    use kibble::ml::checkpoint::{load_backbone, BackboneOptions};
    let dev = candle_core::Device::Cpu;
    let opts = BackboneOptions {
        freeze: false,
        max_len: 16,
        heads: 1,
        seed: 0,
        lora: None,
    };
    let (model, encoder) = load_backbone(dir, &opts, &dev).map_err(|e| e.to_string())?;
    let enc = encoder
        .encode("a prompt 3", "an answer 6")
        .map_err(|e| e.to_string())?;
    let batch = kibble::ml::models::reward::Batch::new(
        &[enc.ids.as_slice()],
        Some(&[enc.type_ids.as_slice()]),
        0,
        &dev,
    )
    .map_err(|e| e.to_string())?;
    model.forward(&batch).map_err(|e| e.to_string())?;
    Ok(())
}

fn names_a_file(e: &str) -> bool {
    ["config.json", "model.safetensors", "tokenizer.json"]
        .iter()
        .any(|f| e.contains(f))
}

#[test]
fn hostile_model_configs_are_clear_errors_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let bert = bert_folder(dir.path());
    load_and_score(&bert).expect("the untouched folder loads and scores");
    let cfg_path = bert.join("config.json");
    let original: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg_path).unwrap()).unwrap();
    let set = |field: &str, v: serde_json::Value| {
        let mut c = original.clone();
        c[field] = v;
        std::fs::write(&cfg_path, c.to_string()).unwrap();
        load_and_score(&bert)
    };
    // The cases seen on a copy of all-MiniLM-L6-v2, each a clear error naming the field.
    for (field, v, says) in [
        (
            "num_attention_heads",
            7,
            "\"num_attention_heads\" (7) must divide \"hidden_size\" (16)",
        ),
        ("num_attention_heads", 0, "\"num_attention_heads\" is 0"),
        (
            "num_attention_heads",
            1000,
            "\"num_attention_heads\" (1000) must divide",
        ),
        (
            "num_hidden_layers",
            9,
            "\"num_hidden_layers\" is 9, but the weights hold 2 layers",
        ),
        (
            "num_hidden_layers",
            1,
            "\"num_hidden_layers\" is 1, but the weights hold 2 layers",
        ),
        ("hidden_size", 0, "\"hidden_size\" is 0"),
        ("vocab_size", 1 << 30, "\"vocab_size\" is 1073741824"),
    ] {
        let e = set(field, serde_json::json!(v)).expect_err(field);
        assert!(
            e.contains("config.json") && e.contains(says),
            "{field}={v}: {e}"
        );
    }
    // A seeded mutation loop over every numeric value.
    let values = [
        serde_json::json!(0),
        serde_json::json!(1),
        serde_json::json!(3),
        serde_json::json!(7),
        serde_json::json!(17),
        serde_json::json!(64),
        serde_json::json!(1_000_000),
        serde_json::json!(u64::MAX),
        serde_json::json!(-1),
        serde_json::json!(0.5),
        serde_json::json!("x"),
        serde_json::Value::Null,
    ];
    let fields: Vec<String> = original
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, v)| v.is_number())
        .map(|(k, _)| k.clone())
        .collect();
    let mut rng = Rng(0x5eed);
    for _ in 0..150 {
        let field = &fields[rng.next() as usize % fields.len()];
        let v = values[rng.next() as usize % values.len()].clone();
        if let Err(e) = set(field, v.clone()) {
            assert!(names_a_file(&e), "{field}={v}: {e}");
        }
    }
    std::fs::write(&cfg_path, original.to_string()).unwrap();

    // The safetensors header: shapes and offsets rewritten at random.
    let weights = bert.join("model.safetensors");
    let bytes = std::fs::read(&weights).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let names: Vec<String> = header
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| *k != "__metadata__")
        .cloned()
        .collect();
    for _ in 0..60 {
        let mut h = header.clone();
        let name = &names[rng.next() as usize % names.len()];
        let pick = |r: u64| [0u64, 1, 2, 16, 32, 7, 1 << 40][r as usize % 7];
        match rng.next() % 3 {
            0 => h[name]["shape"] = serde_json::json!([pick(rng.next()), pick(rng.next())]),
            1 => h[name]["shape"] = serde_json::json!([pick(rng.next())]),
            _ => h[name]["data_offsets"] = serde_json::json!([pick(rng.next()), pick(rng.next())]),
        }
        let text = h.to_string();
        let mut out = (text.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(text.as_bytes());
        out.extend_from_slice(&bytes[8 + n..]);
        std::fs::write(&weights, out).unwrap();
        if let Err(e) = load_and_score(&bert) {
            assert!(names_a_file(&e), "{name}: {e}");
        }
    }
}

/// A kibble checkpoint whose head count disagrees with its names, stats or weights is refused
/// with the file named, before any score is trusted.
#[test]
fn hostile_reward_heads_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    bert_folder(dir.path());
    let ckpt = dir.path().join("ckpt");
    let cfg_path = ckpt.join("config.json");
    let original: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg_path).unwrap()).unwrap();
    let dev = candle_core::Device::Cpu;
    kibble::ml::checkpoint::load(&ckpt, &dev).expect("the untouched checkpoint loads");
    let cases = [
        (
            serde_json::json!(2),
            serde_json::json!([]),
            serde_json::json!([]),
        ),
        (
            serde_json::json!(1000),
            serde_json::json!([]),
            serde_json::json!([]),
        ),
        (
            serde_json::json!(2),
            serde_json::json!(["a", "b"]),
            serde_json::json!([[0.0, 1.0]]),
        ),
        (
            serde_json::json!(2),
            serde_json::json!(["a", "b"]),
            serde_json::json!([[0.0, 1.0], [0.0, -1.0]]),
        ),
        // Names and stats agree, but the weights hold one head.
        (
            serde_json::json!(2),
            serde_json::json!(["a", "b"]),
            serde_json::json!([[0.0, 1.0], [0.0, 1.0]]),
        ),
    ];
    for (n, heads, stats) in cases {
        let mut c = original.clone();
        c["model"]["n_outputs"] = n.clone();
        c["heads"] = heads.clone();
        c["head_stats"] = stats.clone();
        std::fs::write(&cfg_path, c.to_string()).unwrap();
        let got = kibble::ml::checkpoint::load(&ckpt, &dev);
        let e = got.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            e.contains("config.json") || e.contains("model.safetensors"),
            "n_outputs {n}, heads {heads}, stats {stats}: {e:?}"
        );
    }
}
