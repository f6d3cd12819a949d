//! The Help screen (F7): how ranking works and every key with its action's name, scrolled.

use std::cell::Cell;

use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::scroll_step;
use crate::tui::app::{App, View};
use crate::tui::dialogs;
use crate::tui::keymap::Action;
use crate::tui::ui::{scrolled_title, Theme};

#[derive(Debug, Default)]
pub struct HelpScreen {
    /// First row shown, and the rows as last drawn.
    pub scroll: u16,
    pub view: Cell<View>,
}

impl HelpScreen {
    pub fn on_action(&mut self, action: Action) {
        if let Action::ScrollDown | Action::ScrollUp | Action::PageDown | Action::PageUp = action {
            let (lines, pages) = scroll_step(action);
            self.scroll = self.view.get().scrolled(self.scroll, lines, pages);
        }
    }
}

pub(crate) fn render(app: &App, theme: &Theme, f: &mut Frame, area: Rect) {
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
    lines.extend(dialogs::help_lines(app, true).into_iter().map(Line::from));
    let s = &app.help;
    let (scroll, title) = scrolled_title(
        &app.session.keymap,
        theme,
        " Help ",
        lines.len(),
        area,
        s.scroll,
    );
    s.view.set(View {
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
