//! The `[report]` section: how `report` decides that a series got worse
//! (a default threshold, overrides per indicator glob), checked apart from
//! the collector's keys because only `report` reads it, and `report
//! --threshold` checks its flag with the same rule.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Checker, ConfigError};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReport {
    threshold: Option<f64>,
    #[serde(default)]
    thresholds: BTreeMap<String, f64>,
}

/// How `report` decides that a series got worse.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportConfig {
    /// How much worse (in the indicator's unit: percentage points for rates)
    /// the day's average must be than the previous day's or the same
    /// weekday's a week before to count as a regression.
    pub threshold: f64,
    /// Per-indicator overrides: (indicator name or glob, threshold), in the
    /// order of the patterns (TOML tables are read sorted, not in file order).
    pub thresholds: Vec<(String, f64)>,
}

impl Default for ReportConfig {
    fn default() -> Self {
        ReportConfig {
            threshold: 0.2,
            thresholds: Vec::new(),
        }
    }
}

impl ReportConfig {
    /// The threshold for an indicator: the first matching override, else the default.
    pub fn threshold_for(&self, indicator: &str) -> f64 {
        self.thresholds
            .iter()
            .find(|(pattern, _)| glob_match(pattern, indicator))
            .map_or(self.threshold, |(_, t)| *t)
    }
}

/// A regression threshold (config `report.threshold`, `report --threshold`):
/// a finite number, at least zero.
pub fn check_threshold(v: f64) -> Result<f64, String> {
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(format!(
            "{v} is not a threshold: use a number >= 0 (0.2 = 0.2 percentage points for rates)"
        ))
    }
}

/// `*` matches any run of characters, `?` any one; everything else itself.
/// Greedy with one backtrack point (the last `*`): linear in practice and
/// never worse than pattern × text, however many stars the pattern has.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    // after the last `*` seen: where the pattern resumes, and the text
    // position the star's match ends at so far
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                pi += 1;
                star = Some((pi, ti));
            }
            Some(&c) if c == '?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                // let the star take one more character
                Some((resume, taken)) => {
                    pi = resume;
                    ti = taken + 1;
                    star = Some((resume, taken + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// `[report]` checked: every threshold a finite number, at least zero, the
/// key named in the error; absent keys keep the defaults.
pub(super) fn check(c: &Checker, raw: Option<RawReport>) -> Result<ReportConfig, ConfigError> {
    let mut report = ReportConfig::default();
    let Some(raw) = raw else {
        return Ok(report);
    };
    let check = |key: &str, v: f64| check_threshold(v).map_err(|e| c.err(key, e));
    if let Some(t) = raw.threshold {
        report.threshold = check("threshold", t)?;
    }
    for (pattern, t) in raw.thresholds {
        let t = check(&format!("thresholds.\"{pattern}\""), t)?;
        report.thresholds.push((pattern, t));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_glob_with_many_stars_matches_in_linear_time() {
        // the recursive matcher took minutes (exponential) for this one
        let pattern = format!("{}b", "*".repeat(40));
        let started = std::time::Instant::now();
        assert!(!glob_match(&pattern, &"a".repeat(200)));
        assert!(glob_match(&pattern, &format!("{}b", "a".repeat(200))));
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        // the same answers as the obvious recursive definition
        fn slow(p: &[char], t: &[char]) -> bool {
            match (p.first(), t.first()) {
                (None, None) => true,
                (Some('*'), _) => slow(&p[1..], t) || (!t.is_empty() && slow(p, &t[1..])),
                (Some('?'), Some(_)) => slow(&p[1..], &t[1..]),
                (Some(a), Some(b)) if a == b => slow(&p[1..], &t[1..]),
                _ => false,
            }
        }
        let alphabet = ['a', 'b', '*', '?'];
        let mut x: u32 = 7;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        for _ in 0..20_000 {
            let mut word = |n: u32, alphabet: &[char]| -> String {
                (0..next() % n)
                    .map(|_| alphabet[(next() as usize) % alphabet.len()])
                    .collect()
            };
            let p = word(7, &alphabet);
            let t = word(7, &alphabet[..2]);
            let (pc, tc): (Vec<char>, Vec<char>) = (p.chars().collect(), t.chars().collect());
            assert_eq!(glob_match(&p, &t), slow(&pc, &tc), "{p:?} {t:?}");
        }
    }
}
