//! The real app in a real pseudo-terminal: hostile text never reaches the output stream, and
//! SIGTERM, SIGHUP, SIGINT and a panic all leave the terminal restored.

#![cfg(target_os = "linux")]

use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> std::path::PathBuf {
    assert_cmd::cargo::cargo_bin("kibble")
}

const ATTACKS: &[&str] = &[
    "clip \u{1b}]52;c;aGVsbG8=\u{7} done",
    "link \u{1b}]8;;http://evil.example\u{1b}\\click\u{1b}]8;;\u{1b}\\ end",
    "reset \u{1b}c and \u{1b}P1$qm\u{1b}\\ dcs \u{9b}31m c1 \u{202e}bidi\u{202c} \u{2066}iso\u{2069}",
];

struct Pty {
    child: Child,
    output: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    master: std::fs::File,
}

/// Starts kibble on `db` with an 80x24 pty as its controlling terminal.
fn spawn(db: &std::path::Path, env: &[(&str, &str)]) -> Pty {
    let (mut master, mut slave) = (0, 0);
    let ws = libc::winsize {
        ws_row: 24,
        ws_col: 80,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes two fds into the given ints.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &ws,
        )
    };
    assert_eq!(rc, 0, "openpty failed");
    let fd = |f: i32| unsafe { OwnedFd::from_raw_fd(libc::dup(f)) };
    let mut cmd = Command::new(bin());
    cmd.arg("--db").arg(db).args(["--annotator", "pty"]);
    cmd.env("TERM", "xterm-256color");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::from(fd(slave)))
        .stdout(Stdio::from(fd(slave)))
        .stderr(Stdio::from(fd(slave)));
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            libc::ioctl(0, libc::TIOCSCTTY as _, 0);
            Ok(())
        });
    }
    let child = cmd.spawn().unwrap();
    unsafe { libc::close(slave) };
    let master = unsafe { std::fs::File::from_raw_fd(master) };
    let output = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (out, mut reader) = (output.clone(), master.try_clone().unwrap());
    std::thread::spawn(move || {
        let mut buf = [0u8; 65536];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            out.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    Pty {
        child,
        output,
        master,
    }
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let t = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "the app did not exit"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn hostile_db(dir: &std::path::Path) -> std::path::PathBuf {
    let db = dir.join("pty.db");
    let line = serde_json::json!({"prompt": "Pick \u{1b}[2Jthe best\u{7}", "candidates": ATTACKS});
    let file = dir.join("h.jsonl");
    std::fs::write(&file, format!("{line}\n")).unwrap();
    assert!(Command::new(bin())
        .arg("--db")
        .arg(&db)
        .arg("import")
        .arg(&file)
        .status()
        .unwrap()
        .success());
    db
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn assert_restored(bytes: &[u8], what: &str) {
    let tail = &bytes[bytes.len().saturating_sub(400)..];
    assert!(
        contains(tail, b"\x1b[?1049l"),
        "{what}: alternate screen not left"
    );
    assert!(
        contains(tail, b"\x1b[?25h"),
        "{what}: cursor not shown again"
    );
}

#[test]
fn signals_restore_the_terminal_and_hostile_bytes_never_reach_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = hostile_db(dir.path());
    for (name, sig) in [
        ("SIGTERM", libc::SIGTERM),
        ("SIGHUP", libc::SIGHUP),
        ("SIGINT", libc::SIGINT),
    ] {
        let mut p = spawn(&db, &[]);
        std::thread::sleep(Duration::from_millis(1500));
        unsafe { libc::kill(p.child.id() as i32, sig) };
        let status = wait_exit(&mut p.child);
        std::thread::sleep(Duration::from_millis(200));
        let bytes = p.output.lock().unwrap().clone();
        assert!(status.success(), "{name}: exit {status:?}");
        assert!(
            contains(&bytes, "Pick".as_bytes()),
            "{name}: the prompt was never drawn"
        );
        assert_restored(&bytes, name);
        for bad in [
            &b"\x1b]52"[..],
            b"\x1b]8;",
            b"\x1bc",
            b"\x1bP",
            b"\x07",
            "\u{9b}".as_bytes(),
            "\u{202e}".as_bytes(),
            "\u{2066}".as_bytes(),
        ] {
            assert!(
                !contains(&bytes, bad),
                "{name}: hostile bytes {bad:?} reached the terminal"
            );
        }
        drop(p.master);
    }
}

#[test]
fn a_panic_leaves_the_terminal_restored() {
    let dir = tempfile::tempdir().unwrap();
    let db = hostile_db(dir.path());
    let mut p = spawn(&db, &[("KIBBLE_TEST_PANIC", "1")]);
    std::thread::sleep(Duration::from_millis(1500));
    use std::io::Write;
    p.master.write_all(b"j").unwrap();
    let status = wait_exit(&mut p.child);
    std::thread::sleep(Duration::from_millis(200));
    let bytes = p.output.lock().unwrap().clone();
    assert!(!status.success());
    assert_restored(&bytes, "panic");
}

#[test]
fn resizing_to_20x5_and_back_never_panics() {
    use std::os::fd::AsRawFd;
    let dir = tempfile::tempdir().unwrap();
    let db = hostile_db(dir.path());
    let mut p = spawn(&db, &[]);
    std::thread::sleep(Duration::from_millis(1200));
    for (rows, cols) in [(5u16, 20u16), (24, 80), (3, 7), (40, 120)] {
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: sets the pty size; the kernel sends SIGWINCH to the foreground process group.
        unsafe {
            libc::ioctl(p.master.as_raw_fd(), libc::TIOCSWINSZ, &ws);
            libc::kill(p.child.id() as i32, libc::SIGWINCH);
        }
        std::thread::sleep(Duration::from_millis(400));
        assert!(
            p.child.try_wait().unwrap().is_none(),
            "the app exited after a resize to {cols}x{rows}"
        );
    }
    unsafe { libc::kill(p.child.id() as i32, libc::SIGTERM) };
    assert!(wait_exit(&mut p.child).success());
    let bytes = p.output.lock().unwrap().clone();
    // Cells are drawn word by word (spaces are skipped), so look for the words.
    assert!(
        contains(&bytes, b"terminal") && contains(&bytes, b"small"),
        "no too-small message at 20x5"
    );
    assert_restored(&bytes, "resize");
}
