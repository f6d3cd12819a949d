//! Walking an item through its task's criteria: a ranking per `rank` criterion (typed as
//! always), points per answer on a `rate` criterion (digits), Enter to go on, Backspace on an
//! empty criterion to go back. The item is saved once, with everything, after the last one.

use super::*;
use crate::domain::{task::groups_from_points, Criterion, CriterionKind, Judgement, Scale};

/// What was said on one criterion of the item on screen, in shown positions.
#[derive(Debug, Clone, PartialEq)]
pub enum Said {
    Order {
        groups: Vec<Vec<usize>>,
        best_worst: bool,
    },
    Points(Vec<Option<u8>>),
}

impl LabelScreen {
    /// The criterion being answered on the item on screen.
    pub fn criterion(&self) -> &Criterion {
        let c = &self.task.criteria;
        &c[self.entry.step.min(c.len() - 1)]
    }

    /// The scale of the current criterion when it is rated.
    pub fn rating_scale(&self) -> Option<&Scale> {
        match &self.criterion().kind {
            CriterionKind::Rate(s) => Some(s),
            CriterionKind::Rank => None,
        }
    }

    /// A digit on a rated criterion: the focused answer's points; focus moves to the next
    /// answer still unrated (or the next one).
    pub(crate) fn rate(&mut self, session: &mut Session, digit: u8) {
        let Some(scale) = self.rating_scale().cloned() else {
            return;
        };
        let k = self.k();
        let Some(item) = &mut self.item else {
            return;
        };
        if !scale.contains(digit) {
            session.status = format!(
                "{} is rated {}-{}",
                self.task.criteria[self.entry.step].name, scale.min, scale.max
            );
            return;
        }
        self.entry.points.resize(k, None);
        let at = item.focus.min(k - 1);
        self.entry.points[at] = Some(digit);
        let next = (1..k)
            .map(|d| (at + d) % k)
            .find(|p| self.entry.points[*p].is_none());
        item.focus = next.unwrap_or((at + 1) % k);
        let last = self.entry.step + 1 == self.task.criteria.len();
        session.status = match next {
            Some(_) => String::new(),
            None if last => format!("all rated: {} saves", session.keymap.label(Action::Save)),
            None => format!(
                "all rated: {} goes on to the next criterion",
                session.keymap.label(Action::Save)
            ),
        };
    }

    /// What the annotator said on the current criterion: `Ok(None)` when an optional one was
    /// left blank, `Err` when it is incomplete.
    pub(crate) fn current_said(&self) -> Result<Option<Said>, String> {
        let required = self.criterion().required;
        if self.rating_scale().is_some() {
            let k = self.k();
            let mut points = self.entry.points.clone();
            points.resize(k, None);
            let missing = points.iter().filter(|p| p.is_none()).count();
            return match missing {
                0 => Ok(Some(Said::Points(points))),
                n if n == k && !required => Ok(None),
                n => Err(format!(
                    "{n} answer(s) not rated on {} (type a digit on each)",
                    self.criterion().name
                )),
            };
        }
        if self.entry.placed() == 0 && !required {
            return Ok(None);
        }
        self.complete_groups().map(|groups| {
            Some(Said::Order {
                groups,
                best_worst: self.best_worst_applies(),
            })
        })
    }

    /// Keeps what was said on the current criterion and goes on to the next one, or saves
    /// the item after the last.
    pub(crate) fn criterion_done(&mut self, session: &mut Session, said: Option<Said>) {
        let n = self.task.criteria.len();
        let step = self.entry.step;
        self.entry.said.resize(n, None);
        self.entry.said[step] = said;
        if step + 1 < n {
            self.show_criterion(step + 1);
            let c = self.criterion();
            session.status = format!("now {}: {}", c.name, c.kind.describe());
        } else {
            self.decide(session, Verdict::Rank);
        }
    }

    /// Backspace on an empty criterion: back to the one before, as it was said.
    pub(crate) fn criterion_back(&mut self) -> bool {
        let empty = self.entry.placed() == 0
            && !self.entry.tie_next
            && self.entry.points.iter().all(Option::is_none);
        if !empty || self.entry.step == 0 {
            return false;
        }
        self.show_criterion(self.entry.step - 1);
        true
    }

    /// Puts criterion `step` on screen, pre-filled with what was said on it before.
    pub(crate) fn show_criterion(&mut self, step: usize) {
        self.entry.show(step);
        if let Some(item) = &mut self.item {
            item.focus = 0;
        }
    }

    /// `p`: the previous criterion's answer again (its order, or the order its points imply;
    /// the same points on a rated criterion of the same scale).
    pub(crate) fn same_as_previous(&mut self, session: &mut Session) {
        let step = self.entry.step;
        let prev = (0..step)
            .rev()
            .find_map(|i| self.entry.said.get(i).cloned().flatten());
        let Some(prev) = prev else {
            session.status = "nothing said on an earlier criterion of this item".into();
            return;
        };
        let scale = self.rating_scale().cloned();
        match (prev, scale) {
            (Said::Order { groups, .. }, None) => {
                self.entry.groups = groups;
                self.entry.best_worst = false;
            }
            (Said::Points(points), None) => {
                let pairs: Vec<(i64, u8)> = points
                    .iter()
                    .enumerate()
                    .filter_map(|(i, p)| p.map(|v| (i as i64, v)))
                    .collect();
                self.entry.groups = groups_from_points(&pairs)
                    .into_iter()
                    .map(|g| g.into_iter().map(|i| i as usize).collect())
                    .collect();
                self.entry.best_worst = false;
            }
            (Said::Points(points), Some(scale)) => {
                if points.iter().flatten().all(|v| scale.contains(*v)) {
                    self.entry.points = points;
                } else {
                    session.status = "the previous points do not fit this scale".into();
                    return;
                }
            }
            (Said::Order { .. }, Some(_)) => {
                session.status = "a ranking does not give points: type a digit per answer".into();
                return;
            }
        }
        session.status = format!(
            "same as before: {} saves it",
            session.keymap.label(Action::Save)
        );
    }

    /// Everything said on the item, as stored: the first ranking becomes the decision's own
    /// (`criterion`, `groups`, mode), the rest go beside it.
    pub(crate) fn judgements(
        &self,
        said: &[Option<Said>],
    ) -> (Option<String>, Vec<Vec<usize>>, bool, Vec<Judgement>) {
        let Some(item) = &self.item else {
            return (None, vec![], false, vec![]);
        };
        let id = |p: usize| item.shown[p].id;
        let mut main = None;
        let mut rest = Vec::new();
        for (c, s) in self.task.criteria.iter().zip(said) {
            match s {
                Some(Said::Order { groups, best_worst }) if main.is_none() => {
                    main = Some((c.name.clone(), groups.clone(), *best_worst));
                }
                Some(Said::Order { groups, best_worst }) => rest.push(Judgement::Order {
                    criterion: c.name.clone(),
                    groups: groups
                        .iter()
                        .map(|g| g.iter().map(|&p| id(p)).collect())
                        .collect(),
                    mode: if *best_worst {
                        RankingMode::BestWorst
                    } else {
                        RankingMode::Full
                    },
                }),
                Some(Said::Points(points)) => rest.push(Judgement::Points {
                    criterion: c.name.clone(),
                    points: points
                        .iter()
                        .enumerate()
                        .filter_map(|(p, v)| v.map(|v| (id(p), v)))
                        .collect(),
                }),
                None => {}
            }
        }
        match main {
            Some((name, groups, bw)) => (Some(name), groups, bw, rest),
            None => (None, vec![], false, rest),
        }
    }

    /// What was said on every criterion, the current one included; `Err` names what a
    /// required criterion still lacks.
    pub(crate) fn said_now(&self) -> Result<Vec<Option<Said>>, String> {
        let mut said = self.entry.said.clone();
        said.resize(self.task.criteria.len(), None);
        said[self.entry.step] = self.current_said()?;
        if let Some(c) = self
            .task
            .criteria
            .iter()
            .zip(&said)
            .find(|(c, s)| c.required && s.is_none())
        {
            return Err(format!("{} is required", c.0.name));
        }
        Ok(said)
    }

    /// An earlier decision as the entry that would save it again, criteria in task order.
    pub(crate) fn restored_entry(&self, old: &Ranking, others: &[Judgement]) -> Entry {
        let Some(item) = &self.item else {
            return Entry::default();
        };
        let pos: HashMap<CandidateId, usize> = item
            .shown
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id, i))
            .collect();
        let at = |g: &Vec<CandidateId>| -> Vec<usize> {
            g.iter().filter_map(|id| pos.get(id).copied()).collect()
        };
        let said = self
            .task
            .criteria
            .iter()
            .map(|c| {
                if old.verdict != Verdict::Rank {
                    return None;
                }
                if old.criterion.as_deref() == Some(&c.name) {
                    return Some(Said::Order {
                        groups: old.groups.iter().map(at).collect(),
                        best_worst: old.mode == RankingMode::BestWorst,
                    });
                }
                others
                    .iter()
                    .find(|j| j.criterion() == c.name)
                    .map(|j| match j {
                        Judgement::Order { groups, mode, .. } => Said::Order {
                            groups: groups.iter().map(at).collect(),
                            best_worst: *mode == RankingMode::BestWorst,
                        },
                        Judgement::Points { points, .. } => {
                            let mut v = vec![None; item.shown.len()];
                            for (id, p) in points {
                                if let Some(&i) = pos.get(id) {
                                    v[i] = Some(*p);
                                }
                            }
                            Said::Points(v)
                        }
                    })
            })
            .collect();
        let mut entry = Entry {
            strength: old.strength.map(|s| s.round().clamp(1.0, 3.0) as u8),
            said,
            ..Entry::default()
        };
        entry.show(0);
        entry
    }
}
