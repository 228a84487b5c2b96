//! `config check --probe`: one minimal signed request per configured
//! action, to learn before the first pass whether the endpoint, the
//! credentials, the region, the clock and the target are right, and what
//! to fix when they are not. Which requests ([`plan`]) and what their
//! outcome means ([`explain`]) are pure; [`run`] sends them through the
//! collector's own client, at the API's rate.

use std::time::Duration;

use crate::api::{Answer, FetchError, QueryRequest};
use crate::client::ApiClient;
use crate::config::Config;
use crate::planner::last_complete_bucket;
use crate::{Source, timeutil};

/// One probe: the first target that asks for `source`'s action, with its
/// indicators of that action, over the newest bucket that is due (one
/// bucket, well inside the 60-minute horizon).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub source: Source,
    /// The target's place in the config, from 1 (`target[1]`).
    pub target: usize,
    pub request: QueryRequest,
}

/// The probes for a configuration at `now`: one per action some target
/// asks for, in the order of [`Source::ALL`].
pub fn plan(config: &Config, now: i64) -> Vec<Probe> {
    Source::ALL
        .iter()
        .filter_map(|&source| {
            let (i, t) = config
                .targets
                .iter()
                .enumerate()
                .find(|(_, t)| !t.indicators(source).is_empty())?;
            let bucket = last_complete_bucket(now, source.delay_secs());
            let spec = t.streams().into_iter().find(|s| s.key.source == source)?;
            Some(Probe {
                source,
                target: i + 1,
                request: QueryRequest {
                    action: source.realtime(),
                    stream: spec.key,
                    product_type: t
                        .product_type
                        .filter(|_| source.has_rooms())
                        .map(|p| p.as_str().to_string()),
                    indicators: spec.indicators,
                    start: bucket,
                    end: bucket,
                },
            })
        })
        .collect()
}

/// What a probe's outcome means: whether the configuration works for this
/// action, and a sentence saying so or what to check.
pub fn explain(result: &Result<Answer, FetchError>, endpoint: &str) -> (bool, String) {
    match result {
        Ok(answer) => {
            let request = answer
                .request_id
                .as_deref()
                .map(|id| format!(" [request {id}]"))
                .unwrap_or_default();
            (
                true,
                format!(
                    "ok: the signed request was accepted; {} series, {} points in the bucket{request}",
                    answer.series.len(),
                    answer.points()
                ),
            )
        }
        Err(e @ FetchError::Rejected { .. }) => (
            false,
            format!("{e} (the API refused it: retrying the same request cannot help)"),
        ),
        Err(e @ FetchError::Throttled { .. }) => (
            false,
            format!(
                "{e}: the account's request rate is in use (a running collector?); the \
                 configuration may be right: try again in a minute"
            ),
        ),
        Err(e @ FetchError::Server { .. }) => (
            false,
            format!("{e}: the API failed, not the configuration: try again later"),
        ),
        Err(FetchError::Transport(e)) => (
            false,
            format!(
                "{endpoint} did not answer: {e}; check api.endpoint, DNS, a proxy or firewall, \
                 and api.connect_timeout"
            ),
        ),
        Err(e @ FetchError::BadAnswer { .. }) => (
            false,
            format!(
                "{e}: {endpoint} answered, but not as the RTC OpenAPI does: check api.endpoint \
                 (https://rtc.volcengineapi.com)"
            ),
        ),
        Err(FetchError::Cancelled) => (false, "cancelled".into()),
    }
}

/// A probe sent, and how it went.
#[derive(Debug)]
pub struct Outcome {
    pub probe: Probe,
    pub result: Result<Answer, FetchError>,
    pub latency: Duration,
}

/// Sends the probes, one after the other, each at its action's rate.
pub async fn run(client: &ApiClient, probes: Vec<Probe>) -> Vec<Outcome> {
    let mut out = Vec::with_capacity(probes.len());
    for probe in probes {
        let outcome = match client.fetch(&probe.request).await {
            Ok(attempt) => Outcome {
                probe,
                result: attempt.result,
                latency: attempt.latency,
            },
            // not sent: the archive's collectors used up the day's quota
            Err(quota) => Outcome {
                probe,
                result: Err(FetchError::Throttled {
                    status: 429,
                    code: format!("not sent, {quota}"),
                    retry_after: None,
                    request_id: None,
                }),
                latency: Duration::ZERO,
            },
        };
        out.push(outcome);
    }
    out
}

/// One line for an outcome: the action, the target and window asked
/// for, and what the answer means.
pub fn describe(o: &Outcome, endpoint: &str) -> (bool, String) {
    let (ok, meaning) = explain(&o.result, endpoint);
    let stream = &o.probe.request.stream;
    (
        ok,
        format!(
            "probe {} (target[{}], {}, bucket {}, {} ms): {meaning}",
            o.probe.source.action(),
            o.probe.target,
            stream.label(),
            timeutil::fmt_utc(o.probe.request.start),
            o.latency.as_millis()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::horizon_start;

    const NOW: i64 = 1_795_435_210; // 2026-11-23T12:00:10Z

    fn config(targets: &str) -> Config {
        Config::parse(targets, "t.toml", std::path::Path::new(".")).unwrap()
    }

    #[test]
    fn one_probe_per_configured_action_over_one_due_bucket() {
        let c = config(
            "[[target]]\napp_id = \"a\"\nroom_id = \"r\"\nuser_ids = [\"u\"]\nquality = [\"stall_rate\"]\n\
             [[target]]\napp_id = \"b\"\nquality = [\"stall_rate\"]\noperation = [\"online_user_count\", \"online_room_count\"]\n",
        );
        let probes = plan(&c, NOW);
        assert_eq!(probes.len(), 2);
        let (q, o) = (&probes[0], &probes[1]);
        assert_eq!((q.source, q.target), (Source::Quality, 1));
        assert_eq!(q.request.stream.room_id.as_deref(), Some("r"));
        assert_eq!((o.source, o.target), (Source::Operation, 2));
        assert_eq!(
            o.request.indicators,
            ["online_user_count", "online_room_count"]
        );
        for p in &probes {
            let r = &p.request;
            assert_eq!(r.start, r.end, "one bucket");
            assert_eq!(r.start % 30, 0);
            assert!(r.start >= horizon_start(NOW, 0), "inside the horizon");
            assert!(r.start + 30 + p.source.delay_secs() <= NOW, "due");
        }
        // an action no target asks for is not probed
        let q_only = config("[[target]]\napp_id = \"a\"\nquality = [\"stall_rate\"]\n");
        assert_eq!(plan(&q_only, NOW).len(), 1);
    }

    #[test]
    fn outcomes_are_explained_with_what_to_check() {
        let e = "https://rtc.example";
        let refused = FetchError::Rejected {
            status: 403,
            code: "SignatureDoesNotMatch".into(),
            code_n: None,
            message: "signature mismatch".into(),
            hint: crate::api::hint_for("SignatureDoesNotMatch").into(),
            request_id: Some("req-1".into()),
        };
        let (ok, text) = explain(&Err(refused), e);
        assert!(!ok);
        assert!(
            text.contains("check the secret key") && text.contains("req-1"),
            "{text}"
        );
        let (ok, text) = explain(&Err(FetchError::Transport("could not connect".into())), e);
        assert!(
            !ok && text.contains("https://rtc.example did not answer"),
            "{text}"
        );
        assert!(text.contains("api.endpoint"), "{text}");
        let bad = FetchError::BadAnswer {
            status: 200,
            reason: "not JSON".into(),
        };
        assert!(
            explain(&Err(bad), e)
                .1
                .contains("not as the RTC OpenAPI does")
        );
        let (ok, text) = explain(&Ok(Answer::default()), e);
        assert!(ok && text.starts_with("ok:"), "{text}");
    }
}
