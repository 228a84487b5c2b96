//! What the collector does after a failed request, as a pure function of
//! the error, how far back the window reached when it was sent, the
//! backoff's next delay and the time left in the pass, so that every case
//! is a row of a table test, without clocks or sockets.
//!
//! One case needs care: a window refused for reaching beyond the API's
//! 60-minute horizon is never the user's fault. The planner keeps a margin
//! from the horizon and plans at the moment a request leaves, so such a
//! refusal means a clock off by more than the margin or a slow network;
//! the window is planned again with more margin, a few times, before the
//! refusal is reported.

use std::time::Duration;

use crate::HORIZON_SECS;
use crate::api::FetchError;

/// A parameter refusal of a window that started at least this far back
/// (seconds before the request left) may be a horizon refusal: the API does
/// not always say which parameter it refused.
pub const HORIZON_SUSPECT_LOOKBACK: i64 = HORIZON_SECS - 300;
/// Horizon refusals retried before giving up, each with more margin.
pub const MAX_HORIZON_RETRIES: u32 = 3;
/// Seconds of margin added after each horizon refusal.
pub const HORIZON_MARGIN_STEP: i64 = 60;

/// What was tried so far for one window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetryState {
    /// Refusals taken for horizon refusals.
    pub horizon_refusals: u32,
    /// Seconds kept from the horizon on top of the configured margin.
    pub extra_margin: i64,
}

/// Why the collector stops trying a window in this pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiveUp {
    /// The API refused the request (credentials, permission, parameters):
    /// retrying cannot help.
    Refused,
    /// The error may pass, but not within the pass's time.
    OutOfTime,
    /// Shutdown.
    Cancelled,
}

/// The decision after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Plan the window again and send it after `wait`, with `state` as the
    /// new retry state (its margin applied to the plan).
    Retry { wait: Duration, state: RetryState },
    /// Stop; the window is planned again next pass (the overlap makes that
    /// free) until it slides out of reach and becomes a gap.
    GiveUp(GiveUp),
}

/// Whether a refusal may be the API refusing a window for starting beyond
/// its horizon: the code says so, or a parameter refusal of a window that
/// started close to the horizon. `lookback` is how many seconds before the
/// request left its window started.
pub fn is_horizon_refusal(error: &FetchError, lookback: i64) -> bool {
    let FetchError::Rejected { code, .. } = error else {
        return false;
    };
    let code = code.to_ascii_lowercase();
    code.starts_with("invalidparameter.outoftimerange")
        || (code.starts_with("invalidparameter") && lookback >= HORIZON_SUSPECT_LOOKBACK)
}

/// Decides what to do after `error`.
///
/// - retryable errors (transport, throttling, 5xx, unusable answers) wait
///   `backoff`, or the server's `Retry-After` if longer, when that still
///   fits in `time_left`;
/// - a horizon refusal is retried at once with [`HORIZON_MARGIN_STEP`]
///   more margin, up to [`MAX_HORIZON_RETRIES`] times (the rate limiter
///   paces it);
/// - anything else is a refusal.
pub fn decide(
    error: &FetchError,
    lookback: i64,
    backoff: Duration,
    time_left: Duration,
    state: RetryState,
) -> Decision {
    if matches!(error, FetchError::Cancelled) {
        return Decision::GiveUp(GiveUp::Cancelled);
    }
    if is_horizon_refusal(error, lookback) {
        return if state.horizon_refusals < MAX_HORIZON_RETRIES {
            Decision::Retry {
                wait: Duration::ZERO,
                state: RetryState {
                    horizon_refusals: state.horizon_refusals + 1,
                    extra_margin: state.extra_margin + HORIZON_MARGIN_STEP,
                },
            }
        } else {
            Decision::GiveUp(GiveUp::Refused)
        };
    }
    if !error.is_retryable() {
        return Decision::GiveUp(GiveUp::Refused);
    }
    let wait = error.retry_after().map_or(backoff, |ra| ra.max(backoff));
    if wait < time_left {
        Decision::Retry { wait, state }
    } else {
        Decision::GiveUp(GiveUp::OutOfTime)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected(code: &str) -> FetchError {
        FetchError::Rejected {
            status: 400,
            code: code.into(),
            code_n: None,
            message: "x".into(),
            hint: String::new(),
            request_id: None,
        }
    }

    fn server(retry_after: Option<u64>) -> FetchError {
        FetchError::Server {
            status: 503,
            code: "HTTPError".into(),
            message: "x".into(),
            retry_after: retry_after.map(Duration::from_secs),
            request_id: None,
        }
    }

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn decisions() {
        let fresh = RetryState::default();
        let once = RetryState {
            horizon_refusals: 1,
            extra_margin: 60,
        };
        let spent = RetryState {
            horizon_refusals: MAX_HORIZON_RETRIES,
            extra_margin: 180,
        };
        let retry = |wait, state| Decision::Retry { wait, state };
        let cases: Vec<(
            &str,
            FetchError,
            i64,
            Duration,
            Duration,
            RetryState,
            Decision,
        )> = vec![
            (
                "5xx within the pass: back off",
                server(None),
                600,
                S(2),
                S(30),
                fresh,
                retry(S(2), fresh),
            ),
            (
                "Retry-After longer than the backoff wins",
                server(Some(5)),
                600,
                S(2),
                S(30),
                fresh,
                retry(S(5), fresh),
            ),
            (
                "the backoff longer than Retry-After wins",
                server(Some(1)),
                600,
                S(4),
                S(30),
                fresh,
                retry(S(4), fresh),
            ),
            (
                "no time left in the pass",
                server(None),
                600,
                S(8),
                S(5),
                fresh,
                Decision::GiveUp(GiveUp::OutOfTime),
            ),
            (
                "transport errors are retried",
                FetchError::Transport("reset".into()),
                600,
                S(1),
                S(30),
                fresh,
                retry(S(1), fresh),
            ),
            (
                "a bad signature is refused at once",
                rejected("SignatureDoesNotMatch"),
                3550,
                S(1),
                S(30),
                fresh,
                Decision::GiveUp(GiveUp::Refused),
            ),
            (
                "a documented out-of-range refusal is retried with more margin",
                rejected("InvalidParameter.OutofTimeRange"),
                900,
                S(1),
                S(0),
                fresh,
                retry(Duration::ZERO, once),
            ),
            (
                "a bare parameter refusal of a window at the horizon is taken for one",
                rejected("InvalidParameter"),
                3560,
                S(1),
                S(30),
                once,
                retry(
                    Duration::ZERO,
                    RetryState {
                        horizon_refusals: 2,
                        extra_margin: 120,
                    },
                ),
            ),
            (
                "a bare parameter refusal of a recent window is the configuration's",
                rejected("InvalidParameter"),
                660,
                S(1),
                S(30),
                fresh,
                Decision::GiveUp(GiveUp::Refused),
            ),
            (
                "horizon retries run out",
                rejected("InvalidParameter"),
                3560,
                S(1),
                S(30),
                spent,
                Decision::GiveUp(GiveUp::Refused),
            ),
            (
                "shutdown",
                FetchError::Cancelled,
                3560,
                S(1),
                S(30),
                fresh,
                Decision::GiveUp(GiveUp::Cancelled),
            ),
        ];
        for (name, error, lookback, backoff, left, state, want) in cases {
            assert_eq!(
                decide(&error, lookback, backoff, left, state),
                want,
                "{name}"
            );
        }
    }
}
