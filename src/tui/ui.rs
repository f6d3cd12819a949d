//! Drawing: a pure function of `&App`. Every string from the data passes through
//! `text::sanitize` on its way in (see `wrap_text`), so nothing from it reaches the terminal raw.

use ratatui::layout::{Alignment, Constraint, Direction, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::border;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;
use unicode_width::UnicodeWidthChar;

use super::app::{letter, App, Overlay, STRENGTH_NAMES};
use super::keymap::{Action, Screen};
use crate::domain::PromptBody;
use crate::text::{sanitize, sanitize_line, truncate_to_width};

pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 16;
/// K = 2 answers go side by side from this width on.
const SIDE_BY_SIDE_WIDTH: u16 = 100;

const ASCII_BORDER: border::Set = border::Set {
    top_left: "+",
    top_right: "+",
    bottom_left: "+",
    bottom_right: "+",
    vertical_left: "|",
    vertical_right: "|",
    horizontal_top: "-",
    horizontal_bottom: "-",
};

/// Colours and glyphs, honouring NO_COLOR and --ascii.
struct Theme {
    color: bool,
    ascii: bool,
}

impl Theme {
    fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::default().fg(c)
        } else {
            Style::default()
        }
    }
    fn accent(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }
    fn dim(&self) -> Style {
        if self.color {
            Style::default().fg(Color::DarkGray)
        } else {
            Style::default()
        }
    }
    fn block<'a>(&self, title: Line<'a>, focused: bool) -> Block<'a> {
        let b = Block::default().borders(Borders::ALL).title(title);
        let b = if self.ascii {
            b.border_set(ASCII_BORDER)
        } else if focused {
            b.border_set(border::THICK)
        } else {
            b.border_set(border::ROUNDED)
        };
        if focused {
            b.border_style(self.accent())
        } else {
            b.border_style(self.dim())
        }
    }
    fn sep(&self) -> &'static str {
        if self.ascii {
            " | "
        } else {
            " · "
        }
    }
}

pub fn render(app: &App, f: &mut Frame) {
    let area = f.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let msg = format!("terminal too small (need {MIN_WIDTH}x{MIN_HEIGHT})");
        let y = area.height / 2;
        let line = Rect::new(area.x, area.y + y, area.width, 1.min(area.height));
        f.render_widget(
            Paragraph::new(truncate_to_width(&msg, area.width as usize))
                .alignment(Alignment::Center),
            line,
        );
        return;
    }
    let theme = Theme {
        color: app.cfg.color,
        ascii: app.cfg.ascii,
    };
    let rows = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .split(area);
    render_tabs(app, &theme, f, rows[0]);
    render_header(app, &theme, f, rows[1]);
    match app.screen {
        Screen::Label => render_label(app, &theme, f, rows[2]),
        Screen::Data => render_data(app, &theme, f, rows[2]),
        Screen::Train => super::train::render(
            &app.train,
            f,
            rows[2],
            theme.color,
            theme.ascii,
            theme.accent(),
            theme.dim(),
        ),
        Screen::Runs => super::runs::render(
            &app.runs,
            f,
            rows[2],
            theme.color,
            theme.ascii,
            theme.accent(),
            theme.dim(),
        ),
        Screen::Scores => super::scores::render(
            &app.scores,
            f,
            rows[2],
            theme.color,
            theme.ascii,
            theme.accent(),
            theme.dim(),
        ),
        Screen::Help => render_help_text(app, &theme, f, rows[2]),
        Screen::Improve => super::improve::render(
            &app.improve,
            f,
            rows[2],
            theme.color,
            theme.ascii,
            theme.accent(),
            theme.dim(),
        ),
    }
    render_status(app, &theme, f, rows[3]);
    render_hints(app, &theme, f, rows[4]);
    match &app.overlay {
        Overlay::None => {}
        Overlay::Help => render_help_overlay(app, &theme, f, area),
        Overlay::Confirm(what) => {
            let q = match what {
                super::app::Confirm::CancelRun => "Cancel the running training? y / n",
                super::app::Confirm::DeleteCheckpoints => {
                    "Delete this run's checkpoint files? y / n"
                }
            };
            let rect = centered(area, (q.len() + 4) as u16, 3);
            f.render_widget(Clear, rect);
            f.render_widget(
                Paragraph::new(q).block(theme.block(Line::from(" Confirm "), true)),
                rect,
            );
        }
        Overlay::Flag { selected } => render_flag_dialog(app, &theme, f, area, selected),
        Overlay::Note { buffer } => render_note_dialog(&theme, f, area, buffer),
    }
}

fn render_tabs(app: &App, theme: &Theme, f: &mut Frame, area: Rect) {
    let mut spans = vec![Span::styled("kibble ", theme.accent())];
    for s in Screen::ALL {
        let key = app.keymap.label(Action::Screen(s));
        let text = format!(" {key} {} ", s.title());
        let style = if s == app.screen {
            Style::default().add_modifier(Modifier::REVERSED | Modifier::BOLD)
        } else {
            theme.dim()
        };
        spans.push(Span::styled(text, style));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// Minutes are precise enough for an ETA, and keep the header still between redraws.
fn fmt_duration(secs: f64) -> String {
    let m = (secs.max(0.0) / 60.0).ceil() as u64;
    if m >= 60 {
        format!("{}h{:02}m", m / 60, m % 60)
    } else {
        format!("{m}m")
    }
}

fn render_header(app: &App, theme: &Theme, f: &mut Frame, area: Rect) {
    let (total, done) = app.progress;
    let rate = app.per_hour();
    let eta = rate
        .filter(|r| *r > 0.0)
        .map(|r| fmt_duration((total - done).max(0) as f64 / r * 3600.0));
    let sep = theme.sep();
    let text = format!(
        "{done}/{total} done{sep}session {}{sep}{}/h{sep}ETA {}{sep}{}{sep}{}",
        app.session_count,
        rate.map_or("-".into(), |r| format!("{r:.0}")),
        eta.unwrap_or_else(|| "-".into()),
        sanitize_line(&app.cfg.annotator, 24),
        sanitize_line(&app.cfg.db_label, 40),
    );
    f.render_widget(
        Paragraph::new(truncate_to_width(&text, area.width as usize)).style(theme.dim()),
        area,
    );
}

/// Wraps sanitised text to `width` columns, keeping indentation (code blocks) and
/// breaking long words. Returns one `String` per screen line.
pub fn wrap_text(raw: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let clean = sanitize(raw);
    let mut out = Vec::new();
    for line in clean.split('\n') {
        let chars: Vec<(char, usize)> = line.chars().map(|c| (c, c.width().unwrap_or(0))).collect();
        if chars.is_empty() {
            out.push(String::new());
        }
        let piece = |a: usize, b: usize| chars[a..b].iter().map(|(c, _)| *c).collect::<String>();
        let mut start = 0;
        while start < chars.len() {
            let mut w = 0;
            let mut end = start;
            while end < chars.len() && w + chars[end].1 <= width {
                w += chars[end].1;
                end += 1;
            }
            end = end.max(start + 1);
            if end < chars.len() {
                // Break after the last space, unless only indentation comes before it.
                let space = (start + 1..end).rev().find(|&i| chars[i].0 == ' ');
                if let Some(sp) =
                    space.filter(|&sp| chars[start..sp].iter().any(|(c, _)| *c != ' '))
                {
                    out.push(piece(start, sp).trim_end().to_string());
                    start = sp + 1;
                    continue;
                }
            }
            out.push(piece(start, end));
            start = end;
        }
    }
    out
}

fn prompt_lines(body: &PromptBody, width: usize, theme: &Theme) -> Vec<Line<'static>> {
    match body {
        PromptBody::Text(t) => wrap_text(t, width).into_iter().map(Line::from).collect(),
        PromptBody::Chat(msgs) => {
            let mut out = Vec::new();
            for (i, m) in msgs.iter().enumerate() {
                if i > 0 {
                    out.push(Line::from(""));
                }
                out.push(Line::styled(
                    format!("{}:", sanitize_line(&m.role, 20)),
                    theme.accent(),
                ));
                out.extend(wrap_text(&m.content, width).into_iter().map(Line::from));
            }
            out
        }
    }
}

fn render_label(app: &App, theme: &Theme, f: &mut Frame, area: Rect) {
    let Some(item) = &app.item else {
        let msg = vec![
            Line::from(""),
            Line::styled("Nothing left to label.", theme.accent()),
            Line::from(""),
            Line::from(
                "Every prompt has been ranked by enough annotators, or is held by someone else.",
            ),
            Line::from(format!(
                "Import more with `kibble import FILE`, or press {} to undo your last decision.",
                app.keymap.label(Action::Undo)
            )),
        ];
        f.render_widget(
            Paragraph::new(msg)
                .alignment(Alignment::Center)
                .block(theme.block(Line::from(" Label "), false)),
            area,
        );
        return;
    };
    let inner_w = area.width.saturating_sub(2) as usize;
    let plines = prompt_lines(&item.prompt.body, inner_w, theme);
    let k = item.shown.len();
    // The prompt gets what it needs, up to a third of the screen (at least 3 rows).
    let max_prompt = (area.height / 3).max(3);
    let prompt_h = (plines.len() as u16 + 2).clamp(3, max_prompt);
    let parts = Layout::vertical([Constraint::Length(prompt_h), Constraint::Fill(1)]).split(area);

    let visible = prompt_h.saturating_sub(2) as usize;
    let pscroll = (item.prompt_scroll as usize).min(plines.len().saturating_sub(visible));
    let mut ptitle = vec![Span::styled(" Prompt ", theme.accent())];
    if plines.len() > visible {
        ptitle.push(Span::styled(
            format!(
                "{}-{}/{} {} ",
                pscroll + 1,
                (pscroll + visible).min(plines.len()),
                plines.len(),
                app.keymap.label(Action::PromptDown)
            ),
            theme.dim(),
        ));
    }
    f.render_widget(
        Paragraph::new(plines)
            .scroll((pscroll as u16, 0))
            .block(theme.block(Line::from(ptitle), false)),
        parts[0],
    );

    let side_by_side = k == 2 && area.width >= SIDE_BY_SIDE_WIDTH;
    let dir = if side_by_side {
        Direction::Horizontal
    } else {
        Direction::Vertical
    };
    // Stacked, the focused answer gets twice the room of the others.
    let constraints: Vec<Constraint> = (0..k.max(1))
        .map(|i| {
            if !side_by_side && i == item.focus && k > 2 {
                Constraint::Fill(2)
            } else {
                Constraint::Fill(1)
            }
        })
        .collect();
    let boxes = Layout::default()
        .direction(dir)
        .constraints(constraints)
        .split(parts[1]);
    for (pos, cand) in item.shown.iter().enumerate() {
        let rect = boxes[pos];
        let focused = pos == item.focus;
        let w = rect.width.saturating_sub(2) as usize;
        let lines = wrap_text(&cand.text, w);
        let visible = rect.height.saturating_sub(2) as usize;
        let scroll = (item.scroll[pos] as usize).min(lines.len().saturating_sub(visible));
        let mut title = vec![Span::styled(
            format!(" {} ", letter(pos)),
            if focused {
                theme.accent().add_modifier(Modifier::REVERSED)
            } else {
                theme.accent()
            },
        )];
        if let Some(r) = app.entry.rank_of(pos) {
            let tied = app.entry.groups[r - 1].len() > 1;
            let label = if app.best_worst_applies() {
                if r == 1 { "best" } else { "worst" }.to_string()
            } else {
                format!("#{r}{}", if tied { " (tie)" } else { "" })
            };
            title.push(Span::styled(format!("{label} "), theme.fg(Color::Green)));
        }
        if app.show_scores {
            let s = item
                .scores
                .get(&cand.id)
                .map_or("RM -".to_string(), |s| format!("RM {s:+.2}"));
            title.push(Span::styled(format!("{s} "), theme.fg(Color::Yellow)));
        }
        if lines.len() > visible {
            title.push(Span::styled(
                format!(
                    "{}-{}/{} ",
                    scroll + 1,
                    (scroll + visible).min(lines.len()),
                    lines.len()
                ),
                theme.dim(),
            ));
        }
        let body: Vec<Line> = lines
            .into_iter()
            .skip(scroll)
            .take(visible)
            .map(Line::from)
            .collect();
        f.render_widget(
            Paragraph::new(body).block(theme.block(Line::from(title), focused)),
            rect,
        );
    }
}

fn entry_text(app: &App, theme: &Theme) -> Vec<Span<'static>> {
    let e = &app.entry;
    let sep = theme.sep();
    let mut spans = Vec::new();
    if app.best_worst_applies() {
        let best = e
            .groups
            .first()
            .map_or("?".into(), |g| letter(g[0]).to_string());
        let worst = e
            .groups
            .get(1)
            .map_or("?".into(), |g| letter(g[0]).to_string());
        spans.push(Span::raw(format!("best {best}, worst {worst}")));
    } else {
        let order = e
            .groups
            .iter()
            .map(|g| {
                g.iter()
                    .map(|&p| letter(p).to_string())
                    .collect::<Vec<_>>()
                    .join(" = ")
            })
            .collect::<Vec<_>>()
            .join(" > ");
        spans.push(Span::raw(format!(
            "rank: {}{}",
            if order.is_empty() { "_".into() } else { order },
            if e.tie_next { " = _" } else { "" }
        )));
    }
    if let Some(s) = e.strength {
        spans.push(Span::raw(format!(
            "{sep}{} better",
            STRENGTH_NAMES[s as usize - 1]
        )));
    }
    if let Some(item) = &app.item {
        if !item.flags.is_empty() {
            spans.push(Span::styled(
                format!("{sep}flags: {}", sanitize_line(&item.flags.join(", "), 40)),
                theme.fg(Color::Red),
            ));
        }
        if item.note.is_some() {
            spans.push(Span::raw(format!("{sep}note")));
        }
    }
    spans
}

fn render_status(app: &App, theme: &Theme, f: &mut Frame, area: Rect) {
    let mut spans = if app.screen == Screen::Label && app.item.is_some() {
        entry_text(app, theme)
    } else {
        vec![]
    };
    if !app.status.is_empty() {
        if !spans.is_empty() {
            spans.push(Span::raw(theme.sep()));
        }
        spans.push(Span::styled(
            sanitize_line(&app.status, area.width as usize),
            theme.fg(Color::Yellow),
        ));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn render_hints(app: &App, theme: &Theme, f: &mut Frame, area: Rect) {
    let km = &app.keymap;
    let k = app.item.as_ref().map_or(0, |i| i.shown.len());
    let mut hints: Vec<(String, String)> = Vec::new();
    let screen_hints: &[(Action, &str)] = match app.screen {
        Screen::Train => &[
            (Action::ScrollDown, "field"),
            (Action::FocusNext, "change"),
            (Action::Save, "start"),
            (Action::Skip, "cancel"),
            (Action::ToggleScores, "score all"),
        ],
        Screen::Runs => &[
            (Action::ScrollDown, "select"),
            (Action::Save, "open"),
            (Action::ToggleMode, "mark (2 overlay)"),
            (Action::Clear, "back"),
            (Action::Skip, "delete ckpts"),
        ],
        Screen::Improve => &[
            (Action::ScrollDown, "select"),
            (Action::Strength, "sample"),
            (Action::Save, "round"),
            (Action::ToggleMode, "method"),
            (Action::Skip, "cancel"),
        ],
        Screen::Scores => &[
            (Action::FocusNext, "view"),
            (Action::ScrollDown, "bins"),
            (Action::ToggleMode, "split"),
            (Action::Save, "label next"),
        ],
        _ => &[],
    };
    for (a, what) in screen_hints {
        hints.push((km.label(*a), what.to_string()));
    }
    if app.screen == Screen::Label && k > 0 {
        let first = km.label(Action::Pick(0));
        let last = km.label(Action::Pick((k - 1) as u8));
        if k == 2 {
            hints.push((format!("{first}|{last}"), "better".into()));
            hints.push((km.label(Action::Tie), "tie".into()));
            hints.push((km.label(Action::Strength), "strength".into()));
        } else {
            hints.push((format!("{first}..{last}"), "rank".into()));
            hints.push((km.label(Action::Tie), "tie".into()));
            hints.push((km.label(Action::Unrank), "back".into()));
            hints.push((km.label(Action::Save), "save".into()));
        }
        for a in [
            Action::Skip,
            Action::Undo,
            Action::Flag,
            Action::Note,
            Action::FocusNext,
        ] {
            hints.push((km.label(a), a.describe()));
        }
    }
    // Help and quit always show, at the end; the rest fill what is left.
    let tail: Vec<(String, String)> = [Action::Help, Action::Quit]
        .iter()
        .map(|a| (km.label(*a), a.describe()))
        .collect();
    let width = |(k, w): &(String, String)| k.chars().count() + w.chars().count() + 2;
    let reserved: usize = tail.iter().map(width).sum();
    let mut spans = Vec::new();
    let mut used = 0;
    let fitting: Vec<_> = hints
        .into_iter()
        .take_while(|h| {
            used += width(h);
            used + reserved <= area.width as usize
        })
        .chain(tail)
        .collect();
    for (keys, what) in fitting {
        spans.push(Span::styled(keys, theme.accent()));
        spans.push(Span::styled(format!(" {what} "), theme.dim()));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

fn help_lines(app: &App) -> Vec<String> {
    app.keymap
        .bindings()
        .filter(|(_, keys)| !keys.is_empty())
        .map(|(a, keys)| {
            let k = keys
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" ");
            format!("{k:>14}  {}", a.describe())
        })
        .collect()
}

fn render_help_overlay(app: &App, theme: &Theme, f: &mut Frame, area: Rect) {
    let lines = help_lines(app);
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

fn render_flag_dialog(app: &App, theme: &Theme, f: &mut Frame, area: Rect, selected: &[bool]) {
    let mut lines: Vec<Line> = app
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
        " 1-9 toggle, Enter keep, Esc cancel",
        theme.dim(),
    ));
    let rect = centered(area, 42, lines.len() as u16 + 2);
    f.render_widget(Clear, rect);
    f.render_widget(
        Paragraph::new(lines).block(theme.block(Line::from(" Flag this prompt "), true)),
        rect,
    );
}

fn render_note_dialog(theme: &Theme, f: &mut Frame, area: Rect, buffer: &str) {
    let rect = centered(area, area.width.saturating_sub(8).min(76), 5);
    let w = rect.width.saturating_sub(4) as usize;
    let shown = sanitize_line(buffer, usize::MAX);
    // Show the end of a long note, where the cursor is.
    let tail: String = {
        let chars: Vec<char> = shown.chars().collect();
        let mut width = 0;
        let mut start = chars.len();
        while start > 0 {
            let cw = chars[start - 1].width().unwrap_or(0);
            if width + cw + 1 > w {
                break;
            }
            width += cw;
            start -= 1;
        }
        chars[start..].iter().collect()
    };
    let lines = vec![
        Line::from(format!("{tail}_")),
        Line::from(""),
        Line::styled("Enter keep, Esc cancel", theme.dim()),
    ];
    f.render_widget(Clear, rect);
    f.render_widget(
        Paragraph::new(lines).block(theme.block(Line::from(" Note "), true)),
        rect,
    );
}

fn render_help_text(app: &App, theme: &Theme, f: &mut Frame, area: Rect) {
    let mut lines = vec![
        Line::styled("Ranking", theme.accent()),
        Line::from("Type the answers in preference order, best first: b a d c, then save."),
        Line::from(
            "= ties the next answer with the previous one. With two answers one key decides.",
        ),
        Line::from("The last answer may be left out: it goes last. Undo brings a decision back."),
        Line::from(""),
        Line::styled("Keys", theme.accent()),
    ];
    lines.extend(help_lines(app).into_iter().map(Line::from));
    f.render_widget(
        Paragraph::new(lines).block(theme.block(Line::from(" Help "), false)),
        area,
    );
}

fn render_data(app: &App, theme: &Theme, f: &mut Frame, area: Rect) {
    let mut lines = Vec::new();
    match &app.stats {
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
            lines.push(Line::from(format!(
                "rankings {} live, {} skips, {} retracted, {} in the last hour",
                s.rankings, s.skips, s.retracted, s.rankings_last_hour
            )));
            lines.push(Line::from(""));
            lines.push(Line::styled(
                format!(
                    "{:<24} {:>8} {:>6} {:>9} {:>9}",
                    "annotator", "rankings", "skips", "median s", "per hour"
                ),
                theme.accent(),
            ));
            for a in &s.annotators {
                let opt = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.1}"));
                lines.push(Line::from(format!(
                    "{:<24} {:>8} {:>6} {:>9} {:>9}",
                    sanitize_line(&a.name, 24),
                    a.rankings,
                    a.skips,
                    opt(a.median_seconds),
                    opt(a.per_hour)
                )));
            }
        }
    }
    if let Some(ag) = &app.agreement {
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
    f.render_widget(
        Paragraph::new(lines).block(theme.block(Line::from(" Data "), false)),
        area,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_keeps_indentation_and_breaks_words() {
        let got = wrap_text("fn main() {\n    let x = 1;\n}", 40);
        assert_eq!(got, vec!["fn main() {", "    let x = 1;", "}"]);
        let got = wrap_text("hello wonderful world", 10);
        assert_eq!(got, vec!["hello", "wonderful", "world"]);
        let got = wrap_text("abcdefghijkl", 5);
        assert_eq!(got, vec!["abcde", "fghij", "kl"]);
        // Wide characters count two columns.
        let got = wrap_text("日本語日本語", 5);
        assert_eq!(got, vec!["日本", "語日", "本語"]);
    }
}
