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
    // A prompt with 10,000 candidates imports whole.
    let many: Vec<String> = (0..10_000).map(|i| format!("answer {i}")).collect();
    let line = serde_json::json!({"prompt": "many", "candidates": many}).to_string();
    let mut store = Store::open_in_memory().unwrap();
    import_reader(
        &mut store,
        Cursor::new(format!("{line}\n")),
        "m",
        "m",
        ImportOptions::default(),
    )
    .unwrap();
    assert_eq!(store.stats().unwrap().candidates, 10_000);
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
