//! Opening the archive: what is at the path is checked first ([`super::file`]),
//! writers create and migrate it, readers open it read-only (immutable
//! where its sidecar files cannot be made), and every connection is
//! configured the same way (WAL, synchronous FULL, busy timeout).

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;

use super::error::sqlite_message;
use super::error::{empty_file, is_damage};
use super::file::{self, Access, Found};
use super::migrate::{self, latest_version};
use super::{OpenMode, Result, Store, StoreError};

impl Store {
    /// Opens (and if needed creates and migrates) the archive at `path`.
    /// Whatever is at `path` that is not an SQLite file is refused and left
    /// as it is.
    pub fn open(path: &Path, mode: OpenMode) -> Result<Store> {
        let mut found = file::inspect(path)?;
        if matches!(found, Found::Missing) && mode == OpenMode::Create {
            // if another process got there first, its archive is used
            file::create(path)?;
            found = file::inspect(path)?;
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
        match (file::inspect(path)?, mode) {
            (Found::Missing, OpenMode::Create) => Ok(()),
            (Found::Missing, _) => Err(StoreError::Missing(path.to_path_buf())),
            (Found::Empty(_), OpenMode::Read) => Err(empty_file(path)),
            (Found::Empty(_) | Found::Database(_), _) => Ok(()),
        }
    }

    fn open_writer(path: &Path, canonical: &Path) -> Result<Store> {
        file::check_sidecars(canonical)?;
        let conn = file::connect(canonical, Access::ReadWrite)?;
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
            if file::beside_unavailable(&e) {
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
                conn: file::connect(canonical, access)?,
                path: path.to_path_buf(),
            };
            let version = store.prepare()?;
            Ok((store, version))
        };
        let (store, version) = match attempt(Access::ReadOnly) {
            Err(e) if file::beside_unavailable(&e) => {
                let wal = file::beside(canonical, "-wal");
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
            let mut conn = file::connect(canonical, Access::ReadWrite)?;
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
                    .pragma_update(None, "page_size", file::PAGE_SIZE)?;
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
}
