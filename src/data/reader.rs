//! Reading JSONL input: plain or gzip (by magic bytes), one bounded line at a time,
//! so memory stays constant whatever the file size and a huge line is an error, not an OOM.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use flate2::read::MultiGzDecoder;

/// Lines longer than this are rejected (and skipped without being held in memory).
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// Opens a file for line reading, decompressing it when it starts with the gzip magic.
pub fn open_input(path: &Path) -> io::Result<Box<dyn BufRead + Send>> {
    let mut file = BufReader::with_capacity(1 << 20, File::open(path)?);
    let head = file.fill_buf()?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(BufReader::with_capacity(
            1 << 20,
            MultiGzDecoder::new(file),
        )))
    } else {
        Ok(Box::new(file))
    }
}

#[derive(Debug)]
pub enum LineProblem {
    TooLong,
    InvalidUtf8 { byte: usize },
}

/// Yields numbered lines (1-based) without their line ending.
pub struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    line_no: u64,
    max: usize,
}

impl<R: BufRead> LineReader<R> {
    pub fn new(inner: R) -> Self {
        Self::with_limit(inner, MAX_LINE_BYTES)
    }

    pub fn with_limit(inner: R, max: usize) -> Self {
        LineReader {
            inner,
            buf: Vec::new(),
            line_no: 0,
            max,
        }
    }

    /// The next line: `Ok(None)` at the end, `Err` for I/O errors (e.g. truncated gzip),
    /// `Ok(Some((n, Err(problem))))` for a line that cannot be used.
    #[allow(clippy::type_complexity)]
    pub fn next_line(&mut self) -> io::Result<Option<(u64, Result<&str, LineProblem>)>> {
        self.buf.clear();
        let mut too_long = false;
        let mut saw_any = false;
        loop {
            let avail = match self.inner.fill_buf() {
                Ok(a) => a,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if avail.is_empty() {
                if !saw_any {
                    return Ok(None);
                }
                break;
            }
            saw_any = true;
            let (chunk, found_newline) = match memchr(b'\n', avail) {
                Some(i) => (&avail[..i], Some(i)),
                None => (avail, None),
            };
            if !too_long {
                if self.buf.len() + chunk.len() > self.max {
                    too_long = true;
                    self.buf.clear();
                    self.buf.shrink_to(64 * 1024);
                } else {
                    self.buf.extend_from_slice(chunk);
                }
            }
            let used = found_newline.map_or(avail.len(), |i| i + 1);
            self.inner.consume(used);
            if found_newline.is_some() {
                break;
            }
        }
        self.line_no += 1;
        if too_long {
            return Ok(Some((self.line_no, Err(LineProblem::TooLong))));
        }
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        match std::str::from_utf8(&self.buf) {
            Ok(s) => Ok(Some((self.line_no, Ok(s)))),
            Err(e) => Ok(Some((
                self.line_no,
                Err(LineProblem::InvalidUtf8 {
                    byte: e.valid_up_to() + 1,
                }),
            ))),
        }
    }

    /// Number of the last line read (0 before the first).
    pub fn line_no(&self) -> u64 {
        self.line_no
    }

    /// The raw bytes of the last line read (for reject files), lossily decoded.
    pub fn last_raw_lossy(&self) -> String {
        String::from_utf8_lossy(&self.buf).into_owned()
    }
}

fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], max: usize) -> Vec<(u64, String)> {
        let mut r = LineReader::with_limit(input, max);
        let mut out = Vec::new();
        while let Some((n, l)) = r.next_line().unwrap() {
            out.push((
                n,
                match l {
                    Ok(s) => s.to_string(),
                    Err(LineProblem::TooLong) => "<too long>".into(),
                    Err(LineProblem::InvalidUtf8 { byte }) => format!("<utf8 {byte}>"),
                },
            ));
        }
        out
    }

    #[test]
    fn splits_and_numbers_lines() {
        let got = lines(b"a\r\nbb\n\nccc", 100);
        assert_eq!(
            got,
            vec![
                (1, "a".into()),
                (2, "bb".into()),
                (3, "".into()),
                (4, "ccc".into())
            ]
        );
    }

    #[test]
    fn long_line_is_reported_and_skipped() {
        let got = lines(b"ok\n0123456789abcdef\nafter\n", 8);
        assert_eq!(got[1], (2, "<too long>".into()));
        assert_eq!(got[2], (3, "after".into()));
    }

    #[test]
    fn invalid_utf8_names_the_byte() {
        let got = lines(b"ab\xffcd\n", 100);
        assert_eq!(got[0], (1, "<utf8 3>".into()));
    }
}
