//! Scoring with a reward-model checkpoint: every candidate in the DB (incrementally: only the
//! ones this checkpoint has not scored), or the pairs of a TRL file for held-out evaluation.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use candle_core::Device;
use serde::Serialize;

use crate::data::formats::{detect, parse_item, parse_object};
use crate::data::reader::{open_input, LineReader};
use crate::data::Format;
use crate::ml::checkpoint::{self, Loaded};
use crate::ml::training::reward::score_heads;
use crate::store::Store;

/// A checkpoint named on the command line: a DB checkpoint id, or a folder.
#[derive(Debug, Clone)]
pub enum CheckpointRef {
    Latest,
    Id(i64),
    Dir(PathBuf),
}

impl CheckpointRef {
    pub fn parse(s: Option<&str>) -> CheckpointRef {
        match s {
            None => CheckpointRef::Latest,
            Some(s) => match s.parse::<i64>() {
                Ok(id) if !Path::new(s).exists() => CheckpointRef::Id(id),
                _ => CheckpointRef::Dir(PathBuf::from(s)),
            },
        }
    }
}

/// The folder of a checkpoint and its DB id, if it has one.
pub fn resolve(store: Option<&Store>, r: &CheckpointRef) -> anyhow::Result<(PathBuf, Option<i64>)> {
    match r {
        CheckpointRef::Dir(d) => Ok((d.clone(), None)),
        CheckpointRef::Id(id) => {
            let store = store.ok_or_else(|| anyhow::anyhow!("a checkpoint id needs a database"))?;
            let c = store.checkpoint(*id)?.ok_or_else(|| {
                anyhow::anyhow!("no checkpoint {id} in this database (see `kibble runs`)")
            })?;
            Ok((PathBuf::from(c.path), Some(c.id)))
        }
        CheckpointRef::Latest => {
            let store = store.ok_or_else(|| anyhow::anyhow!("pass --checkpoint DIR"))?;
            let c = store.latest_checkpoint(&["rm"])?.ok_or_else(|| {
                anyhow::anyhow!("no reward-model checkpoint yet; run `kibble train-rm` first")
            })?;
            Ok((PathBuf::from(c.path), Some(c.id)))
        }
    }
}

/// A reward-model checkpoint as a scorer of (prompt, response) texts, by one of its heads
/// (a model trained with `--criteria` has one per criterion).
pub struct Scorer {
    pub loaded: Loaded,
    pub head: usize,
}

impl Scorer {
    /// Loads the checkpoint `r` names (see [`resolve`]); scores with its first head.
    pub fn open(store: Option<&Store>, r: &CheckpointRef) -> anyhow::Result<Scorer> {
        let (dir, _) = resolve(store, r)?;
        Ok(Scorer {
            loaded: checkpoint::load(&dir, &Device::Cpu)?,
            head: 0,
        })
    }

    /// Scores with head `head` instead.
    pub fn with_head(mut self, head: usize) -> anyhow::Result<Scorer> {
        let n = self.loaded.model.config.n_outputs;
        if head >= n {
            anyhow::bail!(
                "{}: the model has {n} head(s), not a head {head}",
                self.loaded.dir.display()
            );
        }
        self.head = head;
        Ok(self)
    }

    /// Raw rewards of every head, one row per (prompt, response), in batches of 64.
    pub fn raw_heads(&self, prompt_response: &[(&str, &str)]) -> anyhow::Result<Vec<Vec<f32>>> {
        let enc: Vec<_> = prompt_response
            .iter()
            .map(|(p, r)| self.loaded.encoder.encode(p, r))
            .collect::<Result<_, _>>()?;
        let refs: Vec<_> = enc.iter().collect();
        Ok(score_heads(
            &self.loaded.model,
            &refs,
            self.loaded.encoder.pad_id,
            64,
            &Device::Cpu,
        )?)
    }

    /// Raw rewards of this scorer's head.
    pub fn raw(&self, prompt_response: &[(&str, &str)]) -> anyhow::Result<Vec<f32>> {
        Ok(self
            .raw_heads(prompt_response)?
            .into_iter()
            .map(|r| r[self.head])
            .collect())
    }

    /// A raw reward of `head` normalised with that head's train-split mean and std.
    pub fn normalise_head(&self, head: usize, raw: f32) -> f64 {
        let m = &self.loaded.meta;
        let (mean, std) = m
            .head_stats
            .get(head)
            .copied()
            .unwrap_or((m.reward_mean, m.reward_std));
        (raw as f64 - mean) / std
    }

    /// A raw reward of this scorer's head, normalised.
    pub fn normalise(&self, raw: f32) -> f64 {
        self.normalise_head(self.head, raw)
    }

    /// Normalised rewards.
    pub fn score(&self, prompt_response: &[(&str, &str)]) -> anyhow::Result<Vec<f64>> {
        Ok(self
            .raw(prompt_response)?
            .into_iter()
            .map(|r| self.normalise(r))
            .collect())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ScoreSummary {
    pub checkpoint_id: i64,
    pub scored: usize,
    pub seconds: f64,
}

/// Scores every candidate the checkpoint has not scored yet and stores normalised scores.
pub fn score_candidates(
    store: &mut Store,
    r: &CheckpointRef,
    mut progress: impl FnMut(usize, usize),
) -> anyhow::Result<ScoreSummary> {
    let started = std::time::Instant::now();
    let (dir, id) = resolve(Some(store), r)?;
    let scorer = Scorer {
        loaded: checkpoint::load(&dir, &Device::Cpu)?,
        head: 0,
    };
    let heads = scorer.loaded.model.config.n_outputs;
    let checkpoint_id = match id {
        Some(id) => id,
        // A folder from elsewhere gets a run and a checkpoint row so its scores have a home.
        None => {
            let run = store.create_run(
                "rm",
                &serde_json::json!({"external_checkpoint": dir.display().to_string()}),
                "score",
            )?;
            store.finish_run(
                run,
                crate::store::RunStatus::Done,
                Some("external checkpoint"),
            )?;
            store.add_checkpoint(
                run,
                scorer.loaded.meta.step as i64,
                &dir.display().to_string(),
                &scorer.loaded.meta.metrics,
            )?
        }
    };
    let todo = store.unscored_candidates(checkpoint_id)?;
    let total = todo.len();
    let mut prompt_text: HashMap<i64, String> = HashMap::new();
    for chunk in todo.chunks(256) {
        for (_, prompt_id, _) in chunk {
            if !prompt_text.contains_key(prompt_id) {
                let p = store
                    .prompt(*prompt_id)?
                    .ok_or_else(|| anyhow::anyhow!("missing prompt {prompt_id}"))?;
                prompt_text.insert(*prompt_id, p.body.as_plain_text());
            }
        }
        let pairs: Vec<(&str, &str)> = chunk
            .iter()
            .map(|(_, p, text)| (prompt_text[p].as_str(), text.as_str()))
            .collect();
        // Every head at once: one forward pass gives them all.
        let raw = scorer.raw_heads(&pairs)?;
        let per_head: Vec<Vec<(i64, f64, f64)>> = (0..heads)
            .map(|h| {
                chunk
                    .iter()
                    .zip(&raw)
                    .map(|((cid, _, _), r)| (*cid, scorer.normalise_head(h, r[h]), r[h] as f64))
                    .collect()
            })
            .collect();
        store.add_head_scores(checkpoint_id, &per_head)?;
        progress(chunk.len(), total);
    }
    Ok(ScoreSummary {
        checkpoint_id,
        scored: total,
        seconds: started.elapsed().as_secs_f64(),
    })
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct EvalGroup {
    pub pairs: usize,
    pub correct: usize,
    pub ties: usize,
    pub accuracy: f64,
    pub mean_margin: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub file: String,
    pub checkpoint: String,
    #[serde(flatten)]
    pub overall: EvalGroup,
    pub by_subset: BTreeMap<String, EvalGroup>,
}

/// The head of a checkpoint that learnt `criterion`: a model trained with `--criteria` names
/// its heads; a one-head model answers only to the criterion its run learnt, which the
/// folder does not record, so any name is its one head.
pub fn head_named(loaded: &Loaded, criterion: &str) -> Result<usize, String> {
    let heads = &loaded.meta.heads;
    if heads.is_empty() {
        return Ok(0);
    }
    heads.iter().position(|h| h == criterion).ok_or_else(|| {
        format!(
            "{}: no head learnt {criterion:?}; its heads are {}",
            loaded.dir.display(),
            heads.join(", ")
        )
    })
}

/// Pairwise accuracy of a checkpoint's `head` on a TRL (or HH) file, without importing it.
pub fn eval_file(loaded: &Loaded, file: &Path, head: usize) -> anyhow::Result<EvalReport> {
    let device = Device::Cpu;
    let mut lines = LineReader::new(open_input(file)?);
    let mut format: Option<Format> = None;
    // (subset, chosen seq, rejected seq)
    let mut pending: Vec<(
        Option<String>,
        crate::ml::text::tokenizer::Encoded,
        crate::ml::text::tokenizer::Encoded,
    )> = Vec::new();
    let mut groups: BTreeMap<String, (EvalGroup, f64)> = BTreeMap::new();
    let mut overall = (EvalGroup::default(), 0f64);
    let shown = file.display().to_string();
    let mut flush = |pending: &mut Vec<_>| -> anyhow::Result<()> {
        if pending.is_empty() {
            return Ok(());
        }
        let mut refs = Vec::new();
        for (_, c, r) in pending.iter() {
            refs.push(c);
            refs.push(r);
        }
        let s: Vec<f32> = score_heads(&loaded.model, &refs, loaded.encoder.pad_id, 64, &device)?
            .into_iter()
            .map(|r| r[head])
            .collect();
        for (i, (subset, _, _)) in pending.drain(..).enumerate() {
            let (rc, rr) = (s[2 * i], s[2 * i + 1]);
            let targets: Vec<&mut (EvalGroup, f64)> = match subset {
                Some(name) => vec![groups.entry(name).or_default(), &mut overall],
                None => vec![&mut overall],
            };
            for (g, margin_sum) in targets {
                g.pairs += 1;
                if rc > rr {
                    g.correct += 1;
                } else if rc == rr {
                    g.ties += 1;
                }
                *margin_sum += (rc - rr) as f64;
            }
        }
        Ok(())
    };
    while let Some((n, line)) = lines.next_line()? {
        let text = line.map_err(|p| anyhow::anyhow!("{shown}:{n}: unreadable line ({p:?})"))?;
        if text.trim().is_empty() {
            continue;
        }
        let obj = parse_object(text).map_err(|e| anyhow::anyhow!("{shown}:{n}: {e}"))?;
        let f = match format {
            Some(f) => f,
            None => {
                let f = detect(&obj).map_err(|e| anyhow::anyhow!("{shown}:{n}: {e}"))?;
                if !matches!(f, Format::Trl | Format::Hh) {
                    anyhow::bail!("{shown}:{n}: eval-rm reads preference pairs (TRL or HH format), found {} format", f.name());
                }
                format = Some(f);
                f
            }
        };
        let item = parse_item(f, obj).map_err(|e| anyhow::anyhow!("{shown}:{n}: {e}"))?;
        let prompt = item.prompt.as_plain_text();
        let subset = item
            .meta
            .get("subset")
            .and_then(|v| v.as_str())
            .map(str::to_string);
        pending.push((
            subset,
            loaded.encoder.encode(&prompt, &item.candidates[0].text)?,
            loaded.encoder.encode(&prompt, &item.candidates[1].text)?,
        ));
        if pending.len() >= 32 {
            flush(&mut pending)?;
        }
    }
    flush(&mut pending)?;
    let finish = |(mut g, m): (EvalGroup, f64)| {
        g.accuracy = if g.pairs > 0 {
            g.correct as f64 / g.pairs as f64
        } else {
            f64::NAN
        };
        g.mean_margin = if g.pairs > 0 {
            m / g.pairs as f64
        } else {
            f64::NAN
        };
        g
    };
    Ok(EvalReport {
        file: shown,
        checkpoint: loaded.dir.display().to_string(),
        overall: finish(overall),
        by_subset: groups.into_iter().map(|(k, v)| (k, finish(v))).collect(),
    })
}
