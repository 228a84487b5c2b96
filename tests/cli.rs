//! The command line as people meet it: help that says which options are a
//! command's own, which are about the archive, which are global.

mod common;

use common::*;
use predicates::prelude::*;

fn help(env: &Env, args: &[&str]) -> String {
    let out = env.cmd().args(args).arg("--help").output().unwrap();
    assert!(out.status.success(), "{args:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn help_groups_global_and_archive_options_and_lists_them_only_where_used() {
    // issue 9: every command listed --db and --config, mixed into its own options
    let env = Env::new();
    let uses_archive: &[&[&str]] = &[
        &["collect"],
        &["query"],
        &["status"],
        &["indicators"],
        &["report"],
        &["export"],
        &["import"],
        &["sql"],
        &["compact"],
        &["backup"],
        &["config", "check"],
    ];
    for args in uses_archive {
        let text = help(&env, args);
        let archive = text
            .split("\nArchive:\n")
            .nth(1)
            .unwrap_or_else(|| panic!("{args:?}: {text}"));
        let archive = archive.split("\nGlobal options:\n").next().unwrap();
        assert!(
            archive.contains("--config <FILE>") && archive.contains("--db <FILE>"),
            "{args:?}: {text}"
        );
        let own = text.split("\nArchive:\n").next().unwrap();
        assert!(
            !own.contains("--db") && !own.contains("--log-format"),
            "{args:?}: {text}"
        );
        assert!(
            text.split("\nGlobal options:\n")
                .nth(1)
                .is_some_and(|g| g.contains("--log-format")),
            "{args:?}"
        );
    }
    for args in [&["simulate"][..], &["config", "example"]] {
        let text = help(&env, args);
        assert!(
            !text.contains("--db") && !text.contains("--config"),
            "{args:?}: {text}"
        );
        assert!(text.contains("Global options:"), "{args:?}: {text}");
    }
    // the demo takes an archive, but no configuration
    let demo = help(&env, &["demo"]);
    assert!(
        demo.contains("--db <FILE>") && !demo.contains("--config"),
        "{demo}"
    );
}

#[test]
fn config_and_db_are_taken_before_the_subcommand_too_and_the_flag_beats_the_environment() {
    let env = Env::new();
    let file = env.path("in.jsonl");
    std::fs::write(
        &file,
        r#"{"app_id":"app1","source":"operation","indicator":"online_user_count","ts":1795435200,"value":7}"#,
    )
    .unwrap();
    let db = env.db();
    let db = db.to_str().unwrap();
    env.cmd()
        .args(["import", "--quiet", "--db", db])
        .arg(&file)
        .assert()
        .success();
    let count = "SELECT count(*) AS n FROM samples";
    // as older versions took it: before the subcommand
    env.cmd()
        .args(["--db", db, "sql", count, "--format", "csv"])
        .assert()
        .success()
        .stdout("n\n1\n");
    // the environment stands in for the flag, and a flag wins over it
    env.cmd()
        .env("RTC_ARCHIVER_DB", db)
        .args(["sql", count, "--format", "csv"])
        .assert()
        .success()
        .stdout("n\n1\n");
    for args in [&["sql", "--db", db, count][..], &["--db", db, "sql", count]] {
        env.cmd()
            .env("RTC_ARCHIVER_DB", env.path("elsewhere.db"))
            .args(args)
            .args(["--format", "csv"])
            .assert()
            .success()
            .stdout("n\n1\n");
    }
    // a command that takes no archive refuses --db
    env.cmd()
        .args(["config", "example", "--db", db])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--db"));
}
