//! Importing files into the store: stream lines, parse, write in one transaction.
//! All-or-nothing unless `skip_invalid`, in which case bad lines go to `FILE.rejects.jsonl`.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::data::formats::{detect, parse_item, parse_object, FieldError};
use crate::data::reader::{open_input, LineProblem, LineReader, MAX_LINE_BYTES};
use crate::data::ImportRanking;
use crate::data::{Format, ImportItem};
use crate::domain::{now_ms, CriterionKind, Judgement, NewRanking, Task, Verdict, MAX_CANDIDATES};
use crate::store::{ImportCounts, ImportWriter, Store, StoreError};

#[derive(Debug, Clone, Copy, Default)]
pub struct ImportOptions {
    /// `None`: detect from the first valid line.
    pub format: Option<Format>,
    pub skip_invalid: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{file}:{line}: {message}")]
    Line {
        file: String,
        line: u64,
        message: String,
    },
    #[error("{file}: {message}")]
    File { file: String, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ImportError {
    /// Bad input (exit code 2) rather than a failure of kibble or the machine (exit code 1).
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, ImportError::Store(_))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    pub file: String,
    pub format: Option<&'static str>,
    #[serde(flatten)]
    pub counts: ImportCounts,
    pub rejects_file: Option<PathBuf>,
}

#[derive(Serialize)]
struct Reject<'a> {
    line: u64,
    error: &'a str,
    text: String,
}

pub fn import_file(
    store: &mut Store,
    path: &Path,
    opts: ImportOptions,
) -> Result<ImportReport, ImportError> {
    let shown = path.display().to_string();
    let input = open_input(path).map_err(|e| ImportError::File {
        file: shown.clone(),
        message: format!("cannot open: {e}"),
    })?;
    let rejects_path = opts.skip_invalid.then(|| rejects_path(path));
    let mut report = import_reader(store, input, &shown, &file_name(path), opts)?;
    if let (Some(target), Some(rejects)) = (rejects_path, report.rejects.take()) {
        crate::files::write_atomically(&target, &rejects).map_err(|e| ImportError::File {
            file: target.display().to_string(),
            message: format!("cannot write rejects: {e}"),
        })?;
        report.report.rejects_file = Some(target);
    }
    Ok(report.report)
}

/// The outcome of `import_reader`, with rejected lines (JSONL) still in memory-bounded form.
pub struct ReaderImport {
    pub report: ImportReport,
    pub rejects: Option<Vec<u8>>,
}

/// What the parsing thread hands to the writer: one line's outcome.
enum Parsed {
    Item {
        line: u64,
        item: ImportItem,
        /// The line as read, for the rejects file (only with `skip_invalid`).
        raw: Option<String>,
    },
    Invalid {
        line: u64,
        error: FieldError,
        /// The line as read, for the rejects file (only with `skip_invalid`).
        raw: Option<String>,
    },
    /// The input itself failed (e.g. a truncated gzip stream); nothing after it can be read.
    Unreadable { line: u64, message: String },
}

/// Lines per message between the threads: large enough to amortise the channel.
const BATCH: usize = 256;

/// Reads and parses lines on its own thread, so parsing and SQLite writing overlap.
/// Returns the detected format. Stops early when the writer hangs up.
fn parse_lines(
    input: impl BufRead,
    mut format: Option<Format>,
    keep_raw: bool,
    tx: std::sync::mpsc::SyncSender<Vec<Parsed>>,
) -> Option<Format> {
    let mut lines = LineReader::new(input);
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let at = lines.line_no() + 1;
        let (line, outcome) = match lines.next_line() {
            Err(e) => {
                batch.push(Parsed::Unreadable {
                    line: at,
                    message: format!("cannot read: {e} (is the file truncated?)"),
                });
                break;
            }
            Ok(None) => break,
            Ok(Some((n, Err(problem)))) => (n, Err(problem_message(problem))),
            Ok(Some((_, Ok(text)))) if text.trim().is_empty() => continue,
            Ok(Some((n, Ok(text)))) => (n, parse_line(text, &mut format)),
        };
        batch.push(match outcome {
            Ok(item) => Parsed::Item {
                line,
                item,
                raw: keep_raw.then(|| lines.last_raw_lossy()),
            },
            Err(error) => Parsed::Invalid {
                line,
                error,
                raw: keep_raw.then(|| lines.last_raw_lossy()),
            },
        });
        if batch.len() == BATCH && tx.send(std::mem::take(&mut batch)).is_err() {
            return format;
        }
    }
    let _ = tx.send(batch);
    format
}

/// Imports one JSONL stream. `shown` names it in errors; `name` goes into `import:<name>`.
pub fn import_reader(
    store: &mut Store,
    input: impl BufRead + Send,
    shown: &str,
    name: &str,
    opts: ImportOptions,
) -> Result<ReaderImport, ImportError> {
    let mut rejects: Vec<u8> = Vec::new();
    let source = format!("import:{name}");
    let mut writer = store.begin_import()?;
    let tasks = writer.tasks()?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Parsed>>(16);
    let (written, format) = std::thread::scope(|scope| {
        let parser = scope.spawn(move || parse_lines(input, opts.format, opts.skip_invalid, tx));
        // One parsed line (or, for `ratings` lines, one decision gathered from several).
        let mut handle = |parsed: Parsed| -> Result<(), ImportError> {
            // An item that would give its prompt more answers than can be ranked is bad
            // input like any other (the prompt may be in the DB already, from another file).
            let parsed = match parsed {
                Parsed::Item { line, item, raw } => {
                    let problem = match criteria_problem(&tasks, &item) {
                        Some(p) => Some(p),
                        None => too_many_answers(&mut writer, &item)?,
                    };
                    match problem {
                        Some(message) => Parsed::Invalid {
                            line,
                            error: FieldError(message),
                            raw,
                        },
                        None => Parsed::Item { line, item, raw },
                    }
                }
                other => other,
            };
            match parsed {
                Parsed::Item { item, .. } => {
                    write_item(&mut writer, &item, &source, &tasks)?;
                    writer.count_line(false);
                }
                Parsed::Invalid { line, error, raw } if opts.skip_invalid => {
                    writer.count_line(true);
                    let rec = Reject {
                        line,
                        error: &error.0,
                        text: raw.unwrap_or_default(),
                    };
                    serde_json::to_writer(&mut rejects, &rec).expect("in-memory write");
                    rejects.push(b'\n');
                }
                Parsed::Invalid { line, error, .. } => {
                    return Err(ImportError::Line {
                        file: shown.to_string(),
                        line,
                        message: error.0,
                    })
                }
                Parsed::Unreadable { line, message } => {
                    return Err(ImportError::Line {
                        file: shown.to_string(),
                        line,
                        message,
                    })
                }
            }
            Ok(())
        };
        let written = (|| -> Result<(), ImportError> {
            // `ratings` lines of one prompt and annotator are one decision: held until the next
            // line shows whether it continues.
            let mut pending: Option<Parsed> = None;
            for batch in rx.iter() {
                for parsed in batch {
                    if let (
                        Some(Parsed::Item { item: held, .. }),
                        Parsed::Item { item: next, .. },
                    ) = (&mut pending, &parsed)
                    {
                        if crate::data::ratings::continues(held, next) {
                            if let Parsed::Item { item, .. } = parsed {
                                crate::data::ratings::merge_rated(held, item);
                            }
                            continue;
                        }
                    }
                    if let Some(p) = pending.take() {
                        handle(p)?;
                    }
                    match &parsed {
                        Parsed::Item { item, .. } if item.merge_with_previous => {
                            pending = Some(parsed)
                        }
                        _ => handle(parsed)?,
                    }
                }
            }
            if let Some(p) = pending.take() {
                handle(p)?;
            }
            Ok(())
        })();
        // Hang up first so a parser blocked on a full channel stops.
        drop(rx);
        let format = parser.join().unwrap_or(None);
        (written, format)
    });
    written?;
    let fmt_name = format.map(Format::name);
    let counts = writer.finish(name, fmt_name.unwrap_or("empty"))?;
    Ok(ReaderImport {
        report: ImportReport {
            file: shown.to_string(),
            format: fmt_name,
            counts,
            rejects_file: None,
        },
        rejects: (!rejects.is_empty()).then_some(rejects),
    })
}

fn problem_message(p: LineProblem) -> FieldError {
    FieldError(match p {
        LineProblem::TooLong => format!(
            "line is longer than {} MiB; split the record or shorten it",
            MAX_LINE_BYTES >> 20
        ),
        LineProblem::InvalidUtf8 { byte } => {
            format!("invalid UTF-8 at byte {byte} of the line; re-encode the file as UTF-8")
        }
    })
}

fn parse_line(text: &str, format: &mut Option<Format>) -> Result<ImportItem, FieldError> {
    let obj = parse_object(text)?;
    let f = match *format {
        Some(f) => f,
        None => {
            let f = detect(&obj)?;
            *format = Some(f);
            f
        }
    };
    parse_item(f, obj)
}

/// Why `item` cannot be added: its prompt would end up with more answers than the label
/// screen can rank (counting those the DB already holds for it).
fn too_many_answers(
    w: &mut ImportWriter,
    item: &ImportItem,
) -> Result<Option<String>, ImportError> {
    let texts: Vec<&str> = item.candidates.iter().map(|c| c.text.as_str()).collect();
    let total = w
        .candidates_after(&item.prompt, &texts)
        .map_err(ImportError::Store)?;
    Ok((total > MAX_CANDIDATES).then(|| {
        format!(
            "field \"candidates\": this prompt would have {total} distinct answers (with those already \
             imported for it); kibble ranks at most {MAX_CANDIDATES} per prompt, one key each: split them \
             over several prompts or keep the best {MAX_CANDIDATES}"
        )
    }))
}

/// The task version an imported decision goes under (the newest that has all its criteria, of
/// the right kinds and scales), what it says on them, or why no version can take it. A ranking
/// that names no criterion is on the current task's first rank criterion.
fn judged(
    tasks: &[(i64, Task)],
    r: &ImportRanking,
    ids: &[i64],
) -> Result<(i64, Option<String>, Vec<Judgement>), String> {
    let current = &tasks[0];
    let mut named = r.clone();
    if named.criterion.is_none() && !named.groups.is_empty() {
        named.criterion = current
            .1
            .criteria
            .iter()
            .find(|c| c.kind == CriterionKind::Rank)
            .map(|c| c.name.clone());
    }
    let first = judged_under(current, &named, ids);
    if let Ok((c, j)) = first {
        return Ok((current.0, c, j));
    }
    for task in &tasks[1..] {
        if let Ok((c, j)) = judged_under(task, &named, ids) {
            return Ok((task.0, c, j));
        }
    }
    first.map(|(c, j)| (current.0, c, j))
}

/// What an imported decision says on the criteria of one task version, or why it cannot.
fn judged_under(
    task: &(i64, Task),
    r: &ImportRanking,
    ids: &[i64],
) -> Result<(Option<String>, Vec<Judgement>), String> {
    let (version, task) = task;
    let criterion = if r.groups.is_empty() {
        None
    } else {
        let name = match &r.criterion {
            Some(c) => c.clone(),
            None => task
                .criteria
                .iter()
                .find(|c| c.kind == CriterionKind::Rank)
                .map(|c| c.name.clone())
                .ok_or_else(|| {
                    format!(
                        "the task (version {version}) has no rank criterion for this ranking; \
                         add one (kibble task set FILE) or give the ranking a \"criterion\""
                    )
                })?,
        };
        match task.criterion(&name).map(|c| &c.kind) {
            Some(CriterionKind::Rank) => Some(name),
            _ => {
                return Err(format!(
                "criterion {name:?} is not a rank criterion of the task ({}); see kibble task show",
                task.names().join(", ")
            ))
            }
        }
    };
    let mut judgements = Vec::new();
    for (name, groups, mode) in &r.orders {
        if task.criterion(name).map(|c| &c.kind) != Some(&CriterionKind::Rank) {
            return Err(format!(
                "field \"orders.{name}\": the task has no rank criterion {name:?} ({}); add it with kibble task set FILE",
                task.names().join(", ")
            ));
        }
        judgements.push(Judgement::Order {
            criterion: name.clone(),
            groups: groups
                .iter()
                .map(|g| g.iter().map(|&i| ids[i]).collect())
                .collect(),
            mode: *mode,
        });
    }
    for (name, points) in &r.ratings {
        let Some(CriterionKind::Rate(scale)) = task.criterion(name).map(|c| &c.kind) else {
            return Err(format!(
                "field \"ratings.{name}\": the task has no rate criterion {name:?} ({}); add it with kibble task set FILE",
                task.names().join(", ")
            ));
        };
        if let Some((_, v)) = points.iter().find(|(_, v)| !scale.contains(*v)) {
            return Err(format!(
                "field \"ratings.{name}\": {v} points is outside the scale {}-{}",
                scale.min, scale.max
            ));
        }
        judgements.push(Judgement::Points {
            criterion: name.clone(),
            points: points.iter().map(|&(i, v)| (ids[i], v)).collect(),
        });
    }
    Ok((criterion, judgements))
}

/// Why no task version can take `item`'s decisions, if none can.
fn criteria_problem(tasks: &[(i64, Task)], item: &ImportItem) -> Option<String> {
    let ids: Vec<i64> = (0..item.candidates.len() as i64).collect();
    item.rankings
        .iter()
        .find_map(|r| judged(tasks, r, &ids).err())
}

fn write_item(
    w: &mut ImportWriter,
    item: &ImportItem,
    source: &str,
    tasks: &[(i64, Task)],
) -> Result<(), ImportError> {
    let store = ImportError::Store;
    let prompt_id = w
        .add_prompt(&item.prompt, item.ext_id.as_deref(), &item.meta)
        .map_err(store)?;
    let mut ids = Vec::with_capacity(item.candidates.len());
    for c in &item.candidates {
        let src = c.source.as_deref().unwrap_or(source);
        ids.push(w.add_candidate(prompt_id, &c.text, src).map_err(store)?);
    }
    if let Some(gold) = &item.gold {
        let groups: Vec<Vec<i64>> = gold
            .iter()
            .map(|g| g.iter().map(|&i| ids[i]).collect())
            .collect();
        w.set_gold(prompt_id, &groups).map_err(store)?;
    }
    for r in &item.rankings {
        let annotator = r.annotator.clone().unwrap_or_else(|| source.to_string());
        let groups: Vec<Vec<i64>> = r
            .groups
            .iter()
            .map(|g| g.iter().map(|&i| ids[i]).collect())
            .collect();
        let mut key = Sha256::new();
        key.update(annotator.as_bytes());
        key.update(prompt_id.to_le_bytes());
        key.update(r.mode.as_str());
        for g in &groups {
            key.update(b"|");
            for id in g {
                key.update(id.to_le_bytes());
            }
        }
        let (task_version, criterion, judgements) =
            judged(tasks, r, &ids).map_err(|m| store(StoreError::Invalid(m)))?;
        // Keys of rankings on `overall` alone stay as they always were, so old files re-import
        // as nothing new.
        if let Some(c) = criterion
            .as_deref()
            .filter(|c| *c != crate::domain::OVERALL)
        {
            key.update(b"criterion:");
            key.update(c.as_bytes());
        }
        for j in &judgements {
            key.update(j.criterion().as_bytes());
            match j {
                Judgement::Points { points, .. } => {
                    for (id, v) in points {
                        key.update(id.to_le_bytes());
                        key.update([*v]);
                    }
                }
                Judgement::Order { groups, .. } => {
                    for g in groups {
                        key.update(b"|");
                        for id in g {
                            key.update(id.to_le_bytes());
                        }
                    }
                }
            }
        }
        let ranking = NewRanking {
            task_version,
            criterion,
            judgements,
            prompt_id,
            annotator,
            os_user: None,
            created_at_ms: r.created_at_ms.unwrap_or_else(now_ms),
            duration_ms: r.duration_ms,
            // Nobody saw an imported ranking on screen: no order, no position bias to measure.
            shown_order: vec![],
            verdict: Verdict::Rank,
            mode: r.mode,
            groups,
            strength: r.strength,
            flags: r.flags.clone(),
            note: r.note.clone(),
            rushed: false,
            answer_marks: r
                .answer_marks
                .iter()
                .map(|(i, flags, note)| crate::domain::AnswerMark {
                    candidate: ids[*i],
                    flags: flags.clone(),
                    note: note.clone(),
                })
                .collect(),
            dedupe_key: Some(key.finalize()[..16].to_vec()),
        };
        w.add_ranking(&ranking).map_err(store)?;
    }
    Ok(())
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

fn rejects_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".rejects.jsonl");
    PathBuf::from(s)
}
