//! `query --step ... --by dimension_value`: a breakdown's aggregated steps
//! pivoted into a wide table, one row per (app, indicator, dimension, step)
//! and one column per dimension value, so that `ios` and `android` read
//! side by side. Pure: the query command aggregates each series, this
//! module lays the results out.

use std::collections::{BTreeMap, BTreeSet};

/// The columns before the values, in order.
pub const FIXED_COLUMNS: [&str; 5] = ["app_id", "indicator", "dimension", "ts", "time"];

/// What one row of the wide table is about, besides its step.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Group {
    pub app_id: String,
    pub indicator: String,
    pub dimension: String,
}

/// One row: a group at one step, with a value (or an empty cell) per
/// column of [`Wide::values`].
#[derive(Debug, Clone, PartialEq)]
pub struct Row<'a> {
    pub group: &'a Group,
    pub ts: i64,
    pub values: Vec<Option<f64>>,
}

/// Aggregated steps of many series, gathered then read as rows.
#[derive(Debug, Default)]
pub struct Wide {
    /// (group, step) → value name → the step's value (`None`: a filled
    /// step without data).
    cells: BTreeMap<(Group, i64), BTreeMap<String, Option<f64>>>,
    values: BTreeSet<String>,
}

impl Wide {
    /// Adds one step of one series: `value` names its column.
    pub fn add(&mut self, group: &Group, value: &str, ts: i64, v: Option<f64>) {
        self.values.insert(value.to_string());
        self.cells
            .entry((group.clone(), ts))
            .or_default()
            .insert(value.to_string(), v);
    }

    /// The value columns, sorted (every value of every group: a group
    /// without one leaves its cells empty).
    pub fn values(&self) -> Vec<&str> {
        self.values.iter().map(String::as_str).collect()
    }

    /// The header: the fixed columns, then one per value; a value named
    /// like a fixed column is written `value:NAME`.
    pub fn header(&self) -> Vec<String> {
        let mut names: Vec<String> = FIXED_COLUMNS.iter().map(|c| c.to_string()).collect();
        for v in &self.values {
            if FIXED_COLUMNS.contains(&v.as_str()) {
                names.push(format!("value:{v}"));
            } else {
                names.push(v.clone());
            }
        }
        names
    }

    /// The rows, by group then step.
    pub fn rows(&self) -> impl Iterator<Item = Row<'_>> {
        self.cells.iter().map(|((group, ts), by_value)| Row {
            group,
            ts: *ts,
            values: self
                .values
                .iter()
                .map(|v| by_value.get(v).copied().flatten())
                .collect(),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(indicator: &str) -> Group {
        Group {
            app_id: "a".into(),
            indicator: indicator.into(),
            dimension: "OS".into(),
        }
    }

    #[test]
    fn values_become_columns_and_missing_cells_stay_empty() {
        let mut w = Wide::default();
        let audio = group("audio_stall_rate");
        let video = group("video_stall_rate");
        w.add(&audio, "ios", 60, Some(1.5));
        w.add(&audio, "android", 60, Some(2.0));
        w.add(&audio, "ios", 0, Some(1.0));
        w.add(&video, "windows", 0, None);
        assert_eq!(w.values(), ["android", "ios", "windows"]);
        assert_eq!(
            w.header(),
            [
                "app_id",
                "indicator",
                "dimension",
                "ts",
                "time",
                "android",
                "ios",
                "windows"
            ]
        );
        let rows: Vec<(String, i64, Vec<Option<f64>>)> = w
            .rows()
            .map(|r| (r.group.indicator.clone(), r.ts, r.values))
            .collect();
        assert_eq!(
            rows,
            [
                ("audio_stall_rate".into(), 0, vec![None, Some(1.0), None]),
                (
                    "audio_stall_rate".into(),
                    60,
                    vec![Some(2.0), Some(1.5), None]
                ),
                ("video_stall_rate".into(), 0, vec![None, None, None]),
            ]
        );
    }

    #[test]
    fn a_value_named_like_a_fixed_column_is_prefixed() {
        let mut w = Wide::default();
        w.add(&group("x"), "time", 0, Some(1.0));
        w.add(&group("x"), "广东", 0, Some(2.0));
        assert_eq!(&w.header()[5..], ["value:time", "广东"]);
    }
}
