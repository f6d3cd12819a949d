//! Training curves: the series of one run (read from the DB, where jobs write them) and the
//! braille line charts that draw them, decimated to the chart's width.

use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Borders, Chart, Dataset, GraphType};
use ratatui::Frame;

use crate::analysis::{decimate, decimate_indexed, MinMaxIndex};
use crate::domain::metric;
use crate::store::{Store, StoreError};

/// EMA weight of the smoothed curves (TensorBoard's default is 0.6; runs here are noisier).
const SMOOTHING: f64 = 0.9;

/// The metric names a run writes that charts show (reward-model runs, then policy runs).
pub const SERIES: [&str; N_SERIES] = [
    metric::LOSS,
    metric::ACCURACY,
    metric::EVAL_LOSS,
    metric::EVAL_ACCURACY,
    metric::LR,
    metric::CHOSEN_REWARD,
    metric::REJECTED_REWARD,
    metric::PAIRS_PER_S,
    metric::KL,
    metric::MARGIN,
    metric::REWARD,
];
const N_SERIES: usize = 11;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunSeries {
    pub run_id: i64,
    pub total_steps: u64,
    /// One (step, value) list per name in `SERIES`.
    pub points: [Vec<(f64, f64)>; N_SERIES],
    /// The same series smoothed (EMA 0.9), kept up to date as points arrive.
    pub smoothed: [Vec<(f64, f64)>; N_SERIES],
    /// Block min/max summaries of `points` and `smoothed`, so a frame decimates without a full scan.
    index: [MinMaxIndex; N_SERIES],
    smoothed_index: [MinMaxIndex; N_SERIES],
    pub last_step: i64,
    pub epoch: f64,
}

impl RunSeries {
    pub fn new(run_id: i64) -> RunSeries {
        RunSeries {
            run_id,
            last_step: -1,
            ..RunSeries::default()
        }
    }

    pub fn get(&self, name: &str) -> &[(f64, f64)] {
        SERIES
            .iter()
            .position(|s| *s == name)
            .map_or(&[], |i| self.points[i].as_slice())
    }

    pub fn smoothed(&self, name: &str) -> &[(f64, f64)] {
        SERIES
            .iter()
            .position(|s| *s == name)
            .map_or(&[], |i| self.smoothed[i].as_slice())
    }

    /// A chart curve of a raw (`smoothed = false`) or smoothed series, with its index.
    pub fn curve(&self, name: &str, smoothed: bool, label: String, color: Color) -> Curve<'_> {
        let Some(i) = SERIES.iter().position(|s| *s == name) else {
            return Curve {
                label,
                points: Vec::new().into(),
                color,
                index: None,
            };
        };
        let (points, index) = if smoothed {
            (&self.smoothed[i], &self.smoothed_index[i])
        } else {
            (&self.points[i], &self.index[i])
        };
        Curve {
            label,
            points: points.as_slice().into(),
            color,
            index: Some(index),
        }
    }

    pub fn push(&mut self, name: &str, step: f64, value: f64) {
        if let Some(i) = SERIES.iter().position(|s| *s == name) {
            self.points[i].push((step, value));
            let s = match self.smoothed[i].last() {
                Some(&(_, prev)) => SMOOTHING * prev + (1.0 - SMOOTHING) * value,
                None => value,
            };
            self.smoothed[i].push((step, s));
            self.index[i].update(&self.points[i]);
            self.smoothed_index[i].update(&self.smoothed[i]);
        }
        if name == metric::LOSS {
            self.last_step = self.last_step.max(step as i64);
        }
    }

    /// Reads what the DB has beyond what this series holds (a run in another process).
    pub fn refresh_from(&mut self, store: &Store) -> Result<bool, StoreError> {
        let mut changed = false;
        for (i, name) in SERIES.iter().enumerate() {
            let after = self.points[i].last().map_or(-1, |p| p.0 as i64);
            for p in store.metric_series(self.run_id, name, after)? {
                self.push(name, p.step as f64, p.value);
                changed = true;
            }
        }
        if let Some(last) = store
            .metric_series(self.run_id, metric::EPOCH, self.last_step.max(0) - 1)?
            .last()
        {
            self.epoch = last.value;
        }
        if let Some(t) = store
            .metric_series(self.run_id, metric::TOTAL_STEPS, -1)?
            .last()
        {
            self.total_steps = t.value as u64;
        }
        self.last_step = self.points[0].last().map_or(-1, |p| p.0 as i64);
        Ok(changed)
    }

    pub fn load(store: &Store, run_id: i64) -> Result<RunSeries, StoreError> {
        let mut s = RunSeries::new(run_id);
        s.refresh_from(store)?;
        Ok(s)
    }
}

/// One line of a chart: a label, its points and a colour.
pub struct Curve<'a> {
    pub label: String,
    pub points: std::borrow::Cow<'a, [(f64, f64)]>,
    pub color: Color,
    pub index: Option<&'a MinMaxIndex>,
}

fn bounds(curves: &[Curve]) -> ([f64; 2], [f64; 2]) {
    let mut x = [f64::INFINITY, f64::NEG_INFINITY];
    let mut y = [f64::INFINITY, f64::NEG_INFINITY];
    for c in curves {
        for &(px, py) in c.points.iter() {
            if py.is_finite() {
                x = [x[0].min(px), x[1].max(px)];
                y = [y[0].min(py), y[1].max(py)];
            }
        }
    }
    if !x[0].is_finite() {
        return ([0.0, 1.0], [0.0, 1.0]);
    }
    if x[1] <= x[0] {
        x[1] = x[0] + 1.0;
    }
    if y[1] <= y[0] {
        y = [y[0] - 0.5, y[1] + 0.5];
    }
    (x, y)
}

fn fmt_tick(v: f64) -> String {
    if v.abs() >= 1000.0 {
        format!("{:.0}", v)
    } else if v.abs() >= 10.0 {
        format!("{:.1}", v)
    } else if v.abs() >= 0.01 || v == 0.0 {
        format!("{:.2}", v)
    } else {
        format!("{:.0e}", v)
    }
}

/// Draws curves in a bordered braille chart; every curve is decimated to the chart width first.
pub fn draw_chart(
    f: &mut Frame,
    area: Rect,
    title: &str,
    curves: Vec<Curve>,
    color: bool,
    ascii: bool,
) {
    let width = area.width.saturating_sub(10).max(4) as usize;
    let curves: Vec<Curve> = curves
        .into_iter()
        .map(|c| Curve {
            points: match c.index {
                Some(index) => decimate_indexed(&c.points, index, width).into(),
                None => decimate(&c.points, width).into(),
            },
            ..c
        })
        .collect();
    let (xb, yb) = bounds(&curves);
    let style = |c: Color| {
        if color {
            Style::default().fg(c)
        } else {
            Style::default()
        }
    };
    let datasets: Vec<Dataset> = curves
        .iter()
        .map(|c| {
            Dataset::default()
                .name(c.label.clone())
                .marker(if ascii { Marker::Dot } else { Marker::Braille })
                .graph_type(GraphType::Line)
                .style(style(c.color))
                .data(&c.points)
        })
        .collect();
    let chart = Chart::new(datasets)
        .block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(style(Color::DarkGray))
                .title(Line::from(Span::raw(format!(" {title} ")))),
        )
        .x_axis(
            Axis::default()
                .bounds(xb)
                .labels(vec![Span::raw(fmt_tick(xb[0])), Span::raw(fmt_tick(xb[1]))]),
        )
        .y_axis(
            Axis::default()
                .bounds(yb)
                .labels(vec![Span::raw(fmt_tick(yb[0])), Span::raw(fmt_tick(yb[1]))]),
        )
        .hidden_legend_constraints((
            ratatui::layout::Constraint::Ratio(1, 2),
            ratatui::layout::Constraint::Ratio(1, 2),
        ));
    f.render_widget(chart, area);
}

/// The standard four panels of a run: loss (raw + smoothed, eval), accuracy (train, eval),
/// rewards (chosen vs rejected), learning rate. `overlay` adds a second run's loss and accuracy.
pub fn draw_run_panels<'a>(
    f: &mut Frame,
    area: Rect,
    s: &'a RunSeries,
    overlay: Option<&'a RunSeries>,
    color: bool,
    ascii: bool,
) {
    use ratatui::layout::{Constraint, Layout};
    let rows = Layout::vertical([Constraint::Fill(1), Constraint::Fill(1)]).split(area);
    let top = Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)]).split(rows[0]);
    let bottom = Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)]).split(rows[1]);
    let mut loss = vec![
        s.curve(metric::LOSS, false, "loss".into(), Color::DarkGray),
        s.curve(metric::LOSS, true, "smoothed".into(), Color::Cyan),
        s.curve(metric::EVAL_LOSS, false, "eval".into(), Color::Yellow),
    ];
    let mut acc = vec![
        s.curve(metric::ACCURACY, true, "train".into(), Color::Cyan),
        s.curve(metric::EVAL_ACCURACY, false, "eval".into(), Color::Yellow),
    ];
    if let Some(o) = overlay {
        loss.push(o.curve(
            metric::LOSS,
            true,
            format!("run {}", o.run_id),
            Color::Magenta,
        ));
        acc.push(o.curve(
            metric::EVAL_ACCURACY,
            false,
            format!("run {} eval", o.run_id),
            Color::Magenta,
        ));
    }
    draw_chart(f, top[0], "loss", loss, color, ascii);
    draw_chart(f, top[1], "accuracy", acc, color, ascii);
    draw_chart(
        f,
        bottom[0],
        "reward: chosen vs rejected",
        vec![
            s.curve(metric::CHOSEN_REWARD, true, "chosen".into(), Color::Green),
            s.curve(metric::REJECTED_REWARD, true, "rejected".into(), Color::Red),
        ],
        color,
        ascii,
    );
    draw_chart(
        f,
        bottom[1],
        "learning rate",
        vec![s.curve(metric::LR, false, "lr".into(), Color::Blue)],
        color,
        ascii,
    );
}
