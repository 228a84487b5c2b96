//! Faults the simulator can inject, at random with a seed or on a script, so
//! that tests can throw at the collector everything a real deployment does.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use super::model::mix;

/// One kind of failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    /// HTTP 500 with a JSON `InternalError`.
    Http500,
    /// HTTP 502 from a gateway, HTML body.
    Http502,
    /// HTTP 503 from a gateway, HTML body.
    Http503,
    /// HTTP 504 from a gateway, HTML body.
    Http504,
    /// HTTP 429 `AccountFlowLimitExceeded` with `Retry-After: 1`.
    Throttle,
    /// Answers only after the slow delay (beyond a client's timeout).
    Slow,
    /// A 200 whose JSON is cut in half.
    Truncate,
    /// The connection drops in the middle of the body.
    Reset,
    /// A 200 whose body is not JSON.
    Malformed,
    /// A 200 with valid JSON of the wrong shape.
    WrongShape,
    /// A good answer plus points with a missing or invalid time or value.
    BadPoints,
    /// A good answer plus points outside the requested window.
    Outside,
    /// A good answer with some points repeated.
    Duplicates,
    /// HTTP 403 `AccessDenied` (not retryable).
    Denied,
}

impl Fault {
    /// Every fault a healthy client should ride through by retrying or skipping.
    pub const RECOVERABLE: [Fault; 13] = [
        Fault::Http500,
        Fault::Http502,
        Fault::Http503,
        Fault::Http504,
        Fault::Throttle,
        Fault::Slow,
        Fault::Truncate,
        Fault::Reset,
        Fault::Malformed,
        Fault::WrongShape,
        Fault::BadPoints,
        Fault::Outside,
        Fault::Duplicates,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Fault::Http500 => "500",
            Fault::Http502 => "502",
            Fault::Http503 => "503",
            Fault::Http504 => "504",
            Fault::Throttle => "429",
            Fault::Slow => "slow",
            Fault::Truncate => "truncate",
            Fault::Reset => "reset",
            Fault::Malformed => "malformed",
            Fault::WrongShape => "wrong-shape",
            Fault::BadPoints => "bad-points",
            Fault::Outside => "outside",
            Fault::Duplicates => "duplicates",
            Fault::Denied => "denied",
        }
    }

    /// Whether the answer still carries every good point.
    pub fn serves_data(self) -> bool {
        matches!(
            self,
            Fault::BadPoints | Fault::Outside | Fault::Duplicates | Fault::Slow
        )
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Fault {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Fault::RECOVERABLE
            .into_iter()
            .chain([Fault::Denied])
            .find(|f| f.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown fault {s:?}: expected one of 500, 502, 503, 504, 429, slow, truncate, reset, \
                     malformed, wrong-shape, bad-points, outside, duplicates, denied, ok"
                )
            })
    }
}

/// When to inject which fault.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FaultPlan {
    /// Faults for the first requests, in order (`None` = answer normally);
    /// after the script, the random rate applies.
    pub script: Vec<Option<Fault>>,
    /// Share of requests, after the script, that get a random fault.
    pub rate: f64,
    /// Which faults the random choice picks from (all recoverable ones if empty).
    pub kinds: Vec<Fault>,
    pub seed: u64,
    /// How long a `slow` answer takes.
    pub slow: Duration,
}

impl FaultPlan {
    /// Parses a script such as `500,ok,429,truncate`.
    pub fn parse_script(s: &str) -> Result<Vec<Option<Fault>>, String> {
        s.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                if p == "ok" {
                    Ok(None)
                } else {
                    p.parse().map(Some)
                }
            })
            .collect()
    }

    /// The fault for the `n`-th request (0-based) of the simulator.
    pub fn fault_for(&self, n: u64) -> Option<Fault> {
        if let Some(f) = self.script.get(n as usize) {
            return *f;
        }
        if self.rate <= 0.0 {
            return None;
        }
        let h = mix(self.seed ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let u = (h >> 11) as f64 / (1u64 << 53) as f64;
        if u >= self.rate {
            return None;
        }
        let kinds: &[Fault] = if self.kinds.is_empty() {
            &Fault::RECOVERABLE
        } else {
            &self.kinds
        };
        Some(kinds[(mix(h) % kinds.len() as u64) as usize])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_parse_and_run_first() {
        let plan = FaultPlan {
            script: FaultPlan::parse_script("500, ok ,429,reset").unwrap(),
            ..FaultPlan::default()
        };
        assert_eq!(plan.fault_for(0), Some(Fault::Http500));
        assert_eq!(plan.fault_for(1), None);
        assert_eq!(plan.fault_for(2), Some(Fault::Throttle));
        assert_eq!(plan.fault_for(3), Some(Fault::Reset));
        assert_eq!(plan.fault_for(4), None);
        assert!(
            FaultPlan::parse_script("500,boom")
                .unwrap_err()
                .contains("boom")
        );
    }

    #[test]
    fn random_rate_is_close_and_covers_every_kind() {
        let plan = FaultPlan {
            rate: 0.15,
            seed: 7,
            ..FaultPlan::default()
        };
        let mut seen = std::collections::BTreeMap::new();
        let n = 20_000;
        for i in 0..n {
            if let Some(f) = plan.fault_for(i) {
                *seen.entry(f).or_insert(0) += 1;
            }
        }
        let total: i32 = seen.values().sum();
        let share = total as f64 / n as f64;
        assert!((0.13..0.17).contains(&share), "{share}");
        assert_eq!(seen.len(), Fault::RECOVERABLE.len());
    }
}
