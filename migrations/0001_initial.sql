-- rtc-archiver schema, version 1.
--
-- Never edit a released migration: add the next numbered file instead.
-- The public interface is the views at the bottom (samples, samples_hourly,
-- samples_daily, fetched, gaps); the tables behind them may change between versions.

-- One target and action: what a single request asks for.
-- '' stands for "none" in room_id and user_ids so that the UNIQUE key works
-- (SQLite treats NULLs as distinct); the views turn '' back into NULL.
CREATE TABLE streams (
    id              INTEGER PRIMARY KEY,
    app_id          TEXT NOT NULL,
    room_id         TEXT NOT NULL DEFAULT '',
    user_ids        TEXT NOT NULL DEFAULT '',   -- sorted, comma-joined UserId list
    source          TEXT NOT NULL CHECK (source IN ('quality', 'operation')),
    last_attempt_at INTEGER,                    -- Unix seconds of the last request
    last_success_at INTEGER,                    -- ... of the last answer stored
    last_error      TEXT,                       -- the last failure, NULL after a success
    last_error_at   INTEGER,
    UNIQUE (app_id, room_id, user_ids, source)
) STRICT;

-- One series: a stream's indicator under the Name the API answered with.
CREATE TABLE series (
    id        INTEGER PRIMARY KEY,
    stream_id INTEGER NOT NULL REFERENCES streams (id),
    indicator TEXT NOT NULL,
    unit      TEXT,
    UNIQUE (stream_id, indicator)
) STRICT;

-- The points: one row per series and 30-second bucket.
-- bucket = (ts - 1767225600) / 30, i.e. buckets since 2026-01-01T00:00:00Z:
-- three bytes a row until 2033 instead of four.
-- value is an INTEGER holding hundredths when the value is exact in
-- hundredths (the API gives two decimals), else the REAL value itself.
-- The samples view turns both back into REAL.
CREATE TABLE points (
    series_id INTEGER NOT NULL,
    bucket    INTEGER NOT NULL,
    value     ANY NOT NULL,
    PRIMARY KEY (series_id, bucket)
) STRICT, WITHOUT ROWID;

-- Rollups, kept in step with points in the same transaction.
-- hour = ts / 3600, day = ts / 86400 (UTC).
CREATE TABLE rollup_hourly (
    series_id INTEGER NOT NULL,
    hour      INTEGER NOT NULL,
    count     INTEGER NOT NULL,
    sum       REAL NOT NULL,
    min       REAL NOT NULL,
    max       REAL NOT NULL,
    PRIMARY KEY (series_id, hour)
) STRICT, WITHOUT ROWID;

CREATE TABLE rollup_daily (
    series_id INTEGER NOT NULL,
    day       INTEGER NOT NULL,
    count     INTEGER NOT NULL,
    sum       REAL NOT NULL,
    min       REAL NOT NULL,
    max       REAL NOT NULL,
    PRIMARY KEY (series_id, day)
) STRICT, WITHOUT ROWID;

-- Progress: for each requested indicator of a stream, what has been fetched.
-- Every bucket in [first_ts, done_ts) was fetched (points absent there are
-- buckets the API had no data for) or is recorded in gaps.
CREATE TABLE feeds (
    stream_id INTEGER NOT NULL REFERENCES streams (id),
    indicator TEXT NOT NULL,        -- the requested name
    first_ts  INTEGER NOT NULL,     -- the archive of this feed begins here
    done_ts   INTEGER NOT NULL,     -- first bucket not yet fetched
    PRIMARY KEY (stream_id, indicator)
) STRICT;

-- Intervals that slid out of the API's 60-minute reach unfetched.
CREATE TABLE gap_log (
    stream_id   INTEGER NOT NULL REFERENCES streams (id),
    indicator   TEXT NOT NULL,      -- the requested name
    start_ts    INTEGER NOT NULL,   -- inclusive
    end_ts      INTEGER NOT NULL,   -- exclusive
    cause       TEXT NOT NULL CHECK (cause IN ('not_collected', 'fetch_failed')),
    detail      TEXT NOT NULL,
    recorded_at INTEGER NOT NULL,
    PRIMARY KEY (stream_id, indicator, start_ts)
) STRICT;

-- Collector activity per stream and UTC hour, for status and metrics.
CREATE TABLE stream_stats (
    stream_id      INTEGER NOT NULL REFERENCES streams (id),
    hour           INTEGER NOT NULL,
    requests       INTEGER NOT NULL DEFAULT 0,
    failures       INTEGER NOT NULL DEFAULT 0,
    points_new     INTEGER NOT NULL DEFAULT 0,
    points_revised INTEGER NOT NULL DEFAULT 0,
    points_skipped INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (stream_id, hour)
) STRICT, WITHOUT ROWID;

CREATE VIEW samples AS
SELECT st.app_id                                        AS app_id,
       NULLIF(st.room_id, '')                           AS room_id,
       NULLIF(st.user_ids, '')                          AS user_ids,
       st.source                                        AS source,
       se.indicator                                     AS indicator,
       se.unit                                          AS unit,
       1767225600 + p.bucket * 30                       AS ts,
       strftime('%Y-%m-%dT%H:%M:%SZ', 1767225600 + p.bucket * 30, 'unixepoch') AS time,
       CASE typeof(p.value) WHEN 'integer' THEN p.value / 100.0 ELSE p.value END AS value
FROM points p
JOIN series se ON se.id = p.series_id
JOIN streams st ON st.id = se.stream_id;

CREATE VIEW samples_hourly AS
SELECT st.app_id, NULLIF(st.room_id, '') AS room_id, NULLIF(st.user_ids, '') AS user_ids,
       st.source, se.indicator, se.unit,
       r.hour * 3600                                          AS ts,
       strftime('%Y-%m-%dT%H:%M:%SZ', r.hour * 3600, 'unixepoch') AS time,
       r.count, r.sum / r.count AS avg, r.min, r.max, r.sum
FROM rollup_hourly r
JOIN series se ON se.id = r.series_id
JOIN streams st ON st.id = se.stream_id;

CREATE VIEW samples_daily AS
SELECT st.app_id, NULLIF(st.room_id, '') AS room_id, NULLIF(st.user_ids, '') AS user_ids,
       st.source, se.indicator, se.unit,
       r.day * 86400                                          AS ts,
       strftime('%Y-%m-%d', r.day * 86400, 'unixepoch')       AS date,
       r.count, r.sum / r.count AS avg, r.min, r.max, r.sum
FROM rollup_daily r
JOIN series se ON se.id = r.series_id
JOIN streams st ON st.id = se.stream_id;

CREATE VIEW fetched AS
SELECT st.app_id, NULLIF(st.room_id, '') AS room_id, NULLIF(st.user_ids, '') AS user_ids,
       st.source, f.indicator,
       f.first_ts, f.done_ts,
       strftime('%Y-%m-%dT%H:%M:%SZ', f.first_ts, 'unixepoch') AS first_time,
       strftime('%Y-%m-%dT%H:%M:%SZ', f.done_ts, 'unixepoch')  AS done_time
FROM feeds f
JOIN streams st ON st.id = f.stream_id;

CREATE VIEW gaps AS
SELECT st.app_id, NULLIF(st.room_id, '') AS room_id, NULLIF(st.user_ids, '') AS user_ids,
       st.source, g.indicator,
       g.start_ts, g.end_ts,
       strftime('%Y-%m-%dT%H:%M:%SZ', g.start_ts, 'unixepoch') AS start_time,
       strftime('%Y-%m-%dT%H:%M:%SZ', g.end_ts, 'unixepoch')   AS end_time,
       g.end_ts - g.start_ts AS seconds,
       g.cause, g.detail,
       strftime('%Y-%m-%dT%H:%M:%SZ', g.recorded_at, 'unixepoch') AS recorded_at
FROM gap_log g
JOIN streams st ON st.id = g.stream_id;
