//! The archive: an SQLite database (WAL) holding every point ever fetched,
//! the collector's progress, and the intervals it could not collect.
//!
//! One file per concern: [`file`] (what is at the path), [`open`] (opening,
//! creating, configuring), [`migrate`] (the schema), [`codec`] (how values
//! and times are stored), [`write`] and [`read`] (the store's own input and
//! output types in, rows out), [`maintenance`] (compaction, checkpoints,
//! snapshots) and [`error`].

pub mod codec;
mod error;
mod file;
pub mod history;
mod maintenance;
mod migrate;
mod open;
pub mod read;
mod write;

use std::path::{Path, PathBuf};

use rusqlite::Connection;

pub use codec::{
    BUCKET_EPOCH, END_BUCKET, FIRST_BUCKET, VALUE_SQL, bucket_in_range, bucket_of, decode_value,
    encode_value, first_bucket_from, points_sql, ts_of,
};
pub use error::{Result, StoreError, sqlite_is_io, sqlite_message};
pub use file::{is_archive_file, kind_of, not_a_file_path};
pub use history::{HistoryFetch, RepairDue, RepairStatus, Unrepairable};
pub use migrate::{APPLICATION_ID, MIGRATIONS, Migrated, latest_version};
pub use write::{Fetch, FetchedSeries, Lost};

/// What one write did to the archive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Buckets that were not archived before.
    pub new: u64,
    /// Buckets whose value changed.
    pub revised: u64,
    /// Buckets re-fetched with the value already archived.
    pub unchanged: u64,
    /// 5-minute points not stored because their slot holds 30-second
    /// points (real-time wins).
    pub covered: u64,
}

impl std::ops::AddAssign for WriteStats {
    fn add_assign(&mut self, o: Self) {
        self.new += o.new;
        self.revised += o.revised;
        self.unchanged += o.unchanged;
        self.covered += o.covered;
    }
}

/// How the database is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Create the file if needed (collect, import, demo).
    Create,
    /// The archive must exist, and is written (compact).
    Existing,
    /// The archive must exist, and is only read (query, status, report,
    /// export, indicators, sql): opened read-only, so that nothing is
    /// created, migrated or switched; where SQLite's `-shm` file cannot be
    /// created or opened (a read-only directory or mount), the file is read
    /// as an immutable snapshot, without what is still in its WAL.
    Read,
}

/// An open archive.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// The connection, to install hooks on (`sql`'s authorizer).
    pub fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

#[cfg(test)]
mod open_tests;
#[cfg(test)]
mod tests;
