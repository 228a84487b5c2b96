//! What a series is. Every point the archive holds belongs to one series:
//! an app, optionally one room and a set of its users, the action that
//! answered it (its source) and the indicator under its answered name.
//!
//! This module is that identity's one home. The collector, the store,
//! import and export, status, metrics and reports all carry these types,
//! and the JSON they print embeds them (`#[serde(flatten)]`), so a new
//! identity field is a change here, to the schema and to the views.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The first control character in a piece of a series' identity (app,
/// room, user, indicator, unit), if any. Identities are printed in tables,
/// CSV and reports, and compared byte for byte: a control character would be
/// a terminal escape, a broken line or an invisible difference, so every
/// entry point (config, import, API answers) refuses one.
pub fn control_char(s: &str) -> Option<char> {
    s.chars().find(|c| c.is_control())
}

/// The longest dimension value stored: province and country names, OS and
/// network types are a few bytes; a longer one is not a dimension value.
pub const MAX_DIMENSION_VALUE_BYTES: usize = 256;

/// Whether `value` may be a dimension value (`windows`, `广东`): not
/// blank, no control character, at most [`MAX_DIMENSION_VALUE_BYTES`].
pub fn check_dimension_value(value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err("dimension_value is empty".into());
    }
    if let Some(c) = control_char(value) {
        return Err(format!(
            "dimension_value holds a control character ({}), which no identity may hold",
            c.escape_unicode()
        ));
    }
    if value.len() > MAX_DIMENSION_VALUE_BYTES {
        return Err(format!(
            "dimension_value is {} bytes long; at most {MAX_DIMENSION_VALUE_BYTES} are kept",
            value.len()
        ));
    }
    Ok(())
}

/// Which family of indicators a series belongs to: the real-time action
/// that answers it and, for the quality families, the offline action that
/// answers the same indicators at 5 minutes ([`Action`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// `ListRealTimeQuality` (offline: `ListQuality`)
    Quality,
    /// `ListRealTimeOperationData` (no offline equivalent)
    Operation,
    /// `ListRealTimeQualityDistribution`: one quality indicator broken down
    /// by one [`Dimension`] (offline: `ListQualityDistribution`)
    Distribution,
}

impl Source {
    pub const ALL: [Source; 3] = [Source::Quality, Source::Operation, Source::Distribution];

    /// The name stored in the database and shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Quality => "quality",
            Source::Operation => "operation",
            Source::Distribution => "distribution",
        }
    }

    /// The real-time action the collector calls.
    pub fn realtime(self) -> Action {
        match self {
            Source::Quality => Action::RealTimeQuality,
            Source::Operation => Action::RealTimeOperationData,
            Source::Distribution => Action::RealTimeQualityDistribution,
        }
    }

    /// The offline action that answers the same indicators at 5 minutes,
    /// 30 days back; operation data has none.
    pub fn offline(self) -> Option<Action> {
        match self {
            Source::Quality => Some(Action::Quality),
            Source::Operation => None,
            Source::Distribution => Some(Action::QualityDistribution),
        }
    }

    /// The real-time OpenAPI action's name.
    pub fn action(self) -> &'static str {
        self.realtime().name()
    }

    /// The source a real-time action's name belongs to.
    pub fn from_action(action: &str) -> Option<Source> {
        Source::ALL.into_iter().find(|s| s.action() == action)
    }

    /// How long after the fact the real-time API has a bucket's data, in seconds.
    pub fn delay_secs(self) -> i64 {
        self.realtime().delay_secs()
    }

    /// Whether the action can narrow to a room and its users.
    pub fn has_rooms(self) -> bool {
        matches!(self, Source::Quality)
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Source {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Source::ALL
            .into_iter()
            .find(|source| source.as_str() == s)
            .ok_or_else(|| {
                format!("source {s:?} is not \"quality\", \"operation\" or \"distribution\"")
            })
    }
}

/// One OpenAPI action the archive calls, with the limits its documentation
/// sets (`../shared/api/`): how far back it reaches, the longest window one
/// call may ask for, how late its data arrive and how coarse its buckets are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    RealTimeQuality,
    RealTimeOperationData,
    Quality,
    RealTimeQualityDistribution,
    QualityDistribution,
}

/// Seconds in a day.
const DAY: i64 = 86_400;

impl Action {
    /// Every action, in the order of the API documentation.
    pub const ALL: [Action; 5] = [
        Action::RealTimeQuality,
        Action::RealTimeOperationData,
        Action::Quality,
        Action::RealTimeQualityDistribution,
        Action::QualityDistribution,
    ];

    /// The `Action` of the query string.
    pub fn name(self) -> &'static str {
        match self {
            Action::RealTimeQuality => "ListRealTimeQuality",
            Action::RealTimeOperationData => "ListRealTimeOperationData",
            Action::Quality => "ListQuality",
            Action::RealTimeQualityDistribution => "ListRealTimeQualityDistribution",
            Action::QualityDistribution => "ListQualityDistribution",
        }
    }

    pub fn from_name(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The family of indicators it answers.
    pub fn source(self) -> Source {
        match self {
            Action::RealTimeQuality | Action::Quality => Source::Quality,
            Action::RealTimeOperationData => Source::Operation,
            Action::RealTimeQualityDistribution | Action::QualityDistribution => {
                Source::Distribution
            }
        }
    }

    /// Whether it answers from the offline store (30 days, 5 minutes).
    pub fn is_offline(self) -> bool {
        matches!(self, Action::Quality | Action::QualityDistribution)
    }

    /// The resolution of its points.
    pub fn resolution(self) -> Resolution {
        if self.is_offline() {
            Resolution::FiveMinutes
        } else {
            Resolution::RealTime
        }
    }

    /// How far back its `StartTime` may reach, in seconds.
    pub fn reach_secs(self) -> i64 {
        if self.is_offline() {
            30 * DAY
        } else {
            crate::HORIZON_SECS
        }
    }

    /// The longest window one call may ask for, in seconds.
    pub fn max_span_secs(self) -> i64 {
        if self.is_offline() {
            7 * DAY
        } else {
            crate::HORIZON_SECS
        }
    }

    /// How long after the fact it has a bucket's data, in seconds.
    pub fn delay_secs(self) -> i64 {
        match self {
            Action::RealTimeQuality | Action::RealTimeQualityDistribution => 60,
            Action::RealTimeOperationData => 20,
            Action::Quality | Action::QualityDistribution => 8 * 3600,
        }
    }

    /// Whether its `Indicator` is one string (and `Dimension` required)
    /// rather than a list.
    pub fn is_distribution(self) -> bool {
        self.source() == Source::Distribution
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How much time one point stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Resolution {
    /// A 30-second bucket of a real-time action.
    #[default]
    RealTime,
    /// A 5-minute slot of an offline action: the mean of its ten buckets.
    FiveMinutes,
}

impl Resolution {
    pub const ALL: [Resolution; 2] = [Resolution::RealTime, Resolution::FiveMinutes];

    /// Seconds: the `resolution` column of the views.
    pub fn secs(self) -> i64 {
        match self {
            Resolution::RealTime => 30,
            Resolution::FiveMinutes => 300,
        }
    }

    /// How many 30-second buckets a point stands for: its weight in
    /// averages and sums.
    pub fn buckets(self) -> i64 {
        self.secs() / crate::BUCKET_SECS
    }

    pub fn from_secs(secs: i64) -> Option<Resolution> {
        Resolution::ALL.into_iter().find(|r| r.secs() == secs)
    }
}

/// The dimension a distribution series is broken down by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Dimension {
    /// First-level region (Hong Kong, Macao and Taiwan included).
    Province,
    Country,
    /// Device platform: `android`, `ios`, `linux`, `mac`, `windows`.
    #[serde(rename = "OS")]
    Os,
    /// Network type: `2g` ... `5g`, `wifi`.
    Access,
}

impl Dimension {
    pub const ALL: [Dimension; 4] = [
        Dimension::Province,
        Dimension::Country,
        Dimension::Os,
        Dimension::Access,
    ];

    /// The API's `Dimension`, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Province => "Province",
            Dimension::Country => "Country",
            Dimension::Os => "OS",
            Dimension::Access => "Access",
        }
    }

    /// `Province, Country, OS, Access`, for messages.
    pub fn allowed() -> String {
        Dimension::ALL.map(Dimension::as_str).join(", ")
    }
}

impl fmt::Display for Dimension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Dimension {
    type Err = String;

    /// The API's spelling, in any case (`os` is `OS`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Dimension::ALL
            .into_iter()
            .find(|d| d.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                format!(
                    "unknown dimension {s:?}: expected one of {}",
                    Dimension::allowed()
                )
            })
    }
}

/// The users a room target narrows to, in their one canonical form: sorted,
/// without repeats, comma-joined (as the archive stores and exports them);
/// empty for none. A UserId is never empty and never holds a comma.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserSet(String);

impl UserSet {
    /// No users: the whole room (or app).
    pub const NONE: UserSet = UserSet(String::new());

    /// A set from separate UserIds, in any order, repeats allowed.
    pub fn new<S: AsRef<str>>(users: impl IntoIterator<Item = S>) -> Result<UserSet, String> {
        let mut list: Vec<String> = Vec::new();
        for u in users {
            let u = u.as_ref();
            if u.trim().is_empty() || u.contains(',') {
                return Err(format!(
                    "{u:?} is not a valid UserId (empty, or contains a comma)"
                ));
            }
            list.push(u.to_string());
        }
        list.sort_unstable();
        list.dedup();
        Ok(UserSet(list.join(",")))
    }

    /// A set from a joined form that [`normalize_joined`] produced.
    pub(crate) fn from_normalized(joined: String) -> UserSet {
        debug_assert_eq!(
            normalize_joined(Cow::Borrowed(&joined)).as_deref(),
            Ok(joined.as_str())
        );
        UserSet(joined)
    }

    /// A set from the comma-joined form (as stored, exported or typed).
    pub fn parse(joined: &str) -> Result<UserSet, String> {
        normalize_joined(Cow::Borrowed(joined)).map(|c| UserSet(c.into_owned()))
    }

    /// The canonical comma-joined form; `""` for none.
    pub fn joined(&self) -> &str {
        &self.0
    }

    /// The joined form, or `None` for no users (the views' NULL).
    pub fn as_option(&self) -> Option<&str> {
        (!self.0.is_empty()).then_some(self.0.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The UserIds, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.split(',').filter(|u| !u.is_empty())
    }

    pub fn len(&self) -> usize {
        self.iter().count()
    }

    pub fn to_vec(&self) -> Vec<String> {
        self.iter().map(str::to_string).collect()
    }
}

impl fmt::Display for UserSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `null` for none, else the joined form: the `user_ids` column.
impl Serialize for UserSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.as_option().serialize(s)
    }
}

impl<'de> Deserialize<'de> for UserSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let joined: Option<String> = Option::deserialize(d)?;
        UserSet::parse(joined.as_deref().unwrap_or("")).map_err(serde::de::Error::custom)
    }
}

/// The user-list normaliser: a comma-joined list of UserIds in the
/// canonical form (trimmed, sorted, without repeats), borrowing when the
/// input already is (the common case on import's hot path). `""` is the
/// empty set; an empty UserId between commas is refused.
pub fn normalize_joined(users: Cow<'_, str>) -> Result<Cow<'_, str>, String> {
    if users.is_empty() {
        return Ok(users);
    }
    let parts: Vec<&str> = users.split(',').map(str::trim).collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(format!("user_ids {users:?} has an empty UserId"));
    }
    let canonical = parts.windows(2).all(|w| w[0] < w[1])
        && parts.iter().map(|p| p.len()).sum::<usize>() + parts.len() - 1 == users.len();
    if canonical {
        return Ok(users);
    }
    let mut sorted = parts;
    sorted.sort_unstable();
    sorted.dedup();
    Ok(Cow::Owned(sorted.join(",")))
}

/// One target and source: what a request asks for, and what the
/// collector's progress, failures and gaps are kept per (with the requested
/// indicator: a distribution request takes one indicator and one dimension,
/// the others every indicator of the target at once).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StreamKey {
    pub app_id: String,
    /// `None` for app-wide data.
    pub room_id: Option<String>,
    pub user_ids: UserSet,
    pub source: Source,
    /// The dimension a distribution stream is broken down by; `None` for
    /// the other sources (and then absent from JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimension: Option<Dimension>,
}

impl StreamKey {
    pub fn new(
        app_id: impl Into<String>,
        room_id: Option<String>,
        user_ids: UserSet,
        source: Source,
    ) -> Self {
        StreamKey {
            app_id: app_id.into(),
            room_id: room_id.filter(|r| !r.is_empty()),
            user_ids,
            source,
            dimension: None,
        }
    }

    /// An app-wide distribution stream.
    pub fn distribution(app_id: impl Into<String>, dimension: Dimension) -> Self {
        StreamKey {
            dimension: Some(dimension),
            ..StreamKey::new(app_id, None, UserSet::NONE, Source::Distribution)
        }
    }

    /// One of the stream's series.
    pub fn series(&self, indicator: impl Into<String>) -> SeriesKey {
        SeriesKey {
            stream: self.clone(),
            indicator: indicator.into(),
            dimension_value: None,
        }
    }

    /// One of a distribution stream's series: an indicator for one value
    /// of the dimension.
    pub fn series_by(
        &self,
        indicator: impl Into<String>,
        dimension_value: Option<String>,
    ) -> SeriesKey {
        SeriesKey {
            dimension_value,
            ..self.series(indicator)
        }
    }

    /// `app / room / users` for legends and tables.
    pub fn label(&self) -> String {
        let mut s = self.app_id.clone();
        if let Some(r) = &self.room_id {
            s.push_str(" / ");
            s.push_str(r);
        }
        if !self.user_ids.is_empty() {
            s.push_str(" / ");
            s.push_str(self.user_ids.joined());
        }
        if let Some(d) = self.dimension {
            s.push_str(" by ");
            s.push_str(d.as_str());
        }
        s
    }
}

/// `quality app=a room=r users=u1,u2`, for log lines and messages.
impl fmt::Display for StreamKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} app={}", self.source, self.app_id)?;
        if let Some(room) = &self.room_id {
            write!(f, " room={room}")?;
        }
        if !self.user_ids.is_empty() {
            write!(f, " users={}", self.user_ids)?;
        }
        if let Some(d) = self.dimension {
            write!(f, " dimension={d}")?;
        }
        Ok(())
    }
}

/// A stream's indicator under the name the API answered with: what a point
/// belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SeriesKey {
    #[serde(flatten)]
    pub stream: StreamKey,
    pub indicator: String,
    /// The dimension's value (`windows`, `wifi`, `广东`) of a distribution
    /// series, as answered; `None` otherwise (and then absent from JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimension_value: Option<String>,
}

impl fmt::Display for SeriesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} indicator={}", self.stream, self.indicator)?;
        if let Some(v) = &self.dimension_value {
            write!(f, " value={v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_sets_have_one_form() {
        let a = UserSet::new(["u2", "u1", "u2"]).unwrap();
        assert_eq!(a.joined(), "u1,u2");
        assert_eq!(UserSet::parse("u2, u1,u2").unwrap(), a);
        assert_eq!(a.to_vec(), ["u1", "u2"]);
        assert_eq!(a.len(), 2);
        assert!(UserSet::parse("").unwrap().is_empty());
        assert_eq!(UserSet::NONE.as_option(), None);
        assert_eq!(UserSet::NONE.iter().count(), 0);
        assert!(
            UserSet::parse("u1,,u2")
                .unwrap_err()
                .contains("empty UserId")
        );
        assert!(UserSet::new(["a,b"]).unwrap_err().contains("comma"));
        assert!(UserSet::new([" "]).is_err());
    }

    #[test]
    fn the_normaliser_borrows_what_is_already_canonical() {
        assert!(matches!(
            normalize_joined(Cow::Borrowed("u1,u2")),
            Ok(Cow::Borrowed("u1,u2"))
        ));
        for (input, want) in [("u2,u1", "u1,u2"), ("u1, u2", "u1,u2"), ("u1,u1", "u1")] {
            let got = normalize_joined(Cow::Borrowed(input)).unwrap();
            assert!(matches!(got, Cow::Owned(_)), "{input}");
            assert_eq!(got, want);
        }
    }

    #[test]
    fn identity_serializes_as_the_samples_columns() {
        let key = StreamKey::new(
            "app1",
            Some("room-1".into()),
            UserSet::new(["u2", "u1"]).unwrap(),
            Source::Quality,
        )
        .series("audio_stall_rate");
        assert_eq!(
            serde_json::to_string(&key).unwrap(),
            r#"{"app_id":"app1","room_id":"room-1","user_ids":"u1,u2","source":"quality","indicator":"audio_stall_rate"}"#
        );
        let back: SeriesKey = serde_json::from_str(
            r#"{"app_id":"app1","room_id":"room-1","user_ids":"u2,u1","source":"quality","indicator":"audio_stall_rate"}"#,
        )
        .unwrap();
        assert_eq!(back, key);
        let app_wide = StreamKey::new("a", Some(String::new()), UserSet::NONE, Source::Operation);
        assert_eq!(
            serde_json::to_string(&app_wide).unwrap(),
            r#"{"app_id":"a","room_id":null,"user_ids":null,"source":"operation"}"#
        );
        assert_eq!(
            key.to_string(),
            "quality app=app1 room=room-1 users=u1,u2 indicator=audio_stall_rate"
        );
        assert_eq!(key.stream.label(), "app1 / room-1 / u1,u2");
    }
}
