//! The request budget: each action's limit (a rate and an optional daily
//! quota, per account), and the demand against it: how many requests one
//! round needs, how long they take at the allowed pace, and whether every
//! stream can still be revisited before its data slides out of the
//! 60-minute horizon. Pure functions of the configuration, so that `config
//! check`, `status` and the collector say the same thing, with the numbers.

use std::fmt;
use std::time::Duration;

use crate::config::Config;
use crate::{HORIZON_SECS, Source, timeutil};

/// The actions whose limits `[api.limits]` may set, in the docs' order.
/// (Those the collector does not call yet are accepted, so that one
/// configuration serves the versions that do.)
pub const ACTIONS: [&str; 5] = [
    "ListRealTimeQuality",
    "ListRealTimeOperationData",
    "ListQuality",
    "ListRealTimeQualityDistribution",
    "ListQualityDistribution",
];

/// A rate: `requests` per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub requests: u32,
    pub per: Duration,
}

impl Rate {
    /// The documented limit of every action: 2 requests per second.
    pub const DEFAULT: Rate = Rate {
        requests: 2,
        per: Duration::from_secs(1),
    };

    /// Parses `2/s`, `10/m`, `100/h`.
    pub fn parse(s: &str) -> Result<Rate, String> {
        let bad = || {
            format!(
                "{s:?} is not a rate: use a whole number of requests per second, minute or \
                 hour, such as \"2/s\" or \"10/m\""
            )
        };
        let (n, unit) = s.trim().split_once('/').ok_or_else(bad)?;
        let requests: u32 = n.trim().parse().map_err(|_| bad())?;
        let per = match unit.trim() {
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            _ => return Err(bad()),
        };
        if requests == 0 {
            return Err(format!("{s:?} allows no request at all: use at least 1"));
        }
        Ok(Rate { requests, per })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.per.as_secs() {
            1 => "s",
            60 => "m",
            _ => "h",
        };
        write!(f, "{}/{unit}", self.requests)
    }
}

/// One action's limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub rate: Rate,
    /// Requests per day (UTC), if the account has a quota.
    pub daily: Option<u32>,
}

impl Default for Limit {
    fn default() -> Self {
        Limit {
            rate: Rate::DEFAULT,
            daily: None,
        }
    }
}

impl Limit {
    /// The time between two requests: the rate's, with a tenth of slack (a
    /// gateway counting a sliding second sees 2/s even with a little
    /// jitter), or the daily quota spread evenly over the day if that is
    /// slower.
    pub fn spacing(&self) -> Duration {
        let by_rate = self.rate.per.mul_f64(1.1) / self.rate.requests;
        let by_day = self
            .daily
            .map_or(Duration::ZERO, |d| Duration::from_secs(86_400) / d.max(1));
        by_rate.max(by_day)
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.rate)?;
        if let Some(d) = self.daily {
            write!(f, " and {d}/day")?;
        }
        Ok(())
    }
}

/// Every action's limit, by action name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits(std::collections::BTreeMap<String, Limit>);

impl Limits {
    /// The limit of an action: configured, else the documented default.
    pub fn of(&self, action: &str) -> Limit {
        self.0.get(action).copied().unwrap_or_default()
    }

    pub fn set(&mut self, action: &str, limit: Limit) {
        self.0.insert(action.to_string(), limit);
    }
}

/// One action's demand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Demand {
    pub source: Source,
    /// The action's limit.
    pub limit: Limit,
    /// Requests per pass: one per stream of the action (a target's
    /// indicators at once; for a breakdown, one per indicator and dimension).
    pub requests: u64,
    /// How long those requests take at the allowed rate.
    pub pass: Duration,
    /// How often each stream must be fetched for nothing to slide out of
    /// reach: the horizon less the margin, the data delay and a bucket.
    pub revisit: Duration,
}

impl Demand {
    /// Requests the limit allows within [`Demand::revisit`]: the most
    /// targets one collector (one account) can keep without loss.
    pub fn capacity(&self) -> u64 {
        (self.revisit.as_millis() / self.limit.spacing().as_millis().max(1)) as u64
    }

    /// Whether passes take longer than data stays reachable: gaps are certain.
    pub fn over_capacity(&self) -> bool {
        self.requests > self.capacity()
    }

    /// A warning with the numbers and what to change, if over capacity.
    pub fn warning(&self) -> Option<String> {
        self.over_capacity().then(|| {
            format!(
                "{} targets ask for {}: one round needs {} requests, {} at its limit of {} (one \
                 every {} ms), but each target must be revisited within {} or its data slides \
                 out of the 60-minute reach; at most {} targets fit. Gaps are certain (recorded \
                 as over_budget): collect fewer targets, or split them between collectors using \
                 different accounts (the limit is per account, so two collectors sharing one \
                 account share it); a longer overlap does not help",
                self.requests,
                self.source.action(),
                self.requests,
                timeutil::fmt_duration_secs(self.pass.as_secs() as i64),
                self.limit,
                self.limit.spacing().as_millis(),
                timeutil::fmt_duration_secs(self.revisit.as_secs() as i64),
                self.capacity()
            )
        })
    }
}

/// The demand of each action the configuration asks for.
pub fn demand(config: &Config) -> Vec<Demand> {
    let targets = |source: Source| {
        config
            .targets
            .iter()
            .flat_map(|t| t.streams())
            .filter(|s| s.key.source == source)
            .count() as u64
    };
    demand_of(targets, &config.api.limits, config.horizon_margin)
}

/// The demand of `targets(source)` requests per round of each action, under
/// `limits`, keeping `margin` from the horizon (actions without a target
/// are left out).
pub fn demand_of(
    targets: impl Fn(Source) -> u64,
    limits: &Limits,
    margin: Duration,
) -> Vec<Demand> {
    Source::ALL
        .into_iter()
        .filter_map(|source| {
            let requests = targets(source);
            if requests == 0 {
                return None;
            }
            let margin = margin.as_secs().min(HORIZON_SECS as u64);
            let reach = HORIZON_SECS as u64 - margin;
            let revisit = reach.saturating_sub(source.delay_secs() as u64 + 30);
            let limit = limits.of(source.action());
            Some(Demand {
                source,
                limit,
                requests,
                pass: limit.spacing() * u32::try_from(requests).unwrap_or(u32::MAX),
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
    fn limits_parse_and_pace() {
        assert_eq!(Rate::parse("2/s"), Ok(Rate::DEFAULT));
        assert_eq!(
            Rate::parse(" 10 / m ").unwrap(),
            Rate {
                requests: 10,
                per: Duration::from_secs(60)
            }
        );
        for bad in ["2", "2/d", "x/s", "-1/s", "0/s", "1.5/s", ""] {
            assert!(Rate::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Limit::default().spacing(), Duration::from_millis(550));
        let byteplus = Limit {
            rate: Rate::parse("10/m").unwrap(),
            daily: Some(1440),
        };
        // 10/m allows one every 6.6 s; 1,440 a day one a minute
        assert_eq!(byteplus.spacing(), Duration::from_secs(60));
        assert_eq!(byteplus.to_string(), "10/m and 1440/day");
        let mut limits = Limits::default();
        limits.set("ListQuality", byteplus);
        assert_eq!(limits.of("ListQuality"), byteplus);
        assert_eq!(limits.of("ListRealTimeQuality"), Limit::default());
    }

    #[test]
    fn a_few_targets_are_fine() {
        let d = demand(&config(240, false));
        assert_eq!(d.len(), 1);
        assert!(!d[0].over_capacity());
        assert!(d[0].warning().is_none());
    }
}
