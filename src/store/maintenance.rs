//! Keeping the archive in shape: its size, compaction, checkpoints,
//! consistent snapshots (`backup`) and integrity checks.

use std::path::Path;

use super::{Result, Store, StoreError};

impl Store {
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
