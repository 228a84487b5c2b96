#!/usr/bin/env python3
"""An independent implementation of the two Volcengine RTC real-time actions,
written from ../shared/api/README.md alone (Python standard library only), to
test rtc-archiver against something that shares none of its code: signatures
are checked with hmac/hashlib following the documented algorithm, the
60-minute horizon, the 60-minute span and 2 requests/second per action are
enforced, values are revised a while after they first appear, and about
FAULT_RATE of the answers are faults of every kind.

Usage: independent_api.py PORT_FILE [FAULT_RATE] [REVISION_SECS]
Prints nothing; writes "PORT\n" to PORT_FILE once listening.
GET /truth  -> {"series": {key: {ts: final_value}}, "served": {...}} for every bucket served
GET /stats  -> counters, including every rule a client broke
"""

import hashlib
import hmac
import json
import socket
import sys
import threading
import time
from datetime import datetime, timezone, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, urlsplit

AK = "AKLTindependent"
SK = "independent-secret"
REGION = "cn-north-1"
DELAY = {"ListRealTimeQuality": 60, "ListRealTimeOperationData": 20}
FAMILIES = {
    "stall_rate": ["audio_stall_rate", "video_stall_rate"],
    "join_room_success_rate": ["5s_join_room_success_rate", "10s_join_room_success_rate"],
}
OPERATION = {"online_user_count", "online_room_count"}

FAULT_RATE = float(sys.argv[2]) if len(sys.argv) > 2 else 0.15
REVISION = int(sys.argv[3]) if len(sys.argv) > 3 else 20
FAULTS = ["500", "502", "503", "504", "429", "truncate", "malformed", "shape",
          "slow", "badpoints", "outside", "dupes", "reset"]

lock = threading.Lock()
stats = {"requests": 0, "ok": 0, "faults": {}, "rate_violations": 0, "horizon_violations": 0,
         "span_violations": 0, "auth_failures": 0, "bad_requests": 0, "max_per_second": 0}
arrivals = {a: [] for a in DELAY}
served = {}  # series key -> {ts: True}
fault_turn = [0]  # faults come round in turn, so a short run still sees every kind


def enc(s, safe=""):
    return quote(s, safe="-_.~" + safe)


def sign_check(method, path, query, headers, body):
    auth = headers.get("Authorization", "")
    if not auth.startswith("HMAC-SHA256 "):
        return "MissingAuthenticationToken"
    parts = dict(p.strip().split("=", 1) for p in auth[len("HMAC-SHA256 "):].split(","))
    cred = parts.get("Credential", "").split("/")
    if len(cred) != 5 or cred[0] != AK:
        return "InvalidAccessKey"
    xdate = headers.get("X-Date", "")
    try:
        when = datetime.strptime(xdate, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return "InvalidTimestamp"
    if abs((datetime.now(timezone.utc) - when).total_seconds()) > 900:
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
    scope = f"{xdate[:8]}/{REGION}/rtc/request"
    to_sign = "\n".join(["HMAC-SHA256", xdate, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = SK.encode()
    for part in (xdate[:8], REGION, "rtc", "request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    want = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, parts.get("Signature", "")):
        return "SignatureDoesNotMatch"
    return None


def final_value(key, ts):
    h = int(hashlib.sha256(f"{key}|{ts}".encode()).hexdigest()[:12], 16)
    if h % 50 == 0:
        return None  # no data for this bucket
    if "count" in key:
        return float(1000 + h % 3000)
    return round(90 + (h % 1000) / 100.0, 2)


def served_value(key, ts, action, now):
    v = final_value(key, ts)
    due = ts + 30 + DELAY[action]
    if v is None or now < due:
        return None
    if now < due + REVISION:
        return round(v - 1.25, 2) if "count" not in key else v + 7.0
    return v


def parse_time(s):
    return int(datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp())


def fmt_time(ts, offset_hours):
    tz = timezone(timedelta(hours=offset_hours))
    return datetime.fromtimestamp(ts, tz).isoformat().replace("+00:00", "Z")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, payload, ctype="application/json", extra=None):
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def error(self, status, code, action, extra=None):
        self.reply(status, {"ResponseMetadata": {"RequestId": "r", "Action": action, "Version": "2020-12-01",
                                                 "Error": {"Code": code, "CodeN": 100000, "Message": code}}},
                   extra=extra)

    def do_GET(self):
        if self.path == "/stats":
            with lock:
                self.reply(200, stats)
        elif self.path == "/truth":
            with lock:
                truth = {k: {str(ts): final_value(k, ts) for ts in v} for k, v in served.items()}
            self.reply(200, truth)
        else:
            self.reply(404, b"{}")

    def do_POST(self):
        url = urlsplit(self.path)
        query = parse_qsl(url.query, keep_blank_values=True)
        q = dict(query)
        action = q.get("Action", "")
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        now = time.time()
        with lock:
            stats["requests"] += 1
        if action not in DELAY or q.get("Version") != "2020-12-01":
            return self.error(404, "InvalidActionOrVersion", action)
        problem = sign_check("POST", url.path, query, self.headers, body)
        if problem:
            with lock:
                stats["auth_failures"] += 1
            return self.error(401, problem, action)
        with lock:
            window = [t for t in arrivals[action] if now - t < 1.0] + [now]
            arrivals[action] = window
            stats["max_per_second"] = max(stats["max_per_second"], len(window))
            if len(window) > 2:
                stats["rate_violations"] += 1
                over = True
            else:
                over = False
        if over:
            return self.error(429, "AccountFlowLimitExceeded", action)
        try:
            req = json.loads(body)
            start, end = parse_time(req["StartTime"]), parse_time(req["EndTime"])
            indicators = req["Indicator"]
            app = req["AppId"]
        except (ValueError, KeyError, TypeError):
            with lock:
                stats["bad_requests"] += 1
            return self.error(400, "InvalidParameter", action)
        if start < now - 3600:
            with lock:
                stats["horizon_violations"] += 1
            return self.error(400, "InvalidParameter", action)
        if end - start > 3600 or end < start:
            with lock:
                stats["span_violations"] += 1
            return self.error(400, "InvalidParameter", action)
        room = req.get("RoomId", "") if action == "ListRealTimeQuality" else ""
        users = ",".join(sorted(set(req.get("UserId", [])))) if room else ""

        with lock:
            # exactly FAULT_RATE of the answers (spread evenly), kinds in turn
            n = stats["answers"] = stats.get("answers", 0) + 1
            fault = None
            if int(n * FAULT_RATE) > int((n - 1) * FAULT_RATE):
                fault = FAULTS[fault_turn[0] % len(FAULTS)]
                fault_turn[0] += 1
            if fault:
                stats["faults"][fault] = stats["faults"].get(fault, 0) + 1
        if fault in ("500",):
            return self.error(500, "InternalError", action)
        if fault in ("502", "503", "504"):
            return self.reply(int(fault), f"<html><body><h1>{fault}</h1></body></html>".encode(), "text/html")
        if fault == "429":
            return self.error(429, "AccountFlowLimitExceeded", action, {"Retry-After": "1"})
        if fault == "malformed":
            return self.reply(200, b"{\"ResponseMetadata\": oops")
        if fault == "shape":
            return self.reply(200, {"ResponseMetadata": {}, "Result": {"Indicators": {"Name": "x"}}})
        if fault == "slow":
            time.sleep(8)  # beyond the client's timeout in the test
        quality = action == "ListRealTimeQuality"
        tkey = "TimeStamp" if quality else "Timestamp"
        offset = 8 if quality else 0
        now = time.time()
        answered = []
        for ind in indicators:
            for name in FAMILIES.get(ind, [ind]):
                if name not in answered:
                    answered.append(name)
        out = []
        first = start + (-start) % 30
        for name in answered:
            key = f"{action}|{app}|{room}|{users}|{name}"
            data = []
            ts = first
            while ts <= end:
                v = served_value(key, ts, action, now)
                if v is not None:
                    data.append({tkey: fmt_time(ts, offset), "Value": v})
                    with lock:
                        served.setdefault(key, {})[ts] = True
                    if fault == "dupes" and len(data) % 5 == 0:
                        data.append({tkey: fmt_time(ts, offset), "Value": v})
                ts += 30
            if fault == "badpoints":
                data += [{"Value": 1}, {tkey: "soon", "Value": 1}, {tkey: fmt_time(first, offset)},
                         {tkey: fmt_time(first + 5, offset), "Value": 1}]
            if fault == "outside":
                data += [{tkey: fmt_time(first - 300, offset), "Value": -5},
                         {tkey: fmt_time(end + 300, offset), "Value": -5}]
            item = {"Name": name, "Data": data}
            if quality:
                item["Unit"] = "%"
            out.append(item)
        result = {"Indicators": out}
        if room:
            result["RoomId"] = room
        payload = json.dumps({"ResponseMetadata": {"RequestId": f"req{int(now * 1000)}", "Action": action,
                                                   "Version": "2020-12-01", "Service": "rtc", "Region": REGION},
                              "Result": result}).encode()
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
        with lock:
            stats["ok"] += 1
        self.reply(200, payload)


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(f"{server.server_address[1]}\n")
    import os
    os.replace(sys.argv[1] + ".tmp", sys.argv[1])
    server.serve_forever()


if __name__ == "__main__":
    main()
