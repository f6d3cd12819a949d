//! Sampling a policy into the labelling queue: which prompts, with which settings (the
//! model's own when the user sets none), at most `MAX_CANDIDATES` answers per prompt.

use super::*;
use crate::domain::metric;

/// How a model asks to be sampled when the user sets nothing: its `generation_config.json`
/// (temperature, top-k, top-p, when `do_sample` is not false), else defaults that give
/// labelable answers: a pretrained model at temperature 0.7 with top-p 0.9 (at 1.0 a small
/// instruct model such as SmolLM2-135M writes invented words), kibble's tiny policy at 1.0
/// (it has no better-calibrated head to sharpen).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelSampling {
    pub temperature: f64,
    pub top_k: usize,
    pub top_p: f64,
    /// Where the values come from, for the user.
    pub source: String,
}

pub const PRETRAINED_SAMPLING: (f64, f64) = (0.7, 0.9);

impl ModelSampling {
    /// Samples with these settings.
    pub fn apply(&self, gen: &mut GenConfig) {
        (gen.temperature, gen.top_k, gen.top_p) = (self.temperature, self.top_k, self.top_p);
    }
}

/// The sampling defaults of the policy `r` names, read from its files (no weights loaded).
pub fn model_sampling(store: &Store, r: &PolicyRef) -> anyhow::Result<ModelSampling> {
    let (dir, _) = resolve_policy(store, r)?;
    let folder = if dir.is_dir() {
        dir.clone()
    } else {
        dir.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    let gc = folder.join("generation_config.json");
    if let Ok(text) = std::fs::read_to_string(&gc) {
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: malformed JSON: {e}", gc.display()))?;
        if v.get("do_sample").and_then(|d| d.as_bool()) != Some(false) {
            let num = |k: &str| v.get(k).and_then(|x| x.as_f64());
            let t = num("temperature").filter(|t| *t > 0.0 && t.is_finite());
            let p = num("top_p").filter(|p| *p > 0.0 && *p <= 1.0);
            if t.is_some() || p.is_some() {
                return Ok(ModelSampling {
                    temperature: t.unwrap_or(1.0),
                    top_k: num("top_k").map_or(0, |k| k.max(0.0) as usize),
                    top_p: p.unwrap_or(1.0),
                    source: format!("from {}", gc.display()),
                });
            }
        }
    }
    // A kibble checkpoint says which architecture it holds; a GGUF or HF folder is pretrained.
    let tiny = read_json::<PolicyMeta>(&dir.join("config.json"))
        .is_ok_and(|m| m.config.arch == crate::ml::models::config::PolicyArch::Gpt);
    Ok(if tiny {
        ModelSampling {
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            source: "kibble's default for the tiny policy".into(),
        }
    } else {
        ModelSampling {
            temperature: PRETRAINED_SAMPLING.0,
            top_k: 0,
            top_p: PRETRAINED_SAMPLING.1,
            source: "kibble's default for pretrained models (no generation_config.json)".into(),
        }
    })
}

/// Which prompts to sample for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PromptSelection {
    All,
    /// Prompts nobody has ranked yet.
    Unlabelled,
    /// Prompts listed in a file: one per line by id or exact text, or a prompts JSONL in the
    /// import format (`{"prompt": str | [messages], "id"?}`), imported first.
    File(PathBuf),
}

impl PromptSelection {
    pub fn parse(s: &str) -> PromptSelection {
        match s {
            "all" => PromptSelection::All,
            "unlabelled" | "unlabeled" => PromptSelection::Unlabelled,
            f => PromptSelection::File(PathBuf::from(f)),
        }
    }
}

/// A prompts JSONL (the import format) named by `sample --prompts FILE`: its prompts are added
/// to the DB (found when there already) in file order; a bad line names file, line and field.
pub(super) fn prompts_from_jsonl(
    store: &mut Store,
    path: &Path,
) -> anyhow::Result<Vec<(PromptId, PromptBody)>> {
    use crate::data::formats::{parse_item, parse_object};
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("{}: cannot read: {e}", path.display()))?;
    let mut bodies = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let item = parse_object(line)
            .and_then(|o| parse_item(crate::data::Format::Prompts, o))
            .map_err(|e| anyhow::anyhow!("{}:{}: {}", path.display(), i + 1, e.0))?;
        bodies.push((item.prompt, item.ext_id, item.meta));
    }
    let mut w = store.begin_import()?;
    let mut out = Vec::with_capacity(bodies.len());
    for (body, ext_id, meta) in &bodies {
        out.push((w.add_prompt(body, ext_id.as_deref(), meta)?, body.clone()));
    }
    w.finish(&path.display().to_string(), "prompts")?;
    Ok(out)
}

/// Whether a `--prompts` file is JSONL (its first non-empty line is a JSON object).
pub(super) fn is_jsonl(path: &Path) -> bool {
    std::fs::read_to_string(path).is_ok_and(|t| {
        t.lines()
            .find(|l| !l.trim().is_empty())
            .is_some_and(|l| l.trim_start().starts_with('{'))
    })
}

pub(super) fn select_prompts(
    store: &mut Store,
    sel: &PromptSelection,
) -> anyhow::Result<Vec<(PromptId, PromptBody)>> {
    if let PromptSelection::File(f) = sel {
        if is_jsonl(f) {
            return prompts_from_jsonl(store, f);
        }
    }
    let ranked: std::collections::HashSet<PromptId> = match sel {
        PromptSelection::Unlabelled => store
            .live_rankings(&RankingFilter::default())?
            .into_iter()
            .map(|r| r.prompt_id)
            .collect(),
        _ => Default::default(),
    };
    let wanted: Option<Vec<String>> = match sel {
        PromptSelection::File(f) => Some(
            std::fs::read_to_string(f)
                .map_err(|e| anyhow::anyhow!("{}: cannot read: {e}", f.display()))?
                .lines()
                .map(|l| l.trim().to_string())
                .filter(|l| !l.is_empty())
                .collect(),
        ),
        _ => None,
    };
    let mut out = Vec::new();
    store.for_each_prompt(|p, _| {
        let text = p.body.as_plain_text();
        let keep = match &wanted {
            Some(w) => w.iter().any(|l| *l == p.id.to_string() || *l == text),
            None => !ranked.contains(&p.id) && p.gold.is_none(),
        };
        if keep {
            out.push((p.id, p.body.clone()));
        }
        Ok(())
    })?;
    if let (Some(w), PromptSelection::File(f)) = (&wanted, sel) {
        if out.len() < w.len() {
            anyhow::bail!(
                "{}: {} of {} lines match no prompt id or prompt text in the database",
                f.display(),
                w.len() - out.len(),
                w.len()
            );
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleConfig {
    pub policy: PolicyRef,
    pub prompts: PromptSelection,
    pub n: usize,
    pub gen: GenConfig,
    /// Overrides the prompt format the policy carries (see `ml::chat::FORMAT_NAMES`).
    #[serde(default)]
    pub chat_template: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SampleSummary {
    pub run_id: i64,
    /// Stopped by its cancel token: the answers sampled before are kept.
    pub cancelled: bool,
    /// Why the model's own chat template was not used (it did not compile), if so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template_problem: Option<String>,
    pub source: String,
    pub prompts: usize,
    pub candidates_added: u64,
    /// Samples not stored because their prompt already had `MAX_CANDIDATES` answers.
    pub not_stored_full: u64,
    pub tokens: usize,
    pub seconds: f64,
    pub tokens_per_s: f64,
}

/// Answers sampled for some prompts: the prompts as encoded, and (prompt index, sample) in order.
pub(super) struct Sampled {
    pub(super) prompts: Vec<Vec<u32>>,
    pub(super) samples: Vec<(usize, Sample)>,
}

impl Sampled {
    pub(super) fn texts(&self, codec: &PolicyCodec) -> Vec<String> {
        self.samples
            .iter()
            .map(|(_, s)| codec.text(&s.tokens))
            .collect()
    }

    /// The answers' texts and their normalised RM rewards for `prompts` (the texts sampled for).
    pub(super) fn score(
        &self,
        codec: &PolicyCodec,
        scorer: &crate::jobs::reward::Reward,
        prompts: &[PromptBody],
    ) -> anyhow::Result<(Vec<String>, Vec<f64>)> {
        let answers = self.texts(codec);
        let prompts = plain_texts(prompts);
        let scores = scorer.score(&self.prompt_answer(&prompts, &answers))?;
        Ok((answers, scores))
    }

    /// Each criterion's own scores of the answers, when the reward combines several (else none).
    pub(super) fn score_each(
        &self,
        codec: &PolicyCodec,
        reward: &crate::jobs::reward::Reward,
        prompts: &[PromptBody],
    ) -> anyhow::Result<Vec<(String, Vec<f64>)>> {
        if !reward.is_combined() {
            return Ok(vec![]);
        }
        let answers = self.texts(codec);
        let prompts = plain_texts(prompts);
        reward.per_criterion(&self.prompt_answer(&prompts, &answers))
    }

    /// (prompt text, answer text) of each sample, as reward models read them.
    fn prompt_answer<'a>(
        &self,
        prompts: &'a [String],
        answers: &'a [String],
    ) -> Vec<(&'a str, &'a str)> {
        self.samples
            .iter()
            .zip(answers)
            .map(|((i, _), t)| (prompts[*i].as_str(), t.as_str()))
            .collect()
    }

    /// `prompt ++ sampled tokens` and the prompt's length, for log-probabilities.
    pub(super) fn sequences(&self) -> Vec<(Vec<u32>, usize)> {
        self.samples
            .iter()
            .map(|(i, s)| {
                let mut seq = self.prompts[*i].clone();
                seq.extend(&s.tokens);
                (seq, self.prompts[*i].len())
            })
            .collect()
    }

    pub(super) fn mean_entropy(&self) -> f64 {
        mean(
            &self
                .samples
                .iter()
                .map(|s| s.1.mean_entropy)
                .collect::<Vec<_>>(),
        )
    }

    /// Mean response length in tokens.
    pub(super) fn mean_length(&self) -> f64 {
        mean(
            &self
                .samples
                .iter()
                .map(|s| s.1.tokens.len() as f64)
                .collect::<Vec<_>>(),
        )
    }
}

/// Prompts as reward models read them (a chat as its turns, one per line).
pub(super) fn plain_texts(prompts: &[PromptBody]) -> Vec<String> {
    prompts.iter().map(PromptBody::as_plain_text).collect()
}

/// Samples `n` answers per prompt from `decoder`.
pub(super) fn sample_prompts(
    decoder: &Decoder,
    codec: &PolicyCodec,
    prompts: &[PromptBody],
    n: usize,
    gen: &GenConfig,
    emit: &mut dyn FnMut(PolicyEvent),
    cancel: &CancelToken,
) -> anyhow::Result<Sampled> {
    let room = codec.ctx.saturating_sub(gen.max_new_tokens).max(1);
    let encoded: Vec<Vec<u32>> = prompts
        .iter()
        .map(|p| codec.prompt(p, room))
        .collect::<anyhow::Result<_>>()?;
    let jobs: Vec<(usize, Vec<u32>)> = encoded
        .iter()
        .enumerate()
        .flat_map(|(i, p)| (0..n).map(move |_| (i, p.clone())))
        .collect();
    let mut gen = gen.clone();
    gen.stop_tokens = vec![codec.eos];
    let started = Instant::now();
    let mut out = Vec::with_capacity(jobs.len());
    let mut tokens = 0usize;
    let chunk = gen.batch.max(1) * 4;
    for (ci, part) in jobs.chunks(chunk).enumerate() {
        if cancel.is_cancelled() {
            break;
        }
        let ids: Vec<Vec<u32>> = part.iter().map(|j| j.1.clone()).collect();
        // A distinct seed per chunk keeps samples of the same prompt different.
        let g = GenConfig {
            seed: gen.seed ^ (ci as u64).wrapping_mul(0xA076_1D64_78BD_642F),
            ..gen.clone()
        };
        let generated = decoder.generate_until(&ids, &g, &|| cancel.is_cancelled());
        if cancel.is_cancelled() {
            break; // this chunk was cut short
        }
        for (j, s) in part.iter().zip(generated) {
            tokens += s.tokens.len();
            out.push((j.0, s));
        }
        emit(PolicyEvent::Sampled {
            done: out.len(),
            total: jobs.len(),
            tokens_per_s: tokens as f64 / started.elapsed().as_secs_f64().max(1e-9),
        });
    }
    Ok(Sampled {
        prompts: encoded,
        samples: out,
    })
}

/// Samples candidates into the DB: they enter the labelling queue with source
/// `policy:<run>/round<k>`.
pub fn sample(
    store: &mut Store,
    cfg: &SampleConfig,
    created_by: &str,
    emit: &mut dyn FnMut(PolicyEvent),
    cancel: &CancelToken,
) -> anyhow::Result<SampleSummary> {
    let started = Instant::now();
    anyhow::ensure!(
        cfg.n <= MAX_CANDIDATES,
        "--n {}: a prompt can have at most {MAX_CANDIDATES} answers (one key each on the label screen)",
        cfg.n
    );
    let (dir, policy_run) = resolve_policy(store, &cfg.policy)?;
    let loaded = load_sampler(&dir, cfg.chat_template.as_deref())?;
    let prompts = select_prompts(store, &cfg.prompts)?;
    if prompts.is_empty() {
        match &cfg.prompts {
            PromptSelection::Unlabelled => anyhow::bail!(
                "every prompt has been ranked already: import new prompts, or sample all of them (kibble sample --prompts all)"
            ),
            other => anyhow::bail!("no prompts selected ({other:?}); import prompts first"),
        }
    }
    let run_id = store.create_run("sample", &serde_json::to_value(cfg)?, created_by)?;
    store.set_run_lineage(run_id, policy_run, loaded.meta.round)?;
    // A pretrained model named by path has no run of ours: its file or folder name stands in.
    let who = match (policy_run, loaded.meta.run_id) {
        (Some(run), _) => run.to_string(),
        (None, 0) => dir
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "pretrained".into()),
        (None, run) => run.to_string(),
    };
    let source = format!("policy:{who}/round{}", loaded.meta.round);
    let decoder = &loaded.decoder;
    let texts: Vec<PromptBody> = prompts.iter().map(|p| p.1.clone()).collect();
    let result = sample_prompts(
        decoder,
        &loaded.codec,
        &texts,
        cfg.n,
        &cfg.gen,
        emit,
        cancel,
    );
    let sampled = match result {
        Ok(s) => s,
        Err(e) => {
            store.finish_run(run_id, RunStatus::Failed, Some(&format!("{e:#}")))?;
            return Err(e);
        }
    };
    let tokens: usize = sampled.samples.iter().map(|s| s.1.tokens.len()).sum();
    let mut w = store.begin_import()?;
    // A prompt that already holds answers keeps at most MAX_CANDIDATES: samples beyond that
    // are not stored (they could not be ranked) and are counted instead.
    let mut full = 0u64;
    for ((i, _), text) in sampled.samples.iter().zip(sampled.texts(&loaded.codec)) {
        let prompt = prompts[*i].0;
        if text.is_empty() || w.has_candidate(prompt, &text)? {
            continue;
        }
        if w.candidate_count(prompt)? >= MAX_CANDIDATES {
            full += 1;
            continue;
        }
        w.add_candidate(prompt, &text, &source)?;
    }
    let counts = w.finish(&source, "sample")?;
    let seconds = started.elapsed().as_secs_f64();
    store.add_metrics(
        run_id,
        &[
            (0, "candidates", counts.candidates_added as f64),
            (0, metric::TOKENS_PER_S, tokens as f64 / seconds.max(1e-9)),
        ],
    )?;
    let cancelled = cancel.is_cancelled();
    store.finish_run(
        run_id,
        if cancelled {
            RunStatus::Cancelled
        } else {
            RunStatus::Done
        },
        None,
    )?;
    Ok(SampleSummary {
        run_id,
        cancelled,
        template_problem: loaded.codec.template_problem.clone(),
        source,
        prompts: prompts.len(),
        candidates_added: counts.candidates_added,
        not_stored_full: full,
        tokens,
        seconds,
        tokens_per_s: tokens as f64 / seconds.max(1e-9),
    })
}

// ---------------------------------------------------------------------------------------------
// Improvement rounds
// ---------------------------------------------------------------------------------------------
