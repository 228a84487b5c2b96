//! `rtc-archiver config example|check`.

use std::io::Write;

use super::Ctx;
use crate::cli::ConfigCommand;
use crate::config::EXAMPLE;
use crate::exit;

pub fn run(ctx: &Ctx, cmd: ConfigCommand) -> anyhow::Result<u8> {
    let mut out = std::io::stdout().lock();
    match cmd {
        ConfigCommand::Example => out.write_all(EXAMPLE.as_bytes())?,
        ConfigCommand::Check(_) => {
            let c = ctx.config()?;
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
                    "target[{}]: app {}{}{}; quality {:?}; operation {:?}",
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
                    t.operation
                )?;
            }
            for d in crate::budget::demand(&c) {
                match d.warning() {
                    Some(w) => writeln!(out, "warning: {w}")?,
                    None => writeln!(
                        out,
                        "{}: {} requests per pass, {} at the API's rate; fits (up to {} targets)",
                        d.source.action(),
                        d.requests,
                        crate::timeutil::fmt_duration_secs(d.pass.as_secs() as i64),
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
        }
    }
    Ok(exit::SUCCESS)
}
