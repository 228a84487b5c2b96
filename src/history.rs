//! History from the offline actions, `ListQuality` for the quality
//! streams and `ListQualityDistribution` for the breakdowns: what
//! `backfill` fetches and what the collector's gap repair fetches, planned
//! and sent the same way.
//!
//! Planning is pure ([`window`], [`plan_calls`], [`decide`]): the part of a
//! range the offline store can answer now (inside its 30-day reach, older
//! than its 8-hour data delay, in whole 5-minute slots), split into calls
//! of at most its 7-day span, one call for the indicators whose due
//! intervals coincide where the action takes a list (`ListQuality`), one
//! per indicator where it takes one (`ListQualityDistribution`). Sending
//! ([`run_call`]) goes through the client's pacer of the stream's offline
//! action (its own rate, shared with nothing else), retries what may pass
//! (transport, throttling, 5xx, unusable answers) and gives up on refusals
//! (credentials, permissions, parameters), then stores the answer with
//! [`Store::store_history`], which logs the fetched interval: that ledger
//! is what makes a backfill idempotent and resumable.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use tokio::sync::watch;

use crate::api::{Answer, FetchError, QueryRequest};
use crate::client::ApiClient;
use crate::pacer::QuotaExhausted;
use crate::series::{Action, StreamKey};
use crate::store::history::{SLOT_SECS, slot_ceil, slot_floor};
use crate::store::{self, HistoryFetch, Store, StoreError, WriteStats};
use crate::timeutil;

/// The offline actions this module calls: each answers the history of one
/// source ([`crate::Source::offline`]); operation data has none.
pub const ACTIONS: [Action; 2] = [Action::Quality, Action::QualityDistribution];

/// The shortest reach of the offline actions, in seconds: a gap that ended
/// before `now` minus it can no longer be repaired.
pub fn reach_secs() -> i64 {
    ACTIONS
        .iter()
        .map(|a| a.reach_secs())
        .fold(i64::MAX, i64::min)
}

/// The longest data delay of the offline actions, in seconds: nothing
/// newer is asked for.
pub fn delay_secs() -> i64 {
    ACTIONS.iter().map(|a| a.delay_secs()).fold(0, i64::max)
}

/// Seconds kept from the edge of the 30-day reach: a window planned now
/// must still be inside it when its request arrives, after a wait for the
/// pacer and a clock a little off.
pub const REACH_MARGIN: i64 = 600;

/// Attempts of one call before it fails for good (retryable errors only).
pub const MAX_ATTEMPTS: u32 = 5;

/// The slots `[from, to)` the offline `action` can answer at `now`:
/// starting at least [`REACH_MARGIN`] inside its reach, ending before its
/// data delay. Empty (`from >= to`) if none.
pub fn window(action: Action, now: i64) -> (i64, i64) {
    (
        slot_ceil(now - action.reach_secs() + REACH_MARGIN),
        slot_floor(now - action.delay_secs()),
    )
}

/// The slots `[from, to)` every offline action can answer at `now` (see
/// [`window`]): the range a backfill clamps to.
pub fn common_window(now: i64) -> (i64, i64) {
    ACTIONS
        .iter()
        .map(|&a| window(a, now))
        .fold((i64::MIN, i64::MAX), |(lo, hi), (a, b)| {
            (lo.max(a), hi.min(b))
        })
}

/// One planned offline call: whole 5-minute slots `[from, to)` of a
/// stream's indicators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The stream's offline action.
    pub action: Action,
    pub key: StreamKey,
    /// The requested indicators (as configured), in the stream's order.
    pub indicators: Vec<String>,
    pub from: i64,
    pub to: i64,
}

impl Call {
    /// The request, for slots `[from, to)` (the API's `EndTime` is the
    /// last slot's start: inclusive).
    pub fn request(&self, from: i64, product_type: Option<&str>) -> QueryRequest {
        QueryRequest {
            action: self.action,
            stream: self.key.clone(),
            product_type: product_type.map(str::to_string),
            indicators: self.indicators.clone(),
            start: from,
            end: self.to - SLOT_SECS,
        }
    }

    /// `[from, to)` in UTC, for messages.
    pub fn interval(&self) -> String {
        format!(
            "[{}, {})",
            timeutil::fmt_utc(self.from),
            timeutil::fmt_utc(self.to)
        )
    }
}

/// The calls that fetch what is due of one stream from its offline
/// action: `due` holds each requested indicator's due intervals (in the
/// stream's order), `(lo, hi)` the part of the range to fetch, further
/// clipped to what the action answers at `now` (see [`window`]).
/// Intervals are widened to whole slots and cut into pieces of at most the
/// action's span; indicators with the same piece share a call where the
/// action takes a list (`ListQuality`), and each has its own where it takes
/// one (`ListQualityDistribution`). Oldest first. Only whole slots inside
/// the window are asked for: the API answers the slots that start between
/// `StartTime` and `EndTime`, and the ledger must log only what was asked.
/// A stream without an offline action (operation data) has no calls.
pub fn plan_calls(
    key: &StreamKey,
    due: &[(String, Vec<(i64, i64)>)],
    (lo, hi): (i64, i64),
    now: i64,
) -> Vec<Call> {
    let Some(action) = key.source.offline() else {
        return Vec::new();
    };
    let span = action.max_span_secs();
    let reach = window(action, now);
    let (lo, hi) = (slot_ceil(lo.max(reach.0)), slot_floor(hi.min(reach.1)));
    // a piece and, where the action takes one indicator, whose it is
    let mut pieces: BTreeMap<(i64, i64, usize), Vec<String>> = BTreeMap::new();
    for (i, (indicator, intervals)) in due.iter().enumerate() {
        let own = if action.is_distribution() { i } else { 0 };
        // widened to whole slots, then merged where they meet: two gaps a
        // slot apart (cut by cause) are one fetch, not two of one slot
        let mut widened: Vec<(i64, i64)> = intervals
            .iter()
            .map(|&(a, b)| (slot_floor(a).max(lo), slot_ceil(b).min(hi)))
            .filter(|(a, b)| a < b)
            .collect();
        widened.sort_unstable();
        let mut merged: Vec<(i64, i64)> = Vec::new();
        for (a, b) in widened {
            match merged.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        for (mut a, b) in merged {
            while a < b {
                let end = (a + span).min(b);
                let names = pieces.entry((a, end, own)).or_default();
                if !names.contains(indicator) {
                    names.push(indicator.clone());
                }
                a = end;
            }
        }
    }
    pieces
        .into_iter()
        .map(|((from, to, _), indicators)| Call {
            action,
            key: key.clone(),
            indicators,
            from,
            to,
        })
        .collect()
}

/// What to do after a failed attempt of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Send it again after this wait.
    Retry(Duration),
    /// Stop: it failed for good (in this run).
    GiveUp,
}

/// The retry policy, a pure function of the error, the attempts made and
/// the backoff's next delay: retryable errors wait the backoff (or the
/// server's `Retry-After`, if longer) up to [`MAX_ATTEMPTS`]; refusals and
/// shutdown stop at once.
pub fn decide(error: &FetchError, attempts: u32, backoff: Duration) -> Next {
    if !error.is_retryable() || attempts >= MAX_ATTEMPTS {
        return Next::GiveUp;
    }
    Next::Retry(error.retry_after().map_or(backoff, |ra| ra.max(backoff)))
}

/// What became of one call.
#[derive(Debug)]
pub enum CallOutcome {
    /// Fetched and stored; `from` is where it began (later than planned if
    /// the reach moved on while it waited).
    Stored {
        from: i64,
        written: WriteStats,
        points: usize,
        attempts: u32,
    },
    /// Nothing of it is still inside the reach.
    OutOfReach,
    /// The API kept failing, or refused.
    Failed { error: FetchError, attempts: u32 },
    /// The archive could not be written.
    Store(StoreError),
    /// The action's daily quota is used up: not sent.
    OverBudget(QuotaExhausted),
    /// Shutdown arrived first.
    Cancelled,
}

/// Runs `f` on the store, on the blocking pool.
async fn with_store<T: Send + 'static>(
    store: &Arc<Mutex<Store>>,
    f: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(&mut store.lock().unwrap_or_else(|p| p.into_inner())))
        .await
        .unwrap_or_else(|e| Err(StoreError::Invalid(format!("archive task failed: {e}"))))
}

/// The due intervals of each of a stream's indicators within `[from, to)`.
pub async fn due(
    store: &Arc<Mutex<Store>>,
    key: &StreamKey,
    indicators: &[String],
    from: i64,
    to: i64,
) -> Result<Vec<(String, Vec<(i64, i64)>)>, StoreError> {
    let (k, inds) = (key.clone(), indicators.to_vec());
    with_store(store, move |s| {
        inds.into_iter()
            .map(|i| Ok((i.clone(), s.history_due(&k, &i, from, to)?)))
            .collect()
    })
    .await
}

/// Sends one call (waiting for its offline action's turn), retrying what
/// may pass, and stores its answer. Its start is clipped to the reach at
/// the moment it leaves. A call that fails for good is counted in the
/// stream's statistics.
pub async fn run_call(
    client: &ApiClient,
    store: &Arc<Mutex<Store>>,
    call: &Call,
    product_type: Option<&str>,
    shutdown: &mut watch::Receiver<bool>,
) -> CallOutcome {
    let mut backoff = ExponentialBuilder::new()
        .with_jitter()
        .with_min_delay(Duration::from_millis(500))
        .with_max_delay(Duration::from_secs(15))
        .without_max_times()
        .build();
    let mut attempts = 0;
    loop {
        if *shutdown.borrow() {
            return CallOutcome::Cancelled;
        }
        let grant = tokio::select! {
            p = client.permit(call.action, call.from) => p,
            Ok(_) = shutdown.wait_for(|stop| *stop) => return CallOutcome::Cancelled,
        };
        let grant = match grant {
            Ok(g) => g,
            Err(e) => return CallOutcome::OverBudget(e),
        };
        // planned at the moment it leaves: never beyond the reach
        let from = call.from.max(window(call.action, timeutil::now()).0);
        if from >= call.to {
            return CallOutcome::OutOfReach;
        }
        let req = call.request(from, product_type);
        attempts += 1;
        let attempt = tokio::select! {
            a = client.send_now(&req, grant) => a,
            Ok(_) = shutdown.wait_for(|stop| *stop) => return CallOutcome::Cancelled,
        };
        let error = match attempt.result {
            Ok(answer) => return store_answer(store, call, from, answer, attempts).await,
            Err(e) => e,
        };
        let next = backoff.next().unwrap_or(Duration::from_secs(15));
        match decide(&error, attempts, next) {
            Next::Retry(wait) => {
                tracing::warn!(
                    action = call.action.name(),
                    stream = %call.key,
                    window_start = %timeutil::fmt_utc(from),
                    window_end = %timeutil::fmt_utc(call.to),
                    outcome = error.kind(),
                    attempt = attempts,
                    retry_in_ms = wait.as_millis() as u64,
                    error = %error,
                    "offline request failed, retrying"
                );
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    Ok(_) = shutdown.wait_for(|stop| *stop) => return CallOutcome::Cancelled,
                }
            }
            Next::GiveUp => {
                let k = call.key.clone();
                let now = timeutil::now();
                if let Err(e) =
                    with_store(store, move |s| s.record_history_failure(&k, attempts, now)).await
                {
                    return CallOutcome::Store(e);
                }
                return CallOutcome::Failed { error, attempts };
            }
        }
    }
}

async fn store_answer(
    store: &Arc<Mutex<Store>>,
    call: &Call,
    from: i64,
    answer: Answer,
    attempts: u32,
) -> CallOutcome {
    let points = answer.points();
    for (reason, n) in &answer.skipped {
        tracing::warn!(reason = %reason, count = n, stream = %call.key, "skipped points of an offline answer");
    }
    let (k, inds, to) = (call.key.clone(), call.indicators.clone(), call.to);
    let now = timeutil::now();
    let written = with_store(store, move |s| {
        let fetch = HistoryFetch {
            indicators: &inds,
            from,
            to,
            series: answer
                .series
                .iter()
                .map(|a| store::FetchedSeries {
                    indicator: &a.name,
                    dimension_value: a.dimension_value.as_deref(),
                    unit: a.unit.as_deref(),
                    points: &a.points,
                })
                .collect(),
            attempts,
        };
        s.store_history(&k, &fetch, now)
    })
    .await;
    match written {
        Ok(written) => CallOutcome::Stored {
            from,
            written,
            points,
            attempts,
        },
        Err(e) => CallOutcome::Store(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Source;
    use crate::series::UserSet;

    const DAY: i64 = 86_400;
    const T0: i64 = 1_795_435_200; // a slot start
    /// A `now` whose window holds every range of the tests but the reach's.
    const NOW: i64 = T0 + 2 * DAY;

    fn key() -> StreamKey {
        StreamKey::new("app1", None, UserSet::NONE, Source::Quality)
    }

    #[test]
    fn the_window_is_inside_the_reach_and_before_the_delay() {
        let now = T0 + 17;
        for action in ACTIONS {
            let (lo, hi) = window(action, now);
            assert_eq!(lo % SLOT_SECS, 0);
            assert_eq!(hi % SLOT_SECS, 0);
            assert!(
                lo >= now - 30 * DAY + REACH_MARGIN,
                "{action}: inside the reach"
            );
            assert!(lo - (now - 30 * DAY + REACH_MARGIN) < SLOT_SECS);
            assert!(hi <= now - 8 * 3600 && hi > now - 8 * 3600 - SLOT_SECS);
        }
        assert_eq!((reach_secs(), delay_secs()), (30 * DAY, 8 * 3600));
    }

    #[test]
    fn calls_are_clipped_slot_aligned_split_by_the_span_and_grouped() {
        let due = vec![
            ("stall_rate".to_string(), vec![(T0 - 20 * DAY + 7, T0)]),
            (
                "network_trans_delay".to_string(),
                vec![(T0 - 20 * DAY, T0 - 13 * DAY), (T0 - DAY, T0 + DAY)],
            ),
        ];
        let lo = T0 - 15 * DAY;
        let hi = T0 - 3600;
        let calls = plan_calls(&key(), &due, (lo, hi), NOW);
        let shape: Vec<(i64, i64, usize)> = calls
            .iter()
            .map(|c| ((c.from - T0) / 3600, (c.to - T0) / 3600, c.indicators.len()))
            .collect();
        assert_eq!(
            shape,
            [
                // both start at the reach, but end apart: two calls
                (-15 * 24, -13 * 24, 1),
                (-15 * 24, -8 * 24, 1),
                (-8 * 24, -24, 1),
                (-24, -1, 2),
            ]
        );
        for c in &calls {
            assert_eq!(c.action, Action::Quality);
            assert!(c.to - c.from <= c.action.max_span_secs());
            let r = c.request(c.from, None);
            assert!(r.end - r.start <= c.action.max_span_secs());
            assert_eq!(r.end, c.to - SLOT_SECS, "EndTime is the last slot's start");
        }
        assert_eq!(
            calls[3].indicators,
            ["stall_rate", "network_trans_delay"],
            "the stream's order"
        );
        assert!(plan_calls(&key(), &due, (hi, lo), NOW).is_empty());
        // a regression: a range starting inside a slot asked for that slot
        // from its middle, and a re-run for the sliver before the logged start
        let calls = plan_calls(&key(), &due[..1], (T0 - DAY + 17, T0 - 3600 + 17), NOW);
        assert_eq!((calls[0].from, calls[0].to), (T0 - DAY + 300, T0 - 3600));
        assert!(
            plan_calls(
                &key(),
                &[("x".into(), vec![(T0, T0 + 300)])],
                (T0 + 17, T0 + DAY),
                NOW
            )
            .is_empty()
        );
    }

    #[test]
    fn calls_stay_inside_the_window_of_their_moment() {
        let due = vec![("stall_rate".to_string(), vec![(T0 - 40 * DAY, NOW)])];
        let calls = plan_calls(&key(), &due, (i64::MIN, i64::MAX), NOW);
        let (lo, hi) = window(Action::Quality, NOW);
        assert_eq!(calls.first().map(|c| c.from), Some(lo), "the reach");
        assert_eq!(calls.last().map(|c| c.to), Some(hi), "the data delay");
        assert_eq!(calls.len(), 5, "30 days in calls of at most 7");
    }

    #[test]
    fn gaps_a_slot_apart_are_one_call_not_two_of_one_slot() {
        // a hole cut by cause into two rows that meet inside a slot
        let base = T0 - 2 * DAY;
        let due = vec![(
            "stall_rate".to_string(),
            vec![
                (base + 90, base + 3600 + 120),
                (base + 3600 + 120, base + 7200),
            ],
        )];
        let calls = plan_calls(&key(), &due, (i64::MIN, i64::MAX), NOW);
        assert_eq!(calls.len(), 1, "{calls:?}");
        assert_eq!((calls[0].from, calls[0].to), (base, base + 7200));
    }

    #[test]
    fn a_breakdown_asks_for_one_indicator_per_call_and_operation_data_for_none() {
        let by_os = StreamKey::distribution("app1", crate::series::Dimension::Os);
        let due = vec![
            ("stall_rate".to_string(), vec![(T0 - DAY, T0)]),
            (
                "5s_join_room_success_rate".to_string(),
                vec![(T0 - DAY, T0)],
            ),
        ];
        let calls = plan_calls(&by_os, &due, (T0 - 2 * DAY, T0), NOW);
        let shape: Vec<(Action, i64, i64, Vec<String>)> = calls
            .iter()
            .map(|c| (c.action, c.from, c.to, c.indicators.clone()))
            .collect();
        assert_eq!(
            shape,
            [
                (
                    Action::QualityDistribution,
                    T0 - DAY,
                    T0,
                    vec!["stall_rate".to_string()]
                ),
                (
                    Action::QualityDistribution,
                    T0 - DAY,
                    T0,
                    vec!["5s_join_room_success_rate".to_string()]
                ),
            ]
        );
        let body = String::from_utf8(calls[0].request(T0 - DAY, None).body()).unwrap();
        assert!(
            body.contains(r#""Indicator":"stall_rate","Dimension":"OS""#),
            "{body}"
        );
        assert!(!body.contains("AggregateGranularity"), "{body}");
        let operation = StreamKey::new("app1", None, UserSet::NONE, Source::Operation);
        assert!(plan_calls(&operation, &due, (T0 - DAY, T0), NOW).is_empty());
    }

    #[test]
    fn retries_only_what_may_pass() {
        let s = Duration::from_secs;
        let server = |ra: Option<u64>| FetchError::Server {
            status: 503,
            code: "x".into(),
            message: "x".into(),
            retry_after: ra.map(s),
            request_id: None,
        };
        let refused = |code: &str| FetchError::Rejected {
            status: 400,
            code: code.into(),
            code_n: None,
            message: "x".into(),
            hint: String::new(),
            request_id: None,
        };
        let cases = [
            ("5xx backs off", server(None), 1, Next::Retry(s(2))),
            ("Retry-After wins", server(Some(9)), 1, Next::Retry(s(9))),
            (
                "transport errors retry",
                FetchError::Transport("reset".into()),
                2,
                Next::Retry(s(2)),
            ),
            ("attempts run out", server(None), MAX_ATTEMPTS, Next::GiveUp),
            (
                "a bad signature is final",
                refused("SignatureDoesNotMatch"),
                1,
                Next::GiveUp,
            ),
            (
                "beyond the reach is final",
                refused("InvalidParameter.OutofTimeRange"),
                1,
                Next::GiveUp,
            ),
            ("shutdown", FetchError::Cancelled, 1, Next::GiveUp),
        ];
        for (name, error, attempts, want) in cases {
            assert_eq!(decide(&error, attempts, s(2)), want, "{name}");
        }
    }
}
