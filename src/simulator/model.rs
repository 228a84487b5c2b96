//! The simulator's data: deterministic, realistic values for any series and
//! bucket, so that a test can compute exactly what the API served.
//!
//! A bucket is served once it ended `delay` ago. For `revision` seconds
//! after that its value is provisional (a little off), then final, as real
//! aggregation pipelines revise late data. A small share of buckets has no
//! data at all and is never served.
//!
//! A distribution series (one indicator for one value of a dimension) is
//! valued the same way, with the dimension and its value in the hash; a
//! value is absent from more buckets (no user of that platform or network
//! in those 30 seconds), the last value of each dimension's list most often.

use crate::series::{Dimension, SeriesKey};
use crate::{BUCKET_SECS, catalog};

/// The values the simulator answers for a dimension, as the API documents
/// them (`OS`, `Access`) or as it spells them (`Province`, `Country`:
/// Chinese names, UTF-8).
pub fn dimension_values(dimension: Dimension) -> &'static [&'static str] {
    match dimension {
        Dimension::Os => &["android", "ios", "windows", "mac", "linux"],
        Dimension::Access => &["wifi", "4g", "5g", "3g", "2g"],
        Dimension::Province => &["广东", "北京", "浙江", "上海", "江苏", "四川", "香港"],
        Dimension::Country => &["中国", "美国", "日本", "新加坡"],
    }
}

/// Extra buckets without data, per thousand, for a distribution series:
/// every value misses some buckets, the rarest (last) one of its
/// dimension's list many.
fn extra_missing_per_mille(s: &SeriesKey) -> u64 {
    match (s.stream.dimension, s.dimension_value.as_deref()) {
        (Some(d), Some(v)) if dimension_values(d).last() == Some(&v) => 400,
        (Some(_), _) => 100,
        _ => 0,
    }
}

/// The knobs of the simulated data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Model {
    pub seed: u64,
    /// Seconds a served value stays provisional before its final value.
    pub revision_secs: i64,
    /// Buckets without data, per thousand.
    pub missing_per_mille: u64,
}

impl Default for Model {
    fn default() -> Self {
        Model {
            seed: 0x5254_4341,
            revision_secs: 120,
            missing_per_mille: 20,
        }
    }
}

fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in *part {
            h ^= b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// splitmix64: a good 64-bit mix of a counter.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A uniform number in [0, 1) from a hash.
fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

impl Model {
    fn series_hash(&self, s: &SeriesKey) -> u64 {
        let seed = self.seed.to_le_bytes();
        let mut parts: Vec<&[u8]> = vec![
            &seed,
            s.stream.source.as_str().as_bytes(),
            s.stream.app_id.as_bytes(),
            s.stream.room_id.as_deref().unwrap_or("").as_bytes(),
            s.stream.user_ids.joined().as_bytes(),
            s.indicator.as_bytes(),
        ];
        // only a breakdown hashes more, so the other series keep their values
        if let Some(d) = s.stream.dimension {
            parts.push(d.as_str().as_bytes());
            parts.push(s.dimension_value.as_deref().unwrap_or("").as_bytes());
        }
        fnv1a(&parts)
    }

    /// Whether the API has data for this bucket at all.
    pub fn has_data(&self, s: &SeriesKey, ts: i64) -> bool {
        let h = mix(self.series_hash(s) ^ (ts as u64).wrapping_mul(0x2545_f491_4f6c_dd1d));
        h % 1000 >= (self.missing_per_mille + extra_missing_per_mille(s)).min(1000)
    }

    /// The final value of a bucket, or `None` if it has no data.
    pub fn final_value(&self, s: &SeriesKey, ts: i64) -> Option<f64> {
        if !self.has_data(s, ts) {
            return None;
        }
        let sh = self.series_hash(s);
        let noise = unit(mix(sh ^ ts as u64));
        let slow = unit(mix(sh ^ (ts / 600) as u64));
        // a daily wave, peaking in the (Beijing) evening
        let day_phase = ((ts + 8 * 3600).rem_euclid(86400)) as f64 / 86400.0;
        let wave = (std::f64::consts::TAU * (day_phase - 0.6)).cos();
        let (threshold, base) = catalog::split_threshold(&s.indicator)
            .map_or((0, s.indicator.as_str()), |(n, _, b)| (n, b));
        let v = if base.contains("join_room_success_rate") {
            // more time to join, more joins succeed
            98.2 + 0.06 * threshold.min(20) as f64 - 0.8 * slow - 0.6 * noise + 0.2 * wave
        } else if base.contains("stall_rate") {
            1.2 + 0.8 * slow + 1.5 * noise * noise + 0.4 * wave
        } else if base.contains("first_frame") {
            99.3 - 0.5 * slow - 0.4 * noise
        } else if base.contains("network_trans_delay") {
            3.0 + 2.0 * slow + 4.0 * noise * noise
        } else if base == "online_user_count" {
            let scale = 1000.0 + (sh % 4000) as f64;
            return Some((scale * (1.0 + 0.35 * wave) + 40.0 * noise).round());
        } else if base == "online_room_count" {
            let scale = 400.0 + (sh % 1500) as f64;
            return Some((scale * (1.0 + 0.35 * wave) + 15.0 * noise).round());
        } else {
            100.0 * noise
        };
        Some(round2(v.clamp(0.0, 100.0)))
    }

    /// The offline store's value of the 5-minute slot starting at `slot`
    /// (`ListQuality`, `AggregateGranularity` = `5min`): the mean of the
    /// slot's final 30-second values, to two decimals; `None` if it has none.
    pub fn slot_value(&self, s: &SeriesKey, slot: i64) -> Option<f64> {
        let values: Vec<f64> = (0..crate::store::history::SLOT_SECS / BUCKET_SECS)
            .filter_map(|i| self.final_value(s, slot + i * BUCKET_SECS))
            .collect();
        if values.is_empty() {
            return None;
        }
        Some(round2(values.iter().sum::<f64>() / values.len() as f64))
    }

    /// What the API answers for a bucket at `now`: nothing before the
    /// bucket's data is due, a provisional value for a while, then the final one.
    pub fn served_value(&self, s: &SeriesKey, ts: i64, now: i64) -> Option<f64> {
        let available = ts + BUCKET_SECS + s.stream.source.delay_secs();
        if now < available {
            return None;
        }
        let v = self.final_value(s, ts)?;
        if now < available + self.revision_secs {
            let h = mix(self.series_hash(s) ^ ts as u64 ^ 0xdead_beef);
            let delta = if v.fract() == 0.0 && v > 100.0 {
                ((h % 21) as f64) - 10.0
            } else {
                round2(unit(h) - 0.5)
            };
            if delta != 0.0 {
                return Some(round2((v + delta).max(0.0)));
            }
        }
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Source;
    use crate::series::{StreamKey, UserSet};

    fn series(name: &str) -> SeriesKey {
        StreamKey::new("app1", None, UserSet::NONE, Source::Quality).series(name)
    }

    #[test]
    fn deterministic_and_in_range() {
        let m = Model::default();
        let t0 = 1_795_435_200;
        let mut missing = 0;
        for i in 0..2880 {
            let ts = t0 + i * 30;
            let s = series("audio_stall_rate");
            assert_eq!(m.final_value(&s, ts), m.final_value(&s, ts));
            match m.final_value(&s, ts) {
                Some(v) => {
                    assert!((0.0..=100.0).contains(&v), "{v}");
                    assert_eq!(round2(v), v);
                }
                None => missing += 1,
            }
        }
        assert!(missing > 10 && missing < 150, "{missing}");
        let users = StreamKey::new("app1", None, UserSet::NONE, Source::Operation)
            .series("online_user_count");
        let v = m
            .final_value(&users, t0)
            .or(m.final_value(&users, t0 + 30))
            .unwrap();
        assert_eq!(v.fract(), 0.0);
        assert!(v > 100.0);
    }

    #[test]
    fn values_are_provisional_then_final() {
        let m = Model::default();
        let s = series("5s_join_room_success_rate");
        let t0 = 1_795_435_200;
        // before the delay: nothing
        assert_eq!(m.served_value(&s, t0, t0 + 60), None);
        let mut revised = 0;
        for i in 0..200 {
            let ts = t0 + i * 30;
            let due = ts + 30 + 60;
            let early = m.served_value(&s, ts, due);
            let late = m.served_value(&s, ts, due + m.revision_secs);
            assert_eq!(late, m.final_value(&s, ts));
            assert_eq!(early.is_some(), late.is_some());
            if early != late {
                revised += 1;
            }
        }
        assert!(revised > 100, "{revised}");
    }
}
