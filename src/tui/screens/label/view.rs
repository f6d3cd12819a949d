//! The label screen: the prompt, the answers sized by their content, the ranking being typed.

use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;
use unicode_width::UnicodeWidthStr;

use super::{letter, STRENGTH_NAMES};
use crate::domain::PromptBody;
use crate::text::sanitize_line;
use crate::tui::app::{App, View};
use crate::tui::keymap::Action;
use crate::tui::ui::{Theme, SIDE_BY_SIDE_WIDTH};

/// Wraps sanitised text to `width` columns, keeping indentation (code blocks) and
/// breaking long words. Returns one `String` per screen line.
/// An answer (or a prompt's text) with its code and markdown drawn.
pub(crate) fn answer_lines(text: &str, width: usize, theme: &Theme) -> Vec<Line<'static>> {
    let styles = crate::tui::markdown::Styles {
        text: Style::default(),
        code: theme.fg(Color::Cyan),
        marker: theme.dim(),
        heading: theme
            .accent()
            .add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
        ascii: theme.ascii,
    };
    crate::tui::markdown::render(text, width, &styles)
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

pub(crate) fn render_label(app: &App, theme: &Theme, f: &mut Frame, area: Rect) {
    let Some(item) = &app.label.item else {
        let pct = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{:.0}%", x * 100.0));
        let session = match app.label.session_count {
            0 => "No decisions in this session yet.".into(),
            n => format!(
                "This session: {n} decisions{}.{} More on {}.",
                app.label.per_hour()
                    .map_or(String::new(), |h| format!(", {h:.0} per hour")),
                app.label.my_quality.as_ref().map_or(String::new(), |q| format!(
                    " Your pairs agree with other annotators' {} of the time ({} pairs), with gold {}.",
                    pct(q.agreement_with_others),
                    q.compared_pairs,
                    pct(q.gold_agreement)
                )),
                app.session.keymap
                    .label(Action::Screen(crate::tui::keymap::Screen::Data))
            ),
        };
        let title = match app.session.cfg.only.label() {
            _ if app.session.cfg.review => "No disagreements left to review.".to_string(),
            l if l.is_empty() => "Nothing left to label.".to_string(),
            l => format!("Nothing left to label among {}.", sanitize_line(&l, 40)),
        };
        let msg = vec![
            Line::from(""),
            Line::styled(title, theme.accent()),
            Line::from(""),
            Line::from(session),
            Line::from(""),
            Line::from(
                "Every prompt has been ranked by enough annotators, or is held by someone else.",
            ),
            Line::from("New prompts appear here by themselves (checked every 10 seconds)."),
            Line::from(format!(
                "Import more with `kibble import FILE`; {} undoes your last decision, {} lists them.",
                app.session.keymap.label(Action::Undo),
                app.session.keymap.label(Action::History)
            )),
        ];
        f.render_widget(
            Paragraph::new(msg)
                .wrap(ratatui::widgets::Wrap { trim: true })
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
                app.session.keymap.label(Action::PromptUp),
                app.session.keymap.label(Action::PromptDown),
                app.session.keymap.label(Action::PromptPageUp),
                app.session.keymap.label(Action::PromptPageDown),
            ),
            theme.dim(),
        ));
    }
    let mut pblock = theme.block(Line::from(ptitle), false);
    // Review mode: each annotator's ranking, in this screen's letters, under the prompt.
    if !item.others.is_empty() {
        let said: Vec<String> = item
            .others
            .iter()
            .map(|(who, order)| format!("{}: {order}", sanitize_line(who, 16)))
            .collect();
        pblock = pblock.title_bottom(Line::styled(
            format!(
                " {} ",
                sanitize_line(&said.join(" · "), inner_w.saturating_sub(2))
            ),
            theme.fg(Color::Yellow),
        ));
    }
    if let Some(c) = criterion_title(app) {
        pblock = pblock.title(Line::styled(c, theme.accent()).right_aligned());
    }
    f.render_widget(
        Paragraph::new(plines)
            .scroll((pscroll as u16, 0))
            .block(pblock),
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
        if let Some(scale) = app.label.rating_scale() {
            let label = match app.label.entry.points.get(pos).copied().flatten() {
                Some(v) => {
                    let named = scale
                        .label(v)
                        .map_or(String::new(), |l| format!(" {}", sanitize_line(l, 20)));
                    format!("{v}/{}{named} ", scale.max)
                }
                None => format!("_/{} ", scale.max),
            };
            title.push(Span::styled(label, theme.fg(Color::Green)));
        } else if let Some(r) = app.label.entry.rank_of(pos) {
            let tied = app.label.entry.groups[r - 1].len() > 1;
            let label = if app.label.best_worst_applies() {
                if r == 1 { "best" } else { "worst" }.to_string()
            } else {
                format!("#{r}{}", if tied { " (tie)" } else { "" })
            };
            title.push(Span::styled(format!("{label} "), theme.fg(Color::Green)));
        }
        if let Some(m) = item.mark(pos) {
            let mut marks = Vec::new();
            if !m.flags.is_empty() {
                marks.push(format!("flag: {}", sanitize_line(&m.flags.join(", "), 30)));
            }
            if m.note.is_some() {
                marks.push("note".to_string());
            }
            title.push(Span::styled(
                format!("{} ", marks.join(" · ")),
                theme.fg(Color::Red),
            ));
        }
        if app.label.show_scores {
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

/// Rows for each stacked answer. When every answer fits, each gets what it needs (the rest
/// stays empty below them). Otherwise the focused answer may take twice the rows of the
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
        // Every frame fits its text; the rows left over stay below the answers.
        h = need.clone();
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

/// The criterion being answered, when the task asks more than the one ranking it always did:
/// its place, name and kind (` 2/3 funny: rate 1-5 `).
fn criterion_title(app: &App) -> Option<String> {
    let t = &app.label.task;
    if t.criteria.len() == 1 && t.criteria[0].kind == crate::domain::CriterionKind::Rank {
        return None;
    }
    let c = app.label.criterion();
    let optional = if c.required { "" } else { ", optional" };
    Some(format!(
        " {}/{} {}: {}{optional} ",
        app.label.entry.step + 1,
        t.criteria.len(),
        sanitize_line(&c.name, 24),
        c.kind.describe()
    ))
}

pub(crate) fn entry_text(app: &App, theme: &Theme) -> Vec<Span<'static>> {
    let e = &app.label.entry;
    let sep = theme.sep();
    let mut spans = Vec::new();
    if let Some(scale) = app.label.rating_scale() {
        let k = app.label.item.as_ref().map_or(0, |i| i.shown.len());
        let points: Vec<String> = (0..k)
            .map(|p| {
                let v = e.points.get(p).copied().flatten();
                format!("{}{}", letter(p), v.map_or("_".into(), |v| v.to_string()))
            })
            .collect();
        spans.push(Span::raw(format!(
            "{}: {}",
            app.label.criterion().name,
            points.join(" ")
        )));
        // The scale's named points, so a 4 means the same to everyone.
        let legend: Vec<String> = (scale.min..=scale.max)
            .filter_map(|v| {
                scale
                    .label(v)
                    .map(|l| format!("{v} {}", sanitize_line(l, 16)))
            })
            .collect();
        if !legend.is_empty() {
            spans.push(Span::styled(
                format!("{sep}{}", legend.join(", ")),
                theme.dim(),
            ));
        }
    } else if app.label.best_worst_applies() {
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
    if let Some(item) = &app.label.item {
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
