//! What can go wrong with the archive, said in one line: which file, what
//! is wrong with it, and what to do.

use std::path::{Path, PathBuf};

use thiserror::Error;

use super::codec::ts_of;
use crate::timeutil;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("{}: not an rtc-archiver database (it has other tables); pass --db with a new or existing archive file", .0.display())]
    NotAnArchivePath(PathBuf),
    #[error("not an rtc-archiver database (it has other tables)")]
    NotAnArchive,
    #[error(
        "the database has schema version {found}, newer than this rtc-archiver understands \
         (up to {supported}): upgrade rtc-archiver, or point --db at another file"
    )]
    TooNew { found: i64, supported: i64 },
    #[error("no archive at {}: run `rtc-archiver collect` (or `demo`) first, or pass --db FILE", .0.display())]
    Missing(PathBuf),
    /// The SQL of a migration is left out: one line, not the whole file.
    #[error("migration {name} failed: {}", sqlite_message(.error))]
    Migration {
        name: &'static str,
        error: rusqlite::Error,
    },
    #[error("{}: the archive is read-only (file or directory permissions, or a read-only filesystem); the collector must be able to write it", .0.display())]
    ReadOnly(PathBuf),
    #[error(
        "the archive holds a point outside {range} (bucket {bucket}: {time}), \
         stored by an older version; it cannot be written out as it is: pass --from/--to \
         to leave it out",
        range = timeutil::DATA_RANGE,
        time = timeutil::fmt_utc(ts_of(*.bucket))
    )]
    /// A stored point outside the archive's time range (from a version
    /// that did not enforce it), met by a read that may not leave it out.
    OutOfRange { series: i64, bucket: i64 },
    /// What is at the path cannot be an archive (a directory, a FIFO, an
    /// empty or foreign file), or cannot be created; nothing was changed.
    #[error("{} {}", .0.display(), .1)]
    Unusable(PathBuf, String),
    /// The archive's bookkeeping contradicts itself (a reset user_version,
    /// tables missing for its version); nothing was changed.
    #[error("the archive is inconsistent: {0}")]
    Inconsistent(String),
    #[error("{0}")]
    Invalid(String),
    /// Shown without the SQL rusqlite quotes in its messages.
    #[error("{}", sqlite_message(.0))]
    Sqlite(rusqlite::Error),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Sqlite(e)
    }
}

/// An SQLite error in one line: SQLite's own message, without the SQL text
/// rusqlite appends to errors about a statement (a migration file, a query).
pub fn sqlite_message(e: &rusqlite::Error) -> String {
    let text = match e {
        rusqlite::Error::SqlInputError { msg, .. } => msg.clone(),
        rusqlite::Error::SqliteFailure(_, Some(msg)) if !msg.is_empty() => msg.clone(),
        rusqlite::Error::SqliteFailure(f, _) => f.to_string(),
        e => e.to_string(),
    };
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl StoreError {
    /// Whether the error is about the database itself (unreadable, read-only,
    /// disk full, not an archive file) rather than about what we asked of it.
    pub fn is_io(&self) -> bool {
        match self {
            StoreError::Sqlite(e) => sqlite_is_io(e),
            StoreError::Missing(_) | StoreError::ReadOnly(_) | StoreError::Unusable(..) => true,
            _ => false,
        }
    }
}

impl StoreError {
    /// Another connection held the write lock longer than the busy timeout.
    pub fn is_busy(&self) -> bool {
        matches!(self, StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _))
            if matches!(e.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked))
    }
}

/// Whether an SQLite error is about the database file itself (unreadable,
/// read-only, disk full, locked, corrupt) rather than about a statement.
pub fn sqlite_is_io(e: &rusqlite::Error) -> bool {
    match e {
        rusqlite::Error::SqliteFailure(e, _) => matches!(
            e.code,
            rusqlite::ErrorCode::DiskFull
                | rusqlite::ErrorCode::ReadOnly
                | rusqlite::ErrorCode::CannotOpen
                | rusqlite::ErrorCode::SystemIoFailure
                | rusqlite::ErrorCode::PermissionDenied
                | rusqlite::ErrorCode::DatabaseBusy
                | rusqlite::ErrorCode::DatabaseLocked
                | rusqlite::ErrorCode::DatabaseCorrupt
                | rusqlite::ErrorCode::NotADatabase
        ),
        _ => false,
    }
}

/// An empty file is no archive to a reader.
pub(super) fn empty_file(path: &Path) -> StoreError {
    StoreError::Unusable(
        path.to_path_buf(),
        "is an empty file, not an archive (yet): pass --db with an archive, or run \
         `rtc-archiver collect` or `import` into it first"
            .into(),
    )
}

/// Whether an SQLite error says the file is damaged or not a database.
pub(super) fn is_damage(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if matches!(f.code, rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase))
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
