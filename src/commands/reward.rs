//! `train-rm`, `score` and `eval-rm`.

use std::path::Path;

use super::{annotator_name, cancel_on_signals, open_store, BadInput};
use crate::cli::{EvalRmArgs, ScoreArgs, TrainRmArgs};

pub(super) fn rm_job_config(
    args: &TrainRmArgs,
) -> anyhow::Result<crate::jobs::train_rm::RmJobConfig> {
    use crate::jobs::train_rm::{preset, AutoEpochs};
    let mut cfg = preset(&args.preset).map_err(BadInput)?;
    if let Some(b) = &args.backbone {
        cfg.backbone = Some(b.clone());
    }
    if let Some(dir) = &cfg.backbone {
        if !crate::ml::text::pretrained::is_gguf(dir) && !dir.join("config.json").exists() {
            return Err(BadInput(format!(
                "{}: no config.json; run scripts/fetch-models.sh for all-MiniLM-L6-v2 or SmolLM2, or pass --backbone DIR (an HF folder) or FILE.gguf",
                dir.display()
            ))
            .into());
        }
    }
    cfg.freeze_backbone = args.freeze;
    cfg.lora = match args.lora_rank {
        Some(0) => return Err(BadInput("--lora-rank must be at least 1".into()).into()),
        Some(rank) => Some(crate::ml::models::llama::LoraConfig {
            rank,
            alpha: args.lora_alpha.unwrap_or(2.0 * rank as f64),
        }),
        None => None,
    };
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
    t.schedule = args.schedule.into();
    t.loss = args.loss.into();
    t.ties = args.ties.into();
    t.seed = args.seed;
    t.use_margin = !args.no_margin;
    t.center_lambda = args.center;
    t.eval_every = args.eval_every.unwrap_or(t.eval_every);
    t.micro_batch = args.micro_batch.unwrap_or(t.micro_batch);
    if !(0.0..1.0).contains(&cfg.eval_fraction) {
        return Err(BadInput("--eval-fraction must be in [0, 1)".into()).into());
    }
    Ok(cfg)
}

pub(super) fn train_rm(
    db: &Path,
    annotator: Option<String>,
    args: TrainRmArgs,
) -> anyhow::Result<()> {
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

pub(super) fn score_cmd(db: &Path, args: ScoreArgs) -> anyhow::Result<()> {
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

pub(super) fn eval_rm(db: &Path, args: EvalRmArgs) -> anyhow::Result<()> {
    use crate::jobs::score::{eval_file, resolve, CheckpointRef};
    let r = CheckpointRef::parse(Some(&args.checkpoint));
    // A folder works with any DB (or none); an id needs this DB.
    let store = match r {
        CheckpointRef::Dir(_) => None,
        _ => Some(open_store(db)?),
    };
    let (dir, _) = resolve(store.as_ref(), &r)?;
    let loaded = crate::ml::checkpoint::load(&dir, &candle_core::Device::Cpu)?;
    let head = match &args.criterion {
        None => 0,
        Some(c) => crate::jobs::score::head_named(&loaded, c).map_err(BadInput)?,
    };
    let report = eval_file(&loaded, &args.file, head)?;
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
