//! Checks on model sizes read from files (`config.json`, GGUF metadata, kibble checkpoints)
//! before any kernel trusts them. A crafted file gets an error naming its field, never a
//! panic or an out-of-bounds read in a kernel that assumes, say, heads divide the width.

/// The file's name for one of our config fields (our own name when `names` has none).
pub fn field_name(names: &[(&str, &str)], ours: &'static str) -> String {
    names
        .iter()
        .find(|(o, _)| *o == ours)
        .map_or(ours, |(_, theirs)| theirs)
        .to_string()
}

/// A size: at least 1 and at most `max` (far above any real model, far below an overflow).
pub fn dim(field: &str, value: usize, max: usize) -> Result<(), String> {
    if value == 0 || value > max {
        return Err(format!(
            "field \"{field}\" is {value}; it must be between 1 and {max}"
        ));
    }
    Ok(())
}

/// `part` divides `whole` (heads into the width, key/value heads into heads).
pub fn divides(
    part_field: &str,
    part: usize,
    whole_field: &str,
    whole: usize,
) -> Result<(), String> {
    if part == 0 || !whole.is_multiple_of(part) {
        return Err(format!(
            "field \"{part_field}\" ({part}) must divide \"{whole_field}\" ({whole})"
        ));
    }
    Ok(())
}

pub fn finite_positive(field: &str, value: f64) -> Result<(), String> {
    if !(value.is_finite() && value > 0.0) {
        return Err(format!(
            "field \"{field}\" is {value}; it must be a positive number"
        ));
    }
    Ok(())
}

/// The file holds exactly layers `0..n` under `prefix` (`model.layers.`, `encoder.layer.`):
/// a config that names more or fewer layers than the weights must not load.
pub fn layer_count<'a>(
    names: impl Iterator<Item = &'a String>,
    prefix: &str,
    field: &str,
    n: usize,
) -> Result<(), String> {
    let mut seen = std::collections::BTreeSet::new();
    for name in names {
        if let Some(i) = name
            .strip_prefix(prefix)
            .and_then(|r| r.split('.').next())
            .and_then(|i| i.parse::<usize>().ok())
        {
            seen.insert(i);
        }
    }
    let expected: std::collections::BTreeSet<usize> = (0..n).collect();
    if seen != expected {
        return Err(format!(
            "field \"{field}\" is {n}, but the weights hold {} layers ({prefix}N): use the config that came with them",
            seen.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_checked_and_named() {
        assert!(dim("n", 1, 4).is_ok());
        assert_eq!(
            dim("num_attention_heads", 0, 1024).unwrap_err(),
            "field \"num_attention_heads\" is 0; it must be between 1 and 1024"
        );
        assert!(dim("n", 5, 4).is_err());
        assert!(divides("heads", 6, "hidden", 384).is_ok());
        assert!(divides("heads", 7, "hidden", 384)
            .unwrap_err()
            .contains("\"heads\" (7) must divide \"hidden\" (384)"));
        assert!(divides("heads", 0, "hidden", 384).is_err());
        assert!(finite_positive("eps", f64::NAN).is_err());
        assert_eq!(
            field_name(&[("n_heads", "num_attention_heads")], "n_heads"),
            "num_attention_heads"
        );
        assert_eq!(field_name(&[], "n_heads"), "n_heads");
        let names: Vec<String> = ["l.0.w", "l.1.w", "l.1.b", "emb"]
            .map(String::from)
            .to_vec();
        assert!(layer_count(names.iter(), "l.", "layers", 2).is_ok());
        assert_eq!(
            layer_count(names.iter(), "l.", "layers", 9).unwrap_err(),
            "field \"layers\" is 9, but the weights hold 2 layers (l.N): use the config that came with them"
        );
    }
}
