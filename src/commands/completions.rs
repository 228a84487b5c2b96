//! `rtc-archiver completions SHELL` and `rtc-archiver man [--dir DIR]`:
//! shell completions and manual pages, generated from the clap
//! definitions of [`crate::cli`], so they list exactly the flags there are.

use std::io::Write;
use std::path::Path;

use anyhow::Context as _;
use clap::CommandFactory as _;

use crate::cli::{Cli, CompletionsArgs, ManArgs};
use crate::exit::{self, UsageError};

/// The program's name in scripts and pages.
const NAME: &str = "rtc-archiver";

pub fn completions(args: CompletionsArgs) -> anyhow::Result<u8> {
    let mut cmd = Cli::command();
    // into memory first: the generator panics on a closed pipe, and
    // `completions bash | head` is as fine as `query | head`
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, NAME, &mut script);
    let mut out = std::io::stdout().lock();
    out.write_all(&script)?;
    out.flush()?;
    Ok(exit::SUCCESS)
}

pub fn man(args: ManArgs) -> anyhow::Result<u8> {
    let mut cmd = Cli::command();
    // the global options are copied into every subcommand as clap builds it
    cmd.build();
    match &args.dir {
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut page)?;
            let mut out = std::io::stdout().lock();
            out.write_all(&page)?;
            out.flush()?;
        }
        Some(dir) => {
            if !dir.is_dir() {
                return Err(UsageError(format!(
                    "--dir {}: not a directory: create it first",
                    dir.display()
                ))
                .into());
            }
            let written = write_pages(&cmd, NAME, dir)?;
            eprintln!(
                "rtc-archiver: wrote {written} manual pages into {}",
                dir.display()
            );
        }
    }
    Ok(exit::SUCCESS)
}

/// Writes `name.1` for `cmd` and `name-SUB.1` for each of its subcommands,
/// theirs in turn (`rtc-archiver-config-check.1`), as git names its pages.
fn write_pages(cmd: &clap::Command, name: &str, dir: &Path) -> anyhow::Result<usize> {
    let page = cmd.clone().display_name(name.to_string());
    let path = dir.join(format!("{name}.1"));
    let mut text = Vec::new();
    clap_mangen::Man::new(page)
        .source(format!("{NAME} {}", env!("CARGO_PKG_VERSION")))
        .render(&mut text)?;
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    let mut written = 1;
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        written += write_pages(sub, &format!("{name}-{}", sub.get_name()), dir)?;
    }
    Ok(written)
}
