//! Hostile storage: what is at the database's path, and around it, is
//! never trusted. `sql` cannot change the archive; readers read wherever the
//! file can be read, and change nothing; no file the program writes follows
//! a link or widens its permissions; what is not an archive file is refused
//! in one line with exit 74 (2 for a database that is not a file at all)
//! and left as it is.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;
use predicates::prelude::*;

/// 2026-11-23T12:00:00Z
const T0: i64 = 1_795_435_200;

/// An archive of 100 imported points, checkpointed: no -wal, no -shm, as a
/// backup or an archive whose collector has stopped.
fn archive(env: &Env) -> PathBuf {
    let lines: String = (0..100)
        .map(|i| {
            format!(
                "{{\"app_id\":\"app1\",\"source\":\"operation\",\"indicator\":\"online_user_count\",\"ts\":{},\"value\":{i}}}\n",
                T0 + i * 30
            )
        })
        .collect();
    let input = env.path("points.jsonl");
    std::fs::write(&input, lines).unwrap();
    let db = env.db();
    env.cmd()
        .args(["import", "--db", db.to_str().unwrap()])
        .arg(&input)
        .assert()
        .success();
    // the last connection to close with checkpointing on takes the WAL away
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    drop(conn);
    std::fs::remove_file(&input).unwrap();
    assert!(!env.path("archive.db-wal").exists());
    db
}

/// Every file in `dir` with its size and contents (a link: its target).
fn snapshot(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let meta = std::fs::symlink_metadata(e.path()).unwrap();
            let what = if meta.file_type().is_symlink() {
                format!("-> {}", std::fs::read_link(e.path()).unwrap().display())
            } else if meta.is_file() {
                let bytes = std::fs::read(e.path()).unwrap();
                format!("{} bytes, {:x}", bytes.len(), fnv(&bytes))
            } else {
                format!("{:?}", meta.file_type())
            };
            (e.file_name().to_string_lossy().into_owned(), what)
        })
        .collect()
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

/// The binary run through `wrapper` (a shell that sets the umask, setpriv),
/// with the directory and environment `Env::cmd` gives it.
fn wrapped(env: &Env, wrapper: &[&str]) -> assert_cmd::Command {
    let base = env.std_cmd();
    let mut cmd = Command::new(wrapper[0]);
    cmd.args(&wrapper[1..])
        .arg(base.get_program())
        .current_dir(env.dir.path())
        .env_clear();
    for (k, v) in base.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    assert_cmd::Command::from_std(cmd)
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The error line: exactly one line on stderr that says `error`.
fn error_line(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(lines.len(), 1, "one error line in:\n{text}");
    lines[0].to_string()
}

#[test]
fn sql_cannot_change_the_archive() {
    let env = Env::new();
    let db = archive(&env);
    let dbs = db.to_str().unwrap();
    // as a collector leaves it: in WAL mode, with its -wal and -shm
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
        true,
    )
    .unwrap();
    conn.execute("UPDATE streams SET last_error = 'x'", [])
        .unwrap();
    drop(conn);
    // the database and its log; the -shm is an index SQLite rebuilds at will
    let files = || {
        let mut snap = snapshot(env.dir.path());
        snap.remove("archive.db-shm");
        snap
    };
    let before = files();
    assert!(before.contains_key("archive.db-wal"));
    for sql in [
        "PRAGMA journal_mode=DELETE",
        "VACUUM INTO 'copy.db'",
        "VACUUM",
        "ATTACH 'other.db' AS other",
        "PRAGMA user_version = 0",
        "PRAGMA wal_checkpoint(TRUNCATE)",
        "DELETE FROM points",
        "SELECT 1; DELETE FROM points",
        "CREATE TABLE t (x)",
        "BEGIN IMMEDIATE",
    ] {
        let out = env.cmd().args(["sql", "--db", dbs, sql]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{sql}");
        let line = error_line(&out.stderr);
        assert!(line.contains("sql is read-only"), "{sql}: {line}");
        assert!(line.contains("rtc-archiver backup"), "{sql}: {line}");
        assert_eq!(files(), before, "{sql} changed files");
    }
    // several statements: none runs
    env.cmd()
        .args(["sql", "--db", dbs, "SELECT 1; SELECT 2"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("one statement"));
    // what only reads still works
    let latest = rtc_archiver::store::latest_version().to_string();
    for (sql, want) in [
        ("PRAGMA journal_mode", "wal"),
        ("PRAGMA user_version", &latest),
        ("SELECT count(*) FROM samples", "100"),
        ("SELECT count(*) FROM pragma_table_info('points')", "3"),
        ("PRAGMA integrity_check", "ok"),
    ] {
        env.cmd()
            .args(["sql", "--db", dbs, sql, "--format", "csv"])
            .assert()
            .success()
            .stdout(predicate::str::ends_with(format!("\n{want}\n")));
    }
    assert_eq!(files(), before);
}

/// How this test can make the archive's directory read-only for the
/// program: chmod, unless it runs as root (where chmod stops nothing); then
/// the program runs as `nobody` through setpriv.
fn read_only_runner(env: &Env) -> Option<&'static [&'static str]> {
    let probe = env.path(".probe");
    if std::fs::write(&probe, "").is_err() {
        return Some(&[]);
    }
    std::fs::remove_file(&probe).unwrap();
    const NOBODY: &[&str] = &[
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
    ];
    let runs = wrapped(env, NOBODY)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    runs.then_some(NOBODY)
}

#[test]
fn readers_work_on_read_only_storage() {
    let env = Env::new();
    let db = archive(&env);
    let dbs = db.to_str().unwrap().to_string();
    env.write_config("http://127.0.0.1:9", TARGETS);
    // readable by anyone, writable by nobody: a backup on a read-only mount,
    // an archive owned by the collector's user
    chmod(&db, 0o644);
    chmod(env.dir.path(), 0o555);
    let Some(wrapper) = read_only_runner(&env) else {
        chmod(env.dir.path(), 0o755);
        eprintln!(
            "skipped: running as root without setpriv, nothing makes the directory read-only \
             (the immutable fallback is tested in store::open)"
        );
        return;
    };
    let cmd = || {
        if wrapper.is_empty() {
            env.cmd()
        } else {
            wrapped(&env, wrapper)
        }
    };
    let before = snapshot(env.dir.path());
    let readers: [(&[&str], &str); 6] = [
        (&["status"], "app1"),
        (&["indicators", "--archived"], "online_user_count"),
        (
            &["sql", "SELECT count(*) FROM samples", "--format", "csv"],
            "100",
        ),
        (
            &[
                "query",
                "--indicator",
                "*",
                "--from",
                "2026-11-23",
                "--to",
                "2026-11-24",
            ],
            "online_user_count",
        ),
        (&["export"], "\"ts\":1795435200"),
        (
            &[
                "report",
                "--from",
                "2026-11-23",
                "--to",
                "2026-11-24",
                "--tz",
                "UTC",
            ],
            "online_user_count",
        ),
    ];
    for (args, want) in readers {
        cmd()
            .args(args)
            .args(["--db", &dbs])
            .assert()
            .success()
            .stdout(predicate::str::contains(want));
        assert_eq!(
            snapshot(env.dir.path()),
            before,
            "{args:?} wrote beside the archive"
        );
    }
    // writers still refuse it, clearly
    for args in [&["import", "-"][..], &["compact"], &["collect", "--once"]] {
        cmd()
            .args(args)
            .args(["--db", &dbs])
            .write_stdin("")
            .assert()
            .code(74)
            .stderr(predicate::str::contains("archive.db"));
    }
    chmod(env.dir.path(), 0o755);
}

#[test]
fn the_lock_file_never_follows_a_symlink() {
    let env = Env::new();
    env.write_config("http://127.0.0.1:9", TARGETS);
    std::fs::write(env.path("victim.txt"), "precious").unwrap();
    std::os::unix::fs::symlink("victim.txt", env.path("y.db.lock")).unwrap();
    let out = env
        .cmd()
        .args(["collect", "--once", "--db", "y.db"])
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(74));
    let line = error_line(&out.stderr);
    assert!(
        line.contains("y.db.lock") && line.contains("symbolic link"),
        "{line}"
    );
    assert_eq!(read(&env.path("victim.txt")), "precious");
    assert!(!env.path("y.db").exists(), "nothing else was done");
}

#[test]
fn out_files_respect_the_umask_and_keep_a_files_mode() {
    let env = Env::new();
    let db = archive(&env);
    let dbs = db.to_str().unwrap();
    let umask_077 = ["sh", "-c", "umask 077 && exec \"$0\" \"$@\""];
    let export = |out: &Path| -> Vec<String> {
        vec![
            "export".into(),
            "--db".into(),
            dbs.into(),
            "--out".into(),
            out.display().to_string(),
        ]
    };
    let report = |out: &Path| -> Vec<String> {
        [
            "report",
            "--db",
            dbs,
            "--from",
            "2026-11-23",
            "--to",
            "2026-11-24",
            "--tz",
            "UTC",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain(["--out".into(), out.display().to_string()])
        .collect()
    };
    for (name, args) in [
        ("a.jsonl", &export as &dyn Fn(&Path) -> Vec<String>),
        ("r.html", &report),
    ] {
        let out = env.path(name);
        // new, under umask 077: private
        wrapped(&env, &umask_077)
            .args(args(&out))
            .assert()
            .success();
        assert_eq!(mode(&out), 0o600, "{name}: new under umask 077");
        // replaced: keeps its mode, narrower or wider than the umask says
        wrapped(&env, &umask_077)
            .args(args(&out))
            .assert()
            .success();
        assert_eq!(mode(&out), 0o600, "{name}: a private file stays private");
        chmod(&out, 0o644);
        wrapped(&env, &umask_077)
            .args(args(&out))
            .assert()
            .success();
        assert_eq!(mode(&out), 0o644, "{name}: a shared file stays shared");
        chmod(&out, 0o600);
        env.cmd().args(args(&out)).assert().success();
        assert_eq!(mode(&out), 0o600, "{name}: under umask 022 too");
    }
    // never through a link, never over a device
    std::fs::write(env.path("victim.txt"), "precious").unwrap();
    std::os::unix::fs::symlink("victim.txt", env.path("link.jsonl")).unwrap();
    for out in [env.path("link.jsonl"), PathBuf::from("/dev/null")] {
        for args in [export(&out), report(&out)] {
            let assert = env.cmd().args(&args).assert().failure();
            let line = error_line(&assert.get_output().stderr);
            assert!(line.contains("only a regular file"), "{line}");
        }
    }
    assert_eq!(read(&env.path("victim.txt")), "precious");
}

#[test]
fn in_memory_databases_are_refused_up_front() {
    let env = Env::new();
    env.write_config("http://127.0.0.1:9", TARGETS);
    let before = snapshot(env.dir.path());
    let commands: [&[&str]; 10] = [
        &["collect", "--once"],
        &["query"],
        &["status"],
        &["indicators", "--archived"],
        &["sql", "SELECT 1"],
        &["export"],
        &["report"],
        &["import", "-"],
        &["compact"],
        &["demo"],
    ];
    for db in [":memory:", "file::memory:", "file:x.db?mode=memory"] {
        for args in commands {
            let out = env
                .cmd()
                .args(args)
                .args(["--db", db])
                .write_stdin("")
                .timeout(Duration::from_secs(30))
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(2), "{args:?} --db {db}");
            let line = error_line(&out.stderr);
            assert!(
                line.contains("--db") && line.contains("pass a file path"),
                "{line}"
            );
        }
    }
    assert_eq!(
        snapshot(env.dir.path()),
        before,
        "no stray lock, nothing created"
    );
    // the config's `database`, and an empty one
    for value in [":memory:", "file::memory:", ""] {
        std::fs::write(
            env.path("rtc-archiver.toml"),
            format!("database = {value:?}\n{TARGETS}"),
        )
        .unwrap();
        for args in [&["collect", "--once"][..], &["status"]] {
            env.cmd().args(args).assert().code(2).stderr(
                predicate::str::contains("database: ")
                    .and(predicate::str::contains("pass a file path")),
            );
        }
    }
    // a file that merely has such a name is a file
    std::fs::write(env.path("p.jsonl"), format!(
        "{{\"app_id\":\"a\",\"source\":\"quality\",\"indicator\":\"x\",\"ts\":{T0},\"value\":1}}\n"
    ))
    .unwrap();
    for db in ["./:memory:", "./file:x.db?mode=memory", "a?b#c%d e.db"] {
        env.cmd()
            .args(["import", "--db", db, "p.jsonl"])
            .assert()
            .success();
        env.cmd()
            .args([
                "sql",
                "--db",
                db,
                "SELECT count(*) FROM samples",
                "--format",
                "csv",
            ])
            .assert()
            .success()
            .stdout("count(*)\n1\n");
        assert!(env.path(db.trim_start_matches("./")).is_file(), "{db}");
    }
}

#[test]
fn a_reset_user_version_exits_74_in_one_line_and_touches_nothing() {
    let env = Env::new();
    let db = archive(&env);
    let dbs = db.to_str().unwrap();
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.pragma_update(None, "user_version", 0).unwrap();
    drop(conn);
    env.write_config("http://127.0.0.1:9", TARGETS);
    let before = snapshot(env.dir.path());
    let commands: [&[&str]; 5] = [
        &["status"],
        &["sql", "SELECT 1"],
        &["import", "-"],
        &["compact"],
        &["collect", "--once"],
    ];
    for args in commands {
        let out = env
            .cmd()
            .args(args)
            .args(["--db", dbs])
            .write_stdin("")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(74), "{args:?}");
        let line = error_line(&out.stderr);
        assert!(
            line.contains("archive.db")
                && line.contains("inconsistent")
                && line.contains("user_version is 0"),
            "{line}"
        );
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("CREATE"),
            "no SQL pasted"
        );
        // (SQLite's own -wal and -shm may appear beside a WAL-mode file)
        let files = |snap: BTreeMap<String, String>| {
            snap.into_iter()
                .filter(|(n, _)| {
                    !n.ends_with(".lock") && !n.ends_with("-wal") && !n.ends_with("-shm")
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            files(snapshot(env.dir.path())),
            files(before.clone()),
            "{args:?}"
        );
    }
}

#[test]
fn files_that_are_not_sqlite_exit_74_in_one_line_and_are_left_alone() {
    let env = Env::new();
    let whole = std::fs::read(archive(&env)).unwrap();
    std::fs::remove_file(env.db()).unwrap();
    env.write_config("http://127.0.0.1:9", TARGETS);
    let random: Vec<u8> = (0..10_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(env.path("random.db"), random).unwrap();
    std::fs::write(env.path("empty.db"), "").unwrap();
    std::fs::write(env.path("truncated.db"), &whole[..whole.len() / 2]).unwrap();
    std::fs::create_dir(env.path("dir.db")).unwrap();
    assert!(
        Command::new("mkfifo")
            .arg(env.path("fifo.db"))
            .status()
            .unwrap()
            .success()
    );
    let readers: [&[&str]; 3] = [&["status"], &["sql", "SELECT 1"], &["export"]];
    let writers: [&[&str]; 3] = [&["import", "-"], &["compact"], &["collect", "--once"]];
    for (name, needle) in [
        ("random.db", "not an SQLite database"),
        ("empty.db", "empty file"),
        ("truncated.db", "damaged"),
        ("dir.db", "a directory"),
        ("fifo.db", "a FIFO"),
    ] {
        let before = std::fs::symlink_metadata(env.path(name)).unwrap();
        let content = before
            .is_file()
            .then(|| std::fs::read(env.path(name)).unwrap());
        for args in readers.iter().chain(if name == "empty.db" {
            &[][..]
        } else {
            &writers[..]
        }) {
            let out = env
                .cmd()
                .args(*args)
                .args(["--db", name])
                .write_stdin("")
                .timeout(Duration::from_secs(30))
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(74), "{args:?} --db {name}");
            let line = error_line(&out.stderr);
            assert!(
                line.contains(name) && line.contains(needle),
                "{args:?}: {line}"
            );
            let after = std::fs::symlink_metadata(env.path(name)).unwrap();
            assert_eq!(after.file_type(), before.file_type());
            if let Some(content) = &content {
                assert_eq!(
                    &std::fs::read(env.path(name)).unwrap(),
                    content,
                    "{name} changed"
                );
            }
        }
    }
}

#[test]
fn demo_fresh_removes_only_an_archive() {
    let env = Env::new();
    std::fs::write(env.path("notes.txt"), "precious").unwrap();
    let out = env
        .cmd()
        .args(["demo", "--fresh", "--db", "notes.txt"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(74));
    let line = error_line(&out.stderr);
    assert!(
        line.contains("notes.txt") && line.contains("only an archive"),
        "{line}"
    );
    assert_eq!(read(&env.path("notes.txt")), "precious");
    assert!(!env.path("notes.txt.lock").exists(), "no lock left behind");
}

#[test]
fn out_cannot_replace_the_archive() {
    let env = Env::new();
    let db = archive(&env);
    let before = snapshot(env.dir.path());
    std::fs::hard_link(&db, env.path("other-name.db")).unwrap();
    for out in [
        "archive.db",
        "./archive.db",
        "archive.db-wal",
        "archive.db.lock",
        "other-name.db",
    ] {
        for command in [
            &["export"][..],
            &["report", "--from", "2026-11-23", "--to", "2026-11-24"],
        ] {
            let assert = env
                .cmd()
                .args(command)
                .args(["--db", "archive.db", "--out", out])
                .assert()
                .code(2);
            let line = error_line(&assert.get_output().stderr);
            assert!(line.contains("is the archive"), "{line}");
        }
    }
    std::fs::remove_file(env.path("other-name.db")).unwrap();
    // the archive intact, nothing written beside it (but SQLite's -wal and -shm)
    let mut after = snapshot(env.dir.path());
    after.retain(|n, _| !n.ends_with("-wal") && !n.ends_with("-shm"));
    assert_eq!(after, before);
}
