//! CLI handlers for the policy loop: train-policy, sample, simulate, improve, export-model.

use std::path::Path;

use super::{annotator_name, cancel_on_signals, open_store, os_user, BadInput};
use crate::cli::{
    ExportModelArgs, GenArgs, ImproveArgs, SampleArgs, SimulateArgs, TrainPolicyArgs,
};
use crate::jobs::policy::{
    self, ImproveConfig, PolicyEvent, PolicyRef, PolicySummary, PromptSelection, SampleConfig,
    SftConfig,
};
use crate::jobs::train_rm::CancelToken;
use crate::ml::infer::decode::GenConfig;
use crate::ml::models::llama::LoraConfig;
use crate::ml::training::policy::PolicyTrainConfig;

/// The sampling settings: each flag the user gave, else the model's (`defaults`).
fn gen_config(
    g: &GenArgs,
    defaults: &policy::ModelSampling,
    batch: usize,
) -> anyhow::Result<GenConfig> {
    let temperature = g.temperature.unwrap_or(defaults.temperature);
    let top_p = g.top_p.unwrap_or(defaults.top_p);
    if temperature <= 0.0 || !(top_p > 0.0 && top_p <= 1.0) {
        return Err(BadInput(format!(
            "--temperature must be > 0 and --top-p in (0, 1] (got {temperature} and {top_p})"
        ))
        .into());
    }
    Ok(GenConfig {
        max_new_tokens: g.max_new_tokens,
        temperature,
        top_k: g.top_k.unwrap_or(defaults.top_k),
        top_p,
        stop_tokens: Vec::new(),
        seed: g.seed,
        batch,
    })
}

/// Says which sampling settings a job uses, and where the unset ones came from.
fn say_sampling(g: &GenConfig, args: &GenArgs, defaults: &policy::ModelSampling) {
    if args.temperature.is_none() || args.top_p.is_none() || args.top_k.is_none() {
        eprintln!(
            "sampling at temperature {}, top-k {}, top-p {} (unset ones {})",
            g.temperature, g.top_k, g.top_p, defaults.source
        );
    }
}

/// RLOO samples the policy as it is: its log-probabilities must be those of the samples.
fn on_policy_sampling() -> policy::ModelSampling {
    policy::ModelSampling {
        temperature: 1.0,
        top_k: 0,
        top_p: 1.0,
        source: "on-policy for rloo".into(),
    }
}

/// Prints policy events: a progress bar with live figures, or JSON lines.
fn printer(json: bool) -> impl FnMut(PolicyEvent) {
    let bar = indicatif::ProgressBar::hidden();
    let style = |t: &str| {
        indicatif::ProgressStyle::with_template(t)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
    };
    move |e: PolicyEvent| {
        if json {
            if let Ok(s) = serde_json::to_string(&e) {
                println!("{s}");
            }
            return;
        }
        match &e {
            PolicyEvent::Phase { phase } => {
                bar.finish_and_clear();
                eprintln!("{phase} ...");
            }
            PolicyEvent::Sampled {
                done,
                total,
                tokens_per_s,
            } => {
                if bar.is_hidden() || bar.length() != Some(*total as u64) {
                    bar.reset();
                    bar.set_length(*total as u64);
                    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                    bar.set_style(style(
                        "{bar:30} {pos}/{len} samples  {elapsed} ETA {eta}  {msg}",
                    ));
                }
                bar.set_position(*done as u64);
                bar.set_message(format!("{tokens_per_s:.0} tokens/s"));
            }
            PolicyEvent::Started {
                run_id,
                kind,
                round,
                total_steps,
            } => {
                eprintln!("run {run_id} ({kind}, round {round}): {total_steps} steps");
                bar.reset();
                bar.set_length(*total_steps);
                bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                bar.set_style(style(
                    "{bar:30} {pos}/{len} steps  {elapsed} ETA {eta}  {msg}",
                ));
            }
            PolicyEvent::Step(m) => {
                bar.set_position(m.step);
                bar.set_message(format!(
                    "loss {:.4} kl {} lr {:.1e} {:.0} tok/s",
                    m.loss,
                    fixed3(m.kl),
                    m.lr,
                    m.tokens_per_s
                ));
            }
            PolicyEvent::Round(r) if r.before.is_empty() => {
                bar.finish_and_clear();
                eprintln!("no held-out prompts to compare before and after: the DB has too few prompts for --eval-fraction");
            }
            PolicyEvent::Round(r) => {
                bar.finish_and_clear();
                eprintln!(
                    "held-out reward {} -> {} (KL to start {}, length {:.0} -> {:.0} tokens)",
                    fixed3(r.before_mean),
                    fixed3(r.after_mean),
                    fixed3(r.kl),
                    r.length_before,
                    r.length_after
                );
            }
            PolicyEvent::Done(_) => bar.finish_and_clear(),
        }
    }
}

/// Three decimals, with values that round to zero shown as 0.000 rather than -0.000 (the
/// KL of a policy to its own starting point is often a tiny negative number).
fn fixed3(x: f64) -> String {
    let x = if x.abs() < 5e-4 { 0.0 } else { x };
    format!("{x:.3}")
}

fn print_summary(s: &PolicySummary, json: bool) -> anyhow::Result<()> {
    if json {
        return Ok(());
    }
    println!(
        "run {} {}: {} steps in {:.1}s; checkpoint {}{}",
        s.run_id,
        s.status.as_str(),
        s.steps,
        s.seconds,
        s.checkpoint_path.as_deref().unwrap_or("none"),
        s.message
            .as_deref()
            .map(|m| format!(" ({m})"))
            .unwrap_or_default()
    );
    if s.status == crate::store::RunStatus::Failed {
        anyhow::bail!("{}", s.message.clone().unwrap_or_default());
    }
    Ok(())
}

/// Runs a training job on the DB with Ctrl-C as cancel, live output, and a summary.
fn run_job(
    db: &Path,
    annotator: Option<String>,
    json: bool,
    job: impl FnOnce(
        &mut crate::store::Store,
        &str,
        &mut dyn FnMut(PolicyEvent),
        &CancelToken,
    ) -> anyhow::Result<PolicySummary>,
) -> anyhow::Result<()> {
    let mut store = open_store(db)?;
    let cancel = cancel_on_signals()?;
    let mut emit = printer(json);
    let s = job(&mut store, &annotator_name(annotator), &mut emit, &cancel)?;
    print_summary(&s, json)
}

pub fn train_policy(
    db: &Path,
    annotator: Option<String>,
    args: TrainPolicyArgs,
) -> anyhow::Result<()> {
    if !args.sft {
        return Err(BadInput(
            "train-policy needs --sft (a supervised warm-start from scratch); to improve an existing policy use `kibble improve`".into(),
        )
        .into());
    }
    let cfg = SftConfig {
        vocab_size: args.vocab_size,
        epochs: args.epochs,
        batch: args.batch,
        all_candidates: args.all_candidates,
        train: PolicyTrainConfig {
            lr: args.lr,
            seed: args.seed,
            ..PolicyTrainConfig::default()
        },
        ..SftConfig::default()
    };
    run_job(db, annotator, args.json, |store, who, emit, cancel| {
        policy::train_sft(store, db, &cfg, who, emit, cancel)
    })
}

pub fn sample(db: &Path, annotator: Option<String>, args: SampleArgs) -> anyhow::Result<()> {
    if args.n == 0 {
        return Err(BadInput("--n must be at least 1".into()).into());
    }
    let mut store = open_store(db)?;
    let policy_ref = PolicyRef::parse(args.policy.as_deref());
    let defaults = policy::model_sampling(&store, &policy_ref)?;
    let gen = gen_config(&args.gen, &defaults, 8)?;
    say_sampling(&gen, &args.gen, &defaults);
    let cfg = SampleConfig {
        policy: policy_ref,
        prompts: PromptSelection::parse(&args.prompts),
        n: args.n,
        gen,
        chat_template: args.chat_template.clone(),
    };
    let cancel = cancel_on_signals()?;
    let mut emit = printer(args.json);
    let s = policy::sample(
        &mut store,
        &cfg,
        &annotator_name(annotator),
        &mut emit,
        &cancel,
    )?;
    if args.json {
        println!("{}", serde_json::to_string(&s)?);
    } else {
        println!(
            "run {}: {} new candidates for {} prompts ({} tokens, {:.0} tokens/s, {:.1}s), source {}",
            s.run_id, s.candidates_added, s.prompts, s.tokens, s.tokens_per_s, s.seconds, s.source
        );
        if let Some(p) = &s.template_problem {
            println!("{p}");
        }
        if s.not_stored_full > 0 {
            println!(
                "{} samples not stored: their prompts already have {} answers, the most one prompt can be ranked with",
                s.not_stored_full,
                crate::domain::MAX_CANDIDATES
            );
        }
    }
    Ok(())
}

pub fn simulate(db: &Path, args: SimulateArgs) -> anyhow::Result<()> {
    let mut store = open_store(db)?;
    let s = crate::jobs::simulate::simulate_on(
        &mut store,
        args.criterion.as_deref(),
        &args.rule,
        args.noise,
        args.seed,
        args.limit,
        os_user(),
    )
    .map_err(|e| BadInput(format!("{e:#}")))?;
    if args.json {
        println!("{}", serde_json::to_string(&s)?);
    } else {
        println!(
            "{} ranked {} prompts ({} noisy swaps)",
            s.annotator, s.ranked, s.flipped
        );
    }
    Ok(())
}

pub fn improve(db: &Path, annotator: Option<String>, args: ImproveArgs) -> anyhow::Result<()> {
    let policy_ref = PolicyRef::parse(args.policy.as_deref());
    let method: crate::jobs::policy::Method = args.method.into();
    let defaults = match method {
        policy::Method::Rloo => on_policy_sampling(),
        // A resumed round reads its own config; the defaults are not used.
        _ if args.resume.is_some() => on_policy_sampling(),
        _ => policy::model_sampling(&open_store(db)?, &policy_ref)?,
    };
    let gen = gen_config(&args.gen, &defaults, 8)?;
    if args.resume.is_none() {
        say_sampling(&gen, &args.gen, &defaults);
    }
    let cfg = ImproveConfig {
        method,
        policy: policy_ref,
        reward_model: args.reward_model.clone(),
        n: args.n,
        epochs: args.epochs,
        rloo_steps: args.steps,
        batch: args.batch,
        max_prompts: args.max_prompts,
        eval_prompts: args.eval_prompts,
        max_response_tokens: args.gen.max_new_tokens,
        use_human_pairs: !args.no_human_pairs,
        gen,
        train: PolicyTrainConfig {
            // Adapters move the model less per step than full fine-tuning: 10x the rate.
            lr: args.lr.unwrap_or(
                policy::default_lr(method) * if args.lora_rank.is_some() { 10.0 } else { 1.0 },
            ),
            beta: args.beta,
            ipo: args.ipo,
            kl_coef: args.kl_coef,
            micro_batch: args.micro_batch.unwrap_or(0),
            seed: args.gen.seed,
            ..ImproveConfig::default().train
        },
        lora: args.lora_rank.map(|rank| LoraConfig {
            rank,
            alpha: args.lora_alpha.unwrap_or(2.0 * rank as f64),
        }),
        checkpoint_every: args.checkpoint_every,
        chat_template: args.chat_template.clone(),
        ..ImproveConfig::default()
    };
    if let Some(problem) = policy::rloo_sampling_problem(&cfg) {
        return Err(BadInput(problem).into());
    }
    let mut cfg = cfg;
    if let Some(w) = &args.reward {
        use crate::jobs::reward::{parse_gate, parse_weights, resolve_parts};
        let weights = parse_weights(w).map_err(BadInput)?;
        let gate = args
            .gate
            .as_deref()
            .map(parse_gate)
            .transpose()
            .map_err(BadInput)?;
        let (parts, gate) = resolve_parts(&open_store(db)?, &weights, gate.as_ref())
            .map_err(|e| BadInput(format!("{e:#}")))?;
        cfg.reward = parts;
        cfg.gate = gate;
    }
    if let Some(run) = args.resume {
        return run_job(db, annotator, args.json, |store, _, emit, cancel| {
            policy::resume_improve(store, db, run, emit, cancel)
        });
    }
    run_job(db, annotator, args.json, |store, who, emit, cancel| {
        policy::improve(store, db, &cfg, who, emit, cancel)
    })
}

pub fn export_model(db: &Path, args: ExportModelArgs) -> anyhow::Result<()> {
    let store = open_store(db)?;
    let run = store
        .run(args.run)?
        .ok_or_else(|| anyhow::anyhow!("no run {} (see `kibble runs`)", args.run))?;
    if run.kind == "rm" {
        let c = store
            .checkpoints(Some(args.run))?
            .into_iter()
            .last()
            .ok_or_else(|| anyhow::anyhow!("reward-model run {} has no checkpoint", args.run))?;
        crate::jobs::export_model::export_reward_model(Path::new(&c.path), &args.out)?;
    } else {
        let (dir, _) = policy::resolve_policy(&store, &PolicyRef::Run(args.run))?;
        crate::jobs::export_model::export_policy(&dir, &args.out)?;
    }
    println!("wrote {}", args.out.display());
    Ok(())
}
