//! Overlays drawn over a screen: help, confirmations, flags, notes, guidelines, history.

use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};
use ratatui::Frame;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use super::app::{App, Confirm, HistoryEntry, View};
use super::keymap::{Action, Keymap};
use super::ui::Theme;
use crate::text::sanitize_line;

pub(super) fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

/// One line per bound action; `with_names` adds the name a key map file uses for it (and
/// lists the screen keys, which the overlay leaves to the tab bar above it).
pub(super) fn help_lines(app: &App, with_names: bool) -> Vec<String> {
    app.session
        .keymap
        .bindings()
        .filter(|(_, keys)| !keys.is_empty())
        .filter(|(a, _)| with_names || !(matches!(a, Action::Screen(_)) || a.is_dialog()))
        .map(|(a, keys)| {
            let k = keys
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" ");
            if with_names {
                format!("{k:>14}  {} ({})", a.describe(), a.name())
            } else {
                format!("{k:>14}  {}", a.describe())
            }
        })
        .collect()
}

pub(super) fn render_help_overlay(app: &App, theme: &Theme, f: &mut Frame, area: Rect) {
    let lines = help_lines(app, false);
    // Two columns when they fit.
    let col_w = lines.iter().map(|l| l.chars().count()).max().unwrap_or(10) + 2;
    let cols = if (col_w * 2 + 2) as u16 <= area.width {
        2
    } else {
        1
    };
    let per_col = lines.len().div_ceil(cols);
    let rows: Vec<Line> = (0..per_col)
        .map(|r| {
            let mut s = String::new();
            for c in 0..cols {
                if let Some(l) = lines.get(c * per_col + r) {
                    s.push_str(&format!("{l:<col_w$}"));
                }
            }
            Line::from(s)
        })
        .collect();
    let rect = centered(area, (col_w * cols + 2) as u16, per_col as u16 + 2);
    f.render_widget(Clear, rect);
    f.render_widget(
        Paragraph::new(rows).block(theme.block(Line::from(" Keys (any key closes) "), true)),
        rect,
    );
}

/// The question a confirmation asks, one line each (the answer keys last).
fn confirm_lines(app: &App, what: Confirm) -> Vec<String> {
    let km = &app.session.keymap;
    let undo = km.label(Action::Undo);
    let yes = km.label(Action::DialogYes);
    let yn = format!("{yes} / n");
    let fixing = app.label.fixing.is_some();
    match what {
        Confirm::CancelRun => vec![format!("Cancel the running training? {yn}")],
        Confirm::DeleteCheckpoints => vec![format!("Delete this run's checkpoint files? {yn}")],
        Confirm::Quit => match fixing {
            true => vec![
                "The decision brought back by undo is not saved again.".into(),
                format!("Quit? It is put back as it was. {yn}"),
            ],
            false => vec![
                "What you typed on this prompt is not saved.".into(),
                format!("Quit anyway? {yn}"),
            ],
        },
        Confirm::AllTie => vec![
            "Every answer is tied: this ranking carries no preference.".into(),
            format!("Save it anyway? {yn}"),
        ],
        Confirm::UndoWhileFixing => {
            vec![
                format!("You changed this decision since {undo} brought it back."),
                format!("{yes}: save your fix, then undo the one before"),
                format!(
                    "{}: put it back as it was, then undo the one before",
                    km.label(Action::DialogPutBack)
                ),
                "n: keep fixing it".into(),
            ]
        }
        Confirm::UndoDropsEntry => vec![
            "Undo goes back to your last decision and drops".into(),
            format!("what you typed on this prompt. {yn}"),
        ],
    }
}

pub(super) fn render_confirm(app: &App, what: Confirm, theme: &Theme, f: &mut Frame, area: Rect) {
    let lines = confirm_lines(app, what);
    let w = lines.iter().map(|l| l.width()).max().unwrap_or(0) + 4;
    let rect = centered(area, w as u16, lines.len() as u16 + 2);
    f.render_widget(Clear, rect);
    let body: Vec<Line> = lines.into_iter().map(Line::from).collect();
    f.render_widget(
        Paragraph::new(body).block(theme.block(Line::from(" Confirm "), true)),
        rect,
    );
}

pub(super) fn render_flag_dialog(
    app: &App,
    theme: &Theme,
    f: &mut Frame,
    area: Rect,
    selected: &[bool],
    answer: Option<usize>,
) {
    let mut lines: Vec<Line> = app
        .session
        .cfg
        .flag_reasons
        .iter()
        .zip(selected)
        .enumerate()
        .map(|(i, (r, on))| {
            let mark = if *on { "[x]" } else { "[ ]" };
            Line::from(format!(" {} {mark} {}", i + 1, sanitize_line(r, 30)))
        })
        .collect();
    lines.push(Line::from(""));
    lines.push(Line::styled(
        format!(" 1-9 toggle, {}", keep_or_cancel(&app.session.keymap)),
        theme.dim(),
    ));
    let rect = centered(area, 42, lines.len() as u16 + 2);
    f.render_widget(Clear, rect);
    f.render_widget(
        Paragraph::new(lines).block(theme.block(Line::from(target(" Flag", answer)), true)),
        rect,
    );
}

/// The search being typed, one line.
pub(super) fn render_find(app: &App, theme: &Theme, f: &mut Frame, area: Rect, buffer: &str) {
    let hint = format!(
        "a prompt id, its external id, or words of its text; {} finds",
        app.session.keymap.label(Action::DialogAccept)
    );
    render_line_input(theme, f, area, " Find a prompt ", &hint, buffer);
}

/// "Enter keep, Esc cancel", in the key map's dialog keys.
fn keep_or_cancel(km: &Keymap) -> String {
    format!(
        "{} keep, {} cancel",
        km.label(Action::DialogAccept),
        km.label(Action::DialogCancel)
    )
}

/// A one-line text field in a box, with a dim hint under it.
pub(super) fn render_line_input(
    theme: &Theme,
    f: &mut Frame,
    area: Rect,
    title: &str,
    hint: &str,
    buffer: &str,
) {
    let w = area.width.saturating_sub(8).min(70);
    let shown = sanitize_line(buffer, w.saturating_sub(4) as usize);
    let lines = vec![
        Line::from(format!("{shown}_")),
        Line::styled(hint.to_string(), theme.dim()),
    ];
    let rect = centered(area, w, 4);
    f.render_widget(Clear, rect);
    f.render_widget(
        Paragraph::new(lines)
            .wrap(ratatui::widgets::Wrap { trim: true })
            .block(theme.block(Line::from(title.to_string()), true)),
        rect,
    );
}

/// " Flag this prompt " or " Flag answer B ".
fn target(what: &str, answer: Option<usize>) -> String {
    match answer {
        None => format!("{what} this prompt "),
        Some(pos) => format!("{what} answer {} ", super::app::letter(pos)),
    }
}

pub(super) fn render_note_dialog(
    app: &App,
    theme: &Theme,
    f: &mut Frame,
    area: Rect,
    buffer: &str,
    answer: Option<usize>,
) {
    // The whole note, wrapped; the box grows with it (its end, where the cursor is, stays in view).
    let w = area.width.saturating_sub(8).min(76);
    let inner = w.saturating_sub(2) as usize;
    let shown = format!("{}_", sanitize_line(buffer, usize::MAX));
    let mut rows: Vec<String> = Vec::new();
    let mut row = String::new();
    let mut width = 0;
    for c in shown.chars() {
        let cw = c.width().unwrap_or(0);
        if width + cw > inner {
            rows.push(std::mem::take(&mut row));
            width = 0;
        }
        row.push(c);
        width += cw;
    }
    rows.push(row);
    let room = area.height.saturating_sub(6).max(1) as usize;
    let first = rows.len().saturating_sub(room);
    let mut lines: Vec<Line> = rows[first..]
        .iter()
        .map(|r| Line::from(r.clone()))
        .collect();
    lines.push(Line::from(""));
    lines.push(Line::styled(
        keep_or_cancel(&app.session.keymap),
        theme.dim(),
    ));
    let rect = centered(area, w, lines.len() as u16 + 2);
    f.render_widget(Clear, rect);
    f.render_widget(
        Paragraph::new(lines).block(theme.block(Line::from(target(" Note on", answer)), true)),
        rect,
    );
}

/// The guidelines, drawn like an answer (markdown), scrolled; any key but scrolling closes.
pub(super) fn render_guidelines(
    app: &App,
    text: &str,
    scroll: u16,
    theme: &Theme,
    f: &mut Frame,
    area: Rect,
) {
    let rect = centered(
        area,
        area.width.saturating_sub(4),
        area.height.saturating_sub(2),
    );
    let lines = super::screens::label::view::answer_lines(
        text,
        rect.width.saturating_sub(2) as usize,
        theme,
    );
    app.overlay_view.set(View {
        visible: rect.height.saturating_sub(2),
        total: lines.len().min(u16::MAX as usize) as u16,
    });
    let (scroll, mut title) = super::ui::scrolled_title(
        &app.session.keymap,
        theme,
        " Guidelines ",
        lines.len(),
        rect,
        scroll,
    );
    title.push(Span::styled("· any other key closes ", theme.dim()));
    f.render_widget(Clear, rect);
    f.render_widget(
        Paragraph::new(lines)
            .scroll((scroll, 0))
            .block(theme.block(Line::from(title), true)),
        rect,
    );
}

/// My recent decisions, newest first, the selected one highlighted.
pub(super) fn render_history(
    app: &App,
    entries: &[HistoryEntry],
    selected: usize,
    theme: &Theme,
    f: &mut Frame,
    area: Rect,
) {
    let rect = centered(
        area,
        area.width.saturating_sub(4),
        area.height.saturating_sub(2),
    );
    let visible = rect.height.saturating_sub(2) as usize;
    let first = selected.saturating_sub(visible.saturating_sub(1));
    let w = rect.width.saturating_sub(2) as usize;
    let now = crate::domain::now_ms();
    let lines: Vec<Line> = entries
        .iter()
        .enumerate()
        .skip(first)
        .take(visible)
        .map(|(i, e)| {
            let ago = (now - e.created_at_ms).max(0) / 60_000;
            let what = match e.verdict {
                crate::domain::Verdict::Skip => "skipped".to_string(),
                crate::domain::Verdict::Rank => e.order.clone(),
            };
            let head = format!("#{:<6} {:>4} min ago  {:<14} ", e.ranking_id, ago, what);
            let rest = w.saturating_sub(head.width());
            let text = format!("{head}{}", sanitize_line(&e.prompt, rest));
            if i == selected {
                Line::styled(text, theme.accent().add_modifier(Modifier::REVERSED))
            } else {
                Line::from(text)
            }
        })
        .collect();
    let km = &app.session.keymap;
    let title = Line::from(Span::styled(
        format!(
            " My decisions · {}/{} select · {}: change it · {} ",
            km.label(Action::ScrollDown)
                .split('/')
                .next()
                .unwrap_or_default(),
            km.label(Action::ScrollUp)
                .split('/')
                .next()
                .unwrap_or_default(),
            km.label(Action::DialogAccept),
            km.label(Action::DialogCancel)
        ),
        theme.accent(),
    ));
    f.render_widget(Clear, rect);
    f.render_widget(Paragraph::new(lines).block(theme.block(title, true)), rect);
}
