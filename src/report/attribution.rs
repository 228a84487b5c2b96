//! Where it broke: when an app-wide quality indicator regresses, or an
//! incident is found in it, and the archive holds its breakdown (the
//! distribution series of the same app and answered indicator name, by
//! `OS`, `Access`, `Province` or `Country`), which values of each dimension
//! moved it most.
//!
//! For each value: its average over the window and over the comparison
//! window, its change, its share of the window's data (points of that value
//! over the points of every value: the nearest measure of its weight the
//! API gives), and its contribution, the change weighted by that share, in
//! the direction of worse (positive: it made the indicator worse). The
//! contributions of a dimension add up to how much worse the mix-weighted
//! indicator got; each value's `share` is its part of that sum (a value
//! that improved has a negative share). Values are ranked by contribution
//! and the first [`TOP_VALUES`] kept.
//!
//! [`rank`] is the pure computation (table-tested); [`build`] reads the
//! windows' statistics through the store.

use serde::Serialize;

use super::rules::{Against, Direction};
use crate::series::Dimension;

/// Values kept per dimension, the ones that moved the indicator most.
pub const TOP_VALUES: usize = 3;

/// What one value's series holds over the window and the comparison.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ValueStats {
    pub count: i64,
    pub avg: Option<f64>,
    pub previous_count: i64,
    pub previous_avg: Option<f64>,
}

/// One value of a dimension and how it moved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValueMove {
    pub value: String,
    pub avg: Option<f64>,
    pub previous_avg: Option<f64>,
    /// avg − previous_avg; null unless both windows hold the value.
    pub change: Option<f64>,
    /// Its points over every value's points in the window.
    pub data_share: f64,
    /// data_share × how much worse it got (negative: better).
    pub contribution: Option<f64>,
    /// Its part of the dimension's total contribution, when that total
    /// is a worsening.
    pub share: Option<f64>,
}

/// The values of one dimension that moved the indicator most.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DimensionMoves {
    pub dimension: Dimension,
    /// Σ contribution over every value (not only the top ones).
    pub total_contribution: Option<f64>,
    /// How many values the breakdown holds in the window.
    pub values_seen: usize,
    /// The top [`TOP_VALUES`], most worsening first.
    pub values: Vec<ValueMove>,
}

/// What set an attribution off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Regression,
    Incident,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Regression => "regression",
            Trigger::Incident => "incident",
        }
    }
}

/// The breakdown of one regression or incident.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attribution {
    pub app_id: String,
    pub indicator: String,
    pub unit: Option<String>,
    pub trigger: Trigger,
    /// For a regression, the comparison it got worse against.
    pub against: Option<Against>,
    /// The window looked at (the period, or the incident) and the one it
    /// is compared with (for an incident: the same stretch a week before).
    pub from: i64,
    pub to: i64,
    pub from_time: String,
    pub to_time: String,
    pub previous_from: i64,
    pub previous_to: i64,
    pub dimensions: Vec<DimensionMoves>,
}

/// Ranks the values of one dimension by how much they made the indicator
/// worse; keeps the first `top` of those that did (a positive
/// contribution).
pub fn rank(
    dimension: Dimension,
    direction: Direction,
    values: &[(String, ValueStats)],
    top: usize,
) -> DimensionMoves {
    let total_count: i64 = values.iter().map(|(_, s)| s.count).sum();
    let mut moves: Vec<ValueMove> = values
        .iter()
        .filter(|(_, s)| s.count > 0 || s.previous_count > 0)
        .map(|(value, s)| {
            let data_share = if total_count > 0 {
                s.count as f64 / total_count as f64
            } else {
                0.0
            };
            let change = match (s.avg, s.previous_avg) {
                (Some(a), Some(p)) => Some(a - p),
                _ => None,
            };
            let contribution = change
                .and_then(|c| direction.worsening(c))
                .map(|w| w * data_share);
            ValueMove {
                value: value.clone(),
                avg: s.avg,
                previous_avg: s.previous_avg,
                change,
                data_share,
                contribution,
                share: None,
            }
        })
        .collect();
    let contributions: Vec<f64> = moves.iter().filter_map(|m| m.contribution).collect();
    let total = (!contributions.is_empty()).then(|| contributions.iter().sum::<f64>());
    if let Some(t) = total.filter(|t| *t > 0.0) {
        for m in &mut moves {
            m.share = m.contribution.map(|c| c / t);
        }
    }
    let values_seen = moves.iter().filter(|m| m.avg.is_some()).count();
    // most worsening first; values without a comparison last, by name
    moves.sort_by(|a, b| {
        let key = |m: &ValueMove| m.contribution.unwrap_or(f64::NEG_INFINITY);
        key(b)
            .total_cmp(&key(a))
            .then_with(|| a.value.cmp(&b.value))
    });
    // only what made it worse: a value that improved, held steady or has
    // nothing to compare with did not move it there
    moves.retain(|m| m.contribution.is_some_and(|c| c > 0.0));
    moves.truncate(top);
    DimensionMoves {
        dimension,
        total_contribution: total,
        values_seen,
        values: moves,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(count: i64, avg: f64, previous_avg: f64) -> ValueStats {
        ValueStats {
            count,
            avg: Some(avg),
            previous_count: count,
            previous_avg: Some(previous_avg),
        }
    }

    fn values(list: &[(&str, ValueStats)]) -> Vec<(String, ValueStats)> {
        list.iter().map(|(v, s)| (v.to_string(), *s)).collect()
    }

    #[test]
    fn the_value_that_moved_leads_with_most_of_the_share() {
        // a stall rate: android's tripled, the others stayed put
        let v = values(&[
            ("ios", stats(100, 1.0, 1.0)),
            ("android", stats(100, 3.0, 1.0)),
            ("windows", stats(50, 1.1, 1.0)),
            ("mac", stats(50, 0.9, 1.0)),
        ]);
        let d = rank(Dimension::Os, Direction::LowerIsBetter, &v, 3);
        let names: Vec<&str> = d.values.iter().map(|m| m.value.as_str()).collect();
        // ios held steady and mac improved: neither made it worse
        assert_eq!(names, ["android", "windows"]);
        let android = &d.values[0];
        assert_eq!(android.change, Some(2.0));
        assert!((android.data_share - 1.0 / 3.0).abs() < 1e-12);
        assert!((android.contribution.unwrap() - 2.0 / 3.0).abs() < 1e-12);
        // total: 2/3 + 0.1/6 − 0.1/6 = 2/3: android carries all of it
        assert!((d.total_contribution.unwrap() - 2.0 / 3.0).abs() < 1e-12);
        assert!((android.share.unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(d.values_seen, 4);
    }

    #[test]
    fn success_rates_worsen_downwards() {
        let v = values(&[
            ("wifi", stats(300, 99.0, 99.0)),
            ("4g", stats(100, 95.0, 98.0)),
            ("5g", stats(100, 99.5, 99.0)),
        ]);
        let d = rank(Dimension::Access, Direction::HigherIsBetter, &v, 2);
        assert_eq!(d.values[0].value, "4g");
        assert_eq!(d.values[0].change, Some(-3.0));
        assert!((d.values[0].contribution.unwrap() - 0.6).abs() < 1e-12);
        // wifi held steady, 5g improved: only 4g made it worse
        assert_eq!(d.values.len(), 1);
        // 5g's improvement still counts in the total the shares divide:
        // 0.6 − 0.1 = 0.5, so 4g's share is 120%
        let total = d.total_contribution.unwrap();
        assert!((total - 0.5).abs() < 1e-12, "{total}");
        assert!((d.values[0].share.unwrap() - 1.2).abs() < 1e-12);
    }

    #[test]
    fn values_without_a_comparison_or_an_improvement_have_no_share() {
        let new = ValueStats {
            count: 10,
            avg: Some(5.0),
            previous_count: 0,
            previous_avg: None,
        };
        let gone = ValueStats {
            count: 0,
            avg: None,
            previous_count: 10,
            previous_avg: Some(1.0),
        };
        let v = values(&[("广东", new), ("北京", gone), ("上海", stats(10, 0.5, 1.0))]);
        let d = rank(Dimension::Province, Direction::LowerIsBetter, &v, 5);
        // the only comparable value improved: no worsening to share out,
        // and no value to name
        assert!(d.total_contribution.unwrap() < 0.0);
        assert!(d.values.is_empty(), "{:?}", d.values);
        assert_eq!(d.values_seen, 2);
        // nothing at all: no values
        let empty = rank(Dimension::Country, Direction::LowerIsBetter, &[], 3);
        assert!(empty.values.is_empty() && empty.total_contribution.is_none());
    }
}
