//! Exit codes, documented in the README, and how errors map onto them.

use std::process::ExitCode;

use crate::api::FetchError;
use crate::config::ConfigError;
use crate::credentials::CredentialsError;
use crate::import::ImportError;
use crate::lock::{LockError, LockFileError, LockHeld};
use crate::notify::SendError;
use crate::pacer::QuotaExhausted;
use crate::report::RenderError;
use crate::samples::{BadLine, InputError};
use crate::store::StoreError;

/// Success.
pub const SUCCESS: u8 = 0;
/// The job ran but did not fully succeed: a `--once` pass in which some
/// window failed after retries (what succeeded is stored), `status
/// --max-lag` finding a lagging series, `import` with rejected lines.
pub const FAILURE: u8 = 1;
/// Usage or configuration error; nothing was done.
pub const USAGE: u8 = 2;
/// The database cannot be opened, read or written (missing, read-only, disk full).
pub const STORAGE: u8 = 74;
/// Another collector holds the lock on this database.
pub const LOCKED: u8 = 75;

/// A usage error that is not clap's: a bad flag value combination, a
/// missing database path. Exits 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// An error of this library that knows the documented exit code it stands
/// for. Every error type of the library implements it (a test below keeps
/// it so), each with an exhaustive `match`, so that a new error type or
/// variant cannot fall through to a code by accident.
pub trait Exit: std::error::Error + Send + Sync + 'static {
    /// The exit code, or `None` when the error only wraps a cause that
    /// decides.
    fn exit_code(&self) -> Option<u8>;
}

/// The error types [`code_for`] asks, in this order, and their names.
macro_rules! classified {
    ($($ty:ty),* $(,)?) => {
        fn classify(cause: &(dyn std::error::Error + 'static)) -> Option<u8> {
            $(
                if let Some(e) = cause.downcast_ref::<$ty>() {
                    return Exit::exit_code(e);
                }
            )*
            None
        }

        #[cfg(test)]
        const CLASSIFIED: &[&str] = &[$(stringify!($ty)),*];
    };
}

classified!(
    UsageError,
    ConfigError,
    CredentialsError,
    LockError,
    LockHeld,
    LockFileError,
    ImportError,
    InputError,
    BadLine,
    StoreError,
    FetchError,
    RenderError,
    QuotaExhausted,
    SendError,
    rusqlite::Error,
);

/// Chooses the exit code for an error by what caused it: the first cause
/// in its chain that is one of the library's errors and decides; anything
/// else (an I/O error writing the output, say) is a failure.
pub fn code_for(err: &anyhow::Error) -> u8 {
    err.chain().find_map(classify).unwrap_or(FAILURE)
}

impl Exit for UsageError {
    fn exit_code(&self) -> Option<u8> {
        Some(USAGE)
    }
}

impl Exit for ConfigError {
    fn exit_code(&self) -> Option<u8> {
        Some(USAGE)
    }
}

impl Exit for CredentialsError {
    fn exit_code(&self) -> Option<u8> {
        Some(match self {
            CredentialsError::Missing { .. }
            | CredentialsError::Half { .. }
            | CredentialsError::BadFile { .. } => USAGE,
        })
    }
}

impl Exit for LockError {
    fn exit_code(&self) -> Option<u8> {
        match self {
            LockError::Held(e) => e.exit_code(),
            LockError::File(e) => e.exit_code(),
        }
    }
}

impl Exit for LockHeld {
    fn exit_code(&self) -> Option<u8> {
        Some(LOCKED)
    }
}

impl Exit for LockFileError {
    fn exit_code(&self) -> Option<u8> {
        Some(STORAGE)
    }
}

impl Exit for ImportError {
    fn exit_code(&self) -> Option<u8> {
        match self {
            ImportError::Header(_) => Some(USAGE),
            ImportError::Thread(_) | ImportError::Input { .. } => Some(FAILURE),
            // the store's error decides
            ImportError::Store { .. } => None,
        }
    }
}

/// `import` exits 1 when it rejected lines (the good ones are stored).
impl Exit for BadLine {
    fn exit_code(&self) -> Option<u8> {
        Some(FAILURE)
    }
}

impl Exit for InputError {
    fn exit_code(&self) -> Option<u8> {
        Some(FAILURE)
    }
}

impl Exit for StoreError {
    fn exit_code(&self) -> Option<u8> {
        Some(match self {
            StoreError::Sqlite(e) => return e.exit_code(),
            StoreError::Missing(_)
            | StoreError::ReadOnly(_)
            | StoreError::Unusable(..)
            | StoreError::TooNew { .. }
            | StoreError::NotAnArchivePath(_) => STORAGE,
            StoreError::NotAnArchive
            | StoreError::Migration { .. }
            | StoreError::OutOfRange { .. }
            | StoreError::Inconsistent(_)
            | StoreError::Invalid(_) => FAILURE,
        })
    }
}

impl Exit for FetchError {
    fn exit_code(&self) -> Option<u8> {
        Some(match self {
            FetchError::Transport(_)
            | FetchError::Throttled { .. }
            | FetchError::Server { .. }
            | FetchError::BadAnswer { .. }
            | FetchError::Rejected { .. }
            | FetchError::Cancelled => FAILURE,
        })
    }
}

/// Requests left undone for the quota: the job did not fully succeed.
impl Exit for QuotaExhausted {
    fn exit_code(&self) -> Option<u8> {
        Some(FAILURE)
    }
}

impl Exit for RenderError {
    fn exit_code(&self) -> Option<u8> {
        Some(match self {
            RenderError::Chart(_)
            | RenderError::Json(_)
            | RenderError::Csv(_)
            | RenderError::Io(_) => FAILURE,
        })
    }
}

/// About the database file itself (unreadable, read-only, disk full,
/// locked, corrupt): 74; about a statement: 1.
impl Exit for rusqlite::Error {
    fn exit_code(&self) -> Option<u8> {
        Some(if crate::store::sqlite_is_io(self) {
            STORAGE
        } else {
            FAILURE
        })
    }
}

/// Whether the error is a closed stdout (`query ... | head`): not a failure.
/// The writers in between (CSV, JSON) wrap the I/O error in their own, and
/// `?` may wrap theirs in an `io::Error` again.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(io_broken_pipe)
            || c.downcast_ref::<csv::Error>().is_some_and(csv_broken_pipe)
            || c.downcast_ref::<serde_json::Error>()
                .and_then(serde_json::Error::io_error_kind)
                .is_some_and(|k| k == std::io::ErrorKind::BrokenPipe)
    })
}

fn io_broken_pipe(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::BrokenPipe
        || e.get_ref()
            .and_then(|inner| inner.downcast_ref::<csv::Error>())
            .is_some_and(csv_broken_pipe)
}

fn csv_broken_pipe(e: &csv::Error) -> bool {
    matches!(e.kind(), csv::ErrorKind::Io(io) if io_broken_pipe(io))
}

pub fn exit_code(code: u8) -> ExitCode {
    ExitCode::from(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names of the types that derive `thiserror::Error` or implement
    /// `std::error::Error` anywhere in src/.
    fn error_types() -> Vec<(String, String)> {
        let mut found = Vec::new();
        let mut dirs = vec![std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src"
        ))];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                let lines: Vec<&str> = text.lines().collect();
                for (i, line) in lines.iter().enumerate() {
                    let line = line.trim();
                    let name = if line.starts_with("#[derive(") && line.contains("Error") {
                        // the type the derive belongs to
                        lines[i + 1..].iter().find_map(|l| {
                            let l = l.trim();
                            ["pub struct ", "pub enum ", "struct ", "enum "]
                                .iter()
                                .find_map(|k| l.strip_prefix(k))
                        })
                    } else {
                        line.strip_prefix("impl std::error::Error for ")
                    };
                    if let Some(name) = name {
                        let name: String = name
                            .chars()
                            .take_while(|c| c.is_alphanumeric() || *c == '_')
                            .collect();
                        found.push((name, path.display().to_string()));
                    }
                }
            }
        }
        found
    }

    #[test]
    fn every_error_type_of_the_library_has_an_exit_code() {
        let types = error_types();
        assert!(types.iter().any(|(n, _)| n == "StoreError"), "{types:?}");
        for (name, file) in types {
            assert!(
                CLASSIFIED
                    .iter()
                    .any(|c| c.rsplit("::").next() == Some(name.as_str())),
                "{name} ({file}) is an error type without an exit code: implement exit::Exit \
                 for it and add it to classified!"
            );
        }
    }

    #[test]
    fn causes_decide_in_chain_order() {
        let store = anyhow::Error::new(StoreError::Missing("a.db".into())).context("opening");
        assert_eq!(code_for(&store), STORAGE);
        let usage = anyhow::Error::new(UsageError("bad".into()));
        assert_eq!(code_for(&usage), USAGE);
        let header = anyhow::Error::new(ImportError::Header("line 1: x".into()));
        assert_eq!(code_for(&header), USAGE);
        let other = anyhow::anyhow!("something else");
        assert_eq!(code_for(&other), FAILURE);
    }
}
