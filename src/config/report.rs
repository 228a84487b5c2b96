//! The `[report]` section: how `report` decides that a series got worse
//! (a default threshold, overrides per indicator glob, the share of a
//! comparison period that must be covered) and what makes an incident
//! (`[report.incidents]`), checked apart from the collector's keys because
//! only `report` reads it, and `report --threshold` checks its flag with
//! the same rule.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Checker, ConfigError};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReport {
    threshold: Option<f64>,
    #[serde(default)]
    thresholds: BTreeMap<String, f64>,
    min_coverage: Option<f64>,
    incidents: Option<RawIncidents>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIncidents {
    k: Option<f64>,
    weeks: Option<u32>,
    min_users: Option<f64>,
}

/// What makes an incident (see `report::incidents`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IncidentConfig {
    /// A 5-minute slot is anomalous when worse than its baseline by more
    /// than `k` robust spreads (and by more than the indicator's threshold).
    pub k: f64,
    /// How many previous weeks the baseline takes the same slot from.
    pub weeks: u32,
    /// Slots where the app has fewer users online than this
    /// (`online_user_count`, app-wide) are never anomalous; 0: no floor.
    pub min_users: f64,
}

impl Default for IncidentConfig {
    fn default() -> Self {
        IncidentConfig {
            k: 3.5,
            weeks: 4,
            min_users: 0.0,
        }
    }
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
    /// The share of a comparison period's buckets (due ones) that must hold
    /// a point for its change to be computed; below it the change is n/a.
    pub min_coverage: f64,
    pub incidents: IncidentConfig,
}

impl Default for ReportConfig {
    fn default() -> Self {
        ReportConfig {
            threshold: 0.2,
            thresholds: Vec::new(),
            min_coverage: 0.5,
            incidents: IncidentConfig::default(),
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
    if let Some(m) = raw.min_coverage {
        if !(0.0..=1.0).contains(&m) {
            return Err(c.err(
                "min_coverage",
                format!("{m} is not a share: use a number from 0 to 1 (0.5 = half the buckets)"),
            ));
        }
        report.min_coverage = m;
    }
    if let Some(i) = raw.incidents {
        report.incidents = check_incidents(&c.section("incidents"), i)?;
    }
    Ok(report)
}

/// `[report.incidents]` checked: `k` above zero, `weeks` from 1 to 12,
/// `min_users` at least zero.
fn check_incidents(c: &Checker, raw: RawIncidents) -> Result<IncidentConfig, ConfigError> {
    let mut out = IncidentConfig::default();
    if let Some(k) = raw.k {
        if !(k.is_finite() && k > 0.0 && k <= 100.0) {
            return Err(c.err(
                "k",
                format!("{k} is not a multiple of the spread: use a number above 0 (3.5 is usual)"),
            ));
        }
        out.k = k;
    }
    if let Some(w) = raw.weeks {
        if !(1..=12).contains(&w) {
            return Err(c.err(
                "weeks",
                format!("{w} weeks: use 1 to 12 (4 is a good choice)"),
            ));
        }
        out.weeks = w;
    }
    if let Some(m) = raw.min_users {
        if !(m.is_finite() && m >= 0.0) {
            return Err(c.err(
                "min_users",
                format!("{m} is not a number of users: use 0 (no floor) or more"),
            ));
        }
        out.min_users = m;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ReportConfig, String> {
        super::super::Config::parse(text, "test.toml", std::path::Path::new("/etc"))
            .map(|c| c.report)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn coverage_and_incident_knobs_are_checked() {
        let r = parse("").unwrap();
        assert_eq!(
            (r.min_coverage, r.incidents),
            (0.5, IncidentConfig::default())
        );
        let r = parse(
            "[report]\nmin_coverage = 0.25\n[report.incidents]\nk = 4\nweeks = 2\nmin_users = 100\n",
        )
        .unwrap();
        assert_eq!(r.min_coverage, 0.25);
        assert_eq!(
            r.incidents,
            IncidentConfig {
                k: 4.0,
                weeks: 2,
                min_users: 100.0
            }
        );
        for (text, want) in [
            (
                "[report]\nmin_coverage = 1.5\n",
                "report.min_coverage: 1.5 is not a share",
            ),
            (
                "[report.incidents]\nk = 0\n",
                "report.incidents.k: 0 is not a multiple",
            ),
            (
                "[report.incidents]\nweeks = 13\n",
                "report.incidents.weeks: 13 weeks",
            ),
            (
                "[report.incidents]\nmin_users = -1\n",
                "report.incidents.min_users: -1",
            ),
            ("[report.incidents]\nkk = 1\n", "unknown field `kk`"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
        }
    }

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
