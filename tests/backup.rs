//! A copyable archive: when a writer finishes, the .db file alone holds every
//! point; `backup` copies a consistent archive at any time, even while a
//! collector writes.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use predicates::prelude::*;
use rtc_archiver::simulator::SimConfig;

/// Copies the .db file alone (no -wal, no -shm) and counts what the copy
/// holds. Call it before any connection of the test's own opens the
/// archive: SQLite checkpoints when the last connection closes.
fn count_in_copy_of_db_file_alone(env: &Env) -> i64 {
    let copy = env.path("copy-of-db-file.db");
    std::fs::copy(env.db(), &copy).unwrap();
    assert!(!env.path("copy-of-db-file.db-wal").exists());
    rusqlite::Connection::open(&copy)
        .unwrap()
        .query_row("SELECT count(*) FROM samples", [], |r| r.get(0))
        .unwrap()
}

fn count(env: &Env) -> i64 {
    env.conn()
        .query_row("SELECT count(*) FROM samples", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn copyable_archive_after_collect_once_the_db_file_alone_holds_every_point() {
    let sim = Sim::start(SimConfig::default());
    let env = Env::new();
    env.write_config(&sim.endpoint, TARGETS);
    env.cmd().args(["collect", "--once"]).assert().success();
    let all = count_in_copy_of_db_file_alone(&env);
    assert!(all > 500, "{all}");
    assert_eq!(all, count(&env));
}

#[test]
fn copyable_archive_after_sigterm_the_db_file_alone_holds_every_point() {
    let sim = Sim::start(SimConfig::default());
    let env = Env::new();
    env.write_config(&sim.endpoint, TARGETS);
    let mut child = env
        .std_cmd()
        .arg("collect")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // the first pass stored everything it fetched
    assert!(wait_until(Duration::from_secs(30), || sim.stats().answered >= 3));
    std::thread::sleep(Duration::from_millis(500));
    let pid = child.id();
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let t = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(t.elapsed() < Duration::from_secs(10), "the collector stops");
        std::thread::sleep(Duration::from_millis(20));
    }
    // deleting the WAL loses nothing (the reproduction)
    let _ = std::fs::remove_file(env.path("archive.db-wal"));
    let _ = std::fs::remove_file(env.path("archive.db-shm"));
    let all = count(&env);
    assert!(all > 500, "{all}");
    assert_eq!(count_in_copy_of_db_file_alone(&env), all);
}

#[test]
fn copyable_archive_after_import_the_db_file_alone_holds_every_point() {
    let sim = Sim::start(SimConfig::default());
    let src = Env::new();
    src.write_config(&sim.endpoint, TARGETS);
    src.cmd().args(["collect", "--once"]).assert().success();
    let db = src.db();
    let exported = src.path("all.jsonl");
    src.cmd()
        .args(["export", "--db", db.to_str().unwrap(), "--out"])
        .arg(&exported)
        .assert()
        .success();
    let env = Env::new();
    env.cmd()
        .args(["import", "--db", env.db().to_str().unwrap()])
        .arg(&exported)
        .assert()
        .success();
    // the copy first: a connection of this test closing would checkpoint
    let in_copy = count_in_copy_of_db_file_alone(&env);
    assert_eq!(in_copy, count(&src));
    assert_eq!(in_copy, count(&env));
}

#[test]
fn backup_during_collection_is_a_consistent_archive_with_every_committed_point() {
    let sim = Sim::start(SimConfig::default());
    let env = Env::new();
    env.write_config(&sim.endpoint, TARGETS);
    let mut child = env
        .std_cmd()
        .arg("collect")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // the first pass stored all three streams
    assert!(wait_until(Duration::from_secs(30), || {
        rusqlite::Connection::open(env.db())
            .and_then(|c| {
                c.query_row("SELECT count(DISTINCT stream_id) FROM series", [], |r| {
                    r.get::<_, i64>(0)
                })
            })
            .is_ok_and(|n| n == 3)
    }));
    let before = count(&env);
    let out = env.path("backups/nightly.db");
    std::fs::create_dir(env.path("backups")).unwrap();
    let db = env.db();
    env.cmd()
        .args(["backup", "--db", db.to_str().unwrap(), "--out"])
        .arg(&out)
        .assert()
        .success()
        .stderr(predicate::str::contains("backed up"));
    let _ = child.kill();
    let _ = child.wait();
    // the copy stands alone: no WAL beside it, sound, every point committed
    // before the backup began, each with the archive's value
    assert!(!env.path("backups/nightly.db-wal").exists());
    let copy = rusqlite::Connection::open(&out).unwrap();
    let check: String = copy
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let in_copy: i64 = copy
        .query_row("SELECT count(*) FROM samples", [], |r| r.get(0))
        .unwrap();
    assert!(in_copy >= before, "{in_copy} < {before}");
    copy.execute("ATTACH ?1 AS live", [db.to_str().unwrap()])
        .unwrap();
    let differing: i64 = copy
        .query_row(
            "SELECT count(*) FROM points b JOIN live.points l USING (series_id, bucket)
             WHERE b.value IS NOT l.value",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(differing, 0);
    // the copy is itself an archive every command reads
    env.cmd()
        .args(["query", "--db", out.to_str().unwrap(), "--format", "csv"])
        .assert()
        .success()
        .stdout(predicate::str::contains("audio_stall_rate"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&out).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o077,
            0,
            "a backup is private to its owner: {mode:o}"
        );
    }
    // a second backup replaces the first; the archive itself is refused
    env.cmd()
        .args(["backup", "--db", db.to_str().unwrap(), "--out"])
        .arg(&out)
        .assert()
        .success();
    env.cmd()
        .args(["backup", "--db", db.to_str().unwrap(), "--out"])
        .arg(&db)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("the archive itself"));
    let leftovers: Vec<_> = std::fs::read_dir(env.path("backups"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, ["nightly.db"], "no temporary files left behind");
}
