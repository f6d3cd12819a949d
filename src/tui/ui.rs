//! Drawing: a pure function of `&App`. Every string from the data passes through
//! `text::sanitize` on its way in (see `markdown::render`), so nothing from it reaches the terminal raw.

use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::border;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use super::app::{letter, App, Confirm, Overlay, View, STRENGTH_NAMES};
use super::keymap::{Action, Screen};
use crate::domain::PromptBody;
use crate::text::{sanitize_line, truncate_to_width};

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
        Overlay::Confirm(what) => render_confirm(app, *what, &theme, f, area),
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
/// An answer (or a prompt's text) with its code and markdown drawn.
fn answer_lines(text: &str, width: usize, theme: &Theme) -> Vec<Line<'static>> {
    let styles = super::markdown::Styles {
        text: Style::default(),
        code: theme.fg(Color::Cyan),
        marker: theme.dim(),
        heading: theme.accent().add_modifier(Modifier::BOLD),
        ascii: theme.ascii,
    };
    super::markdown::render(text, width, &styles)
}

fn prompt_lines(body: &PromptBody, width: usize, theme: &Theme) -> Vec<Line<'static>> {
    match body {
        PromptBody::Text(t) => answer_lines(t, width, theme),
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
                out.extend(answer_lines(&m.content, width, theme));
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
    let side_by_side = k == 2 && area.width >= SIDE_BY_SIDE_WIDTH;
    let answer_w = if side_by_side {
        (area.width / 2).saturating_sub(2) as usize
    } else {
        inner_w
    };
    let answers: Vec<Vec<Line<'static>>> = item
        .shown
        .iter()
        .map(|c| answer_lines(&c.text, answer_w, theme))
        .collect();
    // Rows each answer would need to show whole (text and frame).
    let needs: Vec<u16> = answers
        .iter()
        .map(|l| (l.len() as u16).saturating_add(2))
        .collect();
    let answers_need = if side_by_side {
        needs.iter().copied().max().unwrap_or(3)
    } else {
        needs.iter().fold(0u16, |a, n| a.saturating_add(*n))
    };
    // The prompt gets what it needs: up to a third of the screen, or all that short answers
    // leave free (at least 3 rows).
    let max_prompt = (area.height / 3)
        .max(area.height.saturating_sub(answers_need))
        .max(3);
    let prompt_h = (plines.len() as u16).saturating_add(2).clamp(3, max_prompt);
    let parts = Layout::vertical([Constraint::Length(prompt_h), Constraint::Fill(1)]).split(area);

    let visible = prompt_h.saturating_sub(2) as usize;
    item.prompt_view.set(View {
        visible: visible as u16,
        total: plines.len().min(u16::MAX as usize) as u16,
    });
    let pscroll = (item.prompt_scroll as usize).min(plines.len().saturating_sub(visible));
    let mut ptitle = vec![Span::styled(" Prompt ", theme.accent())];
    if plines.len() > visible {
        ptitle.push(Span::styled(
            format!(
                "{}-{}/{} {}/{} {}/{} ",
                pscroll + 1,
                (pscroll + visible).min(plines.len()),
                plines.len(),
                app.keymap.label(Action::PromptUp),
                app.keymap.label(Action::PromptDown),
                app.keymap.label(Action::PromptPageUp),
                app.keymap.label(Action::PromptPageDown),
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

    let boxes: Vec<Rect> = if side_by_side {
        Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)])
            .split(parts[1])
            .to_vec()
    } else {
        let heights = answer_heights(&needs, item.focus, parts[1].height);
        let mut y = parts[1].y;
        heights
            .iter()
            .map(|&h| {
                let r = Rect::new(parts[1].x, y, parts[1].width, h);
                y += h;
                r
            })
            .collect()
    };
    for (pos, (cand, lines)) in item.shown.iter().zip(answers).enumerate() {
        let rect = boxes[pos];
        let focused = pos == item.focus;
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
        if rect.height == 0 {
            continue;
        }
        if rect.height < 3 {
            // Collapsed: one row with the marks and the start of the text.
            let used: usize = title.iter().map(|s| s.content.width()).sum();
            let first = cand
                .text
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            let rest = (rect.width as usize).saturating_sub(used + 12);
            title.push(Span::styled(
                format!("{} ", sanitize_line(first.trim(), rest)),
                theme.dim(),
            ));
            if lines.len() > 1 {
                title.push(Span::styled(
                    format!("({} lines)", lines.len()),
                    theme.dim(),
                ));
            }
            f.render_widget(Paragraph::new(Line::from(title)), rect);
            continue;
        }
        let visible = rect.height.saturating_sub(2) as usize;
        item.answer_views[pos].set(View {
            visible: visible as u16,
            total: lines.len().min(u16::MAX as usize) as u16,
        });
        let scroll = (item.scroll[pos] as usize).min(lines.len().saturating_sub(visible));
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
        let body: Vec<Line> = lines.into_iter().skip(scroll).take(visible).collect();
        f.render_widget(
            Paragraph::new(body).block(theme.block(Line::from(title), focused)),
            rect,
        );
    }
}

/// Rows for each stacked answer. When every answer fits, each gets what it needs and the
/// focused one any rows left over. Otherwise the focused answer may take twice the rows of the
/// others, up to a common level, every frame at least 3 rows; when even that does not fit, the
/// others collapse to one summary row (1), the focused answer takes the rest, and the answers
/// nearest to it open again as room allows. 0 hides an answer (only on the smallest screens).
pub fn answer_heights(needs: &[u16], focus: usize, avail: u16) -> Vec<u16> {
    let k = needs.len();
    if k == 0 {
        return vec![];
    }
    let focus = focus.min(k - 1);
    let need: Vec<u32> = needs.iter().map(|&n| u32::from(n.max(3))).collect();
    let avail32 = u32::from(avail);
    let total: u32 = need.iter().sum();
    let mut h: Vec<u32>;
    if total <= avail32 {
        h = need.clone();
        h[focus] += avail32 - total;
    } else if 3 * k as u32 <= avail32 {
        let at = |level: u32, i: usize| {
            let cap = if i == focus { 2 * level } else { level };
            need[i].min(cap.max(3))
        };
        let sum = |level: u32| (0..k).map(|i| at(level, i)).sum::<u32>();
        // The highest level that fits (sum grows with the level).
        let (mut lo, mut hi) = (3u32, avail32);
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            if sum(mid) <= avail32 {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        h = (0..k).map(|i| at(lo, i)).collect();
        // Rows the level leaves over go to the focused answer first, then in order.
        let mut spare = avail32 - h.iter().sum::<u32>();
        for i in std::iter::once(focus).chain((0..k).filter(|&i| i != focus)) {
            let add = spare.min(need[i] - h[i]);
            h[i] += add;
            spare -= add;
        }
        h[focus] += spare;
    } else {
        h = vec![1; k];
        let others = k as u32 - 1;
        if avail32 >= others + 3 {
            let room = avail32 - others;
            h[focus] = room.min(need[focus]);
            let mut spare = room - h[focus];
            // Open the nearest collapsed answers that fit whole.
            let mut order: Vec<usize> = (0..k).filter(|&i| i != focus).collect();
            order.sort_by_key(|&i| i.abs_diff(focus));
            for i in order {
                if need[i] - 1 <= spare {
                    spare -= need[i] - 1;
                    h[i] = need[i];
                }
            }
            h[focus] += spare;
        } else {
            // Too small for a frame: one summary row each, nearest the focus first.
            let mut order: Vec<usize> = (0..k).collect();
            order.sort_by_key(|&i| i.abs_diff(focus));
            for (n, i) in order.into_iter().enumerate() {
                h[i] = u32::from((n as u32) < avail32);
            }
        }
    }
    h.into_iter()
        .map(|x| x.min(u32::from(u16::MAX)) as u16)
        .collect()
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
    // Help and quit always show, at the end; the rest fill what is left, in order of priority.
    // When some do not fit, help says "more".
    let mut tail: Vec<(String, String)> = [Action::Help, Action::Quit]
        .iter()
        .map(|a| (km.label(*a), a.describe()))
        .collect();
    let width = |(k, w): &(String, String)| k.chars().count() + w.chars().count() + 2;
    let reserved: usize = tail.iter().map(width).sum();
    let mut spans = Vec::new();
    let mut used = 0;
    let offered = hints.len();
    let mut fitting: Vec<_> = hints
        .into_iter()
        .take_while(|h| {
            used += width(h);
            used + reserved <= area.width as usize
        })
        .collect();
    if fitting.len() < offered {
        tail[0].1 = "more".into();
    }
    fitting.extend(tail);
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

/// One line per bound action; `with_names` adds the name a key map file uses for it.
fn help_lines(app: &App, with_names: bool) -> Vec<String> {
    app.keymap
        .bindings()
        .filter(|(_, keys)| !keys.is_empty())
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

fn render_help_overlay(app: &App, theme: &Theme, f: &mut Frame, area: Rect) {
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
    let undo = app.keymap.label(Action::Undo);
    let fixing = app.fixing.as_ref().map(|f| f.old.id);
    match what {
        Confirm::CancelRun => vec!["Cancel the running training? y / n".into()],
        Confirm::DeleteCheckpoints => vec!["Delete this run's checkpoint files? y / n".into()],
        Confirm::Quit => match fixing {
            Some(id) => vec![
                format!("#{id} is being fixed and not saved again."),
                format!("Quit? #{id} is put back as it was. y / n"),
            ],
            None => vec![
                "What you typed on this prompt is not saved.".into(),
                "Quit anyway? y / n".into(),
            ],
        },
        Confirm::AllTie => vec![
            "Every answer is tied: this ranking carries no preference.".into(),
            "Save it anyway? y / n".into(),
        ],
        Confirm::UndoWhileFixing => {
            let id = fixing.map_or(String::new(), |id| format!("#{id} "));
            vec![
                format!("You changed {id}since {undo} brought it back."),
                "y: save your fix, then undo the one before".into(),
                "r: put it back as it was, then undo the one before".into(),
                "n: keep fixing it".into(),
            ]
        }
        Confirm::UndoDropsEntry => vec![
            "Undo goes back to your last decision and drops".into(),
            "what you typed on this prompt. y / n".into(),
        ],
    }
}

fn render_confirm(app: &App, what: Confirm, theme: &Theme, f: &mut Frame, area: Rect) {
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
        Line::styled(
            "Keys (in brackets: the action's name in ~/.config/kibble/keymap.toml)",
            theme.accent(),
        ),
    ];
    lines.extend(help_lines(app, true).into_iter().map(Line::from));
    let visible = area.height.saturating_sub(2);
    let total = lines.len().min(u16::MAX as usize) as u16;
    app.help_view.set(View { visible, total });
    let scroll = app.help_scroll.min(total.saturating_sub(visible));
    let mut title = vec![Span::styled(" Help ", theme.accent())];
    if total > visible {
        title.push(Span::styled(
            format!(
                "{}-{}/{} {} {} ",
                scroll + 1,
                (scroll + visible).min(total),
                total,
                app.keymap.label(Action::ScrollDown),
                app.keymap.label(Action::PageDown)
            ),
            theme.dim(),
        ));
    }
    f.render_widget(
        Paragraph::new(lines)
            .scroll((scroll, 0))
            .block(theme.block(Line::from(title), false)),
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
