//! Keys are data: `assets/keymap.toml` is compiled in, a user file is merged on top, and the
//! hint bar and help overlay are generated from the resulting map.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

pub const DEFAULT_KEYMAP: &str = include_str!("../../assets/keymap.toml");

/// Everything a key can ask the app to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    Quit,
    Help,
    Screen(Screen),
    /// Put the candidate shown at this position (0-based) next in the ranking.
    Pick(u8),
    Save,
    Unrank,
    Tie,
    Clear,
    Undo,
    Skip,
    Flag,
    Note,
    ToggleMode,
    Strength,
    ToggleScores,
    FocusNext,
    FocusPrev,
    ScrollDown,
    ScrollUp,
    PageDown,
    PageUp,
    PromptDown,
    PromptUp,
    PromptPageDown,
    PromptPageUp,
    Guidelines,
    History,
    FlagAnswer,
    NoteAnswer,
    Find,
    /// On the second and later criteria of an item: what was said on the one before.
    SameOrder,
    /// Improve screen: the next round's main settings (samples per prompt, lr, LoRA, epochs).
    RoundSettings,
    /// Keys of an open dialog (its own scope: they may share keys with the screens').
    /// Keep what was typed or chosen (a note, flags, a search; the decision to open).
    DialogAccept,
    /// Close the dialog; nothing changes.
    DialogCancel,
    /// Answer a question yes.
    DialogYes,
    /// Undo while fixing an undone decision: put it back as it was.
    DialogPutBack,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Screen {
    Label,
    Train,
    Improve,
    Scores,
    Runs,
    Data,
    Help,
}

impl Screen {
    pub const ALL: [Screen; 7] = [
        Screen::Label,
        Screen::Train,
        Screen::Improve,
        Screen::Scores,
        Screen::Runs,
        Screen::Data,
        Screen::Help,
    ];
    pub fn title(self) -> &'static str {
        match self {
            Screen::Label => "Label",
            Screen::Train => "Train",
            Screen::Improve => "Improve",
            Screen::Scores => "Scores",
            Screen::Runs => "Runs",
            Screen::Data => "Data",
            Screen::Help => "Help",
        }
    }
}

impl Action {
    /// Every action a key map can name, in the order the help lists them.
    pub fn all() -> Vec<Action> {
        use Action::*;
        let mut all = vec![Quit, Help];
        all.extend(self::Screen::ALL.map(Screen));
        all.extend((0..9).map(Pick));
        all.extend([
            Save,
            Unrank,
            Tie,
            Clear,
            Undo,
            Skip,
            Flag,
            Note,
            ToggleMode,
            Strength,
            ToggleScores,
            FocusNext,
            FocusPrev,
            ScrollDown,
            ScrollUp,
            PageDown,
            PageUp,
            PromptDown,
            PromptUp,
            PromptPageDown,
            PromptPageUp,
            Guidelines,
            History,
            FlagAnswer,
            NoteAnswer,
            Find,
            SameOrder,
            RoundSettings,
            DialogAccept,
            DialogCancel,
            DialogYes,
            DialogPutBack,
        ]);
        all
    }

    /// Keys of an open dialog: a scope of their own, checked for clashes among themselves.
    pub fn is_dialog(self) -> bool {
        use Action::*;
        matches!(
            self,
            DialogAccept | DialogCancel | DialogYes | DialogPutBack
        )
    }

    /// The name a key map file uses for this action.
    pub fn name(self) -> String {
        use Action::*;
        match self {
            Screen(s) => format!("screen_{}", s.title().to_lowercase()),
            Pick(i) => format!("pick_{}", i + 1),
            Quit => "quit".into(),
            Help => "help".into(),
            Save => "save".into(),
            Unrank => "unrank".into(),
            Tie => "tie".into(),
            Clear => "clear".into(),
            Undo => "undo".into(),
            Skip => "skip".into(),
            Flag => "flag".into(),
            Note => "note".into(),
            ToggleMode => "toggle_mode".into(),
            Strength => "strength".into(),
            ToggleScores => "toggle_scores".into(),
            FocusNext => "focus_next".into(),
            FocusPrev => "focus_prev".into(),
            ScrollDown => "scroll_down".into(),
            ScrollUp => "scroll_up".into(),
            PageDown => "page_down".into(),
            PageUp => "page_up".into(),
            PromptDown => "prompt_down".into(),
            PromptUp => "prompt_up".into(),
            PromptPageDown => "prompt_page_down".into(),
            PromptPageUp => "prompt_page_up".into(),
            Guidelines => "guidelines".into(),
            History => "history".into(),
            FlagAnswer => "flag_answer".into(),
            NoteAnswer => "note_answer".into(),
            Find => "find".into(),
            SameOrder => "same_order".into(),
            RoundSettings => "round_settings".into(),
            DialogAccept => "dialog_accept".into(),
            DialogCancel => "dialog_cancel".into(),
            DialogYes => "dialog_yes".into(),
            DialogPutBack => "dialog_put_back".into(),
        }
    }

    pub fn parse(name: &str) -> Option<Action> {
        Action::all().into_iter().find(|a| a.name() == name)
    }

    /// A short description for the help overlay and hint bar.
    pub fn describe(self) -> String {
        use Action::*;
        match self {
            Quit => "quit".into(),
            Help => "help".into(),
            Screen(s) => s.title().to_lowercase(),
            Pick(i) => format!("rank {}", (b'A' + i) as char),
            Save => "save".into(),
            Unrank => "take back".into(),
            Tie => "tie".into(),
            Clear => "clear".into(),
            Undo => "undo".into(),
            Skip => "skip".into(),
            Flag => "flag".into(),
            Note => "note".into(),
            ToggleMode => "best/worst mode".into(),
            Strength => "strength".into(),
            ToggleScores => "RM scores".into(),
            FocusNext => "next answer".into(),
            FocusPrev => "previous answer".into(),
            ScrollDown => "scroll down".into(),
            ScrollUp => "scroll up".into(),
            PageDown => "page down".into(),
            PageUp => "page up".into(),
            PromptDown => "prompt down".into(),
            PromptUp => "prompt up".into(),
            PromptPageDown => "prompt page down".into(),
            PromptPageUp => "prompt page up".into(),
            Guidelines => "guidelines".into(),
            History => "my decisions".into(),
            FlagAnswer => "flag this answer".into(),
            NoteAnswer => "note on this answer".into(),
            Find => "find a prompt".into(),
            SameOrder => "same as before".into(),
            RoundSettings => "round settings".into(),
            DialogAccept => "dialog: keep / open".into(),
            DialogCancel => "dialog: cancel".into(),
            DialogYes => "dialog: yes".into(),
            DialogPutBack => "dialog: put the fix back".into(),
        }
    }
}

/// A key as written in the TOML file: `a`, `J`, `=`, `enter`, `ctrl-c`, `f1`, `backtab`, `space`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub code: KeyCodeRepr,
    pub ctrl: bool,
    pub alt: bool,
}

/// `KeyCode` without the variants we never bind, ordered and hashable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyCodeRepr {
    Char(char),
    F(u8),
    Enter,
    Esc,
    Backspace,
    Tab,
    BackTab,
    Up,
    Down,
    Left,
    Right,
    PageUp,
    PageDown,
    Home,
    End,
    Delete,
}

impl Key {
    pub fn parse(s: &str) -> Option<Key> {
        let mut ctrl = false;
        let mut alt = false;
        let mut rest = s;
        loop {
            if let Some(r) = rest.strip_prefix("ctrl-") {
                ctrl = true;
                rest = r;
            } else if let Some(r) = rest.strip_prefix("alt-") {
                alt = true;
                rest = r;
            } else {
                break;
            }
        }
        use KeyCodeRepr::*;
        let code = match rest {
            "enter" => Enter,
            "esc" => Esc,
            "backspace" => Backspace,
            "tab" => Tab,
            "backtab" | "shift-tab" => BackTab,
            "up" => Up,
            "down" => Down,
            "left" => Left,
            "right" => Right,
            "pageup" => PageUp,
            "pagedown" => PageDown,
            "home" => Home,
            "end" => End,
            "delete" => Delete,
            "space" => Char(' '),
            f if f.len() >= 2 && f.starts_with('f') && f[1..].parse::<u8>().is_ok() => {
                let n: u8 = f[1..].parse().ok()?;
                if !(1..=12).contains(&n) {
                    return None;
                }
                F(n)
            }
            c if c.chars().count() == 1 => Char(c.chars().next()?),
            _ => return None,
        };
        Some(Key { code, ctrl, alt })
    }

    pub fn from_event(e: &KeyEvent) -> Option<Key> {
        use KeyCodeRepr::*;
        let code = match e.code {
            KeyCode::Char(c) => Char(if e.modifiers.contains(KeyModifiers::CONTROL) {
                c.to_ascii_lowercase()
            } else {
                c
            }),
            KeyCode::F(n) => F(n),
            KeyCode::Enter => Enter,
            KeyCode::Esc => Esc,
            KeyCode::Backspace => Backspace,
            KeyCode::Tab if e.modifiers.contains(KeyModifiers::SHIFT) => BackTab,
            KeyCode::Tab => Tab,
            KeyCode::BackTab => BackTab,
            KeyCode::Up => Up,
            KeyCode::Down => Down,
            KeyCode::Left => Left,
            KeyCode::Right => Right,
            KeyCode::PageUp => PageUp,
            KeyCode::PageDown => PageDown,
            KeyCode::Home => Home,
            KeyCode::End => End,
            KeyCode::Delete => Delete,
            _ => return None,
        };
        Some(Key {
            code,
            ctrl: e.modifiers.contains(KeyModifiers::CONTROL),
            alt: e.modifiers.contains(KeyModifiers::ALT),
        })
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ctrl {
            f.write_str("^")?;
        }
        if self.alt {
            f.write_str("M-")?;
        }
        use KeyCodeRepr::*;
        match self.code {
            Char(' ') => f.write_str("Space"),
            Char(c) => write!(f, "{c}"),
            F(n) => write!(f, "F{n}"),
            Enter => f.write_str("Enter"),
            Esc => f.write_str("Esc"),
            Backspace => f.write_str("Bksp"),
            Tab => f.write_str("Tab"),
            BackTab => f.write_str("S-Tab"),
            Up => f.write_str("Up"),
            Down => f.write_str("Down"),
            Left => f.write_str("Left"),
            Right => f.write_str("Right"),
            PageUp => f.write_str("PgUp"),
            PageDown => f.write_str("PgDn"),
            Home => f.write_str("Home"),
            End => f.write_str("End"),
            Delete => f.write_str("Del"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct KeymapError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

/// The resolved map: each key does one thing.
#[derive(Debug, Clone)]
pub struct Keymap {
    by_key: BTreeMap<Key, Action>,
    /// The keys of an open dialog (`Action::is_dialog`).
    dialog_by_key: BTreeMap<Key, Action>,
    by_action: BTreeMap<Action, Vec<Key>>,
    /// Keys a user file took from an action without giving them to another ("q no longer does
    /// anything"): legal, but worth saying.
    pub warnings: Vec<String>,
}

/// One `action = [keys]` entry with where it was written.
struct Entry {
    action: Action,
    keys: Vec<Key>,
    file: String,
    line: usize,
}

fn line_of(text: &str, name: &str) -> usize {
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            l.strip_prefix(name)
                .is_some_and(|r| r.trim_start().starts_with('='))
                || l.strip_prefix(&format!("\"{name}\""))
                    .is_some_and(|r| r.trim_start().starts_with('='))
        })
        .map_or(1, |i| i + 1)
}

fn parse_entries(text: &str, file: &str) -> Result<Vec<Entry>, KeymapError> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| KeymapError {
        file: file.into(),
        line: e.span().map_or(1, |s| {
            text[..s.start.min(text.len())].lines().count().max(1)
        }),
        message: format!("not valid TOML: {}", e.message()),
    })?;
    let mut out = Vec::new();
    for (name, value) in table {
        let line = line_of(text, &name);
        let err = |message: String| KeymapError {
            file: file.into(),
            line,
            message,
        };
        let action = Action::parse(&name).ok_or_else(|| {
            let names: Vec<String> = Action::all().into_iter().map(Action::name).collect();
            err(format!(
                "unknown action \"{name}\"; the actions are: {}",
                names.join(", ")
            ))
        })?;
        let list = match &value {
            toml::Value::String(s) => vec![s.clone()],
            toml::Value::Array(a) => a
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| err(format!("\"{name}\": keys must be strings")))
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(err(format!("\"{name}\": expected a key or a list of keys"))),
        };
        let keys = list
            .iter()
            .map(|k| {
                Key::parse(k).ok_or_else(|| {
                    err(format!(
                        "\"{name}\": unknown key \"{k}\" (use e.g. \"a\", \"enter\", \"ctrl-c\", \"f1\")"
                    ))
                })
            })
            .collect::<Result<_, _>>()?;
        out.push(Entry {
            action,
            keys,
            file: file.into(),
            line,
        });
    }
    Ok(out)
}

impl Keymap {
    /// The compiled-in map with an optional user file's text merged on top.
    pub fn load(user: Option<(&str, &str)>) -> Result<Keymap, KeymapError> {
        let mut entries: BTreeMap<Action, Entry> = BTreeMap::new();
        for e in parse_entries(DEFAULT_KEYMAP, "assets/keymap.toml")? {
            entries.insert(e.action, e);
        }
        // (file, line, key, the action it was taken from) for every default key a user entry drops.
        let mut dropped = Vec::new();
        if let Some((file, text)) = user {
            for e in parse_entries(text, file)? {
                if let Some(old) = entries.get(&e.action) {
                    for k in old.keys.iter().filter(|k| !e.keys.contains(k)) {
                        dropped.push((e.file.clone(), e.line, *k, e.action));
                    }
                }
                entries.insert(e.action, e);
            }
        }
        // Screen keys and dialog keys are two scopes: a key may do one thing in each.
        let mut by_key: BTreeMap<(bool, Key), (Action, &Entry)> = BTreeMap::new();
        // User entries are checked last so a clash names the user's line.
        let mut ordered: Vec<&Entry> = entries.values().collect();
        ordered.sort_by_key(|e| e.file != "assets/keymap.toml");
        for e in ordered {
            for k in &e.keys {
                let k = &(e.action.is_dialog(), *k);
                if let Some((other, _)) = by_key.get(k) {
                    if *other != e.action {
                        return Err(KeymapError {
                            file: e.file.clone(),
                            line: e.line,
                            message: format!(
                                "key \"{}\" is bound to both \"{}\" and \"{}\"",
                                k.1,
                                other.describe(),
                                e.action.describe()
                            ),
                        });
                    }
                }
                by_key.insert(*k, (e.action, e));
            }
        }
        let warnings = dropped
            .into_iter()
            .filter(|(_, _, k, a)| !by_key.contains_key(&(a.is_dialog(), *k)))
            .map(|(file, line, k, action)| {
                format!(
                    "{file}:{line}: key \"{k}\" no longer does anything (it was {})",
                    action.name()
                )
            })
            .collect();
        let (dialog, screens): (Vec<_>, Vec<_>) =
            by_key.into_iter().partition(|((dialog, _), _)| *dialog);
        Ok(Keymap {
            by_key: screens.into_iter().map(|((_, k), (a, _))| (k, a)).collect(),
            dialog_by_key: dialog.into_iter().map(|((_, k), (a, _))| (k, a)).collect(),
            by_action: entries.into_iter().map(|(a, e)| (a, e.keys)).collect(),
            warnings,
        })
    }

    /// The default map merged with `$XDG_CONFIG_HOME/kibble/keymap.toml` when it exists.
    pub fn load_user_default() -> anyhow::Result<Keymap> {
        match user_keymap_path() {
            Some(p) if p.exists() => {
                let text = std::fs::read_to_string(&p)?;
                Ok(Keymap::load(Some((&p.display().to_string(), &text)))?)
            }
            _ => Ok(Keymap::load(None)?),
        }
    }

    pub fn action(&self, key: &KeyEvent) -> Option<Action> {
        self.by_key.get(&Key::from_event(key)?).copied()
    }

    /// What `key` does in an open dialog, if anything (typing into a field is not an action).
    pub fn dialog_action(&self, key: &KeyEvent) -> Option<Action> {
        self.dialog_by_key.get(&Key::from_event(key)?).copied()
    }

    pub fn keys(&self, action: Action) -> &[Key] {
        self.by_action.get(&action).map_or(&[], Vec::as_slice)
    }

    /// "Enter" or "a/1": the keys of an action as shown in hints.
    pub fn label(&self, action: Action) -> String {
        self.keys(action)
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("/")
    }

    /// Every bound action with its keys, for the help overlay.
    pub fn bindings(&self) -> impl Iterator<Item = (Action, &[Key])> {
        self.by_action.iter().map(|(a, k)| (*a, k.as_slice()))
    }
}

/// `$XDG_CONFIG_HOME/kibble` (default `~/.config/kibble`).
pub fn config_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".config")))?;
    Some(base.join("kibble"))
}

pub fn user_keymap_path() -> Option<PathBuf> {
    Some(config_dir()?.join("keymap.toml"))
}

/// `config.toml` beside the key map: settings of the labelling app. Data only; nothing in it
/// is ever executed.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// Flag reasons offered after the built-in ones.
    #[serde(default)]
    pub flag_reasons: Vec<String>,
}

impl UserConfig {
    pub fn load() -> anyhow::Result<UserConfig> {
        let Some(path) = config_dir().map(|d| d.join("config.toml")) else {
            return Ok(UserConfig::default());
        };
        if !path.exists() {
            return Ok(UserConfig::default());
        }
        let text = std::fs::read_to_string(&path)?;
        toml::from_str(&text).map_err(|e| {
            let line = e.span().map_or(1, |s| {
                text[..s.start.min(text.len())].lines().count().max(1)
            });
            anyhow::anyhow!("{}:{line}: {}", path.display(), e.message())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: KeyCode, m: KeyModifiers) -> KeyEvent {
        KeyEvent::new(c, m)
    }

    #[test]
    fn default_map_loads_and_resolves() {
        let km = Keymap::load(None).unwrap();
        assert_eq!(
            km.action(&key(KeyCode::Char('b'), KeyModifiers::NONE)),
            Some(Action::Pick(1))
        );
        assert_eq!(
            km.action(&key(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Action::Quit)
        );
        assert_eq!(
            km.action(&key(KeyCode::Enter, KeyModifiers::NONE)),
            Some(Action::Save)
        );
        assert_eq!(
            km.action(&key(KeyCode::F(2), KeyModifiers::NONE)),
            Some(Action::Screen(Screen::Train))
        );
    }

    #[test]
    fn user_file_overrides_and_errors_name_the_line() {
        let km = Keymap::load(Some(("user.toml", "# mine\nskip = [\"z\"]\n"))).unwrap();
        assert_eq!(
            km.action(&key(KeyCode::Char('z'), KeyModifiers::NONE)),
            Some(Action::Skip)
        );
        let e = Keymap::load(Some(("user.toml", "\n\nfrobnicate = [\"z\"]\n"))).unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("user.toml", 3));
        assert!(e.message.contains("unknown action \"frobnicate\""));
        let e = Keymap::load(Some(("user.toml", "skip = [\"a\"]\n"))).unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.message.contains("bound to both"), "{}", e.message);
        let e = Keymap::load(Some(("user.toml", "skip = [\"nope\"]\n"))).unwrap_err();
        assert!(e.message.contains("unknown key \"nope\""));
        let e = Keymap::load(Some(("user.toml", "skip = [\n"))).unwrap_err();
        assert!(e.message.contains("not valid TOML"));
    }

    #[test]
    fn dialog_keys_are_a_scope_of_their_own() {
        let km = Keymap::load(None).unwrap();
        let enter = key(KeyCode::Enter, KeyModifiers::NONE);
        // Enter saves on a screen and keeps what a dialog holds.
        assert_eq!(km.action(&enter), Some(Action::Save));
        assert_eq!(km.dialog_action(&enter), Some(Action::DialogAccept));
        assert_eq!(
            km.action(&key(KeyCode::Char('y'), KeyModifiers::NONE)),
            None
        );
        // A user may move them; a clash inside the dialog scope names the line.
        let km = Keymap::load(Some(("user.toml", "dialog_yes = [\"j\"]\n"))).unwrap();
        let j = key(KeyCode::Char('j'), KeyModifiers::NONE);
        assert_eq!(km.dialog_action(&j), Some(Action::DialogYes));
        assert_eq!(km.action(&j), Some(Action::ScrollDown));
        assert_eq!(km.label(Action::DialogYes), "j");
        let e = Keymap::load(Some(("user.toml", "\ndialog_cancel = [\"enter\"]\n"))).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("bound to both"), "{}", e.message);
    }
}
