//! `train-rm`, `score` and `eval-rm`.

use std::path::Path;

use super::{annotator_name, cancel_on_signals, open_store, BadInput};
use crate::cli::{EvalRmArgs, ScoreArgs, TrainRmArgs};

pub(super) fn rm_job_config(
    args: &TrainRmArgs,
) -> anyhow::Result<crate::jobs::train_rm::RmJobConfig> {
    use crate::jobs::train_rm::{preset, AutoEpochs};
    let mut cfg = preset(&preset_name(args)).map_err(BadInput)?;
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
    // The preset's adapters stay unless the flags say otherwise: `--freeze` trains the head
    // alone, `--lora-rank 0` every weight.
    cfg.lora = match (args.lora_rank, args.freeze) {
        (Some(0), _) => None,
        (Some(rank), _) => Some(crate::ml::models::llama::LoraConfig {
            rank,
            alpha: args.lora_alpha.unwrap_or(2.0 * rank as f64),
        }),
        (None, true) => None,
        (None, false) => cfg.lora,
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

/// The preset named, else the one for the backbone's family: a pretrained backbone given
/// without a preset must not train with `tiny`'s from-scratch settings (lr 3e-4, up to ten
/// epochs), far from what fine-tuning wants (TRL: lr 5e-5, one epoch).
fn preset_name(args: &TrainRmArgs) -> String {
    match (&args.preset, &args.backbone) {
        (Some(name), _) => name.clone(),
        (None, None) => "tiny".into(),
        (None, Some(b)) if crate::ml::text::pretrained::is_pretrained(b) => "smollm2".into(),
        (None, Some(_)) => "minilm".into(),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn config(flags: &[&str]) -> crate::jobs::train_rm::RmJobConfig {
        let argv = ["kibble", "train-rm"].iter().chain(flags);
        let cli = crate::cli::Cli::try_parse_from(argv).unwrap();
        let Some(crate::cli::Command::TrainRm(args)) = cli.command else {
            panic!("not train-rm");
        };
        rm_job_config(&args).unwrap()
    }

    /// A backbone given without a preset trains with its family's settings, not `tiny`'s
    /// from-scratch ones; a preset's LoRA stays unless a flag says otherwise.
    #[test]
    fn a_backbone_takes_its_familys_preset_and_a_presets_lora_stays() {
        let tiny = config(&[]);
        assert_eq!((tiny.train.lr, tiny.backbone.clone()), (3e-4, None));

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), r#"{"model_type": "bert"}"#).unwrap();
        let bert = config(&["--backbone", dir.path().to_str().unwrap()]);
        assert_eq!((bert.train.lr, bert.train.batch_pairs), (5e-5, 16));
        assert_eq!(bert.backbone.as_deref(), Some(dir.path()));
        assert!(bert.lora.is_none());

        let gguf = config(&["--backbone", "some/model.gguf"]);
        assert_eq!((gguf.train.lr, gguf.max_len), (1e-4, 192));
        assert_eq!(gguf.lora.map(|l| l.rank), Some(16));

        assert_eq!(
            config(&["--preset", "smollm2"]).lora.map(|l| l.rank),
            Some(16)
        );
        let full = config(&["--preset", "smollm2", "--lora-rank", "0"]);
        assert!(full.lora.is_none());
        let head = config(&["--preset", "smollm2", "--freeze"]);
        assert!(head.lora.is_none() && head.freeze_backbone);
        let rank8 = config(&["--preset", "smollm2", "--lora-rank", "8"]);
        assert_eq!(rank8.lora.map(|l| (l.rank, l.alpha)), Some((8, 16.0)));
        // An explicit preset wins over the backbone's family.
        let named = config(&[
            "--preset",
            "tiny",
            "--backbone",
            dir.path().to_str().unwrap(),
        ]);
        assert_eq!(named.train.lr, 3e-4);
    }
}
