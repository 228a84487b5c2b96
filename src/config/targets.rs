//! The `[[target]]` sections: what to collect, an app or one room of it
//! (optionally some of its users), and which indicators of each action.
//! Each target is checked on its own against the API's rules (user_ids
//! only within a room, at most 20 of them, operation data app-wide only),
//! then against the targets before it, so no stream is asked for twice.

use std::collections::HashMap;

use serde::Deserialize;

use super::{Checker, ConfigError};
use crate::Source;
use crate::catalog;
use crate::series::{self, Dimension, StreamKey, UserSet};

/// The most `UserId`s `ListRealTimeQuality` takes in one request.
const MAX_USERS: usize = 20;

/// `ProductType` of `ListRealTimeQuality`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProductType {
    Native,
    Web,
}

impl ProductType {
    pub fn as_str(self) -> &'static str {
        match self {
            ProductType::Native => "native",
            ProductType::Web => "web",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTarget {
    app_id: String,
    room_id: Option<String>,
    user_ids: Option<Vec<String>>,
    quality: Option<Vec<String>>,
    operation: Option<Vec<String>>,
    distribution: Option<Vec<String>>,
    dimensions: Option<Vec<String>>,
    product_type: Option<ProductType>,
}

/// One `[[target]]`: an app, or one room of it (optionally some of its users).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub app_id: String,
    pub room_id: Option<String>,
    pub user_ids: UserSet,
    pub quality: Vec<String>,
    pub operation: Vec<String>,
    /// Quality indicators to break down by each of `dimensions` (app-wide
    /// targets only).
    pub distribution: Vec<String>,
    pub dimensions: Vec<Dimension>,
    pub product_type: Option<ProductType>,
}

/// One line of requests of a target: what one request asks for, pass after
/// pass, with its own window, retries and gaps. A quality or operation
/// stream asks for every indicator of its action at once; a distribution
/// action takes one indicator and one dimension per request, so a target
/// has one line per indicator and dimension (sharing the stream of their
/// dimension).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSpec {
    pub key: StreamKey,
    /// The requested indicators (one for a distribution stream).
    pub indicators: Vec<String>,
}

impl Target {
    /// The indicators asked for of `source` (empty: that source is not asked).
    pub fn indicators(&self, source: Source) -> &[String] {
        match source {
            Source::Quality => &self.quality,
            Source::Operation => &self.operation,
            Source::Distribution => &self.distribution,
        }
    }

    /// The stream this target fetches of `source`; for the distribution
    /// source, see [`Target::streams`] (one stream per dimension).
    pub fn stream_key(&self, source: Source) -> StreamKey {
        StreamKey::new(
            self.app_id.clone(),
            self.room_id.clone(),
            self.user_ids.clone(),
            source,
        )
    }

    /// Every line of requests of this target, in source order.
    pub fn streams(&self) -> Vec<StreamSpec> {
        let mut out = Vec::new();
        for source in [Source::Quality, Source::Operation] {
            let indicators = self.indicators(source);
            if !indicators.is_empty() {
                out.push(StreamSpec {
                    key: self.stream_key(source),
                    indicators: indicators.to_vec(),
                });
            }
        }
        for &dimension in &self.dimensions {
            for indicator in &self.distribution {
                out.push(StreamSpec {
                    key: StreamKey::distribution(self.app_id.clone(), dimension),
                    indicators: vec![indicator.clone()],
                });
            }
        }
        out
    }
}

/// The `[[target]]` list, checked.
pub(super) struct Targets {
    pub targets: Vec<Target>,
    /// Indicator names the catalog does not know, as `NAME (target[N].KEY)`,
    /// once for each time they are listed: warnings, not errors.
    pub unknown_indicators: Vec<String>,
}

/// Every `[[target]]` checked on its own, then against the targets before
/// it; errors name the target by its place in the file (`target[2]`).
pub(super) fn check(c: &Checker, raw: Vec<RawTarget>) -> Result<Targets, ConfigError> {
    let mut targets = Vec::with_capacity(raw.len());
    let mut unknown_indicators = Vec::new();
    let mut owners = HashMap::new();
    for (i, raw) in raw.into_iter().enumerate() {
        let c = c.section(&format!("target[{}]", i + 1));
        let target = check_target(&c, raw, &mut unknown_indicators)?;
        claim_streams(&c, &target, i, &mut owners)?;
        targets.push(target);
    }
    Ok(Targets {
        targets,
        unknown_indicators,
    })
}

/// One `[[target]]` on its own; names the catalog does not know are added
/// to `unknown`.
fn check_target(
    c: &Checker,
    raw: RawTarget,
    unknown: &mut Vec<String>,
) -> Result<Target, ConfigError> {
    let RawTarget {
        app_id,
        room_id,
        user_ids,
        quality,
        operation,
        distribution,
        dimensions,
        product_type,
    } = raw;
    if app_id.trim().is_empty() {
        return Err(c.err("app_id", "is empty: set it to your RTC AppId"));
    }
    no_control_char(c, "app_id", &app_id)?;
    if let Some(room) = &room_id {
        if room.trim().is_empty() {
            return Err(c.err(
                "room_id",
                "is empty: remove it for app-wide data, or name a room",
            ));
        }
        no_control_char(c, "room_id", room)?;
    }
    let user_ids = check_users(c, user_ids.unwrap_or_default(), room_id.is_some())?;
    if room_id.is_some() && operation.is_some() {
        return Err(c.err(
            "operation",
            "is app-wide only (ListRealTimeOperationData has no RoomId): move it to a target without room_id",
        ));
    }
    if product_type.is_some() && quality.is_none() {
        return Err(c.err(
            "product_type",
            "applies to quality indicators only: add quality = [...] or remove it",
        ));
    }
    let quality = check_indicators(c, "quality", Source::Quality, quality, unknown)?;
    let operation = check_indicators(c, "operation", Source::Operation, operation, unknown)?;
    let (distribution, dimensions) =
        check_breakdown(c, distribution, dimensions, room_id.is_some(), unknown)?;
    if quality.is_empty() && operation.is_empty() && distribution.is_empty() {
        return Err(c.section_err(
            "asks for nothing: add quality = [\"stall_rate\"] or operation = [\"online_user_count\"]",
        ));
    }
    Ok(Target {
        app_id,
        room_id,
        user_ids,
        quality,
        operation,
        distribution,
        dimensions,
        product_type,
    })
}

/// `distribution` and `dimensions`: both or neither, app-wide only (the
/// distribution actions take no RoomId), each a non-empty list; dimensions
/// among the four the API knows, in any case, repeats dropped.
fn check_breakdown(
    c: &Checker,
    distribution: Option<Vec<String>>,
    dimensions: Option<Vec<String>>,
    in_room: bool,
    unknown: &mut Vec<String>,
) -> Result<(Vec<String>, Vec<Dimension>), ConfigError> {
    let allowed = Dimension::allowed();
    match (&distribution, &dimensions) {
        (None, None) => return Ok((Vec::new(), Vec::new())),
        (Some(_), None) => {
            return Err(c.err(
                "distribution",
                format!("needs dimensions = [...] to break it down by, any of {allowed}"),
            ));
        }
        (None, Some(_)) => {
            return Err(c.err(
                "dimensions",
                "needs distribution = [...]: the quality indicators to break down",
            ));
        }
        (Some(_), Some(_)) => {}
    }
    if in_room {
        let key = if distribution.is_some() {
            "distribution"
        } else {
            "dimensions"
        };
        return Err(c.err(
            key,
            "is app-wide only (the distribution actions have no RoomId): move it to a target \
             without room_id",
        ));
    }
    let distribution = check_indicators(
        c,
        "distribution",
        Source::Distribution,
        distribution,
        unknown,
    )?;
    let raw = dimensions.unwrap_or_default();
    if raw.is_empty() {
        return Err(c.err(
            "dimensions",
            format!("is empty: list any of {allowed}, or remove dimensions and distribution"),
        ));
    }
    let mut dimensions: Vec<Dimension> = Vec::new();
    for d in raw {
        let d: Dimension = d.parse().map_err(|e: String| c.err("dimensions", e))?;
        if !dimensions.contains(&d) {
            dimensions.push(d);
        }
    }
    Ok((distribution, dimensions))
}

/// `user_ids`: only within a room, each a valid `UserId`, at most
/// [`MAX_USERS`] once duplicates are merged.
fn check_users(c: &Checker, users: Vec<String>, in_room: bool) -> Result<UserSet, ConfigError> {
    if !users.is_empty() && !in_room {
        return Err(c.err(
            "user_ids",
            "needs room_id: the API filters users only within a room; add room_id, or remove user_ids",
        ));
    }
    for user in &users {
        no_control_char(c, "user_ids", user)?;
    }
    let users = UserSet::new(&users).map_err(|e| c.err("user_ids", e))?;
    if users.len() > MAX_USERS {
        return Err(c.err(
            "user_ids",
            format!(
                "has {} users; the API takes at most {MAX_USERS}: split them into several targets",
                users.len()
            ),
        ));
    }
    Ok(users)
}

/// An identity field without control characters: it is printed to
/// terminals and stored as part of a series' identity.
fn no_control_char(c: &Checker, key: &str, text: &str) -> Result<(), ConfigError> {
    match series::control_char(text) {
        Some(ch) => Err(c.err(
            key,
            format!(
                "{text:?} holds a control character ({}): remove it",
                ch.escape_unicode()
            ),
        )),
        None => Ok(()),
    }
}

/// An indicator list (`quality`, `operation`) of `source`: absent is none,
/// present names at least one; each name without white space or control
/// characters; duplicates dropped, the first kept. A name the catalog does
/// not know goes to `unknown` each time it is listed: the API decides.
fn check_indicators(
    c: &Checker,
    key: &str,
    source: Source,
    list: Option<Vec<String>>,
    unknown: &mut Vec<String>,
) -> Result<Vec<String>, ConfigError> {
    let Some(list) = list else {
        return Ok(Vec::new());
    };
    if list.is_empty() {
        return Err(c.err(
            key,
            format!("is empty: list indicators (see `rtc-archiver indicators`), or remove {key}"),
        ));
    }
    let mut names: Vec<String> = Vec::new();
    for name in list {
        if name.trim().is_empty() || name.chars().any(|ch| ch.is_whitespace() || ch.is_control()) {
            return Err(c.err(key, format!("{name:?} is not an indicator name")));
        }
        if catalog::lookup(source, &name).is_none() {
            unknown.push(format!("{} ({})", name, c.key(key)));
        }
        if !names.contains(&name) {
            names.push(name);
        }
    }
    Ok(names)
}

/// The rule across targets: no two ask for the same stream (app, room,
/// user set and action), which would fetch the same data twice at the
/// API's rate. `owners` maps each stream claimed so far to its target's
/// index: one lookup per stream, not a scan of the targets before it, as
/// configurations with thousands of targets exist.
fn claim_streams(
    c: &Checker,
    target: &Target,
    index: usize,
    owners: &mut HashMap<StreamKey, usize>,
) -> Result<(), ConfigError> {
    let mut claimed: Vec<StreamKey> = Vec::new();
    for spec in target.streams() {
        // a target's own distribution lines share their dimension's stream
        if claimed.contains(&spec.key) {
            continue;
        }
        if let Some(first) = owners.insert(spec.key.clone(), index) {
            let source = spec.key.source;
            return Err(c.section_err(format!(
                "asks for the same {source} data as target[{}] (same app_id, room_id and user_ids): \
                 merge their indicator lists into one target",
                first + 1
            )));
        }
        claimed.push(spec.key);
    }
    Ok(())
}
