//! Gap repair: after every pass, the recorded gaps of the quality streams
//! and of the breakdowns that the offline store can fill now (older than
//! its 8-hour data delay, inside its 30-day reach, not tried in the last
//! hour) are fetched at 5 minutes from the stream's offline action
//! (`ListQuality`, or `ListQualityDistribution` through its own pacer), as a
//! backfill would (see [`crate::history`]). A gap stays in the ledger (it
//! was lost at 30 s) and gains what repaired it. Operation data has no
//! offline equivalent: its gaps stay unrepaired.
//!
//! Cheap when there is nothing to do: one indexed query. Skipped while a
//! `backfill` holds `<database>.backfill.lock`, which the repair holds too
//! while it fetches, so that two processes never pace the offline action
//! at once.

use std::collections::BTreeMap;

use tracing::{debug, info, warn};

use super::{Shared, Shutdown};
use crate::history::{self, CallOutcome};
use crate::lock::{self, LockError, LockKind};
use crate::series::StreamKey;
use crate::store::{RepairDue, StoreError};
use crate::timeutil;

/// Seconds before a failed repair is tried again.
pub const RETRY_AFTER: i64 = 3600;

/// What one repair step did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RepairReport {
    /// Gaps filled at 5 minutes, and their seconds.
    pub gaps: u64,
    pub seconds: i64,
    /// Calls that failed (tried again in an hour).
    pub failed: u64,
}

/// The repairs due, by stream: each indicator's gap intervals, widened to
/// whole slots, and the gaps themselves.
fn by_stream(due: Vec<RepairDue>) -> BTreeMap<StreamKey, Vec<RepairDue>> {
    let mut out: BTreeMap<StreamKey, Vec<RepairDue>> = BTreeMap::new();
    for d in due {
        out.entry(d.key.clone()).or_default().push(d);
    }
    out
}

/// One repair step; a storage error ends it (the pass reports its own).
pub(super) async fn run(shared: &Shared, shutdown: &Shutdown) -> Result<RepairReport, StoreError> {
    let mut report = RepairReport::default();
    let now = timeutil::now();
    let due = {
        let store = shared.store.clone();
        tokio::task::spawn_blocking(move || {
            store.lock().unwrap_or_else(|p| p.into_inner()).repairs_due(
                now,
                history::delay_secs(),
                history::reach_secs(),
                RETRY_AFTER,
            )
        })
        .await
        .unwrap_or_else(|e| Err(StoreError::Invalid(format!("archive task failed: {e}"))))?
    };
    if due.is_empty() {
        return Ok(report);
    }
    let _lock = match lock::acquire_kind(&shared.config.database, LockKind::History) {
        Ok(l) => l,
        Err(LockError::Held(held)) => {
            info!(
                pid = %held.holder,
                gaps = due.len(),
                "a backfill is fetching history for this archive: gap repair waits for the next pass"
            );
            return Ok(report);
        }
        Err(e) => {
            warn!(error = %e, "cannot take the backfill lock: gap repair skipped this pass");
            return Ok(report);
        }
    };
    for (key, gaps) in by_stream(due) {
        let mut per_indicator: Vec<(String, Vec<(i64, i64)>)> = Vec::new();
        for g in &gaps {
            match per_indicator.iter_mut().find(|(i, _)| *i == g.indicator) {
                Some((_, v)) => v.push((g.start, g.end)),
                None => per_indicator.push((g.indicator.clone(), vec![(g.start, g.end)])),
            }
        }
        let product_type = shared
            .config
            .targets
            .iter()
            .find(|t| t.streams().iter().any(|s| s.key == key))
            .and_then(|t| t.product_type.map(|p| p.as_str().to_string()));
        let mut shutdown = shutdown.clone();
        // each call is clipped to its action's window at `now`
        for call in history::plan_calls(&key, &per_indicator, (i64::MIN, i64::MAX), now) {
            let outcome = history::run_call(
                &shared.client,
                &shared.store,
                &call,
                product_type.as_deref(),
                &mut shutdown,
            )
            .await;
            match outcome {
                CallOutcome::Stored { from, points, .. } => {
                    let filled: Vec<&RepairDue> = gaps
                        .iter()
                        .filter(|g| {
                            call.indicators.contains(&g.indicator)
                                && g.start >= from
                                && g.end <= call.to
                        })
                        .collect();
                    let secs: i64 = filled.iter().map(|g| g.end - g.start).sum();
                    report.gaps += filled.len() as u64;
                    report.seconds += secs;
                    shared
                        .metrics
                        .gaps_repaired(call.action, filled.len() as u64, secs);
                    info!(
                        stream = %key,
                        action = call.action.name(),
                        from = %timeutil::fmt_utc(from),
                        to = %timeutil::fmt_utc(call.to),
                        gaps = filled.len(),
                        points,
                        "repaired recorded gaps at 5 minutes from the offline API"
                    );
                }
                CallOutcome::OutOfReach => {}
                CallOutcome::Cancelled => return Ok(report),
                CallOutcome::Store(e) => return Err(e),
                CallOutcome::Failed { error, attempts } => {
                    report.failed += 1;
                    warn!(
                        stream = %key,
                        interval = %call.interval(),
                        attempts,
                        error = %error,
                        "gap repair failed; tried again in an hour"
                    );
                }
                CallOutcome::OverBudget(e) => {
                    report.failed += 1;
                    warn!(stream = %key, error = %e, "gap repair not sent; tried again in an hour");
                }
            }
        }
        // what is left unrepaired waits an hour before the next try
        let store = shared.store.clone();
        let tried: Vec<(String, i64)> = gaps
            .iter()
            .map(|g| (g.indicator.clone(), g.start))
            .collect();
        let k = key.clone();
        tokio::task::spawn_blocking(move || {
            let mut s = store.lock().unwrap_or_else(|p| p.into_inner());
            for (indicator, start) in &tried {
                s.note_repair_tried(&k, indicator, *start, timeutil::now())?;
            }
            Ok(())
        })
        .await
        .unwrap_or_else(|e| Err(StoreError::Invalid(format!("archive task failed: {e}"))))?;
    }
    debug!(?report, "gap repair finished");
    Ok(report)
}
