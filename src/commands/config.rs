//! `rtc-archiver config example|check [--probe]`.

use std::io::Write;

use super::Ctx;
use crate::cli::{CheckArgs, ConfigCommand};
use crate::client::ApiClient;
use crate::config::{Config, EXAMPLE};
use crate::credentials::{self, Credentials};
use crate::{exit, probe, timeutil};

pub fn run(ctx: &Ctx, cmd: ConfigCommand) -> anyhow::Result<u8> {
    match cmd {
        ConfigCommand::Example => {
            std::io::stdout().lock().write_all(EXAMPLE.as_bytes())?;
            Ok(exit::SUCCESS)
        }
        ConfigCommand::Check(args) => check(ctx, args),
    }
}

fn check(ctx: &Ctx, args: CheckArgs) -> anyhow::Result<u8> {
    let mut out = std::io::stdout().lock();
    let c = ctx.config()?;
    describe(&mut out, &c)?;
    // where collect would find credentials: the place, never a value
    let creds = credentials::discover(|k| std::env::var(k).ok(), std::env::home_dir().as_deref());
    match &creds {
        Ok(found) => writeln!(out, "credentials: {}", origin(found))?,
        Err(_) => writeln!(
            out,
            "credentials: none usable (collect would refuse to start)"
        )?,
    }
    out.flush()?;
    // missing or broken credentials: exit 2 with what to set, as collect does
    let creds = creds?;
    if !args.probe {
        return Ok(exit::SUCCESS);
    }
    let probes = probe::plan(&c, timeutil::now());
    if probes.is_empty() {
        writeln!(
            out,
            "probe: no [[target]] asks for anything: nothing to probe"
        )?;
        return Ok(exit::SUCCESS);
    }
    let client = ApiClient::new(&c.api, creds)?;
    let outcomes = super::runtime()?.block_on(probe::run(&client, probes));
    let endpoint = c.api.endpoint.as_str().trim_end_matches('/');
    let mut all_ok = true;
    for o in &outcomes {
        let (ok, line) = probe::describe(o, endpoint);
        all_ok &= ok;
        writeln!(out, "{line}")?;
    }
    Ok(if all_ok { exit::SUCCESS } else { exit::FAILURE })
}

/// Where credentials were found, and whether they carry an STS token.
fn origin(c: &Credentials) -> String {
    let token = if c.session_token().is_some() {
        ", with an STS session token"
    } else {
        ""
    };
    format!("from {}{token}", c.origin)
}

/// What the file means, line by line.
fn describe(out: &mut impl Write, c: &Config) -> anyhow::Result<()> {
    writeln!(out, "{}: ok", c.file_name())?;
    writeln!(out, "database: {}", c.database.display())?;
    writeln!(
        out,
        "interval {}, overlap {}, endpoint {}, region {}",
        humantime::format_duration(c.interval),
        humantime::format_duration(c.overlap),
        c.api.endpoint,
        c.api.region
    )?;
    for (i, t) in c.targets.iter().enumerate() {
        writeln!(
            out,
            "target[{}]: app {}{}{}; quality {:?}; operation {:?}{}",
            i + 1,
            t.app_id,
            t.room_id
                .as_ref()
                .map(|r| format!(", room {r}"))
                .unwrap_or_default(),
            if t.user_ids.is_empty() {
                String::new()
            } else {
                format!(", users {}", t.user_ids)
            },
            t.quality,
            t.operation,
            if t.dimensions.is_empty() {
                String::new()
            } else {
                format!(
                    "; breakdown {:?} by {}",
                    t.distribution,
                    t.dimensions
                        .iter()
                        .map(|d| d.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        )?;
    }
    for d in crate::budget::demand(c) {
        match d.warning() {
            Some(w) => writeln!(out, "warning: {w}")?,
            None => writeln!(
                out,
                "{}: {} requests per pass, {} at the API's rate; fits (up to {} targets)",
                d.source.action(),
                d.requests,
                timeutil::fmt_duration_secs(d.pass.as_secs() as i64),
                d.capacity()
            )?,
        }
    }
    for u in &c.unknown_indicators {
        writeln!(
            out,
            "warning: {u} is not in the built-in catalog; the API decides"
        )?;
    }
    Ok(())
}
