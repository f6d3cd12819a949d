//! Making untrusted text safe to show in a terminal. Every string from the data (prompts,
//! candidates, annotator names) goes through `sanitize` before it is drawn or printed.
//! Terminals only act on sequences that start with a control character, so replacing each
//! control character with a visible placeholder defuses CSI/OSC/DCS sequences whole.

use unicode_width::UnicodeWidthChar;

/// Tabs expand to the next multiple of this column.
pub const TAB_WIDTH: usize = 4;
/// More zero-width marks than this on one character are dropped (a "zalgo" bomb stays small).
const MAX_MARKS_PER_CHAR: usize = 4;
/// Shown for C1 controls and bidi overrides, which have no printable form of their own.
pub const PLACEHOLDER: char = '\u{FFFD}';

/// True for characters that must never reach the terminal raw.
pub fn is_dangerous(c: char) -> bool {
    let u = c as u32;
    u < 0x20
        || u == 0x7f
        || (0x80..=0x9f).contains(&u)
        || (0x202a..=0x202e).contains(&u)
        || (0x2066..=0x2069).contains(&u)
        || u == 0x200e
        || u == 0x200f
        || u == 0x061c
}

/// The visible stand-in for a dangerous character: the Unicode "control picture" for C0
/// (ESC shows as ␛, BEL as ␇), ␡ for DEL, U+FFFD for C1 and bidi controls.
fn placeholder(c: char) -> char {
    let u = c as u32;
    if u < 0x20 {
        char::from_u32(0x2400 + u).unwrap_or(PLACEHOLDER)
    } else if u == 0x7f {
        '\u{2421}'
    } else {
        PLACEHOLDER
    }
}

/// Safe multi-line text: keeps `\n`, expands tabs, replaces every other control character.
pub fn sanitize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut col = 0usize;
    let mut marks = 0usize;
    for c in s.chars() {
        match c {
            '\n' => {
                out.push('\n');
                col = 0;
                marks = 0;
            }
            '\t' => {
                let n = TAB_WIDTH - col % TAB_WIDTH;
                out.extend(std::iter::repeat_n(' ', n));
                col += n;
                marks = 0;
            }
            c if is_dangerous(c) => {
                out.push(placeholder(c));
                col += 1;
                marks = 0;
            }
            c => {
                let w = c.width().unwrap_or(0);
                if w == 0 {
                    marks += 1;
                    if marks > MAX_MARKS_PER_CHAR {
                        continue;
                    }
                } else {
                    marks = 0;
                }
                out.push(c);
                col += w;
            }
        }
    }
    out
}

/// Safe single-line text (names, labels), cut to `max` display columns with an ellipsis.
pub fn sanitize_line(s: &str, max: usize) -> String {
    let flat = sanitize(s).replace('\n', "\u{2424}");
    truncate_to_width(&flat, max)
}

pub fn truncate_to_width(s: &str, max: usize) -> String {
    let mut out = String::new();
    let mut w = 0;
    let total: usize = s.chars().map(|c| c.width().unwrap_or(0)).sum();
    if total <= max {
        return s.to_string();
    }
    for c in s.chars() {
        let cw = c.width().unwrap_or(0);
        if w + cw + 1 > max {
            break;
        }
        out.push(c);
        w += cw;
    }
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ATTACKS: &[&str] = &[
        "\x1b]52;c;aGVsbG8=\x07",                      // OSC 52 clipboard write
        "\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\", // OSC 8 hyperlink
        "\x1b[2J\x1b[H",                               // clear screen, cursor home
        "\x1bc",                                       // full reset
        "\x1bP1$qm\x1b\\",                             // DCS
        "\u{9b}31m\u{9d}0;title\u{9c}",                // C1 CSI / OSC / ST
        "\u{202e}evil\u{202c}\u{2066}x\u{2069}",       // bidi overrides and isolates
        "a\rb\x08c\x00d",
    ];

    #[test]
    fn no_control_survives() {
        for a in ATTACKS {
            let s = sanitize(a);
            assert!(!s.chars().any(is_dangerous), "{a:?} -> {s:?}");
            assert!(!s.contains('\x1b'));
        }
    }

    #[test]
    fn random_bytes_never_yield_controls() {
        // A fixed-seed xorshift: many random strings, including raw C0/C1 and bidi code points.
        let mut x: u64 = 0x9e3779b97f4a7c15;
        for _ in 0..2000 {
            let mut s = String::new();
            for _ in 0..64 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let c = match x % 4 {
                    0 => char::from_u32((x >> 8) as u32 % 0x100),
                    1 => char::from_u32(0x2000 + (x >> 8) as u32 % 0x80),
                    _ => char::from_u32((x >> 8) as u32 % 0x11000),
                };
                s.extend(c);
            }
            let out = sanitize(&s);
            assert!(!out.chars().any(|c| is_dangerous(c) && c != '\n'), "{s:?}");
        }
    }

    #[test]
    fn tabs_expand_and_marks_are_capped() {
        assert_eq!(sanitize("a\tb"), "a   b");
        let zalgo = format!("e{}", "\u{301}".repeat(10_000));
        assert_eq!(sanitize(&zalgo).chars().count(), 1 + MAX_MARKS_PER_CHAR);
    }

    #[test]
    fn line_truncates_by_width() {
        assert_eq!(sanitize_line("日本語のテキスト", 7), "日本語…");
        assert_eq!(sanitize_line("ab\ncd", 10), "ab\u{2424}cd");
    }
}
