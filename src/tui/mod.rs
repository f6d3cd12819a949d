//! The labelling app: one event loop over one channel (keys, resizes, signals, background
//! jobs' events) with a tick about once a second, generic over the ratatui `Backend` so tests
//! drive it with `TestBackend`.
//! The terminal is restored on normal exit, Ctrl-C, SIGTERM, SIGHUP and panic.

pub mod app;
pub mod background;
pub mod bench;
pub mod charts;
mod dialogs;
pub mod keymap;
pub mod markdown;
pub mod screens;
pub mod ui;

use std::io::{BufRead, Write};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use crossterm::event::{self, Event as TermEvent, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::backend::{Backend, TestBackend};
use ratatui::Terminal;

use app::App;
use keymap::Key;

/// Everything the loop reacts to.
#[derive(Debug)]
pub enum Event {
    Key(KeyEvent),
    Resize,
    /// SIGTERM, SIGHUP (the SSH connection dropped) or SIGINT.
    Signal(i32),
    /// What a background job started from a screen said.
    Job(background::JobEvent),
}

/// Idle ticks: lease renewal and the header's clock. Nothing is drawn unless something changed.
const TICK: Duration = Duration::from_secs(1);

/// Restores the terminal when dropped, whatever path leaves `run`.
struct RestoreGuard;

impl Drop for RestoreGuard {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// Runs the app in the real terminal until the user quits or a signal arrives.
pub fn run(mut app: App) -> anyhow::Result<()> {
    let tx = app.events();
    let rx = app
        .take_inbox()
        .ok_or_else(|| anyhow::anyhow!("the app's events are already read by another loop"))?;
    spawn_signal_thread(tx.clone())?;
    // ratatui::try_init also installs a panic hook that restores the terminal first.
    let mut terminal = ratatui::try_init()?;
    let guard = RestoreGuard;
    spawn_input_thread(tx);
    let result = run_loop(&mut terminal, &mut app, rx);
    drop(guard);
    app.wait_for_jobs(JOB_STOP_WAIT);
    result
}

/// How long leaving the app waits for a cancelled job to record its end.
const JOB_STOP_WAIT: Duration = Duration::from_secs(120);

pub fn run_loop<B: Backend>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    rx: Receiver<Event>,
) -> anyhow::Result<()> {
    let mut dirty = true;
    // Ticks keep their pace while events stream in (a job's steps, a fast typist): the lease
    // is renewed whatever else happens.
    let mut next_tick = Instant::now() + TICK;
    loop {
        if dirty {
            terminal.draw(|f| ui::render(app, f))?;
            dirty = false;
        }
        match rx.recv_timeout(next_tick.saturating_duration_since(Instant::now())) {
            Ok(e) => {
                dirty |= handle(terminal, app, e)?;
                // A burst of keys (a paste, a fast typist over SSH) is drawn once; a burst that
                // lasts past the tick gives way to it.
                while Instant::now() < next_tick {
                    let Ok(e) = rx.try_recv() else { break };
                    dirty |= handle(terminal, app, e)?;
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if Instant::now() >= next_tick {
            dirty |= app.tick();
            next_tick = Instant::now() + TICK;
        }
        if app.should_quit {
            break;
        }
    }
    Ok(())
}

fn handle<B: Backend>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    event: Event,
) -> anyhow::Result<bool> {
    Ok(match event {
        Event::Key(k) => app.on_key(k),
        Event::Resize => {
            terminal.autoresize()?;
            true
        }
        Event::Signal(_) => {
            app.quit();
            false
        }
        Event::Job(j) => app.on_job(j),
    })
}

fn spawn_input_thread(tx: Sender<Event>) {
    std::thread::spawn(move || loop {
        let ev = match event::read() {
            Ok(TermEvent::Key(k)) if k.kind == KeyEventKind::Press => Event::Key(k),
            Ok(TermEvent::Resize(..)) => Event::Resize,
            Ok(_) => continue,
            Err(_) => break,
        };
        if tx.send(ev).is_err() {
            break;
        }
    });
}

fn spawn_signal_thread(tx: Sender<Event>) -> anyhow::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGHUP, SIGINT])?;
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            let _ = tx.send(Event::Signal(sig));
        }
    });
    Ok(())
}

/// Headless mode for scripts and crash tests: reads one key name per line (as in keymap.toml)
/// and feeds it through the same `on_key` path, drawing into an in-memory 80x24 screen.
/// Prints `saved <ranking id>` as soon as each decision is durable.
pub fn run_script(mut app: App, input: impl BufRead) -> anyhow::Result<()> {
    app.label.on_saved = Some(Box::new(|id| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "saved {id}");
        let _ = out.flush();
    }));
    let mut terminal = Terminal::new(TestBackend::new(80, 24))?;
    terminal.draw(|f| ui::render(&app, f))?;
    for (n, line) in input.lines().enumerate() {
        let line = line?;
        let name = line.trim();
        if name.is_empty() || name.starts_with('#') {
            continue;
        }
        let key = Key::parse(name)
            .ok_or_else(|| anyhow::anyhow!("script line {}: unknown key {name:?}", n + 1))?;
        let before = app.session.status.clone();
        app.on_key(key_event(key));
        // No loop here: what a job said is taken in after each key.
        app.poll();
        // What an annotator would see as an error goes to stderr, so scripts and tests notice.
        if app.session.status != before
            && (app.session.status.starts_with("NOT saved")
                || app.session.status.starts_with("could not"))
        {
            eprintln!("line {}: {}", n + 1, app.session.status);
        }
        terminal.draw(|f| ui::render(&app, f))?;
        if app.should_quit {
            break;
        }
    }
    if !app.should_quit {
        app.quit();
    }
    app.wait_for_jobs(JOB_STOP_WAIT);
    Ok(())
}

/// The crossterm event a real terminal would send for `key`.
pub fn key_event(key: Key) -> KeyEvent {
    use crossterm::event::KeyCode;
    use keymap::KeyCodeRepr::*;
    let code = match key.code {
        Char(c) => KeyCode::Char(c),
        F(n) => KeyCode::F(n),
        Enter => KeyCode::Enter,
        Esc => KeyCode::Esc,
        Backspace => KeyCode::Backspace,
        Tab => KeyCode::Tab,
        BackTab => KeyCode::BackTab,
        Up => KeyCode::Up,
        Down => KeyCode::Down,
        Left => KeyCode::Left,
        Right => KeyCode::Right,
        PageUp => KeyCode::PageUp,
        PageDown => KeyCode::PageDown,
        Home => KeyCode::Home,
        End => KeyCode::End,
        Delete => KeyCode::Delete,
    };
    let mut mods = KeyModifiers::NONE;
    if key.ctrl {
        mods |= KeyModifiers::CONTROL;
    }
    if key.alt {
        mods |= KeyModifiers::ALT;
    }
    KeyEvent::new(code, mods)
}
