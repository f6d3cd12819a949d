//! The Runs screen: every run in the DB; open one to see its curves after the fact, mark two to
//! overlay them, delete a run's checkpoint files (with confirmation).

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

use super::Session;
use crate::domain::metric;
use crate::store::{RunRow, Store};
use crate::tui::app::{Confirm, Overlay};
use crate::tui::charts::{draw_run_panels, RunSeries};
use crate::tui::keymap::Action;

#[derive(Debug, Clone)]
pub struct RunLine {
    pub run: RunRow,
    pub rankings: usize,
    pub best_eval: Option<f64>,
    pub checkpoints: usize,
}

#[derive(Debug, Default)]
pub struct RunsScreen {
    pub rows: Vec<RunLine>,
    pub selected: usize,
    pub marked: Vec<i64>,
    /// Open run (and an overlaid one).
    pub open: Option<(RunSeries, Option<RunSeries>)>,
}

impl RunsScreen {
    /// Keys: j/k choose a run, m marks it, Enter opens it, Esc closes it, x deletes the
    /// marked runs' checkpoints (asked first).
    pub fn on_action(&mut self, action: Action, session: &mut Session) {
        match action {
            Action::ScrollDown if self.open.is_none() => self.move_by(1),
            Action::ScrollUp if self.open.is_none() => self.move_by(-1),
            Action::ToggleMode => self.toggle_mark(),
            Action::Save => {
                if let Err(e) = self.open(&session.store) {
                    session.status = format!("cannot open the run: {e:#}");
                }
            }
            Action::Clear => self.open = None,
            Action::Skip if self.selected_run().is_some() => {
                session.overlay = Overlay::Confirm(Confirm::DeleteCheckpoints)
            }
            _ => {}
        }
    }

    pub fn refresh(&mut self, store: &Store) -> anyhow::Result<()> {
        self.rows = store
            .runs()?
            .into_iter()
            .map(|run| {
                let best_eval = store
                    .metric_series(run.id, metric::EVAL_ACCURACY, -1)?
                    .iter()
                    .map(|p| p.value)
                    .fold(None, |a: Option<f64>, v| Some(a.map_or(v, |a| a.max(v))));
                Ok(RunLine {
                    rankings: store.run_rankings(run.id)?.len(),
                    checkpoints: store.checkpoints(Some(run.id))?.len(),
                    best_eval,
                    run,
                })
            })
            .collect::<anyhow::Result<_>>()?;
        self.selected = self.selected.min(self.rows.len().saturating_sub(1));
        Ok(())
    }

    pub fn move_by(&mut self, d: i32) {
        if !self.rows.is_empty() {
            self.selected =
                (self.selected as i32 + d).clamp(0, self.rows.len() as i32 - 1) as usize;
        }
    }

    pub fn toggle_mark(&mut self) {
        if let Some(r) = self.rows.get(self.selected) {
            let id = r.run.id;
            if let Some(i) = self.marked.iter().position(|m| *m == id) {
                self.marked.remove(i);
            } else {
                self.marked.push(id);
                if self.marked.len() > 2 {
                    self.marked.remove(0);
                }
            }
        }
    }

    /// Opens the selected run, overlaid with the other marked one if two are marked.
    pub fn open(&mut self, store: &Store) -> anyhow::Result<()> {
        let ids: Vec<i64> = if self.marked.len() == 2 {
            self.marked.clone()
        } else {
            self.rows
                .get(self.selected)
                .map(|r| vec![r.run.id])
                .unwrap_or_default()
        };
        if let Some(first) = ids.first() {
            let main = RunSeries::load(store, *first)?;
            let other = match ids.get(1) {
                Some(id) => Some(RunSeries::load(store, *id)?),
                None => None,
            };
            self.open = Some((main, other));
        }
        Ok(())
    }

    /// Deletes the files of the selected run's checkpoints; the rows stay, marked deleted.
    pub fn delete_checkpoints(&mut self, store: &mut Store) -> anyhow::Result<usize> {
        let Some(r) = self.rows.get(self.selected) else {
            return Ok(0);
        };
        let mut n = 0;
        for c in store.checkpoints(Some(r.run.id))? {
            let _ = std::fs::remove_dir_all(&c.path);
            store.mark_checkpoint_deleted(c.id)?;
            n += 1;
        }
        self.refresh(store)?;
        Ok(n)
    }

    pub fn selected_run(&self) -> Option<i64> {
        self.rows.get(self.selected).map(|r| r.run.id)
    }
}

fn fmt_time(ms: i64) -> String {
    // UTC, minute precision: YYYY-MM-DD HH:MM from Unix ms, without a date crate.
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    let (y, m, d) = crate::domain::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        tod / 3600,
        (tod / 60) % 60
    )
}

pub fn render(
    r: &RunsScreen,
    f: &mut Frame,
    area: Rect,
    color: bool,
    ascii: bool,
    accent: Style,
    dim: Style,
) {
    if let Some((main, other)) = &r.open {
        let rows = Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).split(area);
        let title = match other {
            Some(o) => format!(
                "run {} (cyan) vs run {} (magenta) · Esc back",
                main.run_id, o.run_id
            ),
            None => format!(
                "run {} · {} steps · Esc back",
                main.run_id,
                main.last_step + 1
            ),
        };
        f.render_widget(Paragraph::new(title).style(accent), rows[0]);
        draw_run_panels(f, rows[1], main, other.as_ref(), color, ascii);
        return;
    }
    let mut lines = vec![Line::styled(
        format!(
            "   {:>4} {:<6} {:<10} {:<16} {:>8} {:>8} {:>9} {:>5}",
            "run", "kind", "status", "started (UTC)", "duration", "rankings", "best eval", "ckpts"
        ),
        accent,
    )];
    for (i, row) in r.rows.iter().enumerate() {
        let run = &row.run;
        let secs =
            (run.finished_at_ms.unwrap_or(run.heartbeat_at_ms) - run.started_at_ms) as f64 / 1000.0;
        let mark = if r.marked.contains(&run.id) { "*" } else { " " };
        let text = format!(
            "{}{} {:>4} {:<6} {:<10} {:<16} {:>7.0}s {:>8} {:>9} {:>5}",
            if i == r.selected { ">" } else { " " },
            mark,
            run.id,
            crate::text::sanitize_line(&run.kind, 6),
            run.status.as_str(),
            fmt_time(run.started_at_ms),
            secs,
            row.rankings,
            row.best_eval.map_or("-".into(), |b| format!("{b:.3}")),
            row.checkpoints
        );
        lines.push(if i == r.selected {
            Line::styled(text, Style::default().add_modifier(Modifier::REVERSED))
        } else {
            Line::from(text)
        });
    }
    if r.rows.is_empty() {
        lines.push(Line::styled(
            "No runs yet: start one on the Train screen or with `kibble train-rm`.",
            dim,
        ));
    }
    let visible = area.height.saturating_sub(2) as usize;
    let skip = (r.selected + 2).saturating_sub(visible);
    let lines: Vec<Line> = std::iter::once(lines[0].clone())
        .chain(lines.into_iter().skip(1 + skip))
        .collect();
    f.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(" Runs ")),
        area,
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn civil_dates() {
        assert_eq!(super::fmt_time(0), "1970-01-01 00:00");
        assert_eq!(super::fmt_time(1_795_772_582_807), "2026-11-27 09:43");
    }
}
