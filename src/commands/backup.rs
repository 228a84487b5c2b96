//! `rtc-archiver backup --out FILE`: a consistent copy of the archive, taken
//! while a collector may be writing. Copying the .db file by hand is safe
//! only after every writer has finished (they checkpoint when they do);
//! this works at any time.

use std::path::Path;
use std::time::Instant;

use anyhow::Context as _;
use rusqlite::{Connection, OpenFlags};

use super::Ctx;
use crate::cli::BackupArgs;
use crate::exit::{self, UsageError};
use crate::store::{APPLICATION_ID, StoreError};

pub fn run(ctx: &Ctx, args: BackupArgs) -> anyhow::Result<u8> {
    let started = Instant::now();
    let (store, _) = ctx.open_read()?;
    let out = &args.out;
    if is_same_file(store.path(), out) {
        return Err(UsageError(format!(
            "--out {}: that is the archive itself; name a new file",
            out.display()
        ))
        .into());
    }
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    // an empty file beside the destination (VACUUM INTO fills an empty
    // file), renamed over it once complete and on disk: readers of `out`
    // never see half a backup, and a failed one leaves nothing behind. Like
    // the archive, it holds business data: created readable by its owner
    // only (mode 0600, tempfile's default).
    let tmp = tempfile::Builder::new()
        .prefix(".rtc-archiver-backup-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| {
            UsageError(format!(
                "--out {}: cannot create a file there: {e}",
                out.display()
            ))
        })?;
    store
        .snapshot_into(tmp.path())
        .with_context(|| format!("writing the backup {}", out.display()))?;
    tmp.as_file()
        .sync_all()
        .with_context(|| format!("writing the backup {}", out.display()))?;
    let (points, series) = verify(tmp.path())
        .with_context(|| format!("checking the backup before moving it to {}", out.display()))?;
    tmp.persist(out)
        .map_err(|e| e.error)
        .with_context(|| format!("moving the backup into place at {}", out.display()))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    let bytes = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "rtc-archiver: backed up {points} points of {series} series from {} to {} ({:.1} MB) in {:.1} s",
        store.path().display(),
        out.display(),
        bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    Ok(exit::SUCCESS)
}

/// Opens the copy read-only (it must stay as written: no WAL switch) and
/// checks that it is a sound archive. Returns its point and series counts.
fn verify(path: &Path) -> Result<(i64, i64), StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let check: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
    let app: i64 = conn.pragma_query_value(None, "application_id", |r| r.get(0))?;
    if check != "ok" || app != APPLICATION_ID {
        return Err(StoreError::Invalid(format!(
            "the copy is not a sound archive (quick_check: {check}); the original is untouched"
        )));
    }
    let points = conn.query_row(
        "SELECT coalesce(sum(count), 0) FROM rollup_daily",
        [],
        |r| r.get(0),
    )?;
    let series = conn.query_row("SELECT count(*) FROM series", [], |r| r.get(0))?;
    Ok((points, series))
}

/// Whether two paths name the same file (the second may not exist).
fn is_same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}
