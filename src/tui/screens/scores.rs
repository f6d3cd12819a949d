//! The Scores screen: how the reward model scores the data. Histograms (by source, or chosen
//! vs rejected), reward vs length with a length-bias warning, RM accuracy on held-out human
//! rankings beside inter-annotator agreement, extremes, and "label next" suggestions.

use std::collections::{BTreeMap, HashMap, HashSet};

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Axis, Bar, BarChart, BarGroup, Block, Borders, Chart, Dataset, GraphType, Paragraph,
};
use ratatui::Frame;

use super::Session;
use crate::analysis::{correlation, histogram};
use crate::domain::{PromptId, Verdict};
use crate::store::{RankingFilter, ScoredCandidate, Store};
use crate::tui::keymap::Action;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Histogram,
    Length,
    Accuracy,
    Extremes,
    LabelNext,
    Criteria,
}

const VIEWS: [View; 6] = [
    View::Histogram,
    View::Length,
    View::Accuracy,
    View::Extremes,
    View::LabelNext,
    View::Criteria,
];

impl View {
    fn title(self) -> &'static str {
        match self {
            View::Histogram => "histogram",
            // Short: all six tabs fit 80 columns.
            View::Length => "vs length",
            View::Accuracy => "accuracy",
            View::Extremes => "top/bottom",
            View::LabelNext => "label next",
            View::Criteria => "criteria",
        }
    }
}

/// |r| above this between reward and length is flagged as length bias.
pub const LENGTH_BIAS: f64 = 0.5;

#[derive(Debug, Clone, Default)]
pub struct ScoresData {
    pub checkpoint_id: i64,
    pub candidates: Vec<ScoredCandidate>,
    /// Scores of candidates as chosen / as rejected in live human pairs.
    pub chosen: Vec<f64>,
    pub rejected: Vec<f64>,
    /// (annotator, RM accuracy on their held-out pairs, pairs, their agreement with others).
    pub accuracy: Vec<(String, Option<f64>, usize, Option<f64>)>,
    /// Unranked prompts the RM separates least: (prompt, margin between its top two, preview).
    pub suggestions: Vec<(PromptId, f64, String)>,
}

impl ScoresData {
    pub fn load(store: &Store, checkpoint_id: i64) -> anyhow::Result<ScoresData> {
        // A model with one head per criterion shows its first head here; the criteria view
        // shows them all.
        let candidates = store.scored_candidates(checkpoint_id, 0)?;
        let score: HashMap<i64, f64> = candidates.iter().map(|c| (c.id, c.value)).collect();
        // The criterion the checkpoint's run learnt (the task's first when it names none).
        let run_id = store.checkpoint(checkpoint_id)?.map(|c| c.run_id);
        let (_, task) = store.task()?;
        let run = match run_id {
            Some(id) => store.run(id)?,
            None => None,
        };
        let criterion = run
            .as_ref()
            .and_then(|r| crate::store::criteria_learnt(r, &task).first().copied())
            .unwrap_or(&task.first().name)
            .to_string();
        let rankings: Vec<_> = store
            .live_rankings(&RankingFilter {
                criterion: Some(criterion),
                ..Default::default()
            })?
            .into_iter()
            .filter(|r| r.verdict == Verdict::Rank)
            .collect();
        // Held out: the eval split of the run that made this checkpoint (all rankings if unknown).
        let eval: Option<HashSet<i64>> = match run_id {
            Some(id) => {
                let rr = store.run_rankings(id)?;
                (!rr.is_empty()).then(|| rr.into_iter().filter(|r| r.1).map(|r| r.0).collect())
            }
            None => None,
        };
        let mut data = ScoresData {
            checkpoint_id,
            ..ScoresData::default()
        };
        let mut per: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        let mut ranked_prompts = HashSet::new();
        for r in &rankings {
            ranked_prompts.insert(r.prompt_id);
            let held_out = eval.as_ref().is_none_or(|e| e.contains(&r.id));
            for p in r.pairs().0 {
                let (Some(c), Some(j)) = (score.get(&p.chosen), score.get(&p.rejected)) else {
                    continue;
                };
                data.chosen.push(*c);
                data.rejected.push(*j);
                if held_out {
                    let e = per.entry(r.annotator.clone()).or_default();
                    e.1 += 1;
                    if c > j {
                        e.0 += 1;
                    }
                }
            }
        }
        let agreement = store.agreement()?;
        let agree: HashMap<&str, Option<f64>> = agreement
            .annotators
            .iter()
            .map(|q| (q.name.as_str(), q.agreement_with_others))
            .collect();
        data.accuracy = per
            .into_iter()
            .map(|(who, (ok, n))| {
                let a = agree.get(who.as_str()).copied().flatten();
                (who, (n > 0).then(|| ok as f64 / n as f64), n, a)
            })
            .collect();
        let mut by_prompt: HashMap<PromptId, Vec<&ScoredCandidate>> = HashMap::new();
        for c in &candidates {
            by_prompt.entry(c.prompt_id).or_default().push(c);
        }
        let mut sugg: Vec<(PromptId, f64, String)> = by_prompt
            .into_iter()
            .filter(|(p, cs)| cs.len() >= 2 && !ranked_prompts.contains(p))
            .map(|(p, mut cs)| {
                cs.sort_by(|a, b| b.value.total_cmp(&a.value));
                (p, cs[0].value - cs[1].value, cs[0].preview.clone())
            })
            .collect();
        sugg.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        sugg.truncate(50);
        data.suggestions = sugg;
        data.candidates = candidates;
        Ok(data)
    }

    pub fn length_correlation(&self) -> Option<f64> {
        let xs: Vec<f64> = self.candidates.iter().map(|c| c.chars as f64).collect();
        let ys: Vec<f64> = self.candidates.iter().map(|c| c.value).collect();
        correlation(&xs, &ys)
    }
}

/// "import:x.jsonl" -> "imported", "policy:3/round2" -> "policy round2", else as is.
fn source_group(source: &str) -> String {
    if source.starts_with("import:") {
        "imported".into()
    } else if let Some(p) = source.strip_prefix("policy:") {
        format!("policy {}", p.split('/').nth(1).unwrap_or(p))
    } else {
        source.split(':').next().unwrap_or(source).to_string()
    }
}

#[derive(Debug)]
pub struct ScoresScreen {
    pub data: Option<ScoresData>,
    /// Each criterion's scores and how they correlate (read with the data).
    pub criteria: Option<crate::jobs::report::CriteriaCorrelations>,
    pub view: usize,
    pub bins: usize,
    /// Histogram split: by source (false) or chosen vs rejected (true).
    pub by_preference: bool,
    pub message: Option<String>,
}

impl Default for ScoresScreen {
    fn default() -> Self {
        ScoresScreen {
            data: None,
            criteria: None,
            view: 0,
            bins: 12,
            by_preference: false,
            message: None,
        }
    }
}

impl ScoresScreen {
    /// Keys: Tab changes the view, j/k the bins, m by preference, Enter (on "label next")
    /// moves the suggested prompts to the front of the queue.
    pub fn on_action(&mut self, action: Action, session: &mut Session) {
        match action {
            Action::FocusNext => self.next_view(1),
            Action::FocusPrev => self.next_view(-1),
            Action::ScrollDown => self.bins = (self.bins + 2).min(60),
            Action::ScrollUp => self.bins = self.bins.saturating_sub(2).max(2),
            Action::ToggleMode => self.by_preference = !self.by_preference,
            Action::Save if self.view() == View::LabelNext => {
                let ids = self.suggested_prompts();
                session.status = match session.store.set_priority(&ids, 10) {
                    Ok(()) => format!(
                        "{} prompts moved to the front of the labelling queue",
                        ids.len()
                    ),
                    Err(e) => format!("could not reorder the queue: {e}"),
                };
            }
            _ => {}
        }
    }

    pub fn refresh(&mut self, store: &Store) {
        self.message = None;
        self.criteria = crate::jobs::report::criteria_correlations(store).ok();
        match store.latest_scored_checkpoint() {
            Ok(Some(id)) => match ScoresData::load(store, id) {
                Ok(d) => self.data = Some(d),
                Err(e) => self.message = Some(format!("could not read scores: {e:#}")),
            },
            Ok(None) => {
                self.data = None;
                self.message =
                    Some("No scores yet: train a reward model (Train screen), then press r there to score.".into())
            }
            Err(e) => self.message = Some(format!("could not read scores: {e}")),
        }
    }

    pub fn view(&self) -> View {
        VIEWS[self.view % VIEWS.len()]
    }

    pub fn next_view(&mut self, d: i32) {
        self.view = (self.view as i32 + d).rem_euclid(VIEWS.len() as i32) as usize;
    }

    pub fn suggested_prompts(&self) -> Vec<PromptId> {
        self.data
            .as_ref()
            .map(|d| d.suggestions.iter().take(20).map(|s| s.0).collect())
            .unwrap_or_default()
    }
}

const PALETTE: [Color; 6] = [
    Color::Cyan,
    Color::Yellow,
    Color::Magenta,
    Color::Green,
    Color::Red,
    Color::Blue,
];

pub fn render(
    s: &ScoresScreen,
    f: &mut Frame,
    area: Rect,
    color: bool,
    ascii: bool,
    accent: Style,
    dim: Style,
) {
    let rows = Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).split(area);
    let tabs: Vec<Span> = VIEWS
        .iter()
        .map(|v| {
            let t = format!(" {} ", v.title());
            if *v == s.view() {
                Span::styled(t, accent.add_modifier(ratatui::style::Modifier::REVERSED))
            } else {
                Span::styled(t, dim)
            }
        })
        .collect();
    f.render_widget(Paragraph::new(Line::from(tabs)), rows[0]);
    let Some(d) = &s.data else {
        f.render_widget(
            Paragraph::new(s.message.clone().unwrap_or_default())
                .block(Block::default().borders(Borders::ALL)),
            rows[1],
        );
        return;
    };
    let fg = |c: Color| {
        if color {
            Style::default().fg(c)
        } else {
            Style::default()
        }
    };
    let body = rows[1];
    match s.view() {
        View::Histogram => {
            let mut groups: BTreeMap<String, Vec<f64>> = BTreeMap::new();
            if s.by_preference {
                groups.insert("chosen".into(), d.chosen.clone());
                groups.insert("rejected".into(), d.rejected.clone());
            } else {
                for c in &d.candidates {
                    groups
                        .entry(source_group(&c.source))
                        .or_default()
                        .push(c.value);
                }
            }
            let all: Vec<f64> = groups.values().flatten().copied().collect();
            let lo = all.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = all.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let range = (lo.is_finite() && hi > lo).then_some((lo, hi));
            let n = groups.len().max(1) as u16;
            let parts = Layout::vertical(vec![Constraint::Fill(1); n as usize]).split(body);
            for (i, (name, values)) in groups.iter().enumerate() {
                let (edges, counts) = histogram(values, s.bins, range);
                let bars: Vec<Bar> = counts
                    .iter()
                    .enumerate()
                    .map(|(b, c)| {
                        Bar::default()
                            .value(*c as u64)
                            .label(Line::from(format!("{:+.1}", edges[b])))
                            .style(fg(PALETTE[i % PALETTE.len()]))
                    })
                    .collect();
                let width = (parts[i].width.saturating_sub(2) / s.bins.max(1) as u16).clamp(1, 9);
                let chart = BarChart::default()
                    .block(Block::default().borders(Borders::ALL).title(format!(
                        " {} · {} · bins {} (j/k) · m: {} ",
                        crate::text::sanitize_line(name, 20),
                        values.len(),
                        s.bins,
                        if s.by_preference {
                            "by source"
                        } else {
                            "chosen vs rejected"
                        }
                    )))
                    .data(BarGroup::default().bars(&bars))
                    .bar_width(width.saturating_sub(1).max(1))
                    .bar_gap(1);
                f.render_widget(chart, parts[i]);
            }
        }
        View::Length => {
            let pts: Vec<(f64, f64)> = d
                .candidates
                .iter()
                .map(|c| (c.chars as f64, c.value))
                .collect();
            let r = d.length_correlation();
            let warn = r.is_some_and(|r| r.abs() > LENGTH_BIAS);
            let parts = Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).split(body);
            let msg = match r {
                Some(r) if warn => format!("WARNING: length bias: reward and length correlate (r = {r:+.2}, |r| > {LENGTH_BIAS})"),
                Some(r) => format!("correlation of reward with length: r = {r:+.2}"),
                None => "not enough scored candidates for a correlation".into(),
            };
            f.render_widget(
                Paragraph::new(msg).style(if warn { fg(Color::Red) } else { dim }),
                parts[0],
            );
            let pts = crate::analysis::decimate(
                &{
                    let mut p = pts;
                    p.sort_by(|a, b| a.0.total_cmp(&b.0));
                    p
                },
                400,
            );
            let xmax = pts.iter().map(|p| p.0).fold(1.0, f64::max);
            let (ylo, yhi) = pts.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |a, p| {
                (a.0.min(p.1), a.1.max(p.1))
            });
            let (ylo, yhi) = if ylo < yhi { (ylo, yhi) } else { (-1.0, 1.0) };
            let ds = Dataset::default()
                .marker(if ascii { Marker::Dot } else { Marker::Braille })
                .graph_type(GraphType::Scatter)
                .style(fg(Color::Cyan))
                .data(&pts);
            let chart = Chart::new(vec![ds])
                .block(
                    Block::default()
                        .borders(Borders::ALL)
                        .title(" reward (y) vs length in characters (x) "),
                )
                .x_axis(
                    Axis::default()
                        .bounds([0.0, xmax])
                        .labels(vec![Span::raw("0"), Span::raw(format!("{xmax:.0}"))]),
                )
                .y_axis(Axis::default().bounds([ylo, yhi]).labels(vec![
                    Span::raw(format!("{ylo:+.1}")),
                    Span::raw(format!("{yhi:+.1}")),
                ]));
            f.render_widget(chart, parts[1]);
        }
        View::Accuracy => {
            let mut lines = vec![Line::styled(
                format!(
                    "{:<24} {:>12} {:>7} {:>16}",
                    "annotator", "RM accuracy", "pairs", "human agreement"
                ),
                accent,
            )];
            for (who, acc, n, agree) in &d.accuracy {
                let pct =
                    |v: &Option<f64>| v.map_or("-".to_string(), |x| format!("{:.0}%", x * 100.0));
                lines.push(Line::from(format!(
                    "{:<24} {:>12} {:>7} {:>16}",
                    crate::text::sanitize_line(who, 24),
                    pct(acc),
                    n,
                    pct(agree)
                )));
            }
            lines.push(Line::from(""));
            lines.push(Line::styled(
                "RM accuracy on the held-out (eval-split) rankings of each annotator; agreement between people is the ceiling.",
                dim,
            ));
            f.render_widget(
                Paragraph::new(lines)
                    .wrap(ratatui::widgets::Wrap { trim: false })
                    .block(Block::default().borders(Borders::ALL)),
                body,
            );
        }
        View::Criteria => {
            let mut lines = Vec::new();
            match s.criteria.as_ref().filter(|c| !c.names.is_empty()) {
                None => lines.push(Line::styled(
                    "No criterion has scores yet: kibble train-rm --criterion NAME, then kibble score --criterion NAME.",
                    dim,
                )),
                Some(c) => {
                    lines.push(Line::styled(
                        "normalised score, -3 .. +3, per criterion (newest scored reward model of each)",
                        dim,
                    ));
                    for name in &c.names {
                        let v = &c.scores[name];
                        let (_, counts) = histogram(v, 16, Some((-3.0, 3.0)));
                        lines.push(Line::from(format!(
                            "{:<14} {} {:>6}",
                            crate::text::sanitize_line(name, 14),
                            super::improve::view::bars(&counts, ascii),
                            v.len()
                        )));
                    }
                    lines.push(Line::from(""));
                    let mut head = format!("{:<14}", "r");
                    for n in &c.names {
                        head += &format!(" {:>10}", crate::text::sanitize_line(n, 10));
                    }
                    lines.push(Line::styled(head, accent));
                    for (i, n) in c.names.iter().enumerate() {
                        let mut row = format!("{:<14}", crate::text::sanitize_line(n, 14));
                        for r in &c.r[i] {
                            row += &format!(" {:>10}", r.map_or("-".into(), |r| format!("{r:+.2}")));
                        }
                        lines.push(Line::from(row));
                    }
                    lines.push(Line::styled(
                        "r over answers scored on both: near +1 they move together; near 0 or below they pull apart.",
                        dim,
                    ));
                }
            }
            f.render_widget(
                Paragraph::new(lines)
                    .wrap(ratatui::widgets::Wrap { trim: false })
                    .block(Block::default().borders(Borders::ALL)),
                body,
            );
        }
        View::Extremes => {
            let mut sorted: Vec<&ScoredCandidate> = d.candidates.iter().collect();
            sorted.sort_by(|a, b| b.value.total_cmp(&a.value));
            let half = (body.height.saturating_sub(4) / 2) as usize;
            let w = body.width.saturating_sub(12) as usize;
            let mut lines = vec![Line::styled("top", accent)];
            for c in sorted.iter().take(half) {
                lines.push(Line::from(format!(
                    "{:+6.2} {}",
                    c.value,
                    crate::text::sanitize_line(&c.preview, w)
                )));
            }
            lines.push(Line::styled("bottom", accent));
            for c in sorted.iter().rev().take(half) {
                lines.push(Line::from(format!(
                    "{:+6.2} {}",
                    c.value,
                    crate::text::sanitize_line(&c.preview, w)
                )));
            }
            f.render_widget(
                Paragraph::new(lines).block(Block::default().borders(Borders::ALL)),
                body,
            );
        }
        View::LabelNext => {
            let w = body.width.saturating_sub(22) as usize;
            let mut lines = vec![Line::styled(
                "Unranked prompts the RM separates least (smallest margin between its top two answers). Enter: label these first.",
                dim,
            )];
            for (p, margin, preview) in d
                .suggestions
                .iter()
                .take(body.height.saturating_sub(3) as usize)
            {
                lines.push(Line::from(format!(
                    "#{p:<6} {margin:>6.3}  {}",
                    crate::text::sanitize_line(preview, w)
                )));
            }
            if d.suggestions.is_empty() {
                lines.push(Line::from(
                    "Nothing to suggest: every scored prompt is ranked.",
                ));
            }
            f.render_widget(
                Paragraph::new(lines)
                    .wrap(ratatui::widgets::Wrap { trim: false })
                    .block(Block::default().borders(Borders::ALL)),
                body,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sources_group_by_origin() {
        assert_eq!(super::source_group("import:a.jsonl"), "imported");
        assert_eq!(super::source_group("policy:3/round2"), "policy round2");
        assert_eq!(super::source_group("model:gpt"), "model");
    }
}
