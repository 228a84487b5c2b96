//! What a notification says, apart from any platform: a title, plain
//! lines of text (data, never markup: each platform escapes them for its
//! format), a link or path to the full report, and the JSON a generic
//! webhook receives. Built from collector health events or from a report.

use serde::Serialize;
use serde_json::{Value, json};

use super::EventKind;
use crate::report::Report;
use crate::report::format::{change_unit, fmt_change, fmt_clock, fmt_duration, fmt2};
use crate::report::markdown::against_label;
use crate::series::StreamKey;
use crate::timeutil;

/// Lines of one kind a message lists before it says how many more there are.
pub const MAX_LINES: usize = 10;

/// A collector health event, as a generic webhook receives it (with the
/// stream's identity fields as in the report's JSON).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// An interval slid out of the API's reach unfetched.
    Gap {
        #[serde(flatten)]
        stream: StreamKey,
        start: String,
        end: String,
        start_ts: i64,
        end_ts: i64,
        seconds: i64,
    },
    /// A stream started lagging more than `notify_lag`, or (`recovered`) stopped.
    Lag {
        #[serde(flatten)]
        stream: StreamKey,
        lag_s: i64,
        threshold_s: i64,
        recovered: bool,
    },
    /// The API refused a stream's requests (access key, signature,
    /// permission, parameters): retrying cannot help.
    Refused {
        #[serde(flatten)]
        stream: StreamKey,
        error: String,
    },
}

impl Event {
    pub fn gap(stream: &StreamKey, start: i64, end: i64) -> Event {
        Event::Gap {
            stream: stream.clone(),
            start: timeutil::fmt_utc(start),
            end: timeutil::fmt_utc(end),
            start_ts: start,
            end_ts: end,
            seconds: end - start,
        }
    }

    pub fn kind(&self) -> EventKind {
        match self {
            Event::Gap { .. } => EventKind::Gap,
            Event::Lag { .. } => EventKind::Lag,
            Event::Refused { .. } => EventKind::Refused,
        }
    }

    /// The event in one line of plain text.
    pub fn line(&self) -> String {
        match self {
            Event::Gap {
                stream,
                start,
                end,
                seconds,
                ..
            } => format!(
                "gap: {}: {start} to {end} ({}) slid out of the API's 60-minute reach unfetched",
                who(stream),
                fmt_duration(*seconds)
            ),
            Event::Lag {
                stream,
                lag_s,
                threshold_s,
                recovered: false,
            } => format!(
                "lag: {} is {} behind (more than {}): check the collector's log and `rtc-archiver status`",
                who(stream),
                fmt_duration(*lag_s),
                fmt_duration(*threshold_s)
            ),
            Event::Lag {
                stream,
                lag_s,
                threshold_s,
                recovered: true,
            } => format!(
                "recovered: {} is {} behind again (under {})",
                who(stream),
                fmt_duration(*lag_s),
                fmt_duration(*threshold_s)
            ),
            Event::Refused { stream, error } => {
                format!("refused: {}: {error}", who(stream))
            }
        }
    }

    fn title(&self) -> &'static str {
        match self {
            Event::Gap { .. } => "rtc-archiver: a gap was recorded",
            Event::Lag {
                recovered: false, ..
            } => "rtc-archiver: a stream is lagging",
            Event::Lag {
                recovered: true, ..
            } => "rtc-archiver: a stream caught up",
            Event::Refused { .. } => "rtc-archiver: the API refused a stream",
        }
    }
}

/// `quality app1 / room-1 / u1,u2`
fn who(stream: &StreamKey) -> String {
    format!("{} {}", stream.source, stream.label())
}

/// One notification, for any platform.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// One line: what happened.
    pub title: String,
    /// The facts, one per line, plain text.
    pub lines: Vec<String>,
    /// Where the full report is (a URL or a path).
    pub link: Option<String>,
    /// What a generic webhook receives.
    pub json: Value,
}

impl Message {
    /// The whole message as plain text: title, lines, link.
    pub fn text(&self) -> String {
        let mut out = self.title.clone();
        for l in &self.lines {
            out.push('\n');
            out.push_str(l);
        }
        if let Some(link) = &self.link {
            out.push_str("\nFull report: ");
            out.push_str(link);
        }
        out
    }

    /// One message for one event; a digest for several that happened at once.
    pub fn of_events(events: &[Event]) -> Message {
        let title = match events {
            [one] => one.title().to_string(),
            many => format!("rtc-archiver: {} collector events", many.len()),
        };
        let mut lines: Vec<String> = events.iter().take(2 * MAX_LINES).map(Event::line).collect();
        if events.len() > 2 * MAX_LINES {
            lines.push(format!("… and {} more", events.len() - 2 * MAX_LINES));
        }
        let mut msg = Message {
            title,
            lines,
            link: None,
            json: Value::Null,
        };
        msg.json = json!({
            "source": "rtc-archiver",
            "kind": "health",
            "title": msg.title,
            "text": msg.text(),
            "events": events,
        });
        msg
    }

    /// The digest of a report for a destination that wants `wants`
    /// (incidents, regressions or both): what it wants, worst first, or a
    /// one-line summary when there is none; `None` if it wants neither.
    pub fn of_report(
        report: &Report,
        wants: &dyn Fn(EventKind) -> bool,
        link: Option<&str>,
    ) -> Option<Message> {
        let (inc, reg) = (wants(EventKind::Incident), wants(EventKind::Regression));
        if !inc && !reg {
            return None;
        }
        let p = &report.period;
        let name = format!("RTC report for {} ({})", p.label(), p.tz);
        let mut lines = Vec::new();
        let mut counts = Vec::new();
        let mut nothing = Vec::new();
        if inc {
            let n = report.incidents.len();
            match n {
                0 => nothing.push("no incidents"),
                1 => counts.push("1 incident".to_string()),
                n => counts.push(format!("{n} incidents")),
            }
            lines.extend(report.incidents.iter().take(MAX_LINES).map(|i| {
                let unit = i
                    .unit
                    .as_deref()
                    .map(|u| format!(" {u}"))
                    .unwrap_or_default();
                let cu = change_unit(i.unit.as_deref());
                format!(
                    "incident: {}, {}: {}–{} ({}), peak {}{unit} against a baseline of {} ({}{})",
                    i.series.indicator,
                    i.series.stream.label(),
                    fmt_clock(i.start_ts, p),
                    fmt_clock(i.end_ts, p),
                    fmt_duration(i.duration_s),
                    fmt2(Some(i.peak)),
                    fmt2(Some(i.baseline)),
                    fmt_change(Some(i.deviation)),
                    if cu.is_empty() {
                        String::new()
                    } else {
                        format!(" {cu}")
                    }
                )
            }));
            if n > MAX_LINES {
                lines.push(format!("… and {} more incidents", n - MAX_LINES));
            }
        }
        if reg {
            let n = report.regressions.len();
            match n {
                0 => nothing.push("no regressions"),
                1 => counts.push("1 regression".to_string()),
                n => counts.push(format!("{n} regressions")),
            }
            lines.extend(report.regressions.iter().take(MAX_LINES).map(|r| {
                let cu = change_unit(r.unit.as_deref());
                format!(
                    "regression: {}, {}: average {} against {} the {} ({}{}; threshold {})",
                    r.series.indicator,
                    r.series.stream.label(),
                    fmt2(Some(r.avg)),
                    fmt2(Some(r.previous_avg)),
                    against_label(report, r.against),
                    fmt_change(Some(r.change)),
                    if cu.is_empty() {
                        String::new()
                    } else {
                        format!(" {cu}")
                    },
                    r.threshold
                )
            }));
            if n > MAX_LINES {
                lines.push(format!("… and {} more regressions", n - MAX_LINES));
            }
        }
        let title = if report.no_data {
            format!("{name}: no data was archived in this period")
        } else if counts.is_empty() {
            format!("{name}: {} beyond the thresholds", nothing.join(" and "))
        } else {
            format!("{name}: {}", counts.join(", "))
        };
        let mut msg = Message {
            title,
            lines,
            link: link.map(str::to_string),
            json: Value::Null,
        };
        msg.json = json!({
            "source": "rtc-archiver",
            "kind": "report",
            "title": msg.title,
            "text": msg.text(),
            "period": report.period,
            "incidents": if inc { json!(report.incidents) } else { json!([]) },
            "regressions": if reg { json!(report.regressions) } else { json!([]) },
            "link": link,
        });
        Some(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Source;
    use crate::series::UserSet;

    fn room() -> StreamKey {
        StreamKey::new(
            "app1",
            Some("room-1".into()),
            UserSet::new(["u2", "u1"]).unwrap(),
            Source::Quality,
        )
    }

    #[test]
    fn events_read_as_one_line_each_and_as_json() {
        let t = 1_795_392_000; // 2026-11-23T00:00:00Z
        let gap = Event::gap(&room(), t, t + 750);
        assert_eq!(
            gap.line(),
            "gap: quality app1 / room-1 / u1,u2: 2026-11-23T00:00:00Z to 2026-11-23T00:12:30Z \
             (12 min 30 s) slid out of the API's 60-minute reach unfetched"
        );
        let v = serde_json::to_value(&gap).unwrap();
        assert_eq!(v["event"], "gap");
        assert_eq!(v["user_ids"], "u1,u2");
        assert_eq!(v["seconds"], 750);
        let lag = Event::Lag {
            stream: room(),
            lag_s: 840,
            threshold_s: 600,
            recovered: false,
        };
        assert!(
            lag.line().starts_with(
                "lag: quality app1 / room-1 / u1,u2 is 14 min behind (more than 10 min)"
            )
        );
        let one = Message::of_events(std::slice::from_ref(&lag));
        assert_eq!(one.title, "rtc-archiver: a stream is lagging");
        assert_eq!(one.json["events"][0]["lag_s"], 840);
        let many = Message::of_events(&vec![gap.clone(); 25]);
        assert_eq!(many.title, "rtc-archiver: 25 collector events");
        assert_eq!(many.lines.len(), 21);
        assert_eq!(many.lines[20], "… and 5 more");
        assert_eq!(many.json["events"].as_array().unwrap().len(), 25);
    }
}
