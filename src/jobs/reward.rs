//! The reward a policy round maximises: one reward model, or several criteria's reward models
//! combined (`--reward "helpful=1,informative=0.5"`: a weighted sum of each one's normalised
//! score) with an optional gate (`--gate "harmless<-0.5"`: where that criterion's score is
//! below the threshold, it replaces the combination, as Llama 2 gates helpfulness by safety).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::jobs::score::{CheckpointRef, Scorer};
use crate::store::{CheckpointRow, Store};

/// One criterion's reward model in a combination, by the checkpoint folder it was resolved to
/// (so a resumed round uses the same models whatever has been trained since).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RewardPart {
    pub criterion: String,
    pub weight: f64,
    pub checkpoint: String,
    /// The checkpoint's head for this criterion (models trained with `--criteria` have several).
    #[serde(default)]
    pub head: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RewardGate {
    pub criterion: String,
    pub below: f64,
    pub checkpoint: String,
    #[serde(default)]
    pub head: usize,
}

/// `helpful=1,informative=0.5`: criteria and weights.
pub fn parse_weights(s: &str) -> Result<Vec<(String, f64)>, String> {
    let mut out: Vec<(String, f64)> = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, w) = part
            .split_once('=')
            .ok_or_else(|| format!("--reward {part:?}: write criterion=weight, e.g. helpful=1"))?;
        let w: f64 = w
            .trim()
            .parse()
            .ok()
            .filter(|w: &f64| w.is_finite())
            .ok_or_else(|| format!("--reward {part:?}: the weight must be a number"))?;
        if out.iter().any(|(n, _)| n == name.trim()) {
            return Err(format!("--reward names {:?} twice", name.trim()));
        }
        out.push((name.trim().to_string(), w));
    }
    if out.is_empty() || out.iter().all(|(_, w)| *w == 0.0) {
        return Err("--reward needs at least one criterion with a non-zero weight".into());
    }
    Ok(out)
}

/// `harmless<-0.5`: the gating criterion and its threshold.
pub fn parse_gate(s: &str) -> Result<(String, f64), String> {
    let (name, t) = s
        .split_once('<')
        .ok_or_else(|| format!("--gate {s:?}: write criterion<threshold, e.g. harmless<-0.5"))?;
    let t: f64 = t
        .trim()
        .parse()
        .ok()
        .filter(|t: &f64| t.is_finite())
        .ok_or_else(|| {
            format!("--gate {s:?}: the threshold must be a number (a normalised score)")
        })?;
    Ok((name.trim().to_string(), t))
}

/// The newest reward-model run on `criterion` (runs that name none learnt the task's first
/// criterion), as its best checkpoint and the head that learnt the criterion.
pub fn checkpoint_for(store: &Store, criterion: &str) -> anyhow::Result<(CheckpointRow, usize)> {
    let (_, task) = store.task()?;
    task.pick(Some(criterion)).map_err(anyhow::Error::msg)?;
    for run in store.rm_runs_on(criterion)? {
        let head = crate::store::head_for(&run, &task, criterion).unwrap_or(0);
        let best = match store.best_checkpoint(run.id)? {
            Some(c) => Some(c),
            None => store.checkpoints(Some(run.id))?.into_iter().last(),
        };
        if let Some(c) = best {
            return Ok((c, head));
        }
    }
    anyhow::bail!(
        "no reward model for {criterion:?} yet: run `kibble train-rm --criterion {criterion}`"
    )
}

/// Resolves `--reward` and `--gate` to checkpoints in the store.
pub fn resolve_parts(
    store: &Store,
    weights: &[(String, f64)],
    gate: Option<&(String, f64)>,
) -> anyhow::Result<(Vec<RewardPart>, Option<RewardGate>)> {
    let parts = weights
        .iter()
        .map(|(c, w)| {
            let (ck, head) = checkpoint_for(store, c)?;
            Ok(RewardPart {
                criterion: c.clone(),
                weight: *w,
                checkpoint: ck.path,
                head,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let gate = gate
        .map(|(c, t)| {
            let (ck, head) = checkpoint_for(store, c)?;
            Ok::<_, anyhow::Error>(RewardGate {
                criterion: c.clone(),
                below: *t,
                checkpoint: ck.path,
                head,
            })
        })
        .transpose()?;
    Ok((parts, gate))
}

/// Loaded reward models and how to combine them.
pub struct Reward {
    /// (criterion, weight, model); one part of weight 1 for a single reward model.
    parts: Vec<(String, f64, Scorer)>,
    gate: Option<(String, f64, Scorer)>,
}

impl Reward {
    /// One reward model, as rounds always used.
    pub fn single(scorer: Scorer) -> Reward {
        Reward {
            parts: vec![("reward".into(), 1.0, scorer)],
            gate: None,
        }
    }

    pub fn open(parts: &[RewardPart], gate: Option<&RewardGate>) -> anyhow::Result<Reward> {
        let open = |dir: &str, head: usize| {
            Scorer::open(None, &CheckpointRef::Dir(PathBuf::from(dir)))?.with_head(head)
        };
        Ok(Reward {
            parts: parts
                .iter()
                .map(|p| Ok((p.criterion.clone(), p.weight, open(&p.checkpoint, p.head)?)))
                .collect::<anyhow::Result<_>>()?,
            gate: gate
                .map(|g| {
                    Ok::<_, anyhow::Error>((
                        g.criterion.clone(),
                        g.below,
                        open(&g.checkpoint, g.head)?,
                    ))
                })
                .transpose()?,
        })
    }

    /// Whether more than one signal is combined (reports then show each criterion).
    pub fn is_combined(&self) -> bool {
        self.parts.len() > 1 || self.gate.is_some()
    }

    /// The combined reward of each (prompt, response).
    pub fn score(&self, prompt_response: &[(&str, &str)]) -> anyhow::Result<Vec<f64>> {
        let per: Vec<Vec<f64>> = self
            .parts
            .iter()
            .map(|(_, _, s)| s.score(prompt_response))
            .collect::<anyhow::Result<_>>()?;
        let gate = match &self.gate {
            Some((_, below, s)) => Some((*below, s.score(prompt_response)?)),
            None => None,
        };
        Ok(combine(
            &self.parts.iter().map(|p| p.1).collect::<Vec<_>>(),
            &per,
            gate.as_ref().map(|(b, g)| (*b, g.as_slice())),
        ))
    }

    /// Each criterion's own normalised score (parts, then the gate if it is another one).
    pub fn per_criterion(
        &self,
        prompt_response: &[(&str, &str)],
    ) -> anyhow::Result<Vec<(String, Vec<f64>)>> {
        let mut out: Vec<(String, Vec<f64>)> = Vec::new();
        let all = self
            .parts
            .iter()
            .map(|(c, _, s)| (c, s))
            .chain(self.gate.iter().map(|(c, _, s)| (c, s)));
        for (c, s) in all {
            if !out.iter().any(|(n, _)| n == c) {
                out.push((c.clone(), s.score(prompt_response)?));
            }
        }
        Ok(out)
    }
}

/// `Σ weight · score`, replaced by the gate's score where it is below its threshold.
pub fn combine(weights: &[f64], per: &[Vec<f64>], gate: Option<(f64, &[f64])>) -> Vec<f64> {
    let n = per.first().map_or(0, Vec::len);
    (0..n)
        .map(|i| {
            let mixed: f64 = weights.iter().zip(per).map(|(w, s)| w * s[i]).sum();
            match gate {
                Some((below, g)) if g[i] < below => g[i],
                _ => mixed,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_and_gates_parse_with_clear_errors() {
        assert_eq!(
            parse_weights("helpful=1, informative=0.5").unwrap(),
            vec![("helpful".into(), 1.0), ("informative".into(), 0.5)]
        );
        assert!(parse_weights("helpful")
            .unwrap_err()
            .contains("criterion=weight"));
        assert!(parse_weights("a=1,a=2").unwrap_err().contains("twice"));
        assert!(parse_weights("a=0").unwrap_err().contains("non-zero"));
        assert!(parse_weights("a=x").unwrap_err().contains("number"));
        assert_eq!(
            parse_gate("harmless<-0.5").unwrap(),
            ("harmless".into(), -0.5)
        );
        assert!(parse_gate("harmless>1").is_err());
    }

    #[test]
    fn the_gate_replaces_the_mix_where_its_criterion_is_low() {
        let per = vec![vec![1.0, 2.0, -1.0], vec![0.0, 2.0, 4.0]];
        assert_eq!(combine(&[1.0, 0.5], &per, None), vec![1.0, 3.0, 1.0]);
        let gate = [0.0, -2.0, 0.0];
        assert_eq!(
            combine(&[1.0, 0.5], &per, Some((-0.5, &gate))),
            vec![1.0, -2.0, 1.0]
        );
    }
}
