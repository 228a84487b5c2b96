//! The `rtc-archiver` binary: parse the command line, run, print the error
//! once, exit with a documented code.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use rtc_archiver::cli::{Cli, Command, LogFormat};
use rtc_archiver::{commands, exit};
use tracing_subscriber::EnvFilter;

fn init_logging(format: LogFormat, command: &Command) {
    // the collector and the simulator narrate; the other commands only warn
    let default = match command {
        Command::Collect(_) | Command::Simulate(_) => "info",
        _ => "warn",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // colour for people at a terminal only: never into a cron log or the
    // journal, and never against NO_COLOR (https://no-color.org)
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.global.log_format, &cli.command);
    match commands::run(cli) {
        Ok(code) => exit::exit_code(code),
        Err(e) if exit::is_broken_pipe(&e) => exit::exit_code(exit::SUCCESS),
        Err(e) => {
            eprintln!("rtc-archiver: error: {e:#}");
            exit::exit_code(exit::code_for(&e))
        }
    }
}
