//! One collector per database: an exclusive lock on `<database>.lock`,
//! holding the collector's pid, for as long as the process lives.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Another collector has the lock.
#[derive(Debug, thiserror::Error)]
#[error(
    "another collector (pid {holder}) is already collecting into this database (lock {}); \
     exiting without touching it",
    .path.display()
)]
pub struct LockHeld {
    pub path: PathBuf,
    pub holder: String,
}

/// The lock file cannot be created or locked (missing directory, no permission).
#[derive(Debug, thiserror::Error)]
#[error("cannot use the lock file {}: {source}; check that the database's directory exists and is writable", .path.display())]
pub struct LockFileError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// The held lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct CollectorLock {
    _file: File,
    pub path: PathBuf,
}

/// The lock file of a database.
pub fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Takes the lock of a database, or says who has it.
pub fn acquire(db: &Path) -> anyhow::Result<CollectorLock> {
    let path = lock_path(db);
    let io_err = |source| LockFileError {
        path: path.clone(),
        source,
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io_err)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            return Err(LockHeld {
                path,
                holder: if holder.is_empty() {
                    "unknown".into()
                } else {
                    holder.to_string()
                },
            }
            .into());
        }
        Err(TryLockError::Error(e)) => return Err(io_err(e).into()),
    }
    let write_pid = |file: &mut File| -> std::io::Result<()> {
        file.set_len(0)?;
        file.seek(SeekFrom::Start(0))?;
        writeln!(file, "{}", std::process::id())?;
        file.flush()
    };
    write_pid(&mut file).map_err(io_err)?;
    Ok(CollectorLock { _file: file, path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a.db");
        let held = acquire(&db).unwrap();
        let err = acquire(&db).unwrap_err();
        let held_err = err.downcast_ref::<LockHeld>().unwrap();
        assert_eq!(held_err.holder, std::process::id().to_string());
        assert!(err.to_string().contains("already collecting"), "{err}");
        drop(held);
        acquire(&db).unwrap();
    }
}
