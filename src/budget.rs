//! Demand against the API's rate: how many requests one pass needs per
//! action, how long they take at the allowed rate, and whether every
//! stream can still be revisited before its data slides out of the
//! 60-minute horizon. A pure function of the configuration, so that
//! `config check` and the collector say the same thing, with the numbers.

use std::time::Duration;

use crate::client::REQUEST_SPACING;
use crate::config::Config;
use crate::{HORIZON_SECS, Source, timeutil};

/// One action's demand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Demand {
    pub source: Source,
    /// Requests per pass: one per target asking for the action.
    pub requests: u64,
    /// How long those requests take at the allowed rate.
    pub pass: Duration,
    /// How often each stream must be fetched for nothing to slide out of
    /// reach: the horizon less the margin, the data delay and a bucket.
    pub revisit: Duration,
}

impl Demand {
    /// Requests the rate allows within [`Demand::revisit`]: the most
    /// targets one collector (one account) can keep without loss.
    pub fn capacity(&self) -> u64 {
        (self.revisit.as_millis() / REQUEST_SPACING.as_millis()) as u64
    }

    /// Whether passes take longer than data stays reachable: gaps are certain.
    pub fn over_capacity(&self) -> bool {
        self.requests > self.capacity()
    }

    /// A warning with the numbers and what to change, if over capacity.
    pub fn warning(&self) -> Option<String> {
        self.over_capacity().then(|| {
            format!(
                "{} targets ask for {}: one pass needs {} requests, {} at the API's rate (one \
                 every {} ms), but each target must be revisited within {} or its data slides \
                 out of the 60-minute reach; at most {} targets fit. Gaps are certain: collect \
                 fewer targets, or split them between collectors using different accounts (the \
                 rate limit is per account, so two collectors sharing one account share it)",
                self.requests,
                self.source.action(),
                self.requests,
                timeutil::fmt_duration_secs(self.pass.as_secs() as i64),
                REQUEST_SPACING.as_millis(),
                timeutil::fmt_duration_secs(self.revisit.as_secs() as i64),
                self.capacity()
            )
        })
    }
}

/// The demand of each action the configuration asks for.
pub fn demand(config: &Config) -> Vec<Demand> {
    Source::ALL
        .into_iter()
        .filter_map(|source| {
            let requests = config
                .targets
                .iter()
                .filter(|t| !t.indicators(source).is_empty())
                .count() as u64;
            if requests == 0 {
                return None;
            }
            let margin = config.horizon_margin.as_secs().min(HORIZON_SECS as u64);
            let reach = HORIZON_SECS as u64 - margin;
            let revisit = reach.saturating_sub(source.delay_secs() as u64 + 30);
            Some(Demand {
                source,
                requests,
                pass: REQUEST_SPACING * u32::try_from(requests).unwrap_or(u32::MAX),
                revisit: Duration::from_secs(revisit),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn config(targets: usize, operation: bool) -> Config {
        let mut text = String::new();
        for i in 0..targets {
            text.push_str(&format!(
                "[[target]]\napp_id = \"a\"\nroom_id = \"r{i}\"\nquality = [\"stall_rate\"]\n"
            ));
        }
        if operation {
            text.push_str("[[target]]\napp_id = \"a\"\noperation = [\"online_user_count\"]\n");
        }
        Config::parse(&text, "t.toml", Path::new(".")).unwrap()
    }

    #[test]
    fn ten_thousand_targets_are_over_capacity_with_the_numbers() {
        let d = demand(&config(10_000, true));
        assert_eq!(d.len(), 2);
        let q = &d[0];
        assert_eq!((q.source, q.requests), (Source::Quality, 10_000));
        // 10,000 × 550 ms ≈ 92 minutes against 3600 − 60 − 60 − 30 s
        assert_eq!(q.pass, Duration::from_millis(5_500_000));
        assert_eq!(q.revisit, Duration::from_secs(3450));
        assert_eq!(q.capacity(), 6272);
        let w = q.warning().unwrap();
        assert!(
            w.contains("10000 targets ask for ListRealTimeQuality"),
            "{w}"
        );
        assert!(w.contains("1h 31m 40s"), "{w}");
        assert!(w.contains("at most 6272 targets fit"), "{w}");
        // the one operation target is far inside
        assert_eq!(d[1].requests, 1);
        assert!(d[1].warning().is_none());
    }

    #[test]
    fn a_few_targets_are_fine() {
        let d = demand(&config(240, false));
        assert_eq!(d.len(), 1);
        assert!(!d[0].over_capacity());
        assert!(d[0].warning().is_none());
    }
}
