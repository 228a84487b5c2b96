//! `rtc-archiver simulate`: the built-in API simulator, in the foreground.

use std::time::Duration;

use tracing::info;

use super::Ctx;
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
        rate_limit: crate::API_RATE_PER_SEC as usize,
    })
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
