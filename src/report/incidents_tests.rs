//! The incident rules, case by case, and the method end to end on
//! generated history with daily and weekly seasonality and noise.

use super::*;

/// 2026-11-23T00:00:00Z, a Monday.
const DAY: i64 = 1_795_392_000;

fn stall_rule() -> Rule {
    Rule {
        direction: Direction::LowerIsBetter,
        k: 3.5,
        threshold: 0.2,
        weeks: 4,
    }
}

/// A deterministic generator: xorshift, normal noise by Box–Muller.
struct Noise(u64);

impl Noise {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let (a, b) = (self.uniform(), self.uniform());
        (-2.0 * a.ln()).sqrt() * (std::f64::consts::TAU * b).cos()
    }
}

/// A stall rate in %: 1.5 on average, 0.8 higher in the evening than at
/// dawn, 0.3 higher on weekends, noise of 0.3 per 30-second bucket, to
/// two decimals as the archive keeps it.
fn stall(ts: i64, noise: &mut Noise) -> f64 {
    let hour = (ts.rem_euclid(86400)) as f64 / 3600.0;
    let weekday = (ts.div_euclid(86400) + 3).rem_euclid(7); // 0 = Monday
    let daily = 0.8 * ((hour - 14.0) / 24.0 * std::f64::consts::TAU).sin();
    let weekly = if weekday >= 5 { 0.3 } else { 0.0 };
    let v = (1.5 + daily + weekly + 0.3 * noise.normal()).max(0.0);
    (v * 100.0).round() / 100.0
}

/// `days` of generated history before `day`, then `day` itself with
/// `plant` (from, to, added) applied; returns the slot means from the
/// first day and the day's points.
fn generate(
    day: i64,
    days: i64,
    seed: u64,
    plant: Option<(i64, i64, f64)>,
) -> (SlotMeans, Vec<(i64, f64)>) {
    let mut noise = Noise(seed);
    let from = day - days * 86400;
    let mut sums = SlotSums::new(from, day + 86400);
    let mut points = Vec::new();
    let mut ts = from;
    while ts < day + 86400 {
        let mut v = stall(ts, &mut noise);
        if let Some((a, b, add)) = plant
            && a <= ts
            && ts < b
        {
            v += add;
        }
        sums.add(ts, v, 1);
        if ts >= day {
            points.push((ts, v));
        }
        ts += BUCKET_SECS;
    }
    (sums.finish(), points)
}

fn incidents_of(slots: &SlotMeans, points: &[(i64, f64)], day: i64, rule: &Rule) -> Vec<Found> {
    let judged = judge(slots, day, day + 86400, Tz::UTC, rule, &|_| false);
    find(&judged, points, day, day + 86400, rule.direction)
}

#[test]
fn a_planted_half_hour_incident_is_found_with_its_start_and_no_other() {
    // 20:10–20:40 on a Monday, 2 pp worse, over five weeks of history
    let (a, b) = (DAY + 20 * 3600 + 600, DAY + 20 * 3600 + 2400);
    for seed in [1, 7, 42, 1234, 99_999] {
        let (slots, points) = generate(DAY, 35, seed, Some((a, b, 2.0)));
        let found = incidents_of(&slots, &points, DAY, &stall_rule());
        assert_eq!(found.len(), 1, "seed {seed}: {found:?}");
        let f = found[0];
        assert!(
            (f.start - a).abs() <= 300,
            "seed {seed}: start {}",
            f.start - a
        );
        assert!((f.end - b).abs() <= 300, "seed {seed}: end {}", f.end - b);
        assert!(f.deviation > 1.0 && f.peak > f.baseline, "{f:?}");
        assert!((a..b).contains(&f.peak_ts), "{f:?}");
    }
}

#[test]
fn normal_days_yield_no_incident() {
    for seed in [1, 7, 42, 1234, 99_999, 31_337] {
        // a weekday and a weekend day, each against its own weeks
        for day in [DAY, DAY + 5 * 86400] {
            let (slots, points) = generate(day, 35, seed, None);
            let found = incidents_of(&slots, &points, day, &stall_rule());
            assert!(found.is_empty(), "seed {seed}, day {day}: {found:?}");
        }
    }
}

#[test]
fn a_young_archive_falls_back_to_previous_days() {
    let (a, b) = (DAY + 9 * 3600, DAY + 9 * 3600 + 1800);
    let (slots, points) = generate(DAY, 10, 5, Some((a, b, 2.0)));
    let judged = judge(&slots, DAY, DAY + 86400, Tz::UTC, &stall_rule(), &|_| false);
    assert!(judged.iter().all(|j| j.baseline.is_some_and(|b| !b.weekly)));
    let found = find(&judged, &points, DAY, DAY + 86400, Direction::LowerIsBetter);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!((found[0].start - a).abs() <= 300);
    // two days of history are not enough for any baseline
    let (slots, points) = generate(DAY, 2, 5, Some((a, b, 2.0)));
    assert!(incidents_of(&slots, &points, DAY, &stall_rule()).is_empty());
}

/// Flat history at `level` (every slot of `days` days), then the day's slot means.
fn flat_then(level: f64, days: i64, day_values: &[(i64, f64)]) -> SlotMeans {
    let mut s = SlotSums::new(DAY - days * 86400, DAY + 86400);
    let mut ts = DAY - days * 86400;
    while ts < DAY {
        s.add(ts, level, 1);
        ts += SLOT_SECS;
    }
    for &(ts, v) in day_values {
        s.add(ts, v, 1);
    }
    s.finish()
}

#[test]
fn slots_become_incidents_by_these_rules() {
    let slot = |i: i64| DAY + i * SLOT_SECS;
    // (case, the day's slot means at 10 + i, want incidents as (first slot, last slot))
    #[allow(clippy::type_complexity)]
    let cases: Vec<(&str, Vec<(i64, f64)>, Vec<(i64, i64)>)> = vec![
        ("one slot is not an incident", vec![(0, 3.0)], vec![]),
        ("two in a row are", vec![(0, 3.0), (1, 3.0)], vec![(0, 1)]),
        (
            "one normal slot between merges",
            vec![(0, 3.0), (1, 1.0), (2, 3.0)],
            vec![(0, 2)],
        ),
        (
            "an empty slot between merges too",
            vec![(0, 3.0), (2, 3.0)],
            vec![(0, 2)],
        ),
        (
            "two normal slots between split (and each half is too short)",
            vec![(0, 3.0), (1, 1.0), (2, 1.0), (3, 3.0)],
            vec![],
        ),
        (
            "within the threshold of a flat series: no alarm on noise",
            vec![(0, 1.15), (1, 1.15), (2, 1.15)],
            vec![],
        ),
        (
            "better is never an incident",
            vec![(0, 0.1), (1, 0.1)],
            vec![],
        ),
        (
            "two incidents",
            vec![(0, 3.0), (1, 3.0), (20, 3.0), (21, 3.0), (22, 3.0)],
            vec![(0, 1), (20, 22)],
        ),
    ];
    for (name, values, want) in cases {
        let day: Vec<(i64, f64)> = values.iter().map(|&(i, v)| (slot(120 + i), v)).collect();
        let slots = flat_then(1.0, 28, &day);
        let judged = judge(&slots, DAY, DAY + 86400, Tz::UTC, &stall_rule(), &|_| false);
        // no 30-second points: the incident spans its slots
        let found = find(&judged, &[], DAY, DAY + 86400, Direction::LowerIsBetter);
        let got: Vec<(i64, i64)> = found
            .iter()
            .map(|f| {
                (
                    (f.start - slot(120)) / SLOT_SECS,
                    (f.end - slot(120)) / SLOT_SECS - 1,
                )
            })
            .collect();
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn the_worst_slot_is_the_peak_and_directions_decide() {
    let slot = |i: i64| DAY + (120 + i) * SLOT_SECS;
    let slots = flat_then(1.0, 28, &[(slot(0), 2.0), (slot(1), 4.0), (slot(2), 3.0)]);
    let judged = judge(&slots, DAY, DAY + 86400, Tz::UTC, &stall_rule(), &|_| false);
    let f = find(&judged, &[], DAY, DAY + 86400, Direction::LowerIsBetter)[0];
    assert_eq!(
        (f.peak, f.baseline, f.deviation, f.peak_ts),
        (4.0, 1.0, 3.0, slot(1))
    );
    // a flat history: the bar is the threshold, 0.2
    assert!((f.severity - 15.0).abs() < 1e-9, "{f:?}");

    // a success rate is worse lower
    let success = Rule {
        direction: Direction::HigherIsBetter,
        ..stall_rule()
    };
    let slots = flat_then(99.0, 28, &[(slot(0), 97.0), (slot(1), 96.0)]);
    let judged = judge(&slots, DAY, DAY + 86400, Tz::UTC, &success, &|_| false);
    let f = find(&judged, &[], DAY, DAY + 86400, Direction::HigherIsBetter);
    assert_eq!(f.len(), 1);
    assert_eq!((f[0].peak, f[0].deviation), (96.0, -3.0));

    // counts have no direction: never an incident, no baseline read
    let count = Rule {
        direction: Direction::None,
        ..stall_rule()
    };
    let judged = judge(&slots, DAY, DAY + 86400, Tz::UTC, &count, &|_| false);
    assert!(judged.iter().all(|j| j.baseline.is_none() && !j.anomalous));
}

#[test]
fn quiet_hours_below_the_traffic_floor_page_nobody() {
    let slot = |i: i64| DAY + (120 + i) * SLOT_SECS;
    let slots = flat_then(1.0, 28, &[(slot(0), 3.0), (slot(1), 3.0), (slot(2), 3.0)]);
    let quiet = |s: i64| s < slot(2);
    let judged = judge(&slots, DAY, DAY + 86400, Tz::UTC, &stall_rule(), &quiet);
    assert!(find(&judged, &[], DAY, DAY + 86400, Direction::LowerIsBetter).is_empty());
}

#[test]
fn the_start_is_the_first_bad_bucket_even_in_the_slot_before() {
    let slot = |i: i64| DAY + (120 + i) * SLOT_SECS;
    // bad from 2.5 minutes into slot 0: its mean (1.75) stays under the
    // bar (1.2), slots 1 and 2 are bad throughout, the last bad bucket
    // ends at 3.5 minutes into slot 3 whose mean (2.05) is not anomalous
    let (a, b) = (slot(0) + 150, slot(3) + 210);
    let mut points = Vec::new();
    let mut sums = SlotSums::new(DAY - 28 * 86400, DAY + 86400);
    let mut ts = DAY - 28 * 86400;
    while ts < DAY + 86400 {
        let v = if (a..b).contains(&ts) { 2.5 } else { 1.0 };
        sums.add(ts, v, 1);
        if ts >= DAY {
            points.push((ts, v));
        }
        ts += BUCKET_SECS;
    }
    let slots = sums.finish();
    let rule = Rule {
        threshold: 1.2,
        ..stall_rule()
    };
    let judged = judge(&slots, DAY, DAY + 86400, Tz::UTC, &rule, &|_| false);
    let anomalous: Vec<i64> = judged
        .iter()
        .filter(|j| j.anomalous)
        .map(|j| (j.slot - slot(0)) / SLOT_SECS)
        .collect();
    assert_eq!(anomalous, [1, 2]);
    let f = find(&judged, &points, DAY, DAY + 86400, Direction::LowerIsBetter);
    assert_eq!((f[0].start, f[0].end), (a, b));
    // clipped to the period
    let f = find(
        &judged,
        &points,
        slot(1),
        slot(2) + 60,
        Direction::LowerIsBetter,
    );
    assert_eq!((f[0].start, f[0].end), (slot(1), slot(2) + 60));
}

#[test]
fn baselines_are_the_median_of_the_same_slot_of_previous_weeks() {
    // the slot at 12:00 four weeks running: 1, 2, 9 (an old incident), 3
    let at = DAY + 12 * 3600;
    let mut sums = SlotSums::new(DAY - 28 * 86400, DAY + 86400);
    for (w, v) in [(1, 3.0), (2, 9.0), (3, 2.0), (4, 1.0)] {
        sums.add(at - w * 7 * 86400, v, 1);
    }
    let b = baseline_at(&sums.finish(), at, Tz::UTC, 4).unwrap();
    assert!(b.weekly);
    assert_eq!(b.median, 2.5);
    // deviations from 2.5: 0.5 0.5 1.5 6.5 → MAD 1.0, widened for the
    // uncertainty of a median of 4
    let widened = MAD_SCALE * (1.0 + std::f64::consts::FRAC_PI_2 / 4.0).sqrt();
    assert!((b.spread - widened).abs() < 1e-12, "{b:?}");
    // the same wall clock across a DST change: New York, 2026-11-01
    let ny: Tz = "America/New_York".parse().unwrap();
    let after = 1_794_157_200; // 2026-11-08T12:00 EST
    assert_eq!(back(after, ny, 7), after - 7 * 86400);
    let before = 1_793_595_600; // 2026-11-02T00:00 EST
    assert_eq!(back(before, ny, 7), before - 7 * 86400 - 3600);
}
