//! Drawing the Improve screen: the rounds table with the hacking watch, the held-out reward
//! histograms of every round on shared bins, and the selected run's charts.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

use super::{ImproveScreen, RoundLine};
use crate::domain::metric;
use crate::jobs::policy::PolicyRef;
use crate::tui::charts::draw_chart;

/// Counts of `values` in `bins` equal bins over [lo, hi].
pub(super) fn histogram(values: &[f64], lo: f64, hi: f64, bins: usize) -> Vec<usize> {
    let mut h = vec![0; bins];
    for v in values {
        let i = (((v - lo) / (hi - lo).max(1e-9)) * bins as f64).floor();
        h[(i.max(0.0) as usize).min(bins - 1)] += 1;
    }
    h
}

/// Counts as a row of block glyphs, two columns each (`ascii`: plain characters).
pub(crate) fn bars(counts: &[usize], ascii: bool) -> String {
    let max = counts.iter().copied().max().unwrap_or(0).max(1);
    let glyphs: &[char] = if ascii {
        &[' ', '.', ':', '-', '=', '+', '*', '#', '@']
    } else {
        &[' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█']
    };
    counts
        .iter()
        .flat_map(|&c| {
            let g = glyphs[(c * 8).div_ceil(max).min(8)];
            [g, g]
        })
        .collect()
}

pub fn render(
    s: &ImproveScreen,
    f: &mut Frame,
    area: Rect,
    color: bool,
    ascii: bool,
    accent: Style,
    dim: Style,
) {
    let rows = Layout::vertical([Constraint::Length(9), Constraint::Fill(1)]).split(area);
    let mut lines = vec![Line::styled(
        format!(
            "  {:>4} {:<6} {:>5} {:<9} {:>16} {:>6}  {}",
            "run", "kind", "round", "status", "reward before>after", "KL", "phase / watch"
        ),
        accent,
    )];
    let visible = rows[0].height.saturating_sub(5) as usize;
    let skip = (s.selected + 1).saturating_sub(visible);
    for (i, r) in s.rounds.iter().enumerate().skip(skip).take(visible) {
        let reward = match (RoundLine::mean(&r.before), RoundLine::mean(&r.after)) {
            (Some(b), Some(a)) => format!("{b:+.2} > {a:+.2}"),
            _ => "-".into(),
        };
        let warning = r.warning(&s.watch);
        let note = match &warning {
            Some(w) => format!("! {w}"),
            None => crate::text::sanitize_line(r.run.message.as_deref().unwrap_or(""), 40),
        };
        let text = format!(
            "{} {:>4} {:<6} {:>5} {:<9} {:>19} {:>6}  {}",
            if i == s.selected { ">" } else { " " },
            r.run.id,
            crate::text::sanitize_line(&r.run.kind, 6),
            r.run.round.map_or("-".into(), |k| k.to_string()),
            r.run.status.as_str(),
            reward,
            r.kl.map_or("-".into(), |k| format!("{k:.2}")),
            note
        );
        let style = if i == s.selected {
            Style::default().add_modifier(Modifier::REVERSED)
        } else if warning.is_some() && color {
            Style::default().fg(Color::Yellow)
        } else {
            Style::default()
        };
        lines.push(Line::styled(text, style));
    }
    if s.rounds.is_empty() && s.policy == PolicyRef::Latest {
        lines.push(Line::styled(
            "No policy yet: p trains the tiny policy on this DB or takes a GGUF / HF model",
            dim,
        ));
    }
    if let Some(text) = s.rounds.get(s.selected).and_then(RoundLine::criteria_text) {
        lines.push(Line::styled(format!("  per criterion: {text}"), dim));
    }
    let running = s.job.as_ref().map_or(String::new(), |j| {
        format!(" · {} running, x cancels", j.what)
    });
    lines.push(Line::styled(
        format!(
            "s sample → rank F1 → RM F2 → enter {} round (m method){running}",
            s.method.as_str(),
        ),
        dim,
    ));
    lines.push(Line::styled(
        format!("o settings: {}", s.settings.describe(s.method)),
        dim,
    ));
    lines.push(Line::styled(
        format!(
            "n reward: {} · p policy: {}",
            if s.reward_text.is_empty() {
                "newest RM"
            } else {
                s.reward_text.as_str()
            },
            s.policy_text()
        ),
        dim,
    ));
    f.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" Policy rounds "),
        ),
        rows[0],
    );
    let bottom = Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)]).split(rows[1]);
    render_histograms(s, f, bottom[0], ascii, dim);
    if let Some(series) = &s.series {
        let halves = Layout::vertical([Constraint::Fill(1), Constraint::Fill(1)]).split(bottom[1]);
        draw_chart(
            f,
            halves[0],
            &format!("run {} loss", series.run_id),
            vec![
                series.curve(metric::LOSS, false, "loss".into(), Color::DarkGray),
                series.curve(metric::LOSS, true, "smoothed".into(), Color::Cyan),
            ],
            color,
            ascii,
        );
        draw_chart(
            f,
            halves[1],
            "KL to start · margin (DPO) · reward (RLOO)",
            vec![
                series.curve(metric::KL, true, "kl".into(), Color::Magenta),
                series.curve(metric::MARGIN, true, "margin".into(), Color::Green),
                series.curve(metric::REWARD, true, "reward".into(), Color::Yellow),
            ],
            color,
            ascii,
        );
    }
}

/// Held-out RM reward per round on shared bins: the first round's "before" is round 0.
fn render_histograms(s: &ImproveScreen, f: &mut Frame, area: Rect, ascii: bool, dim: Style) {
    let mut rows: Vec<(String, &[f64])> = Vec::new();
    for r in s.rounds.iter().filter(|r| !r.after.is_empty()) {
        if rows.is_empty() {
            rows.push((format!("r{}", r.run.round.unwrap_or(1) - 1), &r.before));
        }
        rows.push((format!("r{}", r.run.round.unwrap_or(0)), &r.after));
    }
    // Two columns per bin: few held-out samples per round need coarse bins.
    let width = (area.width.saturating_sub(20).max(8) as usize / 2).min(24);
    let all: Vec<f64> = rows.iter().flat_map(|r| r.1.iter().copied()).collect();
    let lo = all.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = all.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut lines = Vec::new();
    if rows.is_empty() {
        lines.push(Line::styled("No finished round yet.", dim));
    } else {
        lines.push(Line::styled(
            format!(
                "     {lo:<+8.2}{:>w$}",
                format!("{hi:+.2}"),
                w = width.saturating_sub(8)
            ),
            dim,
        ));
        let visible = area.height.saturating_sub(3) as usize;
        for (name, values) in rows.iter().rev().take(visible).rev() {
            let mean = values.iter().sum::<f64>() / values.len().max(1) as f64;
            lines.push(Line::from(format!(
                "{name:>4} {} {mean:+.2}",
                bars(&histogram(values, lo, hi, width), ascii)
            )));
        }
    }
    f.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" held-out reward per round "),
        ),
        area,
    );
}
