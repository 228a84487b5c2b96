//! One collector per database: an exclusive lock on `<database>.lock`,
//! holding the collector's pid, for as long as the process lives. The same
//! mechanism keeps one user of the offline action per database: a
//! `backfill`, or a collector's gap repair, holds `<database>.backfill.lock`
//! while it fetches history, so two processes never pace `ListQuality` at
//! once.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Another process has the lock.
#[derive(Debug, thiserror::Error)]
#[error(
    "another {} (pid {holder}) is already {} (lock {}); exiting without touching it",
    .kind.who(),
    .kind.doing(),
    .path.display()
)]
pub struct LockHeld {
    pub path: PathBuf,
    pub holder: String,
    pub kind: LockKind,
}

/// Which lock of a database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockKind {
    /// `<database>.lock`: the collector (and compact, import, demo).
    Collector,
    /// `<database>.backfill.lock`: a backfill, or a collector repairing gaps.
    History,
}

impl LockKind {
    fn who(self) -> &'static str {
        match self {
            LockKind::Collector => "collector",
            LockKind::History => "backfill or gap repair",
        }
    }

    fn doing(self) -> &'static str {
        match self {
            LockKind::Collector => "collecting into this database",
            LockKind::History => "fetching history from the offline API for this database",
        }
    }

    /// The lock file of a database.
    pub fn path(self, db: &Path) -> PathBuf {
        let mut name = db.as_os_str().to_owned();
        name.push(match self {
            LockKind::Collector => ".lock",
            LockKind::History => ".backfill.lock",
        });
        PathBuf::from(name)
    }
}

/// The lock file cannot be created or locked (missing directory, no
/// permission), or is not a file of its own (a link, a directory).
#[derive(Debug, thiserror::Error)]
#[error("cannot use the lock file {}: {problem}", .path.display())]
pub struct LockFileError {
    pub path: PathBuf,
    pub problem: String,
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(transparent)]
    Held(#[from] LockHeld),
    #[error(transparent)]
    File(#[from] LockFileError),
}

/// The held lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct CollectorLock {
    _file: File,
    pub path: PathBuf,
}

/// The lock file of a database.
pub fn lock_path(db: &Path) -> PathBuf {
    LockKind::Collector.path(db)
}

/// Takes the collector's lock of a database, or says who has it.
pub fn acquire(db: &Path) -> Result<CollectorLock, LockError> {
    acquire_kind(db, LockKind::Collector)
}

/// Takes one of the locks of a database, or says who has it.
pub fn acquire_kind(db: &Path, kind: LockKind) -> Result<CollectorLock, LockError> {
    let path = kind.path(db);
    let io_err = |e: std::io::Error| LockFileError {
        path: path.clone(),
        problem: format!("{e}; check that the database's directory exists and is writable"),
    };
    let mut file = open_lock_file(&path).map_err(|problem| LockFileError {
        path: path.clone(),
        problem,
    })?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            // a pid, or nothing: whatever else is in the file (a planted
            // gigabyte, terminal escapes) is neither read whole nor shown
            let mut holder = String::new();
            let _ = (&mut file).take(32).read_to_string(&mut holder);
            let holder = holder.trim();
            return Err(LockHeld {
                path,
                kind,
                holder: if holder.parse::<u32>().is_ok() {
                    holder.to_string()
                } else {
                    "unknown".into()
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

/// Opens (or creates, 0640 less the umask) the lock file, which the pid is
/// written into: never through a link planted in its place, and never
/// anything but a regular file of its own.
fn open_lock_file(path: &Path) -> Result<File, String> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        // O_NONBLOCK: a FIFO in its place must not hang the open (it is refused below)
        options
            .mode(0o640)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(|e| match e.raw_os_error() {
        #[cfg(unix)]
        Some(libc::ELOOP) => {
            "it is a symbolic link, and the lock must be a file of its own: remove the link".into()
        }
        #[cfg(unix)]
        Some(libc::EISDIR) => "it is a directory, not a lock file: move it away".into(),
        _ => format!("{e}; check that the database's directory exists and is writable"),
    })?;
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err(format!(
            "it is {}, not a lock file: move it away",
            crate::store::kind_of(&meta)
        ));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        if meta.nlink() > 1 {
            return Err(
                "it has other names (hard links), so the pid written into it would change \
                 another file: remove it"
                    .into(),
            );
        }
    }
    Ok(file)
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
        let LockError::Held(held_err) = &err else {
            panic!("{err:?}")
        };
        assert_eq!(held_err.holder, std::process::id().to_string());
        assert!(err.to_string().contains("already collecting"), "{err}");
        drop(held);
        acquire(&db).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn the_lock_file_never_follows_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("y.db");
        let victim = dir.path().join("victim.txt");
        std::fs::write(&victim, "precious").unwrap();
        std::os::unix::fs::symlink(&victim, lock_path(&db)).unwrap();
        let err = acquire(&db).unwrap_err();
        let LockError::File(e) = &err else {
            panic!("a lock file error: {err:?}")
        };
        assert_eq!(e.path, lock_path(&db));
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        // a link to nowhere creates nothing either
        let db = dir.path().join("z.db");
        std::os::unix::fs::symlink(dir.path().join("new.txt"), lock_path(&db)).unwrap();
        acquire(&db).unwrap_err();
        assert!(!dir.path().join("new.txt").exists());
    }

    #[cfg(unix)]
    #[test]
    fn a_lock_file_that_is_not_a_file_of_its_own_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let db = |name: &str| dir.path().join(name);
        std::fs::create_dir(lock_path(&db("dir.db"))).unwrap();
        assert!(
            std::process::Command::new("mkfifo")
                .arg(lock_path(&db("fifo.db")))
                .status()
                .unwrap()
                .success()
        );
        let other = dir.path().join("other.txt");
        std::fs::write(&other, "precious").unwrap();
        std::fs::hard_link(&other, lock_path(&db("linked.db"))).unwrap();
        for (name, needle) in [
            ("dir.db", "a directory"),
            ("fifo.db", "a FIFO"),
            ("linked.db", "hard links"),
        ] {
            let err = acquire(&db(name)).unwrap_err();
            assert!(matches!(err, LockError::File(_)), "{err:?}");
            let text = err.to_string();
            assert!(text.contains(needle) && text.contains(name), "{text}");
        }
        assert_eq!(std::fs::read_to_string(&other).unwrap(), "precious");
    }

    #[cfg(unix)]
    #[test]
    fn lock_files_are_private_to_owner_and_group() {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        let dir = tempfile::tempdir().unwrap();
        let probe = dir.path().join("probe");
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o640)
            .open(&probe)
            .unwrap();
        let db = dir.path().join("a.db");
        let _held = acquire(&db).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&lock_path(&db)), mode(&probe), "0640 less the umask");
    }

    #[test]
    fn the_history_lock_is_apart_from_the_collectors() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a.db");
        let _collector = acquire(&db).unwrap();
        let history = acquire_kind(&db, LockKind::History).unwrap();
        assert!(history.path.ends_with("a.db.backfill.lock"));
        let err = acquire_kind(&db, LockKind::History).unwrap_err();
        assert!(err.to_string().contains("backfill or gap repair"), "{err}");
    }

    #[test]
    fn a_lock_files_content_is_shown_only_as_a_pid() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a.db");
        let held = acquire(&db).unwrap();
        // another process's lock, whose file someone filled with something else
        std::fs::write(lock_path(&db), "\x1b]0;owned\x07 9999999999999\n").unwrap();
        let err = acquire(&db).unwrap_err();
        let LockError::Held(other) = &err else {
            panic!("{err:?}")
        };
        assert_eq!(other.holder, "unknown");
        assert!(!err.to_string().contains('\x1b'), "{err}");
        drop(held);
    }
}
