//! The indicator names we know of, for warnings, `indicators` and the simulator.
//!
//! The list is not closed: the API decides what it accepts, so an unknown name
//! is only ever a warning. Names may carry a threshold prefix
//! (`5s_join_room_success_rate`, `80ms_audio_stall_rate`), and a family name
//! is answered as its variants (`stall_rate` → `audio_stall_rate` +
//! `video_stall_rate`).

use crate::Source;

/// One known indicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Indicator {
    pub source: Source,
    pub name: &'static str,
    pub unit: Option<&'static str>,
    pub meaning: &'static str,
    /// The names the API answers with when asked for this one.
    pub answers_as: &'static [&'static str],
    /// Whether a threshold prefix (`5s_`, `80ms_`) is allowed.
    pub threshold: Option<&'static str>,
}

pub const INDICATORS: &[Indicator] = &[
    Indicator {
        source: Source::Quality,
        name: "join_room_success_rate",
        unit: Some("%"),
        meaning: "share of join-room attempts that succeeded (within N seconds with the Ns_ prefix)",
        answers_as: &["5s_join_room_success_rate", "10s_join_room_success_rate"],
        threshold: Some("s"),
    },
    Indicator {
        source: Source::Quality,
        name: "stall_rate",
        unit: Some("%"),
        meaning: "stall rate, answered as audio_stall_rate and video_stall_rate",
        answers_as: &["audio_stall_rate", "video_stall_rate"],
        threshold: None,
    },
    Indicator {
        source: Source::Quality,
        name: "audio_stall_rate",
        unit: Some("%"),
        meaning: "audio stall rate (stalls longer than N ms with the Nms_ prefix)",
        answers_as: &["audio_stall_rate"],
        threshold: Some("ms"),
    },
    Indicator {
        source: Source::Quality,
        name: "video_stall_rate",
        unit: Some("%"),
        meaning: "video stall rate (stalls longer than N ms with the Nms_ prefix)",
        answers_as: &["video_stall_rate"],
        threshold: Some("ms"),
    },
    Indicator {
        source: Source::Quality,
        name: "first_frame_send_success_rate",
        unit: Some("%"),
        meaning: "share of streams whose first frame was sent, answered per audio/video",
        answers_as: &[
            "audio_first_frame_send_success_rate",
            "video_first_frame_send_success_rate",
        ],
        threshold: None,
    },
    Indicator {
        source: Source::Quality,
        name: "first_frame_recv_success_rate",
        unit: Some("%"),
        meaning: "share of streams whose first frame was received, answered per audio/video",
        answers_as: &[
            "audio_first_frame_recv_success_rate",
            "video_first_frame_recv_success_rate",
        ],
        threshold: None,
    },
    Indicator {
        source: Source::Quality,
        name: "network_trans_delay",
        unit: Some("%"),
        meaning: "network transmission delay indicator (share above N ms with the Nms_ prefix)",
        answers_as: &["network_trans_delay"],
        threshold: Some("ms"),
    },
    Indicator {
        source: Source::Operation,
        name: "online_user_count",
        unit: None,
        meaning: "users online",
        answers_as: &["online_user_count"],
        threshold: None,
    },
    Indicator {
        source: Source::Operation,
        name: "online_room_count",
        unit: None,
        meaning: "rooms with at least one user online",
        answers_as: &["online_room_count"],
        threshold: None,
    },
];

/// Splits a threshold prefix such as `5s_` or `400ms_` from a name.
pub fn split_threshold(name: &str) -> Option<(u32, &'static str, &str)> {
    let digits = name.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let value: u32 = name[..digits].parse().ok()?;
    let rest = &name[digits..];
    for unit in ["ms", "s"] {
        if let Some(base) = rest.strip_prefix(unit).and_then(|r| r.strip_prefix('_')) {
            return Some((value, unit, base));
        }
    }
    None
}

/// The source whose indicators a source answers: a distribution breaks
/// the quality indicators down.
fn family(source: Source) -> Source {
    match source {
        Source::Distribution => Source::Quality,
        other => other,
    }
}

/// Looks a requested or answered name up, threshold prefixes included.
pub fn lookup(source: Source, name: &str) -> Option<&'static Indicator> {
    let source = family(source);
    let exact = INDICATORS
        .iter()
        .find(|i| i.source == source && i.name == name);
    if exact.is_some() {
        return exact;
    }
    if let Some(found) = INDICATORS
        .iter()
        .find(|i| i.source == source && i.answers_as.contains(&name))
    {
        return Some(found);
    }
    let (_, unit, base) = split_threshold(name)?;
    INDICATORS
        .iter()
        .find(|i| i.source == source && i.name == base && i.threshold == Some(unit))
}

/// The names the API answers with for a requested name, if we know them.
pub fn answered_names(source: Source, requested: &str) -> Option<Vec<String>> {
    let source = family(source);
    let exact = INDICATORS
        .iter()
        .find(|i| i.source == source && i.name == requested);
    if let Some(i) = exact {
        return Some(i.answers_as.iter().map(|s| s.to_string()).collect());
    }
    lookup(source, requested).map(|_| vec![requested.to_string()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_parse() {
        assert_eq!(
            split_threshold("5s_join_room_success_rate"),
            Some((5, "s", "join_room_success_rate"))
        );
        assert_eq!(
            split_threshold("80ms_audio_stall_rate"),
            Some((80, "ms", "audio_stall_rate"))
        );
        assert_eq!(split_threshold("stall_rate"), None);
        assert_eq!(split_threshold("5x_stall_rate"), None);
    }

    #[test]
    fn known_and_unknown_names() {
        assert!(lookup(Source::Quality, "stall_rate").is_some());
        assert!(lookup(Source::Quality, "video_stall_rate").is_some());
        assert!(lookup(Source::Quality, "400ms_network_trans_delay").is_some());
        assert!(lookup(Source::Quality, "10s_join_room_success_rate").is_some());
        assert!(lookup(Source::Quality, "online_user_count").is_none());
        assert!(lookup(Source::Operation, "online_user_count").is_some());
        assert!(lookup(Source::Quality, "stal_rate").is_none());
        // a threshold on a family that has none is not a known name
        assert!(lookup(Source::Quality, "5s_stall_rate").is_none());
    }

    #[test]
    fn families_expand() {
        assert_eq!(
            answered_names(Source::Quality, "stall_rate").unwrap(),
            ["audio_stall_rate", "video_stall_rate"]
        );
        assert_eq!(
            answered_names(Source::Quality, "80ms_video_stall_rate").unwrap(),
            ["80ms_video_stall_rate"]
        );
        assert_eq!(answered_names(Source::Quality, "nope"), None);
    }
}
