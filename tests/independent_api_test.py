#!/usr/bin/env python3
"""Tests of tests/independent_api.py, the independent fake of the Volcengine RTC
OpenAPI that rtc-archiver's integration tests run against.

    python3 tests/independent_api_test.py        (cargo test runs it too:
                                                  tests/independent_api_contract.rs)

Standard library only. Each test class starts its own server on a port file in
a temporary directory; requests are signed here, from README.md's description
of signature V4 (checked against its test vector), sharing nothing with src/.
Most tests freeze the fake's clock (POST /_clock?at=) at fixed instants, so the
data, and every limit, are exact and the same on every run.
"""

import hashlib
import hmac
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest
from collections import Counter
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import quote

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "independent_api.py")
FIXTURES = os.path.join(HERE, "fixtures")  # copies of ../shared/api/examples/
AK, SK, REGION = "AKLTindependent", "independent-secret", "cn-north-1"
HOUR, DAY = 3600, 86400
OFFLINE_DELAY = 8 * HOUR
REVISION = 20
T0 = 1795435200  # 2026-11-23T12:00:00Z = 20:00 +08:00: the frozen "now" of most tests

# The contract, from ../shared/api/*.md: reach, span, data delay, bucket seconds.
CONTRACT = {
    "ListRealTimeQuality": (HOUR, HOUR, 60, 30),
    "ListRealTimeOperationData": (HOUR, HOUR, 20, 30),
    "ListRealTimeQualityDistribution": (HOUR, HOUR, 60, 30),
    "ListQuality": (30 * DAY, 7 * DAY, OFFLINE_DELAY, 300),
    "ListQualityDistribution": (30 * DAY, 7 * DAY, OFFLINE_DELAY, 300),
}
ACTIONS = list(CONTRACT)
DISTRIBUTIONS = ["ListRealTimeQualityDistribution", "ListQualityDistribution"]
FAULT_KINDS = {"500", "502", "503", "504", "429", "truncate", "malformed", "shape",
               "slow", "badpoints", "outside", "dupes", "reset"}
DIMENSION_VALUES = {
    "OS": {"android", "ios", "windows", "mac", "linux"},
    "Access": {"wifi", "4g", "5g", "3g", "2g"},
}
# Every action, 1000 requests a second: tests that are not about the rate are not slowed by it.
FAST = ";".join(f"{a}=1000/s" for a in ACTIONS)


# ---------------------------------------------------------------- signing (README.md)


def signature_v4(method, host, path, query, headers, body, ak, sk, xdate):
    """The Authorization header of a request, computed as README.md describes."""
    def enc(s, safe=""):
        return quote(s, safe="-_.~" + safe)

    body_hash = hashlib.sha256(body).hexdigest()
    lower = {k.lower(): v for k, v in headers.items()}
    lower["host"] = host
    signed = sorted(k for k in lower if k in ("content-type", "content-md5", "host") or k.startswith("x-"))
    canonical = "\n".join([
        method,
        enc(path or "/", "/"),
        "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted(query.items())),
        "".join(f"{k}:{lower[k].strip()}\n" for k in signed),
        ";".join(signed),
        body_hash,
    ])
    scope = f"{xdate[:8]}/{REGION}/rtc/request"
    to_sign = "\n".join(["HMAC-SHA256", xdate, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = sk.encode()
    for part in (xdate[:8], REGION, "rtc", "request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return f"HMAC-SHA256 Credential={ak}/{scope}, SignedHeaders={';'.join(signed)}, Signature={sig}"


# ---------------------------------------------------------------- times and values


def rfc(t, offset_hours=8):
    """Unix seconds (milliseconds kept) -> RFC 3339 with the given offset."""
    ms = round(t * 1000)
    iso = datetime.fromtimestamp(ms // 1000, timezone(timedelta(hours=offset_hours))).isoformat()
    return iso[:19] + (f".{ms % 1000:03d}" if ms % 1000 else "") + iso[19:]


def unix(text):
    return datetime.fromisoformat(text).timestamp()


def hundredths(v):
    return int(Decimal(str(v)) * 100)


def mean_2dp(values):
    """The mean of two-decimal values, rounded half up to two decimals (exact)."""
    total = sum(Decimal(str(v)) for v in values)
    return float((total / len(values)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def points(reply):
    """{(name, dimension value or None, ts): value} of an answer."""
    out = {}
    for ind in reply.json["Result"]["Indicators"]:
        for d in ind["Data"]:
            t = d.get("TimeStamp", d.get("Timestamp"))
            out[(ind["Name"], d.get("Dimension"), int(unix(t)))] = d["Value"]
    return out


def example(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as f:
        return json.load(f)


def body_for(action, start, end, app="app1", **extra):
    """A valid request body of `action` for [start, end]."""
    body = {"AppId": app, "StartTime": rfc(start), "EndTime": rfc(end)}
    if action in DISTRIBUTIONS:
        body.update(Indicator="video_stall_rate", Dimension="OS")
    elif action == "ListRealTimeOperationData":
        body["Indicator"] = ["online_user_count"]
    else:
        body["Indicator"] = ["video_stall_rate"]
    if action == "ListQuality":
        body["AggregateGranularity"] = "5min"
    body.update(extra)
    return body


def due_window(action, at):
    """A window of `action`, at `at`, inside its reach and span, whose buckets are all due."""
    reach, span, delay, grain = CONTRACT[action]
    end = at - delay - 2 * grain - (at - delay) % grain
    return end - min(span, 3 * HOUR) / 2, end


# ---------------------------------------------------------------- the server


class Reply:
    def __init__(self, status=None, headers=None, raw=b"", timeout=False, incomplete=False):
        self.status, self.headers, self.raw = status, headers or {}, raw
        self.timeout, self.incomplete = timeout, incomplete
        try:
            self.json = json.loads(raw.decode("utf-8"))
        except ValueError:
            self.json = None

    @property
    def code(self):
        try:
            return self.json["ResponseMetadata"]["Error"]["Code"]
        except (TypeError, KeyError):
            return None

    def __repr__(self):
        return f"<{self.status} {self.raw[:300]!r}>"


class Fake:
    """One independent_api.py process, on a port file in a temporary directory."""

    def __init__(self, fault_rate=0.0, revision=REVISION, env=None):
        self.dir = tempfile.TemporaryDirectory()
        port_file = os.path.join(self.dir.name, "port")
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("INDEPENDENT_")}
        full_env.update(env or {})
        self.proc = subprocess.Popen([sys.executable, SERVER, port_file, str(fault_rate), str(revision)],
                                     env=full_env)
        deadline = time.time() + 20
        while not os.path.exists(port_file):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("the independent API did not start")
            time.sleep(0.02)
        with open(port_file) as f:
            self.port = int(f.read())
        self.offset = float(full_env.get("INDEPENDENT_CLOCK_OFFSET", 0))
        self.frozen = None

    def close(self):
        self.proc.kill()
        self.proc.wait()
        self.dir.cleanup()

    def http(self, method, path, body=b"", headers=None, timeout=10.0):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            hdrs = {k.lower(): v for k, v in resp.getheaders()}
            try:
                return Reply(resp.status, hdrs, resp.read())
            except (http.client.IncompleteRead, ConnectionError):
                return Reply(resp.status, hdrs, incomplete=True)
        except TimeoutError:
            return Reply(timeout=True)
        finally:
            conn.close()

    def get(self, path):
        return self.http("GET", path).json

    def stats(self, action=None):
        s = self.get("/stats")
        return s["per_action"][action] if action else s

    def truth(self, action=None):
        return self.get("/truth" + (f"?action={action}" if action else ""))

    def freeze(self, at):
        self.frozen = at
        return self.http("POST", f"/_clock?at={at!r}").json

    def run_clock(self, offset):
        self.frozen, self.offset = None, offset
        return self.http("POST", f"/_clock?offset={offset!r}").json

    def fake_now(self):
        return self.frozen if self.frozen is not None else time.time() + self.offset

    def call(self, action, body, ak=AK, sk=SK, xdate_at=None, version="2020-12-01", timeout=10.0):
        """A signed POST of the action, X-Date from the fake's clock unless given."""
        raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        xdate = datetime.fromtimestamp(int(xdate_at if xdate_at is not None else self.fake_now()),
                                       timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        host = f"127.0.0.1:{self.port}"
        query = {"Action": action, "Version": version}
        headers = {"Content-Type": "application/json", "X-Date": xdate,
                   "X-Content-Sha256": hashlib.sha256(raw).hexdigest()}
        headers["Authorization"] = signature_v4("POST", host, "/", query, headers, raw, ak, sk, xdate)
        return self.http("POST", f"/?Action={action}&Version={version}", raw, headers, timeout)


class FakeTest(unittest.TestCase):
    """A test class with its own server (FAKE_ARGS: Fake's keyword arguments)."""
    FAKE_ARGS = {}

    @classmethod
    def setUpClass(cls):
        cls.fake = Fake(**cls.FAKE_ARGS)

    @classmethod
    def tearDownClass(cls):
        cls.fake.close()

    def ok(self, action, body, **kw):
        reply = self.fake.call(action, body, **kw)
        self.assertEqual(reply.status, 200, reply)
        self.assertNotIn("Error", reply.json["ResponseMetadata"])
        return reply

    def refused(self, action, body, status, code, **kw):
        reply = self.fake.call(action, body, **kw)
        self.assertEqual((reply.status, reply.code), (status, code), reply)
        return reply

    def counting(self, action):
        """`with self.counting(action) as delta:` ...; then delta.moved() is how the
        action's counters moved in the block (the max_ figures left out)."""
        return Counting(self.fake, action)


class Counting:
    def __init__(self, fake, action):
        self.fake, self.action = fake, action

    def __enter__(self):
        self.before = self.fake.stats(self.action)
        return self

    def __exit__(self, *exc):
        self.after = self.fake.stats(self.action)
        return False

    def moved(self):
        return {k: v - self.before[k] for k, v in self.after.items()
                if isinstance(v, int) and not k.startswith("max_") and v != self.before[k]}


# ---------------------------------------------------------------- tests


class Signing(unittest.TestCase):
    def test_signer_reproduces_readme_test_vector_1(self):
        body = (b'{"AppId":"app1","StartTime":"2026-11-23T19:00:00+08:00",'
                b'"EndTime":"2026-11-23T19:10:00+08:00","Indicator":["stall_rate"]}')
        headers = {"Content-Type": "application/json", "X-Date": "20261123T120000Z",
                   "X-Content-Sha256": hashlib.sha256(body).hexdigest()}
        self.assertEqual(headers["X-Content-Sha256"],
                         "55a74f6f91e69cf2ded8cf269773d7918d1fdd51557732daa02b7145cfc7b0fd")
        auth = signature_v4("POST", "rtc.volcengineapi.com", "/",
                            {"Action": "ListRealTimeQuality", "Version": "2020-12-01"},
                            headers, body, "AKLTtest", "c2VjcmV0", "20261123T120000Z")
        self.assertEqual(auth, "HMAC-SHA256 Credential=AKLTtest/20261123/cn-north-1/rtc/request, "
                               "SignedHeaders=content-type;host;x-content-sha256;x-date, "
                               "Signature=71a7e46103d04c1a6633f7a65c2828b4130395c7c19f38749aaf58ef06889f5c")


class Answers(FakeTest):
    """Happy paths: shapes, names, values, revisions, consistency, truth."""
    FAKE_ARGS = {"env": {"INDEPENDENT_LIMITS": FAST}}

    def assert_shape(self, reply, fixture, action):
        want = example(fixture)
        got = reply.json
        self.assertEqual(set(got), set(want))
        self.assertEqual(set(got["ResponseMetadata"]), set(want["ResponseMetadata"]))
        self.assertEqual(got["ResponseMetadata"]["Action"], action)
        self.assertEqual(set(got["Result"]), set(want["Result"]))
        want_keys = set().union(*(i.keys() for i in want["Result"]["Indicators"]))
        want_common = set.intersection(*(set(i) for i in want["Result"]["Indicators"]))
        want_items = set().union(*(d.keys() for i in want["Result"]["Indicators"] for d in i["Data"]))
        self.assertEqual([i["Name"] for i in got["Result"]["Indicators"]],
                         [i["Name"] for i in want["Result"]["Indicators"]], "answered names")
        for ind in got["Result"]["Indicators"]:
            self.assertLessEqual(set(ind), want_keys, ind["Name"])
            self.assertGreaterEqual(set(ind), want_common, ind["Name"])
            self.assertTrue(ind["Data"], ind["Name"])
            for d in ind["Data"]:
                self.assertEqual(set(d), want_items)
                self.assertEqual(round(d["Value"], 2), d["Value"])
        return got["Result"]

    def test_each_action_answers_exactly_the_documented_shape(self):
        self.fake.freeze(T0)
        start, end = T0 - HOUR, T0 - 120
        res = self.assert_shape(self.ok("ListRealTimeQuality", {
            "AppId": "app1", "StartTime": rfc(start), "EndTime": rfc(end), "RoomId": "room-1",
            "UserId": ["user1", "user2"], "Indicator": ["join_room_success_rate"]}),
            "quality-answer.json", "ListRealTimeQuality")
        self.assertEqual((res["RoomId"], res["UserId"]), ("room-1", ["user1", "user2"]))
        self.assertTrue(all(i["Unit"] == "%" for i in res["Indicators"]))

        res = self.assert_shape(self.ok("ListRealTimeOperationData", {
            "AppId": "app1", "StartTime": rfc(start), "EndTime": rfc(end),
            "Indicator": ["online_user_count", "online_room_count"]}),
            "operation-answer.json", "ListRealTimeOperationData")
        for d in res["Indicators"][0]["Data"]:
            self.assertIsInstance(d["Value"], int, "counts are integers")
            self.assertTrue(d["Timestamp"].endswith("Z"))

        res = self.assert_shape(self.ok("ListRealTimeQualityDistribution", {
            "AppId": "app1", "StartTime": rfc(start), "EndTime": rfc(end), "Indicator": "stall_rate",
            "Dimension": "OS"}), "distribution-answer.json", "ListRealTimeQualityDistribution")
        self.assertTrue(res["Indicators"][0]["Data"][0]["TimeStamp"].endswith("+08:00"))

        res = self.assert_shape(self.ok("ListQuality", {
            "AppId": "app1", "StartTime": rfc(T0 - 2 * DAY), "EndTime": rfc(T0 - DAY),
            "Indicator": ["join_room_success_rate"], "AggregateGranularity": "5min"}),
            "offline-quality-answer.json", "ListQuality")
        self.assertEqual(res["AggregateGranularity"], "5min")
        want_overview = example("offline-quality-answer.json")["Result"]["Indicators"][0]["overview"]
        for ind in res["Indicators"]:
            self.assertEqual(ind["Unit"], "%")
            self.assertLessEqual(set(want_overview), set(ind["overview"]))
            self.assertTrue(all(isinstance(v, str) for v in ind["overview"].values()), "SDK: strings")
            for d in ind["Data"]:
                self.assertEqual(int(unix(d["TimeStamp"])) % 300, 0)
                self.assertTrue(d["TimeStamp"].endswith("+08:00"))

        res = self.assert_shape(self.ok("ListQualityDistribution", {
            "AppId": "app1", "StartTime": rfc(T0 - 2 * DAY), "EndTime": rfc(T0 - DAY),
            "Indicator": "join_room_success_rate", "Dimension": "Province"}),
            "offline-distribution-answer.json", "ListQualityDistribution")
        self.assertEqual({int(unix(d["TimeStamp"])) % 300 for d in res["Indicators"][0]["Data"]}, {0})

        err = self.fake.call("ListQuality", {"AppId": "app1"})
        want = example("error-answer.json")["ResponseMetadata"]
        self.assertEqual(set(err.json), {"ResponseMetadata"})
        self.assertEqual(set(err.json["ResponseMetadata"]), set(want))
        self.assertEqual(set(err.json["ResponseMetadata"]["Error"]), set(want["Error"]))

    def test_family_names_expand_in_every_quality_action(self):
        self.fake.freeze(T0)
        for action in ["ListRealTimeQuality", "ListQuality", *DISTRIBUTIONS]:
            start, end = due_window(action, T0)
            ind = "stall_rate" if action in DISTRIBUTIONS else ["stall_rate", "join_room_success_rate"]
            reply = self.ok(action, body_for(action, start, end, Indicator=ind))
            names = [i["Name"] for i in reply.json["Result"]["Indicators"]]
            want = ["audio_stall_rate", "video_stall_rate"]
            if action not in DISTRIBUTIONS:
                want += ["5s_join_room_success_rate", "10s_join_room_success_rate"]
            self.assertEqual(names, want, action)

    def test_realtime_values_are_provisional_then_final_and_truth_holds_the_final(self):
        cases = [("ListRealTimeQuality", ["stall_rate", "join_room_success_rate"], -1.25, 60),
                 ("ListRealTimeOperationData", ["online_user_count", "online_room_count"], 7, 20),
                 ("ListRealTimeQualityDistribution", "stall_rate", -1.25, 60)]
        for action, indicator, change, delay in cases:
            at = T0 + delay % 30
            newest = at - 30 - delay  # due exactly at `at`
            body = body_for(action, T0 - 600, T0, app="app-rev", Indicator=indicator)
            self.fake.freeze(at)
            early = points(self.ok(action, body))
            self.fake.freeze(at + REVISION - 0.001)
            still = points(self.ok(action, body))
            self.fake.freeze(at + REVISION)
            final = points(self.ok(action, body))
            self.assertFalse([k for k in final if k[2] > newest], "nothing before it is due")
            fresh = [k for k in final if k[2] == newest]
            self.assertTrue(fresh, action)
            for k in fresh:
                self.assertEqual(hundredths(early[k]) - hundredths(final[k]), hundredths(change), k)
                self.assertEqual(still[k], early[k], k)
            settled = [k for k in final if k[2] < newest]
            self.assertTrue(settled)
            self.assertEqual({k: early[k] for k in settled}, {k: final[k] for k in settled})
            truth = self.fake.truth(action)
            for (name, dim, ts), v in final.items():
                key = f"{action}|app-rev|||{name}" + (f"|OS|{dim}" if dim else "")
                self.assertEqual(truth[key][str(ts)], v, key)

    def test_five_minute_values_are_means_of_the_final_30s_values(self):
        # room-12 has four quiet slots (no data at all) in this hour: the data are deterministic
        self.fake.freeze(T0)
        rt = points(self.ok("ListRealTimeQuality", {
            "AppId": "app-5m", "RoomId": "room-12", "UserId": ["u1", "u2"], "StartTime": rfc(T0 - HOUR),
            "EndTime": rfc(T0), "Indicator": ["stall_rate", "join_room_success_rate"]}))
        # slots whose 30-s values are all final at T0
        slots = range(T0 - HOUR, T0 - 600 + 1, 300)
        self.fake.freeze(T0 + OFFLINE_DELAY + 600)
        off = points(self.ok("ListQuality", {
            "AppId": "app-5m", "RoomId": "room-12", "UserId": ["u2", "u1", "u2"],
            "StartTime": rfc(T0 - HOUR), "EndTime": rfc(T0 - 600),
            "Indicator": ["stall_rate", "join_room_success_rate"], "AggregateGranularity": "5min"}))
        partial = quiet = 0
        names = {k[0] for k in rt}
        self.assertEqual(len(names), 4)
        for name in names:
            for s in slots:
                values = [v for (n, _, ts), v in rt.items() if n == name and s <= ts < s + 300]
                if values:
                    self.assertEqual(off[(name, None, s)], mean_2dp(values), (name, s))
                    partial += len(values) < 10
                else:
                    self.assertNotIn((name, None, s), off, "absent when no 30-s value")
                    quiet += 1
        self.assertEqual(len(off), len(names) * len(slots) - quiet)
        self.assertTrue(partial and quiet, f"the window holds partial ({partial}) and empty ({quiet}) slots")

    def test_one_day_values_are_means_over_the_day_from_midnight_beijing_time(self):
        day = T0 - 20 * HOUR - DAY  # 2026-11-22T00:00:00+08:00
        self.assertEqual(rfc(day), "2026-11-22T00:00:00+08:00")
        values = []
        for half_hour in range(48):
            start = day + half_hour * 1800
            self.fake.freeze(start + 1800 + 110)  # its 30-s values are all final, and still in reach
            values += points(self.ok("ListRealTimeQuality", body_for(
                "ListRealTimeQuality", start, start + 1800 - 30, app="app-1d"))).values()
        self.assertGreater(len(values), 2500)
        self.fake.freeze(day + DAY + OFFLINE_DELAY)  # due exactly now; the next day not yet
        with self.counting("ListQuality") as delta:
            reply = self.ok("ListQuality", body_for("ListQuality", day - 1, day + DAY, app="app-1d",
                                                    AggregateGranularity="1d"))
        self.assertEqual(delta.moved().get("beyond_delay"), 1, "the next day was asked for, early")
        (ind,) = reply.json["Result"]["Indicators"]
        self.assertEqual(reply.json["Result"]["AggregateGranularity"], "1d")
        self.assertEqual(ind["Data"], [{"TimeStamp": "2026-11-22T00:00:00+08:00", "Value": mean_2dp(values)}])

    def test_offline_distribution_is_the_mean_of_the_realtime_distribution(self):
        self.fake.freeze(T0)
        body = {"AppId": "app-dist", "StartTime": rfc(T0 - HOUR), "EndTime": rfc(T0),
                "Indicator": "stall_rate", "Dimension": "Province"}
        rt_reply = self.ok("ListRealTimeQualityDistribution", body)
        rt = points(rt_reply)
        self.fake.freeze(T0 + OFFLINE_DELAY + 600)
        off = points(self.ok("ListQualityDistribution", dict(body, EndTime=rfc(T0 - 600))))
        series = {(n, d) for n, d, _ in rt}
        self.assertEqual(len(series), 12, "2 names x 6 provinces")
        compared = 0
        for name, value in series:
            for s in range(T0 - HOUR, T0 - 600 + 1, 300):
                values = [v for (n, d, ts), v in rt.items() if (n, d) == (name, value) and s <= ts < s + 300]
                if values:
                    self.assertEqual(off[(name, value, s)], mean_2dp(values), (name, value, s))
                    compared += 1
                else:
                    self.assertNotIn((name, value, s), off)
        self.assertEqual(compared, len(off))
        self.assertGreater(compared, 100)

    def test_dimension_values_are_utf8_sometimes_absent_and_unordered(self):
        self.fake.freeze(T0)
        for dimension, expected in [("Province", None), ("Country", None), *DIMENSION_VALUES.items()]:
            body = {"AppId": "app-dim", "StartTime": rfc(T0 - HOUR), "EndTime": rfc(T0 - 120),
                    "Indicator": "video_stall_rate", "Dimension": dimension}
            reply = self.ok("ListRealTimeQualityDistribution", body)
            data = reply.json["Result"]["Indicators"][0]["Data"]
            values = {d["Dimension"] for d in data}
            if expected:
                self.assertEqual(values, expected, dimension)
            else:  # Chinese names, sent as UTF-8 and read back as the same text
                self.assertGreaterEqual(len(values), 3)
                for v in values:
                    self.assertTrue(all("\u4e00" <= c <= "\u9fff" for c in v), v)
                    self.assertIn(v.encode("utf-8"), reply.raw, "raw UTF-8, not \\u escapes")
            per_bucket = Counter(d["TimeStamp"] for d in data)
            absent = 1 - len(data) / (len(per_bucket) * len(values))
            self.assertTrue(0.1 < absent < 0.4, f"some values absent from some buckets: {absent:.0%}")
            order = [(d["TimeStamp"], d["Dimension"]) for d in data]
            self.assertNotEqual(order, sorted(order), "shuffled")
            again = self.ok("ListRealTimeQualityDistribution", body).json["Result"]["Indicators"][0]["Data"]
            self.assertEqual(again, data, "deterministically")
        self.assertTrue(any(k.endswith("|Province|广东") for k in self.fake.truth("ListRealTimeQualityDistribution")))

    def test_buckets_not_yet_due_are_absent_and_counted(self):
        self.fake.freeze(T0)
        for action, (reach, span, delay, grain) in CONTRACT.items():
            start = T0 - min(span, 10 * HOUR)
            with self.counting(action) as delta:
                reply = self.ok(action, body_for(action, start, T0, app="app-due"))
            self.assertEqual(delta.moved(), {"requests": 1, "answers": 1, "ok": 1, "beyond_delay": 1}, action)
            newest = max(ts for _, _, ts in points(reply))
            self.assertLessEqual(newest + grain + delay, T0, action)
            self.assertGreater(newest + 2 * grain + delay, T0, action)
            end = T0 - delay - grain - (T0 - delay) % grain
            with self.counting(action) as delta:
                self.ok(action, body_for(action, start, end, app="app-due"))
            self.assertNotIn("beyond_delay", delta.moved(), action)

    def test_truth_keys_name_action_series_granularity_and_dimension_value(self):
        self.fake.freeze(T0)
        room = {"RoomId": "room-t", "UserId": ["u2", "u1"]}
        self.ok("ListRealTimeQuality", body_for("ListRealTimeQuality", T0 - 600, T0 - 120, "app-t", **room))
        self.ok("ListRealTimeOperationData", body_for("ListRealTimeOperationData", T0 - 600, T0 - 120, "app-t"))
        self.ok("ListRealTimeQualityDistribution",
                body_for("ListRealTimeQualityDistribution", T0 - 600, T0 - 120, "app-t"))
        start, end = T0 - 3 * DAY, T0 - DAY
        replies = {g: self.ok("ListQuality", body_for("ListQuality", start, end, "app-t",
                                                      AggregateGranularity=g, **room)) for g in ("5min", "1d")}
        lqd = self.ok("ListQualityDistribution", body_for("ListQualityDistribution", start, end, "app-t"))
        keys = {
            "ListRealTimeQuality": "ListRealTimeQuality|app-t|room-t|u1,u2|video_stall_rate",
            "ListRealTimeOperationData": "ListRealTimeOperationData|app-t|||online_user_count",
            "ListRealTimeQualityDistribution": "ListRealTimeQualityDistribution|app-t|||video_stall_rate|OS|ios",
            "ListQuality": "ListQuality|app-t|room-t|u1,u2|video_stall_rate|5min",
            "ListQualityDistribution": "ListQualityDistribution|app-t|||video_stall_rate|5min|OS|ios",
        }
        for action, key in keys.items():
            self.assertIn(key, self.fake.truth(action), action)
        self.assertIn("ListQuality|app-t|room-t|u1,u2|video_stall_rate|1d", self.fake.truth("ListQuality"))
        # offline values are final when served: the truth is what was served
        truth = self.fake.truth("ListQuality")
        for g, reply in replies.items():
            for (name, _, ts), v in points(reply).items():
                self.assertEqual(truth[f"ListQuality|app-t|room-t|u1,u2|{name}|{g}"][str(ts)], v)
        truth = self.fake.truth("ListQualityDistribution")
        for (name, dim, ts), v in points(lqd).items():
            self.assertEqual(truth[f"ListQualityDistribution|app-t|||{name}|5min|OS|{dim}"][str(ts)], v)
        # a bare /truth is what it always was: the two original real-time actions only
        bare = self.fake.truth()
        self.assertEqual({k.split("|")[0] for k in bare}, {"ListRealTimeQuality", "ListRealTimeOperationData"})
        self.assertEqual(self.fake.http("GET", "/truth?action=Nope").status, 404)


class Refusals(FakeTest):
    """Reach, span and parameters, refused with the real API's codes and counted."""
    FAKE_ARGS = {"env": {"INDEPENDENT_LIMITS": FAST}}
    # the two original actions answer a bare code, as this fake always did (the collector copes)
    REACH_CODE = {"ListRealTimeQuality": "InvalidParameter", "ListRealTimeOperationData": "InvalidParameter",
                  "ListRealTimeQualityDistribution": "InvalidParameter.OutofTimeRange",
                  "ListQuality": "InvalidParameter.OutofTimeRange",
                  "ListQualityDistribution": "InvalidParameter.OutofTimeRange"}

    def test_reach_to_the_millisecond_against_the_arrival_time(self):
        at = T0 + 0.25  # a request arriving a quarter second after a whole second
        self.fake.freeze(at)
        for action, (reach, span, delay, grain) in CONTRACT.items():
            with self.counting(action) as delta:
                self.refused(action, body_for(action, at - reach - 0.001, at - reach + 60),
                             400, self.REACH_CODE[action])
                # planned a quarter second earlier, on a whole second: too old on arrival
                self.refused(action, body_for(action, T0 - reach, T0 - reach + 60), 400, self.REACH_CODE[action])
                self.ok(action, body_for(action, at - reach + 0.001, at - reach + 60))
                self.ok(action, body_for(action, at - reach, at - reach + 60))
            self.assertEqual(delta.moved().get("horizon_violations"), 2, action)
            self.assertGreaterEqual(self.fake.stats(action)["max_lookback"], reach + 0.25)

    def test_span_to_the_millisecond(self):
        self.fake.freeze(T0)
        for action, (reach, span, delay, grain) in CONTRACT.items():
            start = T0 - reach + 60  # EndTime may lie in the future: not an error
            with self.counting(action) as delta:
                self.refused(action, body_for(action, start, start + span + 0.001),
                             400, "InvalidParameter.OutofTimeRange")
                self.ok(action, body_for(action, start, start + span))
                self.refused(action, body_for(action, start, start - 0.001),
                             400, "InvalidParameter.StartTimeAfterEndTime")
                self.ok(action, body_for(action, start, start))
            self.assertEqual(delta.moved().get("span_violations"), 2, action)

    def test_distribution_indicator_is_one_string_and_list_quality_indicator_a_list(self):
        self.fake.freeze(T0)
        for action in DISTRIBUTIONS:
            start, end = due_window(action, T0)
            with self.counting(action) as delta:
                self.refused(action, body_for(action, start, end, Indicator=["video_stall_rate"]),
                             400, "InvalidParameter.Unmarshal")
            self.assertEqual(delta.moved().get("bad_requests"), 1)
        start, end = due_window("ListQuality", T0)
        self.refused("ListQuality", body_for("ListQuality", start, end, Indicator="video_stall_rate"),
                     400, "InvalidParameter.Unmarshal")
        self.refused("ListQuality", body_for("ListQuality", start, end, Indicator=[]), 400, "InvalidParameter")

    def test_room_and_users_are_refused_by_the_app_wide_distributions(self):
        self.fake.freeze(T0)
        for action in DISTRIBUTIONS:
            start, end = due_window(action, T0)
            with self.counting(action) as delta:
                self.refused(action, body_for(action, start, end, RoomId="room-1"), 400, "InvalidParameter")
                self.refused(action, body_for(action, start, end, UserId=["u1"]), 400, "InvalidParameter")
            self.assertEqual(delta.moved().get("bad_requests"), 2)

    def test_dimension_is_required_and_one_of_four(self):
        self.fake.freeze(T0)
        for action in DISTRIBUTIONS:
            start, end = due_window(action, T0)
            for dim in ["City", "os", "", None]:
                self.refused(action, body_for(action, start, end, Dimension=dim), 400, "InvalidParameter")
            for dim in ["Province", "Country", "OS", "Access"]:
                self.ok(action, body_for(action, start, end, Dimension=dim))

    def test_granularity(self):
        self.fake.freeze(T0)
        start, end = due_window("ListQuality", T0)
        for g in [None, "1h", "5m", "30s"]:
            self.refused("ListQuality", body_for("ListQuality", start, end, AggregateGranularity=g),
                         400, "InvalidParameter")
        # ListQualityDistribution has none (its doc page): always 5 minutes, the field refused
        start, end = due_window("ListQualityDistribution", T0)
        self.refused("ListQualityDistribution", body_for("ListQualityDistribution", start, end,
                                                         AggregateGranularity="1d"), 400, "InvalidParameter")

    def test_other_parameters(self):
        self.fake.freeze(T0)
        start, end = due_window("ListQuality", T0)
        body = body_for("ListQuality", start, end, RoomId="r")
        self.refused("ListQuality", dict(body, UserId=[f"u{i}" for i in range(21)]), 400, "InvalidParameter")
        self.ok("ListQuality", dict(body, UserId=[f"u{i}" for i in range(20)]))
        self.refused("ListQuality", dict(body, ProductType="ios"), 400, "InvalidParameter")
        self.ok("ListQuality", dict(body, ProductType="web"))
        self.refused("ListQuality", dict(body, OS=["ios"]), 400, "InvalidParameter")
        self.refused("ListQuality", dict(body, StartTime="2026-11-20 12:00:00"), 400, "InvalidParameter")
        self.refused("ListQuality", dict(body, StartTime="2026-11-20T12:00:00"), 400, "InvalidParameter")
        self.refused("ListQuality", dict(body, AppId=""), 400, "InvalidParameter")
        self.refused("ListQuality", b"", 400, "InvalidParameter.BodyIsEmpty")
        self.refused("ListQuality", b"{oops", 400, "InvalidParameter.Unmarshal")
        self.refused("ListQuality", b"[]", 400, "InvalidParameter.Unmarshal")
        # the original actions answer a bare code, as they always did
        start, end = due_window("ListRealTimeQuality", T0)
        self.refused("ListRealTimeQuality", b"{oops", 400, "InvalidParameter")
        self.refused("ListRealTimeQuality", body_for("ListRealTimeQuality", start, end, Indicator="stall_rate"),
                     400, "InvalidParameter")

    def test_signature_and_x_date(self):
        self.fake.freeze(T0)
        action = "ListRealTimeQuality"
        body = body_for(action, *due_window(action, T0))
        with self.counting(action) as delta:
            self.refused(action, body, 401, "SignatureDoesNotMatch", sk="wrong")
            self.refused(action, body, 401, "InvalidAccessKey", ak="AKLTother")
            self.refused(action, body, 403, "InvalidTimestamp", xdate_at=T0 - 901)
            self.ok(action, body, xdate_at=T0 - 899)
            self.ok(action, body, xdate_at=T0 + 899)
        self.assertEqual(delta.moved().get("auth_failures"), 3)
        self.refused(action, body, 404, "InvalidActionOrVersion", version="2023-11-01")
        self.refused("ListOperationData", body, 404, "InvalidActionOrVersion")
        raw = self.fake.http("POST", f"/?Action={action}&Version=2020-12-01", b"{}")
        self.assertEqual((raw.status, raw.code), (401, "MissingAuthenticationToken"))


class Limits(FakeTest):
    """Rates per action across AppIds, daily quotas, Retry-After; bad settings."""
    FAKE_ARGS = {"env": {"INDEPENDENT_LIMITS": "ListQuality=2/s;ListRealTimeQualityDistribution=3/m;"
                                               " ListRealTimeOperationData = 100/s:3/d"}}

    def test_rate_per_second_counts_every_app_id(self):
        self.fake.freeze(T0)
        start, end = due_window("ListQuality", T0)
        began = time.monotonic()
        replies = [self.fake.call("ListQuality", body_for("ListQuality", start, end, app=f"app{i}"))
                   for i in range(3)]
        self.assertLess(time.monotonic() - began, 1.0, "the test needs three requests within a second")
        self.assertEqual([r.status for r in replies], [200, 200, 429], replies)
        self.assertEqual(replies[2].code, "AccountFlowLimitExceeded")
        self.assertEqual(replies[2].headers.get("retry-after"), "1")
        self.ok("ListRealTimeQuality", body_for("ListRealTimeQuality", *due_window("ListRealTimeQuality", T0)))
        time.sleep(1.05)
        self.ok("ListQuality", body_for("ListQuality", start, end))
        s = self.fake.stats("ListQuality")
        self.assertEqual((s["rate_violations"], s["max_per_second"]), (1, 3))

    def test_rate_per_minute(self):
        self.fake.freeze(T0)
        action = "ListRealTimeQualityDistribution"
        body = body_for(action, *due_window(action, T0))
        statuses = [self.fake.call(action, body) for _ in range(4)]
        self.assertEqual([r.status for r in statuses], [200, 200, 200, 429])
        self.assertEqual(statuses[3].code, "AccountFlowLimitExceeded")
        self.assertTrue(55 <= int(statuses[3].headers["retry-after"]) <= 60, statuses[3].headers)

    def test_daily_quota_until_midnight_beijing_time(self):
        midnight = T0 + 4 * HOUR  # 2026-11-24T00:00:00+08:00
        self.assertEqual(rfc(midnight), "2026-11-24T00:00:00+08:00")
        action = "ListRealTimeOperationData"
        self.fake.freeze(midnight - 1)
        body = body_for(action, *due_window(action, midnight - 1))
        for _ in range(3):
            self.ok(action, body)
        over = self.refused(action, body, 429, "FlowLimitExceeded.QPSOverLimit")
        self.assertEqual(over.headers.get("retry-after"), "1")
        self.fake.freeze(midnight)
        self.ok(action, body_for(action, *due_window(action, midnight)))
        self.assertEqual(self.fake.stats(action)["quota_violations"], 1)
        self.assertEqual(self.fake.stats()["quota_violations"], 1)

    def test_bad_settings_stop_the_server_with_a_message(self):
        for env in [{"INDEPENDENT_LIMITS": "Bogus=2/s"}, {"INDEPENDENT_LIMITS": "ListQuality=2/x"},
                    {"INDEPENDENT_LIMITS": "ListQuality=0/s"}, {"INDEPENDENT_OFFLINE_DELAY": "soon"},
                    {"INDEPENDENT_CLOCK_OFFSET": "1h"}]:
            with tempfile.TemporaryDirectory() as d:
                run = subprocess.run([sys.executable, SERVER, os.path.join(d, "port")],
                                     env=dict(os.environ, **env), capture_output=True, text=True, timeout=20)
            self.assertEqual(run.returncode, 2, env)
            self.assertIn(next(iter(env)), run.stderr)


class Faults(FakeTest):
    """With FAULT_RATE 1, every action serves every kind of fault in 13 answers."""
    FAKE_ARGS = {"fault_rate": 1.0, "env": {"INDEPENDENT_LIMITS": FAST}}

    def symptom(self, action, reply, start, end):
        """Which fault an answer shows, from the outside (or "none")."""
        if reply.timeout:
            return "slow"
        if reply.incomplete:
            return "reset"
        if reply.status in (500, 429):
            self.assertEqual(reply.code, {500: "InternalError", 429: "AccountFlowLimitExceeded"}[reply.status])
            return str(reply.status)
        if reply.status in (502, 503, 504):
            self.assertTrue(reply.headers["content-type"].startswith("text/html"))
            return str(reply.status)
        self.assertEqual(reply.status, 200)
        if reply.json is None:
            return "malformed" if reply.raw == b'{"ResponseMetadata": oops' else "truncate"
        inds = reply.json["Result"]["Indicators"]
        if not isinstance(inds, list):
            return "shape"
        seen, symptoms = set(), set()
        for ind in inds:
            for d in ind["Data"]:
                t = d.get("TimeStamp", d.get("Timestamp"))
                try:
                    ts = unix(t)
                except (TypeError, ValueError):
                    symptoms.add("badpoints")
                    continue
                if "Value" not in d or ts % 30 or (action in DISTRIBUTIONS and "Dimension" not in d):
                    symptoms.add("badpoints")
                elif not start <= ts <= end:
                    symptoms.add("outside")
                elif (ind["Name"], t, d.get("Dimension")) in seen:
                    symptoms.add("dupes")
                seen.add((ind["Name"], t, d.get("Dimension")))
        self.assertLessEqual(len(symptoms), 1, symptoms)
        return symptoms.pop() if symptoms else "none"

    def test_every_kind_for_every_action_in_turn(self):
        self.fake.freeze(T0)
        for action in ACTIONS:
            start, end = due_window(action, T0)
            body = body_for(action, start, end)
            seen = [self.symptom(action, self.fake.call(action, body, timeout=1.0), start, end)
                    for _ in range(13)]
            self.assertEqual(set(seen), FAULT_KINDS, action)
            self.assertEqual(self.fake.stats(action)["faults"], dict.fromkeys(FAULT_KINDS, 1), action)
        total = self.fake.stats()
        self.assertEqual(total["faults"], dict.fromkeys(FAULT_KINDS, len(ACTIONS)))
        self.assertEqual((total["requests"], total["answers"]), (13 * len(ACTIONS), 13 * len(ACTIONS)))
        self.assertEqual(self.fake.call("ListOperationData", b"{}").status, 404)
        self.assertEqual(self.fake.stats()["requests"], 13 * len(ACTIONS) + 1, "unknown actions count too")


class Clock(FakeTest):
    """INDEPENDENT_CLOCK_OFFSET, /_clock, and INDEPENDENT_OFFLINE_DELAY (here 0, revisions 0)."""
    OFFSET = -7200
    FAKE_ARGS = {"revision": 0, "env": {"INDEPENDENT_LIMITS": FAST, "INDEPENDENT_CLOCK_OFFSET": str(OFFSET),
                                        "INDEPENDENT_OFFLINE_DELAY": "0"}}

    def tearDown(self):
        self.fake.run_clock(self.OFFSET)

    def test_offset_from_the_environment_applies_to_x_date_too(self):
        state = self.fake.get("/_clock")
        self.assertFalse(state["frozen"])
        self.assertAlmostEqual(state["now"], time.time() + self.OFFSET, delta=5)
        action = "ListRealTimeQuality"
        body = body_for(action, *due_window(action, self.fake.fake_now()))
        self.refused(action, body, 403, "InvalidTimestamp", xdate_at=time.time())
        self.ok(action, body)

    def test_clock_control(self):
        self.assertAlmostEqual(self.fake.run_clock(100)["now"], time.time() + 100, delta=5)
        self.assertEqual(self.fake.freeze(1234.5), {"now": 1234.5, "offset": 100.0, "frozen": True})
        time.sleep(0.05)
        self.assertEqual(self.fake.get("/_clock")["now"], 1234.5)
        self.assertEqual(self.fake.http("POST", "/_clock").status, 400)
        self.assertEqual(self.fake.http("POST", "/_clock?offset=soon").status, 400)

    def test_zero_offline_delay_serves_a_slot_once_it_has_ended(self):
        now = self.fake.fake_now()  # a running clock, two hours behind the machine's
        slot = int(now - 360) // 300 * 300  # every 30-s value of it is due (and final: revision 0)
        indicator = ["stall_rate", "join_room_success_rate"]
        rt = points(self.ok("ListRealTimeQuality", body_for("ListRealTimeQuality", slot, slot + 270,
                                                            app="app-now", Indicator=indicator)))
        with self.counting("ListQuality") as delta:
            off = points(self.ok("ListQuality", body_for("ListQuality", slot, now + 600, app="app-now",
                                                         Indicator=indicator)))
        self.assertEqual(delta.moved().get("beyond_delay"), 1)
        compared = 0
        for name in {n for n, _, _ in off} | {n for n, _, _ in rt}:
            values = [v for (n, _, _), v in rt.items() if n == name]
            self.assertEqual(off.get((name, None, slot)), mean_2dp(values) if values else None, name)
            compared += bool(values)
        self.assertTrue(compared)
        self.assertLessEqual(max(ts for _, _, ts in off) + 300, self.fake.fake_now(), "ended slots only")


if __name__ == "__main__":
    unittest.main(verbosity=2)
