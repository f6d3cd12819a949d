//! The next item: from the queue (or the review queue), loaded with its answers shuffled
//! for this annotator, and the progress counts the header shows.

use super::*;

impl LabelScreen {
    /// Looks at an empty queue again (on the tick, or on a labelling key); returns whether
    /// work arrived.
    pub(crate) fn recheck_queue(&mut self, session: &mut Session) -> bool {
        self.queue_checked = session.clock.elapsed();
        match self.next_item(session) {
            Ok(()) if self.item.is_some() => {
                session.status = "new work arrived".into();
                true
            }
            Ok(()) => false,
            Err(e) => {
                session.status = format!("could not read the queue: {e}");
                false
            }
        }
    }

    /// Review mode: the first prompt annotators disagree on that nobody else is reviewing.
    pub(crate) fn next_review(
        &mut self,
        session: &mut Session,
    ) -> anyhow::Result<Option<PromptId>> {
        for p in session.store.review_queue(&session.cfg.annotator)? {
            if session
                .store
                .try_claim(p, &session.cfg.annotator, session.cfg.queue.lease_ms)?
            {
                return Ok(Some(p));
            }
        }
        Ok(None)
    }

    /// Claims the next prompt from the queue.
    pub fn next_item(&mut self, session: &mut Session) -> anyhow::Result<()> {
        // A new task applies from the next item on; the one on screen keeps its criteria.
        (self.task_version, self.task) = session.store.task()?;
        let next = if session.cfg.review {
            self.next_review(session)?
        } else {
            session.store.claim_next_where(
                &session.cfg.annotator,
                session.cfg.queue,
                &session.cfg.only,
            )?
        };
        match next {
            Some(id) => self.load_item(session, id),
            None => {
                // The end of the queue: how this annotator's work compares, read once here (it
                // reads every ranking), not on the idle re-checks.
                if self.item.take().is_some() && self.session_count > 0 {
                    self.my_quality = session.store.agreement().ok().and_then(|a| {
                        a.annotators
                            .into_iter()
                            .find(|q| q.name == session.cfg.annotator)
                    });
                }
                Ok(())
            }
        }
    }

    /// Re-reads done/total. It scans an index (tens of ms at 1M candidates), so it runs at
    /// start, on undo and every `PROGRESS_EVERY` on the tick, not after each key.
    pub(crate) fn refresh_progress(&mut self, session: &mut Session) -> bool {
        self.progress_at = session.clock.elapsed();
        // The overlap is the DB's: another session may have changed it.
        if let Ok(k) = session.store.overlap() {
            session.cfg.queue.overlap = k;
        }
        let counts = self.read_criterion_counts(session);
        let counts_changed = counts != self.criterion_counts;
        self.criterion_counts = counts;
        match session
            .store
            .queue_progress_split(session.cfg.queue.overlap)
        {
            Ok(p) if p != self.progress => {
                self.progress = p;
                true
            }
            _ => counts_changed,
        }
    }

    /// Decisions per criterion in task order; nothing for a one-criterion task (done/total says it).
    pub(crate) fn read_criterion_counts(&self, session: &Session) -> Vec<(String, i64)> {
        // The DB's task, which another session may have changed since the item was loaded.
        let Ok((_, task)) = session.store.task() else {
            return Vec::new();
        };
        if task.criteria.len() < 2 {
            return Vec::new();
        }
        let found = session.store.criterion_counts().unwrap_or_default();
        task.criteria
            .iter()
            .map(|c| {
                let n = found
                    .iter()
                    .find(|(name, _)| *name == c.name)
                    .map_or(0, |f| f.1);
                (c.name.clone(), n)
            })
            .collect()
    }

    pub(crate) fn load_item(
        &mut self,
        session: &mut Session,
        prompt_id: PromptId,
    ) -> anyhow::Result<()> {
        let prompt = session
            .store
            .prompt(prompt_id)?
            .ok_or_else(|| anyhow::anyhow!("prompt {prompt_id} is missing"))?;
        let mut cands = session.store.candidates(prompt_id)?;
        if cands.len() > MAX_CANDIDATES {
            // Imports and sampling refuse this now; a DB from before may still hold such a prompt.
            session.status = format!(
                "this prompt has {} answers; only the first {MAX_CANDIDATES} can be ranked here",
                cands.len()
            );
            cands.truncate(MAX_CANDIDATES);
        }
        crate::domain::shuffle(&mut cands, shuffle_seed(&session.cfg.annotator, prompt_id));
        let now = session.clock.elapsed();
        // A chat is read from its end: the last user turn is the one being answered.
        let prompt_scroll = match prompt.body {
            crate::domain::PromptBody::Chat(_) => u16::MAX,
            crate::domain::PromptBody::Text(_) => 0,
        };
        // Review mode: what the others said, in this reviewer's letters.
        let others = if session.cfg.review {
            let shown: Vec<CandidateId> = cands.iter().map(|c| c.id).collect();
            session
                .store
                .live_rankings(&crate::store::RankingFilter {
                    prompt_id: Some(prompt_id),
                    ..session.store.first_rank_filter()?
                })?
                .into_iter()
                .filter(|r| r.verdict == Verdict::Rank && r.annotator != session.cfg.annotator)
                .map(|r| (r.annotator.clone(), order_letters(&r.groups, &shown)))
                .collect()
        } else {
            Vec::new()
        };
        self.item = Some(Item {
            others,
            scroll: vec![0; cands.len()],
            answer_views: vec![Cell::new(View::default()); cands.len()],
            prompt_view: Cell::new(View::default()),
            prompt_scroll,
            shown: cands,
            prompt,
            scores: HashMap::new(),
            started: now,
            last_renewed: now,
            focus: 0,
            flags: vec![],
            answer_marks: vec![],
            note: None,
        });
        self.entry = Entry {
            best_worst: self.entry.best_worst,
            ..Entry::default()
        };
        self.load_scores(session);
        Ok(())
    }

    pub(crate) fn load_scores(&mut self, session: &mut Session) {
        if !self.show_scores {
            return;
        }
        if let Some(item) = &mut self.item {
            match session.store.latest_scores(item.prompt.id) {
                Ok(s) => item.scores = s.into_iter().collect(),
                Err(e) => session.status = format!("could not read scores: {e}"),
            }
        }
    }

    /// Decisions per hour in this session, once there is something to measure.
    /// Counted over labelling time (the time spent on each decision), so breaks and idle
    /// minutes do not move the rate or the ETA.
    pub fn per_hour(&self) -> Option<f64> {
        let h = self.labelling.as_secs_f64() / 3600.0;
        (self.session_count > 0 && h > 0.0).then(|| self.session_count as f64 / h)
    }
}
