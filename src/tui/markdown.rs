//! Answers drawn the way people read them: fenced code set apart by a gutter, its indentation
//! kept when a line wraps (with a continuation mark, never back to column 0), and the common
//! inline markdown (headings, `**bold**`, `*italic*`, `` `code` ``, list bullets) drawn rather than
//! shown raw.
//! The text is sanitised first, so nothing here can put a control character on the terminal.

use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use unicode_width::UnicodeWidthChar;

use crate::text::sanitize;

/// How each kind of text is drawn.
#[derive(Debug, Clone, Copy)]
pub struct Styles {
    pub text: Style,
    pub code: Style,
    pub marker: Style,
    pub heading: Style,
    pub ascii: bool,
}

type Cells = Vec<(char, Style)>;

/// `raw` as lines of at most `width` columns.
pub fn render(raw: &str, width: usize, st: &Styles) -> Vec<Line<'static>> {
    let width = width.max(4);
    let clean = sanitize(raw);
    let (gutter, cont) = if st.ascii {
        ("| ", "> ")
    } else {
        ("\u{2502} ", "\u{21aa} ")
    };
    let mut out = Vec::new();
    let mut in_code = false;
    for line in clean.split('\n') {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_code = !in_code;
            out.extend(wrap(&cells(line, st.marker), width, &[], &[]));
            continue;
        }
        if in_code {
            let indent = line.len() - trimmed.len();
            let lead = cells(gutter, st.marker);
            let mut hang = lead.clone();
            // Continuations start under the code's own indentation, after a mark.
            let keep = indent.min(width / 2);
            hang.extend(std::iter::repeat_n((' ', st.code), keep));
            hang.extend(cells(cont, st.marker));
            out.extend(wrap(&cells(line, st.code), width, &lead, &hang));
            continue;
        }
        out.extend(prose(line, width, st));
    }
    out
}

/// One line outside code: a heading, a list item, or plain text with inline marks.
fn prose(line: &str, width: usize, st: &Styles) -> Vec<Line<'static>> {
    let trimmed = line.trim_start();
    let indent = &line[..line.len() - trimmed.len()];
    let hashes = trimmed.chars().take_while(|&c| c == '#').count();
    if (1..=6).contains(&hashes) && trimmed[hashes..].starts_with(' ') {
        let body = inline(trimmed[hashes..].trim(), st.heading, st);
        return wrap(&body, width, &[], &[]);
    }
    let bullet = ["- ", "* ", "+ "].iter().find(|b| trimmed.starts_with(**b));
    if let Some(b) = bullet {
        let mark = if st.ascii { "* " } else { "\u{2022} " };
        let mut lead = cells(indent, st.text);
        lead.extend(cells(mark, st.marker));
        let hang = vec![(' ', st.text); lead.len()];
        return wrap(
            &inline(&trimmed[b.len()..], st.text, st),
            width,
            &lead,
            &hang,
        );
    }
    let digits = trimmed.chars().take_while(char::is_ascii_digit).count();
    if digits > 0 && (trimmed[digits..].starts_with(". ") || trimmed[digits..].starts_with(") ")) {
        let mut lead = cells(indent, st.text);
        lead.extend(cells(&trimmed[..digits + 2], st.marker));
        let hang = vec![(' ', st.text); lead.len()];
        return wrap(
            &inline(&trimmed[digits + 2..], st.text, st),
            width,
            &lead,
            &hang,
        );
    }
    // Plain text keeps its indentation on the first row only, like a paragraph.
    let mut body = cells(indent, st.text);
    body.extend(inline(trimmed, st.text, st));
    wrap(&body, width, &[], &[])
}

/// `**bold**` and `` `code` `` inside a line; a mark without its closing pair stays as typed.
fn inline(s: &str, base: Style, st: &Styles) -> Cells {
    let mut out = Vec::with_capacity(s.len());
    let mut rest = s;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("**") {
            if let Some(end) = after.find("**").filter(|&e| e > 0) {
                out.extend(cells(&after[..end], base.add_modifier(Modifier::BOLD)));
                rest = &after[end + 2..];
                continue;
            }
        }
        if let Some(after) = rest.strip_prefix('*') {
            let closing = after
                .find('*')
                .filter(|&e| e > 0 && !after.starts_with(' ') && !after[..e].ends_with(' '));
            if let Some(end) = closing {
                out.extend(cells(&after[..end], base.add_modifier(Modifier::ITALIC)));
                rest = &after[end + 1..];
                continue;
            }
        }
        if let Some(after) = rest.strip_prefix('`') {
            if let Some(end) = after.find('`').filter(|&e| e > 0) {
                out.extend(cells(&after[..end], st.code));
                rest = &after[end + 1..];
                continue;
            }
        }
        let c = rest.chars().next().expect("non-empty");
        out.push((c, base));
        rest = &rest[c.len_utf8()..];
    }
    out
}

fn cells(s: &str, style: Style) -> Cells {
    s.chars().map(|c| (c, style)).collect()
}

fn width_of(c: &[(char, Style)]) -> usize {
    c.iter().map(|(ch, _)| ch.width().unwrap_or(0)).sum()
}

/// Wraps `body` to `width` columns: the first row starts with `lead`, the others with `hang`.
/// Breaks after the last space that has text before it, else mid-word.
fn wrap(
    body: &[(char, Style)],
    width: usize,
    lead: &[(char, Style)],
    hang: &[(char, Style)],
) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut first = true;
    loop {
        let prefix = if first { lead } else { hang };
        // A prefix wider than the pane is dropped rather than leaving no room for the text.
        let prefix = if width_of(prefix) + 1 >= width {
            &[][..]
        } else {
            prefix
        };
        let room = width - width_of(prefix);
        let mut w = 0;
        let mut end = start;
        while end < body.len() {
            let cw = body[end].0.width().unwrap_or(0);
            if w + cw > room {
                break;
            }
            w += cw;
            end += 1;
        }
        end = end.max((start + 1).min(body.len()));
        let mut next = end;
        if end < body.len() {
            let space = (start + 1..end).rev().find(|&i| body[i].0 == ' ');
            if let Some(sp) = space.filter(|&sp| body[start..sp].iter().any(|(c, _)| *c != ' ')) {
                end = sp;
                next = sp + 1;
            }
        }
        // A row that ends at a break loses its trailing spaces.
        let mut piece_end = end;
        if next != end {
            while piece_end > start && body[piece_end - 1].0 == ' ' {
                piece_end -= 1;
            }
        }
        let mut row: Cells = prefix.to_vec();
        row.extend_from_slice(&body[start..piece_end]);
        out.push(to_line(&row));
        first = false;
        start = next;
        if start >= body.len() {
            break;
        }
    }
    out
}

fn to_line(row: &[(char, Style)]) -> Line<'static> {
    let mut spans: Vec<Span<'static>> = Vec::new();
    let mut text = String::new();
    let mut style = None;
    for &(c, s) in row {
        if style.is_some_and(|st| st != s) {
            spans.push(Span::styled(std::mem::take(&mut text), style.expect("set")));
        }
        style = Some(s);
        text.push(c);
    }
    if let Some(s) = style {
        spans.push(Span::styled(text, s));
    }
    Line::from(spans)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(lines: &[Line]) -> Vec<String> {
        lines
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect()
    }

    fn st() -> Styles {
        Styles {
            text: Style::default(),
            code: Style::default().add_modifier(Modifier::DIM),
            marker: Style::default().add_modifier(Modifier::ITALIC),
            heading: Style::default().add_modifier(Modifier::BOLD),
            ascii: true,
        }
    }

    #[test]
    fn wrap_keeps_indentation_and_breaks_words() {
        let w = |s: &str, n: usize| plain(&render(s, n, &st()));
        assert_eq!(
            w("fn main() {\n    let x = 1;\n}", 40),
            vec!["fn main() {", "    let x = 1;", "}"]
        );
        assert_eq!(
            w("hello wonderful world", 10),
            vec!["hello", "wonderful", "world"]
        );
        assert_eq!(w("abcdefghijkl", 5), vec!["abcde", "fghij", "kl"]);
        // Wide characters count two columns.
        assert_eq!(w("日本語日本語", 5), vec!["日本", "語日", "本語"]);
    }

    #[test]
    fn code_keeps_its_indentation_when_wrapped() {
        let src = "Look:\n```rust\n        let total = first_value + second_value;\n```";
        let got = plain(&render(src, 30, &st()));
        assert_eq!(got[0], "Look:");
        assert_eq!(got[1], "```rust");
        assert_eq!(got[2], "|         let total =");
        // The continuation sits under the indentation, after a mark: never at column 0.
        assert_eq!(got[3], "|         > first_value +");
        assert_eq!(got[4], "|         > second_value;");
        assert_eq!(got[5], "```");
        assert!(got.iter().all(|l| l.chars().count() <= 30), "{got:?}");
    }

    #[test]
    fn inline_marks_headings_and_bullets_are_drawn() {
        let got = render(
            "## Steps\n- use **bold** and `x`\n1. one\nno **closing\n*it* a * b",
            40,
            &st(),
        );
        let text = plain(&got);
        assert_eq!(
            text,
            vec![
                "Steps",
                "* use bold and x",
                "1. one",
                "no **closing",
                "it a * b"
            ]
        );
        assert!(got[0].spans[0].style.add_modifier.contains(Modifier::BOLD));
        let bold = got[1].spans.iter().find(|s| s.content == "bold").unwrap();
        assert!(bold.style.add_modifier.contains(Modifier::BOLD));
    }

    #[test]
    fn list_items_wrap_under_their_text_and_escapes_are_sanitised() {
        let got = plain(&render(
            "- alpha beta gamma delta\n\u{1b}[31mred",
            14,
            &st(),
        ));
        assert_eq!(got[0], "* alpha beta");
        assert_eq!(got[1], "  gamma delta");
        assert!(!got.concat().contains('\u{1b}'));
    }
}
