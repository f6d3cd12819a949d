//! What each subcommand does: open the store, call the library, print results.

use std::io::{BufWriter, Cursor, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::cli::{
    AppArgs, Cli, Command, EvalRmArgs, ExportArgs, ImportArgs, ScoreArgs, StatsArgs, TrainRmArgs,
};
use crate::data::sample::SAMPLE_FILES;
use crate::files::AtomicFile;
use crate::jobs::export::{export, ExportOptions};
use crate::jobs::import::{import_file, import_reader, ImportOptions};
use crate::store::{QueueOptions, Store};

mod policy;
mod task;

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
            other => crate::jobs::bench::run(other),
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
    let name =
        std::ffi::CString::new(group).map_err(|_| BadInput(format!("bad group name {group:?}")))?;
    // SAFETY: getgrnam returns a pointer to static storage or null; read before any other call.
    let gid = unsafe {
        let g = libc::getgrnam(name.as_ptr());
        if g.is_null() {
            return Err(BadInput(format!("--group {group}: no such group on this machine")).into());
        }
        (*g).gr_gid
    };
    // SAFETY: umask only changes this process's file-creation mask.
    unsafe { libc::umask(0o007) };
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
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())?;
        // SAFETY: chown with a valid C path; -1 keeps the owner.
        if unsafe { libc::chown(c.as_ptr(), u32::MAX, gid) } != 0 {
            anyhow::bail!(
                "cannot give {} to group {group}: {}",
                path.display(),
                std::io::Error::last_os_error()
            );
        }
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
    // SAFETY: getpwuid returns static storage or null; the name is copied out at once.
    let from_passwd = unsafe {
        let pw = libc::getpwuid(libc::geteuid());
        if pw.is_null() || (*pw).pw_name.is_null() {
            None
        } else {
            std::ffi::CStr::from_ptr((*pw).pw_name)
                .to_str()
                .ok()
                .map(str::to_string)
        }
    };
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
    cfg.watch = crate::tui::improve::Watch {
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

fn import(db: &Path, args: ImportArgs) -> anyhow::Result<()> {
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

fn export_cmd(db: &Path, args: ExportArgs) -> anyhow::Result<()> {
    if let Some(f) = args.split {
        if !(0.0..1.0).contains(&f) {
            return Err(BadInput(format!("--split must be in [0, 1), got {f}")).into());
        }
    }
    let store = open_store(db)?;
    use crate::data::export::ExportFormat;
    let pairs = matches!(args.format, ExportFormat::Trl | ExportFormat::Openrlhf);
    if !pairs && (args.weight || args.merge.is_some()) {
        return Err(
            BadInput("--weight and --merge apply to --format trl and openrlhf".into()).into(),
        );
    }
    let opts = ExportOptions {
        format: args.format,
        annotator: args.only_annotator,
        split: args.split.map(|f| (f, args.seed)),
        exclude: match &args.exclude {
            Some(e) => crate::jobs::export::Exclude::parse(e).map_err(BadInput)?,
            None => Default::default(),
        },
        weights: args.weight,
        merge: args.merge,
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

fn write_file_atomically<T>(
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

fn stats(db: &Path, args: StatsArgs) -> anyhow::Result<()> {
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

fn rm_job_config(args: &TrainRmArgs) -> anyhow::Result<crate::jobs::train_rm::RmJobConfig> {
    use crate::jobs::train_rm::{preset, AutoEpochs};
    let mut cfg = preset(&args.preset).map_err(BadInput)?;
    if let Some(b) = &args.backbone {
        cfg.backbone = Some(b.clone());
    }
    if let Some(dir) = &cfg.backbone {
        if !dir.join("config.json").exists() {
            return Err(BadInput(format!(
                "{}: no config.json; run scripts/fetch-models.sh for all-MiniLM-L6-v2, or pass --backbone DIR",
                dir.display()
            ))
            .into());
        }
    }
    cfg.freeze_backbone = args.freeze;
    cfg.vocab_size = args.vocab_size.unwrap_or(cfg.vocab_size);
    cfg.max_len = args.max_len.unwrap_or(cfg.max_len);
    cfg.eval_fraction = args.eval_fraction.unwrap_or(cfg.eval_fraction);
    cfg.annotator = args.only_annotator.clone();
    cfg.criterion = args.criterion.clone();
    cfg.criteria = args.criteria.iter().map(|c| c.trim().to_string()).collect();
    match args.epochs.as_deref() {
        None => {}
        Some("auto") => {
            cfg.auto_epochs = cfg.auto_epochs.or(Some(AutoEpochs::default()));
        }
        Some(n) => {
            cfg.train.epochs = n
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| BadInput(format!("--epochs {n}: a positive number or auto")))?;
            cfg.auto_epochs = None;
        }
    }
    let t = &mut cfg.train;
    t.patience = args.patience.unwrap_or(t.patience);
    t.lr = args.lr.unwrap_or(t.lr);
    t.batch_pairs = args.batch.unwrap_or(t.batch_pairs);
    t.schedule = args.schedule;
    t.loss = args.loss;
    t.ties = args.ties;
    t.seed = args.seed;
    t.use_margin = !args.no_margin;
    t.center_lambda = args.center;
    t.eval_every = args.eval_every.unwrap_or(0);
    if !(0.0..1.0).contains(&cfg.eval_fraction) {
        return Err(BadInput("--eval-fraction must be in [0, 1)".into()).into());
    }
    Ok(cfg)
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

fn train_rm(db: &Path, annotator: Option<String>, args: TrainRmArgs) -> anyhow::Result<()> {
    use crate::jobs::train_rm::{run, RmEvent};
    let mut cfg = rm_job_config(&args)?;
    let mut store = open_store(db)?;
    if !cfg.criteria.is_empty() {
        cfg.criteria = crate::jobs::train_rm::heads_of(&store, &cfg)
            .map_err(|e| BadInput(format!("{e:#}")))?;
    }
    let heads = cfg.criteria.clone();
    let cancel = cancel_on_signals()?;
    let bar = indicatif::ProgressBar::hidden();
    let json = args.json;
    let mut emit = |e: RmEvent| {
        if json {
            if let Ok(s) = serde_json::to_string(&e) {
                println!("{s}");
            }
            return;
        }
        match &e {
            RmEvent::Started {
                run_id,
                total_steps,
                train_pairs,
                eval_pairs,
                train_rankings,
                eval_rankings,
            } => {
                eprintln!(
                    "run {run_id}: {train_rankings} rankings ({train_pairs} pairs) to train, {eval_rankings} ({eval_pairs} pairs) held out by prompt"
                );
                bar.set_length(*total_steps);
                bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{bar:30} {pos}/{len} steps  {elapsed} ETA {eta}  {msg}",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
            }
            RmEvent::Step(m) => {
                bar.set_position(m.step + 1);
                bar.set_message(format!(
                    "loss {:.4} acc {:.2} lr {:.1e} {:.1} pairs/s",
                    m.loss, m.accuracy, m.lr, m.pairs_per_s
                ));
            }
            RmEvent::Eval(e) => {
                let per: String = heads
                    .iter()
                    .zip(&e.head_accuracy)
                    .filter(|(_, a)| a.is_finite())
                    .map(|(n, a)| format!(", {n} {a:.3}"))
                    .collect();
                bar.println(format!(
                    "step {}: eval loss {:.4}, eval accuracy {:.3} on {} pairs{per}",
                    e.step, e.loss, e.accuracy, e.pairs
                ))
            }
            RmEvent::Checkpoint { .. } => {}
            RmEvent::Done(_) => bar.finish_and_clear(),
        }
    };
    let who = annotator_name(annotator);
    let s = run(&mut store, db, &cfg, args.resume, &who, &mut emit, &cancel)?;
    if !json {
        println!(
            "run {} {}: {} steps in {:.1}s; eval accuracy {}; checkpoint {}",
            s.run_id,
            s.status.as_str(),
            s.steps,
            s.seconds,
            s.eval_accuracy.map_or("-".into(), |a| format!("{a:.3}")),
            match (&s.checkpoint_id, &s.checkpoint_path) {
                (Some(id), Some(p)) => format!("{id} at {p}"),
                _ => "none".into(),
            }
        );
        if let Some(b) = &s.best {
            println!(
                "best checkpoint {} (step {}, eval accuracy {:.3}, eval loss {:.3}) at {}: what score, improve and the app use",
                b.checkpoint_id, b.step, b.eval_accuracy, b.eval_loss, b.path
            );
        }
        if let Some(m) = &s.message {
            eprintln!("{m}");
        }
    }
    if s.status == crate::store::RunStatus::Failed {
        anyhow::bail!("training failed: {}", s.message.unwrap_or_default());
    }
    Ok(())
}

fn score_cmd(db: &Path, args: ScoreArgs) -> anyhow::Result<()> {
    use crate::jobs::score::{score_candidates, CheckpointRef};
    let mut store = open_store(db)?;
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:30} {pos}/{len} candidates  {per_sec}  ETA {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let which = match &args.criterion {
        Some(c) => CheckpointRef::Id(
            crate::jobs::reward::checkpoint_for(&store, c)
                .map_err(|e| BadInput(format!("{e:#}")))?
                .0
                .id,
        ),
        None => CheckpointRef::parse(args.checkpoint.as_deref()),
    };
    let s = score_candidates(&mut store, &which, |n, total| {
        bar.set_length(total as u64);
        bar.inc(n as u64);
    })?;
    bar.finish_and_clear();
    if args.json {
        println!("{}", serde_json::to_string(&s)?);
    } else {
        println!(
            "scored {} candidates with checkpoint {} in {:.1}s",
            s.scored, s.checkpoint_id, s.seconds
        );
    }
    Ok(())
}

fn eval_rm(db: &Path, args: EvalRmArgs) -> anyhow::Result<()> {
    use crate::jobs::score::{eval_file, resolve, CheckpointRef};
    let r = CheckpointRef::parse(Some(&args.checkpoint));
    // A folder works with any DB (or none); an id needs this DB.
    let store = match r {
        CheckpointRef::Dir(_) => None,
        _ => Some(open_store(db)?),
    };
    let (dir, _) = resolve(store.as_ref(), &r)?;
    let loaded = crate::ml::checkpoint::load(&dir, &candle_core::Device::Cpu)?;
    let report = eval_file(&loaded, &args.file)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let line = |name: &str, g: &crate::jobs::score::EvalGroup| {
        println!(
            "{:<24} {:>7} pairs  accuracy {:.3}  mean margin {:+.3}  ties {}",
            crate::text::sanitize_line(name, 24),
            g.pairs,
            g.accuracy,
            g.mean_margin,
            g.ties
        );
    };
    line("overall", &report.overall);
    for (k, g) in &report.by_subset {
        line(k, g);
    }
    Ok(())
}

fn runs_cmd(db: &Path, args: StatsArgs) -> anyhow::Result<()> {
    let store = open_store(db)?;
    let runs = store.runs()?;
    let mut rows = Vec::new();
    for r in &runs {
        let best = store
            .metric_series(r.id, "eval_accuracy", -1)?
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
