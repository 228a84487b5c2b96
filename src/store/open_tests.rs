//! Opening what is at a path: files that are not archives refused and left
//! alone, readers on read-only storage, writers and their sidecar files.

use std::collections::BTreeMap;

use std::fs;
use std::path::{Path, PathBuf};

use rusqlite::Connection;

use super::file::*;
use super::{OpenMode, Store, StoreError};
use crate::Source;
use crate::series::StreamKey;

const MODES: [OpenMode; 3] = [OpenMode::Create, OpenMode::Existing, OpenMode::Read];

/// An archive with a few points, checkpointed: no `-wal`, no `-shm`.
fn archive(dir: &Path) -> PathBuf {
    let path = dir.join("a.db");
    let mut store = Store::open(&path, OpenMode::Create).unwrap();
    let key = StreamKey::new(
        "app1",
        None,
        crate::series::UserSet::NONE,
        Source::Operation,
    );
    let id = store.series_id(&key, "online_user_count", None).unwrap();
    let mut rows: Vec<_> = (0..10)
        .map(|i| (id, i, super::encode_value(i as f64)))
        .collect();
    store.upsert_points(&mut rows).unwrap();
    drop(store);
    // the last connection to close with checkpointing on takes the WAL away
    let conn = Connection::open(&path).unwrap();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    drop(conn);
    assert!(!beside(&path, "-wal").exists() && !beside(&path, "-shm").exists());
    path
}

/// Every file in `dir` with a hash of its bytes (a link: of where it points).
fn snapshot(dir: &Path) -> BTreeMap<String, (usize, u64)> {
    use std::hash::{Hash as _, Hasher as _};
    fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let meta = fs::symlink_metadata(e.path()).unwrap();
            let bytes = if meta.file_type().is_symlink() {
                fs::read_link(e.path())
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
                    .into_bytes()
            } else if meta.is_file() {
                fs::read(e.path()).unwrap()
            } else {
                kind_of(&meta).as_bytes().to_vec()
            };
            let mut h = std::collections::hash_map::DefaultHasher::new();
            bytes.hash(&mut h);
            let name = e.file_name().to_string_lossy().into_owned();
            (name, (bytes.len(), h.finish()))
        })
        .collect()
}

fn points(store: &Store) -> i64 {
    store
        .conn()
        .query_row("SELECT count(*) FROM samples", [], |r| r.get(0))
        .unwrap()
}

fn assert_one_line_naming(e: &StoreError, path: &Path, needle: &str) {
    let text = e.to_string();
    assert!(!text.contains('\n'), "one line: {text}");
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(text.contains(needle), "{needle:?} in {text}");
    assert!(e.is_io(), "exit 74: {e:?}");
}

#[test]
fn files_that_are_not_sqlite_are_refused_and_left_as_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let whole = fs::read(archive(d)).unwrap();
    fs::write(
        d.join("random.db"),
        (0..10_000u32)
            .map(|i| (i * 7919 % 251) as u8)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    fs::write(d.join("short.db"), "SQLite").unwrap();
    fs::write(d.join("truncated.db"), &whole[..whole.len() / 2]).unwrap();
    fs::create_dir(d.join("dir.db")).unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(d.join("nowhere"), d.join("dangling.db")).unwrap();
        let fifo = d.join("fifo.db");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
    }
    let before = snapshot(d);
    let cases = [
        ("random.db", "not an SQLite database"),
        ("short.db", "not an SQLite database"),
        ("truncated.db", "damaged"),
        ("dir.db", "a directory"),
        #[cfg(unix)]
        ("dangling.db", "symbolic link to a missing file"),
        #[cfg(unix)]
        ("fifo.db", "a FIFO"),
    ];
    for (name, needle) in cases {
        for mode in MODES {
            let path = d.join(name);
            let e = Store::open(&path, mode).expect_err(name);
            assert_one_line_naming(&e, &path, needle);
        }
    }
    // every file as it was; SQLite may have added the -wal and -shm of
    // the damaged WAL-mode file before it found the damage, nothing else
    let after = snapshot(d);
    for (name, was) in &before {
        assert_eq!(after.get(name), Some(was), "{name}");
    }
    for name in after.keys().filter(|n| !before.contains_key(*n)) {
        assert!(name.starts_with("truncated.db-"), "{name} created");
    }
}

#[test]
fn an_empty_file_is_no_archive_to_a_reader_and_a_new_one_to_a_writer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.db");
    fs::write(&path, "").unwrap();
    let e = Store::open(&path, OpenMode::Read).unwrap_err();
    assert_one_line_naming(&e, &path, "empty file");
    assert_eq!(
        fs::metadata(&path).unwrap().len(),
        0,
        "a reader makes nothing"
    );
    // what an SQLite client leaves when it opens a new path
    let store = Store::open(&path, OpenMode::Create).unwrap();
    assert_eq!(points(&store), 0);
}

#[test]
fn readers_never_write_migrate_or_switch_the_journal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = archive(dir.path());
    // a copy in rollback-journal mode: a writer would switch it to WAL
    let conn = Connection::open(&path).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "delete");
    drop(conn);
    let before = snapshot(dir.path());
    let store = Store::open(&path, OpenMode::Read).unwrap();
    assert_eq!(points(&store), 10);
    assert!(store.conn().is_readonly(rusqlite::MAIN_DB).unwrap());
    let e = store
        .conn()
        .execute("DELETE FROM points", [])
        .expect_err("a reader cannot write");
    assert!(e.to_string().contains("readonly"), "{e}");
    drop(store);
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn readers_fall_back_to_an_immutable_open_where_the_shm_cannot_be_made() {
    // what a read-only directory does to SQLite's -shm, for any user
    // (root too): its path cannot be created
    let dir = tempfile::tempdir().unwrap();
    let path = archive(dir.path());
    #[cfg(unix)]
    std::os::unix::fs::symlink(dir.path().join("nowhere"), beside(&path, "-shm")).unwrap();
    #[cfg(not(unix))]
    fs::create_dir(beside(&path, "-shm")).unwrap();
    let before = snapshot(dir.path());
    let store = Store::open(&path, OpenMode::Read).unwrap();
    assert_eq!(points(&store), 10);
    drop(store);
    // (the directory is writable here, so SQLite may add an empty -wal)
    let kept = |snap: &BTreeMap<String, (usize, u64)>| {
        snap.iter()
            .filter(|(n, _)| !n.ends_with("-wal"))
            .map(|(n, v)| (n.clone(), *v))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        kept(&snapshot(dir.path())),
        kept(&before),
        "a.db, -shm untouched"
    );
    // writers are told why they cannot write
    for mode in [OpenMode::Create, OpenMode::Existing] {
        let e = Store::open(&path, mode).unwrap_err();
        assert_one_line_naming(&e, &beside(&path, "-shm"), "remove it");
    }
    assert_eq!(kept(&snapshot(dir.path())), kept(&before));
}

#[test]
fn writers_refuse_a_linked_wal_and_leave_its_target_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = archive(dir.path());
    let victim = dir.path().join("victim.txt");
    fs::write(&victim, "precious").unwrap();
    for suffix in ["-wal", "-journal"] {
        let link = beside(&path, suffix);
        #[cfg(unix)]
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        #[cfg(not(unix))]
        fs::create_dir(&link).unwrap();
        let e = Store::open(&path, OpenMode::Create).unwrap_err();
        assert_one_line_naming(&e, &link, "not SQLite's");
        fs::remove_file(&link).unwrap();
    }
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
}

#[test]
fn a_new_archive_is_private_to_its_owner_and_group() {
    let dir = tempfile::tempdir().unwrap();
    let path = archive(dir.path());
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        let probe = dir.path().join("probe");
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o640)
            .open(&probe)
            .unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), mode(&probe), "0640 less the umask");
        assert_eq!(mode(&path) & 0o007, 0, "nothing for others");
        fs::remove_file(probe).unwrap();
    }
    // and nothing left from building it
    let names: Vec<String> = snapshot(dir.path()).into_keys().collect();
    assert_eq!(names, ["a.db"]);
}

#[test]
fn paths_with_uri_characters_are_plain_files() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "a?b#c%d e.db",
        ":memory:",
        "file:x.db?mode=memory",
        "%41.db",
    ] {
        let path = dir.path().join(name);
        let mut store = Store::open(&path, OpenMode::Create).unwrap();
        let key = StreamKey::new(
            "app1",
            None,
            crate::series::UserSet::NONE,
            Source::Operation,
        );
        store.series_id(&key, "x", None).unwrap();
        drop(store);
        assert!(path.is_file(), "{name}");
        let store = Store::open(&path, OpenMode::Read).unwrap();
        let n: i64 = store
            .conn()
            .query_row("SELECT count(*) FROM series", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1, "{name}");
    }
    assert!(!dir.path().join("A.db").exists(), "%41 is not decoded");
}

#[test]
fn in_memory_names_and_uris_are_not_file_paths() {
    for bad in [
        "",
        ":memory:",
        "file::memory:",
        "file:x.db?mode=memory",
        "file:a.db",
    ] {
        let why = not_a_file_path(Path::new(bad)).expect(bad);
        assert!(why.contains("pass a file path"), "{why}");
    }
    for good in [
        "a.db",
        "./:memory:",
        "dir/file:x.db",
        "/var/lib/x.db",
        "memory",
    ] {
        assert_eq!(not_a_file_path(Path::new(good)), None, "{good}");
    }
}
