//! `import`, `export` and `stats`.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::{open_store, BadInput};
use crate::cli::{ExportArgs, ImportArgs, StatsArgs};
use crate::files::AtomicFile;
use crate::jobs::export::{export, ExportOptions};
use crate::jobs::import::{import_file, ImportOptions};

pub(super) fn import(db: &Path, args: ImportArgs) -> anyhow::Result<()> {
    let mut store = open_store(db)?;
    let opts = ImportOptions {
        format: args.format.format(),
        skip_invalid: args.skip_invalid,
    };
    for file in &args.files {
        let report = match import_file(&mut store, file, opts) {
            Ok(r) => r,
            Err(e) if e.is_bad_input() => {
                return Err(BadInput(format!(
                    "{e}\nNothing from {} was imported. Fix the line, or re-run with --skip-invalid to import the good lines.",
                    file.display()
                ))
                .into())
            }
            Err(e) => return Err(e.into()),
        };
        if args.json {
            println!("{}", serde_json::to_string(&report)?);
        } else {
            let c = report.counts;
            println!(
                "{}: {} lines ({}): added {} prompts, {} candidates, {} rankings{}",
                report.file,
                c.lines,
                report.format.unwrap_or("empty"),
                c.prompts_added,
                c.candidates_added,
                c.rankings_added,
                match &report.rejects_file {
                    Some(p) => format!("; {} rejected, see {}", c.rejected, p.display()),
                    None => String::new(),
                }
            );
        }
    }
    Ok(())
}

pub(super) fn export_cmd(db: &Path, args: ExportArgs) -> anyhow::Result<()> {
    if let Some(f) = args.split {
        if !(0.0..1.0).contains(&f) {
            return Err(BadInput(format!("--split must be in [0, 1), got {f}")).into());
        }
    }
    let store = open_store(db)?;
    use crate::data::export::ExportFormat;
    let format: ExportFormat = args.format.into();
    let pairs = matches!(format, ExportFormat::Trl | ExportFormat::Openrlhf);
    if !pairs && (args.weight || args.merge.is_some()) {
        return Err(
            BadInput("--weight and --merge apply to --format trl and openrlhf".into()).into(),
        );
    }
    let opts = ExportOptions {
        format,
        annotator: args.only_annotator,
        split: args.split.map(|f| (f, args.seed)),
        exclude: match &args.exclude {
            Some(e) => crate::jobs::export::Exclude::parse(e).map_err(BadInput)?,
            None => Default::default(),
        },
        weights: args.weight,
        merge: args.merge.map(Into::into),
        criterion: args.criterion,
        prefer_gold: args.prefer_gold,
    };
    let counts = match (&args.out, args.split) {
        (None, _) => {
            let stdout = std::io::stdout();
            let mut out = BufWriter::new(stdout.lock());
            let c = export(&store, &opts, &mut out, None)?;
            out.flush()?;
            c
        }
        (Some(path), None) => write_file_atomically(path, |w| export(&store, &opts, w, None))?,
        (Some(path), Some(_)) => {
            let (train_path, eval_path) = split_paths(path);
            let mut eval_tmp = AtomicFile::create(&eval_path)?;
            let c = write_file_atomically(&train_path, |w| {
                export(&store, &opts, w, Some(eval_tmp.writer()))
            })?;
            eval_tmp.commit()?;
            eprintln!("wrote {} and {}", train_path.display(), eval_path.display());
            c
        }
    };
    eprintln!(
        "exported {} records from {} prompts{}",
        counts.train_records + counts.eval_records,
        counts.train_prompts + counts.eval_prompts,
        if args.split.is_some() {
            format!(
                " (eval: {} records from {} prompts)",
                counts.eval_records, counts.eval_prompts
            )
        } else {
            String::new()
        }
    );
    Ok(())
}

/// `pairs.jsonl` -> `pairs.train.jsonl`, `pairs.eval.jsonl`.
pub fn split_paths(path: &Path) -> (PathBuf, PathBuf) {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (stem, ext) = match name.find('.') {
        Some(i) => (&name[..i], &name[i..]),
        None => (name.as_str(), ""),
    };
    (
        path.with_file_name(format!("{stem}.train{ext}")),
        path.with_file_name(format!("{stem}.eval{ext}")),
    )
}

pub(super) fn write_file_atomically<T>(
    path: &Path,
    f: impl FnOnce(&mut dyn Write) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let mut file = AtomicFile::create(path)
        .with_context(|| format!("cannot create a file beside {}", path.display()))?;
    let value = f(file.writer())?;
    file.commit()
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(value)
}

pub(super) fn stats(db: &Path, args: StatsArgs) -> anyhow::Result<()> {
    let store = open_store(db)?;
    let s = store.stats()?;
    let agreement = store.agreement()?;
    let criteria = store.criteria_quality()?;
    if args.json {
        let mut v = serde_json::to_value(&s)?;
        v["agreement"] = serde_json::to_value(&agreement)?;
        v["criteria"] = serde_json::to_value(&criteria)?;
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!("database     {}", db.display());
    println!(
        "prompts      {} ({} with candidates to rank, {} ranked)",
        s.prompts, s.rankable_prompts, s.ranked_prompts
    );
    println!("candidates   {}", s.candidates);
    println!("progress     {}", crate::tui::ui::progress_line(&s));
    println!(
        "rankings     {} live, {} skips, {} retracted; {} in the last hour",
        s.rankings, s.skips, s.retracted, s.rankings_last_hour
    );
    println!(
        "marks        {} flagged, {} with a note",
        s.flagged, s.noted
    );
    if !s.annotators.is_empty() {
        println!();
        println!(
            "{:<28} {:>9} {:>6} {:>9} {:>7} {:>5} {:>6} {:>9} {:>9}",
            "annotator",
            "rankings",
            "skips",
            "retracted",
            "flagged",
            "notes",
            "rushed",
            "median s",
            "per hour"
        );
        for a in &s.annotators {
            let opt = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.1}"));
            println!(
                "{:<28} {:>9} {:>6} {:>9} {:>7} {:>5} {:>6} {:>9} {:>9}",
                crate::text::sanitize_line(&a.name, 28),
                a.rankings,
                a.skips,
                a.retracted,
                a.flagged,
                a.noted,
                a.rushed,
                opt(a.median_seconds),
                opt(a.per_hour)
            );
        }
    }
    print_agreement(&agreement);
    // Only a task of its own has criteria worth a table; the default one is the line above.
    if store.task()?.1 != crate::domain::Task::default() {
        println!();
        println!("{}", crate::analysis::CRITERIA_HEADER);
        for q in &criteria {
            println!("{}", q.row());
        }
    }
    Ok(())
}

fn pct(v: Option<f64>) -> String {
    v.map_or("-".into(), |x| format!("{:.0}%", x * 100.0))
}

fn print_agreement(a: &crate::analysis::Agreement) {
    if a.annotators.is_empty() {
        return;
    }
    println!();
    println!(
        "agreement    {} prompts ranked by 2+ annotators; pairwise {}; Krippendorff's alpha (ordinal) {}",
        a.shared_prompts,
        pct(a.pairwise_agreement),
        a.krippendorff_alpha_ordinal
            .map_or("-".into(), |x| format!("{x:.3}"))
    );
    println!(
        "{:<32} {:>7} {:>14} {:>13} {:>7}",
        "annotator", "ranked", "first-shown", "vs others", "gold"
    );
    for q in &a.annotators {
        println!(
            "{:<32} {:>7} {:>14} {:>13} {:>7}",
            crate::text::sanitize_line(&q.name, 32),
            q.ranked,
            format!(
                "{} ({})",
                pct(q.first_shown_best),
                pct(q.first_shown_chance)
            ),
            pct(q.agreement_with_others),
            pct(q.gold_agreement)
        );
    }
    println!("first-shown: how often the answer shown first was ranked best (chance in brackets)");
}
