//! The archive: an SQLite database (WAL) holding every point ever fetched,
//! the collector's progress, and the intervals it could not collect.
//!
//! Writes are idempotent against the natural key (series, bucket): a
//! re-fetched bucket updates its value in place only if it changed, and the
//! points, the rollups they feed and the progress they justify are committed
//! in one transaction, so a crash never records progress for data that is
//! not stored.

mod migrate;
mod open;
pub mod read;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use thiserror::Error;

pub use migrate::{APPLICATION_ID, MIGRATIONS, Migrated, latest_version};
use open::{Access, Found};
pub use open::{is_archive_file, kind_of, not_a_file_path};

use crate::api::Answer;
use crate::planner::{FailureStreak, GapCause, Lost, Window, split_lost};
use crate::series::StreamKey;
use crate::{BUCKET_SECS, timeutil};

/// Bucket numbers count 30-second buckets from this instant (2026-01-01T00:00:00Z).
pub const BUCKET_EPOCH: i64 = 1_767_225_600;
const HOUR_BUCKETS: i64 = 3600 / BUCKET_SECS;
const DAY_HOURS: i64 = 24;

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
fn empty_file(path: &Path) -> StoreError {
    StoreError::Unusable(
        path.to_path_buf(),
        "is an empty file, not an archive (yet): pass --db with an archive, or run \
         `rtc-archiver collect` or `import` into it first"
            .into(),
    )
}

/// Whether an SQLite error says the file is damaged or not a database.
fn is_damage(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if matches!(f.code, rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase))
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// What one write did to the archive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Buckets that were not archived before.
    pub new: u64,
    /// Buckets whose value changed.
    pub revised: u64,
    /// Buckets re-fetched with the value already archived.
    pub unchanged: u64,
}

impl std::ops::AddAssign for WriteStats {
    fn add_assign(&mut self, o: Self) {
        self.new += o.new;
        self.revised += o.revised;
        self.unchanged += o.unchanged;
    }
}

/// A value as stored: hundredths when they read back bit for bit, else the
/// value itself. (`-0.0` is a REAL: INTEGER 0 reads back as `0.0`.)
pub fn encode_value(v: f64) -> SqlValue {
    let h = (v * 100.0).round();
    if h.abs() < 9.0e15 && ((h as i64) as f64 / 100.0).to_bits() == v.to_bits() {
        SqlValue::Integer(h as i64)
    } else {
        SqlValue::Real(v)
    }
}

/// The value a stored cell stands for.
pub fn decode_value(v: ValueRef<'_>) -> f64 {
    match v {
        ValueRef::Integer(h) => h as f64 / 100.0,
        ValueRef::Real(r) => r,
        // never written; the schema is STRICT ANY, so be total anyway
        ValueRef::Text(_) | ValueRef::Blob(_) | ValueRef::Null => f64::NAN,
    }
}

/// The bucket number of a bucket start. Times in the archive's range
/// ([`timeutil::DATA_FROM`], [`timeutil::DATA_TO`]) map exactly; others
/// saturate instead of wrapping (and are never stored).
pub fn bucket_of(ts: i64) -> i64 {
    ts.saturating_sub(BUCKET_EPOCH).div_euclid(BUCKET_SECS)
}

/// The start of a bucket number, Unix seconds (saturating, like [`bucket_of`]).
pub fn ts_of(bucket: i64) -> i64 {
    bucket
        .saturating_mul(BUCKET_SECS)
        .saturating_add(BUCKET_EPOCH)
}

/// The first bucket of the archive's time range.
pub const FIRST_BUCKET: i64 = (timeutil::DATA_FROM - BUCKET_EPOCH).div_euclid(BUCKET_SECS);
/// The first bucket after the archive's time range.
pub const END_BUCKET: i64 = (timeutil::DATA_TO - BUCKET_EPOCH).div_euclid(BUCKET_SECS);

/// Whether a bucket number lies in the archive's time range: the only ones
/// ever written.
pub fn bucket_in_range(bucket: i64) -> bool {
    (FIRST_BUCKET..END_BUCKET).contains(&bucket)
}

fn hour_of_bucket(bucket: i64) -> i64 {
    ts_of(bucket).div_euclid(3600)
}

fn first_bucket_of_hour(hour: i64) -> i64 {
    bucket_of(hour * 3600)
}

/// The SQL expression turning a stored `value` cell back into REAL.
pub const VALUE_SQL: &str = "CASE typeof(value) WHEN 'integer' THEN value / 100.0 ELSE value END";

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
    /// Opens (and if needed creates and migrates) the archive at `path`.
    /// Whatever is at `path` that is not an SQLite file is refused and left
    /// as it is.
    pub fn open(path: &Path, mode: OpenMode) -> Result<Store> {
        let mut found = open::inspect(path)?;
        if matches!(found, Found::Missing) && mode == OpenMode::Create {
            // if another process got there first, its archive is used
            open::create(path)?;
            found = open::inspect(path)?;
        }
        match (found, mode) {
            (Found::Missing, _) => Err(StoreError::Missing(path.to_path_buf())),
            (Found::Empty(_), OpenMode::Read) => Err(empty_file(path)),
            (Found::Database(canonical), OpenMode::Read) => Store::open_reader(path, &canonical),
            (Found::Empty(canonical) | Found::Database(canonical), _) => {
                Store::open_writer(path, &canonical)
            }
        }
    }

    /// Checks what is at `path` as `open` would, without opening or creating
    /// anything: for the commands that take the collector's lock first, so
    /// that a path that can never be opened leaves no lock file behind.
    pub fn check_path(path: &Path, mode: OpenMode) -> Result<()> {
        match (open::inspect(path)?, mode) {
            (Found::Missing, OpenMode::Create) => Ok(()),
            (Found::Missing, _) => Err(StoreError::Missing(path.to_path_buf())),
            (Found::Empty(_), OpenMode::Read) => Err(empty_file(path)),
            (Found::Empty(_) | Found::Database(_), _) => Ok(()),
        }
    }

    fn open_writer(path: &Path, canonical: &Path) -> Result<Store> {
        open::check_sidecars(canonical)?;
        let conn = open::connect(canonical, Access::ReadWrite)?;
        // SQLite opens a write-protected file read-only without a word
        if conn.is_readonly(rusqlite::MAIN_DB)? {
            return Err(StoreError::ReadOnly(path.to_path_buf()));
        }
        let mut store = Store {
            conn,
            path: path.to_path_buf(),
        };
        // a writable file in a directory where its -wal cannot be created
        let read_only = |e: StoreError| {
            if open::beside_unavailable(&e) {
                StoreError::ReadOnly(path.to_path_buf())
            } else {
                e
            }
        };
        let version = store.prepare().map_err(read_only)?;
        if version < latest_version() {
            migrate::migrate(&mut store.conn)?;
        }
        Ok(store)
    }

    fn open_reader(path: &Path, canonical: &Path) -> Result<Store> {
        let attempt = |access| -> Result<(Store, i64)> {
            let mut store = Store {
                conn: open::connect(canonical, access)?,
                path: path.to_path_buf(),
            };
            let version = store.prepare()?;
            Ok((store, version))
        };
        let (store, version) = match attempt(Access::ReadOnly) {
            Err(e) if open::beside_unavailable(&e) => {
                let wal = open::beside(canonical, "-wal");
                if std::fs::metadata(&wal).is_ok_and(|m| m.is_file() && m.len() > 0) {
                    tracing::warn!(
                        "{}: SQLite cannot create or open its shared-memory file here (a \
                         read-only directory?), so the database file is read alone: what is \
                         still in {} is not seen",
                        path.display(),
                        wal.display()
                    );
                }
                attempt(Access::Immutable)?
            }
            r => r?,
        };
        if version == 0 {
            // an empty SQLite database: no archive yet, and a reader makes none
            return Err(StoreError::Missing(path.to_path_buf()));
        }
        if version < latest_version() {
            // an archive of an earlier schema: migrated where the file can be
            // written (nothing else: the journal mode stays), then read as usual
            drop(store);
            let mut conn = open::connect(canonical, Access::ReadWrite)?;
            if conn.is_readonly(rusqlite::MAIN_DB)? {
                return Err(StoreError::Unusable(
                    path.to_path_buf(),
                    format!(
                        "has schema version {version}, older than this rtc-archiver reads \
                         ({}), and cannot be upgraded here (read-only): read it with the \
                         rtc-archiver that wrote it, or run this one's `collect --once` or \
                         `import` where the file can be written",
                        latest_version()
                    ),
                ));
            }
            conn.busy_timeout(Duration::from_secs(10))?;
            migrate::migrate(&mut conn)?;
            drop(conn);
            return Store::open_reader(path, canonical);
        }
        Ok(store)
    }

    /// Sets the connection up and reads the schema version, after checking
    /// that the archive is ours and sound; errors name the file.
    fn prepare(&mut self) -> Result<i64> {
        self.configure()
            .and_then(|()| migrate::check(&self.conn))
            .map_err(|e| match e {
                StoreError::NotAnArchive => StoreError::NotAnArchivePath(self.path.clone()),
                StoreError::Inconsistent(what) => StoreError::Unusable(
                    self.path.clone(),
                    format!(
                        "is an inconsistent archive: {what}; it was left as it is: restore it \
                         from a backup"
                    ),
                ),
                StoreError::Sqlite(e) if is_damage(&e) => StoreError::Unusable(
                    self.path.clone(),
                    format!(
                        "is damaged or not an SQLite database ({}); it was left as it is: \
                         restore it from a backup",
                        sqlite_message(&e)
                    ),
                ),
                e => e,
            })
    }

    /// An archive in memory, for tests.
    pub fn in_memory() -> Result<Store> {
        let mut conn = Connection::open_in_memory()?;
        migrate::migrate(&mut conn)?;
        Ok(Store {
            conn,
            path: PathBuf::from(":memory:"),
        })
    }

    fn configure(&mut self) -> Result<()> {
        self.conn.busy_timeout(Duration::from_secs(10))?;
        let readonly = self.conn.is_readonly(rusqlite::MAIN_DB)?;
        if !readonly {
            let fresh: i64 =
                self.conn
                    .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))?;
            if fresh == 0 {
                // Only takes effect before the first table exists.
                self.conn
                    .pragma_update(None, "page_size", open::PAGE_SIZE)?;
            }
            let mode: String =
                self.conn
                    .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
            if !mode.eq_ignore_ascii_case("wal") && !mode.eq_ignore_ascii_case("memory") {
                tracing::warn!(journal_mode = %mode, "could not switch the database to WAL");
            }
        }
        // FULL: a commit is on disk when it returns, even across power loss.
        self.conn.pragma_update(None, "synchronous", "FULL")?;
        // A writer's last act is a checkpoint ([`Store::checkpoint`], and
        // SQLite's own when the last connection closes): the archive is then
        // whole in the .db file, which can be copied alone. Between
        // checkpoints a commit costs one fsync of the WAL.
        self.conn
            .pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
        self.conn.pragma_update(None, "foreign_keys", "ON")?;
        self.conn.pragma_update(None, "cache_size", -16_000)?;
        Ok(())
    }

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

    /// The id of a stream, created on first use.
    pub fn stream_id(&mut self, key: &StreamKey) -> Result<i64> {
        stream_id_in(&self.conn, key)
    }

    /// Each requested indicator's progress: the first bucket not yet fetched
    /// (`None` for a stream or indicator never fetched). Writes nothing.
    pub fn feed_progress(
        &self,
        key: &StreamKey,
        indicators: &[String],
    ) -> Result<Vec<Option<i64>>> {
        let Some(stream) = find_stream(&self.conn, key)? else {
            return Ok(vec![None; indicators.len()]);
        };
        let mut stmt = self
            .conn
            .prepare_cached("SELECT done_ts FROM feeds WHERE stream_id = ?1 AND indicator = ?2")?;
        indicators
            .iter()
            .map(|ind| {
                Ok(stmt
                    .query_row(params![stream, ind], |r| r.get(0))
                    .optional()?)
            })
            .collect()
    }

    /// Records intervals that can no longer be fetched as gaps, and moves the
    /// feeds' progress past them, in one transaction.
    pub fn record_lost(
        &mut self,
        key: &StreamKey,
        indicators: &[String],
        lost: &[Lost],
        now: i64,
    ) -> Result<()> {
        if lost.is_empty() {
            return Ok(());
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let stream = stream_id_in(&tx, key)?;
        let (last_error, last_error_at, failing_since): (Option<String>, Option<i64>, Option<i64>) =
            tx.query_row(
                "SELECT last_error, last_error_at, failing_since FROM streams WHERE id = ?1",
                [stream],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
        let streak = last_error_at.map(|last| FailureStreak {
            since: failing_since.unwrap_or(last),
            last,
        });
        for l in lost {
            let indicator = &indicators[l.feed];
            for (start, end, cause) in split_lost(l.start, l.end, streak, key.source.delay_secs()) {
                let detail = match cause {
                    GapCause::FetchFailed => format!(
                        "requests kept failing until the interval slid out of the API's \
                         60-minute reach; last error: {}",
                        last_error.as_deref().unwrap_or("unknown")
                    ),
                    GapCause::NotCollected => "no collector pass fetched the interval before it \
                         slid out of the API's 60-minute reach (collector not running, or the \
                         indicator not configured)"
                        .to_string(),
                };
                let cause = cause.as_str();
                // A loss that continues the previous one for the same cause (the
                // API stayed down, pass after pass) extends it: one row per lost
                // interval.
                let extended = tx.execute(
                    "UPDATE gap_log SET end_ts = ?4, detail = ?6, recorded_at = ?7
                     WHERE stream_id = ?1 AND indicator = ?2 AND end_ts = ?3 AND cause = ?5",
                    params![stream, indicator, start, end, cause, detail, now],
                )?;
                if extended == 0 {
                    tx.execute(
                        "INSERT INTO gap_log (stream_id, indicator, start_ts, end_ts, cause, detail, recorded_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                         ON CONFLICT (stream_id, indicator, start_ts) DO UPDATE SET
                           end_ts = max(end_ts, excluded.end_ts), cause = excluded.cause,
                           detail = excluded.detail, recorded_at = excluded.recorded_at",
                        params![stream, indicator, start, end, cause, detail, now],
                    )?;
                }
            }
            tx.execute(
                "UPDATE feeds SET done_ts = max(done_ts, ?3) WHERE stream_id = ?1 AND indicator = ?2",
                params![stream, indicator, l.end],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Stores one answer: its points, the rollups they change, the feeds'
    /// progress and the stream's bookkeeping, all in one transaction.
    #[allow(clippy::too_many_arguments)]
    pub fn store_answer(
        &mut self,
        key: &StreamKey,
        indicators: &[String],
        window: Window,
        answer: &Answer,
        attempts: u32,
        now: i64,
    ) -> Result<WriteStats> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let stream = stream_id_in(&tx, key)?;
        let mut stats = WriteStats::default();
        for series in &answer.series {
            let id = series_id_in(&tx, stream, &series.name, series.unit.as_deref())?;
            let points: Vec<(i64, SqlValue)> = series
                .points
                .iter()
                .map(|&(ts, v)| (bucket_of(ts), encode_value(v)))
                .collect();
            stats += upsert_series_points(&tx, id, &points)?;
        }
        for ind in indicators {
            tx.execute(
                "INSERT INTO feeds (stream_id, indicator, first_ts, done_ts) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (stream_id, indicator) DO UPDATE SET
                   first_ts = min(first_ts, excluded.first_ts),
                   done_ts = max(done_ts, excluded.done_ts)",
                params![stream, ind, window.start, window.done()],
            )?;
        }
        tx.execute(
            "UPDATE streams SET last_attempt_at = ?2, last_success_at = ?2,
                 last_error = NULL, last_error_at = NULL, failing_since = NULL WHERE id = ?1",
            params![stream, now],
        )?;
        bump_stats(
            &tx,
            stream,
            now,
            &StatsDelta {
                requests: attempts as i64,
                failures: attempts.saturating_sub(1) as i64,
                points_new: stats.new as i64,
                points_revised: stats.revised as i64,
                points_skipped: answer.skipped_total() as i64,
            },
        )?;
        tx.commit()?;
        Ok(stats)
    }

    /// Records a request (or retries of it) that failed for good.
    pub fn record_failure(
        &mut self,
        key: &StreamKey,
        attempts: u32,
        error: &str,
        now: i64,
    ) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let stream = stream_id_in(&tx, key)?;
        tx.execute(
            "UPDATE streams SET last_attempt_at = ?2, last_error = ?3, last_error_at = ?2,
                 failing_since = coalesce(failing_since, ?2) WHERE id = ?1",
            params![stream, now, error],
        )?;
        bump_stats(
            &tx,
            stream,
            now,
            &StatsDelta {
                requests: attempts as i64,
                failures: attempts as i64,
                ..StatsDelta::default()
            },
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Upserts points of many series at once (import): one transaction, the
    /// rollups kept in step. `rows` are (series id, bucket, stored value).
    pub fn upsert_points(&mut self, rows: &mut [(i64, i64, SqlValue)]) -> Result<WriteStats> {
        rows.sort_by_key(|r| (r.0, r.1));
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut stats = WriteStats::default();
        let mut start = 0;
        while start < rows.len() {
            let id = rows[start].0;
            let end = start + rows[start..].iter().take_while(|r| r.0 == id).count();
            let points: Vec<(i64, SqlValue)> = rows[start..end]
                .iter()
                .map(|r| (r.1, r.2.clone()))
                .collect();
            stats += upsert_series_points(&tx, id, &points)?;
            start = end;
        }
        tx.commit()?;
        Ok(stats)
    }

    /// The id of a series, created on first use (its unit updated if given).
    pub fn series_id(
        &mut self,
        key: &StreamKey,
        indicator: &str,
        unit: Option<&str>,
    ) -> Result<i64> {
        let stream = stream_id_in(&self.conn, key)?;
        series_id_in(&self.conn, stream, indicator, unit)
    }

    /// The size of the database file, in bytes (pages in use and free).
    pub fn file_bytes(&self) -> Result<u64> {
        let pages: i64 = self
            .conn
            .pragma_query_value(None, "page_count", |r| r.get(0))?;
        let size: i64 = self
            .conn
            .pragma_query_value(None, "page_size", |r| r.get(0))?;
        Ok((pages * size) as u64)
    }

    /// Points in the archive, from the rollups (no scan of the points).
    pub fn point_count(&self) -> Result<i64> {
        Ok(self.conn.query_row(
            "SELECT coalesce(sum(count), 0) FROM rollup_daily",
            [],
            |r| r.get(0),
        )?)
    }

    /// Rewrites the database with full pages (`VACUUM`): B-tree pages that
    /// rows were appended to one by one are left 85–90% full, a rebuilt one
    /// is packed. Needs the write lock for as long as it runs, and as much
    /// free disk as the archive's size. Returns the file size before and after.
    pub fn compact(&mut self) -> Result<(u64, u64)> {
        let before = self.file_bytes()?;
        self.conn.execute_batch("VACUUM")?;
        self.checkpoint()?;
        Ok((before, self.file_bytes()?))
    }

    /// Copies everything committed in the WAL into the database file and
    /// empties the WAL, so that the .db file alone holds the archive.
    /// Waits (up to the busy timeout) for readers that still use older
    /// pages; returns whether the WAL could be emptied (`false`: a reader
    /// kept it busy; what it could copy was copied and nothing is lost).
    pub fn checkpoint(&self) -> Result<bool> {
        let (busy, _log, _done): (i64, i64, i64) =
            self.conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?;
        Ok(busy == 0)
    }

    /// Writes a consistent snapshot of the archive to a new file at `out`
    /// (`VACUUM INTO`: packed pages, no WAL beside it), readable on its own
    /// even while a collector writes. `out` must not exist.
    pub fn snapshot_into(&self, out: &Path) -> Result<()> {
        let target = out.to_str().ok_or_else(|| {
            StoreError::Invalid(format!(
                "{}: the path is not valid UTF-8, which SQLite needs; choose another",
                out.display()
            ))
        })?;
        self.conn.execute("VACUUM INTO ?1", [target])?;
        Ok(())
    }

    /// Runs SQLite's integrity check; `Ok(())` if the database is sound.
    pub fn integrity_check(&self) -> Result<()> {
        let mut stmt = self.conn.prepare("PRAGMA integrity_check")?;
        let rows: Vec<String> = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        if rows == ["ok"] {
            Ok(())
        } else {
            Err(StoreError::Invalid(format!(
                "integrity check failed: {}",
                rows.join("; ")
            )))
        }
    }
}

fn find_stream(conn: &Connection, key: &StreamKey) -> Result<Option<i64>> {
    let mut find = conn.prepare_cached(
        "SELECT id FROM streams WHERE app_id = ?1 AND room_id = ?2 AND user_ids = ?3 AND source = ?4",
    )?;
    let room = key.room_id.as_deref().unwrap_or_default();
    Ok(find
        .query_row(
            params![key.app_id, room, key.user_ids.joined(), key.source.as_str()],
            |r| r.get(0),
        )
        .optional()?)
}

/// The id of a stream, created on first use (inside the caller's transaction).
fn stream_id_in(conn: &Connection, key: &StreamKey) -> Result<i64> {
    if let Some(id) = find_stream(conn, key)? {
        return Ok(id);
    }
    let room = key.room_id.clone().unwrap_or_default();
    let users = key.user_ids.joined();
    conn.execute(
        "INSERT INTO streams (app_id, room_id, user_ids, source) VALUES (?1, ?2, ?3, ?4)",
        params![key.app_id, room, users, key.source.as_str()],
    )?;
    Ok(conn.last_insert_rowid())
}

fn series_id_in(
    conn: &Connection,
    stream: i64,
    indicator: &str,
    unit: Option<&str>,
) -> Result<i64> {
    let mut find =
        conn.prepare_cached("SELECT id, unit FROM series WHERE stream_id = ?1 AND indicator = ?2")?;
    if let Some((id, old_unit)) = find
        .query_row(params![stream, indicator], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, Option<String>>(1)?))
        })
        .optional()?
    {
        if unit.is_some() && unit != old_unit.as_deref() {
            conn.execute(
                "UPDATE series SET unit = ?2 WHERE id = ?1",
                params![id, unit],
            )?;
        }
        return Ok(id);
    }
    conn.execute(
        "INSERT INTO series (stream_id, indicator, unit) VALUES (?1, ?2, ?3)",
        params![stream, indicator, unit],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Upserts one series' points, given sorted by bucket (a repeated bucket:
/// the later value wins). Writes only what is new or changed (the `WHERE`
/// of the upsert leaves equal values alone, so a re-fetch writes no page),
/// then refreshes the rollups of the hours (and days) it changed; the
/// rollups' counts before and after tell new points from revised ones.
fn upsert_series_points(
    conn: &Connection,
    series: i64,
    points: &[(i64, SqlValue)],
) -> Result<WriteStats> {
    // typeof() too: SQLite finds INTEGER 5 equal to REAL 5.0, but here they
    // mean different values (hundredths against the value itself)
    let mut upsert = conn.prepare_cached(
        "INSERT INTO points (series_id, bucket, value) VALUES (?1, ?2, ?3)
         ON CONFLICT (series_id, bucket) DO UPDATE SET value = excluded.value
         WHERE value IS NOT excluded.value OR typeof(value) IS NOT typeof(excluded.value)",
    )?;
    // the callers refuse times outside the range with a reason; this is
    // the last line: nothing outside it is ever stored
    if let Some((bucket, _)) = points.iter().find(|(b, _)| !bucket_in_range(*b)) {
        return Err(StoreError::Invalid(format!(
            "refusing to store a point: {}",
            timeutil::outside_data_range(ts_of(*bucket))
        )));
    }
    let mut written: u64 = 0;
    let mut hours: Vec<i64> = Vec::new();
    for (bucket, value) in points {
        if upsert.execute(params![series, bucket, value])? > 0 {
            written += 1;
            let hour = hour_of_bucket(*bucket);
            if hours.last() != Some(&hour) {
                hours.push(hour);
            }
        }
    }
    hours.sort_unstable();
    hours.dedup();
    let new = refresh_rollups(conn, series, &hours)?;
    Ok(WriteStats {
        new,
        revised: written - new,
        unchanged: points.len() as u64 - written,
    })
}

/// Recomputes the hourly rollups of `hours` (sorted) from the points, then
/// the daily rollups of the days they fall in from the hourly ones. Returns
/// how many points those hours gained.
fn refresh_rollups(conn: &Connection, series: i64, hours: &[i64]) -> Result<u64> {
    if hours.is_empty() {
        return Ok(0);
    }
    let mut before =
        conn.prepare_cached("SELECT count FROM rollup_hourly WHERE series_id = ?1 AND hour = ?2")?;
    let mut hourly = conn.prepare_cached(&format!(
        "INSERT INTO rollup_hourly (series_id, hour, count, sum, min, max)
         SELECT ?1, ?2, count(*), sum(v), min(v), max(v)
         FROM (SELECT {VALUE_SQL} AS v FROM points
               WHERE series_id = ?1 AND bucket >= ?3 AND bucket < ?4)
         WHERE true
         ON CONFLICT (series_id, hour) DO UPDATE SET
           count = excluded.count, sum = excluded.sum, min = excluded.min, max = excluded.max
         RETURNING count"
    ))?;
    let mut gained: i64 = 0;
    let mut days: Vec<i64> = Vec::new();
    for &hour in hours {
        let old: i64 = before
            .query_row(params![series, hour], |r| r.get(0))
            .optional()?
            .unwrap_or(0);
        let b0 = first_bucket_of_hour(hour);
        let new: i64 =
            hourly.query_row(params![series, hour, b0, b0 + HOUR_BUCKETS], |r| r.get(0))?;
        gained += new - old;
        let day = hour.div_euclid(DAY_HOURS);
        if days.last() != Some(&day) {
            days.push(day);
        }
    }
    let mut daily = conn.prepare_cached(
        "INSERT INTO rollup_daily (series_id, day, count, sum, min, max)
         SELECT ?1, ?2, sum(count), sum(sum), min(min), max(max)
         FROM rollup_hourly WHERE series_id = ?1 AND hour >= ?3 AND hour < ?4
         GROUP BY series_id
         ON CONFLICT (series_id, day) DO UPDATE SET
           count = excluded.count, sum = excluded.sum, min = excluded.min, max = excluded.max",
    )?;
    for day in days {
        daily.execute(params![series, day, day * DAY_HOURS, (day + 1) * DAY_HOURS])?;
    }
    Ok(gained.max(0) as u64)
}

#[derive(Debug, Default)]
struct StatsDelta {
    requests: i64,
    failures: i64,
    points_new: i64,
    points_revised: i64,
    points_skipped: i64,
}

fn bump_stats(conn: &Connection, stream: i64, now: i64, d: &StatsDelta) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO stream_stats (stream_id, hour, requests, failures, points_new, points_revised, points_skipped)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (stream_id, hour) DO UPDATE SET
           requests = requests + excluded.requests,
           failures = failures + excluded.failures,
           points_new = points_new + excluded.points_new,
           points_revised = points_revised + excluded.points_revised,
           points_skipped = points_skipped + excluded.points_skipped",
    )?
    .execute(params![
        stream,
        now.div_euclid(3600),
        d.requests,
        d.failures,
        d.points_new,
        d.points_revised,
        d.points_skipped
    ])?;
    Ok(())
}

#[cfg(test)]
mod tests;
