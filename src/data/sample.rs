//! The bundled sample data, compiled into the binary so a new DB shows something real
//! from any folder and after `cargo install`. Content: see `sample_data/README.md`.

/// (file name, contents) of each bundled file, imported in this order.
pub const SAMPLE_FILES: &[(&str, &str)] = &[
    (
        "sample_prompts.jsonl",
        include_str!("../../sample_data/sample_prompts.jsonl"),
    ),
    (
        "sample_trl.jsonl",
        include_str!("../../sample_data/sample_trl.jsonl"),
    ),
    (
        "sample_hh.jsonl",
        include_str!("../../sample_data/sample_hh.jsonl"),
    ),
];
