//! `rtc-archiver simulate`: the built-in API simulator, in the foreground.

use std::time::Duration;

use tracing::info;

use super::Ctx;
use crate::budget::{ACTIONS, Limit, Limits, Rate};
use crate::cli::SimulateArgs;
use crate::exit::{self, UsageError};
use crate::simulator::{self, FaultPlan, Model, SimConfig};

pub fn sim_config(args: &SimulateArgs) -> anyhow::Result<SimConfig> {
    // --fault-rate is checked by its parser: 0 to 1
    let script = match &args.fault_script {
        Some(s) => {
            FaultPlan::parse_script(s).map_err(|e| UsageError(format!("--fault-script: {e}")))?
        }
        None => Vec::new(),
    };
    Ok(SimConfig {
        access_key: args.access_key.clone(),
        secret_key: args.secret_key.clone(),
        session_token: args.session_token.clone(),
        region: args.region.clone(),
        model: Model {
            seed: args.seed,
            revision_secs: args.revision_secs,
            missing_per_mille: args.missing_per_mille,
        },
        faults: FaultPlan {
            script,
            rate: args.fault_rate,
            kinds: args.fault_kinds.clone(),
            seed: args.seed,
            slow: args.slow,
        },
        limits: limits(&args.limit)?,
    })
}

/// `--limit ACTION=RATE[:DAILY]`, as `[api.limits]` reads them.
fn limits(flags: &[String]) -> anyhow::Result<Limits> {
    let mut limits = Limits::default();
    for flag in flags {
        let bad = |why: String| UsageError(format!("--limit {flag:?}: {why}"));
        let (action, limit) = flag.split_once('=').ok_or_else(|| {
            bad("use ACTION=RATE or ACTION=RATE:DAILY, e.g. ListQuality=10/m:60".into())
        })?;
        if !ACTIONS.contains(&action) {
            return Err(bad(format!("unknown action: use one of {}", ACTIONS.join(", "))).into());
        }
        let (rate, daily) = match limit.split_once(':') {
            Some((r, d)) => {
                let d: u32 = d.parse().ok().filter(|d| *d > 0).ok_or_else(|| {
                    bad(format!(
                        "{d:?} is not a daily quota (a whole number, at least 1)"
                    ))
                })?;
                (r, Some(d))
            }
            None => (limit, None),
        };
        let rate = Rate::parse(rate).map_err(bad)?;
        limits.set(action, Limit { rate, daily });
    }
    Ok(limits)
}

pub fn run(_ctx: &Ctx, args: SimulateArgs) -> anyhow::Result<u8> {
    let config = sim_config(&args)?;
    if !args.listen.ip().is_loopback() {
        return Err(UsageError(format!(
            "--listen {}: the simulator serves loopback addresses only (127.0.0.1 or ::1)",
            args.listen
        ))
        .into());
    }
    let runtime = super::runtime()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| UsageError(format!("--listen {}: {e}", args.listen)))?;
        let handle = simulator::start(listener, config)?;
        // machine-readable first line, for scripts that start it on port 0
        println!("listening on {}", handle.endpoint());
        info!(
            endpoint = %handle.endpoint(),
            access_key = %args.access_key,
            fault_rate = args.fault_rate,
            "simulator running; stats at /_sim/stats; Ctrl-C stops it"
        );
        super::wait_for_signal().await;
        let stats = handle.stats();
        handle.stop().await;
        tokio::time::sleep(Duration::from_millis(10)).await;
        eprintln!("{}", serde_json::to_string(&stats)?);
        Ok(exit::SUCCESS)
    })
}
