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

/// Every subcommand's name, from the clap definitions themselves.
fn subcommands() -> Vec<String> {
    use clap::CommandFactory as _;
    rtc_archiver::cli::Cli::command()
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect()
}

#[test]
fn completions_are_generated_for_bash_zsh_and_fish_and_know_every_subcommand() {
    let env = Env::new();
    let names = subcommands();
    assert!(
        names.len() >= 15 && names.contains(&"completions".to_string()),
        "{names:?}"
    );
    for shell in ["bash", "zsh", "fish"] {
        let out = env.cmd().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        for name in &names {
            assert!(script.contains(name.as_str()), "{shell}: no {name}");
        }
        // and the flags of a subcommand
        for flag in ["--indicator", "--step", "--probe"] {
            assert!(
                script.contains(flag.trim_start_matches('-')),
                "{shell}: no {flag}"
            );
        }
    }
    // the bash script is valid bash
    let script = env.path("rtc-archiver.bash");
    let out = env.cmd().args(["completions", "bash"]).output().unwrap();
    std::fs::write(&script, out.stdout).unwrap();
    let check = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    env.cmd().args(["completions", "tcsh"]).assert().code(2);
}

#[test]
fn the_man_page_names_every_subcommand_and_dir_writes_one_page_each() {
    let env = Env::new();
    let out = env.cmd().arg("man").output().unwrap();
    assert!(out.status.success());
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(page.contains(".TH rtc-archiver 1"), "{page}");
    for name in subcommands() {
        assert!(
            page.contains(&name.replace('-', "\\-")),
            "no {name} in the page"
        );
    }
    let dir = env.path("man1");
    std::fs::create_dir(&dir).unwrap();
    env.cmd()
        .args(["man", "--dir"])
        .arg(&dir)
        .assert()
        .success();
    for name in subcommands() {
        let sub = dir.join(format!("rtc-archiver-{name}.1"));
        let text =
            std::fs::read_to_string(&sub).unwrap_or_else(|e| panic!("{}: {e}", sub.display()));
        assert!(
            text.contains(&format!(".TH rtc-archiver-{name} 1")),
            "{text}"
        );
    }
    let check = std::fs::read_to_string(dir.join("rtc-archiver-config-check.1")).unwrap();
    assert!(check.contains("\\-\\-probe"), "{check}");
    assert!(dir.join("rtc-archiver.1").exists());
    env.cmd()
        .args(["man", "--dir"])
        .arg(env.path("missing"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a directory"));
}
