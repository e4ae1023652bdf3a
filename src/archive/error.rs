//! The one error type of the archive layer. Every message names the file,
//! the place in it (a line, or a key path for nested JSON) and what was
//! expected, so a user can fix the input without reading our code.

use std::fmt;

/// Where in a file something went wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// 1-based line number (CSV, JSONL).
    Line(u64),
    /// 1-based line and the column header the cell belongs to (CSV).
    Cell { line: u64, column: String },
    /// Key path into nested JSON, outermost first.
    KeyPath(Vec<String>),
    /// The whole file.
    File,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Line(line) => write!(f, "line {line}"),
            Location::Cell { line, column } => write!(f, "line {line}, column `{column}`"),
            Location::KeyPath(path) => {
                write!(f, "key path ")?;
                for (i, part) in path.iter().enumerate() {
                    if i > 0 {
                        write!(f, " / ")?;
                    }
                    write!(f, "`{part}`")?;
                }
                Ok(())
            }
            Location::File => write!(f, "the file"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("cannot read `{file}`: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot write `{file}`: {source}")]
    Write {
        file: String,
        #[source]
        source: std::io::Error,
    },

    /// The bytes are not the expected syntax (truncated JSON, bad CSV quoting,
    /// wrong number of CSV fields, invalid UTF-8).
    #[error("`{file}` line {line}, column {column}: {message}")]
    Syntax {
        file: String,
        line: u64,
        column: u64,
        message: String,
    },

    /// Well-formed input holding the wrong thing at a place.
    #[error("`{file}` {at}: expected {expected}, found {found}")]
    Unexpected {
        file: String,
        at: Location,
        expected: String,
        found: String,
    },

    #[error("`{file}` {at}: duplicate architecture `{key}` (first seen at {first})")]
    DuplicateKey {
        file: String,
        at: Location,
        key: String,
        first: Location,
    },

    #[error(transparent)]
    BadKey(Box<BadKey>),

    #[error(
        "`{file}` {at}: architecture `{key}` is not in the archive it is attached to \
         (allow unknown keys to add it as a record without ground truth)"
    )]
    UnknownKey { file: String, at: Location, key: String },

    #[error(transparent)]
    Conflict(Box<Conflict>),

    #[error(
        "cannot combine archives of different search spaces: `{left_file}` is {left_space}, \
         `{right_file}` is {right_space}"
    )]
    SpaceMismatch {
        left_file: String,
        left_space: String,
        right_file: String,
        right_space: String,
    },

    /// The native header's schema version is one this build cannot read.
    #[error("`{file}`: archive schema version {found}: {reason}")]
    Version { file: String, found: u32, reason: String },

    /// A native archive whose bytes do not decode or whose content is
    /// inconsistent (bit rot, a truncated copy, a hand-edited file).
    #[error("`{file}` is not a valid native archive: {reason}")]
    Corrupt { file: String, reason: String },

    #[error("`{file}`: cannot tell its format: {reason}")]
    UnknownFormat { file: String, reason: String },

    #[error("no task `{task}` in {context}; its tasks are: {available}")]
    NoTask {
        task: String,
        context: String,
        available: String,
    },

    /// A request that does not fit the data (e.g. a CSV option naming a
    /// column twice).
    #[error("{context}: {message}")]
    Invalid { context: String, message: String },

    /// A reader's complaint about a file whose format was detected rather
    /// than named, saying which reader it went to (a CSV saved as `.json`
    /// reads as nonsense JSON otherwise).
    #[error("{inner}\n  (read as {format}: detected from the file's content and name)")]
    AsDetected {
        format: &'static str,
        inner: Box<ArchiveError>,
    },
}

/// A key the space cannot parse (boxed in [`ArchiveError`] to keep results small).
#[derive(Debug, thiserror::Error)]
#[error("`{file}` {at}: `{key}` is not a valid {space} architecture key: {reason}")]
pub struct BadKey {
    pub file: String,
    pub at: Location,
    pub key: String,
    pub space: String,
    pub reason: String,
}

/// Two sources disagree on a value (boxed in [`ArchiveError`]).
#[derive(Debug, thiserror::Error)]
#[error(
    "conflicting {what} for `{key}`: `{left_file}` has {left_value}, `{right_file}` has \
     {right_value} (choose one with a prefer rule: left or right)"
)]
pub struct Conflict {
    pub what: String,
    pub key: String,
    pub left_file: String,
    pub left_value: String,
    pub right_file: String,
    pub right_value: String,
}

impl ArchiveError {
    pub(crate) fn unexpected(
        file: &str,
        at: Location,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> ArchiveError {
        ArchiveError::Unexpected {
            file: file.to_string(),
            at,
            expected: expected.into(),
            found: found.into(),
        }
    }

    pub(crate) fn invalid(context: impl Into<String>, message: impl Into<String>) -> ArchiveError {
        ArchiveError::Invalid {
            context: context.into(),
            message: message.into(),
        }
    }
}

/// serde_json appends " at line L column C" to its messages; we report the
/// position in our own words (and for JSONL with the file's line), so strip it.
pub(crate) fn json_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(pos) => text[..pos].to_string(),
        None => text,
    }
}
