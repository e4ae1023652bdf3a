//! Guards for the files a command writes: an output that is also one of
//! its inputs is refused before anything is opened for writing, and one
//! process at a time writes an output (a lock file beside it).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("{option} {path} is also {input_option}: writing it would destroy the input; choose another {option}")]
    SameAsInput {
        option: String,
        input_option: String,
        path: PathBuf,
    },
    #[error(
        "{path} is being written by another lswag-studio process (pid {pid}); wait for it to finish, or use another output (its lock is {lock})"
    )]
    Locked { path: PathBuf, pid: u32, lock: PathBuf },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// The path an output will have, resolved through symbolic links and `..`
/// where it exists (its parent where it does not), so that two spellings
/// of one file compare equal.
fn resolved(path: &Path) -> PathBuf {
    if let Ok(p) = path.canonicalize() {
        return p;
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    match (parent.canonicalize(), path.file_name()) {
        (Ok(dir), Some(name)) => dir.join(name),
        _ => path.to_path_buf(),
    }
}

/// Refuses `out` (given as `option`) when it is the same file as one of
/// `inputs` (each with the option that named it).
pub fn refuse_output_as_input(option: &str, out: &Path, inputs: &[(&str, &Path)]) -> Result<(), OutputError> {
    let target = resolved(out);
    match inputs.iter().find(|(_, input)| resolved(input) == target) {
        Some((input_option, _)) => Err(OutputError::SameAsInput {
            option: option.to_string(),
            input_option: input_option.to_string(),
            path: out.to_path_buf(),
        }),
        None => Ok(()),
    }
}

/// Held while a process writes an output: `<out>.lock` holds its pid. A
/// lock whose process is gone (killed) is taken over; dropping the guard
/// removes it.
#[derive(Debug)]
pub struct OutputLock {
    lock: PathBuf,
}

impl OutputLock {
    pub fn lock_path(out: &Path) -> PathBuf {
        let mut name = out.file_name().unwrap_or_default().to_os_string();
        name.push(".lock");
        out.with_file_name(name)
    }

    pub fn acquire(out: &Path) -> Result<OutputLock, OutputError> {
        let lock = Self::lock_path(out);
        let io = |source| OutputError::Io {
            path: lock.clone(),
            source,
        };
        // Two tries: the second after removing a stale lock.
        for _ in 0..2 {
            match OpenOptions::new().write(true).create_new(true).open(&lock) {
                Ok(mut f) => {
                    writeln!(f, "{}", std::process::id()).map_err(io)?;
                    return Ok(OutputLock { lock });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder = std::fs::read_to_string(&lock)
                        .ok()
                        .and_then(|s| s.trim().parse::<u32>().ok());
                    match holder {
                        Some(pid) if pid != std::process::id() && crate::archive::process_alive(pid) => {
                            return Err(OutputError::Locked {
                                path: out.to_path_buf(),
                                pid,
                                lock,
                            });
                        }
                        // A killed writer's lock, or one this process left
                        // (a job cancelled and restarted in the app).
                        _ => match std::fs::remove_file(&lock) {
                            Ok(()) => {}
                            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                            Err(e) => return Err(io(e)),
                        },
                    }
                }
                Err(e) => return Err(io(e)),
            }
        }
        Err(io(std::io::Error::other("another process keeps taking the lock")))
    }
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.lock);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("lswag-output-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn an_output_spelled_differently_from_its_input_is_still_refused() {
        let dir = temp_dir("same");
        let input = dir.join("archive.json");
        std::fs::write(&input, "{}").unwrap();
        let other_spelling = dir.join("sub/../archive.json");
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        let err = refuse_output_as_input("--out", &other_spelling, &[("--archive", &input)]).unwrap_err();
        assert!(err.to_string().contains("also --archive"), "{err}");
        // A new file beside it is fine, and the input is untouched.
        refuse_output_as_input("--out", &dir.join("log.jsonl"), &[("--archive", &input)]).unwrap();
        assert_eq!(std::fs::read_to_string(&input).unwrap(), "{}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_live_lock_refuses_and_a_dead_ones_is_taken_over() {
        let dir = temp_dir("lock");
        let out = dir.join("scores.jsonl");
        let lock = OutputLock::lock_path(&out);
        assert_eq!(lock, dir.join("scores.jsonl.lock"));
        // pid 1 is always alive on Linux.
        std::fs::write(&lock, "1\n").unwrap();
        let err = OutputLock::acquire(&out).unwrap_err();
        assert!(err.to_string().contains("pid 1"), "{err}");
        // A pid above Linux's pid_max (2^22) cannot be alive: a killed writer.
        std::fs::write(&lock, "4194305\n").unwrap();
        let held = OutputLock::acquire(&out).unwrap();
        assert_eq!(
            std::fs::read_to_string(&lock).unwrap().trim(),
            std::process::id().to_string()
        );
        drop(held);
        assert!(!lock.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
