//! Files written under a temporary name beside the target, synced, then renamed into place: a
//! killed process leaves the old file or the new one, never half of one. Every file kibble
//! writes for the user (exports, reports, rejected lines, checkpoints) goes through here.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// `target` with `suffix` appended to its name (`a.jsonl` -> `a.jsonl.tmp123`).
pub fn sibling(target: &Path, suffix: &str) -> PathBuf {
    let mut s = target.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// The temporary name a file is written under before it is renamed to `target`.
pub fn temp_name(target: &Path) -> PathBuf {
    sibling(target, &format!(".tmp{}", std::process::id()))
}

/// A file written under a temporary name and renamed into place only on `commit`; dropped
/// without a commit, the temporary file is removed and the target is untouched.
pub struct AtomicFile {
    target: PathBuf,
    tmp: PathBuf,
    out: Option<BufWriter<std::fs::File>>,
}

impl AtomicFile {
    pub fn create(target: &Path) -> std::io::Result<AtomicFile> {
        let tmp = temp_name(target);
        let f = std::fs::File::create(&tmp)?;
        Ok(AtomicFile {
            target: target.to_path_buf(),
            tmp,
            out: Some(BufWriter::new(f)),
        })
    }

    pub fn writer(&mut self) -> &mut dyn Write {
        self.out.as_mut().expect("writer used after commit")
    }

    pub fn commit(mut self) -> std::io::Result<()> {
        if let Some(w) = self.out.take() {
            let f = w.into_inner().map_err(|e| e.into_error())?;
            f.sync_all()?;
        }
        let renamed = std::fs::rename(&self.tmp, &self.target);
        if renamed.is_err() {
            let _ = std::fs::remove_file(&self.tmp);
        }
        renamed
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.out.is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Writes `bytes` to `target` atomically.
pub fn write_atomically(target: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = AtomicFile::create(target)?;
    f.writer().write_all(bytes)?;
    f.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_file_leaves_the_old_one_and_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.jsonl");
        write_atomically(&target, b"old").unwrap();
        {
            let mut f = AtomicFile::create(&target).unwrap();
            f.writer().write_all(b"half").unwrap();
        }
        assert_eq!(std::fs::read(&target).unwrap(), b"old");
        assert!(!temp_name(&target).exists());
        let mut f = AtomicFile::create(&target).unwrap();
        f.writer().write_all(b"new").unwrap();
        f.commit().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
    }
}
