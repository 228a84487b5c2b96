//! The real binary under a faked clock: libfaketime's `faketime` wrapper
//! (Debian package `faketime`) moves every clock of the process, the wall
//! clock (`SystemTime`) and the monotonic one under tokio's timers, by a
//! fixed offset that keeps running, so that a test lives through hours of
//! outage in seconds without touching the archive.
//!
//! Without the wrapper a test skips with a loud message, except under CI
//! (`CI` or `RTC_REQUIRE_FAKETIME` set), where it must run and fails.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::Env;

/// The environment variables that make a missing `faketime` a failure.
const REQUIRED_BY: [&str; 2] = ["RTC_REQUIRE_FAKETIME", "CI"];

/// The `faketime` wrapper found on `PATH`.
pub struct FakeTime {
    program: PathBuf,
}

impl FakeTime {
    /// The wrapper, or `None` for a test to skip (said on stderr) when it is
    /// missing; under CI a missing wrapper panics instead.
    pub fn find(test: &str) -> Option<FakeTime> {
        if let Some(program) = on_path("faketime") {
            return Some(FakeTime { program });
        }
        let required: Vec<&str> = REQUIRED_BY
            .into_iter()
            .filter(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()))
            .collect();
        assert!(
            required.is_empty(),
            "{test} needs `faketime` (libfaketime: `apt-get install faketime`) and {} is set, \
             so it may not skip; .ci/run installs it",
            required.join(" and ")
        );
        // straight to stderr: the test harness captures eprintln! and
        // shows it only for failures, and a skip must not pass unseen
        let _ = writeln!(
            std::io::stderr(),
            "\n*** SKIPPED {test}: `faketime` is not installed (apt-get install faketime); \
             set RTC_REQUIRE_FAKETIME=1 to make this a failure ***\n"
        );
        None
    }

    /// The real binary in `env`, its clocks `offset_secs` ahead of the
    /// machine's and running.
    pub fn cmd(&self, env: &Env, offset_secs: i64) -> Command {
        let mut cmd = Command::new(&self.program);
        env.prepare(&mut cmd);
        cmd.arg("-f")
            .arg(format!("{offset_secs:+}"))
            .arg(assert_cmd::cargo::cargo_bin("rtc-archiver"));
        cmd
    }
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
