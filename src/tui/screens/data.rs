//! The Data screen (F6): labelling progress, each annotator's pace, agreement between
//! annotators and with gold, and each criterion's counts, agreement and reward model. It is
//! read when the screen opens and scrolls (it outgrows 80x24).

use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::Frame;

use super::{Scroller, Session};
use crate::analysis::{Agreement, CriterionQuality};
use crate::store::Stats;
use crate::text::sanitize_line;
use crate::tui::app::App;
use crate::tui::keymap::Action;
use crate::tui::ui::{progress_line, render_scrolled, Theme};

#[derive(Debug, Default)]
pub struct DataScreen {
    pub stats: Option<Stats>,
    pub agreement: Option<Agreement>,
    /// Per criterion of the task.
    pub criteria_quality: Vec<CriterionQuality>,
    /// The DB has a task of its own (not the default one-criterion task).
    pub has_task: bool,
    pub text: Scroller,
}

impl DataScreen {
    /// Reads what the screen shows, as the screen opens.
    pub fn open(&mut self, session: &mut Session) {
        let store = &session.store;
        let read = || -> Result<_, crate::store::StoreError> {
            Ok((
                store.stats()?,
                store.agreement()?,
                store.criteria_quality()?,
                store.task()?.1,
            ))
        };
        match read() {
            Ok((st, ag, cq, task)) => {
                self.stats = Some(st);
                self.agreement = Some(ag);
                self.criteria_quality = cq;
                self.has_task = task != crate::domain::Task::default();
            }
            Err(e) => session.status = format!("could not read stats: {e}"),
        }
    }

    pub fn on_action(&mut self, action: Action) {
        self.text.on_action(action);
    }
}

pub(crate) fn render(app: &App, theme: &Theme, f: &mut Frame, area: Rect) {
    let d = &app.data;
    let mut lines = Vec::new();
    match &d.stats {
        None => lines.push(Line::from("no statistics yet")),
        Some(s) => {
            lines.push(Line::from(format!(
                "prompts {} ({} to rank, {} ranked){}candidates {}",
                s.prompts,
                s.rankable_prompts,
                s.ranked_prompts,
                theme.sep(),
                s.candidates
            )));
            lines.push(Line::from(progress_line(s)));
            lines.push(Line::from(format!(
                "rankings {} live, {} skips, {} retracted, {} in the last hour{}{} flagged, {} noted",
                s.rankings,
                s.skips,
                s.retracted,
                s.rankings_last_hour,
                theme.sep(),
                s.flagged,
                s.noted
            )));
            lines.push(Line::from(""));
            lines.push(Line::styled(
                format!(
                    "{:<20} {:>8} {:>6} {:>5} {:>5} {:>9} {:>9}",
                    "annotator", "rankings", "skips", "flags", "notes", "median s", "per hour"
                ),
                theme.accent(),
            ));
            for a in &s.annotators {
                let opt = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.1}"));
                lines.push(Line::from(format!(
                    "{:<20} {:>8} {:>6} {:>5} {:>5} {:>9} {:>9}",
                    sanitize_line(&a.name, 20),
                    a.rankings,
                    a.skips,
                    a.flagged,
                    a.noted,
                    opt(a.median_seconds),
                    opt(a.per_hour)
                )));
            }
        }
    }
    if let Some(ag) = &d.agreement {
        let pct = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{:.0}%", x * 100.0));
        lines.push(Line::from(""));
        lines.push(Line::from(format!(
            "agreement: {} shared prompts{}pairwise {}{}alpha (ordinal) {}",
            ag.shared_prompts,
            theme.sep(),
            pct(ag.pairwise_agreement),
            theme.sep(),
            ag.krippendorff_alpha_ordinal
                .map_or("-".into(), |x| format!("{x:.3}"))
        )));
        lines.push(Line::styled(
            format!(
                "{:<24} {:>6} {:>13} {:>9} {:>6}",
                "annotator", "ranked", "first-shown", "vs others", "gold"
            ),
            theme.accent(),
        ));
        for q in &ag.annotators {
            lines.push(Line::from(format!(
                "{:<24} {:>6} {:>13} {:>9} {:>6}",
                sanitize_line(&q.name, 24),
                q.ranked,
                format!(
                    "{} ({})",
                    pct(q.first_shown_best),
                    pct(q.first_shown_chance)
                ),
                pct(q.agreement_with_others),
                pct(q.gold_agreement)
            )));
        }
    }
    // A task of its own: each criterion's counts, agreement and reward model side by side.
    if d.has_task && !d.criteria_quality.is_empty() {
        lines.push(Line::from(""));
        lines.push(Line::styled(
            crate::analysis::CRITERIA_HEADER,
            theme.accent(),
        ));
        for q in &d.criteria_quality {
            lines.push(Line::from(q.row()));
        }
    }
    render_scrolled(
        lines,
        " Data ",
        &d.text,
        &app.session.keymap,
        theme,
        f,
        area,
    );
}
