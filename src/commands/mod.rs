//! What each subcommand does: open the store, call the library, print results.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::cli::{AppArgs, Cli, Command, StatsArgs};
use crate::data::sample::SAMPLE_FILES;
use crate::jobs::import::{import_reader, ImportOptions};
use crate::store::{QueueOptions, Store};

mod data;
mod policy;
mod reward;
mod task;

use crate::domain::metric;
use data::*;
use reward::*;

/// Bad input from the user (exit code 2), as opposed to a failure (exit code 1).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

pub fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(group) = &cli.group {
        share_with_group(&cli.db, group)?;
    }
    match cli.command {
        None => open_app(&cli.db, cli.annotator, cli.app),
        Some(Command::Import(args)) => import(&cli.db, args),
        Some(Command::Export(args)) => export_cmd(&cli.db, args),
        Some(Command::Stats(args)) => stats(&cli.db, args),
        Some(Command::Guidelines { action }) => guidelines(&cli.db, action),
        Some(Command::Task { action }) => task::task(&cli.db, action),
        Some(Command::TrainRm(args)) => train_rm(&cli.db, cli.annotator, args),
        Some(Command::Score(args)) => score_cmd(&cli.db, args),
        Some(Command::EvalRm(args)) => eval_rm(&cli.db, args),
        Some(Command::Runs(args)) => runs_cmd(&cli.db, args),
        Some(Command::Report { out }) => {
            let store = open_store(&cli.db)?;
            let html = crate::jobs::report::render(&store)?;
            crate::files::write_atomically(&out, html.as_bytes())
                .with_context(|| format!("cannot write {}", out.display()))?;
            println!("wrote {}", out.display());
            Ok(())
        }
        Some(Command::TrainPolicy(args)) => policy::train_policy(&cli.db, cli.annotator, args),
        Some(Command::Sample(args)) => policy::sample(&cli.db, cli.annotator, args),
        Some(Command::Simulate(args)) => policy::simulate(&cli.db, args),
        Some(Command::Improve(args)) => policy::improve(&cli.db, cli.annotator, args),
        Some(Command::ExportModel(args)) => policy::export_model(&cli.db, args),
        Some(Command::Bench(args)) => match args.what {
            crate::cli::BenchCommand::Tui {
                items,
                with_training,
                json,
            } => crate::tui::bench::run(&cli.db, items, with_training, json),
            other => run_bench(other),
        },
    }
}

/// Longest guidelines text accepted: a page or two is what people read.
const MAX_GUIDELINES_BYTES: usize = 256 * 1024;

fn guidelines(db: &Path, action: crate::cli::GuidelinesAction) -> anyhow::Result<()> {
    use crate::cli::GuidelinesAction;
    let mut store = open_store(db)?;
    match action {
        GuidelinesAction::Set { file } => {
            let bytes = std::fs::read(&file)
                .map_err(|e| BadInput(format!("{}: cannot read: {e}", file.display())))?;
            let text = String::from_utf8(bytes).map_err(|e| {
                BadInput(format!(
                    "{}: invalid UTF-8 at byte {}; save it as UTF-8",
                    file.display(),
                    e.utf8_error().valid_up_to()
                ))
            })?;
            if text.trim().is_empty() || text.len() > MAX_GUIDELINES_BYTES {
                return Err(BadInput(format!(
                    "{}: guidelines must be between 1 byte and {} KiB",
                    file.display(),
                    MAX_GUIDELINES_BYTES / 1024
                ))
                .into());
            }
            store.set_guidelines(Some(&text))?;
            println!(
                "guidelines set ({} lines); each annotator sees them once, and on G",
                text.lines().count()
            );
        }
        GuidelinesAction::Show => match store.guidelines()? {
            Some(t) => println!("{}", crate::text::sanitize(&t)),
            None => println!("no guidelines; set them with `kibble guidelines set FILE`"),
        },
        GuidelinesAction::Clear => {
            store.set_guidelines(None)?;
            println!("guidelines removed");
        }
    }
    Ok(())
}

/// Makes the DB, its WAL files and the runs folder group-shared (0660 / 2770) for `group`,
/// and sets umask 007 so everything created later stays out of reach of other users.
pub fn share_with_group(db: &Path, group: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let gid = crate::os::group_id(group)
        .ok_or_else(|| BadInput(format!("--group {group}: no such group on this machine")))?;
    crate::os::set_umask(0o007);
    drop(open_store(db)?); // create it (and its WAL files) if needed
    let runs = crate::jobs::train_rm::runs_dir(db);
    std::fs::create_dir_all(&runs)?;
    let mut targets: Vec<(PathBuf, u32)> = vec![(runs, 0o2770)];
    for suffix in ["", "-wal", "-shm"] {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        targets.push((PathBuf::from(p), 0o660));
    }
    for (path, mode) in targets {
        if !path.exists() {
            continue;
        }
        crate::os::chown_group(&path, gid)
            .map_err(|e| anyhow::anyhow!("cannot give {} to group {group}: {e}", path.display()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

pub fn open_store(path: &Path) -> anyhow::Result<Store> {
    Store::open(path).with_context(|| format!("cannot open database {}", path.display()))
}

/// The annotator name: `--annotator`, else the OS user.
pub fn annotator_name(flag: Option<String>) -> String {
    flag.or_else(os_user).unwrap_or_else(|| "anonymous".into())
}

/// The OS account running kibble, from the password database (not `$USER`, which anyone can set),
/// falling back to `$USER` where there is no entry.
pub fn os_user() -> Option<String> {
    let from_passwd = crate::os::user_name();
    from_passwd
        .or_else(|| std::env::var("USER").ok())
        .filter(|s| !s.is_empty())
}

/// Imports the bundled sample data into an empty DB, so the first start shows something real.
pub fn seed_sample_data(store: &mut Store) -> anyhow::Result<bool> {
    if store.stats()?.prompts > 0 {
        return Ok(false);
    }
    for (name, text) in SAMPLE_FILES {
        import_reader(
            store,
            Cursor::new(text.as_bytes()),
            name,
            name,
            ImportOptions::default(),
        )
        .with_context(|| format!("importing bundled sample {name}"))?;
    }
    Ok(true)
}

fn open_app(db: &Path, annotator: Option<String>, args: AppArgs) -> anyhow::Result<()> {
    use crate::tui::app::{App, AppConfig, Clock};
    // Read the key map first: a bad user file is reported before the screen is taken over.
    let keymap = crate::tui::keymap::Keymap::load_user_default()?;
    let user = crate::tui::keymap::UserConfig::load()?;
    let mut store = open_store(db)?;
    if seed_sample_data(&mut store)? {
        eprintln!(
            "New database {}: imported the bundled sample data.",
            db.display()
        );
    }
    let mut cfg = AppConfig::new(&annotator_name(annotator));
    cfg.os_user = os_user();
    cfg.db_label = db.display().to_string();
    // The header shows the overlap ("done by K"); nothing is printed: stderr is for errors.
    if let Some(k) = args.overlap.filter(|k| *k != store.overlap().unwrap_or(1)) {
        store.set_overlap(k)?;
    }
    cfg.queue = QueueOptions {
        overlap: store.overlap()?,
        lease_ms: (args.lease_minutes * 60_000.0) as i64,
        gold_rate: args.gold_rate.clamp(0.0, 1.0),
    };
    for f in &args.only {
        cfg.only.add(f).map_err(BadInput)?;
    }
    cfg.review = args.review;
    cfg.min_seconds = args.min_seconds;
    for reason in user.flag_reasons {
        if !cfg.flag_reasons.contains(&reason) && cfg.flag_reasons.len() < 9 {
            cfg.flag_reasons.push(reason);
        }
    }
    cfg.ascii = args.ascii;
    cfg.watch = crate::tui::screens::improve::Watch {
        kl: args.kl_warn,
        length_drift: args.length_drift_warn,
    };
    cfg.color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let app = App::new(store, cfg, keymap, Clock::Real(std::time::Instant::now()))?;
    match args.script {
        Some(p) if p.as_os_str() == "-" => crate::tui::run_script(app, std::io::stdin().lock()),
        Some(p) => {
            let f =
                std::fs::File::open(&p).with_context(|| format!("cannot open {}", p.display()))?;
            crate::tui::run_script(app, std::io::BufReader::new(f))
        }
        None => crate::tui::run(app),
    }
}

/// Ctrl-C / SIGTERM cancel a job at its next step; the run is marked cancelled.
fn cancel_on_signals() -> anyhow::Result<crate::jobs::train_rm::CancelToken> {
    let cancel = crate::jobs::train_rm::CancelToken::default();
    let c = cancel.clone();
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])?;
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            c.cancel();
        }
    });
    Ok(cancel)
}

fn runs_cmd(db: &Path, args: StatsArgs) -> anyhow::Result<()> {
    let store = open_store(db)?;
    let runs = store.runs()?;
    let mut rows = Vec::new();
    for r in &runs {
        let best = store
            .metric_series(r.id, metric::EVAL_ACCURACY, -1)?
            .iter()
            .map(|p| p.value)
            .fold(None, |a: Option<f64>, v| Some(a.map_or(v, |a| a.max(v))));
        let ckpt = store.checkpoints(Some(r.id))?.last().map(|c| c.id);
        rows.push((r, best, ckpt));
    }
    if args.json {
        let v: Vec<_> = rows
            .iter()
            .map(|(r, best, ckpt)| serde_json::json!({"run": r, "best_eval_accuracy": best, "checkpoint_id": ckpt}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!(
        "{:>4} {:<6} {:<10} {:>9} {:>10} {:>10}",
        "run", "kind", "status", "seconds", "best eval", "checkpoint"
    );
    for (r, best, ckpt) in rows {
        let secs = r.finished_at_ms.unwrap_or(r.heartbeat_at_ms) - r.started_at_ms;
        println!(
            "{:>4} {:<6} {:<10} {:>9.1} {:>10} {:>10}",
            r.id,
            crate::text::sanitize_line(&r.kind, 6),
            r.status.as_str(),
            secs as f64 / 1000.0,
            best.map_or("-".into(), |b| format!("{b:.3}")),
            ckpt.map_or("-".into(), |c| c.to_string())
        );
    }
    Ok(())
}

/// The speed benchmarks of `jobs::bench`; `bench tui` is run by the caller (it needs the app).
fn run_bench(what: crate::cli::BenchCommand) -> anyhow::Result<()> {
    match what {
        crate::cli::BenchCommand::Import {
            prompts,
            candidates,
            words,
            keep,
            json,
        } => crate::jobs::bench::bench_import(prompts, candidates, words, keep.as_deref(), json),
        crate::cli::BenchCommand::RmTrain {
            warmup,
            steps,
            backbone,
            pairs,
            json,
        } => crate::jobs::bench::bench_rm_train(warmup, steps, backbone.as_deref(), pairs, json),
        crate::cli::BenchCommand::RmScore {
            warmup,
            batches,
            backbone,
            json,
        } => crate::jobs::bench::bench_rm_score(warmup, batches, backbone.as_deref(), json),
        crate::cli::BenchCommand::Sample {
            warmup,
            iters,
            batch,
            model,
            show,
            f32,
            json,
        } => {
            let model = model.as_deref().map(|m| (m, f32));
            crate::jobs::bench::bench_sample(warmup, iters, batch, model, show, json)
        }
        crate::cli::BenchCommand::Dpo {
            warmup,
            steps,
            json,
        } => crate::jobs::bench::bench_dpo(warmup, steps, json),
        crate::cli::BenchCommand::Tui { .. } => {
            unreachable!("bench tui is matched before run_bench")
        }
    }
}
