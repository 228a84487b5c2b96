//! What may be opened as an archive, and how.
//!
//! Only a regular file that starts with SQLite's header reaches SQLite:
//! a directory, a FIFO, an empty or foreign file is refused with its name
//! and left as it is. Paths go to SQLite as URIs built here, so no path is
//! ever taken for `:memory:` or a URI of its own. A new archive is built
//! beside its path and renamed into place, so the path never holds half an
//! archive. Readers open read-only, and where SQLite's shared-memory file
//! cannot be created or opened (a read-only directory or mount) they read
//! the database file as an immutable snapshot.

use std::fs::{self, File, Metadata};
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use super::{StoreError, migrate};

/// The page size of new archives (SQLite's default is 4096): fewer, fuller
/// B-tree pages for the points table.
pub const PAGE_SIZE: i64 = 8192;

/// Why `path`, as given for the database, is not a file path that SQLite
/// would take as one: empty (a temporary database), `:memory:`, or an
/// SQLite URI (`file:...`, which may say `mode=memory`). Such a database
/// keeps nothing, so it is refused before anything runs; `./:memory:` is
/// a file of that name, and works as one.
pub fn not_a_file_path(path: &Path) -> Option<String> {
    let text = path.as_os_str().to_string_lossy();
    let why = if text.is_empty() {
        "is empty, which SQLite takes for a temporary database that keeps nothing"
    } else if text == ":memory:" {
        "names an in-memory database, which keeps nothing"
    } else if text.starts_with("file:") {
        "is an SQLite URI, not a file path"
    } else {
        return None;
    };
    let hint = if text.is_empty() {
        String::new()
    } else {
        format!(" (./{text} for a file of that name)")
    };
    Some(format!("{why}: pass a file path{hint}"))
}

/// What `inspect` found at a path.
pub enum Found {
    Missing,
    /// An empty regular file, by its canonical path: what SQLite clients
    /// leave when they open a new path, an empty database to SQLite. A
    /// writer makes it an archive (there is nothing in it to lose); a
    /// reader finds no archive in it.
    Empty(PathBuf),
    /// A regular file that starts with SQLite's header, by its canonical path
    /// (the one SQLite puts its `-wal` and `-shm` files beside).
    Database(PathBuf),
}

/// Looks at what is at `path` without changing anything, and refuses
/// whatever SQLite must not be handed.
pub fn inspect(path: &Path) -> Result<Found, StoreError> {
    let unusable = |problem: String| StoreError::Unusable(path.to_path_buf(), problem);
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Found::Missing),
        Err(e) => return Err(unusable(format!("cannot be looked at: {e}"))),
    };
    let meta = if meta.file_type().is_symlink() {
        match fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(unusable(
                    "is a symbolic link to a missing file: remove the link, or point it at the \
                     archive"
                        .into(),
                ));
            }
            Err(e) => return Err(unusable(format!("cannot be looked at: {e}"))),
        }
    } else {
        meta
    };
    if !meta.is_file() {
        return Err(unusable(format!(
            "is {}, not a database file: pass --db with the archive's file",
            kind_of(&meta)
        )));
    }
    let not_sqlite = |why: &str| {
        unusable(format!(
            "is not an SQLite database ({why}); it was left as it is: pass --db with an \
             rtc-archiver archive, or with a new file name to start one"
        ))
    };
    let canonical =
        || fs::canonicalize(path).map_err(|e| unusable(format!("cannot be looked at: {e}")));
    if meta.len() == 0 {
        return Ok(Found::Empty(canonical()?));
    }
    let mut header = [0u8; 16];
    let read = File::open(path).and_then(|mut f| f.read_exact(&mut header));
    match read {
        Ok(()) if &header == b"SQLite format 3\0" => {}
        Ok(()) => return Err(not_sqlite("it does not start with SQLite's header")),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            return Err(not_sqlite("it is shorter than SQLite's header"));
        }
        Err(e) => return Err(unusable(format!("cannot be read: {e}"))),
    }
    Ok(Found::Database(canonical()?))
}

/// Whether `path` is a regular file whose SQLite header carries our
/// application_id: an archive, even one damaged past opening. What may be
/// deleted to start over (`demo --fresh`).
pub fn is_archive_file(path: &Path) -> bool {
    let mut header = [0u8; 72];
    fs::symlink_metadata(path).is_ok_and(|m| m.is_file())
        && File::open(path)
            .and_then(|mut f| f.read_exact(&mut header))
            .is_ok()
        && &header[..16] == b"SQLite format 3\0"
        && i64::from(u32::from_be_bytes([
            header[68], header[69], header[70], header[71],
        ])) == migrate::APPLICATION_ID
}

/// "a directory", "a FIFO": what a file that is not a regular file is.
pub fn kind_of(meta: &Metadata) -> &'static str {
    let t = meta.file_type();
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_block_device() || t.is_char_device() {
            return "a device";
        }
    }
    if t.is_dir() {
        "a directory"
    } else if t.is_symlink() {
        "a symbolic link"
    } else if t.is_file() {
        "a regular file"
    } else {
        "not a regular file"
    }
}

/// SQLite's files beside a database: the writer checks them before SQLite
/// opens them (SQLite refuses links there too, with a vaguer message).
const SIDECARS: [(&str, &str); 3] = [
    ("-wal", "write-ahead log"),
    ("-shm", "shared-memory index"),
    ("-journal", "rollback journal"),
];

/// The path of a file beside `db`: `db` with `suffix` appended.
pub fn beside(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Refuses a `-wal`, `-shm` or `-journal` beside the database that is not
/// a regular file, before a writer's SQLite would open (or create) it.
pub fn check_sidecars(db: &Path) -> Result<(), StoreError> {
    for (suffix, what) in SIDECARS {
        let path = beside(db, suffix);
        if let Ok(meta) = fs::symlink_metadata(&path)
            && !meta.is_file()
        {
            return Err(StoreError::Unusable(
                path,
                format!(
                    "is {}, not SQLite's {what}, so the archive cannot be written: remove it \
                     (it holds none of the archive's data)",
                    kind_of(&meta)
                ),
            ));
        }
    }
    Ok(())
}

/// How a connection reads the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    ReadWrite,
    ReadOnly,
    /// Read-only, trusting that nothing changes the file while it is open:
    /// no locks, no `-wal` or `-shm` (what is only in the WAL is not seen).
    Immutable,
}

/// `path` (absolute, or made so) as an SQLite URI: every byte outside
/// the unreserved set percent-encoded, so `?`, `#`, `%` and spaces are
/// part of the name, never a query or a fragment.
pub fn uri(path: &Path, access: Access) -> Result<String, StoreError> {
    let absolute = std::path::absolute(path).map_err(|e| {
        StoreError::Unusable(path.to_path_buf(), format!("is not a usable path: {e}"))
    })?;
    const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'/')
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    #[cfg(unix)]
    let bytes = {
        use std::os::unix::ffi::OsStrExt as _;
        absolute.as_os_str().as_bytes().to_vec()
    };
    #[cfg(not(unix))]
    let bytes = absolute.to_string_lossy().replace('\\', "/").into_bytes();
    let encoded = percent_encoding::percent_encode(&bytes, KEEP).to_string();
    // the path is absolute: "file:/..." never has an authority to misread
    let query = match access {
        Access::ReadWrite => "",
        Access::ReadOnly => "?mode=ro",
        Access::Immutable => "?immutable=1",
    };
    Ok(format!("file:{encoded}{query}"))
}

/// Opens a connection to an inspected database file.
pub fn connect(canonical: &Path, access: Access) -> Result<Connection, StoreError> {
    let flags = match access {
        Access::ReadWrite => OpenFlags::SQLITE_OPEN_READ_WRITE,
        Access::ReadOnly | Access::Immutable => OpenFlags::SQLITE_OPEN_READ_ONLY,
    } | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    Ok(Connection::open_with_flags(uri(canonical, access)?, flags)?)
}

/// Whether an error says that SQLite cannot create or open its files beside
/// the database (`-shm`, `-wal`): a read-only directory or mount. A reader
/// then reads the file immutable; a writer says the archive is read-only.
pub fn beside_unavailable(e: &StoreError) -> bool {
    use rusqlite::ErrorCode::*;
    // SQLITE_IOERR_SHMOPEN, _SHMSIZE, _SHMLOCK, _SHMMAP
    const SHM_IOERR: [i32; 4] = [4618, 4874, 5130, 5386];
    // a hot rollback journal: the file holds half a write, and reading it
    // without rolling that back first would read the half
    const SQLITE_READONLY_ROLLBACK: i32 = 776;
    match e {
        StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, _)) => match f.code {
            ReadOnly => f.extended_code != SQLITE_READONLY_ROLLBACK,
            CannotOpen | PermissionDenied => true,
            SystemIoFailure => SHM_IOERR.contains(&f.extended_code),
            _ => false,
        },
        _ => false,
    }
}

/// Creates a new, empty archive at `path`: built in a temporary file beside
/// it (permissions 0640 less the umask: archives may hold business data),
/// then moved into place only if nothing appeared there meanwhile. Returns
/// false if something did (another process's archive, a link).
pub fn create(path: &Path) -> Result<bool, StoreError> {
    let cannot = |e: &dyn std::fmt::Display| {
        StoreError::Unusable(
            path.to_path_buf(),
            format!("cannot be created: {e}; check that its directory exists and is writable"),
        )
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".new");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        builder.permissions(fs::Permissions::from_mode(0o640));
    }
    let tmp = builder.tempfile_in(dir).map_err(|e| cannot(&e))?;
    {
        let mut conn = connect(tmp.path(), Access::ReadWrite)?;
        // only takes effect before the first table exists
        conn.pragma_update(None, "page_size", PAGE_SIZE)?;
        migrate::migrate(&mut conn)?;
        conn.close().map_err(|(_, e)| StoreError::from(e))?;
    }
    match tmp.persist_noclobber(path) {
        Ok(_) => {}
        Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => return Ok(false),
        Err(e) => return Err(cannot(&e.error)),
    }
    // the new name on disk too, before anything is written under it
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| cannot(&e))?;
    Ok(true)
}
