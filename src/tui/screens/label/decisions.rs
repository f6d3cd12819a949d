//! Typing a ranking and saving it: picks, ties, take-back, and the decision appended to the log.

use super::*;

impl LabelScreen {
    /// Best/worst mode is on and means something (three or more answers).
    pub fn best_worst_applies(&self) -> bool {
        self.entry.best_worst && self.k() >= 3
    }

    pub(crate) fn k(&self) -> usize {
        self.item.as_ref().map_or(0, |i| i.shown.len())
    }

    pub(crate) fn pick(&mut self, session: &mut Session, pos: usize) {
        let k = self.k();
        self.restart_complete_pair();
        if pos >= k {
            if k > 0 {
                session.status = format!("there is no answer {}", letter(pos));
            }
            return;
        }
        if self.entry.contains(pos) {
            session.status = format!("{} is already ranked", letter(pos));
            return;
        }
        if self.best_worst_applies() {
            if self.entry.groups.len() < 2 {
                self.entry.groups.push(vec![pos]);
            }
            return;
        }
        if self.entry.tie_next && !self.entry.groups.is_empty() {
            self.entry.groups.last_mut().expect("non-empty").push(pos);
            self.entry.tie_next = false;
        } else {
            self.entry.groups.push(vec![pos]);
        }
        // Two answers: one key decides.
        if k == 2 && self.entry.groups.len() == 1 && self.entry.placed() == 1 {
            self.entry.groups.push(vec![1 - pos]);
            self.save(session);
        }
    }

    /// Two answers and both placed (an undone decision brought back): the next key decides
    /// afresh, as it does on a new prompt.
    pub(crate) fn restart_complete_pair(&mut self) {
        if self.k() == 2 && self.entry.placed() == 2 {
            self.entry.groups.clear();
            self.entry.tie_next = false;
        }
    }

    pub(crate) fn tie(&mut self, session: &mut Session) {
        self.restart_complete_pair();
        if self.k() == 2 && self.entry.placed() == 0 {
            self.entry.groups = vec![vec![0, 1]];
            self.save(session);
        } else if self.best_worst_applies() {
            session.status = "no ties in best/worst mode".into();
        } else if self.entry.groups.is_empty() {
            session.status = "rank an answer first, then = ties the next one with it".into();
        } else {
            self.entry.tie_next = true;
        }
    }

    pub(crate) fn unrank(&mut self) {
        if self.entry.tie_next {
            self.entry.tie_next = false;
            return;
        }
        if let Some(last) = self.entry.groups.last_mut() {
            last.pop();
            if last.is_empty() {
                self.entry.groups.pop();
            }
        }
    }

    /// The complete ranking in shown positions, or why it is not complete yet.
    pub(crate) fn complete_groups(&self) -> Result<Vec<Vec<usize>>, String> {
        let k = self.k();
        let e = &self.entry;
        if self.best_worst_applies() {
            if e.groups.len() < 2 {
                return Err("pick the best answer, then the worst".into());
            }
            let (best, worst) = (e.groups[0][0], e.groups[1][0]);
            let middle: Vec<usize> = (0..k).filter(|p| *p != best && *p != worst).collect();
            return Ok(vec![vec![best], middle, vec![worst]]);
        }
        let mut groups = e.groups.clone();
        let missing: Vec<usize> = (0..k).filter(|p| !e.contains(*p)).collect();
        match missing.len() {
            0 => {}
            1 => groups.push(missing),
            n => return Err(format!("{n} answers unranked (the last may be left out)")),
        }
        // A single group (all tied) is a real judgement too.
        Ok(groups)
    }

    /// Enter: the current criterion is done (the item is saved after the last one).
    pub(crate) fn save(&mut self, session: &mut Session) {
        let said = match self.current_said() {
            Ok(s) => s,
            Err(msg) => {
                session.status = msg;
                return;
            }
        };
        if let Some(Said::Order { groups, .. }) = &said {
            if groups.len() == 1 && self.k() > 2 {
                session.overlay = Overlay::Confirm(Confirm::AllTie);
                return;
            }
        }
        self.criterion_done(session, said);
    }

    pub(crate) fn skip(&mut self, session: &mut Session) {
        self.decide(session, Verdict::Skip);
    }

    /// Appends the decision to the log; on success moves to the next prompt.
    pub(crate) fn decide(&mut self, session: &mut Session, verdict: Verdict) {
        let rushed_below = session.cfg.min_seconds;
        let said = match verdict {
            Verdict::Skip => vec![],
            Verdict::Rank => match self.said_now() {
                Ok(s) => s,
                Err(msg) => {
                    session.status = msg;
                    return;
                }
            },
        };
        match self.append_decision(session, verdict, &said) {
            Ok(Some((saved, rushed))) => {
                self.history.push(saved.clone());
                // A fixed decision is back in its place: those made after it follow again.
                if self.fixing.take().is_some() {
                    while let Some(s) = self.ahead.pop() {
                        self.history.push(s);
                    }
                }
                // With overlap 1 this decision finished the prompt; others' work shows on the tick.
                if verdict == Verdict::Rank && session.cfg.queue.overlap == 1 {
                    self.progress.done = (self.progress.done + 1).min(self.progress.total);
                }
                // The header's per-criterion counts follow at once; others' work shows on the tick.
                for (c, _) in self
                    .task
                    .criteria
                    .iter()
                    .zip(&said)
                    .filter(|(_, s)| s.is_some())
                {
                    if let Some(n) = self.criterion_counts.iter_mut().find(|n| n.0 == c.name) {
                        n.1 += 1;
                    }
                }
                session.status = match verdict {
                    Verdict::Rank => "saved".to_string(),
                    Verdict::Skip => "skipped".to_string(),
                };
                if rushed {
                    session.status += &format!(" · rushed (< {rushed_below} s)");
                }
                // The mode carries over to the next prompt; strength is per decision.
                self.entry = Entry {
                    best_worst: self.entry.best_worst,
                    ..Entry::default()
                };
                if let Err(e) = self.next_item(session) {
                    session.status = format!("could not load the next prompt: {e}");
                }
            }
            Ok(None) => session.status = "already saved".into(),
            // Keep everything on screen so nothing is lost; the annotator can retry.
            Err(e) => session.status = format!("NOT saved: {e} (press the key again to retry)"),
        }
    }

    /// Writes what is on screen as a decision (durable when this returns); the screen is unchanged.
    /// Returns the decision and whether it was rushed, or `None` if the store already had it.
    pub(crate) fn append_decision(
        &mut self,
        session: &mut Session,
        verdict: Verdict,
        said: &[Option<Said>],
    ) -> Result<Option<(Saved, bool)>, crate::store::StoreError> {
        let (criterion, groups, best_worst, judgements) = self.judgements(said);
        let Some(item) = &self.item else {
            return Ok(None);
        };
        let elapsed = session.clock.elapsed().saturating_sub(item.started);
        let ids =
            |g: &Vec<usize>| -> Vec<CandidateId> { g.iter().map(|&p| item.shown[p].id).collect() };
        let ranking = NewRanking {
            prompt_id: item.prompt.id,
            annotator: session.cfg.annotator.clone(),
            os_user: session.cfg.os_user.clone(),
            created_at_ms: now_ms(),
            duration_ms: Some(elapsed.as_millis() as i64),
            shown_order: item.shown.iter().map(|c| c.id).collect(),
            verdict,
            mode: if best_worst && verdict == Verdict::Rank {
                RankingMode::BestWorst
            } else {
                RankingMode::Full
            },
            groups: groups.iter().map(ids).collect(),
            strength: self.entry.strength.map(f64::from),
            flags: item.flags.clone(),
            note: item.note.clone(),
            rushed: elapsed.as_secs_f64() < session.cfg.min_seconds,
            answer_marks: item.answer_marks.clone(),
            dedupe_key: None,
            task_version: self.task_version,
            criterion,
            judgements,
        };
        let rushed = ranking.rushed;
        self.labelling += elapsed;
        Ok(self.append(session, &ranking)?.map(|saved| (saved, rushed)))
    }

    pub(crate) fn append(
        &mut self,
        session: &mut Session,
        ranking: &NewRanking,
    ) -> Result<Option<Saved>, crate::store::StoreError> {
        let appended = if session.cfg.review {
            session.store.append_review(ranking)?
        } else {
            session.store.append_ranking(ranking)?
        };
        let Some(id) = appended else {
            return Ok(None);
        };
        self.session_count += 1;
        if let Some(cb) = &mut self.on_saved {
            cb(id);
        }
        Ok(Some(Saved {
            ranking_id: id,
            prompt_id: ranking.prompt_id,
        }))
    }

    /// Appends the decision being fixed again, exactly as it was before the undo.
    pub(crate) fn put_back(
        &mut self,
        session: &mut Session,
        old: &Ranking,
    ) -> Result<Option<Saved>, crate::store::StoreError> {
        let again = NewRanking {
            prompt_id: old.prompt_id,
            annotator: old.annotator.clone(),
            os_user: old.os_user.clone(),
            created_at_ms: now_ms(),
            duration_ms: old.duration_ms,
            shown_order: old.shown_order.clone(),
            verdict: old.verdict,
            mode: old.mode,
            groups: old.groups.clone(),
            strength: old.strength,
            flags: old.flags.clone(),
            note: old.note.clone(),
            rushed: old.rushed,
            answer_marks: old.answer_marks.clone(),
            dedupe_key: None,
            task_version: old.task_version,
            criterion: old.criterion.clone(),
            judgements: session.store.judgements(old.id)?,
        };
        self.append(session, &again)
    }
}
