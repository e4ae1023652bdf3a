//! JSON-lines logs that survive a kill: a writer killed mid-line leaves a
//! cut-off last line, which reading drops and appending overwrites.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::Path;

use serde::Serialize;

/// The complete lines of a log, in order (line `i + 1` of the file is
/// `lines[i]`), and the byte length they span.
#[derive(Clone, Debug, Default)]
pub struct CompleteLines {
    pub lines: Vec<String>,
    pub valid_len: u64,
}

pub fn read_complete(path: &Path) -> io::Result<CompleteLines> {
    let mut reader = BufReader::new(File::open(path)?);
    let mut out = CompleteLines::default();
    let mut buf = String::new();
    loop {
        buf.clear();
        let n = reader.read_line(&mut buf)?;
        if n == 0 || !buf.ends_with('\n') {
            return Ok(out);
        }
        out.valid_len += n as u64;
        out.lines.push(std::mem::take(&mut buf));
    }
}

/// The header (first line) of an existing log as `T`; `None` where there
/// is no readable file or its first line is not such a header. Reads that
/// one line only.
pub fn read_header<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    let mut line = String::new();
    BufReader::new(File::open(path).ok()?).read_line(&mut line).ok()?;
    serde_json::from_str(&line).ok()
}

/// Whether a log holds nothing a new run would lose: it was cut off inside
/// its header line, or holds its header alone (a run refused or failed
/// before its first result). `header_start` is how this kind of log's
/// header begins (for a header cut short); `is_header` recognises a whole
/// one. A file of another kind is never taken for an empty log, so it is
/// never overwritten as one.
pub fn holds_only_header(path: &Path, header_start: &[u8], is_header: impl Fn(&str) -> bool) -> io::Result<bool> {
    let read = read_complete(path)?;
    let ours = match read.lines.first() {
        Some(h) => is_header(h),
        None => {
            let mut start = Vec::with_capacity(header_start.len());
            File::open(path)?
                .take(header_start.len() as u64)
                .read_to_end(&mut start)?;
            start == header_start
        }
    };
    Ok(ours && read.lines.iter().skip(1).all(|l| l.trim().is_empty()))
}

/// Creates (or truncates) a log and writes its header line.
pub fn create<T: Serialize>(path: &Path, header: &T) -> io::Result<File> {
    let mut file = File::create(path)?;
    append_json(&mut file, header)?;
    Ok(file)
}

/// Opens `path` for appending after its first `valid_len` bytes (what
/// [`read_complete`] read), dropping a cut-off last line.
pub fn append_after(path: &Path, valid_len: u64) -> io::Result<File> {
    OpenOptions::new().write(true).open(path)?.set_len(valid_len)?;
    OpenOptions::new().append(true).open(path)
}

/// Writes one value as a line and flushes it, so a kill loses at most the
/// line in flight.
pub fn append_json<T: Serialize>(file: &mut File, value: &T) -> io::Result<()> {
    let json = serde_json::to_string(value).map_err(io::Error::other)?;
    writeln!(file, "{json}")?;
    file.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_off_last_line_is_dropped_and_overwritten() {
        let path = std::env::temp_dir().join(format!("lswag-jsonl-{}.jsonl", std::process::id()));
        std::fs::write(&path, "{\"a\":1}\n{\"b\":2}\n{\"c\":").unwrap();
        let read = read_complete(&path).unwrap();
        assert_eq!(read.lines, vec!["{\"a\":1}\n", "{\"b\":2}\n"]);
        assert_eq!(read.valid_len, 16);
        let mut f = append_after(&path, read.valid_len).unwrap();
        append_json(&mut f, &serde_json::json!({"d": 4})).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"a\":1}\n{\"b\":2}\n{\"d\":4}\n"
        );
        let _ = std::fs::remove_file(&path);
    }
}
