//! Exit codes, documented in the README, and how errors map onto them.

use std::process::ExitCode;

use crate::config::ConfigError;
use crate::credentials::CredentialsError;
use crate::lock::{LockFileError, LockHeld};
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

/// Chooses the exit code for an error by what caused it.
pub fn code_for(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if cause.is::<ConfigError>() || cause.is::<CredentialsError>() || cause.is::<UsageError>() {
            return USAGE;
        }
        if cause.is::<LockHeld>() {
            return LOCKED;
        }
        if cause.is::<LockFileError>() {
            return STORAGE;
        }
        if let Some(e) = cause.downcast_ref::<StoreError>() {
            return if e.is_io()
                || matches!(
                    e,
                    StoreError::TooNew { .. } | StoreError::NotAnArchivePath(_)
                ) {
                STORAGE
            } else {
                FAILURE
            };
        }
        if let Some(e) = cause.downcast_ref::<rusqlite::Error>() {
            return if crate::store::sqlite_is_io(e) {
                STORAGE
            } else {
                FAILURE
            };
        }
    }
    FAILURE
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
