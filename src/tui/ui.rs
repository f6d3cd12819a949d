//! Drawing: a pure function of `&App`. Every string from the data passes through
//! `text::sanitize` on its way in (see `markdown::render`), so nothing from it reaches the terminal raw.

use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::border;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;
use unicode_width::UnicodeWidthStr;

use super::app::{App, Overlay};
use super::dialogs;
use super::keymap::{Action, Screen};
use crate::text::{sanitize_line, truncate_to_width};

pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 16;
/// K = 2 answers go side by side from this width on.
pub(super) const SIDE_BY_SIDE_WIDTH: u16 = 100;

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
pub(crate) struct Theme {
    pub(crate) color: bool,
    pub(crate) ascii: bool,
}

impl Theme {
    pub(crate) fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::default().fg(c)
        } else {
            Style::default()
        }
    }
    pub(crate) fn accent(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }
    pub(crate) fn dim(&self) -> Style {
        if self.color {
            Style::default().fg(Color::DarkGray)
        } else {
            Style::default()
        }
    }
    pub(crate) fn block<'a>(&self, title: Line<'a>, focused: bool) -> Block<'a> {
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
    pub(crate) fn sep(&self) -> &'static str {
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
        color: app.session.cfg.color,
        ascii: app.session.cfg.ascii,
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
        Screen::Label => super::screens::label::view::render_label(app, &theme, f, rows[2]),
        Screen::Data => super::screens::data::render(app, &theme, f, rows[2]),
        Screen::Train => super::screens::train::render(
            &app.train,
            f,
            rows[2],
            theme.color,
            theme.ascii,
            theme.accent(),
            theme.dim(),
        ),
        Screen::Runs => super::screens::runs::render(
            &app.runs,
            f,
            rows[2],
            theme.color,
            theme.ascii,
            theme.accent(),
            theme.dim(),
        ),
        Screen::Scores => super::screens::scores::render(
            &app.scores,
            f,
            rows[2],
            theme.color,
            theme.ascii,
            theme.accent(),
            theme.dim(),
        ),
        Screen::Help => super::screens::help::render(app, &theme, f, rows[2]),
        Screen::Improve => super::screens::improve::render(
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
    match &app.session.overlay {
        Overlay::None => {}
        Overlay::Help => dialogs::render_help_overlay(app, &theme, f, area),
        Overlay::Confirm(what) => dialogs::render_confirm(app, *what, &theme, f, area),
        Overlay::Flag { selected, answer } => {
            dialogs::render_flag_dialog(app, &theme, f, area, selected, *answer)
        }
        Overlay::Note { buffer, answer } => {
            dialogs::render_note_dialog(app, &theme, f, area, buffer, *answer)
        }
        Overlay::Find { buffer } => dialogs::render_find(app, &theme, f, area, buffer),
        Overlay::RewardMix { buffer } => dialogs::render_line_input(
            &theme,
            f,
            area,
            " Reward for the next round ",
            "helpful=1,funny=0.5; harmless<-0.5 (weights; gate). Empty: the newest RM",
            buffer,
        ),
        Overlay::RoundSettings { buffer } => dialogs::render_line_input(
            &theme,
            f,
            area,
            " Next round's settings (empty: the defaults) ",
            "n=8 lr=2e-4 lora=16 epochs=1 tokens=96 beta=0.1 steps=50 kl=0",
            buffer,
        ),
        Overlay::PolicySource { buffer } => dialogs::render_line_input(
            &theme,
            f,
            area,
            " Policy to start from ",
            "a GGUF file or HF folder; empty: kibble's tiny policy, trained here",
            buffer,
        ),
        Overlay::Guidelines { text, scroll } => {
            dialogs::render_guidelines(app, text, *scroll, &theme, f, area)
        }
        Overlay::History { entries, selected } => {
            dialogs::render_history(app, entries, *selected, &theme, f, area)
        }
    }
}

fn render_tabs(app: &App, theme: &Theme, f: &mut Frame, area: Rect) {
    let mut spans = vec![Span::styled("kibble ", theme.accent())];
    for s in Screen::ALL {
        let key = app.session.keymap.label(Action::Screen(s));
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

/// A scrolled box's first row shown (clamped) and its title: the name, then "first-last/total"
/// and the scroll keys when the text is longer than the box (`area`, borders included).
pub(crate) fn scrolled_title(
    keymap: &super::keymap::Keymap,
    theme: &Theme,
    name: &'static str,
    total: usize,
    area: Rect,
    scroll: u16,
) -> (u16, Vec<Span<'static>>) {
    let visible = area.height.saturating_sub(2);
    let total = total.min(u16::MAX as usize) as u16;
    let scroll = scroll.min(total.saturating_sub(visible));
    let mut title = vec![Span::styled(name, theme.accent())];
    if total > visible {
        title.push(Span::styled(
            format!(
                "{}-{}/{} {} {} ",
                scroll + 1,
                (scroll + visible).min(total),
                total,
                keymap.label(Action::ScrollDown),
                keymap.label(Action::PageDown)
            ),
            theme.dim(),
        ));
    }
    (scroll, title)
}

/// A screen of text that scrolls (Help, Data), in a box titled `name` with the position and the
/// scroll keys.
pub(crate) fn render_scrolled(
    lines: Vec<Line<'_>>,
    name: &'static str,
    text: &super::screens::Scroller,
    keymap: &super::keymap::Keymap,
    theme: &Theme,
    f: &mut Frame,
    area: Rect,
) {
    let (scroll, title) = scrolled_title(keymap, theme, name, lines.len(), area, text.at);
    text.view.set(super::app::View {
        visible: area.height.saturating_sub(2),
        total: lines.len().min(u16::MAX as usize) as u16,
    });
    f.render_widget(
        Paragraph::new(lines)
            .scroll((scroll, 0))
            .block(theme.block(Line::from(title), false)),
        area,
    );
}

/// Labelling progress as the header counts it, for the Data screen and `kibble stats`.
pub fn progress_line(s: &crate::store::Stats) -> String {
    let (done, total) = s.progress.people();
    format!(
        "labelled {done}/{total} prompts by {} annotator{} each{}",
        s.overlap,
        if s.overlap == 1 { "" } else { "s" },
        match s.progress.imported {
            0 => String::new(),
            n => format!(", and {n} came ranked from imports"),
        }
    )
}

fn render_header(app: &App, theme: &Theme, f: &mut Frame, area: Rect) {
    let (done, total) = app.label.progress.people();
    let rate = app.label.per_hour();
    let eta = rate
        .filter(|r| *r > 0.0)
        .map(|r| fmt_duration((total - done).max(0) as f64 / r * 3600.0));
    let sep = theme.sep();
    // Imported rankings are not this team's work: counted apart.
    let imported = match app.label.progress.imported {
        0 => String::new(),
        n => format!(" (+{n} imported)"),
    };
    let overlap = match app.session.cfg.queue.overlap {
        1 => String::new(),
        k => format!(" by {k}"),
    };
    // Done/total count the whole DB; a filtered session says what it is served.
    let only = match app.session.cfg.only.label() {
        _ if app.session.cfg.review => format!("{sep}REVIEW"),
        l if l.is_empty() => String::new(),
        l => format!("{sep}only {}", sanitize_line(&l, 30)),
    };
    // A task of several criteria: how many decisions each has (optional ones can lag).
    let per_criterion: String = app
        .label
        .criterion_counts
        .iter()
        .map(|(c, n)| format!("{} {n}", sanitize_line(c, 12)))
        .collect::<Vec<_>>()
        .join(" ");
    let per_criterion = match per_criterion.is_empty() {
        true => String::new(),
        false => format!(" ({per_criterion})"),
    };
    let text = format!(
        "{done}/{total} done{per_criterion}{overlap}{imported}{only}{sep}session {}{sep}{}/h{sep}ETA {}{sep}{}{sep}{}",
        app.label.session_count,
        rate.map_or("-".into(), |r| format!("{r:.0}")),
        eta.unwrap_or_else(|| "-".into()),
        sanitize_line(&app.session.cfg.annotator, 24),
        sanitize_line(&app.session.cfg.db_label, 40),
    );
    f.render_widget(
        Paragraph::new(truncate_to_width(&text, area.width as usize)).style(theme.dim()),
        area,
    );
}

fn render_status(app: &App, theme: &Theme, f: &mut Frame, area: Rect) {
    let mut spans = if app.screen == Screen::Label && app.label.item.is_some() {
        super::screens::label::view::entry_text(app, theme)
    } else {
        vec![]
    };
    if !app.session.status.is_empty() {
        let status = Span::styled(
            sanitize_line(&app.session.status, area.width as usize),
            theme.fg(Color::Yellow),
        );
        let used: usize = spans.iter().map(|s| s.content.width()).sum();
        if spans.is_empty() {
            spans.push(status);
        } else if used + 3 + status.content.width() <= area.width as usize {
            spans.push(Span::raw(theme.sep()));
            spans.push(status);
        } else {
            // Both do not fit: the message goes first, so it is read whole; the ranking
            // typed so far is on the answers' titles too.
            let mut first = vec![status, Span::raw(theme.sep())];
            first.append(&mut spans);
            spans = first;
        }
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn render_hints(app: &App, theme: &Theme, f: &mut Frame, area: Rect) {
    let km = &app.session.keymap;
    let k = app.label.item.as_ref().map_or(0, |i| i.shown.len());
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
            (Action::Note, "reward"),
            (Action::SameOrder, "policy"),
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
        let more = app.label.task.criteria.len() > 1;
        let next = if app.label.entry.step + 1 < app.label.task.criteria.len() {
            "next"
        } else {
            "save"
        };
        if let Some(s) = app.label.rating_scale() {
            hints.push((format!("{}-{}", s.min, s.max), "points".into()));
            hints.push((format!("{first}..{last}"), "answer".into()));
            hints.push((km.label(Action::Save), next.into()));
            hints.push((km.label(Action::SameOrder), "same".into()));
        } else if more {
            hints.push((format!("{first}..{last}"), "rank".into()));
            hints.push((km.label(Action::Tie), "tie".into()));
            hints.push((km.label(Action::Save), next.into()));
            hints.push((km.label(Action::SameOrder), "same".into()));
        } else if k == 2 {
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
