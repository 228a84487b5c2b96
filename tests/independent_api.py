#!/usr/bin/env python3
"""An independent fake of five Volcengine RTC OpenAPI actions, written from the
API contracts in ../shared/api/ alone (README.md and one page per action), in
Python's standard library only, so that rtc-archiver can be tested against
something that shares none of its code.

    ListRealTimeQuality              30-s buckets, the last 60 minutes
    ListRealTimeOperationData        30-s buckets, the last 60 minutes
    ListRealTimeQualityDistribution  30-s buckets per dimension value, app-wide
    ListQuality                      5-minute or 1-day buckets, the last 30 days
    ListQualityDistribution          5-minute buckets per dimension value, app-wide

As the real gateway and service would, it
  * checks the V4 signature (hmac/hashlib, README.md's algorithm) and that
    X-Date is within 15 minutes of the fake's clock;
  * enforces each action's rate (a sliding window, per action across every
    AppId: the limit is per account) and optional daily quota, the reach (the
    oldest StartTime, compared with the arrival time to the millisecond), the
    span per call and the data delay (buckets not yet due are simply absent);
  * serves deterministic values: real-time values are provisional for
    REVISION_SECS after they are due, then final; offline values are exact
    means of the final 30-s values of the same series (see "Values");
  * answers exactly FAULT_RATE of the valid requests with a fault, the kinds
    in turn (across all actions), so that even a short run sees every kind;
  * records every bucket it served (GET /truth) and every rule a client broke
    (GET /stats).

Usage: independent_api.py PORT_FILE [FAULT_RATE (0.15)] [REVISION_SECS (20)]
Listens on 127.0.0.1 (a free port), writes "PORT\\n" to PORT_FILE once
listening, prints nothing (a bad setting: a message on stderr, exit 2).

Environment
  INDEPENDENT_LIMITS         "Action=TERM[:TERM];Action=...", a TERM being N/s, N/m
                             or N/h (the rate: at most N requests in any sliding
                             second, minute or hour) or N/d (a daily quota; days
                             start at 00:00 +08:00). Unlisted actions, and a
                             listed one without a rate: 2/s; no quota unless given.
                             E.g. "ListQuality=10/m:60/d;ListRealTimeQuality=2/s".
                             Over the rate: 429 AccountFlowLimitExceeded; over the
                             quota: 429 FlowLimitExceeded.QPSOverLimit; both with
                             Retry-After (whole seconds). Every signed request of
                             the action counts in the rate window, refused ones
                             too; the quota counts those the rate let through.
  INDEPENDENT_OFFLINE_DELAY  data delay of ListQuality and ListQualityDistribution,
                             seconds (default 28800: 8 hours)
  INDEPENDENT_CLOCK_OFFSET   seconds added to the machine's clock to make the fake's
                             "now" (default 0), e.g. to match a collector run under
                             libfaketime with the same offset

Endpoints besides the API (POST /?Action=...&Version=2020-12-01)
  GET  /truth                {key: {ts: final value}} of every bucket served by
                             ListRealTimeQuality and ListRealTimeOperationData
  GET  /truth?action=ACTION  the same for any one of the five actions
  GET  /stats                counters (see "Stats")
  GET  /_clock               {"now": float, "offset": float, "frozen": bool}
  POST /_clock?offset=SECS   now = the machine's clock + SECS, running
  POST /_clock?at=UNIX       now frozen at UNIX seconds (fractions allowed), for
                             tests that must be exact to the millisecond; a later
                             ?offset= sets it running again
  /_clock is unsigned and answers loopback clients only.

Truth keys: '|'-joined, an empty field stays empty; inside each key, ts are
bucket starts in Unix seconds (as strings, JSON object keys) and values are the
final values (what a client holds once every revision has landed).
  ListRealTimeQuality              ListRealTimeQuality|app|room|users|name
  ListRealTimeOperationData        ListRealTimeOperationData|app|||name
  ListRealTimeQualityDistribution  ListRealTimeQualityDistribution|app|||name|dimension|value
  ListQuality                      ListQuality|app|room|users|name|granularity
  ListQualityDistribution          ListQualityDistribution|app|||name|5min|dimension|value
where users = the UserIds of a request with a RoomId, deduplicated, sorted and
','-joined; name = the answered name (stall_rate -> audio_stall_rate, ...);
granularity = 5min or 1d; dimension = Province, Country, OS or Access; value =
the dimension value as answered (android, 广东, ...).

Values
  * Every real-time series (one per truth key of a real-time action) has a
    deterministic final value per 30-s bucket, from a hash of key and bucket:
    rates 90.00-99.99, counts (names with "count") 1000-3999. About 1 bucket
    in 50 has no data, and about 1 five-minute slot in 30 has none at all
    ("quiet"); in a distribution series about 1 bucket in 5 more lacks a
    value, so some values are absent from some buckets.
  * A real-time bucket [ts, ts+30) is due at ts + 30 + the action's delay;
    it is served provisional (rates 1.25 lower, counts 7 higher) for
    REVISION_SECS, then final.
  * An offline bucket [ts, ts+g) is served once ts + g + the offline delay
    has passed, with its final value at once: the mean of the final 30-s
    values of the same series (ListQuality: ListRealTimeQuality's series of
    the same app, room, users and name; ListQualityDistribution:
    ListRealTimeQualityDistribution's of the same app, name, dimension and
    value) over [ts, ts+g), computed exactly and rounded half up to two
    decimals; absent when that interval holds no 30-s value at all.
    1d buckets are days from 00:00 +08:00, as the docs' examples use.
  * A bucket belongs to a request when its start lies in [StartTime, EndTime]
    (both ends inclusive, as the ListRealTimeOperationData doc's example shows).
  * Distribution values: OS android, ios, windows, mac, linux; Access wifi, 4g,
    5g, 3g, 2g; Province and Country Chinese names in UTF-8. The data items of
    a distribution answer come in a shuffled (deterministic) order.

Stats: the top-level counters sum every action (requests also counts requests
for unknown actions); per_action holds the same per action:
  requests, ok (complete answers), answers (valid requests, faulted or not),
  faults {kind: n}, auth_failures, rate_violations (429
  AccountFlowLimitExceeded), quota_violations (429
  FlowLimitExceeded.QPSOverLimit), horizon_violations (StartTime beyond the
  reach), span_violations (span too long, or EndTime before StartTime),
  bad_requests (any other refused body), beyond_delay (valid requests asking
  for buckets not yet due: not an error, counted), max_per_second (requests
  in any one second, refused ones included) and, per action only,
  max_lookback (the largest arrival time - StartTime seen, seconds).

Where the docs are silent or ambiguous, this fake decides (see each page's
"reading a client should take"):
  * StartTime beyond the reach: InvalidParameter.OutofTimeRange for the three
    newer actions (their pages' reading); bare InvalidParameter for the two
    real-time ones, as this fake always answered, so that the collector is
    tested against a bare code too.
  * ListQualityDistribution has no AggregateGranularity (its page: neither doc
    nor SDK has one): it always answers 5-minute buckets, and refuses the
    field like RoomId/UserId in the distribution actions: a field the action
    does not have, which a client sends expecting it to change the answer.
  * ListQuality's OS/Access filters are refused (InvalidParameter): this fake
    does not model them, and ignoring them would answer unfiltered data.
  * A refused field counts as given when its value is anything but null, ""
    or [] (a client serialising an empty option is not refused).
  * UserId without RoomId is ignored (the docs: only taken into account with
    RoomId); more than 20 UserIds are refused. With a RoomId,
    ListRealTimeQuality's Result repeats RoomId and UserId, as its doc shows.
  * StartTime and EndTime must be RFC 3339 with an offset (or Z); fractions
    of a second are kept.
  * Operation counts are answered as JSON integers, everything else as
    numbers with at most two decimals (README.md).
"""

import hashlib
import hmac
import ipaddress
import json
import math
import os
import re
import socket
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, urlsplit

AK = "AKLTindependent"
SK = "independent-secret"
REGION = "cn-north-1"
SERVICE = "rtc"
VERSION = "2020-12-01"
HOUR, DAY = 3600, 86400
DAY_START = -8 * HOUR  # 1d buckets and daily quotas begin at 00:00 +08:00 (16:00 UTC)

# Family names answer as several variants; every action expands them.
FAMILIES = {
    "stall_rate": ["audio_stall_rate", "video_stall_rate"],
    "join_room_success_rate": ["5s_join_room_success_rate", "10s_join_room_success_rate"],
}
# The values each dimension answers (Province and Country in UTF-8, as the docs' examples).
DIMENSIONS = {
    "OS": ["android", "ios", "windows", "mac", "linux"],
    "Access": ["wifi", "4g", "5g", "3g", "2g"],
    "Province": ["广东", "北京", "上海", "浙江", "四川", "香港"],
    "Country": ["中国", "美国", "日本", "新加坡"],
}
FAULTS = ["500", "502", "503", "504", "429", "truncate", "malformed", "shape",
          "slow", "badpoints", "outside", "dupes", "reset"]
# CodeN of the gateway codes README.md documents; others get 100000, as this fake always did.
CODE_N = {"MissingParameter": 100002, "MissingAuthenticationToken": 100003, "MissingSignature": 100005,
          "InvalidTimestamp": 100006, "InvalidActionOrVersion": 100008, "InvalidAccessKey": 100009,
          "SignatureDoesNotMatch": 100010, "AccessDenied": 100013, "InternalError": 100001}


# ---------------------------------------------------------------- settings


def fail_setting(message):
    sys.stderr.write(f"independent_api.py: {message}\n")
    sys.exit(2)


def env_seconds(name, default):
    text = os.environ.get(name, "").strip()
    try:
        return float(text) if text else float(default)
    except ValueError:
        fail_setting(f"{name}={text!r}: expected a number of seconds")


FAULT_RATE = float(sys.argv[2]) if len(sys.argv) > 2 else 0.15
REVISION = float(sys.argv[3]) if len(sys.argv) > 3 else 20.0
OFFLINE_DELAY = env_seconds("INDEPENDENT_OFFLINE_DELAY", 8 * HOUR)


@dataclass(frozen=True)
class Rules:
    """What one action accepts and answers: the one place its rules live."""
    reach: float          # the oldest StartTime accepted is now - reach
    span: float           # the longest EndTime - StartTime of one call
    delay: float          # a bucket [ts, ts + g) is served once ts + g + delay <= now
    grains: dict          # granularity name -> bucket seconds; the first is the default
    granularity: bool     # the body must give AggregateGranularity (one of grains)
    one_indicator: bool   # Indicator is one string, not a list of strings
    rooms: bool           # RoomId and UserId select a room and its users
    dimension: bool       # Dimension is required; every point carries its value
    source: str | None    # offline: the real-time action whose final 30-s values it averages
    time_key: str         # the data item's time key
    utc_offset: int       # hours, of the TimeStamps answered
    unit: str | None      # every indicator's Unit, if the answer has one
    overview: bool        # a lowercase overview object per indicator
    echo_room: bool       # Result repeats RoomId and UserId
    refused: tuple = ()   # body fields refused (InvalidParameter): see the module docstring
    legacy: bool = False  # bare InvalidParameter for bad bodies and a StartTime beyond the reach


ACTIONS = {
    "ListRealTimeQuality": Rules(
        reach=HOUR, span=HOUR, delay=60, grains={"30s": 30}, granularity=False, one_indicator=False,
        rooms=True, dimension=False, source=None, time_key="TimeStamp", utc_offset=8, unit="%",
        overview=False, echo_room=True, legacy=True),
    "ListRealTimeOperationData": Rules(
        reach=HOUR, span=HOUR, delay=20, grains={"30s": 30}, granularity=False, one_indicator=False,
        rooms=False, dimension=False, source=None, time_key="Timestamp", utc_offset=0, unit=None,
        overview=False, echo_room=False, legacy=True),
    "ListRealTimeQualityDistribution": Rules(
        reach=HOUR, span=HOUR, delay=60, grains={"30s": 30}, granularity=False, one_indicator=True,
        rooms=False, dimension=True, source=None, time_key="TimeStamp", utc_offset=8, unit=None,
        overview=False, echo_room=False, refused=("RoomId", "UserId")),
    "ListQuality": Rules(
        reach=30 * DAY, span=7 * DAY, delay=OFFLINE_DELAY, grains={"5min": 300, "1d": DAY},
        granularity=True, one_indicator=False, rooms=True, dimension=False, source="ListRealTimeQuality",
        time_key="TimeStamp", utc_offset=8, unit="%", overview=True, echo_room=False,
        refused=("OS", "Access")),
    "ListQualityDistribution": Rules(
        reach=30 * DAY, span=7 * DAY, delay=OFFLINE_DELAY, grains={"5min": 300}, granularity=False,
        one_indicator=True, rooms=False, dimension=True, source="ListRealTimeQualityDistribution",
        time_key="TimeStamp", utc_offset=8, unit=None, overview=False, echo_room=False,
        refused=("RoomId", "UserId", "AggregateGranularity")),
}
LEGACY_TRUTH = [a for a, r in ACTIONS.items() if r.legacy]  # what a bare GET /truth covers


@dataclass(frozen=True)
class Limit:
    rate: int            # at most this many requests ...
    window: float        # ... in any sliding window of this many seconds,
    daily: int | None    # and at most this many a day, if set


DEFAULT_LIMIT = Limit(rate=2, window=1.0, daily=None)


def parse_limits(text):
    """INDEPENDENT_LIMITS ("ListQuality=10/m:60/d;...") -> {action: Limit}."""
    limits = dict.fromkeys(ACTIONS, DEFAULT_LIMIT)
    for part in filter(None, (p.strip() for p in text.split(";"))):
        action, _, terms = (s.strip() for s in part.partition("="))
        if action not in ACTIONS:
            fail_setting(f"INDEPENDENT_LIMITS: {part!r}: the action must be one of {', '.join(ACTIONS)}")
        rate, window, daily = DEFAULT_LIMIT.rate, DEFAULT_LIMIT.window, None
        for term in terms.split(":"):
            m = re.fullmatch(r"\s*(\d+)\s*/\s*([smhd])\s*", term)
            if not m or int(m[1]) < 1:
                fail_setting(f"INDEPENDENT_LIMITS: {part!r}: {term!r} is not N/s, N/m, N/h or N/d (N >= 1)")
            if m[2] == "d":
                daily = int(m[1])
            else:
                rate, window = int(m[1]), {"s": 1.0, "m": 60.0, "h": 3600.0}[m[2]]
        limits[action] = Limit(rate, window, daily)
    return limits


LIMITS = parse_limits(os.environ.get("INDEPENDENT_LIMITS", ""))


# ---------------------------------------------------------------- clocks

# (offset, frozen_at): replaced whole, so a reader never sees half an update
_clock = (env_seconds("INDEPENDENT_CLOCK_OFFSET", 0), None)


def now():
    """The fake's wall clock, Unix seconds: every notion of "now" comes from here."""
    offset, frozen_at = _clock
    return frozen_at if frozen_at is not None else time.time() + offset


def elapsed():
    """A monotonic clock, for rate windows only: they measure the spacing of
    requests, which neither a clock offset nor a frozen clock may change."""
    return time.monotonic()


def clock_state():
    offset, frozen_at = _clock
    return {"now": now(), "offset": offset, "frozen": frozen_at is not None}


def beijing_day(ts):
    """The day number a daily quota counts in (days start at 00:00 +08:00)."""
    return math.floor((ts - DAY_START) / DAY)


# ---------------------------------------------------------------- times


RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def parse_time(text):
    """An RFC 3339 time with an offset -> Unix seconds (float, fractions kept)."""
    if not RFC3339.fullmatch(text):
        raise ValueError(text)
    return datetime.fromisoformat(text.upper()).timestamp()


def fmt_time(ts, offset_hours):
    tz = timezone(timedelta(hours=offset_hours))
    return datetime.fromtimestamp(ts, tz).isoformat().replace("+00:00", "Z")


def grid_origin(grain):
    return DAY_START if grain >= DAY else 0


def first_bucket(t, grain):
    """The first bucket start >= t on the grain's grid."""
    o = grid_origin(grain)
    return o + math.ceil((t - o) / grain) * grain


def last_bucket(t, grain):
    """The last bucket start <= t on the grain's grid."""
    o = grid_origin(grain)
    return o + math.floor((t - o) / grain) * grain


# ---------------------------------------------------------------- signature


def enc(s, safe=""):
    return quote(s, safe="-_.~" + safe)


def sign_check(method, path, query, headers, body, at):
    """None if the request is signed as README.md says, else the gateway's error code."""
    auth = headers.get("Authorization", "")
    if not auth.startswith("HMAC-SHA256 "):
        return "MissingAuthenticationToken"
    parts = dict(p.strip().split("=", 1) for p in auth[len("HMAC-SHA256 "):].split(",") if "=" in p)
    cred = parts.get("Credential", "").split("/")
    if len(cred) != 5 or cred[0] != AK:
        return "InvalidAccessKey"
    if "Signature" not in parts:
        return "MissingSignature"
    xdate = headers.get("X-Date", "")
    try:
        when = datetime.strptime(xdate, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return "InvalidTimestamp"
    if abs(at - when.timestamp()) > 900:
        return "InvalidTimestamp"
    body_hash = hashlib.sha256(body).hexdigest()
    if headers.get("X-Content-Sha256") != body_hash:
        return "SignatureDoesNotMatch"
    signed = parts.get("SignedHeaders", "").split(";")
    canon_headers = ""
    for name in signed:
        value = headers.get(name, "")
        if name == "host":
            for port in (":80", ":443"):
                if value.endswith(port):
                    value = value[: -len(port)]
        canon_headers += f"{name}:{value.strip()}\n"
    canon_query = "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted(query))
    canonical = "\n".join([method, enc(path or "/", "/"), canon_query, canon_headers,
                           ";".join(signed), body_hash])
    scope = f"{xdate[:8]}/{REGION}/{SERVICE}/request"
    to_sign = "\n".join(["HMAC-SHA256", xdate, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = SK.encode()
    for part in (xdate[:8], REGION, SERVICE, "request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    want = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, parts["Signature"]):
        return "SignatureDoesNotMatch"
    return None


# ---------------------------------------------------------------- values
# Values are kept in integer hundredths, so that means round exactly.


def digest(*parts):
    return int(hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:12], 16)


def final_hundredths(key, name, ts, sparse):
    """The final value of a real-time series (truth key, answered name) at a 30-s
    bucket, or None (no data). `sparse`: a distribution series, where values are
    absent more often."""
    h = digest(key, ts)
    if h % 50 == 0 or digest(key, "quiet", ts - ts % 300) % 30 == 0:
        return None
    if sparse and (h // 50) % 5 == 0:
        return None
    if "count" in name:
        return (1000 + h % 3000) * 100
    return 9000 + h % 1000


def shown_hundredths(final, name, due, at):
    """What a real-time bucket due at `due` shows at `at`: nothing before it is
    due, a provisional value for REVISION seconds, then the final value."""
    if final is None or at < due:
        return None
    if at < due + REVISION:
        return final + 700 if "count" in name else final - 125
    return final


@lru_cache(maxsize=1 << 16)
def mean_hundredths(key, name, start, seconds, sparse):
    """The mean of a real-time series' final values over [start, start + seconds),
    rounded half up to a hundredth, or None when it has none there."""
    values = [v for ts in range(start, start + seconds, 30)
              if (v := final_hundredths(key, name, ts, sparse)) is not None]
    if not values:
        return None
    return (2 * sum(values) + len(values)) // (2 * len(values))


def number(hundredths, name):
    """The JSON number of a value: whole counts as integers, the rest with two decimals."""
    if "count" in name and hundredths % 100 == 0:
        return hundredths // 100
    return hundredths / 100


def decimal_text(hundredths):
    return f"{hundredths // 100}.{hundredths % 100:02d}"


def expand(indicators):
    """The answered names of the requested ones, in order, once each."""
    names = []
    for ind in indicators:
        for name in FAMILIES.get(ind, [ind]):
            if name not in names:
                names.append(name)
    return names


# ---------------------------------------------------------------- requests


class Refusal(Exception):
    """An error answer, and the stats counter it goes to."""

    def __init__(self, status, code, counter, message, headers=None):
        super().__init__(message)
        self.status, self.code, self.counter, self.headers = status, code, counter, headers


@dataclass(frozen=True)
class Query:
    """A valid request body."""
    app: str
    start: float
    end: float
    names: list          # the answered names
    room: str            # "" = app-wide
    users: list          # the UserIds, as sent (only with a room)
    grain: str           # granularity name (a key of the action's grains)
    dimension: str | None

    @property
    def users_key(self):
        return ",".join(sorted(set(self.users)))


def parse_body(rules, body):
    """A request body -> Query, or Refusal (bad_requests)."""
    unmarshal = "InvalidParameter" if rules.legacy else "InvalidParameter.Unmarshal"

    def bad(code, message):
        return Refusal(400, code, "bad_requests", message)

    if not body.strip():
        raise bad("InvalidParameter" if rules.legacy else "InvalidParameter.BodyIsEmpty", "the body is empty")
    try:
        req = json.loads(body)
    except ValueError:
        raise bad(unmarshal, "the body is not JSON") from None
    if not isinstance(req, dict):
        raise bad(unmarshal, "the body is not a JSON object")

    def field(name, kind, required=False):
        value = req.get(name)
        if value is None:
            if required:
                raise bad("InvalidParameter", f"{name} is required")
            return None
        if not isinstance(value, kind) or (kind is list and not all(isinstance(v, str) for v in value)):
            raise bad(unmarshal, f"{name}: expected {'a list of strings' if kind is list else 'a string'}")
        return value

    def time_field(name):
        text = field(name, str, required=True)
        try:
            return parse_time(text)
        except ValueError:
            raise bad("InvalidParameter", f"{name}: {text!r} is not an RFC 3339 time with an offset") from None

    for name in rules.refused:
        if req.get(name) not in (None, "", []):
            raise bad("InvalidParameter", f"{name} is not a parameter of this action")
    app = field("AppId", str, required=True)
    if not app:
        raise bad("InvalidParameter", "AppId is required")
    start, end = time_field("StartTime"), time_field("EndTime")
    indicators = [field("Indicator", str, True)] if rules.one_indicator else field("Indicator", list, True)
    if not indicators or not all(indicators):
        raise bad("InvalidParameter", "Indicator: no indicator name")
    dimension = None
    if rules.dimension:
        dimension = field("Dimension", str, required=True)
        if dimension not in DIMENSIONS:
            raise bad("InvalidParameter", f"Dimension {dimension!r}: expected one of {', '.join(DIMENSIONS)}")
    grain = next(iter(rules.grains))
    if rules.granularity:
        grain = field("AggregateGranularity", str, required=True)
        if grain not in rules.grains:
            raise bad("InvalidParameter", f"AggregateGranularity {grain!r}: expected one of {', '.join(rules.grains)}")
    room, users = "", []
    if rules.rooms:
        room = field("RoomId", str) or ""
        users = (field("UserId", list) or []) if room else []
        if len(users) > 20:
            raise bad("InvalidParameter", "UserId: at most 20")
    if field("ProductType", str) not in (None, "native", "web"):
        raise bad("InvalidParameter", "ProductType: expected native or web")
    return Query(app, start, end, expand(indicators), room, users, grain, dimension)


def check_window(rules, q, arrived):
    """Refusal if the window breaks the action's reach or span."""
    if q.start < arrived - rules.reach:
        code = "InvalidParameter" if rules.legacy else "InvalidParameter.OutofTimeRange"
        raise Refusal(400, code, "horizon_violations", "StartTime is beyond the reach of this action")
    if q.end < q.start:
        raise Refusal(400, "InvalidParameter.StartTimeAfterEndTime", "span_violations",
                      "EndTime is before StartTime")
    if q.end - q.start > rules.span:
        raise Refusal(400, "InvalidParameter.OutofTimeRange", "span_violations",
                      "the time range is longer than this action allows")


def asks_beyond_delay(rules, q, at):
    """Whether the window reaches buckets not yet due (not an error: they are absent)."""
    grain = rules.grains[q.grain]
    last = last_bucket(q.end, grain)
    return last >= first_bucket(q.start, grain) and last + grain + rules.delay > at


# ---------------------------------------------------------------- state and stats

lock = threading.RLock()
COUNTERS = ("requests", "ok", "answers", "auth_failures", "rate_violations", "quota_violations",
            "horizon_violations", "span_violations", "bad_requests", "beyond_delay")


def fresh_counters():
    counters = dict.fromkeys(COUNTERS, 0)
    counters.update(faults={}, max_per_second=0)
    return counters


stats = fresh_counters()
stats["per_action"] = {a: dict(fresh_counters(), max_lookback=0.0) for a in ACTIONS}
arrivals = {a: [] for a in ACTIONS}        # elapsed() of each recent request, refused ones included
quota_used = {}                            # (action, day) -> requests counted against the daily quota
served = {a: {} for a in ACTIONS}          # action -> truth key -> {ts: final value}
fault_turn = [0]                           # the next kind of fault, in FAULTS' order
request_ids = [0]


def bump(action, counter, n=1):
    with lock:
        stats[counter] += n
        if action:
            stats["per_action"][action][counter] += n


def admit(action, tick, at):
    """Count a request against its action's rate and daily quota; Refusal if over."""
    limit = LIMITS[action]
    with lock:
        window = [t for t in arrivals[action] if tick - t < limit.window] + [tick]
        arrivals[action] = window
        per_second = sum(1 for t in window if tick - t < 1.0)
        pa = stats["per_action"][action]
        pa["max_per_second"] = max(pa["max_per_second"], per_second)
        stats["max_per_second"] = max(stats["max_per_second"], per_second)
        if len(window) > limit.rate:
            # free again once all but rate - 1 of the arrivals counted have left the window
            wait = window[len(window) - limit.rate] + limit.window - tick
            raise Refusal(429, "AccountFlowLimitExceeded", "rate_violations", "too many requests",
                          {"Retry-After": str(max(1, math.ceil(wait)))})
        if limit.daily is not None:
            day = beijing_day(at)
            if quota_used.get((action, day), 0) >= limit.daily:
                # FlowLimitExceeded.QPSOverLimit: the service's own flow-limit code (doc 70426), the
                # only documented one besides the gateway's AccountFlowLimitExceeded; no quota-specific
                # code is documented, and a distinct code lets a client tell "wait a second" from
                # "wait for tomorrow" (Retry-After says how long: until 00:00 +08:00).
                wait = (day + 1) * DAY + DAY_START - at
                raise Refusal(429, "FlowLimitExceeded.QPSOverLimit", "quota_violations",
                              "the daily quota of this action is used up",
                              {"Retry-After": str(max(1, math.ceil(wait)))})
            quota_used[(action, day)] = quota_used.get((action, day), 0) + 1


def choose_fault(action):
    """Exactly FAULT_RATE of all answers, spread evenly, are faults, the kinds in
    turn across every action: any 13 faults in a row are one of each kind, so a
    short run (of one action, or of several) sees every kind."""
    with lock:
        bump(action, "answers")
        n = stats["answers"]
        if int(n * FAULT_RATE) <= int((n - 1) * FAULT_RATE):
            return None
        fault = FAULTS[fault_turn[0] % len(FAULTS)]
        fault_turn[0] += 1
        for faults in (stats["faults"], stats["per_action"][action]["faults"]):
            faults[fault] = faults.get(fault, 0) + 1
        return fault


def request_id(at):
    with lock:
        request_ids[0] += 1
        return f"{datetime.fromtimestamp(at, timezone.utc):%Y%m%d%H%M%S}{request_ids[0]:018d}"


def truth(actions):
    with lock:
        return {key: {str(ts): v for ts, v in sorted(buckets.items())}
                for a in actions for key, buckets in served[a].items()}


# ---------------------------------------------------------------- answers


def series_key(action, q, name, value, grain=None):
    """The truth key of one series (see the module docstring)."""
    key = f"{action}|{q.app}|{q.room}|{q.users_key}|{name}"
    if grain:
        key += f"|{grain}"
    if q.dimension:
        key += f"|{q.dimension}|{value}"
    return key


def bucket_value(action, rules, q, name, value, ts, at):
    """(final, shown) hundredths of one bucket of one series; shown is None when not served."""
    grain = rules.grains[q.grain]
    if rules.source is None:
        final = final_hundredths(series_key(action, q, name, value), name, ts, rules.dimension)
        return final, shown_hundredths(final, name, ts + grain + rules.delay, at)
    final = mean_hundredths(series_key(rules.source, q, name, value), name, ts, grain, rules.dimension)
    return final, (final if ts + grain + rules.delay <= at else None)


def data_item(rules, ts, value, v):
    item = {rules.time_key: fmt_time(ts, rules.utc_offset)}
    if rules.dimension:
        item["Dimension"] = value
    item["Value"] = v
    return item


def overview(name, unit, shown):
    """The lowercase overview object (SDK: all strings) of an offline indicator."""
    if not shown:
        return {"Name": name, "Unit": unit, "Value": "", "MaxValue": "", "MinValue": ""}
    mean = (2 * sum(shown) + len(shown)) // (2 * len(shown))
    return {"Name": name, "Unit": unit, "Value": decimal_text(mean),
            "MaxValue": decimal_text(max(shown)), "MinValue": decimal_text(min(shown))}


def mangle(rules, q, data, fault):
    """The data items as a fault spoils them (dupes, badpoints, outside)."""
    grain = rules.grains[q.grain]
    first = first_bucket(q.start, grain)
    tk = rules.time_key

    def item(ts, v, **extra):
        it = data_item(rules, ts, q.dimension and DIMENSIONS[q.dimension][0], v)
        it.update(extra)
        return it

    if fault == "dupes":
        data = [d for i, it in enumerate(data) for d in ([it, it] if i % 5 == 4 else [it])]
    if fault == "badpoints":
        no_value = item(first, 1)
        del no_value["Value"]
        data = data + [{"Value": 1}, item(first, 1, **{tk: "soon"}), no_value, item(first + 5, 1)]
        if rules.dimension:
            no_dimension = item(first, 1)
            del no_dimension["Dimension"]
            data.append(no_dimension)
    if fault == "outside":
        away = max(300, grain)
        data = data + [item(first - away, -5), item(last_bucket(q.end, grain) + away, -5)]
    return data


def build_result(action, rules, q, at, fault):
    """Result of a valid request answered at `at`, and the truth of what it serves."""
    grain = rules.grains[q.grain]
    buckets = range(first_bucket(q.start, grain), math.floor(q.end) + 1, grain)
    values = DIMENSIONS[q.dimension] if rules.dimension else [None]
    indicators, served_now = [], {}
    for name in q.names:
        data, shown_all = [], []
        for value in values:
            key = series_key(action, q, name, value, q.grain if rules.source else None)
            for ts in buckets:
                final, shown = bucket_value(action, rules, q, name, value, ts, at)
                if shown is None:
                    continue
                data.append(data_item(rules, ts, value, number(shown, name)))
                shown_all.append(shown)
                served_now.setdefault(key, {})[ts] = number(final, name)
        if rules.dimension:  # no order is documented: do not let clients rely on one
            data.sort(key=lambda d: digest(name, d[rules.time_key], d["Dimension"]))
        indicator = {"Name": name}
        if rules.unit:
            indicator["Unit"] = rules.unit
        indicator["Data"] = mangle(rules, q, data, fault)
        if rules.overview:
            indicator["overview"] = overview(name, rules.unit, shown_all)
        indicators.append(indicator)
    result = {}
    if rules.granularity:
        result["AggregateGranularity"] = q.grain
    if rules.echo_room and q.room:
        result["RoomId"] = q.room
        result["UserId"] = q.users
    result["Indicators"] = indicators
    return result, served_now


# ---------------------------------------------------------------- HTTP


def json_bytes(payload):
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def handle(self):
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up first (a timeout on a slow answer): nothing to say

    def reply(self, status, payload, ctype="application/json", headers=None):
        body = payload if isinstance(payload, bytes) else json_bytes(payload)
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def error(self, status, code, action, message=None, headers=None):
        meta = {"RequestId": request_id(now()), "Action": action, "Version": VERSION,
                "Service": SERVICE, "Region": REGION,
                "Error": {"Code": code, "CodeN": CODE_N.get(code, 100000), "Message": message or code}}
        self.reply(status, {"ResponseMetadata": meta}, headers=headers)

    def loopback(self):
        return ipaddress.ip_address(self.client_address[0]).is_loopback

    # -- test endpoints

    def do_GET(self):
        url = urlsplit(self.path)
        params = dict(parse_qsl(url.query))
        if url.path == "/stats":
            with lock:
                self.reply(200, json_bytes(stats))
        elif url.path == "/truth" and "action" not in params:
            self.reply(200, truth(LEGACY_TRUTH))
        elif url.path == "/truth" and params["action"] in ACTIONS:
            self.reply(200, truth([params["action"]]))
        elif url.path == "/_clock" and self.loopback():
            self.reply(200, clock_state())
        else:
            self.reply(404, b"{}")

    def set_clock(self, params):
        global _clock
        if not self.loopback():
            return self.reply(403, b"{}")
        try:
            if "at" in params:
                _clock = (_clock[0], float(params["at"]))
            elif "offset" in params:
                _clock = (float(params["offset"]), None)
            else:
                raise ValueError
        except ValueError:
            return self.reply(400, {"error": "POST /_clock?offset=SECONDS or ?at=UNIX_SECONDS"})
        self.reply(200, clock_state())

    # -- the API

    def do_POST(self):
        arrived, tick = now(), elapsed()
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
        query = parse_qsl(url.query, keep_blank_values=True)
        if url.path == "/_clock":
            return self.set_clock(dict(query))
        params = dict(query)
        action = params.get("Action", "")
        rules = ACTIONS.get(action)
        if rules is None or params.get("Version") != VERSION:
            bump(None, "requests")
            return self.error(404, "InvalidActionOrVersion", action)
        bump(action, "requests")  # counted in the total too
        problem = sign_check("POST", url.path, query, self.headers, body, arrived)
        if problem:
            bump(action, "auth_failures")
            return self.error(403 if problem == "InvalidTimestamp" else 401, problem, action)
        try:
            admit(action, tick, arrived)
            q = parse_body(rules, body)
            with lock:
                pa = stats["per_action"][action]
                pa["max_lookback"] = max(pa["max_lookback"], round(arrived - q.start, 3))
            check_window(rules, q, arrived)
        except Refusal as r:
            bump(action, r.counter)
            return self.error(r.status, r.code, action, str(r), r.headers)
        if asks_beyond_delay(rules, q, arrived):
            bump(action, "beyond_delay")
        self.answer(action, rules, q)

    def answer(self, action, rules, q):
        fault = choose_fault(action)
        if fault == "500":
            return self.error(500, "InternalError", action)
        if fault in ("502", "503", "504"):
            return self.reply(int(fault), f"<html><body><h1>{fault}</h1></body></html>".encode(), "text/html")
        if fault == "429":
            return self.error(429, "AccountFlowLimitExceeded", action, headers={"Retry-After": "1"})
        if fault == "malformed":
            return self.reply(200, b"{\"ResponseMetadata\": oops")
        if fault == "shape":
            return self.reply(200, {"ResponseMetadata": {}, "Result": {"Indicators": {"Name": "x"}}})
        if fault == "slow":
            time.sleep(8)  # beyond the client's timeout in the tests
        at = now()
        result, served_now = build_result(action, rules, q, at, fault)
        with lock:
            for key, buckets in served_now.items():
                served[action].setdefault(key, {}).update(buckets)
        meta = {"RequestId": request_id(at), "Action": action, "Version": VERSION,
                "Service": SERVICE, "Region": REGION}
        payload = json_bytes({"ResponseMetadata": meta, "Result": result})
        if fault == "truncate":
            return self.reply(200, payload[: len(payload) // 2])
        if fault == "reset":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload[: len(payload) // 3])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        bump(action, "ok")
        self.reply(200, payload)


def main():
    if len(sys.argv) < 2:
        fail_setting("usage: independent_api.py PORT_FILE [FAULT_RATE] [REVISION_SECS]")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(f"{server.server_address[1]}\n")
    os.replace(sys.argv[1] + ".tmp", sys.argv[1])
    server.serve_forever()


if __name__ == "__main__":
    main()
