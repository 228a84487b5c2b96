//! The service files in contrib/ and the Containerfile run commands of this
//! binary: each command line they hold must parse with the real binary
//! (run with `--help` appended, which parses every flag and value before
//! it), and they must keep the promises the README makes for them.

mod common;

use std::collections::BTreeMap;

use common::*;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{ROOT}/{path}")).unwrap()
}

/// Splits a command line into words as a shell would for these files:
/// whitespace separates, `$( ... )` is one word (replaced by `X`).
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut depth = 0;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' if chars.peek() == Some(&'(') => {
                chars.next();
                depth += 1;
                word.push('X');
            }
            ')' if depth > 0 => depth -= 1,
            _ if depth > 0 => {}
            c if c.is_whitespace() => {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// Runs `rtc-archiver ARGS --help` with the real binary: succeeds only if
/// every subcommand, flag and value before `--help` parses.
fn assert_parses(env: &Env, args: &[String], envs: &[(String, String)], what: &str) {
    assert!(!args.is_empty(), "{what}: no arguments");
    let out = env
        .cmd()
        .envs(envs.iter().cloned())
        .args(args)
        .arg("--help")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{what}: `rtc-archiver {}` does not parse: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `key=value` lines of a unit file's section, repeated keys kept in order.
fn unit_keys(text: &str, section: &str) -> Vec<(String, String)> {
    let mut current = String::new();
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if line.starts_with('[') {
            current = line.trim_matches(['[', ']']).to_string();
        } else if current == section
            && let Some((k, v)) = line.split_once('=')
        {
            out.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

#[test]
fn the_systemd_unit_is_hardened_and_its_command_parses() {
    let env = Env::new();
    let unit = read("contrib/systemd/rtc-archiver.service");
    let service = unit_keys(&unit, "Service");
    let get = |k: &str| -> Vec<&str> {
        service
            .iter()
            .filter(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    let one = |k: &str| -> &str {
        let v = get(k);
        assert_eq!(v.len(), 1, "{k}: {v:?}");
        v[0]
    };
    // not root: a dedicated user (DynamicUser would hide the archive from its readers)
    assert_eq!(one("User"), "rtc-archiver");
    assert_eq!(one("ProtectSystem"), "strict");
    for (k, v) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("CapabilityBoundingSet", ""),
    ] {
        assert_eq!(one(k), v, "{k}");
    }
    let state = format!("/var/lib/{}", one("StateDirectory"));
    assert_eq!(one("WorkingDirectory"), state);
    let exec = words(one("ExecStart"));
    assert_eq!(exec[0], "/usr/local/bin/rtc-archiver");
    assert_eq!(exec[1], "collect");
    // the archive in the state directory, the only place it may write
    let db = exec.iter().position(|w| w == "--db").expect("--db");
    assert!(exec[db + 1].starts_with(&format!("{state}/")), "{exec:?}");
    assert!(exec.iter().any(|w| w == "--metrics-listen"), "{exec:?}");
    assert_parses(&env, &exec[1..], &[], "ExecStart");
    // the user the unit names is the one sysusers creates, home at the state directory
    let sysusers = read("contrib/systemd/rtc-archiver.sysusers");
    let line = sysusers
        .lines()
        .find(|l| l.starts_with("u "))
        .expect("a user line");
    let fields = words(line);
    assert_eq!(fields[1], "rtc-archiver");
    assert!(fields.contains(&state), "{line}");

    // systemd's own checks, where systemd is installed: the unit parses
    // without a warning, and its exposure rates "OK" (at most 2.5 of 10)
    let analyze = std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output();
    if !analyze.is_ok_and(|o| o.status.success()) {
        println!("skipping systemd-analyze checks: systemd-analyze is not installed here");
        return;
    }
    let copy = env.path("rtc-archiver.service");
    let binary = assert_cmd::cargo::cargo_bin("rtc-archiver");
    std::fs::write(
        &copy,
        unit.replace("/usr/local/bin/rtc-archiver", binary.to_str().unwrap()),
    )
    .unwrap();
    let verify = std::process::Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&copy)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&verify.stderr).to_string()
        + &String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success() && said.trim().is_empty(), "{said}");
    let security = std::process::Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--threshold=25"])
        .arg(&copy)
        .output()
        .unwrap();
    assert!(
        security.status.success(),
        "{}",
        String::from_utf8_lossy(&security.stdout)
    );
}

#[test]
fn every_command_of_the_cron_file_parses() {
    let env = Env::new();
    let cron = read("contrib/cron/rtc-archiver");
    let mut commands = 0;
    for line in cron.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.contains('=') && !line.contains(' ') {
            continue;
        }
        let w = words(line);
        if w.len() < 7 || w[0].contains('=') {
            continue;
        }
        // five time fields, the user, the command
        assert_eq!(w[5], "rtc-archiver", "runs as the service's user: {line}");
        let command = &w[6..];
        let mut segment: Vec<String> = Vec::new();
        for word in command.iter().chain(std::iter::once(&"&&".to_string())) {
            if ["&&", "||", "|", ";"].contains(&word.as_str()) {
                if segment.first().is_some_and(|c| c.ends_with("rtc-archiver")) {
                    let args: Vec<String> = segment[1..]
                        .iter()
                        .take_while(|a| !a.starts_with('>') && !a.starts_with("2>"))
                        .cloned()
                        .collect();
                    assert_parses(&env, &args, &[], line);
                    commands += 1;
                }
                segment.clear();
            } else {
                segment.push(word.clone());
            }
        }
    }
    assert_eq!(commands, 3, "collect, status and report");
    // credentials are never written into a file everyone reads
    assert!(!cron.contains("VOLC_SECRETKEY="), "{cron}");
}

#[test]
fn the_containerfile_runs_an_existing_command_as_a_non_root_user_with_a_volume() {
    let env = Env::new();
    let file = read("Containerfile");
    // instructions, with continuation lines joined
    let joined = file.replace("\\\n", " ");
    let instructions: Vec<(&str, &str)> = joined
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(' '))
        .collect();
    let last = |name: &str| -> &str {
        instructions
            .iter()
            .rev()
            .find(|(i, _)| *i == name)
            .unwrap_or_else(|| panic!("no {name}"))
            .1
    };
    let json = |name: &str| -> Vec<String> {
        serde_json::from_str(last(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let entrypoint = json("ENTRYPOINT");
    let cmd = json("CMD");
    // the entry point is the binary the final stage copies in
    let copy = last("COPY");
    assert!(copy.starts_with("--from=build "), "{copy}");
    assert!(copy.contains("/target/release/rtc-archiver "), "{copy}");
    assert_eq!(copy.split_whitespace().last(), Some(entrypoint[0].as_str()));
    assert_eq!(entrypoint.len(), 1);
    // its variables, as the container's environment
    let envs: Vec<(String, String)> = words(last("ENV"))
        .iter()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let envs_map: BTreeMap<_, _> = envs.iter().cloned().collect();
    assert_parses(&env, &cmd, &envs, "CMD");
    assert_eq!(cmd[0], "collect");
    // not root, and the archive in the volume
    let user = last("USER");
    assert!(
        !user.starts_with("root") && !user.starts_with("0"),
        "{user}"
    );
    let volume: Vec<String> = serde_json::from_str(last("VOLUME")).unwrap();
    let db = &envs_map["RTC_ARCHIVER_DB"];
    assert!(
        volume.iter().any(|v| db.starts_with(&format!("{v}/"))),
        "{db} outside {volume:?}"
    );
    // the build image's Rust is the crate's rust-version
    let manifest = read("Cargo.toml");
    let msrv = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .unwrap()
        .trim_matches('"');
    let from = instructions.iter().find(|(i, _)| *i == "FROM").unwrap().1;
    assert!(from.contains(&format!("rust:{msrv}-")), "{from} vs {msrv}");
    // the build context leaves out the build tree
    for ignore in [".containerignore", ".dockerignore"] {
        assert!(read(ignore).lines().any(|l| l == "target/"), "{ignore}");
    }
}
