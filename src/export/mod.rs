//! Exports beyond one file: which range an export covers (everything,
//! `--from`/`--to`, or with `--since-last` what came after the previous
//! export to the same destination), where a day's Parquet file goes in a
//! Hive-style directory, and the ledger in the archive that remembers what
//! was shipped where ([`ledger`]). The range and the paths are pure
//! functions, tested without files; `commands/export.rs` does the I/O.

pub mod ledger;

use std::path::{Path, PathBuf};

use crate::HORIZON_SECS;
use crate::timeutil::{self, DATA_FROM, DATA_TO};

/// The newest end of an export with `--since-last` at `now`: buckets
/// older than the API's hour are final (no pass can fetch, fill or revise
/// them any more), so what is shipped never changes afterwards.
pub fn settled(now: i64) -> i64 {
    timeutil::bucket_floor(now - HORIZON_SECS)
}

/// The range `[from, to)` of bucket times an export covers.
///
/// Without `--since-last`, the flags (or everything). With it, from where
/// the previous export to the destination ended (or `--from`, whichever is
/// later; everything the first time), to `--to` or [`settled`], whichever
/// is earlier. `None` when nothing is new.
pub fn range(
    flags: (Option<i64>, Option<i64>),
    since_last: Option<Option<i64>>,
    now: i64,
) -> Option<(i64, i64)> {
    let (from, to) = (flags.0.unwrap_or(DATA_FROM), flags.1.unwrap_or(DATA_TO));
    let (from, to) = match since_last {
        None => (from, to),
        Some(previous) => (
            from.max(previous.unwrap_or(DATA_FROM)),
            to.min(settled(now)),
        ),
    };
    (from < to).then_some((from, to))
}

/// `2026-11-23T12:00:30Z` as it goes into a file name: `20261123T120030Z`.
pub fn stamp(ts: i64) -> String {
    timeutil::fmt_utc(ts).replace(['-', ':'], "")
}

/// The UTC days `[from, to)` touches, as the start of each.
pub fn days(from: i64, to: i64) -> impl Iterator<Item = i64> {
    let first = from.div_euclid(86_400) * 86_400;
    (0..)
        .map(move |k| first + k * 86_400)
        .take_while(move |&d| d < to)
}

/// The file of one UTC day in a Hive-style directory: `DIR/date=YYYY-MM-DD/`
/// and a name from the start of the export's range, so that the same
/// export run again replaces its files, and a `--since-last` export adds
/// its own beside the earlier ones.
pub fn day_file(dir: &Path, day: i64, from: i64) -> PathBuf {
    let date = &timeutil::fmt_utc(day)[..10];
    dir.join(format!("date={date}"))
        .join(format!("part-{}.parquet", stamp(from)))
}

/// Where a range of buckets starts and ends inside one UTC day.
pub fn within_day(day: i64, (from, to): (i64, i64)) -> (i64, i64) {
    (from.max(day), to.min(day + 86_400))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_435_210; // 2026-11-23T12:00:10Z

    #[test]
    fn since_last_ships_what_came_after_the_previous_export_up_to_an_hour_ago() {
        let settled = 1_795_431_600; // 11:00:00, an hour before NOW's bucket
        assert_eq!(super::settled(NOW), settled);
        // without --since-last: the flags, or everything
        assert_eq!(range((None, None), None, NOW), Some((DATA_FROM, DATA_TO)));
        assert_eq!(range((Some(5), Some(9)), None, NOW), Some((5, 9)));
        // the first time: everything up to an hour ago
        assert_eq!(
            range((None, None), Some(None), NOW),
            Some((DATA_FROM, settled))
        );
        // then from where the last one ended
        let last = settled - 7200;
        assert_eq!(
            range((None, None), Some(Some(last)), NOW),
            Some((last, settled))
        );
        // --from later than that, --to earlier than an hour ago, narrow it
        assert_eq!(
            range((Some(last + 60), Some(settled - 30)), Some(Some(last)), NOW),
            Some((last + 60, settled - 30))
        );
        // nothing new
        assert_eq!(range((None, None), Some(Some(settled)), NOW), None);
        assert_eq!(
            range((None, Some(settled + 600)), Some(Some(settled)), NOW),
            None
        );
    }

    #[test]
    fn day_files_are_hive_partitions_named_after_the_range() {
        let day = 1_795_392_000; // 2026-11-23
        let from = day + 3600 + 30;
        assert_eq!(
            day_file(Path::new("/lake/rtc"), day, from),
            Path::new("/lake/rtc/date=2026-11-23/part-20261123T010030Z.parquet")
        );
        assert_eq!(days(from, day + 86_400).collect::<Vec<_>>(), [day]);
        assert_eq!(
            days(from, day + 86_401).collect::<Vec<_>>(),
            [day, day + 86_400]
        );
        assert_eq!(days(day - 30, day).collect::<Vec<_>>(), [day - 86_400]);
        assert_eq!(
            within_day(day, (from, day + 5 * 86_400)),
            (from, day + 86_400)
        );
    }
}
