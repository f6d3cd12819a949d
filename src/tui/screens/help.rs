//! The Help screen (F7): how ranking works and every key with its action's name, scrolled.

use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::Frame;

use super::Scroller;
use crate::tui::app::App;
use crate::tui::dialogs;
use crate::tui::keymap::Action;
use crate::tui::ui::{render_scrolled, Theme};

#[derive(Debug, Default)]
pub struct HelpScreen {
    pub text: Scroller,
}

impl HelpScreen {
    pub fn on_action(&mut self, action: Action) {
        self.text.on_action(action);
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
    render_scrolled(
        lines,
        " Help ",
        &s.text,
        &app.session.keymap,
        theme,
        f,
        area,
    );
}
