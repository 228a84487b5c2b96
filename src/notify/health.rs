//! The collector's health, as transitions worth a message: a stream
//! starting to lag more than `notify_lag` and its recovery, and the first
//! refusal of a stream until it succeeds again. A pure state machine fed
//! with each stream's outcome after a pass, so that one message is sent
//! per change, never one per pass.

use std::collections::HashMap;

use super::message::Event;
use crate::series::StreamKey;

/// What a pass found for one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// Fetched and stored up to `until` (the first bucket not yet fetched).
    Fetched { until: i64 },
    /// Nothing was due: the stream is as fresh as the data delay allows.
    UpToDate,
    /// The fetch failed; `refusal` holds the API's refusal, if it was one.
    Failed { refusal: Option<String> },
}

#[derive(Debug, Clone, Default)]
struct State {
    /// Up to where the stream is known to be archived.
    until: Option<i64>,
    lagging: bool,
    refused: bool,
}

/// The health of every stream seen, and the lag that counts as lagging.
#[derive(Debug, Clone)]
pub struct Health {
    lag_limit: i64,
    /// When watching began: a stream failing since then lags at least that long.
    started: i64,
    streams: HashMap<StreamKey, State>,
}

impl Health {
    pub fn new(lag_limit: i64, started: i64) -> Health {
        Health {
            lag_limit,
            started,
            streams: HashMap::new(),
        }
    }

    /// Takes one stream's outcome at `now`; returns the events of the
    /// transitions it makes (none while nothing changes).
    pub fn observe(&mut self, key: &StreamKey, check: Check, now: i64) -> Vec<Event> {
        let started = self.started;
        let s = self.streams.entry(key.clone()).or_default();
        let mut events = Vec::new();
        let lag = match &check {
            Check::Fetched { until } => {
                s.until = Some(s.until.map_or(*until, |u| u.max(*until)));
                s.refused = false;
                now - *until
            }
            Check::UpToDate => {
                s.refused = false;
                0
            }
            Check::Failed { refusal } => {
                if let Some(error) = refusal
                    && !s.refused
                {
                    s.refused = true;
                    events.push(Event::Refused {
                        stream: key.clone(),
                        error: error.clone(),
                    });
                }
                now - s.until.unwrap_or(started)
            }
        };
        let lagging = lag > self.lag_limit;
        if lagging != s.lagging {
            s.lagging = lagging;
            events.push(Event::Lag {
                stream: key.clone(),
                lag_s: lag.max(0),
                threshold_s: self.lag_limit,
                recovered: !lagging,
            });
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Source;
    use crate::series::UserSet;

    #[test]
    fn only_transitions_are_events() {
        let key = StreamKey::new("app1", None, UserSet::NONE, Source::Quality);
        let t0 = 1_795_392_000;
        let mut h = Health::new(600, t0);
        let refusal = || Check::Failed {
            refusal: Some("refused: HTTP 401 InvalidAccessKey".into()),
        };
        let failure = || Check::Failed { refusal: None };
        // (minutes after t0, check, the events' kinds and recovered flags)
        #[allow(clippy::type_complexity)]
        let steps: Vec<(i64, Check, Vec<(&str, Option<bool>)>)> = vec![
            (1, Check::Fetched { until: t0 }, vec![]),
            (2, Check::UpToDate, vec![]),
            // a transport error now and then: nothing to say yet
            (3, failure(), vec![]),
            // refused: one message, not one per pass
            (4, refusal(), vec![("refused", None)]),
            (5, refusal(), vec![]),
            // 10 minutes behind is not more than 10 minutes
            (10, refusal(), vec![]),
            (11, refusal(), vec![("lag", Some(false))]),
            (30, failure(), vec![]),
            // caught up: recovered; a later refusal is news again
            (
                31,
                Check::Fetched {
                    until: t0 + 30 * 60,
                },
                vec![("lag", Some(true))],
            ),
            (32, refusal(), vec![("refused", None)]),
        ];
        for (minute, check, want) in steps {
            let got: Vec<(&str, Option<bool>)> = h
                .observe(&key, check, t0 + minute * 60)
                .iter()
                .map(|e| match e {
                    Event::Refused { .. } => ("refused", None),
                    Event::Lag { recovered, .. } => ("lag", Some(*recovered)),
                    Event::Gap { .. } => ("gap", None),
                })
                .collect();
            assert_eq!(got, want, "minute {minute}");
        }
    }

    #[test]
    fn a_stream_failing_since_the_start_lags_from_the_start() {
        let key = StreamKey::new("app1", None, UserSet::NONE, Source::Operation);
        let t0 = 1_795_392_000;
        let mut h = Health::new(600, t0);
        assert!(
            h.observe(&key, Check::Failed { refusal: None }, t0 + 300)
                .is_empty()
        );
        let e = h.observe(&key, Check::Failed { refusal: None }, t0 + 601);
        assert!(
            matches!(
                e[..],
                [Event::Lag {
                    lag_s: 601,
                    recovered: false,
                    ..
                }]
            ),
            "{e:?}"
        );
    }
}
